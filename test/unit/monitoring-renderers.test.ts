/**
 * Unit: the pure monitoring renderers - rule table completeness, Grafana JSON structure (no
 * Grafana binary here: every panel references the provisioned datasource uid, no `${DS_`
 * placeholders), prometheus.yml and alertmanager.yml shape and input errors.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  alertDefinitions,
  expandAnnotation,
  recordingRules,
  referencedMetrics,
  renderAlertRules,
  type TrafficSplit,
} from "../../renderers/alert-rules";
import { RECEIVERS, renderAlertmanagerConfig } from "../../renderers/alertmanager-config";
import { renderGrafanaDashboards } from "../../renderers/grafana-dashboards";
import {
  GRAFANA_DATASOURCE_UID,
  renderGrafanaDashboardProvider,
  renderGrafanaDatasources,
} from "../../renderers/grafana-provisioning";
import { renderPrometheusConfig, type PrometheusConfigInput } from "../../renderers/prometheus-config";
import { authenticatedGet, renderBasicAuthHeader, renderWebConfig } from "../../renderers/web-config";
import { removeDir, run, tempDir } from "../support/tools";

// A split with a canary, so the canary alerts have something to fire for.
const defs = alertDefinitions({ traffic: { active: "blue", canaryPercent: 10 } });

describe("alert rule table", () => {
  it("covers every alert the issue asks for", () => {
    const names = new Set(defs.map((d) => d.alert));
    for (const name of [
      "BackendInstanceDown",
      "BackendActiveSlotDown",
      "BackendRestarting",
      "BackendHighErrorRate",
      "BackendHighLatencyP95",
      "BackendEventLoopLag",
      "SloErrorBudgetBurnFast",
      "SloErrorBudgetBurnSlow",
      "CanaryErrorRateWorseThanStable",
      "CanaryLatencyWorseThanStable",
      "PostgresDown",
      "PostgresTooManyConnections",
      "PostgresDeadlocks",
      "PostgresWalArchivingFailing",
      "RedisDown",
      "RedisMemoryHigh",
      "RedisRejectedConnections",
      "RedisRdbSaveTooOld",
      "HostMemoryLow",
      "HostDiskSpaceLow",
      "HostDiskWillFillIn24h",
      "HostOomKill",
      "BackupTooOld",
      "BackupFailed",
      "RestoreDrillStale",
      "EdgeDown",
      "TlsCertificateExpiring",
      "PrometheusConfigReloadFailed",
      "AlertmanagerConfigReloadFailed",
      "Watchdog",
    ]) {
      expect(names.has(name), name).toBe(true);
    }
  });

  it("every alert has a severity, a firing case, and a silent case (Watchdog excepted)", () => {
    for (const def of defs) {
      expect(["critical", "warning", "none"]).toContain(def.severity);
      expect(def.fires.alerts.length, def.alert).toBeGreaterThan(0);
      expect(
        def.fires.alerts.some((a) => a.severity === def.severity),
        def.alert,
      ).toBe(true);
      if (def.alert === "Watchdog") expect(def.silent).toBeNull();
      else expect(def.silent, def.alert).not.toBeNull();
    }
    expect(defs.filter((d) => d.silent === null).map((d) => d.alert)).toEqual(["Watchdog"]);
  });

  it("each firing case feeds every metric its expression reads (so the test exercises it)", () => {
    const recorded = new Map(recordingRules().map((r) => [r.record, r.expr]));
    for (const def of defs) {
      const viaRecording = [...def.expr.matchAll(/[a-z_]+:[a-z_0-9]+:[a-z_0-9]+/g)].map((m) =>
        recorded.get(m[0]),
      );
      const metrics = [def.expr, ...viaRecording.filter((e): e is string => !!e)].flatMap(referencedMetrics);
      const fed = new Set(def.fires.series.map((s) => s.series.replace(/\{.*$/, "")));
      // A metric read only through absent() is exercised by leaving it out.
      const onlyAbsent = (m: string) =>
        def.expr.match(new RegExp(`\\b${m}\\b`, "g"))?.length ===
        def.expr.match(new RegExp(`\\babsent\\(${m}\\b`, "g"))?.length;
      const missing = metrics.filter((m) => !fed.has(m) && !onlyAbsent(m));
      expect(missing, def.alert).toEqual([]);
    }
  });

  it("SLO alerts use the 14.4x (1h/5m) and 6x (6h/30m) burn rates of a 99.9 % SLO", () => {
    const fast = defs.find((d) => d.alert === "SloErrorBudgetBurnFast")?.expr;
    const slow = defs.find((d) => d.alert === "SloErrorBudgetBurnSlow")?.expr;
    expect(fast).toBe(
      "slo:http_errors:ratio_rate1h > (14.4 * 0.001) and slo:http_errors:ratio_rate5m > (14.4 * 0.001)",
    );
    expect(slow).toBe(
      "slo:http_errors:ratio_rate6h > (6 * 0.001) and slo:http_errors:ratio_rate30m > (6 * 0.001)",
    );
  });

  it("names the active slot and the canary from the applied traffic split", () => {
    const records = (traffic: TrafficSplit) =>
      recordingRules({ traffic }).filter((r) => r.record.startsWith("colour:edge_"));
    expect(records({ active: "blue", canaryPercent: 0 })).toEqual([
      { record: "colour:edge_active:bool", expr: "vector(1)", labels: { colour: "blue" } },
    ]);
    expect(records({ active: "green", canaryPercent: 10 })).toEqual([
      { record: "colour:edge_active:bool", expr: "vector(1)", labels: { colour: "green" } },
      { record: "colour:edge_canary:bool", expr: "vector(1)", labels: { colour: "blue" } },
    ]);
    // Only those recording rules differ between splits.
    const strip = (t: TrafficSplit) =>
      renderAlertRules({ traffic: t }).replace(/ *- record: colour:edge_[\s\S]*?colour: (blue|green)\n/g, "");
    expect(strip({ active: "green", canaryPercent: 25 })).toBe(strip({ active: "blue", canaryPercent: 0 }));
    for (const alert of [
      "BackendActiveSlotDown",
      "CanaryErrorRateWorseThanStable",
      "CanaryLatencyWorseThanStable",
    ]) {
      const def = defs.find((d) => d.alert === alert);
      expect(def?.expr, alert).toContain("colour:edge_active:bool");
    }
    expect(() => recordingRules({ traffic: { active: "red" as "blue", canaryPercent: 0 } })).toThrow(
      /traffic.active: expected blue or green, got "red"/,
    );
    expect(() => renderAlertRules({ traffic: { active: "blue", canaryPercent: 101 } })).toThrow(
      /traffic.canaryPercent: expected a whole number from 0 to 100, got 101/,
    );
  });

  it("renders groups with severity labels and annotations", () => {
    const file = parse(renderAlertRules()) as {
      groups: { name: string; rules: { alert?: string; record?: string; labels?: { severity: string } }[] }[];
    };
    expect(file.groups[0].name).toBe("recording");
    const alerts = file.groups.flatMap((g) => g.rules.filter((r) => r.alert));
    expect(alerts).toHaveLength(defs.length);
    for (const a of alerts) expect(a.labels?.severity).toMatch(/^(critical|warning|none)$/);
  });

  it("rejects a nonsense SLO", () => {
    expect(() => alertDefinitions({ availabilitySlo: 99.9 })).toThrow(/availabilitySlo/);
  });

  it("referencedMetrics ignores functions, keywords, labels, recording rules and durations", () => {
    expect(
      referencedMetrics(
        'sum by (instance) (rate(foo_total{job="x",le="0.2"}[5m])) / on (instance) max(bar) > 0.8 and slo:x:y > 1 or vector(0)',
      ),
    ).toEqual(["bar", "foo_total"]);
  });

  it("annotations expand only $labels and refuse other templates", () => {
    expect(expandAnnotation("{{ $labels.kind }} old", { kind: "logical" })).toBe("logical old");
    expect(() => expandAnnotation("{{ $value }}", {})).toThrow(/template/);
  });
});

describe("Grafana provisioning and dashboards (structural)", () => {
  const dashboards = renderGrafanaDashboards();

  it("draws the SLO lines from the same targets as the alert rules", () => {
    const overview = (json: string) =>
      (JSON.parse(json) as { panels: { title: string; targets: { expr: string }[] }[] }).panels;
    const fastBurn = (panels: ReturnType<typeof overview>) =>
      panels.flatMap((p) => p.targets.map((t) => t.expr)).find((e) => e.startsWith("vector(14.4"));
    const rules = alertDefinitions({ traffic: { active: "blue", canaryPercent: 0 } });
    const burnRule = rules.find((r) => r.expr.includes("14.4 *"))?.expr ?? "";
    expect(burnRule).toContain("(14.4 * 0.001)");
    expect(fastBurn(overview(dashboards["overview.json"]))).toBe("vector(14.4 * 0.001)");

    const custom = overview(
      renderGrafanaDashboards({ availabilitySlo: 0.995, latencyTargetSeconds: 0.3 })["overview.json"],
    );
    expect(fastBurn(custom)).toBe("vector(14.4 * 0.005)");
    expect(custom.map((p) => p.title)).toEqual(
      expect.arrayContaining([
        "p95 latency per slot (target 300 ms)",
        "Availability SLO 99.5%: error ratio (1h) vs. 14.4x budget",
      ]),
    );
    expect(() => renderGrafanaDashboards({ availabilitySlo: 99.9 })).toThrow(
      /availabilitySlo: expected a fraction/,
    );
    expect(() => renderGrafanaDashboards({ latencyTargetSeconds: 0 })).toThrow(/latencyTargetSeconds/);
  });

  it("provides the five dashboards with unique uids", () => {
    expect(Object.keys(dashboards).sort()).toEqual([
      "backups.json",
      "host.json",
      "overview.json",
      "postgres.json",
      "redis.json",
    ]);
    const uids = Object.values(dashboards).map((j) => (JSON.parse(j) as { uid: string }).uid);
    expect(new Set(uids).size).toBe(uids.length);
  });

  it("every panel and every target uses the provisioned datasource uid; no ${DS_ placeholders", () => {
    for (const [file, json] of Object.entries(dashboards)) {
      expect(json, file).not.toContain("${DS_");
      const board = JSON.parse(json) as {
        panels: {
          id: number;
          datasource: { uid: string };
          gridPos: { x: number; w: number };
          targets: { expr: string; datasource: { uid: string } }[];
        }[];
      };
      expect(board.panels.length).toBeGreaterThan(3);
      expect(new Set(board.panels.map((p) => p.id)).size).toBe(board.panels.length);
      for (const panel of board.panels) {
        expect(panel.datasource.uid).toBe(GRAFANA_DATASOURCE_UID);
        expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
        expect(panel.targets.length).toBeGreaterThan(0);
        for (const t of panel.targets) {
          expect(t.datasource.uid).toBe(GRAFANA_DATASOURCE_UID);
          expect(t.expr.trim()).not.toBe("");
        }
      }
    }
  });

  it("the overview shows golden signals per slot (rate, errors, latency, saturation)", () => {
    const overview = dashboards["overview.json"];
    for (const query of [
      "colour:http_requests:rate5m",
      "colour:http_errors:ratio_rate5m",
      "colour:http_request_duration_seconds:p95_rate5m",
      "nodejs_eventloop_lag_p99_seconds",
    ]) {
      expect(overview).toContain(query);
    }
  });

  const basicAuth = { user: "grafana", password: "Gr4fanaPassw0rd" };

  it("the datasource file carries the same fixed uid; the provider points at the upload directory", () => {
    const ds = parse(
      renderGrafanaDatasources({
        prometheusUrl: "http://prometheus:9090",
        scrapeIntervalSeconds: 15,
        basicAuth,
      }),
    ) as {
      datasources: { uid: string; url: string; jsonData: { timeInterval: string } }[];
    };
    expect(ds.datasources).toHaveLength(1);
    expect(ds.datasources[0]).toMatchObject({ uid: GRAFANA_DATASOURCE_UID, url: "http://prometheus:9090" });
    expect(ds.datasources[0].jsonData.timeInterval).toBe("15s");
    const provider = parse(renderGrafanaDashboardProvider()) as {
      providers: { options: { path: string } }[];
    };
    expect(provider.providers[0].options.path).toBe("/etc/grafana/dashboards");
    expect(() =>
      renderGrafanaDatasources({ prometheusUrl: "prometheus:9090", scrapeIntervalSeconds: 15, basicAuth }),
    ).toThrow(/prometheusUrl/);
  });

  it("the datasource logs in to Prometheus with basic auth, the password only in secureJsonData", () => {
    const text = renderGrafanaDatasources({
      prometheusUrl: "http://prometheus:9090",
      scrapeIntervalSeconds: 15,
      basicAuth,
    });
    const ds = (parse(text) as { datasources: Record<string, unknown>[] }).datasources[0];
    expect(ds).toMatchObject({
      basicAuth: true,
      basicAuthUser: "grafana",
      secureJsonData: { basicAuthPassword: "Gr4fanaPassw0rd" },
    });
    expect(JSON.stringify(ds.jsonData)).not.toContain("Gr4fanaPassw0rd");
    expect(text.split("Gr4fanaPassw0rd")).toHaveLength(2); // once
    const input = { prometheusUrl: "http://prometheus:9090", scrapeIntervalSeconds: 15 };
    // Grafana would expand $VAR inside the password.
    expect(() =>
      renderGrafanaDatasources({ ...input, basicAuth: { user: "grafana", password: "a$HOME" } }),
    ).toThrow(/basicAuth\.password for grafana must be non-empty, one line, without "\$"/);
    expect(() =>
      renderGrafanaDatasources({ ...input, basicAuth: { user: "graf:ana", password: "x" } }),
    ).toThrow(/basicAuth\.user must be a user name/);
  });
});

describe("prometheus.yml", () => {
  const input: PrometheusConfigInput = {
    environment: "prod",
    scrapeIntervalSeconds: 30,
    ruleFiles: ["/etc/prometheus/alert-rules.yml"],
    alertmanagers: ["alertmanager:9093"],
    targets: { prometheus: "localhost:9090", node: "node-exporter:9100", blackbox: "blackbox:9115" },
    backendSlots: [
      {
        colour: "blue",
        discovery: { kind: "dns", name: "backend-blue", port: 4000 },
        healthUrl: "http://backend-blue:4000/health",
      },
      { colour: "green", discovery: { kind: "dns", name: "backend-green", port: 4000 } },
    ],
  };

  it("discovers slot replicas by DNS and labels them with their colour", () => {
    const config = parse(renderPrometheusConfig(input)) as {
      global: {
        scrape_interval: string;
        evaluation_interval: string;
        external_labels: Record<string, string>;
      };
      scrape_configs: Record<string, unknown>[];
    };
    expect(config.global).toMatchObject({
      scrape_interval: "30s",
      evaluation_interval: "30s",
      external_labels: { environment: "prod" },
    });
    const backend = config.scrape_configs.find((j) => j.job_name === "backend") as Record<string, unknown>;
    expect(backend.dns_sd_configs).toEqual([
      { names: ["backend-blue"], type: "A", port: 4000, refresh_interval: "30s" },
      { names: ["backend-green"], type: "A", port: 4000, refresh_interval: "30s" },
    ]);
    expect(backend.relabel_configs).toEqual([
      {
        source_labels: ["__meta_dns_name"],
        regex: "backend-blue",
        target_label: "colour",
        replacement: "blue",
      },
      {
        source_labels: ["__meta_dns_name"],
        regex: "backend-green",
        target_label: "colour",
        replacement: "green",
      },
    ]);
    const health = config.scrape_configs.find((j) => j.job_name === "blackbox-health") as Record<
      string,
      unknown
    >;
    expect(health.static_configs).toEqual([
      { targets: ["http://backend-blue:4000/health"], labels: { colour: "blue" } },
    ]);
    expect(config.scrape_configs.some((j) => j.job_name === "edge")).toBe(false);
  });

  it("auth: basic auth with a password file on the alertmanagers and the prometheus and alertmanager jobs only", () => {
    const auth = { username: "prometheus", passwordFile: "/etc/prometheus/web-password" };
    const text = renderPrometheusConfig({
      ...input,
      targets: { ...input.targets, alertmanager: "alertmanager:9093" },
      auth,
    });
    const config = parse(text) as {
      alerting: { alertmanagers: Record<string, unknown>[] };
      scrape_configs: Record<string, unknown>[];
    };
    const basic = { username: "prometheus", password_file: "/etc/prometheus/web-password" };
    expect(config.alerting.alertmanagers).toEqual([
      { static_configs: [{ targets: ["alertmanager:9093"] }], basic_auth: basic },
    ]);
    const withAuth = config.scrape_configs.filter((j) => j.basic_auth).map((j) => j.job_name);
    expect(withAuth).toEqual(["prometheus", "alertmanager"]);
    for (const job of config.scrape_configs.filter((j) => j.basic_auth))
      expect(job.basic_auth).toEqual(basic);
    // Without auth, nothing carries basic_auth.
    expect(renderPrometheusConfig(input)).not.toContain("basic_auth");
    expect(() =>
      renderPrometheusConfig({ ...input, auth: { ...auth, passwordFile: "web-password" } }),
    ).toThrow(/auth\.passwordFile: expected an absolute path/);
    expect(() => renderPrometheusConfig({ ...input, auth: { ...auth, username: "a:b" } })).toThrow(
      /auth\.username: expected a user name/,
    );
  });

  it("names every bad input", () => {
    expect(() => renderPrometheusConfig({ ...input, targets: { prometheus: "localhost" } })).toThrow(
      /targets\.prometheus: expected host:port/,
    );
    expect(() =>
      renderPrometheusConfig({
        ...input,
        targets: { prometheus: "localhost:9090" },
        publicUrl: "https://x/health",
      }),
    ).toThrow(/targets\.blackbox: required/);
    expect(() =>
      renderPrometheusConfig({ ...input, backendSlots: [input.backendSlots[0], input.backendSlots[0]] }),
    ).toThrow(/each colour at most once/);
  });
});

describe("alertmanager.yml", () => {
  it("says in a comment which receivers are unset and routes them to null", () => {
    const text = renderAlertmanagerConfig({ environment: "staging" });
    expect(text).toContain(
      "# critical alerts: no pager webhook and no e-mail configured -> routed to the null receiver",
    );
    expect(text).toContain(
      "# warning alerts: no Slack or Teams webhook configured -> routed to the null receiver",
    );
    const config = parse(text) as { receivers: { name: string }[]; route: { receiver: string } };
    expect(config.receivers).toEqual([{ name: RECEIVERS.none }]);
    expect(config.route.receiver).toBe(RECEIVERS.none);
  });

  it("critical gets pager + e-mail, warning gets Slack + Teams, inhibition by severity", () => {
    const config = parse(
      renderAlertmanagerConfig({
        environment: "prod",
        pagerWebhookUrl: "https://pager.example.com/x",
        slackWebhookUrl: "https://hooks.slack.example.com/x",
        teamsWebhookUrl: "https://teams.example.com/x",
        email: { to: ["a@example.com"], from: "am@example.com", smarthost: "smtp.example.com:587" },
      }),
    ) as {
      receivers: Record<string, unknown>[];
      inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal?: string[] }[];
      global: Record<string, unknown>;
    };
    const critical = config.receivers.find((r) => r.name === RECEIVERS.critical) as Record<string, unknown>;
    expect(critical.webhook_configs).toEqual([{ url: "https://pager.example.com/x", send_resolved: true }]);
    expect((critical.email_configs as { to: string }[])[0].to).toBe("a@example.com");
    const warning = config.receivers.find((r) => r.name === RECEIVERS.warning) as Record<string, unknown>;
    expect((warning.slack_configs as { api_url: string }[])[0].api_url).toBe(
      "https://hooks.slack.example.com/x",
    );
    expect(warning.webhook_configs).toEqual([{ url: "https://teams.example.com/x", send_resolved: true }]);
    expect(config.inhibit_rules[0]).toEqual({
      source_matchers: ['severity="critical"'],
      target_matchers: ['severity="warning"'],
      equal: ["alertname", "instance", "mountpoint"],
    });
    expect(config.global.smtp_smarthost).toBe("smtp.example.com:587");
  });

  it("names a bad receiver setting", () => {
    expect(() => renderAlertmanagerConfig({ environment: "x", slackWebhookUrl: "not a url" })).toThrow(
      /slackWebhookUrl: expected an http\(s\) URL/,
    );
  });
});

describe("web config (exporter-toolkit basic auth) and the probe's header", () => {
  // bcrypt hashes (htpasswd -B, cost 4) of "pw" and "pw2"; the random provider's are $2a$10$.
  const hash = "$2y$04$MfwjwKJ4fXebRdzoLeHjKeft/naVKZzHGpGpgp1XuKppL9fGtSanS";
  const hash2 = "$2y$04$ZnQ8NCEIIKFRP7cdwCSiOuzkg9vBbtutuLoVaFboLWGNCDNbuDroG";

  it("lists every user with its hash under basic_auth_users", () => {
    const text = renderWebConfig({ users: { prometheus: hash, operator: hash2 } });
    expect(text.startsWith("# Rendered by renderers/web-config.ts")).toBe(true);
    expect(parse(text)).toEqual({ basic_auth_users: { prometheus: hash, operator: hash2 } });
  });

  it("refuses no users (auth off), a user with a colon and a value that is not a bcrypt hash", () => {
    expect(() => renderWebConfig({ users: {} })).toThrow(/users: expected at least one user/);
    expect(() => renderWebConfig({ users: { "a:b": hash } })).toThrow(/"a:b" is not a user name/);
    expect(() => renderWebConfig({ users: { grafana: "plain-password" } })).toThrow(
      /users\.grafana: expected a bcrypt hash/,
    );
    // The refused value is not echoed (it may be a password pasted by mistake).
    expect(() => renderWebConfig({ users: { grafana: "plain-password" } })).not.toThrow(/plain-password/);
  });

  it("the header is user:password in base64, one line, and refuses a line break", () => {
    const header = renderBasicAuthHeader("operator", "S3cret:with-colon");
    expect(header).toBe(
      `Authorization: Basic ${Buffer.from("operator:S3cret:with-colon").toString("base64")}`,
    );
    expect(header).not.toContain("\n");
    expect(() => renderBasicAuthHeader("operator", "a\r\nX-Injected: 1")).toThrow(/on one line/);
    expect(() => renderBasicAuthHeader("operator", "")).toThrow(/non-empty/);
    expect(() => renderBasicAuthHeader("Op erator", "x")).toThrow(/not a user name/);
  });

  it("the probe reads the header file in the shell: the command holds no credential, a missing file fails it", () => {
    const command = authenticatedGet("http://127.0.0.1:9090/-/ready", "/etc/prometheus/web-probe-header");
    expect(command).toBe(
      `h=$(cat '/etc/prometheus/web-probe-header') && exec wget -q -O '/dev/null' --header "$h" 'http://127.0.0.1:9090/-/ready'`,
    );
    // Run by sh with a wget that prints its arguments: the header reaches it from the file.
    const dir = tempDir("web-probe");
    try {
      writeFileSync(join(dir, "wget"), '#!/bin/sh\nprintf "%s|" "$@"\n', { mode: 0o755 });
      writeFileSync(join(dir, "header"), "Authorization: Basic b3A6cHc=");
      const env = { ...process.env, PATH: `${dir}:${process.env.PATH ?? ""}` };
      const ok = run("sh", ["-c", authenticatedGet("http://127.0.0.1:9090/-/ready", `${dir}/header`, "-")], {
        env,
      });
      expect(ok.stdout).toBe("-q|-O|-|--header|Authorization: Basic b3A6cHc=|http://127.0.0.1:9090/-/ready|");
      const missing = run("sh", ["-c", authenticatedGet("http://127.0.0.1:9090/-/ready", `${dir}/nope`)], {
        env,
      });
      expect(missing.status).not.toBe(0);
      expect(missing.stdout).toBe(""); // wget never ran
    } finally {
      removeDir(dir);
    }
    expect(() => authenticatedGet("127.0.0.1:9090/-/ready", "/h")).toThrow(/http\(s\) URL/);
    expect(() => authenticatedGet("http://127.0.0.1:9090/", "h")).toThrow(/absolute header file/);
  });
});
