/**
 * Every configuration key the program reads: its zod type, description, default and
 * whether it is a secret. This table is the single source of truth: the schema
 * (config/schema.ts), the `config:` block of Pulumi.yaml and the README's config reference
 * are all checked against it (test/unit/config-docs.test.ts).
 *
 * Keys are flat (`postgresMemory`, not `postgres.memory`) because Pulumi.yaml can only
 * declare string, integer, boolean and array keys.
 */
import { z } from "zod";
import { cronError } from "../lib/cron";
import { imagePinError } from "../lib/image-ref";
import {
  DEFAULT_SERVER_MAX_CONNECTIONS,
  DEFAULT_TIMEOUTS,
  MAX_SERVER_MAX_CONNECTIONS,
} from "../renderers/haproxy-config";
import { EVICTION_POLICIES } from "../renderers/redis-conf";
import { cronNeverFiresError } from "./schedule";
import {
  awsRegionError,
  hostDataPathError,
  hostPortError,
  httpUrlError,
  isHostname,
  dockerHostError,
  pemCertificateError,
  pemPrivateKeyError,
  registryServerError,
  s3BucketNameError,
  SMTP_USER_NAME,
  USER_NAME,
} from "./values";

/** Role postgres_exporter connects as (components/postgres.ts MONITOR_ROLE_SQL); the app role may not use it. */
export const POSTGRES_MONITOR_ROLE = "monitor";
/**
 * Read-only role (pg_read_all_data) the restore drill and the disaster-recovery verification read
 * application data as (components/postgres.ts VERIFY_ROLE_SQL); the app role may not use it.
 */
export const POSTGRES_VERIFY_ROLE = "verify";
/** The cluster's superuser (the official image's POSTGRES_USER); never the application's role. */
export const POSTGRES_SUPERUSER = "postgres";

export const PROJECT = "backend-infra";

export type PulumiType = "string" | "integer" | "boolean" | "array";
export const ENVIRONMENTS = ["prod", "staging", "local"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];
export const COLOURS = ["blue", "green"] as const;
export type Colour = (typeof COLOURS)[number];
export const ROLES = ["env", "slot"] as const;
export type Role = (typeof ROLES)[number];

export interface KeySpec<S extends z.ZodType = z.ZodType> {
  /** Validates the value as it arrives from Pulumi config (always a string there). */
  schema: S;
  description: string;
  pulumiType: PulumiType;
  /** Default for every environment; documented in Pulumi.yaml. */
  default?: unknown;
  /** Default that depends on the environment; documented in the description only. */
  envDefault?: Record<Environment, unknown>;
  /** The key must be set with `pulumi config set --secret`. */
  secret?: boolean;
  /** Shown in the docs in place of a default, e.g. "from the stack name". */
  derived?: string;
  /**
   * The stack roles that read the key (default both). Setting it in a stack of the other role is
   * an error: the value would be silently ignored there.
   */
  roles?: readonly Role[];
  /** The value may span lines (PEM). Every other value is one line without control characters. */
  multiline?: boolean;
}

// ---------- value types ----------

const MEMORY = /^(\d+(?:\.\d+)?)([mg])$/i;
/** A memory size like `512m` or `2g`, parsed to whole megabytes. */
export const memory = z
  .string()
  .regex(MEMORY, { message: "expected a size like 512m or 2g" })
  .transform((value) => {
    const [, amount, unit] = MEMORY.exec(value) as RegExpExecArray;
    return Math.round(Number(amount) * (unit.toLowerCase() === "g" ? 1024 : 1));
  })
  .refine((mb) => mb >= 16, { message: "expected at least 16m" })
  .refine((mb) => mb <= 1024 * 1024, { message: "expected at most 1024g" });

/** A CPU count like `0.5` or `2`. */
export const cpus = z
  .string()
  .regex(/^\d+(\.\d+)?$/, { message: "expected a CPU count like 0.5 or 2" })
  .transform(Number)
  .refine((n) => n >= 0.05 && n <= 64, { message: "expected between 0.05 and 64 CPUs" });

export const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d+$/, { message: "expected a whole number" })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { message: `expected a whole number from ${min} to ${max}` });

export const bool = z
  .enum(["true", "false"], { message: "expected true or false" })
  .transform((v) => v === "true");

export const image = z.string().superRefine((value, ctx) => {
  const problem = imagePinError(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** A string checked by a function that returns what was expected, or undefined when it is good. */
const checked = (check: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const problem = check(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

export const cron = checked((value) => {
  const problem = cronError(value);
  return problem ? `expected a cron expression: ${problem}` : cronNeverFiresError(value);
});

export const absolutePath = checked(hostDataPathError);

/** An http(s) URL; prod and staging also require https (config/schema.ts). */
export const url = checked((value) => httpUrlError(value, false));

const EMAIL = z.email();

/** A non-empty JSON array of e-mail addresses, each checked (they are joined into one To: header). */
export const emailList = z
  .string()
  .transform((value, ctx) => {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      ctx.addIssue({
        code: "custom",
        message: 'expected a JSON array of e-mail addresses like ["a@example.com"]',
      });
      return z.NEVER;
    }
  })
  .superRefine((list, ctx) => {
    if (!Array.isArray(list)) {
      ctx.addIssue({
        code: "custom",
        message: 'expected an array of e-mail addresses like ["a@example.com"]',
      });
      return;
    }
    if (list.length === 0)
      ctx.addIssue({
        code: "custom",
        message: "expected at least one address: an empty list receives nothing",
      });
    list.forEach((item: unknown, index) => {
      if (typeof item !== "string" || !EMAIL.safeParse(item).success)
        ctx.addIssue({
          code: "custom",
          message: `item ${index + 1} (${JSON.stringify(item)}): expected an e-mail address like oncall@example.com`,
        });
      else if (list.indexOf(item) !== index)
        ctx.addIssue({
          code: "custom",
          message: `item ${index + 1} (${JSON.stringify(item)}): listed twice`,
        });
    });
  })
  .transform((list) => list as string[]);

export const hostname = checked((value) =>
  isHostname(value) ? undefined : "expected a DNS host name like api.example.com",
);

const awsRegion = checked(awsRegionError);

function key<S extends z.ZodType>(
  schema: S,
  pulumiType: PulumiType,
  description: string,
  extra: Omit<Partial<KeySpec>, "schema" | "pulumiType" | "description"> = {},
) {
  return { schema, pulumiType, description, ...extra } satisfies KeySpec<S>;
}

// ---------- the keys ----------

export const KEYS = {
  // Stack identity
  environment: key(
    z.enum(ENVIRONMENTS),
    "string",
    "Environment this stack belongs to: prod, staging or local. Set, it must agree with the stack name.",
    {
      derived: "the stack name (`prod`, `prod-blue` -> prod)",
    },
  ),
  role: key(
    z.enum(ROLES),
    "string",
    "env: data, edge, monitoring, backups. slot: one colour of backend containers. Set, it must agree with the stack name.",
    {
      derived: "the stack name (`<env>` -> env, `<env>-<blue|green>` -> slot)",
    },
  ),
  slot: key(
    z.enum(COLOURS),
    "string",
    "Colour of a slot stack: blue or green. Set, it must agree with the stack name.",
    {
      derived: "the stack name suffix",
      roles: ["slot"],
    },
  ),
  envStack: key(
    z.string().regex(/^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+){0,2}$/, {
      message: "expected a stack reference like acme/backend-infra/prod (org/project/stack)",
    }),
    "string",
    "The env stack a slot stack reads through a StackReference: `<org>/backend-infra/<env>` of its own environment.",
    {
      derived: "`<org>/backend-infra/<env>`",
      roles: ["slot"],
    },
  ),
  dockerHost: key(
    checked(dockerHostError),
    "string",
    "Docker engine the stack deploys to: unix:///path, ssh://[user@]host[:port] or tcp://host:port. Prod and staging: ssh://, or tcp:// on Docker's TLS port 2376 (with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH where Pulumi runs).",
    { default: "unix:///var/run/docker.sock", roles: ["env"] },
  ),
  publicHostname: key(
    hostname,
    "string",
    "Public host name served by the edge (TLS certificate subject). The default is for local stacks only: staging and prod env stacks must set it.",
    {
      default: "localhost",
      roles: ["env"],
    },
  ),

  // Image registry for the images this project builds (postgres+pgBackRest, backup runner, backend)
  registryServer: key(
    checked(registryServerError),
    "string",
    "Registry to push built images to (e.g. ghcr.io/acme), with registryUsername and registryPassword. Required in prod (images run by digest). Unset: build on the docker host only.",
  ),
  registryUsername: key(
    z.string().regex(USER_NAME, { message: "expected a registry user name (no spaces or colons)" }),
    "string",
    "Registry user name.",
  ),
  registryPassword: key(
    z.string().min(1, { message: "expected a password or token" }),
    "string",
    "Registry password or token.",
    {
      secret: true,
    },
  ),

  // PostgreSQL
  postgresBaseImage: key(image, "string", "Official PostgreSQL image the pgBackRest image is built FROM.", {
    default: "postgres:15.10-bookworm",
    roles: ["env"],
  }),
  postgresDatabase: key(
    z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { message: "expected a lower-case SQL identifier" }),
    "string",
    "Application database name.",
    { default: "app", roles: ["env"] },
  ),
  postgresUser: key(
    z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, { message: "expected a lower-case SQL identifier" })
      .refine((user) => user !== POSTGRES_MONITOR_ROLE, {
        message: `postgresUser "${POSTGRES_MONITOR_ROLE}" is reserved for the monitoring role (postgres_exporter); choose another name`,
      })
      .refine((user) => user !== POSTGRES_VERIFY_ROLE, {
        message: `postgresUser "${POSTGRES_VERIFY_ROLE}" is reserved for the read-only verify role (restore drill, DR verification); choose another name`,
      })
      .refine((user) => user !== POSTGRES_SUPERUSER, {
        message: `postgresUser "${POSTGRES_SUPERUSER}" is the superuser: the application must run as its own unprivileged role`,
      })
      .refine((user) => !user.startsWith("pg_"), {
        message: "postgresUser may not start with pg_ (reserved by PostgreSQL)",
      }),
    "string",
    "Application database role.",
    { default: "app", roles: ["env"] },
  ),
  postgresMemory: key(
    memory,
    "string",
    "Memory limit of the PostgreSQL container; settings are tuned from it.",
    {
      envDefault: { prod: "4g", staging: "2g", local: "1g" },
      roles: ["env"],
    },
  ),
  postgresCpus: key(cpus, "string", "CPU limit of the PostgreSQL container.", {
    envDefault: { prod: "2", staging: "1", local: "1" },
    roles: ["env"],
  }),
  postgresDataPath: key(
    absolutePath,
    "string",
    "Host directory for the data (bind mount, like the seed's /opt/data/postgres). Unset: a named volume.",
    { roles: ["env"] },
  ),
  postgresArchiveTimeoutSeconds: key(
    int(1, 3600),
    "integer",
    "archive_timeout: the longest a WAL segment stays unarchived (the RPO bound). At most 60 in prod.",
    {
      default: "60",
      roles: ["env"],
    },
  ),
  postgresMaxConnections: key(
    int(10, 5000),
    "integer",
    "max_connections. Unset: derived from the memory limit.",
    { roles: ["env"] },
  ),

  // Redis
  redisImage: key(image, "string", "Redis image.", { default: "redis:7.2.6-bookworm", roles: ["env"] }),
  redisMemory: key(memory, "string", "Memory limit of the Redis container; maxmemory is 75% of it.", {
    envDefault: { prod: "1g", staging: "512m", local: "256m" },
    roles: ["env"],
  }),
  redisCpus: key(cpus, "string", "CPU limit of the Redis container.", { default: "1", roles: ["env"] }),
  redisMaxmemoryPolicy: key(
    z.enum(EVICTION_POLICIES),
    "string",
    "Eviction policy when maxmemory is reached; noeviction keeps session data safe.",
    { default: "noeviction", roles: ["env"] },
  ),
  redisDataPath: key(
    absolutePath,
    "string",
    "Host directory for Redis data (bind mount). Unset: a named volume.",
    { roles: ["env"] },
  ),

  // Backend slots
  backendImage: key(
    image,
    "string",
    "Backend image to run. Unset: build examples/backend on the docker host.",
    { roles: ["slot"] },
  ),
  backendReplicas: key(int(1, 20), "integer", "Backend containers per slot.", {
    envDefault: { prod: "3", staging: "2", local: "1" },
    roles: ["slot"],
  }),
  backendMemory: key(memory, "string", "Memory limit of each backend container.", {
    default: "512m",
    roles: ["slot"],
  }),
  backendCpus: key(cpus, "string", "CPU limit of each backend container.", { default: "1", roles: ["slot"] }),
  backendStopTimeoutSeconds: key(
    int(1, 600),
    "integer",
    "Seconds a backend has to drain after SIGTERM before it is killed.",
    {
      default: "30",
      roles: ["slot"],
    },
  ),

  // Every container
  containerOpenFilesLimit: key(
    int(2048, 1048576),
    "integer",
    "Open-files limit (ulimit nofile) of every container. Docker cannot give a container more than the engine itself may open (dockerd's LimitNOFILE): lower this on such a host.",
    { default: "65536" },
  ),

  // Edge
  edgeImage: key(image, "string", "HAProxy image.", { default: "haproxy:2.6.18-bookworm", roles: ["env"] }),
  edgeHttpPort: key(int(1, 65535), "integer", "Public HTTP port (redirects to HTTPS).", {
    default: "80",
    roles: ["env"],
  }),
  edgeHttpsPort: key(int(1, 65535), "integer", "Public HTTPS port.", { default: "443", roles: ["env"] }),
  edgeTlsMode: key(
    z.enum(["self-signed", "provided"]),
    "string",
    "self-signed: generate a certificate (local only). provided: edgeTlsCert + edgeTlsKey (prod and staging).",
    {
      envDefault: { prod: "provided", staging: "provided", local: "self-signed" },
      roles: ["env"],
    },
  ),
  edgeTlsCert: key(checked(pemCertificateError), "string", "PEM certificate chain for publicHostname.", {
    secret: true,
    multiline: true,
    roles: ["env"],
  }),
  edgeTlsKey: key(
    checked(pemPrivateKeyError),
    "string",
    "PEM private key for edgeTlsCert (unencrypted: HAProxy reads it unattended).",
    {
      secret: true,
      multiline: true,
      roles: ["env"],
    },
  ),
  edgeRateLimitPer10s: key(
    int(1, 100000),
    "integer",
    "Requests one client IP may make in 10 s before it gets 429.",
    {
      default: "200",
      roles: ["env"],
    },
  ),
  edgeServerMaxConn: key(
    int(1, MAX_SERVER_MAX_CONNECTIONS),
    "integer",
    "Requests the edge sends one backend replica at a time (HAProxy per-server maxconn): what one replica serves at good latency. More wait in the edge's queue for the next free replica and get 503 after edgeQueueTimeoutSeconds, instead of piling onto the app.",
    {
      default: String(DEFAULT_SERVER_MAX_CONNECTIONS),
      roles: ["env"],
    },
  ),
  edgeQueueTimeoutSeconds: key(
    int(1, 300),
    "integer",
    "Seconds a request may wait in the edge's queue for a free backend replica (edgeServerMaxConn) before the edge answers 503.",
    {
      default: String(DEFAULT_TIMEOUTS.queue / 1000),
      roles: ["env"],
    },
  ),
  edgeMemory: key(memory, "string", "Memory limit of the edge container.", {
    default: "256m",
    roles: ["env"],
  }),
  edgeCpus: key(cpus, "string", "CPU limit of the edge container.", { default: "1", roles: ["env"] }),

  // Traffic switch
  trafficActive: key(z.enum(COLOURS), "string", "Colour that serves production traffic.", {
    default: "blue",
    roles: ["env"],
  }),
  trafficCanaryPercent: key(
    int(0, 100),
    "integer",
    "Share of traffic (percent) sent to the other colour as a canary.",
    {
      default: "0",
      roles: ["env"],
    },
  ),

  // Backups
  backupStorage: key(
    z.enum(["aws", "minio"]),
    "string",
    "Cloud repository: AWS S3 (prod and staging), or a MinIO container standing in for it (local only: local stacks create nothing billable).",
    {
      envDefault: { prod: "aws", staging: "aws", local: "minio" },
      roles: ["env"],
    },
  ),
  backupRegion: key(awsRegion, "string", "AWS region of the backup bucket.", {
    default: "eu-west-1",
    roles: ["env"],
  }),
  backupReplicaRegion: key(
    awsRegion,
    "string",
    "Second region for cross-region replication (backupStorage aws only). Unset: no replica.",
    { roles: ["env"] },
  ),
  backupBucketName: key(
    checked(s3BucketNameError),
    "string",
    "Name of the backup bucket. Unset: derived from project, environment and a random suffix.",
    { roles: ["env"] },
  ),
  backupLocalRetentionDays: key(
    int(1, 3650),
    "integer",
    "Days backups are kept in the local repository (at least 30 in prod and staging).",
    {
      default: "30",
      roles: ["env"],
    },
  ),
  backupCloudRetentionDays: key(
    int(1, 3650),
    "integer",
    "Days backups are kept in the cloud repository (at least 90 in prod and staging).",
    {
      default: "90",
      roles: ["env"],
    },
  ),
  backupFullSchedule: key(cron, "string", "Cron schedule of full pgBackRest backups.", {
    default: "0 3 * * 0",
    roles: ["env"],
  }),
  backupDiffSchedule: key(cron, "string", "Cron schedule of differential pgBackRest backups.", {
    default: "0 2 * * *",
    roles: ["env"],
  }),
  backupLogicalSchedule: key(cron, "string", "Cron schedule of the logical pg_dump.", {
    default: "30 2 * * *",
    roles: ["env"],
  }),
  backupRedisSchedule: key(cron, "string", "Cron schedule of the Redis RDB snapshot.", {
    default: "15 2 * * *",
    roles: ["env"],
  }),
  backupVerifySchedule: key(cron, "string", "Cron schedule of pgbackrest verify.", {
    default: "0 5 * * *",
    roles: ["env"],
  }),
  backupDrillSchedule: key(cron, "string", "Cron schedule of the restore drill.", {
    default: "0 4 * * 6",
    roles: ["env"],
  }),
  backupCompression: key(z.enum(["lz4", "zst", "gz"]), "string", "pgBackRest compression type.", {
    default: "lz4",
    roles: ["env"],
  }),
  backupRepoEncryption: key(
    bool,
    "boolean",
    "Encrypt the pgBackRest repositories (aes-256-cbc, generated passphrase). Always on in prod and staging.",
    {
      default: "true",
      roles: ["env"],
    },
  ),
  backupObjectLockDays: key(
    int(0, 3650),
    "integer",
    "Object Lock (governance) default retention in days on the backup bucket; 0: none. Can be turned on later without a new bucket; S3 cannot turn Object Lock off again (0 then only stops managing it).",
    {
      default: "0",
      roles: ["env"],
    },
  ),
  backupMinioImage: key(image, "string", "MinIO image used when backupStorage is minio.", {
    default: "minio/minio:RELEASE.2024-10-13T13-34-11Z",
    roles: ["env"],
  }),

  // Monitoring
  monitoringEnabled: key(bool, "boolean", "Run Prometheus, Alertmanager, Grafana and the exporters.", {
    envDefault: { prod: "true", staging: "true", local: "false" },
    roles: ["env"],
  }),
  monitoringRetentionDays: key(int(1, 3650), "integer", "Days Prometheus keeps samples.", {
    default: "15",
    roles: ["env"],
  }),
  monitoringScrapeIntervalSeconds: key(int(5, 300), "integer", "Prometheus scrape and evaluation interval.", {
    default: "15",
    roles: ["env"],
  }),
  prometheusImage: key(image, "string", "Prometheus image.", {
    default: "prom/prometheus:v2.42.0",
    roles: ["env"],
  }),
  alertmanagerImage: key(image, "string", "Alertmanager image.", {
    default: "prom/alertmanager:v0.25.0",
    roles: ["env"],
  }),
  grafanaImage: key(image, "string", "Grafana image.", { default: "grafana/grafana:10.4.8", roles: ["env"] }),
  nodeExporterImage: key(image, "string", "node_exporter image.", {
    default: "prom/node-exporter:v1.5.0",
    roles: ["env"],
  }),
  postgresExporterImage: key(image, "string", "postgres_exporter image.", {
    default: "quay.io/prometheuscommunity/postgres-exporter:v0.11.1",
    roles: ["env"],
  }),
  redisExporterImage: key(image, "string", "redis_exporter image.", {
    default: "oliver006/redis_exporter:v1.45.0-alpine",
    roles: ["env"],
  }),
  blackboxExporterImage: key(image, "string", "blackbox_exporter image.", {
    default: "prom/blackbox-exporter:v0.23.0",
    roles: ["env"],
  }),

  // Alert receivers
  alertPagerWebhookUrl: key(
    url,
    "string",
    "Webhook that pages the on-call person (critical alerts); https:// in prod and staging.",
    {
      secret: true,
      roles: ["env"],
    },
  ),
  alertSlackWebhookUrl: key(
    url,
    "string",
    "Slack incoming webhook (warning alerts); https:// in prod and staging.",
    {
      secret: true,
      roles: ["env"],
    },
  ),
  alertTeamsWebhookUrl: key(
    url,
    "string",
    "Warning alerts for Microsoft Teams: a URL that takes Alertmanager's webhook JSON and posts to Teams (prometheus-msteams, a Power Automate flow); Alertmanager 0.25 cannot post to a Teams incoming webhook itself.",
    { secret: true, roles: ["env"] },
  ),
  alertEmailTo: key(emailList, "array", "E-mail addresses that receive critical alerts (at least one).", {
    roles: ["env"],
  }),
  alertEmailFrom: key(
    z.email({ message: "expected an e-mail address" }),
    "string",
    "Sender address of alert e-mails.",
    { roles: ["env"] },
  ),
  alertSmtpSmarthost: key(checked(hostPortError), "string", "SMTP relay for alert e-mails (host:port).", {
    roles: ["env"],
  }),
  alertSmtpUsername: key(
    z.string().regex(SMTP_USER_NAME, { message: "expected an SMTP user name (printable, no spaces)" }),
    "string",
    "SMTP user name.",
    { roles: ["env"] },
  ),
  alertSmtpPassword: key(z.string().min(1, { message: "expected a password" }), "string", "SMTP password.", {
    secret: true,
    roles: ["env"],
  }),
  alertDeadMansSwitchUrl: key(
    url,
    "string",
    "Heartbeat URL that expects the Watchdog alert continuously; https:// in prod and staging.",
    {
      secret: true,
      roles: ["env"],
    },
  ),
} as const;

export type KeyName = keyof typeof KEYS;
export const KEY_NAMES = Object.keys(KEYS) as KeyName[];
