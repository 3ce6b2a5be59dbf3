/**
 * L5: Prometheus 2.42 and Alertmanager 0.25 behind the rendered web configs (basic auth on every
 * endpoint), as components/monitoring.ts runs them: every client has its own user with a bcrypt
 * hash (made by htpasswd here, by the random provider in a stack), Prometheus reads its password
 * from a file (`password_file`).
 *
 * Shows: no login, a wrong password or another daemon's user -> 401, each client's own login ->
 * 200, on the health, metrics and API paths; Prometheus scrapes itself and Alertmanager and
 * delivers its alerts to Alertmanager with its login, and a wrong password in its file shows as
 * 401 errors; the containers' healthcheck command (busybox sh + wget, the header read from a
 * file) passes with the right header and fails otherwise; tools/config-reload.ts reloads both in
 * place, reading their /metrics with the header file.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MONITORING_AUTH_FILES,
  MONITORING_WEB_USERS,
  monitoringAuthHealthTest,
} from "../../components/monitoring";
import { renderAlertRules } from "../../renderers/alert-rules";
import { renderAlertmanagerConfig } from "../../renderers/alertmanager-config";
import { renderPrometheusConfig } from "../../renderers/prometheus-config";
import { authenticatedGet, renderBasicAuthHeader, renderWebConfig } from "../../renderers/web-config";
import { localServiceHost, reloadService, type ReloadTarget } from "../../tools/config-reload";
import {
  freePort,
  removeDir,
  run,
  runOk,
  skipReason,
  startDaemon,
  tempDir,
  waitFor,
  which,
  type Daemon,
} from "../support/tools";

type User = keyof typeof MONITORING_WEB_USERS;
const USERS = Object.keys(MONITORING_WEB_USERS) as User[];
/** Which users each daemon's web config lists (components/monitoring.ts). */
const ACCEPTS: Record<"prometheus" | "alertmanager", User[]> = {
  prometheus: ["prometheus", "grafana", "operator"],
  alertmanager: ["prometheus", "alertmanager", "operator"],
};

/** The bcrypt hash htpasswd makes (cost 10, as the random provider's); the password on stdin. */
function bcrypt(user: string, password: string): string {
  const line = runOk("htpasswd", ["-niBC", "10", user], { input: password }).stdout.trim();
  return line.slice(line.indexOf(":") + 1);
}

const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});

describe.skipIf(
  skipReason("prometheus", "prometheus-alertmanager", "promtool", "amtool", "htpasswd", "busybox"),
)("Prometheus and Alertmanager behind their web configs", () => {
  const root = tempDir("web-auth");
  const promDir = join(root, "prometheus");
  const amDir = join(root, "alertmanager");
  const bin = join(root, "busybox-bin");
  const passwords = Object.fromEntries(USERS.map((u) => [u, randomBytes(16).toString("hex")])) as Record<
    User,
    string
  >;
  const files = {
    prometheus: {
      config: join(promDir, "prometheus.yml"),
      rules: join(promDir, "alert-rules.yml"),
      webConfig: join(promDir, "web.yml"),
      password: join(promDir, "web-password"),
      probeHeader: join(promDir, "web-probe-header"),
    },
    alertmanager: {
      config: join(amDir, "alertmanager.yml"),
      webConfig: join(amDir, "web.yml"),
      probeHeader: join(amDir, "web-probe-header"),
    },
  };
  const ports: Record<string, number> = {};
  const url = (service: "prometheus" | "alertmanager") => `http://127.0.0.1:${ports[service]}`;
  const daemons: Daemon[] = [];
  let prometheus: Daemon | undefined;
  let alertmanager: Daemon | undefined;

  const prometheusYml = (scrapeIntervalSeconds = 2) =>
    renderPrometheusConfig({
      environment: "l5",
      scrapeIntervalSeconds,
      ruleFiles: [files.prometheus.rules],
      alertmanagers: [`127.0.0.1:${ports.alertmanager}`],
      targets: {
        prometheus: `127.0.0.1:${ports.prometheus}`,
        alertmanager: `127.0.0.1:${ports.alertmanager}`,
      },
      backendSlots: [],
      auth: { username: MONITORING_WEB_USERS.prometheus, passwordFile: files.prometheus.password },
    });
  const alertmanagerYml = (environment = "l5") =>
    // Receivers on a closed port: what matters here is what reaches Alertmanager. The Slack
    // title carries the environment, so a reload has something to show.
    renderAlertmanagerConfig({
      environment,
      slackWebhookUrl: "http://127.0.0.1:9/slack",
      deadMansSwitchUrl: "http://127.0.0.1:9/dms",
    });

  /** GET with `headers` and return the status; the body is read so the socket is freed. */
  const status = async (target: string, headers: Record<string, string> = {}) => {
    const response = await fetch(target, { headers, signal: AbortSignal.timeout(5_000) });
    await response.arrayBuffer();
    return response.status;
  };
  const getJson = async <T>(target: string, user: User = "operator"): Promise<T> => {
    const response = await fetch(target, {
      headers: basic(user, passwords[user]),
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) throw new Error(`${target}: HTTP ${response.status}`);
    return (await response.json()) as T;
  };

  beforeAll(async () => {
    for (const name of ["prometheus", "alertmanager"]) ports[name] = await freePort();
    mkdirSync(promDir, { recursive: true });
    mkdirSync(amDir, { recursive: true });
    // The busybox applets the official images have: the healthcheck and the reload run in them.
    mkdirSync(bin, { recursive: true });
    for (const applet of ["sh", "cmp", "cp", "mv", "rm", "cat", "wget"]) {
      runOk("ln", ["-sf", which("busybox") as string, join(bin, applet)]);
    }

    const hashes = Object.fromEntries(USERS.map((u) => [u, bcrypt(u, passwords[u])])) as Record<User, string>;
    const webConfig = (users: User[]) =>
      renderWebConfig({ users: Object.fromEntries(users.map((u) => [MONITORING_WEB_USERS[u], hashes[u]])) });
    writeFileSync(files.prometheus.webConfig, webConfig(ACCEPTS.prometheus));
    writeFileSync(files.alertmanager.webConfig, webConfig(ACCEPTS.alertmanager));
    writeFileSync(files.prometheus.password, passwords.prometheus);
    writeFileSync(files.prometheus.probeHeader, renderBasicAuthHeader("prometheus", passwords.prometheus));
    writeFileSync(
      files.alertmanager.probeHeader,
      renderBasicAuthHeader("alertmanager", passwords.alertmanager),
    );
    for (const file of [files.prometheus.webConfig, files.alertmanager.webConfig]) {
      const check = run("promtool", ["check", "web-config", file]);
      if (check.status !== 0)
        throw new Error(`promtool check web-config ${file}: ${check.stdout}${check.stderr}`);
    }

    writeFileSync(files.alertmanager.config, alertmanagerYml());
    alertmanager = startDaemon("prometheus-alertmanager", [
      `--config.file=${files.alertmanager.config}`,
      `--storage.path=${join(amDir, "data")}`,
      `--web.listen-address=127.0.0.1:${ports.alertmanager}`,
      `--web.config.file=${files.alertmanager.webConfig}`,
      "--cluster.listen-address=",
    ]);
    daemons.push(alertmanager);

    // The rendered rules: the Watchdog fires from the first evaluation on.
    writeFileSync(
      files.prometheus.rules,
      renderAlertRules({ traffic: { active: "blue", canaryPercent: 0 } }),
    );
    writeFileSync(files.prometheus.config, prometheusYml());
    prometheus = startDaemon("prometheus", [
      `--config.file=${files.prometheus.config}`,
      `--storage.tsdb.path=${join(promDir, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${ports.prometheus}`,
      `--web.config.file=${files.prometheus.webConfig}`,
      // Alerts that fired before Alertmanager was discovered are re-sent after this (default 1m).
      "--rules.alert.resend-delay=2s",
    ]);
    daemons.push(prometheus);
    const operator = basic("operator", passwords.operator);
    for (const service of ["prometheus", "alertmanager"] as const) {
      await waitFor(
        `${service} ready`,
        async () => (await status(`${url(service)}/-/ready`, operator)) === 200,
        {
          timeoutMs: 60_000,
          intervalMs: 250,
        },
      ).catch((error: Error) => {
        throw new Error(
          `${error.message}\n${(service === "prometheus" ? prometheus : alertmanager)?.output()}`,
        );
      });
    }
  });

  afterAll(async () => {
    for (const d of daemons.reverse()) await d.stop();
    removeDir(root);
  });

  it("every path asks for a login: none, a wrong password or another daemon's user 401, each client's own 200", async () => {
    const paths = {
      prometheus: ["/-/healthy", "/-/ready", "/metrics", "/api/v1/query?query=up", "/graph"],
      alertmanager: ["/-/healthy", "/-/ready", "/metrics", "/api/v2/status", "/"],
    };
    const got: string[] = [];
    const want: string[] = [];
    for (const service of ["prometheus", "alertmanager"] as const) {
      for (const path of paths[service]) {
        const target = `${url(service)}${path}`;
        got.push(`${service}${path} none ${await status(target)}`);
        want.push(`${service}${path} none 401`);
        got.push(
          `${service}${path} wrong ${await status(target, basic("operator", `${passwords.operator}x`))}`,
        );
        want.push(`${service}${path} wrong 401`);
        for (const user of USERS) {
          got.push(`${service}${path} ${user} ${await status(target, basic(user, passwords[user]))}`);
          want.push(`${service}${path} ${user} ${ACCEPTS[service].includes(user) ? 200 : 401}`);
        }
      }
    }
    expect(got).toEqual(want);
  });

  it("Prometheus scrapes itself and Alertmanager with its login from the password file: both targets up", async () => {
    type Targets = {
      data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] };
    };
    const targets = await waitFor(
      "both targets up",
      async () => {
        const t = (await getJson<Targets>(`${url("prometheus")}/api/v1/targets`)).data.activeTargets;
        return t.length === 2 && t.every((x) => x.health === "up") ? t : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(targets?.map((t) => t.labels.job).sort()).toEqual(["alertmanager", "prometheus"]);
  });

  it("Prometheus delivers its alerts to Alertmanager with its login; a wrong password in its file shows as 401", async () => {
    type AmAlert = { labels: Record<string, string> };
    const watchdog = await waitFor(
      "the Watchdog in Alertmanager",
      async () =>
        (await getJson<AmAlert[]>(`${url("alertmanager")}/api/v2/alerts`)).find(
          (a) => a.labels.alertname === "Watchdog",
        ),
      { timeoutMs: 60_000, intervalMs: 500 },
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${prometheus?.output().slice(-3000)}`);
    });
    expect(watchdog?.labels).toMatchObject({ environment: "l5", severity: "none" });
    // Prometheus's own counters, from its /metrics (its self-scrape fails below, with the
    // wrong password, and its series go stale).
    const notifications = async (kind: "sent" | "errors") => {
      const response = await fetch(`${url("prometheus")}/metrics`, {
        headers: basic("operator", passwords.operator),
        signal: AbortSignal.timeout(5_000),
      });
      const lines = (await response.text()).split("\n");
      return lines
        .filter((l) => l.startsWith(`prometheus_notifications_${kind}_total{`))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    };
    expect(await notifications("sent")).toBeGreaterThan(0);
    const errorsBefore = await notifications("errors");
    expect(errorsBefore).toBe(0);

    // The password file is read at every request: a wrong one is refused by both daemons.
    type Targets = {
      data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] };
    };
    const targets = async () =>
      (await getJson<Targets>(`${url("prometheus")}/api/v1/targets`)).data.activeTargets;
    writeFileSync(files.prometheus.password, `${passwords.prometheus}x`);
    try {
      await waitFor(
        "401 on both scrapes and on the alerts Prometheus sends",
        async () =>
          (await targets()).every((t) => /\b401\b/.test(t.lastError)) &&
          (await notifications("errors")) > errorsBefore,
        { timeoutMs: 60_000, intervalMs: 500 },
      ).catch(async (error: Error) => {
        throw new Error(`${error.message}: ${JSON.stringify(await targets())}`);
      });
    } finally {
      writeFileSync(files.prometheus.password, passwords.prometheus);
    }
    await waitFor(
      "both targets up again with the right password",
      async () => (await targets()).every((t) => t.health === "up"),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  });

  it("the containers' healthcheck (busybox sh and wget, the header from a file) passes with the right header only", () => {
    // The healthcheck the component sets is this command for the container's paths and port.
    for (const service of ["prometheus", "alertmanager"] as const) {
      expect(monitoringAuthHealthTest(service)).toEqual([
        "CMD-SHELL",
        authenticatedGet(
          `http://127.0.0.1:${service === "prometheus" ? 9090 : 9093}/-/ready`,
          MONITORING_AUTH_FILES[service].probeHeader,
        ),
      ]);
    }
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };
    const probe = (service: "prometheus" | "alertmanager", headerFile: string) =>
      run(join(bin, "sh"), ["-c", authenticatedGet(`${url(service)}/-/ready`, headerFile)], { env });
    const wrong = join(root, "wrong-header");
    writeFileSync(wrong, renderBasicAuthHeader("operator", "not-the-password"));
    for (const service of ["prometheus", "alertmanager"] as const) {
      const ok = probe(service, files[service].probeHeader);
      expect(ok.status, `${service}: ${ok.stderr}`).toBe(0);
      const refused = probe(service, wrong);
      expect(refused.status, service).not.toBe(0);
      expect(refused.stderr, service).toMatch(/401/);
      expect(probe(service, join(root, "no-such-header")).status, service).not.toBe(0);
    }
    // Each daemon's own user is the one its container's header carries.
    expect(readFileSync(files.alertmanager.probeHeader, "utf8")).toBe(
      renderBasicAuthHeader("alertmanager", passwords.alertmanager),
    );
  });

  it("tools/config-reload.ts reloads both in place, reading /metrics with the header file (refused without it)", async () => {
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    try {
      const prometheusTarget: ReloadTarget = {
        service: "prometheus",
        host: localServiceHost(prometheus?.process.pid as number),
        metricsUrl: `${url("prometheus")}/metrics`,
        authHeaderFile: files.prometheus.probeHeader,
      };
      // Every file of the container, as the component's reload sends them.
      const promFiles = (yml: string) => [
        { path: files.prometheus.config, content: yml },
        ...(["rules", "webConfig", "password", "probeHeader"] as const).map((key) => ({
          path: files.prometheus[key],
          content: readFileSync(files.prometheus[key], "utf8"),
        })),
      ];
      const reloaded = await reloadService(prometheusTarget, promFiles(prometheusYml(3)), {
        waitSeconds: 20,
      });
      expect(reloaded.action).toBe("reloaded");
      const loaded = await getJson<{ data: { yaml: string } }>(`${url("prometheus")}/api/v1/status/config`);
      expect(loaded.data.yaml).toContain("scrape_interval: 3s");
      // Without the header file the tool cannot read the reload marker: it stops before any change.
      await expect(
        reloadService({ ...prometheusTarget, authHeaderFile: undefined }, promFiles(prometheusYml(2)), {
          waitSeconds: 5,
        }),
      ).rejects.toThrow(/401/);
      expect(readFileSync(files.prometheus.config, "utf8")).toBe(prometheusYml(3));

      const amTarget: ReloadTarget = {
        service: "alertmanager",
        host: localServiceHost(alertmanager?.process.pid as number),
        metricsUrl: `${url("alertmanager")}/metrics`,
        authHeaderFile: files.alertmanager.probeHeader,
      };
      const amFiles = (yml: string) => [
        { path: files.alertmanager.config, content: yml },
        ...(["webConfig", "probeHeader"] as const).map((key) => ({
          path: files.alertmanager[key],
          content: readFileSync(files.alertmanager[key], "utf8"),
        })),
      ];
      const amReloaded = await reloadService(amTarget, amFiles(alertmanagerYml("l5-reloaded")), {
        waitSeconds: 20,
      });
      expect(amReloaded.action).toBe("reloaded");
      const amStatus = await getJson<{ config: { original: string } }>(
        `${url("alertmanager")}/api/v2/status`,
      );
      expect(amStatus.config.original).toContain("[l5-reloaded]");
    } finally {
      process.env.PATH = savedPath;
    }
  });
});
