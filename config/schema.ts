/**
 * The configuration schema: raw Pulumi config strings -> one typed `InfraConfig`.
 *
 * `parseConfig` is pure (no Pulumi engine): it applies defaults, validates every key,
 * runs the cross-field rules and reports *every* problem in one `ConfigError`, each
 * named by its full key (`backend-infra:postgresMemory`). Components receive the typed
 * result and never read `pulumi.Config` themselves.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { hasDigest } from "../lib/image-ref";
import {
  KEYS,
  KEY_NAMES,
  PROJECT,
  ENVIRONMENTS,
  COLOURS,
  type Colour,
  type Environment,
  type KeyName,
} from "./keys";

export { PROJECT, type Colour, type Environment };

export interface ConfigIssue {
  /** Full key, e.g. `backend-infra:postgresMemory`. */
  key: string;
  message: string;
  /** The problem is a required secret that is not set (offline plans fill a placeholder). */
  missingSecret?: boolean;
}

export class ConfigError extends Error {
  constructor(
    readonly stackName: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      `Invalid configuration for stack "${stackName}" (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
        issues.map((i) => `  - ${i.key}: ${i.message}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

/** A secret value: a Pulumi secret Output, never a plain string. */
export type Secret = pulumi.Output<string>;

export interface ContainerLimits {
  /** Memory limit in MB. */
  memoryMb: number;
  /** CPU limit (fractional CPUs). */
  cpus: number;
}

export interface BackupSchedules {
  full: string;
  diff: string;
  logical: string;
  redis: string;
  verify: string;
  drill: string;
}

/** The typed configuration every component receives. */
export interface InfraConfig {
  project: string;
  stack: string;
  environment: Environment;
  role: "env" | "slot";
  /** Prefix of every container, network and volume name: `<project>-<environment>`. */
  namePrefix: string;
  dockerHost: string;
  /** `ulimit nofile` of every container. */
  containerOpenFilesLimit: number;
  publicHostname: string;
  registry?: { server: string; username?: string; password?: Secret };
  postgres: ContainerLimits & {
    baseImage: string;
    database: string;
    user: string;
    dataPath?: string;
    archiveTimeoutSeconds: number;
    maxConnections?: number;
  };
  redis: ContainerLimits & {
    image: string;
    maxmemoryPolicy: string;
    dataPath?: string;
  };
  slot?: {
    colour: Colour;
    envStack: string;
  };
  backend: ContainerLimits & {
    /** Unset: build examples/backend. */
    image?: string;
    replicas: number;
    stopTimeoutSeconds: number;
    /** The port the backend listens on inside its container. */
    port: number;
  };
  edge: ContainerLimits & {
    image: string;
    httpPort: number;
    httpsPort: number;
    tls: { mode: "self-signed" } | { mode: "provided"; cert: Secret; key: Secret };
    rateLimitPer10s: number;
  };
  traffic: { active: Colour; canaryPercent: number };
  backups: {
    storage: "aws" | "minio";
    region: string;
    replicaRegion?: string;
    bucketName?: string;
    localRetentionDays: number;
    cloudRetentionDays: number;
    schedules: BackupSchedules;
    compression: "lz4" | "zst" | "gz";
    repoEncryption: boolean;
    objectLockDays: number;
    minioImage: string;
  };
  monitoring: {
    enabled: boolean;
    retentionDays: number;
    scrapeIntervalSeconds: number;
    images: {
      prometheus: string;
      alertmanager: string;
      grafana: string;
      nodeExporter: string;
      postgresExporter: string;
      redisExporter: string;
      blackboxExporter: string;
    };
  };
  alerting: {
    pagerWebhookUrl?: Secret;
    slackWebhookUrl?: Secret;
    teamsWebhookUrl?: Secret;
    email?: { to: string[]; from: string; smarthost: string; username?: string; password?: Secret };
    deadMansSwitchUrl?: Secret;
  };
}

export interface RawConfig {
  /** Stack name, e.g. `prod` or `prod-blue`. */
  stack: string;
  /** Pulumi organization, used for the default env stack reference. */
  organization?: string;
  /** Config values keyed by full key (`backend-infra:postgresMemory`) or bare key. */
  values: Record<string, string>;
  /** Full keys whose values are Pulumi secrets. */
  secretKeys: ReadonlySet<string>;
}

/** What the stack name says about the stack (`prod`, `prod-blue`). */
export function stackIdentity(stack: string): { environment?: string; role: "env" | "slot"; slot?: string } {
  const match = /^(.+)-(blue|green)$/.exec(stack);
  return match
    ? { environment: match[1], role: "slot", slot: match[2] }
    : { environment: stack, role: "env" };
}

const full = (name: string) => `${PROJECT}:${name}`;

/** Parses and validates raw config; throws `ConfigError` listing every problem. */
export function parseConfig(raw: RawConfig): InfraConfig {
  const issues: ConfigIssue[] = [];
  const given: Partial<Record<KeyName, string>> = {};

  for (const [rawKey, value] of Object.entries(raw.values)) {
    const [namespace, name] = rawKey.includes(":") ? rawKey.split(/:(.*)/s, 2) : [PROJECT, rawKey];
    if (namespace !== PROJECT) continue; // provider keys such as aws:region belong to providers
    if (!(KEY_NAMES as string[]).includes(name)) {
      issues.push({
        key: full(name),
        message: `unknown key; expected one of the keys documented in Pulumi.yaml`,
      });
      continue;
    }
    given[name as KeyName] = value;
  }

  // Identity first: defaults of other keys depend on the environment.
  const identity = stackIdentity(raw.stack);
  const envValue = given.environment ?? identity.environment;
  const environment = z.enum(ENVIRONMENTS).safeParse(envValue);
  if (!environment.success) {
    issues.push({
      key: full("environment"),
      message: `expected one of ${ENVIRONMENTS.join(", ")}; got "${envValue}" (from ${given.environment ? "config" : "the stack name"})`,
    });
    throw new ConfigError(raw.stack, issues);
  }
  const env = environment.data;

  const values: Record<string, unknown> = {};
  for (const name of KEY_NAMES) {
    const spec = KEYS[name];
    let value: string | undefined = given[name];
    if (value === undefined) {
      if (name === "role") value = identity.role;
      else if (name === "slot") value = identity.slot;
      else if (name === "environment") value = env;
      else if (name === "envStack" && identity.role === "slot") {
        value = `${raw.organization ?? "organization"}/${PROJECT}/${env}`;
      } else if ("envDefault" in spec && spec.envDefault) value = String(spec.envDefault[env]);
      else if ("default" in spec && spec.default !== undefined) value = String(spec.default);
    }
    if (value === undefined) continue;
    if ("secret" in spec && spec.secret && given[name] !== undefined && !raw.secretKeys.has(full(name))) {
      issues.push({
        key: full(name),
        message: `is a secret: set it with \`pulumi config set --secret ${name}\``,
      });
      continue;
    }
    const result = (spec.schema as z.ZodType).safeParse(value);
    if (result.success) values[name] = result.data;
    else {
      const shown = "secret" in spec && spec.secret ? "[secret]" : JSON.stringify(value);
      for (const issue of result.error.issues) {
        issues.push({ key: full(name), message: `${issue.message} (got ${shown})` });
      }
    }
  }

  crossFieldIssues(values, env, identity.role).forEach((issue) => issues.push(issue));
  if (issues.length > 0) throw new ConfigError(raw.stack, issues);
  return build(values, raw.stack, env);
}

type Values = Record<string, unknown>;

function crossFieldIssues(v: Values, env: Environment, role: "env" | "slot"): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (name: string, message: string) => issues.push({ key: full(name), message });
  const addMissingSecret = (name: string, message: string) =>
    issues.push({ key: full(name), message, missingSecret: true });
  const has = (name: string) => v[name] !== undefined;

  if (v.role === "slot" && !has("slot"))
    add("slot", "a slot stack needs a colour: name the stack <env>-blue or <env>-green, or set slot");
  if (v.role === "env" && has("slot"))
    add("slot", "only slot stacks have a colour; remove slot or set role: slot");
  if (has("slot") && !(COLOURS as readonly string[]).includes(String(v.slot)))
    add("slot", "expected blue or green");

  if ((v.backupLocalRetentionDays as number) > (v.backupCloudRetentionDays as number)) {
    add(
      "backupLocalRetentionDays",
      `must not exceed backupCloudRetentionDays (${String(v.backupCloudRetentionDays)})`,
    );
  }
  if (has("backupReplicaRegion") && v.backupReplicaRegion === v.backupRegion) {
    add(
      "backupReplicaRegion",
      "must differ from backupRegion: a replica in the same region does not survive a regional outage",
    );
  }
  if (has("backupReplicaRegion") && v.backupStorage === "minio") {
    add(
      "backupReplicaRegion",
      "cross-region replication is AWS S3's: unset it, or set backupStorage to aws (MinIO has no replica)",
    );
  }
  if (v.edgeHttpPort === v.edgeHttpsPort) add("edgeHttpsPort", "must differ from edgeHttpPort");
  if (v.edgeTlsMode === "provided") {
    if (!has("edgeTlsCert"))
      addMissingSecret(
        "edgeTlsCert",
        "required when edgeTlsMode is provided (pulumi config set --secret edgeTlsCert < cert.pem)",
      );
    if (!has("edgeTlsKey"))
      addMissingSecret(
        "edgeTlsKey",
        "required when edgeTlsMode is provided (pulumi config set --secret edgeTlsKey < key.pem)",
      );
  }
  if (has("registryServer") && !has("registryPassword")) {
    addMissingSecret(
      "registryPassword",
      "required when registryServer is set (pulumi config set --secret registryPassword)",
    );
  }
  const emailKeys = ["alertEmailTo", "alertEmailFrom", "alertSmtpSmarthost"];
  if (emailKeys.some(has) && !emailKeys.every(has)) {
    add(
      emailKeys.find((k) => !has(k)) as string,
      "alert e-mail needs alertEmailTo, alertEmailFrom and alertSmtpSmarthost",
    );
  }
  if ((v.postgresMemory as number) < 256)
    add("postgresMemory", `expected at least 256m for PostgreSQL (got ${String(v.postgresMemory)}m)`);
  if ((v.redisMemory as number) < 32)
    add("redisMemory", `expected at least 32m for Redis (got ${String(v.redisMemory)}m)`);
  if ((v.backendMemory as number) < 128)
    add("backendMemory", `expected at least 128m for the backend (got ${String(v.backendMemory)}m)`);

  // The default suits a laptop only: elsewhere it would name the edge's URL and the public probe's
  // target after the Docker host itself.
  if (role === "env" && env !== "local" && v.publicHostname === "localhost")
    add("publicHostname", `${env} must set the public host name the edge serves (got localhost)`);

  if (env === "prod") {
    if (v.backupStorage === "minio")
      add("backupStorage", "prod must back up to AWS S3, not the local MinIO stand-in");
    if (v.edgeTlsMode === "self-signed")
      add("edgeTlsMode", "prod must serve a provided certificate, not a self-signed one");
    if (v.monitoringEnabled === false) add("monitoringEnabled", "prod must run monitoring");
    if (!has("alertPagerWebhookUrl") && !has("alertEmailTo")) {
      addMissingSecret(
        "alertPagerWebhookUrl",
        "prod needs a critical-alert receiver: set alertPagerWebhookUrl or alertEmailTo",
      );
    }
    for (const name of ["backendImage"]) {
      if (has(name) && !hasDigest(String(v[name])))
        add(name, "prod images must be pinned by digest (name:tag@sha256:...)");
    }
  }
  return issues;
}

function build(v: Values, stack: string, environment: Environment): InfraConfig {
  const str = (name: string) => v[name] as string;
  const num = (name: string) => v[name] as number;
  const opt = <T>(name: string) => v[name] as T | undefined;
  const secret = (name: string) => (v[name] === undefined ? undefined : pulumi.secret(str(name)));

  return {
    project: PROJECT,
    stack,
    environment,
    role: v.role as "env" | "slot",
    namePrefix: `${PROJECT}-${environment}`,
    dockerHost: str("dockerHost"),
    containerOpenFilesLimit: num("containerOpenFilesLimit"),
    publicHostname: str("publicHostname"),
    registry: v.registryServer
      ? {
          server: str("registryServer"),
          username: opt("registryUsername"),
          password: secret("registryPassword"),
        }
      : undefined,
    postgres: {
      baseImage: str("postgresBaseImage"),
      database: str("postgresDatabase"),
      user: str("postgresUser"),
      memoryMb: num("postgresMemory"),
      cpus: num("postgresCpus"),
      dataPath: opt("postgresDataPath"),
      archiveTimeoutSeconds: num("postgresArchiveTimeoutSeconds"),
      maxConnections: opt("postgresMaxConnections"),
    },
    redis: {
      image: str("redisImage"),
      memoryMb: num("redisMemory"),
      cpus: num("redisCpus"),
      maxmemoryPolicy: str("redisMaxmemoryPolicy"),
      dataPath: opt("redisDataPath"),
    },
    slot: v.role === "slot" ? { colour: v.slot as Colour, envStack: str("envStack") } : undefined,
    backend: {
      image: opt("backendImage"),
      replicas: num("backendReplicas"),
      memoryMb: num("backendMemory"),
      cpus: num("backendCpus"),
      stopTimeoutSeconds: num("backendStopTimeoutSeconds"),
      port: 4000,
    },
    edge: {
      image: str("edgeImage"),
      httpPort: num("edgeHttpPort"),
      httpsPort: num("edgeHttpsPort"),
      tls:
        v.edgeTlsMode === "provided"
          ? { mode: "provided", cert: secret("edgeTlsCert") as Secret, key: secret("edgeTlsKey") as Secret }
          : { mode: "self-signed" },
      rateLimitPer10s: num("edgeRateLimitPer10s"),
      memoryMb: num("edgeMemory"),
      cpus: num("edgeCpus"),
    },
    traffic: { active: v.trafficActive as Colour, canaryPercent: num("trafficCanaryPercent") },
    backups: {
      storage: v.backupStorage as "aws" | "minio",
      region: str("backupRegion"),
      replicaRegion: opt("backupReplicaRegion"),
      bucketName: opt("backupBucketName"),
      localRetentionDays: num("backupLocalRetentionDays"),
      cloudRetentionDays: num("backupCloudRetentionDays"),
      schedules: {
        full: str("backupFullSchedule"),
        diff: str("backupDiffSchedule"),
        logical: str("backupLogicalSchedule"),
        redis: str("backupRedisSchedule"),
        verify: str("backupVerifySchedule"),
        drill: str("backupDrillSchedule"),
      },
      compression: v.backupCompression as "lz4" | "zst" | "gz",
      repoEncryption: v.backupRepoEncryption as boolean,
      objectLockDays: num("backupObjectLockDays"),
      minioImage: str("backupMinioImage"),
    },
    monitoring: {
      enabled: v.monitoringEnabled as boolean,
      retentionDays: num("monitoringRetentionDays"),
      scrapeIntervalSeconds: num("monitoringScrapeIntervalSeconds"),
      images: {
        prometheus: str("prometheusImage"),
        alertmanager: str("alertmanagerImage"),
        grafana: str("grafanaImage"),
        nodeExporter: str("nodeExporterImage"),
        postgresExporter: str("postgresExporterImage"),
        redisExporter: str("redisExporterImage"),
        blackboxExporter: str("blackboxExporterImage"),
      },
    },
    alerting: {
      pagerWebhookUrl: secret("alertPagerWebhookUrl"),
      slackWebhookUrl: secret("alertSlackWebhookUrl"),
      teamsWebhookUrl: secret("alertTeamsWebhookUrl"),
      email: v.alertEmailTo
        ? {
            to: v.alertEmailTo as string[],
            from: str("alertEmailFrom"),
            smarthost: str("alertSmtpSmarthost"),
            username: opt("alertSmtpUsername"),
            password: secret("alertSmtpPassword"),
          }
        : undefined,
      deadMansSwitchUrl: secret("alertDeadMansSwitchUrl"),
    },
  };
}
