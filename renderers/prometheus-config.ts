/**
 * prometheus.yml: scrape jobs for the backend slots (with a `colour` label), the edge's
 * HAProxy exporter, every exporter, blackbox probes (each slot's /health and the public URL)
 * and Prometheus/Alertmanager themselves. Pure: typed input -> YAML text.
 *
 * The job names are a contract with the alert rules (renderers/alert-rules.ts) and the
 * dashboards; both import `JOBS` from here.
 */
import { stringify } from "yaml";
import type { Colour } from "../config/keys";

export const JOBS = {
  prometheus: "prometheus",
  alertmanager: "alertmanager",
  node: "node",
  postgres: "postgres",
  redis: "redis",
  edge: "edge",
  backend: "backend",
  blackbox: "blackbox",
  /** Probes of each slot's /health through its DNS alias (label `colour`). */
  slotHealth: "blackbox-health",
  /** Probe of the public URL through the edge, TLS expiry included. */
  publicProbe: "blackbox-public",
} as const;

/** Exporter jobs whose own `up == 0` is a warning (ExporterDown). */
export const EXPORTER_JOBS = [
  JOBS.node,
  JOBS.postgres,
  JOBS.redis,
  JOBS.blackbox,
  JOBS.alertmanager,
] as const;

/** Blackbox modules (renderers/prometheus-blackbox.ts defines them). */
export const BLACKBOX_MODULES = { health: "http_health", publicTls: "https_public" } as const;

/** Where one slot's backend replicas are found. */
export type SlotDiscovery =
  /** Docker DNS alias of the slot on the app network (`backend-blue`): every replica's A record. */
  | { kind: "dns"; name: string; port: number }
  /** Fixed `host:port` targets (tests, or a host without DNS discovery). */
  | { kind: "static"; targets: string[] };

export interface BackendSlot {
  colour: Colour;
  discovery: SlotDiscovery;
  /** URL of the slot's health endpoint probed by blackbox, e.g. http://backend-blue:4000/health. */
  healthUrl?: string;
}

export interface PrometheusConfigInput {
  /** Environment name, added to every series as the external label `environment`. */
  environment: string;
  /** Scrape and rule-evaluation interval in seconds. */
  scrapeIntervalSeconds: number;
  /** Rule files as Prometheus sees them (paths inside its container). */
  ruleFiles: string[];
  /** Alertmanager `host:port` addresses. */
  alertmanagers: string[];
  /** `host:port` of each scrape target; an unset optional target gets no job. */
  targets: {
    prometheus: string;
    alertmanager?: string;
    node?: string;
    postgres?: string;
    redis?: string;
    /** HAProxy's built-in Prometheus exporter (`/metrics`). */
    edge?: string;
    blackbox?: string;
  };
  backendSlots: BackendSlot[];
  /** Public URL probed through the edge (HTTPS: certificate expiry is measured too). */
  publicUrl?: string;
  /**
   * Basic auth Prometheus sends to Alertmanager (alerts) and on its `prometheus` and
   * `alertmanager` scrape jobs: both run with a web config that requires it. The password is
   * read from `passwordFile` at each request, so it is never in prometheus.yml. Unset: no auth
   * (daemons without a web config).
   */
  auth?: { username: string; passwordFile: string };
}

const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$/;

function checkInput(input: PrometheusConfigInput): void {
  const problems: string[] = [];
  if (!Number.isInteger(input.scrapeIntervalSeconds) || input.scrapeIntervalSeconds < 1)
    problems.push(
      `scrapeIntervalSeconds: expected a whole number of seconds >= 1, got ${input.scrapeIntervalSeconds}`,
    );
  for (const [name, address] of Object.entries(input.targets)) {
    if (address !== undefined && !HOST_PORT.test(address))
      problems.push(`targets.${name}: expected host:port, got "${address}"`);
  }
  input.alertmanagers.forEach((a, i) => {
    if (!HOST_PORT.test(a)) problems.push(`alertmanagers[${i}]: expected host:port, got "${a}"`);
  });
  const colours = input.backendSlots.map((s) => s.colour);
  if (new Set(colours).size !== colours.length)
    problems.push(`backendSlots: each colour at most once, got ${colours.join(", ")}`);
  for (const slot of input.backendSlots) {
    if (slot.discovery.kind === "static") {
      slot.discovery.targets.forEach((t, i) => {
        if (!HOST_PORT.test(t))
          problems.push(`backendSlots.${slot.colour}.targets[${i}]: expected host:port, got "${t}"`);
      });
    } else if (!/^[A-Za-z0-9.-]+$/.test(slot.discovery.name)) {
      problems.push(
        `backendSlots.${slot.colour}.discovery.name: expected a DNS name, got "${slot.discovery.name}"`,
      );
    }
    if (slot.healthUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(slot.healthUrl))
      problems.push(
        `backendSlots.${slot.colour}.healthUrl: expected an http(s) URL, got "${slot.healthUrl}"`,
      );
  }
  if (input.publicUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(input.publicUrl))
    problems.push(`publicUrl: expected an http(s) URL, got "${input.publicUrl}"`);
  if (input.auth && !/^[a-z][a-z0-9_-]{0,31}$/.test(input.auth.username))
    problems.push(`auth.username: expected a user name (letters, digits, _ -), got "${input.auth.username}"`);
  if (input.auth && !/^\/[A-Za-z0-9._/-]+$/.test(input.auth.passwordFile))
    problems.push(`auth.passwordFile: expected an absolute path, got "${input.auth.passwordFile}"`);
  if ((input.backendSlots.some((s) => s.healthUrl) || input.publicUrl) && !input.targets.blackbox)
    problems.push("targets.blackbox: required when health URLs or a public URL are probed");
  if (problems.length > 0)
    throw new Error(`prometheus.yml input is invalid:\n  - ${problems.join("\n  - ")}`);
}

const staticJob = (job: string, target: string, extra: Record<string, unknown> = {}) => ({
  job_name: job,
  static_configs: [{ targets: [target] }],
  ...extra,
});

/** Relabelling that sends a probe through the blackbox exporter and keeps the URL as `instance`. */
const blackboxRelabel = (blackbox: string) => [
  { source_labels: ["__address__"], target_label: "__param_target" },
  { source_labels: ["__param_target"], target_label: "instance" },
  { target_label: "__address__", replacement: blackbox },
];

export function renderPrometheusConfig(input: PrometheusConfigInput): string {
  checkInput(input);
  const interval = `${input.scrapeIntervalSeconds}s`;
  const t = input.targets;
  const basicAuth = input.auth
    ? { basic_auth: { username: input.auth.username, password_file: input.auth.passwordFile } }
    : {};
  const jobs: Record<string, unknown>[] = [staticJob(JOBS.prometheus, t.prometheus, basicAuth)];
  if (t.alertmanager) jobs.push(staticJob(JOBS.alertmanager, t.alertmanager, basicAuth));
  if (t.node) jobs.push(staticJob(JOBS.node, t.node));
  if (t.postgres) jobs.push(staticJob(JOBS.postgres, t.postgres));
  if (t.redis) jobs.push(staticJob(JOBS.redis, t.redis));
  if (t.blackbox) jobs.push(staticJob(JOBS.blackbox, t.blackbox));
  if (t.edge) jobs.push(staticJob(JOBS.edge, t.edge, { metrics_path: "/metrics" }));

  if (input.backendSlots.length > 0) {
    const dns = input.backendSlots.filter((s) => s.discovery.kind === "dns");
    const statics = input.backendSlots.filter((s) => s.discovery.kind === "static");
    jobs.push({
      job_name: JOBS.backend,
      metrics_path: "/metrics",
      // The backend labels its own series with `colour`; keep its value rather than
      // renaming it to exported_colour (both agree: the target label comes from the slot).
      honor_labels: true,
      ...(dns.length > 0
        ? {
            dns_sd_configs: dns.map((s) => {
              const d = s.discovery as Extract<SlotDiscovery, { kind: "dns" }>;
              return { names: [d.name], type: "A", port: d.port, refresh_interval: "30s" };
            }),
          }
        : {}),
      ...(statics.length > 0
        ? {
            static_configs: statics.map((s) => ({
              targets: (s.discovery as Extract<SlotDiscovery, { kind: "static" }>).targets,
              labels: { colour: s.colour },
            })),
          }
        : {}),
      ...(dns.length > 0
        ? {
            relabel_configs: dns.map((s) => ({
              source_labels: ["__meta_dns_name"],
              regex: (s.discovery as Extract<SlotDiscovery, { kind: "dns" }>).name.replace(/\./g, "\\."),
              target_label: "colour",
              replacement: s.colour,
            })),
          }
        : {}),
    });
  }

  const probes = input.backendSlots.filter((s) => s.healthUrl);
  if (t.blackbox && probes.length > 0) {
    jobs.push({
      job_name: JOBS.slotHealth,
      metrics_path: "/probe",
      params: { module: [BLACKBOX_MODULES.health] },
      static_configs: probes.map((s) => ({ targets: [s.healthUrl], labels: { colour: s.colour } })),
      relabel_configs: blackboxRelabel(t.blackbox),
    });
  }
  if (t.blackbox && input.publicUrl) {
    jobs.push({
      job_name: JOBS.publicProbe,
      metrics_path: "/probe",
      params: { module: [BLACKBOX_MODULES.publicTls] },
      static_configs: [{ targets: [input.publicUrl] }],
      relabel_configs: blackboxRelabel(t.blackbox),
    });
  }

  const config = {
    global: {
      scrape_interval: interval,
      evaluation_interval: interval,
      scrape_timeout: `${Math.max(1, Math.min(10, input.scrapeIntervalSeconds - 1))}s`,
      external_labels: { environment: input.environment },
    },
    rule_files: input.ruleFiles,
    alerting: {
      alertmanagers:
        input.alertmanagers.length > 0
          ? [{ static_configs: [{ targets: input.alertmanagers }], ...basicAuth }]
          : [],
    },
    scrape_configs: jobs,
  };
  return `# Rendered by renderers/prometheus-config.ts - do not edit by hand.\n${stringify(config, { lineWidth: 0 })}`;
}
