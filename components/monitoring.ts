/**
 * Monitoring of one environment: Prometheus (rendered config + alert rules, retention, data
 * volume), Alertmanager (receivers from secret config), Grafana (provisioned datasource and
 * dashboards, generated admin password, anonymous access and sign-up off), node_exporter (host
 * /proc and /sys read-only, plus the textfile directory the backup runner writes),
 * postgres_exporter, redis_exporter and blackbox_exporter (each slot's /health and the public
 * URL, TLS expiry included).
 *
 * Every container goes through ServiceContainer (non-root, limits, healthcheck, log rotation,
 * caps dropped). Admin UIs publish on 127.0.0.1 of the docker host only: reach them through an
 * SSH tunnel (`ssh -L 3001:127.0.0.1:3001 host`). Containers that take uploaded configs
 * (Prometheus, Alertmanager, Grafana, blackbox) need a writable root filesystem because Docker
 * refuses uploads into a read-only one; the exporters run read-only. A change to Prometheus's or
 * Alertmanager's files reloads them in place (components/config-reload.ts: promtool / amtool
 * check, then SIGHUP); Grafana and blackbox are replaced.
 *
 * Prometheus and Alertmanager require HTTP basic auth on every endpoint (exporter-toolkit web
 * config, `--web.config.file`), one generated user per client (MONITORING_WEB_USERS). Clients
 * inside their containers (healthchecks, config reloads) read an Authorization header file there,
 * so no password is in `docker inspect` or on a command line outside the container; Prometheus
 * reads its own password from a file (`password_file`), Grafana's is in its provisioned
 * datasource. Operators get theirs from the stack outputs (monitoring.operatorUser/Password).
 *
 * All configs come from the pure renderers in renderers/ - the same text the L4/L5 tests check.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { InfraConfig } from "../config/schema";
import { renderAlertRules } from "../renderers/alert-rules";
import { renderAlertmanagerConfig } from "../renderers/alertmanager-config";
import { renderGrafanaDashboards } from "../renderers/grafana-dashboards";
import {
  GRAFANA_DASHBOARD_DIR,
  renderGrafanaDashboardProvider,
  renderGrafanaDatasources,
} from "../renderers/grafana-provisioning";
import { renderBlackboxConfig } from "../renderers/prometheus-blackbox";
import { renderPrometheusConfig } from "../renderers/prometheus-config";
import { authenticatedGet, renderBasicAuthHeader, renderWebConfig } from "../renderers/web-config";
import { COLOURS, type Colour } from "../config/keys";
import { configReload } from "./config-reload";
import { ServiceContainer } from "./service-container";

/** Ports inside the containers (and on the monitoring network). */
export const MONITORING_PORTS = {
  prometheus: 9090,
  alertmanager: 9093,
  grafana: 3000,
  nodeExporter: 9100,
  postgresExporter: 9187,
  redisExporter: 9121,
  blackbox: 9115,
} as const;

/** The HTTP path each container's healthcheck fetches (checked against the real daemons in L5). */
export const MONITORING_HEALTH_PATHS = {
  prometheus: "/-/ready",
  alertmanager: "/-/ready",
  grafana: "/api/health",
  nodeExporter: "/",
  postgresExporter: "/",
  redisExporter: "/health",
  blackbox: "/-/healthy",
} as const;

/**
 * The basic auth users of Prometheus's and Alertmanager's web configs, one per client, each
 * with its own generated password.
 */
export const MONITORING_WEB_USERS = {
  /** Prometheus: alerts to Alertmanager, its scrapes of itself and of Alertmanager, its container's healthcheck and reloads. */
  prometheus: "prometheus",
  /** Alertmanager's container: its healthcheck and reloads (Alertmanager only). */
  alertmanager: "alertmanager",
  /** Grafana's Prometheus datasource (Prometheus only). */
  grafana: "grafana",
  /** People, runbooks and tools through the stack outputs (both). */
  operator: "operator",
} as const;

/**
 * The auth files in each container, next to its config: the in-place reload writes every file
 * of a service as the owner of one directory.
 */
export const MONITORING_AUTH_FILES = {
  prometheus: {
    webConfig: "/etc/prometheus/web.yml",
    /** The `prometheus` user's password (prometheus.yml's `password_file`). */
    password: "/etc/prometheus/web-password",
    /** `Authorization: Basic ...` of the `prometheus` user, for probes in the container. */
    probeHeader: "/etc/prometheus/web-probe-header",
  },
  alertmanager: {
    webConfig: "/etc/alertmanager/web.yml",
    /** `Authorization: Basic ...` of the `alertmanager` user, for probes in the container. */
    probeHeader: "/etc/alertmanager/web-probe-header",
  },
} as const;

/** Where the admin UIs are published on the docker host (127.0.0.1 only). */
export const MONITORING_HOST_PORTS = { prometheus: 9090, alertmanager: 9093, grafana: 3001 } as const;

/** Memory (MB) and CPU limits of each monitoring container. */
export const MONITORING_LIMITS = {
  prometheus: { memoryMb: 1024, cpus: 1 },
  alertmanager: { memoryMb: 128, cpus: 0.25 },
  grafana: { memoryMb: 512, cpus: 0.5 },
  nodeExporter: { memoryMb: 64, cpus: 0.25 },
  postgresExporter: { memoryMb: 64, cpus: 0.25 },
  redisExporter: { memoryMb: 64, cpus: 0.25 },
  blackbox: { memoryMb: 64, cpus: 0.25 },
} as const;

/** The textfile collector directory inside node_exporter (read-only there). */
export const NODE_TEXTFILE_DIR = "/var/lib/node_exporter/textfile";
// Next to prometheus.yml: the in-place reload writes both as the owner of one directory.
const RULES_PATH = "/etc/prometheus/alert-rules.yml";
const NOBODY = "65534:65534";

export interface MonitoringArgs {
  /** Open-files limit (`ulimit nofile`) of its containers (config `containerOpenFilesLimit`). Default 65536. */
  openFilesLimit?: number;
  /** Prefix of container and volume names, e.g. `backend-infra-prod`. */
  namePrefix: string;
  /** Environment name; an external label on every series and shown in notifications. */
  environment: string;
  /** The typed `monitoring` config (images, retention in days, scrape interval in seconds). */
  config: InfraConfig["monitoring"];
  /** Alert receivers (secret URLs); unset receivers route to the null receiver. */
  alerting: InfraConfig["alerting"];
  /** Docker engine the in-place config reloads of Prometheus and Alertmanager go through. */
  dockerHost: string;
  /**
   * The traffic split the TrafficSwitch applied (its outputs, so the rules follow a switch only
   * once it succeeded): the alert rules name the active slot and the canary from it.
   */
  traffic: { active: pulumi.Input<Colour>; canaryPercent: pulumi.Input<number> };
  /** Port the backend listens on inside its containers (slots are `backend-<colour>:<port>`). */
  backendPort: number;
  /** Public URL probed through the edge, e.g. https://api.example.com/health. Unset: no probe. */
  publicUrl?: string;
  /** Docker network names: monitoring (every monitoring container), app (backends), data (DB, Redis). */
  networks: { monitoring: pulumi.Input<string>; app: pulumi.Input<string>; data: pulumi.Input<string> };
  /** Named volume the backup runner writes its `.prom` files into (node_exporter reads it). */
  textfileVolume: pulumi.Input<string>;
  /** The edge's HAProxy exporter on the monitoring network. Unset: no edge job. */
  edge?: { host: pulumi.Input<string>; metricsPort: number };
  /**
   * PostgreSQL as postgres_exporter connects to it: the monitoring role (Postgres.monitorUser,
   * pg_monitor only), never the application role. The password is a secret.
   */
  postgres: {
    host: pulumi.Input<string>;
    port: pulumi.Input<number>;
    database: pulumi.Input<string>;
    user: pulumi.Input<string>;
    password: pulumi.Input<string>;
  };
  /** Redis as redis_exporter connects to it (password is a secret). */
  /** `user`: the `monitor` ACL user (server statistics only). */
  redis: {
    host: pulumi.Input<string>;
    port: pulumi.Input<number>;
    user: pulumi.Input<string>;
    password: pulumi.Input<string>;
  };
}

const healthUrl = (service: keyof typeof MONITORING_PORTS) =>
  `http://127.0.0.1:${MONITORING_PORTS[service]}${MONITORING_HEALTH_PATHS[service]}`;
const healthTiming = { intervalSeconds: 15, timeoutSeconds: 5, startPeriodSeconds: 30, retries: 3 };

const wgetHealth = (service: keyof typeof MONITORING_PORTS) => ({
  test: ["CMD", "wget", "-q", "-O", "/dev/null", healthUrl(service)],
  ...healthTiming,
});

/**
 * The healthcheck test of Prometheus or Alertmanager: a shell in the container reads the
 * Authorization header from its file, so `docker inspect` shows the command but no password.
 */
export function monitoringAuthHealthTest(service: "prometheus" | "alertmanager"): string[] {
  return ["CMD-SHELL", authenticatedGet(healthUrl(service), MONITORING_AUTH_FILES[service].probeHeader)];
}

export class Monitoring extends pulumi.ComponentResource {
  /** http://127.0.0.1:9090 on the docker host. */
  readonly prometheusUrl: pulumi.Output<string>;
  /** http://127.0.0.1:9093 on the docker host. */
  readonly alertmanagerUrl: pulumi.Output<string>;
  /** http://127.0.0.1:3001 on the docker host. */
  readonly grafanaUrl: pulumi.Output<string>;
  readonly grafanaAdminUser: pulumi.Output<string>;
  /** Generated Grafana admin password (secret). */
  readonly grafanaAdminPassword: pulumi.Output<string>;
  /** Container names by service, for runbooks. */
  readonly containers: Record<keyof typeof MONITORING_PORTS, pulumi.Output<string>>;
  readonly prometheusDataVolume: pulumi.Output<string>;
  /** The basic auth user for people and runbooks on Prometheus and Alertmanager. */
  readonly operatorUser: pulumi.Output<string>;
  /** Its generated password (secret). */
  readonly operatorPassword: pulumi.Output<string>;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("backend-infra:monitoring:Monitoring", name, {}, opts);
    const prefix = args.namePrefix;
    const cfg = args.config;
    const images = cfg.images;
    const names = {
      prometheus: `${prefix}-prometheus`,
      alertmanager: `${prefix}-alertmanager`,
      grafana: `${prefix}-grafana`,
      nodeExporter: `${prefix}-node-exporter`,
      postgresExporter: `${prefix}-postgres-exporter`,
      redisExporter: `${prefix}-redis-exporter`,
      blackbox: `${prefix}-blackbox`,
    };
    const address = (service: keyof typeof names) => `${names[service]}:${MONITORING_PORTS[service]}`;
    const labels = { "backend-infra.tier": "monitoring" };
    const monitoringNet = { name: args.networks.monitoring };

    const volume = (key: string) =>
      new docker.Volume(
        `${name}-${key}`,
        {
          name: `${prefix}-${key}`,
          driver: "local",
          labels: [{ label: "backend-infra.volume", value: key }],
        },
        { parent: this, retainOnDelete: true },
      );
    const prometheusData = volume("prometheus-data");
    const alertmanagerData = volume("alertmanager-data");
    const grafanaData = volume("grafana-data");
    this.prometheusDataVolume = prometheusData.name;

    // ---- web auth: one generated password per client of Prometheus and Alertmanager ----
    const webPassword = (user: keyof typeof MONITORING_WEB_USERS) =>
      new random.RandomPassword(
        `${name}-web-${user}-password`,
        // Letters and digits: safe in a header, a YAML scalar and Grafana's $-expanding provisioning.
        { length: 32, special: false, minUpper: 2, minLower: 2, minNumeric: 2 },
        { parent: this },
      );
    const web = {
      prometheus: webPassword("prometheus"),
      alertmanager: webPassword("alertmanager"),
      grafana: webPassword("grafana"),
      operator: webPassword("operator"),
    };
    const U = MONITORING_WEB_USERS;
    // Secret: a bcrypt hash can be brute-forced offline.
    const webConfig = (users: (keyof typeof MONITORING_WEB_USERS)[]) =>
      pulumi.secret(
        pulumi
          .all(users.map((u) => web[u].bcryptHash))
          .apply((hashes) =>
            renderWebConfig({ users: Object.fromEntries(users.map((u, i) => [U[u], hashes[i]])) }),
          ),
      );
    const probeHeader = (user: "prometheus" | "alertmanager") =>
      pulumi.secret(web[user].result.apply((password) => renderBasicAuthHeader(U[user], password)));

    // ---- exporters ----
    // node_exporter reads the host's /proc and /sys read-only. The host root is NOT mounted (it
    // holds the Docker socket; policy container-no-docker-socket): filesystem metrics come from
    // the container's own mounts, and the textfile volume lives on the filesystem that holds
    // Docker's named volumes - the disk of the Postgres and Redis data volumes. A data path on
    // another disk (postgresDataPath) is not measured here; runbooks/health-check runs `df`
    // inside the Postgres and Redis containers for that.
    const nodeExporter = new ServiceContainer(
      `${name}-node-exporter`,
      {
        openFilesLimit: args.openFilesLimit,
        containerName: names.nodeExporter,
        image: images.nodeExporter,
        user: NOBODY,
        ...MONITORING_LIMITS.nodeExporter,
        command: [
          "--path.procfs=/host/proc",
          "--path.sysfs=/host/sys",
          `--collector.textfile.directory=${NODE_TEXTFILE_DIR}`,
          "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run|var/lib/docker/.+)($|/)",
          `--web.listen-address=:${MONITORING_PORTS.nodeExporter}`,
        ],
        volumes: [
          { hostPath: "/proc", containerPath: "/host/proc", readOnly: true },
          { hostPath: "/sys", containerPath: "/host/sys", readOnly: true },
          { volumeName: args.textfileVolume, containerPath: NODE_TEXTFILE_DIR, readOnly: true },
        ],
        healthcheck: wgetHealth("nodeExporter"),
        networks: [monitoringNet],
        labels,
      },
      { parent: this },
    );

    const dsn = pulumi.secret(
      pulumi
        .all([
          args.postgres.user,
          args.postgres.password,
          args.postgres.host,
          args.postgres.port,
          args.postgres.database,
        ])
        .apply(
          ([user, password, host, port, database]) =>
            `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(database)}?sslmode=disable`,
        ),
    );
    const postgresExporter = new ServiceContainer(
      `${name}-postgres-exporter`,
      {
        openFilesLimit: args.openFilesLimit,
        containerName: names.postgresExporter,
        image: images.postgresExporter,
        user: NOBODY,
        ...MONITORING_LIMITS.postgresExporter,
        command: [`--web.listen-address=:${MONITORING_PORTS.postgresExporter}`],
        envs: [pulumi.interpolate`DATA_SOURCE_NAME=${dsn}`],
        healthcheck: wgetHealth("postgresExporter"),
        networks: [monitoringNet, { name: args.networks.data }],
        labels,
      },
      { parent: this },
    );

    const redisExporter = new ServiceContainer(
      `${name}-redis-exporter`,
      {
        openFilesLimit: args.openFilesLimit,
        containerName: names.redisExporter,
        image: images.redisExporter,
        user: "59000:59000",
        ...MONITORING_LIMITS.redisExporter,
        command: [`--web.listen-address=:${MONITORING_PORTS.redisExporter}`],
        envs: [
          pulumi.interpolate`REDIS_ADDR=redis://${args.redis.host}:${args.redis.port}`,
          pulumi.interpolate`REDIS_USER=${args.redis.user}`,
          pulumi.secret(pulumi.interpolate`REDIS_PASSWORD=${args.redis.password}`),
        ],
        healthcheck: wgetHealth("redisExporter"),
        networks: [monitoringNet, { name: args.networks.data }],
        labels,
      },
      { parent: this },
    );

    const blackbox = new ServiceContainer(
      `${name}-blackbox`,
      {
        openFilesLimit: args.openFilesLimit,
        containerName: names.blackbox,
        image: images.blackboxExporter,
        user: NOBODY,
        ...MONITORING_LIMITS.blackbox,
        command: [
          "--config.file=/etc/blackbox_exporter/config.yml",
          `--web.listen-address=:${MONITORING_PORTS.blackbox}`,
        ],
        writableRootfsReason: "uploads the rendered blackbox.yml",
        uploads: [{ file: "/etc/blackbox_exporter/config.yml", content: renderBlackboxConfig() }],
        healthcheck: wgetHealth("blackbox"),
        // app: probes each slot's /health by its DNS alias; monitoring: egress to the public URL.
        networks: [monitoringNet, { name: args.networks.app }],
        labels,
      },
      { parent: this },
    );

    // ---- Alertmanager ----
    const a = args.alerting;
    const alertmanagerYml = pulumi.secret(
      pulumi
        .all([
          a.pagerWebhookUrl,
          a.slackWebhookUrl,
          a.teamsWebhookUrl,
          a.deadMansSwitchUrl,
          a.email?.password,
        ])
        .apply(([pager, slack, teams, deadMans, smtpPassword]) =>
          renderAlertmanagerConfig({
            environment: args.environment,
            pagerWebhookUrl: pager,
            slackWebhookUrl: slack,
            teamsWebhookUrl: teams,
            deadMansSwitchUrl: deadMans,
            email: a.email
              ? {
                  to: a.email.to,
                  from: a.email.from,
                  smarthost: a.email.smarthost,
                  username: a.email.username,
                  password: smtpPassword,
                }
              : undefined,
          }),
        ),
    );
    const amAuth = MONITORING_AUTH_FILES.alertmanager;
    const alertmanagerFiles = [
      { file: "/etc/alertmanager/alertmanager.yml", content: alertmanagerYml },
      { file: amAuth.webConfig, content: webConfig(["prometheus", "alertmanager", "operator"]) },
      { file: amAuth.probeHeader, content: probeHeader("alertmanager") },
    ];
    const alertmanager = new ServiceContainer(
      `${name}-alertmanager`,
      {
        openFilesLimit: args.openFilesLimit,
        containerName: names.alertmanager,
        image: images.alertmanager,
        user: NOBODY,
        ...MONITORING_LIMITS.alertmanager,
        command: [
          "--config.file=/etc/alertmanager/alertmanager.yml",
          "--storage.path=/alertmanager",
          `--web.listen-address=:${MONITORING_PORTS.alertmanager}`,
          `--web.config.file=${amAuth.webConfig}`,
          // A single instance: no gossip cluster listener.
          "--cluster.listen-address=",
        ],
        writableRootfsReason:
          "uploads the rendered alertmanager.yml (receiver URLs are secrets) and its web auth files",
        uploads: alertmanagerFiles,
        uploadsAppliedInPlace: true,
        volumes: [{ volumeName: alertmanagerData.name, containerPath: "/alertmanager" }],
        ports: [
          {
            internal: MONITORING_PORTS.alertmanager,
            external: MONITORING_HOST_PORTS.alertmanager,
            ip: "127.0.0.1",
          },
        ],
        healthcheck: { test: monitoringAuthHealthTest("alertmanager"), ...healthTiming },
        networks: [{ name: args.networks.monitoring, aliases: ["alertmanager"] }],
        labels,
      },
      { parent: this },
    );

    // ---- Prometheus ----
    const edgeTarget: pulumi.Output<string | undefined> = args.edge
      ? pulumi.interpolate`${args.edge.host}:${args.edge.metricsPort}`
      : pulumi.output<string | undefined>(undefined);
    const promAuth = MONITORING_AUTH_FILES.prometheus;
    const prometheusYml = edgeTarget.apply((edge: string | undefined) =>
      renderPrometheusConfig({
        environment: args.environment,
        scrapeIntervalSeconds: cfg.scrapeIntervalSeconds,
        ruleFiles: [RULES_PATH],
        alertmanagers: [address("alertmanager")],
        targets: {
          prometheus: `localhost:${MONITORING_PORTS.prometheus}`,
          alertmanager: address("alertmanager"),
          node: address("nodeExporter"),
          postgres: address("postgresExporter"),
          redis: address("redisExporter"),
          blackbox: address("blackbox"),
          edge,
        },
        backendSlots: COLOURS.map((colour) => ({
          colour,
          discovery: { kind: "dns" as const, name: `backend-${colour}`, port: args.backendPort },
          healthUrl: `http://backend-${colour}:${args.backendPort}/health`,
        })),
        publicUrl: args.publicUrl,
        auth: { username: U.prometheus, passwordFile: promAuth.password },
      }),
    );
    const prometheusFiles = [
      { file: "/etc/prometheus/prometheus.yml", content: prometheusYml },
      {
        file: RULES_PATH,
        content: pulumi
          .all([args.traffic.active, args.traffic.canaryPercent])
          .apply(([active, canaryPercent]) => renderAlertRules({ traffic: { active, canaryPercent } })),
      },
      { file: promAuth.webConfig, content: webConfig(["prometheus", "grafana", "operator"]) },
      { file: promAuth.password, content: pulumi.secret(web.prometheus.result) },
      { file: promAuth.probeHeader, content: probeHeader("prometheus") },
    ];
    const prometheus = new ServiceContainer(
      `${name}-prometheus`,
      {
        openFilesLimit: args.openFilesLimit,
        containerName: names.prometheus,
        image: images.prometheus,
        user: NOBODY,
        ...MONITORING_LIMITS.prometheus,
        command: [
          "--config.file=/etc/prometheus/prometheus.yml",
          "--storage.tsdb.path=/prometheus",
          `--storage.tsdb.retention.time=${cfg.retentionDays}d`,
          `--web.listen-address=:${MONITORING_PORTS.prometheus}`,
          `--web.config.file=${promAuth.webConfig}`,
        ],
        writableRootfsReason: "uploads the rendered prometheus.yml, alert rules and web auth files",
        uploads: prometheusFiles,
        uploadsAppliedInPlace: true,
        volumes: [{ volumeName: prometheusData.name, containerPath: "/prometheus" }],
        ports: [
          {
            internal: MONITORING_PORTS.prometheus,
            external: MONITORING_HOST_PORTS.prometheus,
            ip: "127.0.0.1",
          },
        ],
        healthcheck: { test: monitoringAuthHealthTest("prometheus"), ...healthTiming },
        // Monitoring only: the slots' replicas and the edge join it (with the slot aliases), so
        // Prometheus scrapes them there and shares no network with the application's traffic.
        networks: [{ name: args.networks.monitoring, aliases: ["prometheus"] }],
        stopTimeoutSeconds: 60,
        labels,
      },
      { parent: this, dependsOn: [alertmanager, nodeExporter, postgresExporter, redisExporter, blackbox] },
    );

    // Config and rule changes reload Prometheus and Alertmanager in place (SIGHUP after
    // promtool / amtool accept the files) instead of replacing them: alert state, pending `for`
    // clocks and silences stay.
    configReload(
      `${name}-alertmanager-config`,
      {
        service: "alertmanager",
        container: alertmanager.containerName,
        containerId: alertmanager.container.id,
        files: alertmanagerFiles,
        dockerHost: args.dockerHost,
        authHeaderFile: amAuth.probeHeader,
      },
      { parent: this },
    );
    configReload(
      `${name}-prometheus-config`,
      {
        service: "prometheus",
        container: prometheus.containerName,
        containerId: prometheus.container.id,
        files: prometheusFiles,
        dockerHost: args.dockerHost,
        authHeaderFile: promAuth.probeHeader,
      },
      { parent: this },
    );

    // ---- Grafana ----
    const password = new random.RandomPassword(
      `${name}-grafana-admin-password`,
      { length: 32, special: false, minUpper: 2, minLower: 2, minNumeric: 2 },
      { parent: this },
    );
    this.grafanaAdminPassword = pulumi.secret(password.result);
    this.grafanaAdminUser = pulumi.output("admin");
    const dashboards = renderGrafanaDashboards();
    const grafana = new ServiceContainer(
      `${name}-grafana`,
      {
        openFilesLimit: args.openFilesLimit,
        containerName: names.grafana,
        image: images.grafana,
        user: "472",
        ...MONITORING_LIMITS.grafana,
        envs: [
          "GF_SECURITY_ADMIN_USER=admin",
          pulumi.secret(pulumi.interpolate`GF_SECURITY_ADMIN_PASSWORD=${this.grafanaAdminPassword}`),
          "GF_AUTH_ANONYMOUS_ENABLED=false",
          "GF_USERS_ALLOW_SIGN_UP=false",
          "GF_USERS_ALLOW_ORG_CREATE=false",
          "GF_SECURITY_DISABLE_GRAVATAR=true",
          "GF_ANALYTICS_REPORTING_ENABLED=false",
          "GF_ANALYTICS_CHECK_FOR_UPDATES=false",
          `GF_SERVER_HTTP_PORT=${MONITORING_PORTS.grafana}`,
          "GF_LOG_MODE=console",
        ],
        writableRootfsReason: "uploads the provisioned datasource (with its Prometheus login) and dashboards",
        uploads: [
          {
            file: "/etc/grafana/provisioning/datasources/prometheus.yaml",
            content: pulumi.secret(
              web.grafana.result.apply((password) =>
                renderGrafanaDatasources({
                  prometheusUrl: `http://${address("prometheus")}`,
                  scrapeIntervalSeconds: cfg.scrapeIntervalSeconds,
                  basicAuth: { user: U.grafana, password },
                }),
              ),
            ),
          },
          {
            file: "/etc/grafana/provisioning/dashboards/backend-infra.yaml",
            content: renderGrafanaDashboardProvider(),
          },
          ...Object.entries(dashboards).map(([file, content]) => ({
            file: `${GRAFANA_DASHBOARD_DIR}/${file}`,
            content,
          })),
        ],
        volumes: [{ volumeName: grafanaData.name, containerPath: "/var/lib/grafana" }],
        ports: [
          { internal: MONITORING_PORTS.grafana, external: MONITORING_HOST_PORTS.grafana, ip: "127.0.0.1" },
        ],
        healthcheck: wgetHealth("grafana"),
        networks: [monitoringNet],
        labels,
      },
      { parent: this, dependsOn: [prometheus] },
    );

    this.prometheusUrl = pulumi.output(`http://127.0.0.1:${MONITORING_HOST_PORTS.prometheus}`);
    this.alertmanagerUrl = pulumi.output(`http://127.0.0.1:${MONITORING_HOST_PORTS.alertmanager}`);
    this.grafanaUrl = pulumi.output(`http://127.0.0.1:${MONITORING_HOST_PORTS.grafana}`);
    this.operatorUser = pulumi.output(U.operator);
    this.operatorPassword = pulumi.secret(web.operator.result);
    this.containers = {
      prometheus: prometheus.containerName,
      alertmanager: alertmanager.containerName,
      grafana: grafana.containerName,
      nodeExporter: nodeExporter.containerName,
      postgresExporter: postgresExporter.containerName,
      redisExporter: redisExporter.containerName,
      blackbox: blackbox.containerName,
    };

    this.registerOutputs({
      prometheusUrl: this.prometheusUrl,
      alertmanagerUrl: this.alertmanagerUrl,
      grafanaUrl: this.grafanaUrl,
      grafanaAdminUser: this.grafanaAdminUser,
      grafanaAdminPassword: this.grafanaAdminPassword,
      containers: this.containers,
      prometheusDataVolume: this.prometheusDataVolume,
      operatorUser: this.operatorUser,
      operatorPassword: this.operatorPassword,
    });
  }
}
