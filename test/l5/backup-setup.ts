/**
 * A complete backup environment on loopback for the L5 backup tests and the benchmark:
 * PostgreSQL 15 archiving through pgBackRest (config from `renderers/pgbackrest-conf.ts`),
 * s3rver over TLS as repo2 and dump bucket, Redis 7 with a password, and the runner's
 * directories. `script()` runs the SAME commands the backup image runs (images/backup/bin)
 * as the postgres user, with the environment the container would have.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import {
  renderPgBackRestConf,
  type BackupCompression,
  type PgBackRestConfInput,
} from "../../renderers/pgbackrest-conf";
import { pgbackrestArchiveCommand, renderPostgresqlConf } from "../../renderers/postgresql-conf";
import { APP_ROLE_SQL, POSTGRES_VERIFY_ROLE, VERIFY_ROLE_SQL } from "../../components/postgres";
import { createPgServer, postgresOwnedDir, runInitSql, type PgServer } from "../support/postgres";
import { createS3Server, type S3Server } from "../support/s3";
import { freePort, removeDir, run, runOk, tempDir, type Daemon, type RunResult } from "../support/tools";
import { REDIS_BACKUP_RULES, REDIS_BACKUP_USER } from "../../renderers/redis-conf";
import { redisCli, startRedisDaemon } from "../support/redis";

/** images/backup/bin of this repository (also when running compiled from dist/). */
export const BACKUP_BIN = (() => {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "images/backup/bin");
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return resolve(__dirname, "../../images/backup/bin");
})();
export const STANZA = "main";
export const APP_DB = "app";
const PATH = "/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
const CIPHER_PASS = "test-only-cipher-passphrase-0123456789";
/** Passwords of the roles the product's init SQL creates (components/postgres.ts). */
export const APP_ROLE = "app";
export const APP_PASSWORD = "App-_test-password-0123456789abcdef";
export const VERIFY_PASSWORD = "Verify-_test-password-0123456789abcdef";

export interface BackupEnvOptions {
  /** Configure repo2 on s3rver and upload dumps there. Default true. */
  s3?: boolean;
  /** Start Redis with a password. Default true. */
  redis?: boolean;
  /** Encrypt both repositories (passphrase through PGBACKREST_REPO<N>_CIPHER_PASS). Default true. */
  cipher?: boolean;
  compression?: BackupCompression;
  processMax?: number;
  /** archive_timeout in seconds. Default 60 (the production default). */
  archiveTimeoutSeconds?: number;
  /** pgBackRest io-timeout and backup/check archive-timeout (renderer defaults: 10 and 300 s). */
  pgbackrestTimeouts?: { ioSeconds: number; backupArchiveSeconds: number };
  /** Extra postgresql.conf settings. */
  postgresConfig?: string;
}

export interface RedisServer {
  port: number;
  /** The administrator's (`default`) password: what `cli` authenticates with. */
  password: string;
  /** The `backup` ACL user's password (REDIS_USER=backup), as the runner gets it. */
  passwordFile: string;
  dataDir: string;
  cli(...args: string[]): string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface BackupEnv {
  root: string;
  pg: PgServer;
  s3?: S3Server;
  redis?: RedisServer;
  /** pgbackrest.conf of the Postgres server (archive_command); spool-path = `spool`. */
  confFile: string;
  /**
   * pgbackrest.conf of the runner scripts: the same file but for its spool-path, as in
   * production, where the runner mounts its own spool volume at the same path. A restore clears
   * the spool of the config it runs with; sharing Postgres's would delete the acks of its
   * in-flight archive-push (measured: a 60 s archiving stall).
   */
  runnerConfFile: string;
  confText: string;
  confInput: PgBackRestConfInput;
  repo1: string;
  spool: string;
  backupDir: string;
  textfileDir: string;
  scratchDir: string;
  /** Environment of the runner container (as KEY=value pairs). */
  env: Record<string, string>;
  /** Runs images/backup/bin/NAME as the postgres user with the runner environment. */
  script(name: string, args?: string[], extraEnv?: Record<string, string>): RunResult;
  /** pgbackrest with the runner's config (runnerConfFile), as the postgres user. */
  pgbackrest(args: string[]): RunResult;
  /** Parsed metrics of backup_<kind>.prom: metric name -> value. */
  metrics(kind: string): Record<string, number>;
  /** A new directory owned by postgres under the env root. */
  dir(name: string): string;
  destroy(): Promise<void>;
}

/** Runs a command as the postgres user with exactly the given environment (plus PATH). */
export function runAsPostgres(cmd: string, args: string[], env: Record<string, string>): RunResult {
  const vars = Object.entries({ PATH, HOME: "/var/lib/postgresql", PGTZ: "UTC", ...env }).map(
    ([k, v]) => `${k}=${v}`,
  );
  return run("runuser", ["-u", "postgres", "--", "env", "-i", ...vars, cmd, ...args], {
    cwd: "/tmp",
    maxBuffer: 64 * 1024 * 1024,
  });
}

async function startRedis(root: string): Promise<RedisServer> {
  const dataDir = postgresOwnedDir(join(root, "redis-data"));
  const port = await freePort();
  const password = "redis-test-password-" + port;
  // The runner's file holds the `backup` ACL user's password, as the stacks give it.
  const backupPassword = "redis-backup-password-" + port;
  const passwordFile = join(root, "redis-password");
  writeFileSync(passwordFile, backupPassword);
  const uid = Number(runOk("id", ["-u", "postgres"]).stdout.trim());
  chownSync(passwordFile, uid, 0);
  chmodSync(passwordFile, 0o400);
  let daemon: Daemon | undefined;
  const redisCliAuth = redisCli(port, password);
  const cli = (...args: string[]) => {
    const out = redisCliAuth(...args);
    if (out.status !== 0) throw new Error(`redis-cli ${args.join(" ")} exited ${out.status}: ${out.stderr}`);
    return out.stdout.trim();
  };
  const server: RedisServer = {
    port,
    password,
    passwordFile,
    dataDir,
    cli,
    async start() {
      daemon = await startRedisDaemon({ port, dir: dataDir, password, appendonly: true, asPostgres: true });
      cli("ACL", "SETUSER", REDIS_BACKUP_USER, "on", `>${backupPassword}`, ...REDIS_BACKUP_RULES.split(" "));
    },
    async stop() {
      await daemon?.stop();
      daemon = undefined;
    },
  };
  await server.start();
  return server;
}

export async function createBackupEnv(options: BackupEnvOptions = {}): Promise<BackupEnv> {
  const root = tempDir("backup");
  chmodSync(root, 0o755);
  const dir = (name: string) => postgresOwnedDir(join(root, name));
  const repo1 = dir("repo1");
  const spool = dir("spool");
  const runnerSpool = dir("runner-spool");
  const lock = dir("lock");
  const backupDir = dir("backups");
  const textfileDir = dir("textfile");
  const scratchDir = dir("scratch");

  const s3 = options.s3 === false ? undefined : await createS3Server("backups");
  const pg = await createPgServer({ root: join(root, "pg") });
  chmodSync(pg.root, 0o755);

  const confInput: PgBackRestConfInput = {
    stanza: STANZA,
    pg: { path: pg.dataDir, port: pg.port, socketPath: pg.socketDir },
    repo1: { path: repo1, retentionDays: 30 },
    repo2: s3
      ? {
          bucket: s3.bucket,
          endpoint: s3.host,
          port: s3.port,
          region: "us-east-1",
          uriStyle: "path",
          retentionDays: 90,
          credentials: { type: "env" },
          verifyTls: false,
        }
      : undefined,
    compression: options.compression ?? "lz4",
    processMax: options.processMax ?? 2,
    cipher: options.cipher === false ? undefined : {},
    spoolPath: spool,
    logLevel: "info",
    lockPath: lock,
    ioTimeoutSeconds: options.pgbackrestTimeouts?.ioSeconds,
    backupArchiveTimeoutSeconds: options.pgbackrestTimeouts?.backupArchiveSeconds,
  };
  const confText = renderPgBackRestConf(confInput);
  const confFile = join(root, "pgbackrest.conf");
  writeFileSync(confFile, confText, { mode: 0o644 });
  const runnerConfFile = join(root, "pgbackrest-runner.conf");
  writeFileSync(runnerConfFile, renderPgBackRestConf({ ...confInput, spoolPath: runnerSpool }), {
    mode: 0o644,
  });

  // Secrets reach pgBackRest through the environment, as in the containers. archive_command runs
  // in the postmaster, which inherits the environment of the test process (createPgServer.start).
  const secretEnv: Record<string, string> = {};
  if (options.cipher !== false) {
    secretEnv.PGBACKREST_REPO1_CIPHER_PASS = CIPHER_PASS;
    if (s3) secretEnv.PGBACKREST_REPO2_CIPHER_PASS = CIPHER_PASS;
  }
  if (s3) {
    secretEnv.PGBACKREST_REPO2_S3_KEY = s3.accessKey;
    secretEnv.PGBACKREST_REPO2_S3_KEY_SECRET = s3.secretKey;
  }
  Object.assign(process.env, secretEnv);

  // The production postgresql.conf (renderers/postgresql-conf.ts) for a 1 GB / 2 CPU container:
  // archiving, WAL and recovery settings are exactly what the Postgres component ships.
  pg.appendConfig(
    [
      renderPostgresqlConf(
        { memoryMb: 1024, cpus: 2 },
        {
          archiveCommand: pgbackrestArchiveCommand(STANZA, confFile),
          archiveTimeoutSeconds: options.archiveTimeoutSeconds ?? 60,
          listenAddresses: "127.0.0.1",
          port: pg.port,
        },
      ),
      options.postgresConfig ?? "",
    ].join("\n"),
  );
  await pg.start();
  pg.sql(`CREATE DATABASE ${APP_DB}`);
  // The roles as the Postgres container's first start creates them: the application role with its
  // own schema, and the read-only verify role the restore drill logs in as.
  const roleEnv = {
    POSTGRES_DB: APP_DB,
    APP_DB_USER: APP_ROLE,
    APP_DB_PASSWORD: APP_PASSWORD,
    VERIFY_DB_USER: POSTGRES_VERIFY_ROLE,
    VERIFY_DB_PASSWORD: VERIFY_PASSWORD,
  };
  for (const [file, sql] of [
    ["10-app-role.sql", APP_ROLE_SQL],
    ["30-verify-role.sql", VERIFY_ROLE_SQL],
  ]) {
    const result = runInitSql(pg, file, sql, roleEnv, APP_DB);
    if (result.status !== 0) throw new Error(`${file}: ${result.stderr}`);
  }

  const redis = options.redis === false ? undefined : await startRedis(root);

  const env: Record<string, string> = {
    ...secretEnv,
    PGHOST: pg.socketDir,
    PGPORT: String(pg.port),
    PGUSER: "postgres",
    PGDATABASE: APP_DB,
    PGBACKREST_CONFIG: runnerConfFile,
    PGBACKREST_STANZA: STANZA,
    BACKUP_DIR: backupDir,
    TEXTFILE_DIR: textfileDir,
    SCRATCH_DIR: scratchDir,
    RETENTION_DAYS: "30",
    DRILL_TIMEOUT: "300",
    // The drill reads both databases as the verify role, over TCP with its password.
    VERIFY_DB_HOST: "127.0.0.1",
    VERIFY_DB_USER: POSTGRES_VERIFY_ROLE,
    VERIFY_DB_PASSWORD: VERIFY_PASSWORD,
  };
  if (s3) {
    Object.assign(env, {
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.url,
      S3_REGION: "us-east-1",
      S3_CA_BUNDLE: s3.certFile,
      S3_SSE: "none",
      AWS_ACCESS_KEY_ID: s3.accessKey,
      AWS_SECRET_ACCESS_KEY: s3.secretKey,
    });
  }
  if (redis) {
    Object.assign(env, {
      REDIS_HOST: "127.0.0.1",
      REDIS_PORT: String(redis.port),
      REDIS_USER: REDIS_BACKUP_USER,
      REDIS_PASSWORD_FILE: redis.passwordFile,
    });
  }

  const backupEnv: BackupEnv = {
    root,
    pg,
    s3,
    redis,
    confFile,
    runnerConfFile,
    confText,
    confInput,
    repo1,
    spool,
    backupDir,
    textfileDir,
    scratchDir,
    env,
    script(name, args = [], extraEnv = {}) {
      return runAsPostgres(join(BACKUP_BIN, name), args, { ...env, ...extraEnv });
    },
    pgbackrest(args) {
      return runAsPostgres(
        "pgbackrest",
        [`--config=${runnerConfFile}`, `--stanza=${STANZA}`, ...args],
        secretEnv,
      );
    },
    metrics(kind) {
      const file = join(textfileDir, `backup_${kind}.prom`);
      if (!existsSync(file)) return {};
      const values: Record<string, number> = {};
      for (const line of readFileSync(file, "utf8").split("\n")) {
        const match = /^([a-z_]+)(?:\{[^}]*\})? (\S+)$/.exec(line);
        if (match) values[match[1]] = Number(match[2]);
      }
      return values;
    },
    dir(name) {
      const path = join(root, name);
      mkdirSync(path, { recursive: true });
      return postgresOwnedDir(path);
    },
    async destroy() {
      await redis?.stop();
      pg.destroy();
      await s3?.destroy();
      removeDir(root);
    },
  };
  return backupEnv;
}

/** Row count and an order-independent checksum of every user table of a database. */
export function tableFingerprints(pg: PgServer, database = APP_DB): Record<string, string> {
  const tables = pg
    .sql(
      `SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
       WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
      database,
    )
    .split("\n")
    .filter(Boolean);
  const result: Record<string, string> = {};
  for (const table of tables) {
    result[table] = pg.sql(
      `SELECT count(*) || ':' || coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '-') FROM ${table} t`,
      database,
    );
  }
  return result;
}

/**
 * Starts a restored server and waits until it has finished recovery (promoted), polling every
 * `pollMs`. Fails early, with the server log, when the server stops during recovery.
 */
export async function startRestored(pg: PgServer, timeoutMs = 120_000, pollMs = 25): Promise<void> {
  try {
    await pg.start({ wait: false });
  } catch (error) {
    throw new Error(`${String(error)}\n--- ${pg.logFile}:\n${logTail(pg)}`);
  }
  await waitPromoted(pg, timeoutMs, pollMs);
}

function logTail(pg: PgServer): string {
  return existsSync(pg.logFile)
    ? readFileSync(pg.logFile, "utf8").split("\n").slice(-15).join("\n")
    : "(no log)";
}

/** Waits until a restored server has finished recovery (promoted). */
export async function waitPromoted(pg: PgServer, timeoutMs = 120_000, pollMs = 25): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      if (pg.sql("SELECT pg_is_in_recovery()") === "f") return;
    } catch {
      // not accepting connections yet
    }
    // The postmaster writes its pid file within milliseconds of starting; gone later = stopped.
    if (Date.now() - started > 2000 && !existsSync(join(pg.dataDir, "postmaster.pid"))) {
      throw new Error(`the restored server stopped during recovery\n--- ${pg.logFile}:\n${logTail(pg)}`);
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(
        `the restored server did not finish recovery within ${timeoutMs} ms\n--- ${pg.logFile}:\n${logTail(pg)}`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** JSON of `pgbackrest info` for one repo. */
export function backupLabels(env: BackupEnv, repo: 1 | 2): { label: string; type: string }[] {
  const result = env.pgbackrest(["info", "--output=json", `--repo=${repo}`]);
  if (result.status !== 0)
    throw new Error(`pgbackrest info --repo=${repo} failed: ${result.stderr}${result.stdout}`);
  const info = JSON.parse(result.stdout) as { backup: { label: string; type: string }[] }[];
  return info[0].backup.map((b) => ({ label: b.label, type: b.type }));
}
