/**
 * pgbackrest.conf for the Postgres container (archive-push) and the backup runner (backup,
 * verify, restore): ONE rendered file used by both, so they always agree on stanza, paths and repos.
 *
 * repo1 = posix directory on a volume shared by Postgres and the runner (fast restores, short
 * retention); repo2 = S3 (off-site, long retention). WAL goes to both; `archive-async` with a
 * spool directory keeps archiving to repo1 going while S3 is unreachable. Secrets (S3 keys,
 * cipher passphrases) are NOT written here unless asked: pgBackRest reads them from the
 * environment (`PGBACKREST_REPO2_S3_KEY`, `PGBACKREST_REPO2_S3_KEY_SECRET`,
 * `PGBACKREST_REPO1_CIPHER_PASS`, `PGBACKREST_REPO2_CIPHER_PASS`), see `pgBackRestSecretEnv`.
 */

export type BackupCompression = "lz4" | "zst" | "gz";
export type PgBackRestLogLevel = "off" | "error" | "warn" | "info" | "detail" | "debug" | "trace";

export interface PgBackRestConfInput {
  /** Stanza name (the cluster's name in the repositories), e.g. `main`. */
  stanza: string;
  pg: {
    /** Data directory; must equal the server's `data_directory` (same path in every container). */
    path: string;
    /** Server port. Default 5432. */
    port?: number;
    /** Directory of the server's unix socket, e.g. `/var/run/postgresql`. */
    socketPath: string;
    /** Role pgBackRest connects as (a superuser or a role with pg_backup_start rights). Default postgres. */
    user?: string;
  };
  repo1: {
    /** Posix repository directory (a volume shared by Postgres and the runner). */
    path: string;
    /** Days full backups are kept (retention-full-type=time). */
    retentionDays: number;
  };
  /** S3 repository; omit for a local-only setup (tests, laptops without MinIO). */
  repo2?: {
    bucket: string;
    /** Endpoint host without scheme or port, e.g. `s3.eu-west-1.amazonaws.com` or `minio`. */
    endpoint: string;
    /** HTTPS port of the endpoint (`repo2-storage-port`). Default 443. */
    port?: number;
    region: string;
    /** `path` for MinIO and test endpoints, `host` (virtual-hosted) for AWS. */
    uriStyle: "path" | "host";
    /** Repository path inside the bucket. Default `/pgbackrest`. */
    path?: string;
    /** Days full backups are kept (retention-full-type=time). */
    retentionDays: number;
    /**
     * `env`: keys come from PGBACKREST_REPO2_S3_KEY / _KEY_SECRET (nothing secret in the file).
     * `instance-profile`: `repo2-s3-key-type=auto` (AWS role credentials).
     * `inline`: keys written into the file (only for throw-away test setups).
     */
    credentials:
      { type: "env" } | { type: "instance-profile" } | { type: "inline"; key: string; secret: string };
    /** KMS key for SSE-KMS (`repo2-s3-kms-key-id`). Default none (bucket default encryption). */
    kmsKeyId?: string;
    /** Verify the endpoint's TLS certificate. Default true; false only for self-signed test endpoints. */
    verifyTls?: boolean;
    /** CA file that signs the endpoint's certificate (e.g. a MinIO CA). */
    caFile?: string;
  };
  compression: BackupCompression;
  /** Parallel processes for backup/restore/async archive, e.g. from the CPU limit (1-32). */
  processMax: number;
  /**
   * Repository encryption (aes-256-cbc). The passphrase comes from the environment
   * (`PGBACKREST_REPO<N>_CIPHER_PASS`) unless `inlinePass` is given (tests only).
   */
  cipher?: { inlinePass?: string };
  /** Spool directory for asynchronous archiving; must persist across restarts (a volume). */
  spoolPath: string;
  /** Max bytes of WAL queued for archiving before pgBackRest drops it (protects the disk). Unset: no limit. */
  archivePushQueueMaxBytes?: number;
  /**
   * `io-timeout` in seconds: how long a connection or transfer may make no progress. pgBackRest
   * retries a refused S3 connection for about four times this, and archive-push checks every
   * repository's archive.info before it pushes to the reachable ones. Measured with 2.45 and S3
   * down: with the default 60 s a repo-ls took 240 s and no WAL reached repo1 within 4 minutes;
   * with 10 s WAL reached repo1 about 80 s after the segment switch. Default 10.
   */
  ioTimeoutSeconds?: number;
  /**
   * `archive-timeout` of the backup and check commands (`[global:backup]`, `[global:check]`): how
   * long a backup waits for its WAL to reach the repository. Longer than the archive-push wait
   * (60 s) because while S3 is down WAL reaches repo1 only after the S3 check gives up (about 80 s
   * measured with io-timeout 10), and the repo1 backup must still succeed. Default 300.
   */
  backupArchiveTimeoutSeconds?: number;
  /** Directory for pgBackRest's own log files; unset: no log files (console only). */
  logPath?: string;
  /** Console log level. Default `info`. */
  logLevel?: PgBackRestLogLevel;
  /** Lock directory. Default pgBackRest's `/tmp/pgbackrest`. */
  lockPath?: string;
}

const STANZA = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const ENDPOINT = /^[A-Za-z0-9.-]+$/;

/** The pgBackRest compress-type for a config value. */
const COMPRESS_TYPE: Record<BackupCompression, string> = { lz4: "lz4", zst: "zst", gz: "gz" };

/** pgBackRest's process-max for a container CPU limit: one process per CPU, 1 to 8. */
export function processMaxForCpus(cpus: number): number {
  if (!Number.isFinite(cpus) || cpus <= 0)
    throw new Error(`processMaxForCpus: expected a CPU count > 0, got ${cpus}`);
  return Math.min(8, Math.max(1, Math.floor(cpus)));
}

function ioTimeout(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) {
    fail("ioTimeoutSeconds", "whole seconds from 1 to 3600", seconds);
  }
  return seconds;
}

function fail(field: string, expected: string, got: unknown): never {
  throw new Error(`pgbackrest.conf: ${field}: expected ${expected}, got ${JSON.stringify(got)}`);
}

function absolute(field: string, value: string): string {
  if (!value.startsWith("/") || value.includes("\n") || value.split("/").includes("..")) {
    fail(field, "an absolute path without ..", value);
  }
  return value;
}

/**
 * A value on one `key=value` line. pgBackRest splits at the first `=` (so base64 `==` is fine)
 * and trims the value, so newlines and outer whitespace are refused rather than silently changed.
 * A secret's value is never echoed in the message.
 */
function plain(field: string, value: string, secret = false): string {
  if (value === "" || /[\n\r]/.test(value) || value.trim() !== value) {
    fail(
      field,
      "a non-empty value without newlines or leading/trailing spaces",
      secret ? "(secret, not shown)" : value,
    );
  }
  return value;
}

export function renderPgBackRestConf(input: PgBackRestConfInput): string {
  if (!STANZA.test(input.stanza)) fail("stanza", "letters, digits, _ or - (max 64)", input.stanza);
  if (!Number.isInteger(input.processMax) || input.processMax < 1 || input.processMax > 32) {
    fail("processMax", "a whole number from 1 to 32", input.processMax);
  }
  if (!(input.compression in COMPRESS_TYPE)) fail("compression", "lz4, zst or gz", input.compression);
  const port = input.pg.port ?? 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail("pg.port", "a TCP port", port);
  const days = (field: string, value: number) => {
    if (!Number.isInteger(value) || value < 1 || value > 9999)
      fail(field, "whole days from 1 to 9999", value);
    return value;
  };

  const global: string[] = [
    "# Rendered by renderers/pgbackrest-conf.ts: do not edit by hand.",
    "[global]",
    "# repo1: local posix repository (fast restores)",
    `repo1-path=${absolute("repo1.path", input.repo1.path)}`,
    "repo1-retention-full-type=time",
    `repo1-retention-full=${days("repo1.retentionDays", input.repo1.retentionDays)}`,
  ];
  if (input.cipher) {
    global.push("repo1-cipher-type=aes-256-cbc");
    if (input.cipher.inlinePass !== undefined) {
      global.push(`repo1-cipher-pass=${plain("cipher.inlinePass", input.cipher.inlinePass, true)}`);
    }
  }

  const repo2 = input.repo2;
  if (repo2) {
    if (!BUCKET.test(repo2.bucket)) fail("repo2.bucket", "an S3 bucket name", repo2.bucket);
    if (!ENDPOINT.test(repo2.endpoint))
      fail("repo2.endpoint", "a host name without scheme or port", repo2.endpoint);
    if (repo2.port !== undefined && (!Number.isInteger(repo2.port) || repo2.port < 1 || repo2.port > 65535)) {
      fail("repo2.port", "a TCP port", repo2.port);
    }
    if (!/^[a-z0-9-]+$/.test(repo2.region)) fail("repo2.region", "a region like eu-west-1", repo2.region);
    if (repo2.uriStyle !== "path" && repo2.uriStyle !== "host")
      fail("repo2.uriStyle", "path or host", repo2.uriStyle);
    global.push(
      "",
      "# repo2: S3 (off-site). Lifecycle rules must never expire these files: `expire` owns them.",
      "repo2-type=s3",
      `repo2-path=${absolute("repo2.path", repo2.path ?? "/pgbackrest")}`,
      `repo2-s3-bucket=${repo2.bucket}`,
      `repo2-s3-endpoint=${repo2.endpoint}`,
      ...(repo2.port !== undefined ? [`repo2-storage-port=${repo2.port}`] : []),
      `repo2-s3-region=${repo2.region}`,
      `repo2-s3-uri-style=${repo2.uriStyle}`,
      "repo2-retention-full-type=time",
      `repo2-retention-full=${days("repo2.retentionDays", repo2.retentionDays)}`,
    );
    const credentials = repo2.credentials;
    if (credentials.type === "instance-profile") global.push("repo2-s3-key-type=auto");
    else if (credentials.type === "inline") {
      global.push(
        "repo2-s3-key-type=shared",
        `repo2-s3-key=${plain("repo2.credentials.key", credentials.key, true)}`,
        `repo2-s3-key-secret=${plain("repo2.credentials.secret", credentials.secret, true)}`,
      );
    } else if (credentials.type === "env") {
      global.push(
        "repo2-s3-key-type=shared",
        "# repo2-s3-key / repo2-s3-key-secret: from PGBACKREST_REPO2_S3_KEY(_SECRET)",
      );
    } else
      fail(
        "repo2.credentials.type",
        "env, instance-profile or inline",
        (credentials as { type: unknown }).type,
      );
    if (repo2.kmsKeyId !== undefined)
      global.push(`repo2-s3-kms-key-id=${plain("repo2.kmsKeyId", repo2.kmsKeyId)}`);
    if (repo2.verifyTls === false) global.push("repo2-storage-verify-tls=n");
    if (repo2.caFile !== undefined)
      global.push(`repo2-storage-ca-file=${absolute("repo2.caFile", repo2.caFile)}`);
    if (input.cipher) {
      global.push("repo2-cipher-type=aes-256-cbc");
      if (input.cipher.inlinePass !== undefined) global.push(`repo2-cipher-pass=${input.cipher.inlinePass}`);
    }
  }

  global.push(
    "",
    "# performance and behaviour",
    `compress-type=${COMPRESS_TYPE[input.compression]}`,
    `process-max=${input.processMax}`,
    "start-fast=y",
    `io-timeout=${ioTimeout(input.ioTimeoutSeconds ?? 10)}`,
    "archive-async=y",
    `spool-path=${absolute("spoolPath", input.spoolPath)}`,
  );
  if (input.archivePushQueueMaxBytes !== undefined) {
    if (
      !Number.isInteger(input.archivePushQueueMaxBytes) ||
      input.archivePushQueueMaxBytes < 16 * 1024 * 1024
    ) {
      fail("archivePushQueueMaxBytes", "a whole number of bytes >= 16 MiB", input.archivePushQueueMaxBytes);
    }
    global.push(`archive-push-queue-max=${input.archivePushQueueMaxBytes}`);
  }
  global.push(`log-level-console=${input.logLevel ?? "info"}`, "log-level-stderr=warn");
  if (input.logPath !== undefined)
    global.push(`log-path=${absolute("logPath", input.logPath)}`, "log-level-file=detail");
  else global.push("log-level-file=off");
  if (input.lockPath !== undefined) global.push(`lock-path=${absolute("lockPath", input.lockPath)}`);

  const backupArchiveTimeout = input.backupArchiveTimeoutSeconds ?? 300;
  if (!Number.isInteger(backupArchiveTimeout) || backupArchiveTimeout < 60 || backupArchiveTimeout > 86400) {
    fail("backupArchiveTimeoutSeconds", "whole seconds from 60 to 86400", backupArchiveTimeout);
  }
  const commandSections = [
    "",
    "# backups and checks wait longer for WAL than archive-push does (repo1 lags while S3 is down)",
    "[global:backup]",
    `archive-timeout=${backupArchiveTimeout}`,
    "",
    "[global:check]",
    `archive-timeout=${backupArchiveTimeout}`,
  ];

  const stanza = [
    `[${input.stanza}]`,
    `pg1-path=${absolute("pg.path", input.pg.path)}`,
    `pg1-port=${port}`,
    `pg1-socket-path=${absolute("pg.socketPath", input.pg.socketPath)}`,
    `pg1-user=${plain("pg.user", input.pg.user ?? "postgres")}`,
  ];

  return `${[...global, ...commandSections, "", ...stanza].join("\n")}\n`;
}

/**
 * Names of the environment variables that carry this config's secrets (for the containers'
 * `envs`), so the rendered file itself holds none.
 */
export function pgBackRestSecretEnvNames(input: PgBackRestConfInput): string[] {
  const names: string[] = [];
  if (input.repo2?.credentials.type === "env") {
    names.push("PGBACKREST_REPO2_S3_KEY", "PGBACKREST_REPO2_S3_KEY_SECRET");
  }
  if (input.cipher && input.cipher.inlinePass === undefined) {
    names.push("PGBACKREST_REPO1_CIPHER_PASS");
    if (input.repo2) names.push("PGBACKREST_REPO2_CIPHER_PASS");
  }
  return names;
}
