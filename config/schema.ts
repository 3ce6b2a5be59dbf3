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
import { maxConnectionsFor } from "../renderers/haproxy-config";
import {
  KEYS,
  KEY_NAMES,
  PROJECT,
  ENVIRONMENTS,
  ROLES,
  type Colour,
  type Environment,
  type KeyName,
  type KeySpec,
  type Role,
} from "./keys";
import { isNear, nearest } from "./suggest";
import {
  awsPartition,
  controlCharacterError,
  DOCKER_TLS_PORT,
  httpUrlError,
  parseDockerHost,
  pathsOverlap,
} from "./values";

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
    /** The stack file the configuration comes from. */
    readonly file = `Pulumi.${stackName}.yaml`,
  ) {
    super(
      `Invalid configuration for stack "${stackName}" in ${file} (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
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
    /** Per-server maxconn: requests one backend replica is given at a time. */
    serverMaxConn: number;
    /** Seconds a request waits in the edge's queue for a replica before its 503. */
    queueTimeoutSeconds: number;
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
  /** The stack file the values come from, named in errors. Default `Pulumi.<stack>.yaml`. */
  file?: string;
  /**
   * The values include Pulumi.yaml's declared defaults, as the Pulumi engine passes them: a value
   * equal to its declared default may then not have been set by the stack file.
   */
  includesDeclaredDefaults?: boolean;
}

/** What the stack name says about the stack (`prod`, `prod-blue`). */
export function stackIdentity(stack: string): { environment?: string; role: Role; slot?: string } {
  const match = /^(.+)-(blue|green)$/.exec(stack);
  return match
    ? { environment: match[1], role: "slot", slot: match[2] }
    : { environment: stack, role: "env" };
}

/**
 * Namespaces other than the project's that a stack file may hold: Pulumi's own and those of the
 * providers this program uses (`aws:region`, `docker:host`). Any other namespace is a misspelt
 * project namespace or belongs to nothing here: either way its keys would be silently ignored.
 */
export const PROVIDER_NAMESPACES = ["aws", "command", "docker", "pulumi", "random", "tls"] as const;

const full = (name: string) => `${PROJECT}:${name}`;
const isKeyName = (name: string): name is KeyName => (KEY_NAMES as string[]).includes(name);
const rolesOf = (name: KeyName): readonly Role[] => (KEYS[name] as KeySpec).roles ?? ROLES;

/** Why a key set in a stack of the other role is refused, and where it belongs. */
function wrongRoleMessage(name: KeyName, role: Role, env: Environment | undefined): string {
  const envName = env ?? "<env>";
  if (role === "slot") {
    const reason =
      name === "dockerHost"
        ? "a slot stack deploys to its env stack's Docker host (the env stack's dockerHost output)"
        : "a slot stack holds only its backend containers and reads the rest from its env stack";
    return `applies to env stacks only (${reason}): set it in Pulumi.${envName}.yaml, not in this slot stack`;
  }
  return `applies to slot stacks only (the backend containers of one colour): set it in Pulumi.${envName}-blue.yaml or Pulumi.${envName}-green.yaml, not in the env stack`;
}

/** Parses and validates raw config; throws `ConfigError` listing every problem. */
export function parseConfig(raw: RawConfig): InfraConfig {
  const file = raw.file ?? `Pulumi.${raw.stack}.yaml`;
  const issues: ConfigIssue[] = [];
  const add = (key: string, message: string) => issues.push({ key, message });
  const given: Partial<Record<KeyName, string>> = {};

  // ---- keys: namespaces, spelling ----
  for (const [rawKey, value] of Object.entries(raw.values)) {
    const colon = rawKey.indexOf(":");
    const [namespace, name] =
      colon >= 0 ? [rawKey.slice(0, colon), rawKey.slice(colon + 1)] : [PROJECT, rawKey];
    if (namespace !== PROJECT) {
      if ((PROVIDER_NAMESPACES as readonly string[]).includes(namespace)) continue;
      const hint =
        isKeyName(name) || isNear(namespace, PROJECT)
          ? `; did you mean ${full(isKeyName(name) ? name : nearest(name, KEY_NAMES))}?`
          : "";
      add(
        rawKey,
        `unknown namespace "${namespace}": expected ${PROJECT}: for this program's keys, or a provider namespace (${PROVIDER_NAMESPACES.join(", ")})${hint}`,
      );
      continue;
    }
    if (!isKeyName(name)) {
      add(
        full(name),
        `unknown key: did you mean ${full(nearest(name, KEY_NAMES))}? (every key is in Pulumi.yaml and the README's configuration reference)`,
      );
      continue;
    }
    given[name] = value;
  }

  // ---- identity: the stack name decides; config may only repeat it ----
  const identity = stackIdentity(raw.stack);
  const role = identity.role;
  const env = (ENVIRONMENTS as readonly string[]).includes(identity.environment ?? "")
    ? (identity.environment as Environment)
    : undefined;
  if (!env) {
    add(
      full("environment"),
      `the stack name "${raw.stack}" names no environment: expected one of ${ENVIRONMENTS.join(", ")}, or <env>-blue / <env>-green for a slot stack`,
    );
  }
  const derived: Record<"environment" | "role" | "slot", string | undefined> = {
    environment: env,
    role,
    slot: identity.slot,
  };
  for (const name of ["environment", "role", "slot"] as const) {
    const value = given[name];
    if (value === undefined || (name === "slot" && role === "env")) continue; // slot: the role check below
    const parsed = (KEYS[name].schema as z.ZodType).safeParse(value);
    if (!parsed.success) add(full(name), `${parsed.error.issues[0].message} (got ${JSON.stringify(value)})`);
    else if (derived[name] !== undefined && value !== derived[name]) {
      add(
        full(name),
        `contradicts the stack name "${raw.stack}" (${name} ${derived[name]}): expected ${derived[name]}, or no ${name} key at all (the stack name decides it)`,
      );
    }
  }

  // ---- every key: role, secrecy, control characters, its own schema ----
  const values: Record<string, unknown> = { environment: env, role, slot: identity.slot };
  for (const name of KEY_NAMES) {
    if (name === "environment" || name === "role" || name === "slot") {
      if (name === "slot" && role === "env" && given.slot !== undefined)
        add(full(name), wrongRoleMessage(name, role, env));
      continue;
    }
    const spec: KeySpec = KEYS[name];
    const isGiven = given[name] !== undefined;
    let value = given[name];
    if (!isGiven && env) {
      if (name === "envStack" && role === "slot")
        value = `${raw.organization ?? "organization"}/${PROJECT}/${env}`;
      else if (spec.envDefault) value = String(spec.envDefault[env]);
      else if (spec.default !== undefined) value = String(spec.default);
    }
    if (value === undefined) continue;
    // Under the real engine, Pulumi.yaml's declared defaults arrive as if set: a value equal to
    // the declared default cannot be told from one the stack file did not set.
    const declaredDefault =
      raw.includesDeclaredDefaults === true && spec.default !== undefined && value === String(spec.default);
    if (isGiven && !rolesOf(name).includes(role) && !declaredDefault) {
      add(full(name), wrongRoleMessage(name, role, env));
      continue;
    }
    if (spec.secret && isGiven && !raw.secretKeys.has(full(name))) {
      add(full(name), `is a secret: set it with \`pulumi config set --secret ${name}\``);
      continue;
    }
    const shown = spec.secret ? "[secret]" : JSON.stringify(value);
    const control = controlCharacterError(value, spec.multiline);
    if (control) {
      add(full(name), `${control} (got ${shown})`);
      continue;
    }
    const result = (spec.schema as z.ZodType).safeParse(value);
    if (result.success) values[name] = result.data;
    else for (const issue of result.error.issues) add(full(name), `${issue.message} (got ${shown})`);
  }

  if (env) crossFieldIssues(raw.stack, values, given, env, role).forEach((issue) => issues.push(issue));
  if (issues.length > 0) throw new ConfigError(raw.stack, issues, file);
  return build(values, raw.stack, env as Environment);
}

type Values = Record<string, unknown>;

/** Prod and staging: the seed's floors. */
const FLOORS = { localRetentionDays: 30, cloudRetentionDays: 90, prodArchiveTimeoutSeconds: 60 };

function crossFieldIssues(
  stack: string,
  v: Values,
  given: Partial<Record<KeyName, string>>,
  env: Environment,
  role: Role,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (name: string, message: string) => issues.push({ key: full(name), message });
  const addMissingSecret = (name: string, message: string) =>
    issues.push({ key: full(name), message, missingSecret: true });
  const has = (name: string) => v[name] !== undefined;
  const shared = env === "prod" || env === "staging"; // environments others rely on

  // ---- both roles: the registry ----
  if (env === "prod" && given.registryServer === undefined)
    add(
      "registryServer",
      `required in prod: the images the program builds are pushed there and run by digest (pulumi config set registryServer ghcr.io/<org>/<repo> -s ${stack})`,
    );
  if (has("registryServer")) {
    if (!has("registryPassword") && given.registryPassword === undefined)
      addMissingSecret(
        "registryPassword",
        "required when registryServer is set (pulumi config set --secret registryPassword <token>)",
      );
    if (!has("registryUsername") && given.registryUsername === undefined)
      add("registryUsername", "required when registryServer is set: the registry login needs a user name");
  } else if (given.registryServer === undefined) {
    for (const name of ["registryUsername", "registryPassword"])
      if (given[name as KeyName] !== undefined)
        add(name, "is used only with registryServer: set registryServer too, or remove it");
  }

  if (role === "slot") {
    if (v.envStack !== undefined) {
      const parts = String(v.envStack).split("/");
      const [refStack, project] = [parts[parts.length - 1], parts.length === 3 ? parts[1] : PROJECT];
      if (parts.length === 2)
        add(
          "envStack",
          `expected <org>/${PROJECT}/${env} (org/project/stack) or ${env}; a two-part name is ambiguous`,
        );
      else if (project !== PROJECT || refStack !== env)
        add(
          "envStack",
          `expected the env stack of this slot's project and environment, <org>/${PROJECT}/${env}; got ${String(v.envStack)}`,
        );
    }
    if (env === "prod" && has("backendImage") && !hasDigest(String(v.backendImage)))
      add("backendImage", "prod images must be pinned by digest (name:tag@sha256:...)");
    if ((v.backendMemory as number) < 128)
      add("backendMemory", `expected at least 128m for the backend (got ${String(v.backendMemory)}m)`);
    return issues;
  }

  // ---- env stacks ----
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
  if (
    has("backupReplicaRegion") &&
    has("backupRegion") &&
    awsPartition(String(v.backupReplicaRegion)) !== awsPartition(String(v.backupRegion))
  ) {
    add(
      "backupReplicaRegion",
      `expected a region in backupRegion's partition (${awsPartition(String(v.backupRegion))}): S3 cannot replicate across partitions`,
    );
  }
  if (v.edgeHttpPort === v.edgeHttpsPort) add("edgeHttpsPort", "must differ from edgeHttpPort");
  // One replica can never hold more than the whole edge: a larger per-server limit never applies.
  if (typeof v.containerOpenFilesLimit === "number" && typeof v.edgeServerMaxConn === "number") {
    const edgeLimit = maxConnectionsFor(v.containerOpenFilesLimit);
    if (v.edgeServerMaxConn > edgeLimit)
      add(
        "edgeServerMaxConn",
        `expected at most ${edgeLimit}, the edge's whole connection limit with containerOpenFilesLimit ${v.containerOpenFilesLimit} (got ${v.edgeServerMaxConn})`,
      );
  }
  if (v.edgeTlsMode === "provided") {
    if (!has("edgeTlsCert") && given.edgeTlsCert === undefined)
      addMissingSecret(
        "edgeTlsCert",
        "required when edgeTlsMode is provided (pulumi config set --secret edgeTlsCert < cert.pem)",
      );
    if (!has("edgeTlsKey") && given.edgeTlsKey === undefined)
      addMissingSecret(
        "edgeTlsKey",
        "required when edgeTlsMode is provided (pulumi config set --secret edgeTlsKey < key.pem)",
      );
  } else if (v.edgeTlsMode === "self-signed") {
    for (const name of ["edgeTlsCert", "edgeTlsKey"])
      if (given[name as KeyName] !== undefined)
        add(name, "is used only when edgeTlsMode is provided: the self-signed mode generates its own");
  }
  const emailKeys = ["alertEmailTo", "alertEmailFrom", "alertSmtpSmarthost"];
  const emailGiven = emailKeys.filter((k) => given[k as KeyName] !== undefined);
  if (emailGiven.length > 0 && emailGiven.length < emailKeys.length) {
    for (const k of emailKeys.filter((k) => given[k as KeyName] === undefined))
      add(k, "alert e-mail needs alertEmailTo, alertEmailFrom and alertSmtpSmarthost");
  }
  // SMTP authentication is a pair: a user name without its password fails at the first alert.
  if (given.alertSmtpUsername !== undefined && given.alertSmtpPassword === undefined)
    addMissingSecret(
      "alertSmtpPassword",
      "required when alertSmtpUsername is set (pulumi config set --secret alertSmtpPassword <password>)",
    );
  if (emailGiven.length === 0) {
    for (const name of ["alertSmtpUsername", "alertSmtpPassword"])
      if (given[name as KeyName] !== undefined)
        add(
          name,
          "is used only with alert e-mail: set alertEmailTo, alertEmailFrom and alertSmtpSmarthost too",
        );
  }
  if ((v.postgresMemory as number) < 256)
    add("postgresMemory", `expected at least 256m for PostgreSQL (got ${String(v.postgresMemory)}m)`);
  if ((v.redisMemory as number) < 32)
    add("redisMemory", `expected at least 32m for Redis (got ${String(v.redisMemory)}m)`);
  if (
    has("postgresDataPath") &&
    has("redisDataPath") &&
    pathsOverlap(String(v.postgresDataPath), String(v.redisDataPath))
  )
    add(
      "redisDataPath",
      "must not be postgresDataPath or lie inside it (or contain it): each service owns its directory",
    );

  // The default suits a laptop only: elsewhere it would name the edge's URL and the public probe's
  // target after the Docker host itself.
  if (env !== "local" && v.publicHostname === "localhost")
    add("publicHostname", `${env} must set the public host name the edge serves (got localhost)`);

  if (env === "local") {
    if (v.backupStorage === "aws")
      add(
        "backupStorage",
        "local stacks stay free: expected minio (the MinIO stand-in); aws would create billable S3 buckets and KMS keys",
      );
  }

  if (shared) {
    if (v.backupStorage === "minio")
      add("backupStorage", `expected aws: ${env} must back up to AWS S3, not the local MinIO stand-in`);
    if (v.edgeTlsMode === "self-signed")
      add(
        "edgeTlsMode",
        `expected provided: ${env} must serve a provided certificate, not a self-signed one`,
      );
    if ((v.backupLocalRetentionDays as number) < FLOORS.localRetentionDays)
      add(
        "backupLocalRetentionDays",
        `expected at least ${FLOORS.localRetentionDays} days: ${env} keeps local backups at least ${FLOORS.localRetentionDays} days (got ${String(v.backupLocalRetentionDays)})`,
      );
    if ((v.backupCloudRetentionDays as number) < FLOORS.cloudRetentionDays)
      add(
        "backupCloudRetentionDays",
        `expected at least ${FLOORS.cloudRetentionDays} days: ${env} keeps cloud backups at least ${FLOORS.cloudRetentionDays} days (got ${String(v.backupCloudRetentionDays)})`,
      );
    if (v.backupRepoEncryption === false)
      add("backupRepoEncryption", `expected true: ${env} encrypts its backup repositories`);
    if (has("dockerHost")) {
      const parsed = parseDockerHost(String(v.dockerHost));
      if ("transport" in parsed && parsed.transport !== "ssh" && parsed.transport !== "tcp-tls")
        add(
          "dockerHost",
          `expected ssh:// or TLS (tcp:// on port ${DOCKER_TLS_PORT}): ${env} reaches its Docker host over ssh:// or TLS; got ${parsed.transport === "tcp" ? "plain tcp://" : "a local unix:// socket, which deploys to the machine running Pulumi"}`,
        );
    }
    for (const name of ["alertPagerWebhookUrl", "alertSlackWebhookUrl", "alertDeadMansSwitchUrl"]) {
      if (has(name) && httpUrlError(String(v[name]), true))
        add(name, `${env} sends alerts over TLS: expected an https:// URL (got [secret])`);
    }
  }

  if (env === "prod") {
    if ((v.postgresArchiveTimeoutSeconds as number) > FLOORS.prodArchiveTimeoutSeconds)
      add(
        "postgresArchiveTimeoutSeconds",
        `expected at most ${FLOORS.prodArchiveTimeoutSeconds}: prod archives WAL at least every ${FLOORS.prodArchiveTimeoutSeconds} s, the seed's RPO (got ${String(v.postgresArchiveTimeoutSeconds)})`,
      );
    if (v.monitoringEnabled === false) add("monitoringEnabled", "expected true: prod must run monitoring");
    if (
      !has("alertPagerWebhookUrl") &&
      !has("alertEmailTo") &&
      given.alertPagerWebhookUrl === undefined &&
      given.alertEmailTo === undefined
    ) {
      addMissingSecret(
        "alertPagerWebhookUrl",
        "prod needs a critical-alert receiver: set alertPagerWebhookUrl (pulumi config set --secret) or alertEmailTo",
      );
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
      serverMaxConn: num("edgeServerMaxConn"),
      queueTimeoutSeconds: num("edgeQueueTimeoutSeconds"),
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
