/**
 * Unit (Pulumi mocks): the Monitoring component inside the env stack - containers, volumes,
 * networks, 127.0.0.1 bindings, secrets, and that the uploaded configs are exactly the
 * renderers' output.
 */
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderAlertRules } from "../../renderers/alert-rules";
import { renderGrafanaDashboards } from "../../renderers/grafana-dashboards";
import { renderBlackboxConfig } from "../../renderers/prometheus-blackbox";
import { redisAclUserOf } from "../harness/redis-acl";
import { runProgram, type PlannedResource } from "../harness/run-program";
import { imageRunBy } from "../harness/images";

const CONTAINER = "docker:index/container:Container";
const P = "backend-infra-prod";

type Upload = { file: string; content: string };
const byName = (resources: PlannedResource[], name: string) =>
  resources.find((r) => r.type === CONTAINER && r.inputs.name === name) as PlannedResource;
const nets = (c: PlannedResource) => (c.inputs.networksAdvanced as { name: string }[]).map((n) => n.name);
const envs = (c: PlannedResource) => (c.inputs.envs as string[] | undefined) ?? [];
const uploads = (c: PlannedResource) => (c.inputs.uploads as Upload[] | undefined) ?? [];
const upload = (c: PlannedResource, file: string) => uploads(c).find((u) => u.file === file)?.content;

describe("the alert rules follow the traffic split of the stack", async () => {
  const plan = await runProgram("prod", {
    overrides: { trafficActive: "green", trafficCanaryPercent: "20" },
  });
  const prometheus = plan.resources.find(
    (c) => c.type === "docker:index/container:Container" && c.inputs.name === "backend-infra-prod-prometheus",
  );

  it("renders them for the applied split (green active, 20 % canary on blue)", () => {
    expect(upload(prometheus!, "/etc/prometheus/alert-rules.yml")).toBe(
      renderAlertRules({ traffic: { active: "green", canaryPercent: 20 } }),
    );
  });
});

describe("Monitoring component (env stack prod)", async () => {
  const plan = await runProgram("prod", {
    overrides: {
      alertPagerWebhookUrl: "https://pager.example.com/hook",
      alertSlackWebhookUrl: "https://hooks.slack.example.com/services/x",
      alertDeadMansSwitchUrl: "https://heartbeat.example.com/ping",
    },
    secretOverrides: ["alertPagerWebhookUrl", "alertSlackWebhookUrl", "alertDeadMansSwitchUrl"],
  });
  const r = plan.resources;
  const services = [
    "prometheus",
    "alertmanager",
    "grafana",
    "node-exporter",
    "postgres-exporter",
    "redis-exporter",
    "blackbox",
  ];
  const prometheus = byName(r, `${P}-prometheus`);
  const alertmanager = byName(r, `${P}-alertmanager`);
  const grafana = byName(r, `${P}-grafana`);
  const node = byName(r, `${P}-node-exporter`);
  const pgExporter = byName(r, `${P}-postgres-exporter`);
  const redisExporter = byName(r, `${P}-redis-exporter`);
  const blackbox = byName(r, `${P}-blackbox`);

  it("registers every monitoring container under the Monitoring component, hardened", () => {
    const component = r.find((x) => x.type === "backend-infra:monitoring:Monitoring");
    expect(component).toBeDefined();
    for (const service of services) {
      const c = byName(r, `${P}-${service}`);
      expect(c, service).toBeDefined();
      expect(String(c.inputs.user)).not.toMatch(/^(root|0)(:|$)/);
      expect(c.inputs.memory).toBeGreaterThan(0);
      expect(c.inputs.securityOpts).toContain("no-new-privileges:true");
      expect((c.inputs.capabilities as { drops: string[] }).drops).toEqual(["ALL"]);
      expect((c.inputs.healthcheck as { tests: string[] }).tests.length).toBeGreaterThan(1);
      expect(imageRunBy(r, c).repoDigest).toMatch(/@sha256:[a-f0-9]{64}$/);
      // Parent chain: container -> ServiceContainer -> Monitoring.
      const parent = r.find((x) => x.urn === c.parent);
      expect(parent?.parent).toBe(component?.urn);
    }
  });

  it("pulls the pinned image versions from config (the versions the L4/L5 tests use)", () => {
    const pulls = r
      .filter((x) => x.type === "docker:index/remoteImage:RemoteImage")
      .map((x) => x.inputs.name);
    expect(pulls).toEqual(
      expect.arrayContaining([
        "prom/prometheus:v2.42.0",
        "prom/alertmanager:v0.25.0",
        "prom/node-exporter:v1.5.0",
        "quay.io/prometheuscommunity/postgres-exporter:v0.11.1",
        "oliver006/redis_exporter:v1.45.0-alpine",
        "prom/blackbox-exporter:v0.23.0",
      ]),
    );
  });

  it("publishes only the admin UIs, on 127.0.0.1 (Grafana on 3001)", () => {
    expect(prometheus.inputs.ports).toEqual([{ internal: 9090, external: 9090, ip: "127.0.0.1" }]);
    expect(alertmanager.inputs.ports).toEqual([{ internal: 9093, external: 9093, ip: "127.0.0.1" }]);
    expect(grafana.inputs.ports).toEqual([{ internal: 3000, external: 3001, ip: "127.0.0.1" }]);
    for (const c of [node, pgExporter, redisExporter, blackbox]) expect(c.inputs.ports).toEqual([]);
  });

  it("puts each container on the networks it needs and no more", () => {
    // Off the app network (the replicas carry their slot alias on the monitoring network too).
    expect(nets(prometheus)).toEqual([`${P}-monitoring`]);
    expect(nets(alertmanager)).toEqual([`${P}-monitoring`]);
    expect(nets(grafana)).toEqual([`${P}-monitoring`]);
    expect(nets(node)).toEqual([`${P}-monitoring`]);
    expect(nets(pgExporter)).toEqual([`${P}-monitoring`, `${P}-data`]);
    expect(nets(redisExporter)).toEqual([`${P}-monitoring`, `${P}-data`]);
    expect(nets(blackbox)).toEqual([`${P}-monitoring`, `${P}-app`]);
  });

  it("gives Prometheus, Alertmanager and Grafana data volumes, retention from config", () => {
    const volumes = r.filter((x) => x.type === "docker:index/volume:Volume").map((x) => x.inputs.name);
    expect(volumes).toEqual(
      expect.arrayContaining([`${P}-prometheus-data`, `${P}-alertmanager-data`, `${P}-grafana-data`]),
    );
    expect(prometheus.inputs.volumes).toEqual([
      { volumeName: `${P}-prometheus-data`, containerPath: "/prometheus" },
    ]);
    expect(prometheus.inputs.command).toContain(
      `--storage.tsdb.retention.time=${plan.config.monitoring.retentionDays}d`,
    );
  });

  it("node_exporter reads the backup runner's textfile volume and the host read-only", () => {
    const volumes = node.inputs.volumes as Record<string, unknown>[];
    const textfileVolume = (plan.outputs.backups as { textfileVolume: string }).textfileVolume;
    expect(textfileVolume).toBeTruthy();
    expect(volumes).toContainEqual({
      volumeName: textfileVolume,
      containerPath: "/var/lib/node_exporter/textfile",
      readOnly: true,
    });
    for (const v of volumes) expect(v.readOnly).toBe(true);
    // Never the host root (it holds the Docker socket).
    expect(volumes.map((v) => v.hostPath).filter(Boolean)).toEqual(["/proc", "/sys"]);
    expect(node.inputs.command).toContain("--collector.textfile.directory=/var/lib/node_exporter/textfile");
    expect(node.inputs.readOnly).toBe(true);
    expect(node.inputs.privileged).toBe(false);
  });

  it("uploads exactly the rendered rules and blackbox config; prometheus.yml scrapes every job", () => {
    // Rendered for the split the stack's traffic switch applied (prod: blue, no canary).
    expect(upload(prometheus, "/etc/prometheus/alert-rules.yml")).toBe(
      renderAlertRules({ traffic: { active: "blue", canaryPercent: 0 } }),
    );
    expect(upload(blackbox, "/etc/blackbox_exporter/config.yml")).toBe(renderBlackboxConfig());
    const config = parse(upload(prometheus, "/etc/prometheus/prometheus.yml") as string) as {
      global: { scrape_interval: string };
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs?: { targets: string[] }[] }[];
    };
    expect(config.global.scrape_interval).toBe(`${plan.config.monitoring.scrapeIntervalSeconds}s`);
    expect(config.rule_files).toEqual(["/etc/prometheus/alert-rules.yml"]);
    const jobs = Object.fromEntries(config.scrape_configs.map((j) => [j.job_name, j]));
    expect(Object.keys(jobs).sort()).toEqual(
      [
        "alertmanager",
        "backend",
        "blackbox",
        "blackbox-health",
        "blackbox-public",
        "edge",
        "node",
        "postgres",
        "prometheus",
        "redis",
      ].sort(),
    );
    expect(jobs.edge.static_configs?.[0].targets).toEqual([`${P}-edge:8405`]);
    expect(jobs.node.static_configs?.[0].targets).toEqual([`${P}-node-exporter:9100`]);
    expect(jobs["blackbox-public"].static_configs?.[0].targets).toEqual([
      `https://${plan.config.publicHostname}/health`,
    ]);
  });

  it("applies Prometheus and Alertmanager config changes with an in-place reload, not a new container", () => {
    const component = r.find((x) => x.type === "backend-infra:monitoring:Monitoring");
    for (const [service, container] of [
      ["prometheus", prometheus],
      ["alertmanager", alertmanager],
    ] as const) {
      expect(container.options.ignoreChanges, service).toEqual(["uploads"]);
      const reload = r.find(
        (x) => x.type === "command:local:Command" && x.name === `monitoring-${service}-config`,
      );
      expect(reload?.parent, service).toBe(component?.urn);
      const cli =
        `node dist/tools/config-reload.js --service ${service} --docker-container '${P}-${service}'` +
        ` --auth-header-file '/etc/${service}/web-probe-header'`;
      expect(reload?.inputs).toMatchObject({
        create: cli,
        update: cli,
        environment: { DOCKER_HOST: plan.config.dockerHost },
      });
      // The same files as the uploads, main config first, secret (alertmanager.yml holds webhook URLs).
      expect(JSON.parse(String(reload?.inputs.stdin))).toEqual({
        files: uploads(container).map((u) => ({ path: u.file, content: u.content })),
      });
      expect(reload?.secretInputs).toContain("stdin");
      expect(reload?.propertyDependencies.triggers).toContain(container.urn);
    }
    // Every file of one service in one directory: the reload writes as that directory's owner.
    expect(uploads(prometheus).map((u) => u.file)).toEqual([
      "/etc/prometheus/prometheus.yml",
      "/etc/prometheus/alert-rules.yml",
      "/etc/prometheus/web.yml",
      "/etc/prometheus/web-password",
      "/etc/prometheus/web-probe-header",
    ]);
    expect(uploads(alertmanager).map((u) => u.file)).toEqual([
      "/etc/alertmanager/alertmanager.yml",
      "/etc/alertmanager/web.yml",
      "/etc/alertmanager/web-probe-header",
    ]);
  });

  describe("web auth: Prometheus and Alertmanager require basic auth, every client logs in", () => {
    const passwords: Record<string, { result: string; bcryptHash: string }> = Object.fromEntries(
      r
        .filter(
          (x) => x.type === "random:index/randomPassword:RandomPassword" && /-web-\w+-password$/.test(x.name),
        )
        .map((x) => [
          /-web-(\w+)-password$/.exec(x.name)?.[1],
          x.outputs as { result: string; bcryptHash: string },
        ]),
    );
    const header = (user: string) =>
      `Authorization: Basic ${Buffer.from(`${user}:${passwords[user].result}`).toString("base64")}`;
    const component = r.find((x) => x.type === "backend-infra:monitoring:Monitoring");

    it("one generated password per client, children of the component named from it", () => {
      expect(Object.keys(passwords).sort()).toEqual(["alertmanager", "grafana", "operator", "prometheus"]);
      const results = Object.values(passwords).map((p) => p.result);
      expect(new Set(results).size).toBe(4);
      for (const user of Object.keys(passwords)) {
        const resource = r.find((x) => x.name === `monitoring-web-${user}-password`);
        expect(resource?.parent, user).toBe(component?.urn);
        expect(resource?.inputs).toMatchObject({ length: 32, special: false });
      }
    });

    it("starts both daemons with their web config, listing exactly their clients' bcrypt hashes", () => {
      expect(prometheus.inputs.command).toContain("--web.config.file=/etc/prometheus/web.yml");
      expect(alertmanager.inputs.command).toContain("--web.config.file=/etc/alertmanager/web.yml");
      const users = (c: PlannedResource, file: string) =>
        (parse(upload(c, file) as string) as { basic_auth_users: Record<string, string> }).basic_auth_users;
      expect(users(prometheus, "/etc/prometheus/web.yml")).toEqual({
        prometheus: passwords.prometheus.bcryptHash,
        grafana: passwords.grafana.bcryptHash,
        operator: passwords.operator.bcryptHash,
      });
      expect(users(alertmanager, "/etc/alertmanager/web.yml")).toEqual({
        prometheus: passwords.prometheus.bcryptHash,
        alertmanager: passwords.alertmanager.bcryptHash,
        operator: passwords.operator.bcryptHash,
      });
    });

    it("Prometheus sends its login to Alertmanager and on its own and Alertmanager's scrapes, from a file", () => {
      const yml = upload(prometheus, "/etc/prometheus/prometheus.yml") as string;
      const config = parse(yml) as {
        alerting: { alertmanagers: { basic_auth?: unknown }[] };
        scrape_configs: { job_name: string; basic_auth?: unknown }[];
      };
      const basic = { username: "prometheus", password_file: "/etc/prometheus/web-password" };
      expect(config.alerting.alertmanagers.map((a) => a.basic_auth)).toEqual([basic]);
      expect(
        config.scrape_configs.filter((j) => j.basic_auth).map((j) => [j.job_name, j.basic_auth]),
      ).toEqual([
        ["prometheus", basic],
        ["alertmanager", basic],
      ]);
      expect(upload(prometheus, "/etc/prometheus/web-password")).toBe(passwords.prometheus.result);
      // prometheus.yml itself holds no password.
      for (const p of Object.values(passwords)) expect(yml).not.toContain(p.result);
    });

    it("healthchecks read the header file in the container: no password in the container's spec", () => {
      const tests = (c: PlannedResource) => (c.inputs.healthcheck as { tests: string[] }).tests;
      expect(tests(prometheus)).toEqual([
        "CMD-SHELL",
        `h=$(cat '/etc/prometheus/web-probe-header') && exec wget -q -O '/dev/null' --header "$h" 'http://127.0.0.1:9090/-/ready'`,
      ]);
      expect(tests(alertmanager)[1]).toContain("cat '/etc/alertmanager/web-probe-header'");
      expect(tests(alertmanager)[1]).toContain("'http://127.0.0.1:9093/-/ready'");
      expect(upload(prometheus, "/etc/prometheus/web-probe-header")).toBe(header("prometheus"));
      expect(upload(alertmanager, "/etc/alertmanager/web-probe-header")).toBe(header("alertmanager"));
      // What docker inspect shows: command, env, healthcheck, labels - never a password or its header.
      for (const c of [prometheus, alertmanager, grafana]) {
        const visible = JSON.stringify([
          c.inputs.command,
          c.inputs.envs,
          c.inputs.healthcheck,
          c.inputs.labels,
        ]);
        for (const [user, p] of Object.entries(passwords)) {
          expect(visible, `${String(c.inputs.name)}: ${user}`).not.toContain(p.result);
          expect(visible, `${String(c.inputs.name)}: ${user}`).not.toContain(header(user).slice(21));
        }
      }
      // The auth files are secret uploads.
      expect(prometheus.secretInputs).toContain("uploads");
      expect(alertmanager.secretInputs).toContain("uploads");
    });

    it("Grafana's datasource logs in as grafana with the password in secureJsonData", () => {
      const ds = parse(
        upload(grafana, "/etc/grafana/provisioning/datasources/prometheus.yaml") as string,
      ) as {
        datasources: Record<string, unknown>[];
      };
      expect(ds.datasources[0]).toMatchObject({
        basicAuth: true,
        basicAuthUser: "grafana",
        secureJsonData: { basicAuthPassword: passwords.grafana.result },
      });
      expect(grafana.secretInputs).toContain("uploads");
    });

    it("exports the operator's login, the password as a secret", () => {
      const m = plan.outputs.monitoring as Record<string, unknown>;
      expect(m.operatorUser).toBe("operator");
      expect(m.operatorPassword).toBe(passwords.operator.result);
      expect(plan.secretOutputs).toContain("monitoring.operatorPassword");
    });
  });

  it("keeps secrets secret: exporter credentials, alertmanager.yml, Grafana admin password", () => {
    expect(pgExporter.secretInputs).toContain("envs");
    const pg = plan.outputs.postgres as { user: string; password: string; monitorPassword: string };
    expect(pg.monitorPassword).toMatch(/^[A-Za-z0-9_-]{40}$/);
    expect(pg.monitorPassword).not.toBe(pg.password);
    // the monitoring role (pg_monitor only) and its password, never the application role's
    expect(envs(pgExporter).filter((e) => e.startsWith("DATA_SOURCE_NAME="))).toEqual([
      `DATA_SOURCE_NAME=postgresql://monitor:${pg.monitorPassword}@${P}-postgres:5432/app?sslmode=disable`,
    ]);
    expect(pg.user).toBe("app");
    expect(envs(pgExporter).join("\n")).not.toContain(pg.password);
    expect(plan.secretOutputs).toContain("postgres.monitorPassword");
    expect(redisExporter.secretInputs).toContain("envs");
    // The exporter is the `monitor` ACL user (server statistics only), not the administrator.
    expect(envs(redisExporter)).toContain("REDIS_USER=monitor");
    const exporterPassword = envs(redisExporter)
      .find((e) => e.startsWith("REDIS_PASSWORD="))
      ?.slice("REDIS_PASSWORD=".length);
    expect(redisAclUserOf(r, `${P}-redis`, String(exporterPassword))).toBe("monitor");
    expect(alertmanager.secretInputs).toContain("uploads");
    expect(grafana.secretInputs).toContain("envs");
    const am = upload(alertmanager, "/etc/alertmanager/alertmanager.yml") as string;
    expect(am).toContain("https://pager.example.com/hook");
    expect(am).toContain("https://heartbeat.example.com/ping");
    expect(plan.secretOutputs).toContain("monitoring.grafanaAdminPassword");
    const password = (plan.outputs.monitoring as { grafanaAdminPassword: string }).grafanaAdminPassword;
    expect(envs(grafana)).toContain(`GF_SECURITY_ADMIN_PASSWORD=${password}`);
    expect(
      r.some((x) => x.type === "random:index/randomPassword:RandomPassword" && x.name.includes("grafana")),
    ).toBe(true);
  });

  it("Grafana: anonymous access and sign-up off, datasource and every dashboard provisioned", () => {
    expect(envs(grafana)).toEqual(
      expect.arrayContaining(["GF_AUTH_ANONYMOUS_ENABLED=false", "GF_USERS_ALLOW_SIGN_UP=false"]),
    );
    const files = uploads(grafana).map((u) => u.file);
    expect(files).toContain("/etc/grafana/provisioning/datasources/prometheus.yaml");
    expect(files).toContain("/etc/grafana/provisioning/dashboards/backend-infra.yaml");
    for (const [file, content] of Object.entries(renderGrafanaDashboards())) {
      expect(upload(grafana, `/etc/grafana/dashboards/${file}`)).toBe(content);
    }
    const ds = parse(upload(grafana, "/etc/grafana/provisioning/datasources/prometheus.yaml") as string) as {
      datasources: { url: string }[];
    };
    expect(ds.datasources[0].url).toBe(`http://${P}-prometheus:9090`);
  });

  it("exports the monitoring outputs of the contract", () => {
    const m = plan.outputs.monitoring as Record<string, unknown>;
    expect(m.prometheusUrl).toBe("http://127.0.0.1:9090");
    expect(m.alertmanagerUrl).toBe("http://127.0.0.1:9093");
    expect(m.grafanaUrl).toBe("http://127.0.0.1:3001");
    expect(String(m.grafanaAdminPassword)).toMatch(/.{16,}/);
    expect((m.containers as Record<string, string>).prometheus).toBe(`${P}-prometheus`);
  });
});

describe("Monitoring disabled (env stack local default)", async () => {
  const plan = await runProgram("local");

  it("registers no monitoring resources and says so in the outputs", () => {
    expect(plan.config.monitoring.enabled).toBe(false);
    expect(plan.resources.some((x) => x.type === "backend-infra:monitoring:Monitoring")).toBe(false);
    expect(
      plan.resources.some((x) => x.type === CONTAINER && String(x.inputs.name).endsWith("-prometheus")),
    ).toBe(false);
    expect(plan.outputs.monitoring).toEqual({ enabled: false });
  });
});
