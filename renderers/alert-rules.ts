/**
 * Prometheus alerting and recording rules, and the promtool unit tests for them, from ONE
 * table: every alert carries a case where it fires and a case where it stays silent, so an
 * alert cannot exist without its test (test/l4/monitoring-rules.test.ts runs them with
 * `promtool test rules`; test/unit/monitoring-rules.test.ts checks the table is complete).
 *
 * Started from awesome-prometheus-alerts, cut to the metrics our exporter versions expose
 * (node_exporter 1.5, postgres_exporter 0.11.1, redis_exporter 1.45, blackbox 0.23, HAProxy 2.6
 * built-in exporter, Prometheus 2.42, Alertmanager 0.25; test/l5/monitoring-exporters.test.ts
 * checks every exporter metric named here against the real exporters), plus the backend's own
 * metrics (prom-client defaults and `http_request_duration_seconds{method,route,status_code}`)
 * and the backup runner's textfile metrics.
 *
 * Severity: `critical` pages (pager + e-mail), `warning` goes to chat, `none` is the Watchdog.
 * Alerts that exist at two severities share their name, so Alertmanager's inhibition
 * (critical silences warning with the same alertname/instance) removes the duplicate.
 * Annotations use only `{{ $labels.x }}` so the tests can state them exactly.
 */
import { stringify } from "yaml";
import { COLOURS, type Colour } from "../config/keys";
import { validateTarget, type TrafficTarget } from "../lib/traffic-weights";
import { EDGE_METRICS_PORT } from "./haproxy-config";
import { EXPORTER_JOBS, JOBS } from "./prometheus-config";

export type Severity = "critical" | "warning" | "none";
export type Labels = Record<string, string>;

/** Which slot serves traffic and the share (0-100) the other one gets as a canary. */
export type TrafficSplit = TrafficTarget;

export interface AlertRulesInput {
  /**
   * The traffic split the env stack's TrafficSwitch applied: the recording rules
   * `colour:edge_active:bool` and `colour:edge_canary:bool` name the active slot and the canary
   * from it. (The edge's per-server weights cannot tell: they are scaled by each slot's replica
   * count.) A switch changes the rule file, which Prometheus reloads in place. Default blue, 0.
   */
  traffic?: TrafficSplit;
  /** Availability SLO as a fraction (0.999 = 99.9 %). Default 0.999. */
  availabilitySlo?: number;
  /** p95 latency target in seconds (the seed's < 200 ms). Default 0.2. */
  latencyTargetSeconds?: number;
  /** Hours after which a daily backup counts as missed. Default 26. */
  backupMaxAgeHours?: number;
  /** Days after which the weekly restore drill counts as stale. Default 8. */
  restoreDrillMaxAgeDays?: number;
}

/** One promtool scenario: input series (one sample per `interval`) and a time to evaluate at. */
export interface RuleCase {
  /** Sample spacing. Default 1m. */
  interval?: string;
  series: { series: string; values: string }[];
  /** Evaluation time, e.g. `10m` (promtool's clock starts at 0). */
  at: string;
}

export interface FiringCase extends RuleCase {
  /** Every alert with this alertname expected at `at`: labels from the expression plus severity. */
  alerts: Labels[];
}

export interface AlertDef {
  group: string;
  alert: string;
  severity: Severity;
  expr: string;
  for?: string;
  /** Extra static labels besides severity. */
  labels?: Labels;
  summary: string;
  description: string;
  fires: FiringCase;
  /** A case where the alert must stay silent; only the Watchdog (always firing) has none. */
  silent: RuleCase | null;
}

export interface RecordingDef {
  record: string;
  expr: string;
  labels?: Labels;
}

const s = (series: string, values: string) => ({ series, values });
/**
 * A timestamp series that stays at "`seconds` before the test starts" (promtool's clock starts
 * at 0, so the value is negative): the last success happened long ago without simulating days.
 */
const ago = (seconds: number) => `${-seconds}x20`;
/** A timestamp series updated every minute: the job just succeeded. */
const FRESH = "0+60x20";
const H = 3600;
/**
 * Backup jobs the runner's crontab runs daily (every schedule is required config). The weekly
 * ones (pg_full, restore_drill) are checked for absence against the runner's first start, since
 * a new install has none for up to a week.
 */
export const DAILY_BACKUP_KINDS = ["pg_diff", "logical", "redis", "verify"] as const;
const D = 86400;

/** The traffic split, checked (the traffic switch's own validation). */
function trafficOf(input: AlertRulesInput): TrafficSplit {
  const traffic = input.traffic ?? { active: "blue", canaryPercent: 0 };
  validateTarget(traffic);
  return traffic;
}

/** Recording rules the alerts and dashboards share (`level:metric:operations`). */
export function recordingRules(input: AlertRulesInput = {}): RecordingDef[] {
  const traffic = trafficOf(input);
  const other = COLOURS.find((c) => c !== traffic.active) as Colour;
  const req = `http_request_duration_seconds_count{job="${JOBS.backend}"}`;
  const err = `http_request_duration_seconds_count{job="${JOBS.backend}",status_code=~"5.."}`;
  const out: RecordingDef[] = [];
  for (const w of ["5m", "30m", "1h", "6h"]) {
    out.push({
      record: `slo:http_errors:ratio_rate${w}`,
      // `or ... * 0`: no 5xx series at all is a ratio of 0, not "no data".
      expr: `(sum(rate(${err}[${w}])) or sum(rate(${req}[${w}])) * 0) / sum(rate(${req}[${w}]))`,
    });
  }
  out.push(
    {
      record: "colour:http_requests:rate5m",
      expr: `sum by (colour) (rate(${req}[5m]))`,
    },
    {
      record: "colour:http_errors:ratio_rate5m",
      // A colour that never answered 5xx has a ratio of 0 (without the `or`, no series: the
      // canary comparison would then never fire against an error-free stable slot).
      expr: `(sum by (colour) (rate(${err}[5m])) or sum by (colour) (rate(${req}[5m])) * 0) / sum by (colour) (rate(${req}[5m]))`,
    },
    {
      record: "colour:http_request_duration_seconds:p95_rate5m",
      expr: `histogram_quantile(0.95, sum by (colour, le) (rate(http_request_duration_seconds_bucket{job="${JOBS.backend}"}[5m])))`,
    },
    // The split the traffic switch applied (see AlertRulesInput.traffic): one series each.
    { record: "colour:edge_active:bool", expr: "vector(1)", labels: { colour: traffic.active } },
    ...(traffic.canaryPercent > 0
      ? [{ record: "colour:edge_canary:bool", expr: "vector(1)", labels: { colour: other } }]
      : []),
  );
  return out;
}

/** Latency histogram series for one colour: cumulative counts per minute in each bucket. */
function histogram(colour: string, perMinute: Record<string, number>): { series: string; values: string }[] {
  return Object.entries(perMinute).map(([le, n]) =>
    s(
      `http_request_duration_seconds_bucket{job="backend",instance="${colour}-1:4000",colour="${colour}",method="GET",route="/api/orders",status_code="200",le="${le}"}`,
      `0+${n}x40`,
    ),
  );
}

function requests(colour: string, status: string, perMinute: number, samples = 40) {
  return s(
    `http_request_duration_seconds_count{job="backend",instance="${colour}-1:4000",colour="${colour}",method="GET",route="/api/orders",status_code="${status}"}`,
    `0+${perMinute}x${samples}`,
  );
}

/** The SLO targets the alerts and the Grafana dashboards share (the seed's 99.9 % and 200 ms). */
export const SLO_DEFAULTS = { availabilitySlo: 0.999, latencyTargetSeconds: 0.2 } as const;

/** The SLO targets with their defaults, checked, and the error budget they leave. */
export function sloTargets(input: { availabilitySlo?: number; latencyTargetSeconds?: number } = {}) {
  const slo = input.availabilitySlo ?? SLO_DEFAULTS.availabilitySlo;
  const latency = input.latencyTargetSeconds ?? SLO_DEFAULTS.latencyTargetSeconds;
  if (!(slo > 0.9 && slo < 1))
    throw new Error(`availabilitySlo: expected a fraction between 0.9 and 1, got ${slo}`);
  if (!(latency > 0)) throw new Error(`latencyTargetSeconds: expected > 0, got ${latency}`);
  return { slo, latency, budget: +(1 - slo).toPrecision(6) };
}

export function alertDefinitions(input: AlertRulesInput = {}): AlertDef[] {
  const traffic = trafficOf(input);
  const active = traffic.active;
  const canary = COLOURS.find((c) => c !== active) as Colour;
  /** The canary alerts' firing cases: with no canary running they have nothing to fire for. */
  const canaryAlert = traffic.canaryPercent > 0 ? [{ colour: canary, severity: "warning" }] : [];
  const { slo, budget, latency } = sloTargets(input);
  const backupHours = input.backupMaxAgeHours ?? 26;
  const drillDays = input.restoreDrillMaxAgeDays ?? 8;

  const fs = `fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs",mountpoint!~"/run.*|/var/lib/docker/.+"`;
  const exporterJobs = EXPORTER_JOBS.join("|");
  const edgeInstance = `edge:${EDGE_METRICS_PORT}`;
  const node = { job: "node", instance: "node-exporter:9100" };
  const nodeSel = `job="node",instance="node-exporter:9100"`;
  const pgSel = `job="postgres",instance="postgres-exporter:9187"`;
  const redisSel = `job="redis",instance="redis-exporter:9121"`;
  const publicUrl = "https://api.example.com/health";

  return [
    // ---------------- backend ----------------
    {
      group: "backend",
      alert: "BackendInstanceDown",
      severity: "warning",
      expr: `up{job="${JOBS.backend}"} == 0`,
      for: "2m",
      summary: "Backend {{ $labels.instance }} ({{ $labels.colour }}) is not answering /metrics",
      description:
        "Prometheus cannot scrape backend replica {{ $labels.instance }} of the {{ $labels.colour }} slot.",
      fires: {
        series: [s(`up{job="backend",instance="10.0.1.5:4000",colour="blue"}`, "0x10")],
        at: "5m",
        alerts: [{ job: "backend", instance: "10.0.1.5:4000", colour: "blue", severity: "warning" }],
      },
      silent: { series: [s(`up{job="backend",instance="10.0.1.5:4000",colour="blue"}`, "1x10")], at: "5m" },
    },
    {
      group: "backend",
      alert: "BackendActiveSlotDown",
      severity: "critical",
      // The active slot comes from the applied traffic split (colour:edge_active:bool). Docker
      // DNS drops stopped containers, so a dead slot has no targets at all: count healthy
      // replicas and treat "none found" as down.
      expr:
        `(sum by (colour) (up{job="${JOBS.backend}"}) or on (colour) (colour:edge_active:bool * 0)) == 0` +
        ` and on (colour) colour:edge_active:bool`,
      for: "1m",
      summary: "No replica of the active {{ $labels.colour }} slot is up",
      description:
        "The {{ $labels.colour }} slot serves the traffic and none of its replicas answers; switch traffic back or redeploy.",
      fires: {
        // Its replicas are gone from DNS (no series); the other slot is up but has no traffic.
        series: [s(`up{job="backend",instance="10.0.1.9:4000",colour="${canary}"}`, "1x10")],
        at: "5m",
        alerts: [{ colour: active, severity: "critical" }],
      },
      silent: {
        // One active replica of two is up; the slot without traffic is down.
        series: [
          s(`up{job="backend",instance="10.0.1.5:4000",colour="${active}"}`, "1x10"),
          s(`up{job="backend",instance="10.0.1.6:4000",colour="${active}"}`, "0x10"),
          s(`up{job="backend",instance="10.0.1.9:4000",colour="${canary}"}`, "0x10"),
        ],
        at: "5m",
      },
    },
    {
      group: "backend",
      alert: "BackendRestarting",
      severity: "warning",
      expr: `changes(process_start_time_seconds{job="${JOBS.backend}"}[15m]) > 2`,
      summary:
        "Backend {{ $labels.instance }} ({{ $labels.colour }}) restarted more than twice in 15 minutes",
      description:
        "The process start time of {{ $labels.instance }} keeps changing: the container is crash-looping.",
      fires: {
        series: [
          s(
            `process_start_time_seconds{job="backend",instance="b1:4000",colour="blue"}`,
            "100 200 300 400 500x10",
          ),
        ],
        at: "10m",
        alerts: [{ job: "backend", instance: "b1:4000", colour: "blue", severity: "warning" }],
      },
      silent: {
        series: [
          s(`process_start_time_seconds{job="backend",instance="b1:4000",colour="blue"}`, "100 200x20"),
        ],
        at: "10m",
      },
    },
    {
      group: "backend",
      alert: "BackendHighErrorRate",
      severity: "warning",
      expr: `colour:http_errors:ratio_rate5m > 0.05`,
      for: "5m",
      summary: "More than 5% of requests to the {{ $labels.colour }} slot fail with 5xx",
      description: "The 5xx ratio of the {{ $labels.colour }} slot has been above 5% for 5 minutes.",
      fires: {
        series: [requests("blue", "200", 100), requests("blue", "500", 10)],
        at: "15m",
        alerts: [{ colour: "blue", severity: "warning" }],
      },
      silent: { series: [requests("blue", "200", 100), requests("blue", "500", 1)], at: "15m" },
    },
    {
      group: "backend",
      alert: "BackendHighLatencyP95",
      severity: "warning",
      expr: `colour:http_request_duration_seconds:p95_rate5m > ${latency}`,
      for: "10m",
      summary: `p95 latency of the {{ $labels.colour }} slot is above ${latency * 1000} ms`,
      description: `The 95th percentile response time of the {{ $labels.colour }} slot has been above the ${latency * 1000} ms target for 10 minutes.`,
      fires: {
        series: histogram("blue", { "0.1": 10, "0.2": 20, "0.5": 100, "+Inf": 100 }),
        at: "25m",
        alerts: [{ colour: "blue", severity: "warning" }],
      },
      silent: { series: histogram("blue", { "0.1": 90, "0.2": 99, "0.5": 100, "+Inf": 100 }), at: "25m" },
    },
    {
      group: "backend",
      alert: "BackendEventLoopLag",
      severity: "warning",
      expr: `nodejs_eventloop_lag_p99_seconds{job="${JOBS.backend}"} > 0.2`,
      for: "5m",
      summary: "Event loop of {{ $labels.instance }} ({{ $labels.colour }}) lags more than 200 ms (p99)",
      description: "The Node.js event loop of {{ $labels.instance }} is blocked; requests queue behind it.",
      fires: {
        series: [
          s(`nodejs_eventloop_lag_p99_seconds{job="backend",instance="b1:4000",colour="blue"}`, "0.5x10"),
        ],
        at: "6m",
        alerts: [{ job: "backend", instance: "b1:4000", colour: "blue", severity: "warning" }],
      },
      silent: {
        series: [
          s(`nodejs_eventloop_lag_p99_seconds{job="backend",instance="b1:4000",colour="blue"}`, "0.01x10"),
        ],
        at: "6m",
      },
    },
    // ---------------- SLO: 99.9 % availability, multi-window burn rates ----------------
    {
      group: "slo",
      alert: "SloErrorBudgetBurnFast",
      severity: "critical",
      expr: `slo:http_errors:ratio_rate1h > (14.4 * ${budget}) and slo:http_errors:ratio_rate5m > (14.4 * ${budget})`,
      for: "2m",
      summary: `Error budget of the ${slo * 100}% availability SLO burns 14.4x too fast`,
      description: "At this rate (1h and 5m windows) 2% of the 30-day error budget is gone within an hour.",
      fires: {
        series: [requests("blue", "200", 100, 120), requests("blue", "500", 5, 120)],
        at: "70m",
        alerts: [{ severity: "critical" }],
      },
      silent: { series: [requests("blue", "200", 100, 120), requests("blue", "500", 1, 120)], at: "70m" },
    },
    {
      group: "slo",
      alert: "SloErrorBudgetBurnSlow",
      severity: "critical",
      expr: `slo:http_errors:ratio_rate6h > (6 * ${budget}) and slo:http_errors:ratio_rate30m > (6 * ${budget})`,
      for: "15m",
      summary: `Error budget of the ${slo * 100}% availability SLO burns 6x too fast`,
      description: "At this rate (6h and 30m windows) 5% of the 30-day error budget is gone within 6 hours.",
      fires: {
        series: [requests("blue", "200", 1000, 400), requests("blue", "500", 10, 400)],
        at: "390m",
        alerts: [{ severity: "critical" }],
      },
      silent: { series: [requests("blue", "200", 1000, 400), requests("blue", "500", 3, 400)], at: "390m" },
    },
    // ---------------- canary ----------------
    {
      group: "canary",
      alert: "CanaryErrorRateWorseThanStable",
      severity: "warning",
      // Canary and stable slot come from the applied traffic split (colour:edge_*:bool).
      expr:
        `(colour:http_errors:ratio_rate5m and on (colour) colour:edge_canary:bool)` +
        ` > on () group_left () (2 * max(colour:http_errors:ratio_rate5m and on (colour) colour:edge_active:bool))` +
        ` and colour:http_errors:ratio_rate5m > 0.01`,
      for: "5m",
      summary: "The canary ({{ $labels.colour }}) fails at more than twice the rate of the stable slot",
      description: `Roll back: set traffic.canaryPercent=0 on the env stack.`,
      fires: {
        // The stable slot never answered 5xx: it has no 5xx series at all.
        series: [requests(active, "200", 100), requests(canary, "200", 10), requests(canary, "500", 2)],
        at: "15m",
        alerts: canaryAlert,
      },
      silent: {
        series: [
          requests(active, "200", 100),
          requests(active, "500", 1),
          requests(canary, "200", 100),
          requests(canary, "500", 1),
        ],
        at: "15m",
      },
    },
    {
      group: "canary",
      alert: "CanaryLatencyWorseThanStable",
      severity: "warning",
      expr:
        `(colour:http_request_duration_seconds:p95_rate5m and on (colour) colour:edge_canary:bool)` +
        ` > on () group_left () (1.5 * max(colour:http_request_duration_seconds:p95_rate5m and on (colour) colour:edge_active:bool))` +
        ` and colour:http_request_duration_seconds:p95_rate5m > ${latency}`,
      for: "10m",
      summary: "The canary ({{ $labels.colour }}) is more than 1.5x slower (p95) than the stable slot",
      description: `Roll back: set traffic.canaryPercent=0 on the env stack.`,
      fires: {
        series: [
          ...histogram(active, { "0.1": 90, "0.2": 99, "0.5": 100, "+Inf": 100 }),
          ...histogram(canary, { "0.1": 10, "0.2": 20, "0.5": 100, "+Inf": 100 }),
        ],
        at: "25m",
        alerts: canaryAlert,
      },
      silent: {
        series: [
          ...histogram(active, { "0.1": 10, "0.2": 20, "0.5": 100, "+Inf": 100 }),
          ...histogram(canary, { "0.1": 10, "0.2": 20, "0.5": 100, "+Inf": 100 }),
        ],
        at: "25m",
      },
    },
    // ---------------- edge and public endpoint ----------------
    {
      group: "edge",
      alert: "EdgeDown",
      severity: "critical",
      expr: `up{job="${JOBS.edge}"} == 0`,
      for: "1m",
      summary: "The edge proxy {{ $labels.instance }} does not answer",
      description: "Prometheus cannot scrape HAProxy's exporter: the edge is down or restarting.",
      fires: {
        series: [s(`up{job="edge",instance="${edgeInstance}"}`, "0x10")],
        at: "5m",
        alerts: [{ job: "edge", instance: edgeInstance, severity: "critical" }],
      },
      silent: { series: [s(`up{job="edge",instance="${edgeInstance}"}`, "1x10")], at: "5m" },
    },
    {
      group: "edge",
      alert: "EdgeNoHealthyBackend",
      severity: "critical",
      expr: `sum by (instance) (haproxy_backend_active_servers{job="${JOBS.edge}"}) == 0`,
      for: "1m",
      summary: "The edge {{ $labels.instance }} has no healthy backend server",
      description: "Every backend server failed HAProxy's health check; clients get 503.",
      fires: {
        series: [
          s(`haproxy_backend_active_servers{job="edge",instance="${edgeInstance}",proxy="blue"}`, "0x10"),
          s(`haproxy_backend_active_servers{job="edge",instance="${edgeInstance}",proxy="green"}`, "0x10"),
        ],
        at: "5m",
        alerts: [{ instance: edgeInstance, severity: "critical" }],
      },
      silent: {
        series: [
          s(`haproxy_backend_active_servers{job="edge",instance="${edgeInstance}",proxy="blue"}`, "3x10"),
          s(`haproxy_backend_active_servers{job="edge",instance="${edgeInstance}",proxy="green"}`, "0x10"),
        ],
        at: "5m",
      },
    },
    {
      group: "edge",
      alert: "PublicEndpointDown",
      severity: "critical",
      expr: `probe_success{job="${JOBS.publicProbe}"} == 0`,
      for: "2m",
      summary: "{{ $labels.instance }} fails its probe",
      description: "The public URL does not answer 200 over HTTPS through the edge.",
      fires: {
        series: [s(`probe_success{job="blackbox-public",instance="${publicUrl}"}`, "0x10")],
        at: "5m",
        alerts: [{ job: "blackbox-public", instance: publicUrl, severity: "critical" }],
      },
      silent: {
        series: [s(`probe_success{job="blackbox-public",instance="${publicUrl}"}`, "1x10")],
        at: "5m",
      },
    },
    {
      group: "edge",
      alert: "SlotHealthCheckFailing",
      severity: "warning",
      // Only for a slot that has running replicas: an undeployed idle slot is not an alert.
      expr: `probe_success{job="${JOBS.slotHealth}"} == 0 and on (colour) (sum by (colour) (up{job="${JOBS.backend}"}) > 0)`,
      for: "2m",
      summary: "/health of the {{ $labels.colour }} slot fails",
      description:
        "{{ $labels.instance }} does not answer 200: a dependency (Postgres, Redis) is failing or the slot is shutting down.",
      fires: {
        series: [
          s(
            `probe_success{job="blackbox-health",colour="green",instance="http://backend-green:4000/health"}`,
            "0x10",
          ),
          s(`up{job="backend",colour="green",instance="10.0.1.7:4000"}`, "1x10"),
        ],
        at: "5m",
        alerts: [
          {
            job: "blackbox-health",
            colour: "green",
            instance: "http://backend-green:4000/health",
            severity: "warning",
          },
        ],
      },
      silent: {
        series: [
          s(
            `probe_success{job="blackbox-health",colour="green",instance="http://backend-green:4000/health"}`,
            "0x10",
          ),
          s(`up{job="backend",colour="blue",instance="10.0.1.5:4000"}`, "1x10"),
        ],
        at: "5m",
      },
    },
    {
      group: "edge",
      alert: "TlsCertificateExpiring",
      severity: "warning",
      expr: `probe_ssl_earliest_cert_expiry{job="${JOBS.publicProbe}"} - time() < 14 * ${D}`,
      summary: "The TLS certificate of {{ $labels.instance }} expires within 14 days",
      description: "Renew the certificate (edgeTlsCert/edgeTlsKey) and run pulumi up on the env stack.",
      fires: {
        series: [
          s(`probe_ssl_earliest_cert_expiry{job="blackbox-public",instance="${publicUrl}"}`, `${10 * D}x10`),
        ],
        at: "5m",
        alerts: [{ job: "blackbox-public", instance: publicUrl, severity: "warning" }],
      },
      silent: {
        series: [
          s(`probe_ssl_earliest_cert_expiry{job="blackbox-public",instance="${publicUrl}"}`, `${30 * D}x10`),
        ],
        at: "5m",
      },
    },
    {
      group: "edge",
      alert: "TlsCertificateExpiring",
      severity: "critical",
      expr: `probe_ssl_earliest_cert_expiry{job="${JOBS.publicProbe}"} - time() < 3 * ${D}`,
      summary: "The TLS certificate of {{ $labels.instance }} expires within 3 days",
      description: "Renew the certificate (edgeTlsCert/edgeTlsKey) and run pulumi up on the env stack now.",
      fires: {
        series: [
          s(`probe_ssl_earliest_cert_expiry{job="blackbox-public",instance="${publicUrl}"}`, `${D}x10`),
        ],
        at: "5m",
        alerts: [
          { job: "blackbox-public", instance: publicUrl, severity: "warning" },
          { job: "blackbox-public", instance: publicUrl, severity: "critical" },
        ],
      },
      silent: {
        series: [
          s(`probe_ssl_earliest_cert_expiry{job="blackbox-public",instance="${publicUrl}"}`, `${10 * D}x10`),
        ],
        at: "5m",
      },
    },
    // ---------------- PostgreSQL ----------------
    {
      group: "postgres",
      alert: "PostgresDown",
      severity: "critical",
      expr: `pg_up{job="${JOBS.postgres}"} == 0`,
      for: "1m",
      summary: "PostgreSQL is down (seen by {{ $labels.instance }})",
      description: "postgres_exporter cannot connect to the database.",
      fires: {
        series: [s(`pg_up{${pgSel}}`, "0x10")],
        at: "5m",
        alerts: [{ job: "postgres", instance: "postgres-exporter:9187", severity: "critical" }],
      },
      silent: { series: [s(`pg_up{${pgSel}}`, "1x10")], at: "5m" },
    },
    {
      group: "postgres",
      alert: "PostgresTooManyConnections",
      severity: "warning",
      expr:
        `sum by (instance) (pg_stat_activity_count{job="${JOBS.postgres}"})` +
        ` / on (instance) max by (instance) (pg_settings_max_connections{job="${JOBS.postgres}"}) > 0.8`,
      for: "5m",
      summary: "PostgreSQL uses more than 80% of max_connections",
      description: "Connections are close to max_connections; new clients will be refused.",
      fires: {
        series: [
          s(`pg_stat_activity_count{${pgSel},datname="app",state="active"}`, "50x10"),
          s(`pg_stat_activity_count{${pgSel},datname="app",state="idle"}`, "40x10"),
          s(`pg_settings_max_connections{${pgSel}}`, "100x10"),
        ],
        at: "6m",
        alerts: [{ instance: "postgres-exporter:9187", severity: "warning" }],
      },
      silent: {
        series: [
          s(`pg_stat_activity_count{${pgSel},datname="app",state="active"}`, "10x10"),
          s(`pg_stat_activity_count{${pgSel},datname="app",state="idle"}`, "10x10"),
          s(`pg_settings_max_connections{${pgSel}}`, "100x10"),
        ],
        at: "6m",
      },
    },
    {
      group: "postgres",
      alert: "PostgresDeadlocks",
      severity: "warning",
      expr: `sum by (instance, datname) (increase(pg_stat_database_deadlocks{job="${JOBS.postgres}",datname!~"template.*"}[10m])) > 0`,
      summary: "Deadlocks in database {{ $labels.datname }}",
      description:
        "PostgreSQL aborted transactions in {{ $labels.datname }} to resolve deadlocks in the last 10 minutes.",
      fires: {
        series: [s(`pg_stat_database_deadlocks{${pgSel},datname="app"}`, "0 0 0 2 2 2 2 2 2 2")],
        at: "5m",
        alerts: [{ instance: "postgres-exporter:9187", datname: "app", severity: "warning" }],
      },
      silent: { series: [s(`pg_stat_database_deadlocks{${pgSel},datname="app"}`, "3x10")], at: "5m" },
    },
    {
      group: "postgres",
      alert: "PostgresWalArchivingFailing",
      severity: "critical",
      // Failures while nothing gets archived: WAL piles up in pg_wal and the RPO grows.
      expr:
        `rate(pg_stat_archiver_failed_count{job="${JOBS.postgres}"}[10m]) > 0` +
        ` and on (instance) rate(pg_stat_archiver_archived_count{job="${JOBS.postgres}"}[10m]) == 0`,
      for: "5m",
      summary: "WAL archiving fails (pgBackRest archive-push)",
      description:
        "archive_command keeps failing and no segment was archived in 10 minutes: point-in-time recovery is at risk and pg_wal grows.",
      fires: {
        series: [
          s(`pg_stat_archiver_failed_count{${pgSel}}`, "0+1x30"),
          s(`pg_stat_archiver_archived_count{${pgSel}}`, "5x30"),
        ],
        at: "20m",
        alerts: [{ job: "postgres", instance: "postgres-exporter:9187", severity: "critical" }],
      },
      silent: {
        series: [
          s(`pg_stat_archiver_failed_count{${pgSel}}`, "0+1x30"),
          s(`pg_stat_archiver_archived_count{${pgSel}}`, "0+1x30"),
        ],
        at: "20m",
      },
    },
    // ---------------- Redis ----------------
    {
      group: "redis",
      alert: "RedisDown",
      severity: "critical",
      expr: `redis_up{job="${JOBS.redis}"} == 0`,
      for: "1m",
      summary: "Redis is down (seen by {{ $labels.instance }})",
      description: "redis_exporter cannot reach Redis.",
      fires: {
        series: [s(`redis_up{${redisSel}}`, "0x10")],
        at: "5m",
        alerts: [{ job: "redis", instance: "redis-exporter:9121", severity: "critical" }],
      },
      silent: { series: [s(`redis_up{${redisSel}}`, "1x10")], at: "5m" },
    },
    {
      group: "redis",
      alert: "RedisMemoryHigh",
      severity: "warning",
      expr:
        `redis_memory_used_bytes{job="${JOBS.redis}"} / redis_memory_max_bytes{job="${JOBS.redis}"} > 0.9` +
        ` and redis_memory_max_bytes{job="${JOBS.redis}"} > 0`,
      for: "5m",
      summary: "Redis uses more than 90% of maxmemory",
      description: "With the noeviction policy, writes fail once maxmemory is reached.",
      fires: {
        series: [
          s(`redis_memory_used_bytes{${redisSel}}`, "95x10"),
          s(`redis_memory_max_bytes{${redisSel}}`, "100x10"),
        ],
        at: "6m",
        alerts: [{ job: "redis", instance: "redis-exporter:9121", severity: "warning" }],
      },
      silent: {
        series: [
          s(`redis_memory_used_bytes{${redisSel}}`, "50x10"),
          s(`redis_memory_max_bytes{${redisSel}}`, "100x10"),
        ],
        at: "6m",
      },
    },
    {
      group: "redis",
      alert: "RedisRejectedConnections",
      severity: "warning",
      expr: `increase(redis_rejected_connections_total{job="${JOBS.redis}"}[5m]) > 0`,
      summary: "Redis rejected client connections",
      description: "maxclients was reached in the last 5 minutes.",
      fires: {
        series: [s(`redis_rejected_connections_total{${redisSel}}`, "0 0 0 2 2 2 2")],
        at: "5m",
        alerts: [{ job: "redis", instance: "redis-exporter:9121", severity: "warning" }],
      },
      silent: { series: [s(`redis_rejected_connections_total{${redisSel}}`, "2x10")], at: "5m" },
    },
    {
      group: "redis",
      alert: "RedisRdbSaveTooOld",
      severity: "warning",
      // An idle Redis has nothing to save: only unsaved changes make an old snapshot a problem.
      expr:
        `time() - redis_rdb_last_save_timestamp_seconds{job="${JOBS.redis}"} > ${backupHours} * ${H}` +
        ` and redis_rdb_changes_since_last_save{job="${JOBS.redis}"} > 0`,
      summary: `Redis has unsaved changes and no RDB snapshot for ${backupHours} hours`,
      description: "Check the save settings and the redis-server log for failed BGSAVEs.",
      fires: {
        series: [
          s(`redis_rdb_last_save_timestamp_seconds{${redisSel}}`, ago(backupHours * H + 60)),
          s(`redis_rdb_changes_since_last_save{${redisSel}}`, "5x20"),
        ],
        at: "5m",
        alerts: [{ job: "redis", instance: "redis-exporter:9121", severity: "warning" }],
      },
      silent: {
        series: [
          s(`redis_rdb_last_save_timestamp_seconds{${redisSel}}`, ago(backupHours * H + 60)),
          s(`redis_rdb_changes_since_last_save{${redisSel}}`, "0x20"),
        ],
        at: "5m",
      },
    },
    {
      group: "redis",
      alert: "RedisRdbSaveFailed",
      severity: "warning",
      expr: `redis_rdb_last_bgsave_status{job="${JOBS.redis}"} == 0`,
      for: "5m",
      summary: "The last Redis BGSAVE failed",
      description:
        "Redis could not write its RDB snapshot (disk full or permissions); with stop-writes-on-bgsave-error writes fail too.",
      fires: {
        series: [s(`redis_rdb_last_bgsave_status{${redisSel}}`, "0x10")],
        at: "6m",
        alerts: [{ job: "redis", instance: "redis-exporter:9121", severity: "warning" }],
      },
      silent: { series: [s(`redis_rdb_last_bgsave_status{${redisSel}}`, "1x10")], at: "6m" },
    },
    // ---------------- host ----------------
    {
      group: "host",
      alert: "HostMemoryLow",
      severity: "warning",
      expr: `node_memory_MemAvailable_bytes{job="${JOBS.node}"} / node_memory_MemTotal_bytes{job="${JOBS.node}"} < 0.10`,
      for: "5m",
      summary: "Less than 10% memory available on {{ $labels.instance }}",
      description: "The docker host is close to the OOM killer.",
      fires: {
        series: [
          s(`node_memory_MemAvailable_bytes{${nodeSel}}`, "5x10"),
          s(`node_memory_MemTotal_bytes{${nodeSel}}`, "100x10"),
        ],
        at: "6m",
        alerts: [{ ...node, severity: "warning" }],
      },
      silent: {
        series: [
          s(`node_memory_MemAvailable_bytes{${nodeSel}}`, "50x10"),
          s(`node_memory_MemTotal_bytes{${nodeSel}}`, "100x10"),
        ],
        at: "6m",
      },
    },
    {
      group: "host",
      alert: "HostCpuHigh",
      severity: "warning",
      expr: `1 - avg by (instance) (rate(node_cpu_seconds_total{job="${JOBS.node}",mode="idle"}[5m])) > 0.9`,
      for: "15m",
      summary: "CPU of {{ $labels.instance }} is more than 90% busy",
      description: "The docker host has had less than 10% idle CPU for 15 minutes.",
      fires: {
        series: [s(`node_cpu_seconds_total{${nodeSel},cpu="0",mode="idle"}`, "0+3x30")],
        at: "25m",
        alerts: [{ instance: node.instance, severity: "warning" }],
      },
      silent: { series: [s(`node_cpu_seconds_total{${nodeSel},cpu="0",mode="idle"}`, "0+54x30")], at: "25m" },
    },
    {
      group: "host",
      alert: "HostDiskSpaceLow",
      severity: "warning",
      expr:
        `node_filesystem_avail_bytes{job="${JOBS.node}",${fs}} / node_filesystem_size_bytes{job="${JOBS.node}",${fs}} < 0.10` +
        ` and node_filesystem_readonly{job="${JOBS.node}",${fs}} == 0`,
      for: "5m",
      summary: "Less than 10% disk space left on {{ $labels.mountpoint }} ({{ $labels.instance }})",
      description:
        "Free space on {{ $labels.device }} mounted at {{ $labels.mountpoint }}: prune old backups or grow the disk.",
      fires: {
        series: diskSeries(8, 0),
        at: "6m",
        alerts: [{ ...node, ...disk, severity: "warning" }],
      },
      silent: { series: diskSeries(30, 0), at: "6m" },
    },
    {
      group: "host",
      alert: "HostDiskSpaceLow",
      severity: "critical",
      expr:
        `node_filesystem_avail_bytes{job="${JOBS.node}",${fs}} / node_filesystem_size_bytes{job="${JOBS.node}",${fs}} < 0.05` +
        ` and node_filesystem_readonly{job="${JOBS.node}",${fs}} == 0`,
      for: "2m",
      summary: "Less than 5% disk space left on {{ $labels.mountpoint }} ({{ $labels.instance }})",
      description:
        "Free space on {{ $labels.device }} mounted at {{ $labels.mountpoint }} is nearly gone: PostgreSQL and Redis stop writing when it is.",
      fires: {
        series: diskSeries(3, 0),
        at: "6m",
        alerts: [
          { ...node, ...disk, severity: "warning" },
          { ...node, ...disk, severity: "critical" },
        ],
      },
      silent: { series: diskSeries(8, 0), at: "6m" },
    },
    {
      group: "host",
      alert: "HostDiskWillFillIn24h",
      severity: "warning",
      expr:
        `predict_linear(node_filesystem_avail_bytes{job="${JOBS.node}",${fs}}[6h], 24 * ${H}) < 0` +
        ` and node_filesystem_avail_bytes{job="${JOBS.node}",${fs}} / node_filesystem_size_bytes{job="${JOBS.node}",${fs}} < 0.4` +
        ` and node_filesystem_readonly{job="${JOBS.node}",${fs}} == 0`,
      for: "30m",
      summary:
        "{{ $labels.mountpoint }} on {{ $labels.instance }} fills up within 24 hours at the current rate",
      description: "Linear prediction over 6 hours: the filesystem runs out of space within a day.",
      fires: {
        series: diskSeries(30, 0.02),
        at: "390m",
        alerts: [{ ...node, ...disk, severity: "warning" }],
      },
      silent: { series: diskSeries(30, 0), at: "390m" },
    },
    {
      group: "host",
      alert: "HostOomKill",
      severity: "warning",
      expr: `increase(node_vmstat_oom_kill{job="${JOBS.node}"}[5m]) > 0`,
      summary: "The kernel OOM killer ended a process on {{ $labels.instance }}",
      description:
        "A container hit its memory limit or the host ran out of memory; check `docker inspect` for OOMKilled.",
      fires: {
        series: [s(`node_vmstat_oom_kill{${nodeSel}}`, "0 0 0 1 1 1 1 1")],
        at: "5m",
        alerts: [{ ...node, severity: "warning" }],
      },
      silent: { series: [s(`node_vmstat_oom_kill{${nodeSel}}`, "1x10")], at: "5m" },
    },
    {
      group: "host",
      alert: "NodeTextfileScrapeError",
      severity: "warning",
      expr: `node_textfile_scrape_error{job="${JOBS.node}"} == 1`,
      for: "5m",
      summary: "node_exporter cannot read a textfile metric file on {{ $labels.instance }}",
      description:
        "A .prom file in the textfile directory is malformed: backup metrics may be missing or stale.",
      fires: {
        series: [s(`node_textfile_scrape_error{${nodeSel}}`, "1x10")],
        at: "6m",
        alerts: [{ ...node, severity: "warning" }],
      },
      silent: { series: [s(`node_textfile_scrape_error{${nodeSel}}`, "0x10")], at: "6m" },
    },
    // ---------------- backups (textfile metrics written by the backup runner) ----------------
    {
      group: "backups",
      // Freshness only grows until the next success: no `for` needed, it cannot flap.
      alert: "BackupTooOld",
      severity: "critical",
      // kind="physical": the newest pgBackRest backup of any type (a full counts as fresh too).
      expr:
        `time() - backup_last_success_timestamp_seconds{kind=~"logical|redis"} > ${backupHours} * ${H}` +
        ` or label_replace(time() - max by (instance, job) (backup_last_success_timestamp_seconds{kind=~"pg_full|pg_diff|pg_incr"}) > ${backupHours} * ${H}, "kind", "physical", "", "")`,
      summary: `No successful {{ $labels.kind }} backup for more than ${backupHours} hours`,
      description:
        "The backup runner has not reported a successful {{ $labels.kind }} backup; check `docker logs` of the runner and run runbooks/health-check.",
      fires: {
        series: [
          s(`backup_last_success_timestamp_seconds{${nodeSel},kind="logical"}`, ago(backupHours * H + 60)),
          s(`backup_last_success_timestamp_seconds{${nodeSel},kind="redis"}`, FRESH),
          s(`backup_last_success_timestamp_seconds{${nodeSel},kind="pg_full"}`, ago(3 * D)),
          s(`backup_last_success_timestamp_seconds{${nodeSel},kind="pg_diff"}`, ago(backupHours * H + 60)),
        ],
        at: "15m",
        alerts: [
          { ...node, kind: "logical", severity: "critical" },
          { ...node, kind: "physical", severity: "critical" },
        ],
      },
      silent: {
        series: [
          s(
            `backup_last_success_timestamp_seconds{${nodeSel},kind="logical"}`,
            ago(backupHours * H - 30 * 60),
          ),
          s(`backup_last_success_timestamp_seconds{${nodeSel},kind="redis"}`, FRESH),
          s(`backup_last_success_timestamp_seconds{${nodeSel},kind="pg_full"}`, ago(5 * D)),
          s(`backup_last_success_timestamp_seconds{${nodeSel},kind="pg_diff"}`, ago(H)),
        ],
        at: "15m",
      },
    },
    {
      group: "backups",
      alert: "FullBackupTooOld",
      severity: "warning",
      expr: `time() - backup_last_success_timestamp_seconds{kind="pg_full"} > 8 * ${D}`,
      summary: "No successful full backup for more than 8 days",
      description: "Differential backups depend on the last full one; the weekly full backup is missing.",
      fires: {
        series: [s(`backup_last_success_timestamp_seconds{${nodeSel},kind="pg_full"}`, ago(8 * D + 60))],
        at: "15m",
        alerts: [{ ...node, kind: "pg_full", severity: "warning" }],
      },
      silent: {
        series: [s(`backup_last_success_timestamp_seconds{${nodeSel},kind="pg_full"}`, ago(7 * D))],
        at: "15m",
      },
    },
    {
      group: "backups",
      alert: "BackupVerifyTooOld",
      severity: "warning",
      expr: `time() - backup_last_success_timestamp_seconds{kind="verify"} > ${backupHours} * ${H}`,
      summary: `pgbackrest verify has not succeeded for ${backupHours} hours`,
      description: "The daily repository verification is missing or failing: backups may be unreadable.",
      fires: {
        series: [
          s(`backup_last_success_timestamp_seconds{${nodeSel},kind="verify"}`, ago(backupHours * H + 60)),
        ],
        at: "15m",
        alerts: [{ ...node, kind: "verify", severity: "warning" }],
      },
      silent: {
        series: [s(`backup_last_success_timestamp_seconds{${nodeSel},kind="verify"}`, FRESH)],
        at: "15m",
      },
    },
    {
      group: "backups",
      alert: "BackupFailed",
      severity: "warning",
      // backup_last_status: 1 = the last run succeeded, 0 = it failed (backup runner contract).
      expr: `backup_last_status == 0`,
      summary: "The last {{ $labels.kind }} backup failed",
      description:
        "The backup runner reported a failed {{ $labels.kind }} run; the previous good backup is still there. Check the runner's logs.",
      fires: {
        series: [
          s(`backup_last_status{${nodeSel},kind="pg_diff"}`, "0x10"),
          s(`backup_last_status{${nodeSel},kind="logical"}`, "1x10"),
        ],
        at: "5m",
        alerts: [{ ...node, kind: "pg_diff", severity: "warning" }],
      },
      silent: { series: [s(`backup_last_status{${nodeSel},kind="pg_diff"}`, "1x10")], at: "5m" },
    },
    {
      group: "backups",
      alert: "RestoreDrillStale",
      severity: "warning",
      expr: `time() - restore_drill_last_success_timestamp_seconds > ${drillDays} * ${D}`,
      summary: `No successful restore drill for more than ${drillDays} days`,
      description: "The weekly restore drill proves the backups restore; it has not succeeded lately.",
      fires: {
        series: [s(`restore_drill_last_success_timestamp_seconds{${nodeSel}}`, ago(drillDays * D + 60))],
        at: "15m",
        alerts: [{ ...node, severity: "warning" }],
      },
      silent: {
        series: [s(`restore_drill_last_success_timestamp_seconds{${nodeSel}}`, ago((drillDays - 1) * D))],
        at: "15m",
      },
    },
    {
      group: "backups",
      alert: "BackupMetricsMissing",
      severity: "warning",
      expr: `absent(backup_last_success_timestamp_seconds)`,
      for: `${backupHours}h`,
      summary: `No backup metrics at all for ${backupHours} hours`,
      description:
        "The backup runner never wrote its metrics into the textfile directory, or node_exporter does not see the shared volume.",
      fires: {
        interval: "4m",
        series: [s(`up{${nodeSel}}`, `1x${(backupHours + 2) * 15}`)],
        at: `${backupHours + 1}h`,
        alerts: [{ severity: "warning" }],
      },
      silent: {
        interval: "4m",
        series: [
          s(
            `backup_last_success_timestamp_seconds{${nodeSel},kind="pg_diff"}`,
            `0+240x${(backupHours + 2) * 15}`,
          ),
        ],
        at: `${backupHours + 1}h`,
      },
    },
    // A kind whose .prom file never appears (or vanished) has no series, so BackupTooOld cannot
    // fire for it; BackupMetricsMissing covers only "nothing at all".
    {
      group: "backups",
      alert: "BackupNotReported",
      severity: "warning",
      expr:
        `(${DAILY_BACKUP_KINDS.map((k) => `absent(backup_last_success_timestamp_seconds{kind="${k}"})`).join(" or ")})` +
        ` unless on () absent(backup_last_success_timestamp_seconds)`,
      for: `${backupHours}h`,
      summary: `The daily {{ $labels.kind }} backup job has reported nothing for ${backupHours} hours`,
      description:
        "Other backup jobs report but this one has no metrics: it is not scheduled, never ran, or its file in the textfile directory is gone. Check the runner's crontab and `docker logs`.",
      fires: {
        interval: "4m",
        series: DAILY_BACKUP_KINDS.filter((k) => k !== "redis").map((k) =>
          s(
            `backup_last_success_timestamp_seconds{${nodeSel},kind="${k}"}`,
            `0+240x${(backupHours + 2) * 15}`,
          ),
        ),
        at: `${backupHours + 1}h`,
        alerts: [{ kind: "redis", severity: "warning" }],
      },
      silent: {
        interval: "4m",
        series: DAILY_BACKUP_KINDS.map((k) =>
          s(
            `backup_last_success_timestamp_seconds{${nodeSel},kind="${k}"}`,
            `0+240x${(backupHours + 2) * 15}`,
          ),
        ),
        at: `${backupHours + 1}h`,
      },
    },
    // A new install has no weekly results for up to a week, so their absence counts only once the
    // runner has been up longer than that (its first start is kept in the textfile volume).
    {
      group: "backups",
      alert: "WeeklyBackupNotReported",
      severity: "warning",
      expr:
        `(absent(backup_last_success_timestamp_seconds{kind="pg_full"})` +
        ` and on () (time() - max(backup_runner_first_start_timestamp_seconds) > 8 * ${D}))` +
        ` or (label_replace(absent(restore_drill_last_success_timestamp_seconds), "kind", "restore_drill", "", "")` +
        ` and on () (time() - max(backup_runner_first_start_timestamp_seconds) > ${drillDays} * ${D}))`,
      summary: "The weekly {{ $labels.kind }} job has reported nothing since the backup runner started",
      description:
        "The backup runner has run for longer than a week and this weekly job never wrote its metrics: it is not scheduled, never ran, or its file in the textfile directory is gone. Check the runner's crontab and `docker logs`.",
      fires: {
        series: [
          s(`backup_runner_first_start_timestamp_seconds{${nodeSel}}`, ago(Math.max(8, drillDays) * D + 60)),
          s(`backup_last_success_timestamp_seconds{${nodeSel},kind="pg_diff"}`, FRESH),
        ],
        at: "10m",
        alerts: [
          { kind: "pg_full", severity: "warning" },
          { kind: "restore_drill", severity: "warning" },
        ],
      },
      silent: {
        series: [
          s(`backup_runner_first_start_timestamp_seconds{${nodeSel}}`, ago(7 * D)),
          s(`backup_last_success_timestamp_seconds{${nodeSel},kind="pg_diff"}`, FRESH),
        ],
        at: "10m",
      },
    },
    // ---------------- monitoring itself ----------------
    {
      group: "monitoring",
      alert: "ExporterDown",
      severity: "warning",
      expr: `up{job=~"${exporterJobs}"} == 0`,
      for: "5m",
      summary: "{{ $labels.job }} target {{ $labels.instance }} is down",
      description: "Prometheus cannot scrape {{ $labels.instance }}: alerts that depend on it are blind.",
      fires: {
        series: [s(`up{job="redis",instance="redis-exporter:9121"}`, "0x10")],
        at: "6m",
        alerts: [{ job: "redis", instance: "redis-exporter:9121", severity: "warning" }],
      },
      silent: {
        series: [
          s(`up{job="redis",instance="redis-exporter:9121"}`, "1x10"),
          s(`up{job="backend",instance="b1:4000"}`, "0x10"),
        ],
        at: "6m",
      },
    },
    {
      group: "monitoring",
      alert: "PrometheusConfigReloadFailed",
      severity: "warning",
      expr: `prometheus_config_last_reload_successful == 0`,
      for: "10m",
      summary: "Prometheus {{ $labels.instance }} could not reload its configuration",
      description: "Prometheus still runs the previous configuration.",
      fires: {
        series: [
          s(`prometheus_config_last_reload_successful{job="prometheus",instance="localhost:9090"}`, "0x20"),
        ],
        at: "11m",
        alerts: [{ job: "prometheus", instance: "localhost:9090", severity: "warning" }],
      },
      silent: {
        series: [
          s(`prometheus_config_last_reload_successful{job="prometheus",instance="localhost:9090"}`, "1x20"),
        ],
        at: "11m",
      },
    },
    {
      group: "monitoring",
      alert: "PrometheusRuleEvaluationFailures",
      severity: "warning",
      expr: `increase(prometheus_rule_evaluation_failures_total[5m]) > 0`,
      summary: "Prometheus {{ $labels.instance }} fails to evaluate rules in {{ $labels.rule_group }}",
      description: "Alerts in this group may never fire.",
      fires: {
        series: [
          s(
            `prometheus_rule_evaluation_failures_total{job="prometheus",instance="localhost:9090",rule_group="/etc/prometheus/rules/alert-rules.yml;backend"}`,
            "0 0 0 1 2 3 4",
          ),
        ],
        at: "5m",
        alerts: [
          {
            job: "prometheus",
            instance: "localhost:9090",
            rule_group: "/etc/prometheus/rules/alert-rules.yml;backend",
            severity: "warning",
          },
        ],
      },
      silent: {
        series: [
          s(
            `prometheus_rule_evaluation_failures_total{job="prometheus",instance="localhost:9090",rule_group="/etc/prometheus/rules/alert-rules.yml;backend"}`,
            "0x10",
          ),
        ],
        at: "5m",
      },
    },
    {
      group: "monitoring",
      alert: "PrometheusAlertmanagerNotConnected",
      severity: "critical",
      expr: `prometheus_notifications_alertmanagers_discovered < 1`,
      for: "5m",
      summary: "Prometheus {{ $labels.instance }} has no Alertmanager to send alerts to",
      description: "No alert is delivered; only the dead man's switch notices.",
      fires: {
        series: [
          s(
            `prometheus_notifications_alertmanagers_discovered{job="prometheus",instance="localhost:9090"}`,
            "0x10",
          ),
        ],
        at: "6m",
        alerts: [{ job: "prometheus", instance: "localhost:9090", severity: "critical" }],
      },
      silent: {
        series: [
          s(
            `prometheus_notifications_alertmanagers_discovered{job="prometheus",instance="localhost:9090"}`,
            "1x10",
          ),
        ],
        at: "6m",
      },
    },
    {
      group: "monitoring",
      alert: "PrometheusNotificationsFailing",
      severity: "warning",
      expr: `rate(prometheus_notifications_errors_total[5m]) > 0`,
      for: "5m",
      summary: "Prometheus {{ $labels.instance }} fails to send alerts to {{ $labels.alertmanager }}",
      description: "Alerts may not reach Alertmanager.",
      fires: {
        series: [
          s(
            `prometheus_notifications_errors_total{job="prometheus",instance="localhost:9090",alertmanager="http://alertmanager:9093/api/v2/alerts"}`,
            "0+1x20",
          ),
        ],
        at: "12m",
        alerts: [
          {
            job: "prometheus",
            instance: "localhost:9090",
            alertmanager: "http://alertmanager:9093/api/v2/alerts",
            severity: "warning",
          },
        ],
      },
      silent: {
        series: [
          s(
            `prometheus_notifications_errors_total{job="prometheus",instance="localhost:9090",alertmanager="http://alertmanager:9093/api/v2/alerts"}`,
            "0x20",
          ),
        ],
        at: "12m",
      },
    },
    {
      group: "monitoring",
      alert: "AlertmanagerConfigReloadFailed",
      severity: "warning",
      expr: `alertmanager_config_last_reload_successful{job="${JOBS.alertmanager}"} == 0`,
      for: "10m",
      summary: "Alertmanager {{ $labels.instance }} could not reload its configuration",
      description: "Alertmanager still routes with the previous configuration.",
      fires: {
        series: [
          s(
            `alertmanager_config_last_reload_successful{job="alertmanager",instance="alertmanager:9093"}`,
            "0x20",
          ),
        ],
        at: "11m",
        alerts: [{ job: "alertmanager", instance: "alertmanager:9093", severity: "warning" }],
      },
      silent: {
        series: [
          s(
            `alertmanager_config_last_reload_successful{job="alertmanager",instance="alertmanager:9093"}`,
            "1x20",
          ),
        ],
        at: "11m",
      },
    },
    {
      group: "monitoring",
      alert: "AlertmanagerNotificationsFailing",
      severity: "warning",
      expr: `rate(alertmanager_notifications_failed_total{job="${JOBS.alertmanager}"}[5m]) > 0`,
      for: "5m",
      summary: "Alertmanager fails to deliver notifications via {{ $labels.integration }}",
      description: "Check the receiver URL or SMTP settings of the {{ $labels.integration }} integration.",
      fires: {
        series: [
          s(
            `alertmanager_notifications_failed_total{job="alertmanager",instance="alertmanager:9093",integration="webhook"}`,
            "0+1x20",
          ),
        ],
        at: "12m",
        alerts: [
          { job: "alertmanager", instance: "alertmanager:9093", integration: "webhook", severity: "warning" },
        ],
      },
      silent: {
        series: [
          s(
            `alertmanager_notifications_failed_total{job="alertmanager",instance="alertmanager:9093",integration="webhook"}`,
            "3x20",
          ),
        ],
        at: "12m",
      },
    },
    {
      group: "monitoring",
      alert: "Watchdog",
      severity: "none",
      expr: "vector(1)",
      summary: "Always firing: proves the alerting pipeline works end to end",
      description:
        "Routed to the dead man's switch; if its heartbeats stop, Prometheus or Alertmanager is down.",
      fires: { series: [], at: "1m", alerts: [{ severity: "none" }] },
      silent: null,
    },
  ];
}

const disk = { device: "/dev/sda1", mountpoint: "/", fstype: "ext4" };

/** Filesystem series: `percentFree` of 100 GB free at start, falling by `fallPerMinute` (fraction of size). */
function diskSeries(percentFree: number, fallPerMinute: number) {
  const labels = `job="node",instance="node-exporter:9100",device="/dev/sda1",mountpoint="/",fstype="ext4"`;
  const size = 100e9;
  const avail = (size * percentFree) / 100;
  const fall = size * fallPerMinute * 0.01;
  return [
    s(`node_filesystem_avail_bytes{${labels}}`, fall > 0 ? `${avail}-${fall}x400` : `${avail}x400`),
    s(`node_filesystem_size_bytes{${labels}}`, `${size}x400`),
    s(`node_filesystem_readonly{${labels}}`, "0x400"),
  ];
}

function annotations(def: AlertDef) {
  return { summary: def.summary, description: def.description };
}

/** The rule file (`promtool check rules` format). */
export function renderAlertRules(input: AlertRulesInput = {}): string {
  const defs = alertDefinitions(input);
  const groups: Record<string, unknown>[] = [{ name: "recording", rules: recordingRules(input) }];
  for (const def of defs) {
    let group = groups.find((g) => g.name === def.group);
    if (!group) {
      group = { name: def.group, rules: [] };
      groups.push(group);
    }
    (group.rules as unknown[]).push({
      alert: def.alert,
      expr: def.expr,
      ...(def.for ? { for: def.for } : {}),
      labels: { severity: def.severity, ...(def.labels ?? {}) },
      annotations: annotations(def),
    });
  }
  return `# Rendered by renderers/alert-rules.ts - do not edit by hand.\n${stringify({ groups }, { lineWidth: 0 })}`;
}

const TEMPLATE = /\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g;

/** Expands `{{ $labels.x }}`; anything else in `{{ }}` is refused so the tests stay exact. */
export function expandAnnotation(template: string, labels: Labels): string {
  const rest = template.replace(TEMPLATE, "");
  if (rest.includes("{{"))
    throw new Error(`annotation "${template}" uses a template other than {{ $labels.x }}`);
  return template.replace(TEMPLATE, (_, name: string) => labels[name] ?? "");
}

/**
 * promtool unit tests (`promtool test rules`): per alert one test where it fires with exactly
 * the expected labels and annotations, and one where it stays silent.
 */
export function renderAlertRuleTests(input: AlertRulesInput = {}, ruleFile = "alert-rules.yml"): string {
  const defs = alertDefinitions(input);
  const byName = new Map<string, AlertDef[]>();
  defs.forEach((d) => byName.set(d.alert, [...(byName.get(d.alert) ?? []), d]));
  const tests: unknown[] = [];
  for (const def of defs) {
    const siblings = byName.get(def.alert) as AlertDef[];
    tests.push({
      name: `${def.alert} (${def.severity}) fires`,
      interval: def.fires.interval ?? "1m",
      input_series: def.fires.series,
      alert_rule_test: [
        {
          eval_time: def.fires.at,
          alertname: def.alert,
          exp_alerts: def.fires.alerts.map((labels) => {
            const source = siblings.find((d) => d.severity === labels.severity);
            if (!source) throw new Error(`${def.alert}: no rule with severity ${labels.severity}`);
            const all = { ...labels, ...(source.labels ?? {}) };
            return {
              exp_labels: all,
              exp_annotations: {
                summary: expandAnnotation(source.summary, all),
                description: expandAnnotation(source.description, all),
              },
            };
          }),
        },
      ],
    });
    if (def.silent) {
      tests.push({
        name: `${def.alert} (${def.severity}) stays silent`,
        interval: def.silent.interval ?? "1m",
        input_series: def.silent.series,
        alert_rule_test: [
          {
            eval_time: def.silent.at,
            alertname: def.alert,
            // Siblings of lower severity may fire on the same input; assert only this rule is silent.
            exp_alerts: siblingsFiring(def, siblings),
          },
        ],
      });
    }
  }
  return `# Rendered by renderers/alert-rules.ts - do not edit by hand.\n${stringify(
    { rule_files: [ruleFile], evaluation_interval: "1m", tests },
    { lineWidth: 0 },
  )}`;
}

/**
 * In a silent case of a two-severity alert the lower severity may legitimately fire (3% disk
 * free is silent for nothing, 8% is silent for critical but fires warning). Those expected
 * alerts are taken from the lower sibling's firing case when its input is the same.
 */
function siblingsFiring(def: AlertDef, siblings: AlertDef[]): unknown[] {
  if (!def.silent) return [];
  const silent = def.silent;
  const same = (a: RuleCase, b: RuleCase) =>
    JSON.stringify([a.series, a.at]) === JSON.stringify([b.series, b.at]);
  for (const other of siblings) {
    if (other === def || !same(other.fires, silent)) continue;
    return other.fires.alerts.map((labels) => {
      const all = { ...labels, ...(other.labels ?? {}) };
      return {
        exp_labels: all,
        exp_annotations: {
          summary: expandAnnotation(other.summary, all),
          description: expandAnnotation(other.description, all),
        },
      };
    });
  }
  return [];
}

const PROMQL_WORDS = new Set([
  "and",
  "or",
  "unless",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "offset",
  "sum",
  "min",
  "max",
  "avg",
  "count",
  "stddev",
  "stdvar",
  "topk",
  "bottomk",
  "quantile",
  "count_values",
  "inf",
  "nan",
  "time",
  "vector",
  "rate",
  "increase",
  "changes",
  "absent",
  "label_replace",
  "histogram_quantile",
  "predict_linear",
  "le",
]);

/** Metric names an expression reads (recording rule names excluded: they contain ':'). */
export function referencedMetrics(expr: string): string[] {
  const cleaned = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "")
    .replace(/\[[^\]]*\]/g, "");
  const names = new Set<string>();
  for (const match of cleaned.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = match[0];
    const next = cleaned.slice((match.index ?? 0) + word.length).trimStart();
    if (next.startsWith("(")) continue; // a function call
    if (PROMQL_WORDS.has(word.toLowerCase()) || word.includes(":")) continue;
    if (/^\d/.test(word)) continue;
    names.add(word);
  }
  return [...names].sort();
}
