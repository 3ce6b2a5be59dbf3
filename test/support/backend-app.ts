/**
 * Start the example NestJS backend (examples/backend) and its dependencies for real-daemon tests:
 * the HAProxy edge, traffic-switch and disaster-recovery suites run it as "blue" and "green".
 *
 * The app is not built here: CI builds it first with
 *   npm ci --prefix examples/backend && npm run build --prefix examples/backend
 * and `ensureBackendBuilt()` fails with exactly that instruction when the build is missing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { APP_ROLE_SQL } from "../../components/postgres";
import { createPgServer, runInitSql, type PgServer } from "./postgres";
import { startRedisDaemon } from "./redis";
import { freePort, removeDir, tempDir, waitFor, type Daemon } from "./tools";

export const BACKEND_DIR = resolve(__dirname, "..", "..", "examples", "backend");
export const BACKEND_MAIN = join(BACKEND_DIR, "dist", "main.js");
export const BACKEND_BUILD_COMMAND =
  "npm ci --prefix examples/backend && npm run build --prefix examples/backend";

/** Throws a message with the build command when examples/backend/dist/main.js does not exist. */
export function ensureBackendBuilt(): string {
  if (!existsSync(BACKEND_MAIN)) {
    throw new Error(
      `examples/backend is not built (${BACKEND_MAIN} is missing). Run from the repository root: ${BACKEND_BUILD_COMMAND}`,
    );
  }
  return BACKEND_MAIN;
}

export interface BackendAppOptions {
  /** Port to listen on, on 127.0.0.1; default: a free port. */
  port?: number;
  /** postgres://... ; pass "" to start without it (the app must then refuse to start). */
  databaseUrl: string;
  /** redis://:password@host:port */
  redisUrl: string;
  /** APP_COLOUR; default "blue". */
  colour?: "blue" | "green";
  /** SHUTDOWN_DRAIN_MS; default 500 (tests do not want to wait the production 5 s). */
  drainMs?: number;
  /** One JSON log line per request (LOG_REQUESTS); default false, load tests would flood the log. */
  logRequests?: boolean;
  /** Extra environment variables (override the ones above). */
  env?: Record<string, string | undefined>;
  /** Resolve once /health answers 200 (default), or as soon as the port answers /ping ("listening"). */
  waitFor?: "healthy" | "listening";
  /** How long to wait for that; default 30 s. */
  startTimeoutMs?: number;
  /** Run `<appDir>/dist/main.js` instead of the build in examples/backend (e.g. a runtime-stage copy). */
  appDir?: string;
  /** Run as this uid/gid (the test must run as root), like the image's `USER node` (1000). */
  user?: { uid: number; gid: number };
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface BackendApp {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  colour: "blue" | "green";
  process: ChildProcess;
  /** The app's stdout and stderr so far (the last 256 KiB). */
  output(): string;
  /** Resolves when the process has exited. */
  exited: Promise<ExitStatus>;
  /** Sends SIGTERM (or `signal`), waits for the exit (after the drain) and returns the exit status. */
  stop(signal?: NodeJS.Signals): Promise<ExitStatus>;
}

const MAX_OUTPUT = 256 * 1024;

/** Starts `node examples/backend/dist/main.js` on 127.0.0.1 and waits until it is ready. */
export async function startBackendApp(options: BackendAppOptions): Promise<BackendApp> {
  const appDir = options.appDir ?? BACKEND_DIR;
  const main = options.appDir ? join(appDir, "dist", "main.js") : ensureBackendBuilt();
  const port = options.port ?? (await freePort());
  const colour = options.colour ?? "blue";
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: "production",
    HOST: "127.0.0.1",
    PORT: String(port),
    APP_COLOUR: colour,
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    SHUTDOWN_DRAIN_MS: String(options.drainMs ?? 500),
    LOG_REQUESTS: String(options.logRequests ?? false),
    STARTUP_DB_TIMEOUT_MS: "20000",
    ...options.env,
  };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];

  const child = spawn(process.execPath, [main], {
    cwd: appDir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
  });
  let log = "";
  const append = (chunk: Buffer) => {
    log += chunk.toString();
    if (log.length > MAX_OUTPUT) log = log.slice(log.length - MAX_OUTPUT);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<ExitStatus>((done) =>
    child.once("exit", (code, signal) => done({ code, signal })),
  );
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const url = `http://127.0.0.1:${port}`;
  const app: BackendApp = {
    url,
    port,
    colour,
    process: child,
    output: () => log,
    exited,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (!hasExited) child.kill(signal);
      return exited;
    },
  };

  const path = (options.waitFor ?? "healthy") === "healthy" ? "/health" : "/ping";
  try {
    await waitFor(
      `the ${colour} backend on ${url}${path}`,
      async () => {
        if (hasExited) throw new Error(`the backend exited early:\n${log}`);
        const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(3_000) });
        await response.arrayBuffer();
        return response.status === 200;
      },
      { timeoutMs: options.startTimeoutMs ?? 30_000, intervalMs: 100 },
    );
  } catch (error) {
    await app.stop("SIGKILL");
    throw new Error(`${(error as Error).message}\n--- backend output ---\n${log}`);
  }
  return app;
}

export interface RedisServer {
  port: number;
  password: string;
  /** redis://:password@127.0.0.1:port */
  url: string;
  daemon: Daemon;
  /** Stops redis-server (SIGTERM, waits for the exit). */
  stop(): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
}

/**
 * A throw-away redis-server on a loopback port with a password and no persistence. Pass the
 * port of a stopped one to bring "the same" Redis back.
 */
export async function startRedisServer(
  password = "test-redis-password",
  port?: number,
): Promise<RedisServer> {
  port ??= await freePort();
  const dir = tempDir("redis");
  const daemon = await startRedisDaemon({ port, dir, password });
  return {
    port,
    password,
    url: `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    daemon,
    stop: () => daemon.stop(),
    async destroy() {
      await daemon.stop();
      removeDir(dir);
    },
  };
}

export interface BackendDeps {
  pg: PgServer;
  /** Replace it (same port and password) after stopping it to simulate a Redis restart. */
  redis: RedisServer;
  /** postgres://app:...@127.0.0.1:<port>/app (a database and role made for the app). */
  databaseUrl: string;
  redisUrl: string;
  destroy(): Promise<void>;
}

/**
 * A real PostgreSQL 15 and a real Redis with a password. The database "app" and the role "app"
 * are made as the Postgres container makes them (components/postgres.ts APP_ROLE_SQL): the
 * database and `public` belong to the superuser, the role has a schema of its own, `app`, where
 * the backend's migration creates its table.
 */
export async function startBackendDeps(): Promise<BackendDeps> {
  const pg = await createPgServer();
  let redis: RedisServer | undefined;
  try {
    await pg.start();
    pg.sql("CREATE DATABASE app");
    const init = runInitSql(
      pg,
      "10-app-role.sql",
      APP_ROLE_SQL,
      { POSTGRES_DB: "app", APP_DB_USER: "app", APP_DB_PASSWORD: "app-password" },
      "app",
    );
    if (init.status !== 0) throw new Error(`10-app-role.sql: ${init.stderr}`);
    redis = await startRedisServer();
  } catch (error) {
    pg.destroy();
    throw error;
  }
  const deps: BackendDeps = {
    pg,
    redis,
    databaseUrl: `postgres://app:app-password@127.0.0.1:${pg.port}/app`,
    redisUrl: redis.url,
    async destroy() {
      // deps.redis, not the first one: a test may have replaced a stopped Redis with a new one.
      await deps.redis.destroy();
      pg.destroy();
    },
  };
  return deps;
}
