/**
 * redis-server for the tests: one command line and one readiness check for every suite that
 * starts a Redis (the backend's dependency, the backup runner's source, a restored copy).
 */
import { run, startDaemon, waitFor, which, type Daemon, type RunResult } from "./tools";

export interface RedisDaemonOptions {
  port: number;
  /** Working directory (`--dir`): where RDB and AOF files go. */
  dir: string;
  /** `--requirepass`; unset: no password. */
  password?: string;
  /** `--appendonly yes` (the production setting). Default false. */
  appendonly?: boolean;
  /** Run as the postgres OS user through runuser (the backup scripts' user; tests run as root). */
  asPostgres?: boolean;
}

/** redis-cli against 127.0.0.1:port (password through REDISCLI_AUTH, never in argv). */
export function redisCli(port: number, password?: string): (...args: string[]) => RunResult {
  return (...args) =>
    run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "--no-auth-warning", ...args], {
      env: { ...process.env, ...(password === undefined ? {} : { REDISCLI_AUTH: password }) },
    });
}

/** Starts redis-server (no RDB snapshots) and waits until it answers PING and has loaded its data. */
export async function startRedisDaemon(options: RedisDaemonOptions): Promise<Daemon> {
  const redisBin = which("redis-server");
  if (!redisBin) throw new Error("redis-server is not installed (Debian package redis-server)");
  const args = [
    "--port",
    String(options.port),
    "--bind",
    "127.0.0.1",
    ...(options.password === undefined ? [] : ["--requirepass", options.password]),
    "--dir",
    options.dir,
    "--appendonly",
    options.appendonly ? "yes" : "no",
    "--save",
    "",
    "--daemonize",
    "no",
  ];
  const daemon = options.asPostgres
    ? startDaemon("runuser", ["-u", "postgres", "--", redisBin, ...args])
    : startDaemon(redisBin, args);
  const cli = redisCli(options.port, options.password);
  try {
    await waitFor(`redis-server on port ${options.port}`, () => {
      if (daemon.process.exitCode !== null) throw new Error(`redis-server exited: ${daemon.output()}`);
      return cli("ping").stdout.includes("PONG") && cli("info", "persistence").stdout.includes("loading:0");
    });
  } catch (error) {
    await daemon.stop();
    throw error;
  }
  return daemon;
}
