/**
 * A throw-away PostgreSQL 15 server for real-daemon tests.
 *
 * PostgreSQL refuses to run as root, and CI runs as root, so when the test runs as root
 * every server command runs as the `postgres` user (created by the Debian package).
 */
import { spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, run, runOk, tempDir, removeDir, waitFor, type RunResult } from "./tools";

export const PG_BIN = "/usr/lib/postgresql/15/bin";
const isRoot = process.getuid?.() === 0;

/** Runs a command as the postgres OS user when the test runs as root. */
export function asPostgres(cmd: string, args: string[], input?: string): RunResult {
  const env = { ...process.env, PGTZ: "UTC" };
  return isRoot
    ? run("runuser", ["-u", "postgres", "--", cmd, ...args], { input, env, cwd: "/tmp" })
    : run(cmd, args, { input, env });
}

function asPostgresOk(cmd: string, args: string[], input?: string): RunResult {
  const result = asPostgres(cmd, args, input);
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${result.status}: ${result.stderr}${result.stdout}`);
  }
  return result;
}

/** Makes a directory owned by the postgres user (when running as root). */
export function postgresOwnedDir(path: string): string {
  mkdirSync(path, { recursive: true });
  if (isRoot) {
    const uid = Number(runOk("id", ["-u", "postgres"]).stdout.trim());
    const gid = Number(runOk("id", ["-g", "postgres"]).stdout.trim());
    chownSync(path, uid, gid);
  }
  chmodSync(path, 0o700);
  return path;
}

export interface PgServer {
  port: number;
  /** Root of everything this server owns (data dir, socket dir, logs). */
  root: string;
  dataDir: string;
  socketDir: string;
  logFile: string;
  /** psql with ON_ERROR_STOP; returns trimmed, unaligned tuples-only output. */
  sql(query: string, database?: string): string;
  /** Appends settings to postgresql.conf (call before `start`, or restart afterwards). */
  appendConfig(text: string): void;
  /**
   * Starts the server and waits until it accepts connections. `wait: false` returns as soon as
   * the postmaster is forked (pg_ctl -W), for callers that poll a condition of their own.
   */
  start(options?: { wait?: boolean }): Promise<void>;
  /** Stops the server: `fast` for a clean shutdown, `immediate` for a crash-like stop. */
  stop(mode?: "fast" | "immediate"): void;
  /** SIGKILL to the postmaster: the crash the RPO drills measure. */
  kill9(): void;
  /** Stops the server if running and deletes its files. */
  destroy(): void;
}

export interface PgServerOptions {
  /** Skip initdb (the data directory will be filled by a restore). */
  skipInit?: boolean;
  /** Use this directory as root instead of a new temporary one. */
  root?: string;
}

/** psql as the postgres superuser on HOST:PORT, one unaligned value per row, stopping at an error. */
function superuserPsqlArgs(host: string, port: number, database: string): string[] {
  return ["-h", host, "-p", String(port), "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-qAtX"];
}

export async function createPgServer(options: PgServerOptions = {}): Promise<PgServer> {
  const root = options.root ?? tempDir("pg");
  postgresOwnedDir(root);
  const dataDir = join(root, "data");
  const socketDir = postgresOwnedDir(join(root, "sock"));
  const logFile = join(root, "postgres.log");
  const port = await freePort();

  if (!options.skipInit) {
    asPostgresOk(join(PG_BIN, "initdb"), ["-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
  }

  const server: PgServer = {
    port,
    root,
    dataDir,
    socketDir,
    logFile,
    sql(query, database = "postgres") {
      const result = asPostgresOk(join(PG_BIN, "psql"), superuserPsqlArgs(socketDir, port, database), query);
      return result.stdout.trim();
    },
    appendConfig(text) {
      appendFileSync(join(dataDir, "postgresql.conf"), `\n${text}\n`);
    },
    async start({ wait = true } = {}) {
      writeFileSync(join(dataDir, "postgresql.auto.conf"), "", { flag: "a" });
      asPostgresOk(join(PG_BIN, "pg_ctl"), [
        "-D",
        dataDir,
        "-l",
        logFile,
        ...(wait ? ["-w", "-t", "120"] : ["-W"]),
        "-o",
        `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1`,
        "start",
      ]);
      if (!wait) return;
      await waitFor("postgres to accept connections", () => {
        const ready = asPostgres(join(PG_BIN, "pg_isready"), ["-h", socketDir, "-p", String(port)]);
        return ready.status === 0;
      });
    },
    stop(mode = "fast") {
      asPostgres(join(PG_BIN, "pg_ctl"), ["-D", dataDir, "-m", mode, "-w", "stop"]);
    },
    kill9() {
      const pid = asPostgres("head", ["-1", join(dataDir, "postmaster.pid")]).stdout.trim();
      if (pid) run("kill", ["-9", pid]);
    },
    destroy() {
      server.stop("immediate");
      removeDir(root);
    },
  };
  return server;
}

/**
 * Runs an init SQL file the way the official image's entrypoint runs
 * /docker-entrypoint-initdb.d/*.sql (`psql -v ON_ERROR_STOP=1 --username postgres --no-password
 * --no-psqlrc --dbname $POSTGRES_DB -f FILE`), as the postgres OS user over the socket, with
 * `env` in psql's environment (the container's env, which the SQL reads with \getenv).
 */
export function runInitSql(
  pg: PgServer,
  fileName: string,
  sql: string,
  env: Record<string, string>,
  database = "postgres",
): RunResult {
  const file = join(pg.root, fileName);
  writeFileSync(file, sql, { mode: 0o644 });
  return asPostgres("env", [
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    join(PG_BIN, "psql"),
    "-v",
    "ON_ERROR_STOP=1",
    "--no-password",
    "--no-psqlrc",
    "-h",
    pg.socketDir,
    "-p",
    String(pg.port),
    "--username",
    "postgres",
    "--dbname",
    database,
    "-f",
    file,
  ]);
}

/** A table lock held by a psql session of its own until `release`. */
export interface HeldLock {
  /** Commits the session's transaction (the lock goes) and waits for psql to exit. */
  release(): Promise<void>;
}

/**
 * Opens a psql session (TCP, as postgres) that takes `LOCK TABLE <table> IN <mode> MODE` and
 * keeps it: what holds an application's INSERT in flight (SHARE blocks writes, not reads).
 * Resolves once the lock is held.
 */
export async function holdTableLock(
  pg: PgServer,
  database: string,
  table: string,
  mode = "SHARE",
): Promise<HeldLock> {
  const child = spawn(join(PG_BIN, "psql"), superuserPsqlArgs("127.0.0.1", pg.port, database), {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  child.stdin.write(`BEGIN;\nLOCK TABLE ${table} IN ${mode} MODE;\nSELECT 'lock-held';\n`);
  await waitFor(`psql to lock ${table}`, () => {
    if (child.exitCode !== null) throw new Error(`psql exited: ${output}`);
    return output.includes("lock-held");
  });
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      child.stdin.end("COMMIT;\n");
      await exited;
    },
  };
}
