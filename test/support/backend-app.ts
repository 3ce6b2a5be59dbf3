/**
 * Start the example NestJS backend (examples/backend) and its dependencies for real-daemon tests:
 * the HAProxy edge, traffic-switch, monitoring and disaster-recovery suites run it as "blue" and
 * "green".
 *
 * The app needs a build. CI builds it first (.ci/run):
 *   npm ci --prefix examples/backend && npm run build --prefix examples/backend
 * and under CI=true a missing build fails the suite with exactly that instruction. Elsewhere (a
 * fresh clone's `npm test`) the first suite that needs it builds it, once for all vitest workers;
 * a suite whose build cannot be made skips with a one-line reason (`backendSkipReason`).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { APP_ROLE_SQL } from "../../components/postgres";
import { createPgServer, runInitSql, type PgServer } from "./postgres";
import { startRedisDaemon } from "./redis";
import { freePort, removeDir, tempDir, waitFor, type Daemon } from "./tools";

export const BACKEND_DIR = resolve(__dirname, "..", "..", "examples", "backend");
export const BACKEND_MAIN = join(BACKEND_DIR, "dist", "main.js");
export const BACKEND_BUILD_COMMAND =
  "npm ci --prefix examples/backend && npm run build --prefix examples/backend";

/** The newest file of `path` (a file or a directory), or undefined when there is none. */
function newest(path: string): { file: string; mtimeMs: number } | undefined {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    return undefined;
  }
  if (!stats.isDirectory()) return { file: path, mtimeMs: stats.mtimeMs };
  let best: { file: string; mtimeMs: number } | undefined;
  for (const name of readdirSync(path)) {
    const candidate = newest(join(path, name));
    if (candidate && (!best || candidate.mtimeMs > best.mtimeMs)) best = candidate;
  }
  return best;
}

/** Why examples/backend/dist does not hold the build of its sources, or undefined. */
function backendStale(): string | undefined {
  if (!existsSync(BACKEND_MAIN)) return `${relative(BACKEND_DIR, BACKEND_MAIN)} is missing`;
  const built = statSync(BACKEND_MAIN).mtimeMs;
  for (const input of ["src", "package.json", "package-lock.json", "tsconfig.json"]) {
    const source = newest(join(BACKEND_DIR, input));
    if (source && source.mtimeMs > built)
      return `${relative(BACKEND_DIR, source.file)} is newer than the build`;
  }
  return undefined;
}

/** Whether process `pid` still runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs `fn` holding a lock directory that every vitest worker of this checkout shares; waits
 * while a live process holds it and takes over the lock of one that is gone.
 */
function withBuildLock<T>(fn: () => T): T {
  const key = createHash("sha256").update(BACKEND_DIR).digest("hex").slice(0, 12);
  const lock = join(tmpdir(), `bi-backend-build-${key}.lock`);
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = Number(existsSync(join(lock, "pid")) ? readFileSync(join(lock, "pid"), "utf8") : NaN);
    if (Number.isInteger(holder) && holder > 0 && !alive(holder))
      rmSync(lock, { recursive: true, force: true });
    else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** The reason a build attempt of this process failed: the next suite does not try again. */
let buildFailure: string | undefined;

/**
 * Makes examples/backend/dist current: `npm ci` when its node_modules is missing, then its
 * build, when the build is missing or older than its sources. Returns why it could not, or
 * undefined. Under CI it builds nothing: .ci/run does, and a missing build there is a bug.
 */
export function buildBackend(): string | undefined {
  const why = backendStale();
  if (!why) return undefined;
  if (process.env.CI === "true") {
    return `examples/backend is not built (${why}); CI builds it before the tests. Run from the repository root: ${BACKEND_BUILD_COMMAND}`;
  }
  if (buildFailure) return buildFailure;
  return withBuildLock(() => {
    const stillWhy = backendStale(); // another worker may have built it while this one waited
    if (!stillWhy) return undefined;
    const steps: string[][] = [];
    if (!existsSync(join(BACKEND_DIR, "node_modules", ".package-lock.json")))
      steps.push(["ci", "--no-audit", "--no-fund"]);
    steps.push(["run", "build"]);
    const started = Date.now();
    console.warn(
      `examples/backend: ${stillWhy}; building it for the suites that run it (${steps.map((s) => `npm ${s.join(" ")}`).join(" && ")})`,
    );
    for (const step of steps) {
      const result = spawnSync("npm", step, { cwd: BACKEND_DIR, encoding: "utf8", timeout: 15 * 60_000 });
      if (result.status !== 0) {
        const output = `${result.stderr ?? ""}${result.stdout ?? ""}`
          .split("\n")
          .filter((line) => line.trim() && !/complete log|^npm error\s*$/.test(line))
          .slice(0, 2)
          .join(" | ");
        buildFailure = `examples/backend is not built (${stillWhy}) and \`npm ${step.join(" ")}\` in it failed (${result.error?.message ?? `exit ${result.status}`}): ${output}`;
        return buildFailure;
      }
    }
    console.warn(`examples/backend: built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return undefined;
  });
}

/** Builds examples/backend when needed (see `buildBackend`); throws why it could not. */
export function ensureBackendBuilt(): string {
  const problem = buildBackend();
  if (problem) throw new Error(problem);
  return BACKEND_MAIN;
}

/**
 * For `describe.skipIf`: builds examples/backend when needed and returns false, or, when it
 * cannot, prints and returns a one-line reason. Under CI a missing build fails instead.
 */
export function backendSkipReason(): string | false {
  const problem = buildBackend();
  if (!problem) return false;
  if (process.env.CI === "true") throw new Error(problem);
  const reason = `skipped: ${problem}`;
  console.warn(reason);
  return reason;
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
