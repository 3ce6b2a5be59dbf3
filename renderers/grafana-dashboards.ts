/**
 * Grafana dashboards generated in code: overview (golden signals per slot), PostgreSQL,
 * Redis, host, backups. Every panel and target names the provisioned datasource by its fixed
 * uid; queries use the same job names and recording rules as the alerts.
 * Pure: returns `{ fileName: json }`.
 */
import { sloTargets } from "./alert-rules";
import { JOBS } from "./prometheus-config";
import { GRAFANA_DATASOURCE_UID } from "./grafana-provisioning";

export interface DashboardQuery {
  expr: string;
  legend: string;
}

interface PanelSpec {
  title: string;
  unit: string;
  queries: DashboardQuery[];
  /** timeseries (default) or stat. */
  type?: "timeseries" | "stat";
  description?: string;
}

const DATASOURCE = { type: "prometheus", uid: GRAFANA_DATASOURCE_UID } as const;

function panels(specs: PanelSpec[]) {
  return specs.map((spec, index) => ({
    id: index + 1,
    type: spec.type ?? "timeseries",
    title: spec.title,
    description: spec.description ?? "",
    datasource: DATASOURCE,
    gridPos: { h: 8, w: 12, x: (index % 2) * 12, y: Math.floor(index / 2) * 8 },
    fieldConfig: { defaults: { unit: spec.unit }, overrides: [] },
    options:
      spec.type === "stat" ? { reduceOptions: { calcs: ["lastNotNull"] } } : { legend: { showLegend: true } },
    targets: spec.queries.map((q, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: q.expr,
      legendFormat: q.legend,
    })),
  }));
}

function dashboard(uid: string, title: string, specs: PanelSpec[]) {
  return {
    uid,
    title,
    tags: ["backend-infra"],
    timezone: "utc",
    schemaVersion: 39,
    version: 1,
    editable: false,
    refresh: "30s",
    time: { from: "now-6h", to: "now" },
    templating: { list: [] },
    annotations: { list: [] },
    panels: panels(specs),
  };
}

const b = `job="${JOBS.backend}"`;

/**
 * All dashboards: file name -> dashboard JSON (pretty-printed). The SLO lines follow the same
 * targets as the alert rules (renderers/alert-rules.ts sloTargets: SLO_DEFAULTS unless given).
 */
export function renderGrafanaDashboards(
  slo: { availabilitySlo?: number; latencyTargetSeconds?: number } = {},
): Record<string, string> {
  const { slo: availability, latency, budget } = sloTargets(slo);
  const boards = {
    "overview.json": dashboard("bi-overview", "Overview: golden signals per slot", [
      {
        title: "Request rate per slot",
        unit: "reqps",
        queries: [{ expr: "colour:http_requests:rate5m", legend: "{{colour}}" }],
      },
      {
        title: "5xx error ratio per slot",
        unit: "percentunit",
        queries: [{ expr: "colour:http_errors:ratio_rate5m", legend: "{{colour}}" }],
      },
      {
        title: `p95 latency per slot (target ${latency * 1000} ms)`,
        unit: "s",
        queries: [
          { expr: "colour:http_request_duration_seconds:p95_rate5m", legend: "{{colour}}" },
          { expr: `vector(${latency})`, legend: "target" },
        ],
      },
      {
        title: `Availability SLO ${availability * 100}%: error ratio (1h) vs. 14.4x budget`,
        unit: "percentunit",
        queries: [
          { expr: "slo:http_errors:ratio_rate1h", legend: "error ratio 1h" },
          { expr: `vector(14.4 * ${budget})`, legend: "fast-burn threshold" },
        ],
      },
      {
        title: "Saturation: event loop lag p99",
        unit: "s",
        queries: [{ expr: `nodejs_eventloop_lag_p99_seconds{${b}}`, legend: "{{colour}} {{instance}}" }],
      },
      {
        title: "Saturation: heap used",
        unit: "bytes",
        queries: [{ expr: `nodejs_heap_size_used_bytes{${b}}`, legend: "{{colour}} {{instance}}" }],
      },
      {
        title: "Replicas up per slot",
        unit: "none",
        type: "stat",
        queries: [{ expr: `sum by (colour) (up{${b}})`, legend: "{{colour}}" }],
      },
      {
        title: "Probes: /health per slot and public URL",
        unit: "none",
        queries: [
          { expr: `probe_success{job="${JOBS.slotHealth}"}`, legend: "{{colour}} /health" },
          { expr: `probe_success{job="${JOBS.publicProbe}"}`, legend: "public" },
        ],
      },
      {
        title: "Edge: requests by response class",
        unit: "reqps",
        queries: [
          {
            expr: `sum by (code) (rate(haproxy_frontend_http_responses_total{job="${JOBS.edge}"}[5m]))`,
            legend: "{{code}}",
          },
        ],
      },
      {
        title: "TLS certificate: days left",
        unit: "d",
        type: "stat",
        queries: [
          {
            expr: `(probe_ssl_earliest_cert_expiry{job="${JOBS.publicProbe}"} - time()) / 86400`,
            legend: "days",
          },
        ],
      },
    ]),
    "postgres.json": dashboard("bi-postgres", "PostgreSQL", [
      {
        title: "Up",
        unit: "none",
        type: "stat",
        queries: [{ expr: `pg_up{job="${JOBS.postgres}"}`, legend: "up" }],
      },
      {
        title: "Connections vs. max_connections",
        unit: "none",
        queries: [
          { expr: `sum by (state) (pg_stat_activity_count{job="${JOBS.postgres}"})`, legend: "{{state}}" },
          { expr: `max(pg_settings_max_connections{job="${JOBS.postgres}"})`, legend: "max" },
        ],
      },
      {
        title: "Transactions per second",
        unit: "ops",
        queries: [
          {
            expr: `sum by (datname) (rate(pg_stat_database_xact_commit{job="${JOBS.postgres}",datname!~"template.*"}[5m]))`,
            legend: "{{datname}} commit",
          },
          {
            expr: `sum by (datname) (rate(pg_stat_database_xact_rollback{job="${JOBS.postgres}",datname!~"template.*"}[5m]))`,
            legend: "{{datname}} rollback",
          },
        ],
      },
      {
        title: "Deadlocks",
        unit: "none",
        queries: [
          {
            expr: `increase(pg_stat_database_deadlocks{job="${JOBS.postgres}",datname!~"template.*"}[10m])`,
            legend: "{{datname}}",
          },
        ],
      },
      {
        title: "Database size",
        unit: "bytes",
        queries: [
          {
            expr: `pg_database_size_bytes{job="${JOBS.postgres}",datname!~"template.*"}`,
            legend: "{{datname}}",
          },
        ],
      },
      {
        title: "WAL archiving: archived vs. failed per minute",
        unit: "none",
        queries: [
          {
            expr: `rate(pg_stat_archiver_archived_count{job="${JOBS.postgres}"}[5m]) * 60`,
            legend: "archived",
          },
          { expr: `rate(pg_stat_archiver_failed_count{job="${JOBS.postgres}"}[5m]) * 60`, legend: "failed" },
        ],
      },
      {
        title: "Seconds since last WAL archived",
        unit: "s",
        queries: [{ expr: `pg_stat_archiver_last_archive_age{job="${JOBS.postgres}"}`, legend: "age" }],
      },
    ]),
    "redis.json": dashboard("bi-redis", "Redis", [
      {
        title: "Up",
        unit: "none",
        type: "stat",
        queries: [{ expr: `redis_up{job="${JOBS.redis}"}`, legend: "up" }],
      },
      {
        title: "Memory used vs. maxmemory",
        unit: "bytes",
        queries: [
          { expr: `redis_memory_used_bytes{job="${JOBS.redis}"}`, legend: "used" },
          { expr: `redis_memory_max_bytes{job="${JOBS.redis}"}`, legend: "max" },
        ],
      },
      {
        title: "Commands per second",
        unit: "ops",
        queries: [
          { expr: `rate(redis_commands_processed_total{job="${JOBS.redis}"}[5m])`, legend: "commands" },
        ],
      },
      {
        title: "Hit rate",
        unit: "percentunit",
        queries: [
          {
            expr: `rate(redis_keyspace_hits_total{job="${JOBS.redis}"}[5m]) / (rate(redis_keyspace_hits_total{job="${JOBS.redis}"}[5m]) + rate(redis_keyspace_misses_total{job="${JOBS.redis}"}[5m]))`,
            legend: "hit rate",
          },
        ],
      },
      {
        title: "Clients (connected, rejected/5m)",
        unit: "none",
        queries: [
          { expr: `redis_connected_clients{job="${JOBS.redis}"}`, legend: "connected" },
          { expr: `increase(redis_rejected_connections_total{job="${JOBS.redis}"}[5m])`, legend: "rejected" },
        ],
      },
      {
        title: "Seconds since last RDB save",
        unit: "s",
        queries: [
          { expr: `time() - redis_rdb_last_save_timestamp_seconds{job="${JOBS.redis}"}`, legend: "age" },
        ],
      },
    ]),
    "host.json": dashboard("bi-host", "Docker host", [
      {
        title: "CPU busy",
        unit: "percentunit",
        queries: [
          {
            expr: `1 - avg by (instance) (rate(node_cpu_seconds_total{job="${JOBS.node}",mode="idle"}[5m]))`,
            legend: "busy",
          },
        ],
      },
      {
        title: "Memory available",
        unit: "percentunit",
        queries: [
          {
            expr: `node_memory_MemAvailable_bytes{job="${JOBS.node}"} / node_memory_MemTotal_bytes{job="${JOBS.node}"}`,
            legend: "available",
          },
        ],
      },
      {
        title: "Disk space free",
        unit: "percentunit",
        queries: [
          {
            expr: `node_filesystem_avail_bytes{job="${JOBS.node}",fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"} / node_filesystem_size_bytes{job="${JOBS.node}",fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"}`,
            legend: "{{mountpoint}}",
          },
        ],
      },
      {
        title: "Network traffic",
        unit: "Bps",
        queries: [
          {
            expr: `rate(node_network_receive_bytes_total{job="${JOBS.node}",device!="lo"}[5m])`,
            legend: "{{device}} in",
          },
          {
            expr: `rate(node_network_transmit_bytes_total{job="${JOBS.node}",device!="lo"}[5m])`,
            legend: "{{device}} out",
          },
        ],
      },
      {
        title: "Load average (1m)",
        unit: "none",
        queries: [{ expr: `node_load1{job="${JOBS.node}"}`, legend: "load1" }],
      },
      {
        title: "OOM kills (1h)",
        unit: "none",
        queries: [{ expr: `increase(node_vmstat_oom_kill{job="${JOBS.node}"}[1h])`, legend: "oom kills" }],
      },
    ]),
    "backups.json": dashboard("bi-backups", "Backups", [
      {
        title: "Hours since last successful backup",
        unit: "h",
        queries: [{ expr: "(time() - backup_last_success_timestamp_seconds) / 3600", legend: "{{kind}}" }],
      },
      {
        title: "Last run status (1 = success)",
        unit: "none",
        type: "stat",
        queries: [{ expr: "backup_last_status", legend: "{{kind}}" }],
      },
      {
        title: "Last backup duration",
        unit: "s",
        queries: [{ expr: "backup_last_duration_seconds", legend: "{{kind}}" }],
      },
      {
        title: "Last backup size",
        unit: "bytes",
        queries: [{ expr: "backup_last_size_bytes", legend: "{{kind}}" }],
      },
      {
        title: "Days since last successful restore drill",
        unit: "d",
        type: "stat",
        queries: [
          { expr: "(time() - restore_drill_last_success_timestamp_seconds) / 86400", legend: "drill" },
        ],
      },
      {
        title: "Textfile collector errors",
        unit: "none",
        queries: [{ expr: `node_textfile_scrape_error{job="${JOBS.node}"}`, legend: "error" }],
      },
    ]),
  };
  return Object.fromEntries(
    Object.entries(boards).map(([file, board]) => [file, `${JSON.stringify(board, null, 2)}\n`]),
  );
}
