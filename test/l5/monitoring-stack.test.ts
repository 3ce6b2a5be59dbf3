/**
 * L5: the rendered monitoring configs against real daemons on loopback - Prometheus 2.42 with
 * the rendered prometheus.yml and alert rules, Alertmanager 0.25 with the rendered
 * alertmanager.yml (webhook receivers pointing at a recorder in this test), node_exporter with
 * a textfile directory, postgres_exporter on a real PostgreSQL 15 (WAL archiving on and
 * failing), redis_exporter on a real Redis, blackbox probing the example backend's /health and
 * an HTTPS endpoint, HAProxy's built-in exporter, and the example backend's /metrics.
 *
 * Shows: every target is up; every metric the rules and dashboards read exists in these
 * exporter versions and every dashboard query returns data; failing WAL archiving activates
 * PostgresWalArchivingFailing; rules rendered for another traffic split and reloaded (SIGHUP)
 * move the active slot the rules see (BackendActiveSlotDown for an empty green slot); a stale
 * backup metric file makes BackupTooOld fire (rule
 * evaluation over the live TSDB) and Alertmanager delivers it to the critical receiver, the
 * Watchdog to the dead man's switch.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  alertDefinitions,
  recordingRules,
  referencedMetrics,
  renderAlertRules,
  type TrafficSplit,
} from "../../renderers/alert-rules";
import { renderAlertmanagerConfig } from "../../renderers/alertmanager-config";
import { renderGrafanaDashboards } from "../../renderers/grafana-dashboards";
import { renderBlackboxConfig } from "../../renderers/prometheus-blackbox";
import { renderPrometheusConfig } from "../../renderers/prometheus-config";
import { MONITORING_HEALTH_PATHS } from "../../components/monitoring";
import { MONITOR_ROLE_SQL, POSTGRES_MONITOR_ROLE } from "../../components/postgres";
import { startBackendApp, startRedisServer, type BackendApp, type RedisServer } from "../support/backend-app";
import { createPgServer, runInitSql, type PgServer } from "../support/postgres";
import {
  freePort,
  removeDir,
  runOk,
  skipReason,
  startDaemon,
  tempDir,
  waitFor,
  which,
  type Daemon,
} from "../support/tools";
import { selfSignedCert } from "../support/tls";
import { localServiceHost, reloadService, type ReloadTarget } from "../../tools/config-reload";

/** The backup runner's shared functions (metric_first_start). */
const BACKUP_COMMON_SH = join(__dirname, "../../images/backup/lib/backup-common.sh");

const TOOLS = [
  "prometheus",
  "prometheus-alertmanager",
  "prometheus-node-exporter",
  "prometheus-postgres-exporter",
  "prometheus-redis-exporter",
  "prometheus-blackbox-exporter",
  "haproxy",
  "redis-server",
  "openssl",
];

interface Alert {
  labels: Record<string, string>;
  state: string;
}

/** waitFor's value, which is set once waitFor returned (it throws on timeout). */
function defined<T>(value: T | undefined): T {
  if (value === undefined) throw new Error("waitFor returned no value");
  return value;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/** Writes a textfile-collector file the way the backup runner does: temp file, then rename. */
function writeProm(dir: string, name: string, text: string) {
  writeFileSync(join(dir, `${name}.$$`), text);
  renameSync(join(dir, `${name}.$$`), join(dir, name));
}

function backupFile(kind: string, lastSuccess: number, status = 1): string {
  return [
    `backup_last_status{kind="${kind}"} ${status}`,
    `backup_last_success_timestamp_seconds{kind="${kind}"} ${lastSuccess}`,
    `backup_last_duration_seconds{kind="${kind}"} 12.5`,
    `backup_last_size_bytes{kind="${kind}"} 73400320`,
    "",
  ].join("\n");
}

describe.skipIf(skipReason(...TOOLS))("monitoring stack on real daemons", () => {
  const root = tempDir("monitoring");
  const textfileDir = join(root, "textfile");
  const daemons: Daemon[] = [];
  const servers: Server[] = [];
  const received: { path: string; body: { alerts: Alert[] } }[] = [];
  let pg: PgServer | undefined;
  let redis: RedisServer | undefined;
  let backend: BackendApp | undefined;
  let prometheusUrl = "";
  let alertmanagerDaemon: Daemon | undefined;
  let prometheusDaemon: Daemon | undefined;
  const ports: Record<string, number> = {};
  const hookUrl = () => `http://127.0.0.1:${ports.hook}`;
  const alertmanagerYml = (environment = "l5") =>
    renderAlertmanagerConfig({
      environment,
      pagerWebhookUrl: `${hookUrl()}/pager`,
      slackWebhookUrl: `${hookUrl()}/slack`,
      deadMansSwitchUrl: `${hookUrl()}/dms`,
    });
  const rulesFile = join(root, "alert-rules.yml");
  const prometheusYml = (scrapeIntervalSeconds = 2) =>
    renderPrometheusConfig({
      environment: "l5",
      scrapeIntervalSeconds,
      ruleFiles: [rulesFile],
      alertmanagers: [`127.0.0.1:${ports.alertmanager}`],
      targets: {
        prometheus: `127.0.0.1:${ports.prometheus}`,
        alertmanager: `127.0.0.1:${ports.alertmanager}`,
        node: `127.0.0.1:${ports.node}`,
        postgres: `127.0.0.1:${ports.postgres}`,
        redis: `127.0.0.1:${ports.redis}`,
        blackbox: `127.0.0.1:${ports.blackbox}`,
        edge: `127.0.0.1:${ports.edge}`,
      },
      backendSlots: [
        {
          colour: "blue",
          discovery: { kind: "static", targets: [`127.0.0.1:${backend?.port}`] },
          healthUrl: `${backend?.url}/health`,
        },
      ],
      publicUrl: `https://localhost:${ports.tls}/health`,
    });

  const start = (cmd: string, args: string[], env?: NodeJS.ProcessEnv) => {
    const daemon = startDaemon(cmd, args, env ? { env: { ...process.env, ...env } } : {});
    daemons.push(daemon);
    return daemon;
  };

  beforeAll(async () => {
    runOk("mkdir", ["-p", textfileDir]);
    for (const name of [
      "prometheus",
      "alertmanager",
      "node",
      "postgres",
      "redis",
      "blackbox",
      "edge",
      "hook",
      "tls",
    ]) {
      ports[name] = await freePort();
    }

    // --- PostgreSQL with WAL archiving that fails (pg_stat_archiver_failed_count grows) ---
    pg = await createPgServer();
    pg.appendConfig("wal_level = replica\narchive_mode = on\narchive_command = 'false'\n");
    await pg.start();
    pg.sql("CREATE ROLE app LOGIN PASSWORD 'app-password'");
    pg.sql("CREATE DATABASE app OWNER app");
    // postgres_exporter's role, created by the real init SQL (components/postgres.ts)
    const monitorRole = runInitSql(
      pg,
      "20-monitor-role.sql",
      MONITOR_ROLE_SQL,
      { MONITOR_DB_USER: POSTGRES_MONITOR_ROLE, MONITOR_DB_PASSWORD: "monitor-password" },
      "app",
    );
    if (monitorRole.status !== 0) throw new Error(`MONITOR_ROLE_SQL: ${monitorRole.stderr}`);
    pg.sql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n");
    pg.sql("SELECT pg_switch_wal()");
    redis = await startRedisServer();

    // --- the example backend (blue) and a few requests so its histograms exist ---
    backend = await startBackendApp({
      databaseUrl: `postgres://app:app-password@127.0.0.1:${pg.port}/app`,
      redisUrl: redis.url,
      colour: "blue",
    });
    for (let i = 0; i < 5; i++) await (await fetch(`${backend.url}/health`)).arrayBuffer();

    // --- an HTTPS endpoint standing in for the public URL (self-signed, trusted via ca_file) ---
    const key = join(root, "tls.key");
    const cert = join(root, "tls.crt");
    selfSignedCert(root, { days: 30, certFile: cert, keyFile: key });
    const tls = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"status":"ok"}');
    });
    await new Promise<void>((done) => tls.listen(ports.tls, "127.0.0.1", done));
    servers.push(tls);

    // --- webhook recorder for Alertmanager's receivers ---
    const hook = createHttpServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        received.push({ path: req.url ?? "", body: JSON.parse(body) as { alerts: Alert[] } });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((done) => hook.listen(ports.hook, "127.0.0.1", done));
    servers.push(hook);

    // --- textfile metrics: every backup fresh at first ---
    const now = Math.floor(Date.now() / 1000);
    for (const kind of ["pg_full", "pg_diff", "logical", "redis", "verify"]) {
      writeProm(textfileDir, `backup_${kind}.prom`, backupFile(kind, now - 600));
    }
    writeProm(
      textfileDir,
      "backup_restore_drill.prom",
      `restore_drill_last_success_timestamp_seconds ${now - 3600}\n`,
    );
    // The runner's first start, written by the runner's own function (backup-init runs it).
    runOk("bash", ["-c", 'source "$1"; metric_first_start', "first-start", BACKUP_COMMON_SH], {
      env: { ...process.env, TEXTFILE_DIR: textfileDir },
    });

    // --- exporters ---
    start("prometheus-node-exporter", [
      `--web.listen-address=127.0.0.1:${ports.node}`,
      `--collector.textfile.directory=${textfileDir}`,
    ]);
    start("prometheus-postgres-exporter", [`--web.listen-address=127.0.0.1:${ports.postgres}`], {
      // The monitoring role (pg_monitor only), as components/monitoring.ts connects.
      DATA_SOURCE_NAME: `postgresql://${POSTGRES_MONITOR_ROLE}:monitor-password@127.0.0.1:${pg.port}/app?sslmode=disable`,
    });
    start("prometheus-redis-exporter", [
      `-redis.addr=redis://127.0.0.1:${redis.port}`,
      `-redis.password=${redis.password}`,
      `-web.listen-address=127.0.0.1:${ports.redis}`,
    ]);
    writeFileSync(join(root, "blackbox.yml"), renderBlackboxConfig({ publicCaFile: cert }));
    start("prometheus-blackbox-exporter", [
      `--config.file=${join(root, "blackbox.yml")}`,
      `--web.listen-address=127.0.0.1:${ports.blackbox}`,
    ]);
    // HAProxy as the source of its built-in exporter's metrics (the edge's real haproxy.cfg is
    // tested by the edge suites): one frontend serving /metrics and the edge's backend shape,
    // `app` with one server per colour, blue weighted (the active slot), green at 0.
    writeFileSync(
      join(root, "haproxy.cfg"),
      [
        "global",
        "  log stderr local0",
        `  stats socket ${join(root, "haproxy.sock")} level admin`,
        "defaults",
        "  mode http",
        "  timeout connect 2s",
        "  timeout client 5s",
        "  timeout server 5s",
        "frontend metrics",
        `  bind 127.0.0.1:${ports.edge}`,
        "  http-request use-service prometheus-exporter if { path /metrics }",
        "  default_backend app",
        "backend app",
        `  server blue1 127.0.0.1:${backend.port} check weight 256`,
        `  server green1 127.0.0.1:${backend.port} check weight 0`,
        "",
      ].join("\n"),
    );
    start("haproxy", ["-db", "-f", join(root, "haproxy.cfg")]);

    // --- Alertmanager with the rendered config; receivers point at the recorder ---
    writeFileSync(join(root, "alertmanager.yml"), alertmanagerYml());
    alertmanagerDaemon = start("prometheus-alertmanager", [
      `--config.file=${join(root, "alertmanager.yml")}`,
      `--storage.path=${join(root, "am")}`,
      `--web.listen-address=127.0.0.1:${ports.alertmanager}`,
      "--cluster.listen-address=",
    ]);

    // --- Prometheus with the rendered config and rules ---
    writeFileSync(rulesFile, renderAlertRules({ traffic: { active: "blue", canaryPercent: 0 } }));
    writeFileSync(join(root, "prometheus.yml"), prometheusYml());
    prometheusUrl = `http://127.0.0.1:${ports.prometheus}`;
    prometheusDaemon = start("prometheus", [
      `--config.file=${join(root, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(root, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${ports.prometheus}`,
      // Alerts that fired before the Alertmanager was discovered are re-sent after this delay
      // (default 1m); shortened so the Watchdog check does not wait a minute.
      "--rules.alert.resend-delay=5s",
    ]);
    await waitFor("prometheus ready", async () => (await fetch(`${prometheusUrl}/-/ready`)).ok, {
      timeoutMs: 60_000,
    });
  });

  afterAll(async () => {
    for (const d of daemons.reverse()) await d.stop();
    for (const s of servers) s.close();
    await backend?.stop();
    await redis?.destroy();
    pg?.destroy();
    removeDir(root);
  });

  it("every scrape target is up and both probes succeed", async () => {
    type Targets = {
      data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] };
    };
    const expectedJobs = [
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
    ];
    const targets = defined(
      await waitFor(
        "all targets up",
        async () => {
          const t = (await getJson<Targets>(`${prometheusUrl}/api/v1/targets`)).data.activeTargets;
          return t.length === expectedJobs.length && t.every((x) => x.health === "up") ? t : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      ).catch(async (error: Error) => {
        const t = (await getJson<Targets>(`${prometheusUrl}/api/v1/targets`)).data.activeTargets;
        throw new Error(
          `${error.message}: ${JSON.stringify(t.map((x) => [x.labels.job, x.health, x.lastError]))}`,
        );
      }),
    );
    expect(targets.map((t) => t.labels.job).sort()).toEqual(expectedJobs);
    expect(targets.find((t) => t.labels.job === "backend")?.labels.colour).toBe("blue");

    type Query = { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    // postgres_exporter, connected as the monitoring role, reaches the database and reads pg_stat_*
    const postgresUp = defined(
      await waitFor("pg_up and pg_stat_database", async () => {
        const query =
          'pg_up{job="postgres"} == 1 and on() count(pg_stat_database_xact_commit{datname="app"}) > 0';
        const q = await getJson<Query>(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
        return q.data.result.length === 1 ? q.data.result : undefined;
      }),
    );
    expect(postgresUp[0].value[1]).toBe("1");
    // Both probes, each successful: one slow probe on a loaded machine reads 0 once, so wait for
    // a round where both succeed and show the last values if none comes.
    let lastProbes = "";
    await waitFor(
      "both blackbox probes successful",
      async () => {
        const q = await getJson<Query>(
          `${prometheusUrl}/api/v1/query?query=${encodeURIComponent("probe_success")}`,
        );
        lastProbes = q.data.result.map((p) => `${p.metric.instance}=${p.value[1]}`).join(", ");
        return q.data.result.length === 2 && q.data.result.every((p) => p.value[1] === "1");
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    ).catch((error: Error) => {
      throw new Error(`${error.message} (last: ${lastProbes || "no probe_success series"})`);
    });
    const expiry = await getJson<Query>(
      `${prometheusUrl}/api/v1/query?query=${encodeURIComponent("probe_ssl_earliest_cert_expiry - time()")}`,
    );
    const days = Number(expiry.data.result[0]?.value[1]) / 86400;
    expect(days).toBeGreaterThan(29);
    expect(days).toBeLessThan(31);
  });

  it("a healthy stack raises no false alarm (rules evaluated over the live series)", async () => {
    type Alerts = { data: { alerts: Alert[] } };
    // Watchdog always fires; WAL archiving fails on purpose in this suite; host alerts depend on
    // the machine running the tests; BackupMetricsMissing is pending until node_exporter's first
    // scrape lands.
    const expected = /^(Watchdog|PostgresWalArchivingFailing|Host.*|BackupMetricsMissing)$/;
    await new Promise((r) => setTimeout(r, 8_000)); // four evaluation rounds after all targets are up
    const alerts = (await getJson<Alerts>(`${prometheusUrl}/api/v1/alerts`)).data.alerts;
    expect(alerts.some((a) => a.labels.alertname === "Watchdog")).toBe(true);
    expect(alerts.filter((a) => !expected.test(a.labels.alertname)).map((a) => a.labels)).toEqual([]);
  });

  it("the healthcheck paths the containers use answer 200 on these versions", async () => {
    const checks: [string, number][] = [
      [MONITORING_HEALTH_PATHS.prometheus, ports.prometheus],
      [MONITORING_HEALTH_PATHS.alertmanager, ports.alertmanager],
      [MONITORING_HEALTH_PATHS.nodeExporter, ports.node],
      [MONITORING_HEALTH_PATHS.postgresExporter, ports.postgres],
      [MONITORING_HEALTH_PATHS.redisExporter, ports.redis],
      [MONITORING_HEALTH_PATHS.blackbox, ports.blackbox],
    ];
    for (const [path, port] of checks) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      await response.arrayBuffer();
      expect(response.status, `${port}${path}`).toBe(200);
    }
  });

  it("every metric the rules and dashboards read exists in these exporter versions", async () => {
    const exprs = [
      ...alertDefinitions().map((d) => d.expr),
      ...recordingRules().map((r) => r.expr),
      ...Object.values(renderGrafanaDashboards()).flatMap((json) =>
        (JSON.parse(json) as { panels: { targets: { expr: string }[] }[] }).panels.flatMap((p) =>
          p.targets.map((t) => t.expr),
        ),
      ),
    ];
    const wanted = new Set(exprs.flatMap(referencedMetrics));
    // Polled: some series appear only after their first event (a failed archive, a request).
    const missing = await waitFor(
      "metric names",
      async () => {
        const names = new Set(
          (await getJson<{ data: string[] }>(`${prometheusUrl}/api/v1/label/__name__/values`)).data,
        );
        const absent = [...wanted].filter((m) => !names.has(m));
        return absent.length === 0 ? absent : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    ).catch(async () => {
      const names = new Set(
        (await getJson<{ data: string[] }>(`${prometheusUrl}/api/v1/label/__name__/values`)).data,
      );
      return [...wanted].filter((m) => !names.has(m));
    });
    expect(missing).toEqual([]);
    expect(wanted.size).toBeGreaterThan(40);
  });

  it("every dashboard query runs on the live Prometheus and returns data", async () => {
    type Query = { status: string; data: { result: unknown[] } };
    const queries = Object.entries(renderGrafanaDashboards()).flatMap(([file, json]) =>
      (JSON.parse(json) as { panels: { title: string; targets: { expr: string }[] }[] }).panels.flatMap((p) =>
        p.targets.map((t) => ({ where: `${file} / ${p.title}`, expr: t.expr })),
      ),
    );
    const empty = await waitFor(
      "dashboard queries with data",
      async () => {
        const missing: string[] = [];
        for (const q of queries) {
          const r = await getJson<Query>(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(q.expr)}`);
          expect(r.status).toBe("success");
          if (r.data.result.length === 0) missing.push(`${q.where}: ${q.expr}`);
        }
        return missing.length === 0 ? missing : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 2000 },
    ).catch(async () => {
      const missing: string[] = [];
      for (const q of queries) {
        const r = await getJson<Query>(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(q.expr)}`);
        if (r.data.result.length === 0) missing.push(`${q.where}: ${q.expr}`);
      }
      return missing;
    });
    expect(empty).toEqual([]);
  });

  it("WAL archiving failures show in postgres_exporter 0.11.1's pg_stat_archiver metrics", async () => {
    type Query = { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    const failed = defined(
      await waitFor(
        "pg_stat_archiver_failed_count > 0",
        async () => {
          const q = await getJson<Query>(
            `${prometheusUrl}/api/v1/query?query=${encodeURIComponent('pg_stat_archiver_failed_count{job="postgres"}')}`,
          );
          return Number(q.data.result[0]?.value[1] ?? 0) > 0 ? q.data.result[0] : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 1000 },
      ),
    );
    expect(Number(failed.value[1])).toBeGreaterThan(0);
    const archived = await getJson<Query>(
      `${prometheusUrl}/api/v1/query?query=${encodeURIComponent('pg_stat_archiver_archived_count{job="postgres"}')}`,
    );
    expect(archived.data.result[0]?.value[1]).toBe("0");

    // More WAL to archive wakes the archiver, which fails again: the failure counter moves while
    // nothing is archived, so PostgresWalArchivingFailing becomes active (pending: its `for` is 5m).
    pg?.sql("INSERT INTO t SELECT generate_series(1, 1000)");
    pg?.sql("SELECT pg_switch_wal()");
    type Alerts = { data: { alerts: Alert[] } };
    const walAlert = defined(
      await waitFor(
        "PostgresWalArchivingFailing active",
        async () =>
          (await getJson<Alerts>(`${prometheusUrl}/api/v1/alerts`)).data.alerts.find(
            (a) => a.labels.alertname === "PostgresWalArchivingFailing",
          ),
        { timeoutMs: 90_000, intervalMs: 1000 },
      ),
    );
    expect(walAlert.labels).toMatchObject({ job: "postgres", severity: "critical" });
    expect(["pending", "firing"]).toContain(walAlert.state);
  });

  it("the active slot follows the applied traffic split: rules for green, reloaded in place, raise BackendActiveSlotDown for the empty green slot", async () => {
    type Alerts = { data: { alerts: Alert[] } };
    type Vector = { data: { result: { metric: Record<string, string> }[] } };
    const activeColours = async () =>
      (await getJson<Vector>(`${prometheusUrl}/api/v1/query?query=colour:edge_active:bool`)).data.result
        .map((r) => r.metric.colour)
        .sort();
    const slotDown = async () =>
      (await getJson<Alerts>(`${prometheusUrl}/api/v1/alerts`)).data.alerts.filter(
        (a) => a.labels.alertname === "BackendActiveSlotDown",
      );
    // What a traffic switch's `pulumi up` does to Prometheus: new rules, SIGHUP.
    const applySplit = async (traffic: TrafficSplit) => {
      writeFileSync(rulesFile, renderAlertRules({ traffic }));
      defined(prometheusDaemon).process.kill("SIGHUP");
      await waitFor(
        `${traffic.active} active in Prometheus`,
        async () => (await activeColours()).join() === traffic.active,
        { timeoutMs: 20_000, intervalMs: 500 },
      );
    };
    expect(await activeColours()).toEqual(["blue"]);
    expect(await slotDown()).toEqual([]);
    try {
      await applySplit({ active: "green", canaryPercent: 0 });
      const alerts = await waitFor(
        "BackendActiveSlotDown for green",
        async () => {
          const a = await slotDown();
          return a.length > 0 ? a : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 500 },
      );
      // Pending: the rule's `for: 1m` has not passed; no replica of green exists.
      expect(defined(alerts).map((a) => [a.labels.colour, a.labels.severity, a.state])).toEqual([
        ["green", "critical", "pending"],
      ]);
    } finally {
      await applySplit({ active: "blue", canaryPercent: 0 });
    }
    await waitFor(
      "BackendActiveSlotDown gone after the switch back",
      async () => (await slotDown()).length === 0,
      {
        timeoutMs: 20_000,
        intervalMs: 500,
      },
    );
  });

  it("a stale backup metric file makes BackupTooOld fire; Alertmanager pages it, Watchdog reaches the dead man's switch", async () => {
    type Alerts = { data: { alerts: Alert[] } };
    const active = async () => (await getJson<Alerts>(`${prometheusUrl}/api/v1/alerts`)).data.alerts;
    // Fresh files: after several evaluations (2 s each) no backup alert is active.
    await waitFor("Watchdog firing (rules evaluated)", async () =>
      (await active()).some((a) => a.labels.alertname === "Watchdog" && a.state === "firing"),
    );
    // (BackupMetricsMissing is pending until node_exporter's first scrape lands.)
    const backupAlerts = async () => (await active()).filter((a) => a.labels.alertname.startsWith("Backup"));
    await waitFor(
      "no backup alert while every file is fresh",
      async () => (await backupAlerts()).length === 0,
      {
        timeoutMs: 30_000,
        intervalMs: 500,
      },
    );
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await backupAlerts()).toEqual([]);

    // The logical dump stopped 27 hours ago.
    const now = Math.floor(Date.now() / 1000);
    writeProm(textfileDir, "backup_logical.prom", backupFile("logical", now - 27 * 3600));
    const alert = defined(
      await waitFor(
        "BackupTooOld firing",
        async () =>
          (await active()).find((a) => a.labels.alertname === "BackupTooOld" && a.state === "firing"),
        { timeoutMs: 60_000, intervalMs: 500 },
      ),
    );
    expect(alert.labels).toMatchObject({ kind: "logical", severity: "critical", job: "node" });
    // Only the stale kind fires.
    expect((await active()).filter((a) => a.labels.alertname === "BackupTooOld")).toHaveLength(1);

    const delivered = defined(
      await waitFor(
        "BackupTooOld at the pager webhook",
        () =>
          received.find(
            (r) => r.path === "/pager" && r.body.alerts.some((a) => a.labels.alertname === "BackupTooOld"),
          ),
        { timeoutMs: 60_000, intervalMs: 500 },
      ),
    );
    expect(delivered.body.alerts[0].labels.kind).toBe("logical");
    await waitFor(
      "Watchdog at the dead man's switch",
      () =>
        received.some(
          (r) => r.path === "/dms" && r.body.alerts.some((a) => a.labels.alertname === "Watchdog"),
        ),
      { timeoutMs: 30_000, intervalMs: 500 },
    ).catch(async (error: Error) => {
      const am = await (await fetch(`http://127.0.0.1:${ports.alertmanager}/api/v2/alerts`)).text();
      throw new Error(
        `${error.message}; AM: ${am}; received: ${JSON.stringify(received.map((r) => [r.path, r.body.alerts.map((a) => a.labels.alertname)]))}\n${alertmanagerDaemon?.output() ?? ""}`,
      );
    });
    // Critical alerts never go to the chat receiver.
    expect(
      received.filter(
        (r) => r.path === "/slack" && r.body.alerts.some((a) => a.labels.severity === "critical"),
      ),
    ).toEqual([]);

    // A new successful run clears it.
    writeProm(textfileDir, "backup_logical.prom", backupFile("logical", Math.floor(Date.now() / 1000)));
    await waitFor(
      "BackupTooOld resolved",
      async () => !(await active()).some((a) => a.labels.alertname === "BackupTooOld"),
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  });

  it.skipIf(skipReason("busybox", "promtool", "amtool"))(
    "reloads Prometheus and Alertmanager in place: new files applied, bad files refused (tools/config-reload.ts, busybox applets)",
    async () => {
      // The steps run in the containers' busybox sh: run them with busybox's sh, cmp, cp, mv, rm,
      // cat and wget here too (promtool and amtool come from the PATH behind them).
      const bin = join(root, "busybox-bin");
      runOk("mkdir", ["-p", bin]);
      for (const applet of ["sh", "cmp", "cp", "mv", "rm", "cat", "wget"]) {
        runOk("ln", ["-sf", defined(which("busybox")), join(bin, applet)]);
      }
      const savedPath = process.env.PATH;
      process.env.PATH = `${bin}:${savedPath}`;
      try {
        const prometheusTarget: ReloadTarget = {
          service: "prometheus",
          host: localServiceHost(defined(prometheusDaemon?.process.pid)),
          metricsUrl: `${prometheusUrl}/metrics`,
        };
        const rules = { path: rulesFile, content: readFileSync(rulesFile, "utf8") };
        const promFiles = (yml: string) => [{ path: join(root, "prometheus.yml"), content: yml }, rules];
        const loaded = async () =>
          (await getJson<{ data: { yaml: string } }>(`${prometheusUrl}/api/v1/status/config`)).data.yaml;

        const reloaded = await reloadService(prometheusTarget, promFiles(prometheusYml(3)), {
          waitSeconds: 20,
        });
        expect(reloaded.action).toBe("reloaded");
        expect(Number(reloaded.marker)).toBeGreaterThan(Number(reloaded.previousMarker));
        expect(await loaded()).toContain("scrape_interval: 3s");
        const unchanged = await reloadService(prometheusTarget, promFiles(prometheusYml(3)), {
          waitSeconds: 20,
        });
        expect(unchanged).toMatchObject({ action: "unchanged", marker: reloaded.marker });

        const bad = `${prometheusYml(5)}\nnot_a_prometheus_key: 1\n`;
        await expect(reloadService(prometheusTarget, promFiles(bad), { waitSeconds: 20 })).rejects.toThrow(
          /do not pass prometheus's check; prometheus keeps its configuration[\s\S]*not_a_prometheus_key/,
        );
        expect(readFileSync(join(root, "prometheus.yml"), "utf8")).toBe(prometheusYml(3));
        expect(await loaded()).toContain("scrape_interval: 3s");
        const afterBad = await reloadService(prometheusTarget, promFiles(prometheusYml(2)), {
          waitSeconds: 20,
        });
        expect(afterBad.action).toBe("reloaded");

        const alertmanagerTarget: ReloadTarget = {
          service: "alertmanager",
          host: localServiceHost(defined(alertmanagerDaemon?.process.pid)),
          metricsUrl: `http://127.0.0.1:${ports.alertmanager}/metrics`,
        };
        const amFile = (yml: string) => [{ path: join(root, "alertmanager.yml"), content: yml }];
        const amConfig = async () =>
          (
            await getJson<{ config: { original: string } }>(
              `http://127.0.0.1:${ports.alertmanager}/api/v2/status`,
            )
          ).config.original;
        const amReloaded = await reloadService(alertmanagerTarget, amFile(alertmanagerYml("l5-reloaded")), {
          waitSeconds: 20,
        });
        expect(amReloaded.action).toBe("reloaded");
        expect(await amConfig()).toContain("[l5-reloaded]"); // webhook URLs show as <secret>
        await expect(
          reloadService(alertmanagerTarget, amFile("route: {receiver: nowhere}\nreceivers: []\n"), {
            waitSeconds: 20,
          }),
        ).rejects.toThrow(/do not pass alertmanager's check/);
        expect(await amConfig()).toContain("[l5-reloaded]"); // webhook URLs show as <secret>
        expect(
          (await reloadService(alertmanagerTarget, amFile(alertmanagerYml()), { waitSeconds: 20 })).action,
        ).toBe("reloaded");
      } finally {
        process.env.PATH = savedPath;
      }
    },
  );
});
