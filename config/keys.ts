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
import { EVICTION_POLICIES } from "../renderers/redis-conf";

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
  .refine((mb) => mb >= 16, { message: "expected at least 16m" });

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

export const cron = z.string().superRefine((value, ctx) => {
  const problem = cronError(value);
  if (problem) ctx.addIssue({ code: "custom", message: `expected a cron expression: ${problem}` });
});

export const absolutePath = z
  .string()
  .regex(/^\/[^\0]*$/, { message: "expected an absolute host path like /opt/data/postgres" })
  .refine((p) => !p.split("/").includes(".."), { message: "expected a path without .." });

export const url = z.url({ message: "expected a URL like https://host/path" });

export const stringArray = z
  .string()
  .transform((value, ctx) => {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: 'expected a JSON array of strings like ["a@example.com"]' });
      return z.NEVER;
    }
  })
  .pipe(z.array(z.string().min(1), { message: "expected an array of strings" }));

export const hostname = z
  .string()
  .regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, {
    message: "expected a DNS host name like api.example.com",
  });

const awsRegion = z
  .string()
  .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, { message: "expected an AWS region like eu-west-1" });

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
    "Environment this stack belongs to: prod, staging or local.",
    {
      derived: "the stack name (`prod`, `prod-blue` -> prod)",
    },
  ),
  role: key(
    z.enum(["env", "slot"]),
    "string",
    "env: data, edge, monitoring, backups. slot: one colour of backend containers.",
    {
      derived: "the stack name (`<env>` -> env, `<env>-<blue|green>` -> slot)",
    },
  ),
  slot: key(z.enum(COLOURS), "string", "Colour of a slot stack: blue or green.", {
    derived: "the stack name suffix",
  }),
  envStack: key(
    z.string().min(1),
    "string",
    "Slot stacks: the env stack to read through a StackReference (org/project/stack).",
    {
      derived: "`<org>/backend-infra/<env>`",
    },
  ),
  dockerHost: key(
    z.string().regex(/^(unix|ssh|tcp):\/\/.+/, {
      message: "expected unix://, ssh:// or tcp:// followed by an address",
    }),
    "string",
    "Docker engine the stack deploys to.",
    { default: "unix:///var/run/docker.sock" },
  ),
  publicHostname: key(
    hostname,
    "string",
    "Public host name served by the edge (TLS certificate subject). The default is for local stacks only: staging and prod env stacks must set it.",
    {
      default: "localhost",
    },
  ),

  // Image registry for the images this project builds (postgres+pgBackRest, backup runner, backend)
  registryServer: key(
    z.string().min(1),
    "string",
    "Registry to push built images to (e.g. ghcr.io/acme). Unset: build on the docker host only.",
  ),
  registryUsername: key(z.string().min(1), "string", "Registry user name."),
  registryPassword: key(z.string().min(1), "string", "Registry password or token.", { secret: true }),

  // PostgreSQL
  postgresBaseImage: key(image, "string", "Official PostgreSQL image the pgBackRest image is built FROM.", {
    default: "postgres:15.10-bookworm",
  }),
  postgresDatabase: key(
    z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { message: "expected a lower-case SQL identifier" }),
    "string",
    "Application database name.",
    { default: "app" },
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
    { default: "app" },
  ),
  postgresMemory: key(
    memory,
    "string",
    "Memory limit of the PostgreSQL container; settings are tuned from it.",
    {
      envDefault: { prod: "4g", staging: "2g", local: "1g" },
    },
  ),
  postgresCpus: key(cpus, "string", "CPU limit of the PostgreSQL container.", {
    envDefault: { prod: "2", staging: "1", local: "1" },
  }),
  postgresDataPath: key(
    absolutePath,
    "string",
    "Host directory for the data (bind mount, like the seed's /opt/data/postgres). Unset: a named volume.",
  ),
  postgresArchiveTimeoutSeconds: key(
    int(1, 3600),
    "integer",
    "archive_timeout: the longest a WAL segment stays unarchived (the RPO bound).",
    {
      default: "60",
    },
  ),
  postgresMaxConnections: key(
    int(10, 5000),
    "integer",
    "max_connections. Unset: derived from the memory limit.",
  ),

  // Redis
  redisImage: key(image, "string", "Redis image.", { default: "redis:7.2.6-bookworm" }),
  redisMemory: key(memory, "string", "Memory limit of the Redis container; maxmemory is 75% of it.", {
    envDefault: { prod: "1g", staging: "512m", local: "256m" },
  }),
  redisCpus: key(cpus, "string", "CPU limit of the Redis container.", { default: "1" }),
  redisMaxmemoryPolicy: key(
    z.enum(EVICTION_POLICIES),
    "string",
    "Eviction policy when maxmemory is reached; noeviction keeps session data safe.",
    { default: "noeviction" },
  ),
  redisDataPath: key(
    absolutePath,
    "string",
    "Host directory for Redis data (bind mount). Unset: a named volume.",
  ),

  // Backend slots
  backendImage: key(
    image,
    "string",
    "Backend image to run. Unset: build examples/backend on the docker host.",
  ),
  backendReplicas: key(int(1, 20), "integer", "Backend containers per slot.", {
    envDefault: { prod: "3", staging: "2", local: "1" },
  }),
  backendMemory: key(memory, "string", "Memory limit of each backend container.", { default: "512m" }),
  backendCpus: key(cpus, "string", "CPU limit of each backend container.", { default: "1" }),
  backendStopTimeoutSeconds: key(
    int(1, 600),
    "integer",
    "Seconds a backend has to drain after SIGTERM before it is killed.",
    {
      default: "30",
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
  edgeImage: key(image, "string", "HAProxy image.", { default: "haproxy:2.6.18-bookworm" }),
  edgeHttpPort: key(int(1, 65535), "integer", "Public HTTP port (redirects to HTTPS).", { default: "80" }),
  edgeHttpsPort: key(int(1, 65535), "integer", "Public HTTPS port.", { default: "443" }),
  edgeTlsMode: key(
    z.enum(["self-signed", "provided"]),
    "string",
    "self-signed: generate a certificate (not for prod). provided: edgeTlsCert + edgeTlsKey.",
    {
      envDefault: { prod: "provided", staging: "provided", local: "self-signed" },
    },
  ),
  edgeTlsCert: key(
    z.string().includes("BEGIN CERTIFICATE", { message: "expected a PEM certificate chain" }),
    "string",
    "PEM certificate chain for publicHostname.",
    {
      secret: true,
    },
  ),
  edgeTlsKey: key(
    z.string().includes("PRIVATE KEY", { message: "expected a PEM private key" }),
    "string",
    "PEM private key for edgeTlsCert.",
    {
      secret: true,
    },
  ),
  edgeRateLimitPer10s: key(
    int(1, 100000),
    "integer",
    "Requests one client IP may make in 10 s before it gets 429.",
    {
      default: "200",
    },
  ),
  edgeMemory: key(memory, "string", "Memory limit of the edge container.", { default: "256m" }),
  edgeCpus: key(cpus, "string", "CPU limit of the edge container.", { default: "1" }),

  // Traffic switch
  trafficActive: key(z.enum(COLOURS), "string", "Colour that serves production traffic.", {
    default: "blue",
  }),
  trafficCanaryPercent: key(
    int(0, 100),
    "integer",
    "Share of traffic (percent) sent to the other colour as a canary.",
    {
      default: "0",
    },
  ),

  // Backups
  backupStorage: key(
    z.enum(["aws", "minio"]),
    "string",
    "Cloud repository: AWS S3, or a MinIO container standing in for it (local only).",
    {
      envDefault: { prod: "aws", staging: "aws", local: "minio" },
    },
  ),
  backupRegion: key(awsRegion, "string", "AWS region of the backup bucket.", { default: "eu-west-1" }),
  backupReplicaRegion: key(
    awsRegion,
    "string",
    "Second region for cross-region replication (backupStorage aws only). Unset: no replica.",
    {},
  ),
  backupBucketName: key(
    z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
      message: "expected an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)",
    }),
    "string",
    "Name of the backup bucket. Unset: derived from project, environment and a random suffix.",
  ),
  backupLocalRetentionDays: key(int(1, 3650), "integer", "Days backups are kept in the local repository.", {
    default: "30",
  }),
  backupCloudRetentionDays: key(int(1, 3650), "integer", "Days backups are kept in the cloud repository.", {
    default: "90",
  }),
  backupFullSchedule: key(cron, "string", "Cron schedule of full pgBackRest backups.", {
    default: "0 3 * * 0",
  }),
  backupDiffSchedule: key(cron, "string", "Cron schedule of differential pgBackRest backups.", {
    default: "0 2 * * *",
  }),
  backupLogicalSchedule: key(cron, "string", "Cron schedule of the logical pg_dump.", {
    default: "30 2 * * *",
  }),
  backupRedisSchedule: key(cron, "string", "Cron schedule of the Redis RDB snapshot.", {
    default: "15 2 * * *",
  }),
  backupVerifySchedule: key(cron, "string", "Cron schedule of pgbackrest verify.", { default: "0 5 * * *" }),
  backupDrillSchedule: key(cron, "string", "Cron schedule of the restore drill.", { default: "0 4 * * 6" }),
  backupCompression: key(z.enum(["lz4", "zst", "gz"]), "string", "pgBackRest compression type.", {
    default: "lz4",
  }),
  backupRepoEncryption: key(
    bool,
    "boolean",
    "Encrypt the pgBackRest repositories (aes-256-cbc, generated passphrase).",
    {
      default: "true",
    },
  ),
  backupObjectLockDays: key(
    int(0, 3650),
    "integer",
    "Object Lock (governance) default retention in days on the backup bucket; 0: none. Can be turned on later without a new bucket; S3 cannot turn Object Lock off again (0 then only stops managing it).",
    {
      default: "0",
    },
  ),
  backupMinioImage: key(image, "string", "MinIO image used when backupStorage is minio.", {
    default: "minio/minio:RELEASE.2024-10-13T13-34-11Z",
  }),

  // Monitoring
  monitoringEnabled: key(bool, "boolean", "Run Prometheus, Alertmanager, Grafana and the exporters.", {
    envDefault: { prod: "true", staging: "true", local: "false" },
  }),
  monitoringRetentionDays: key(int(1, 3650), "integer", "Days Prometheus keeps samples.", { default: "15" }),
  monitoringScrapeIntervalSeconds: key(int(5, 300), "integer", "Prometheus scrape and evaluation interval.", {
    default: "15",
  }),
  prometheusImage: key(image, "string", "Prometheus image.", { default: "prom/prometheus:v2.42.0" }),
  alertmanagerImage: key(image, "string", "Alertmanager image.", { default: "prom/alertmanager:v0.25.0" }),
  grafanaImage: key(image, "string", "Grafana image.", { default: "grafana/grafana:10.4.8" }),
  nodeExporterImage: key(image, "string", "node_exporter image.", { default: "prom/node-exporter:v1.5.0" }),
  postgresExporterImage: key(image, "string", "postgres_exporter image.", {
    default: "quay.io/prometheuscommunity/postgres-exporter:v0.11.1",
  }),
  redisExporterImage: key(image, "string", "redis_exporter image.", {
    default: "oliver006/redis_exporter:v1.45.0-alpine",
  }),
  blackboxExporterImage: key(image, "string", "blackbox_exporter image.", {
    default: "prom/blackbox-exporter:v0.23.0",
  }),

  // Alert receivers
  alertPagerWebhookUrl: key(url, "string", "Webhook that pages the on-call person (critical alerts).", {
    secret: true,
  }),
  alertSlackWebhookUrl: key(url, "string", "Slack incoming webhook (warning alerts).", { secret: true }),
  alertTeamsWebhookUrl: key(
    url,
    "string",
    "Warning alerts for Microsoft Teams: a URL that takes Alertmanager's webhook JSON and posts to Teams (prometheus-msteams, a Power Automate flow); Alertmanager 0.25 cannot post to a Teams incoming webhook itself.",
    { secret: true },
  ),
  alertEmailTo: key(stringArray, "array", "E-mail addresses that receive critical alerts."),
  alertEmailFrom: key(
    z.email({ message: "expected an e-mail address" }),
    "string",
    "Sender address of alert e-mails.",
  ),
  alertSmtpSmarthost: key(
    z.string().regex(/^[^:\s]+:\d+$/, { message: "expected host:port" }),
    "string",
    "SMTP relay for alert e-mails (host:port).",
  ),
  alertSmtpUsername: key(z.string().min(1), "string", "SMTP user name."),
  alertSmtpPassword: key(z.string().min(1), "string", "SMTP password.", { secret: true }),
  alertDeadMansSwitchUrl: key(url, "string", "Heartbeat URL that expects the Watchdog alert continuously.", {
    secret: true,
  }),
} as const;

export type KeyName = keyof typeof KEYS;
export const KEY_NAMES = Object.keys(KEYS) as KeyName[];
