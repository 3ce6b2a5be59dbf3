/**
 * Shared helpers for tests that run real tools and daemons (levels L4 and L5).
 *
 * A missing tool skips the test on a developer machine with a one-line reason, but fails
 * under CI (CI=true), where `.ci/run` installs every tool: a green CI must never hide a
 * missing install step.
 */
import {
  spawn,
  spawnSync,
  type ChildProcess,
  type SpawnOptions,
  type SpawnSyncOptions,
} from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Directories where Debian puts binaries that are not on a normal PATH. */
const EXTRA_BIN_DIRS = ["/usr/lib/postgresql/15/bin", "/usr/sbin", "/sbin"];

/** Absolute path of an executable, or undefined when it is not installed. */
export function which(tool: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":"), ...EXTRA_BIN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, tool);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Returns the tools that are missing. Under CI a missing tool throws, so the suite fails
 * instead of silently skipping.
 */
export function missingTools(...tools: string[]): string[] {
  const missing = tools.filter((t) => which(t) === undefined);
  if (missing.length > 0 && process.env.CI === "true") {
    throw new Error(`CI must install these tools (see .ci/run): ${missing.join(", ")}`);
  }
  return missing;
}

/** A reason string for `describe.skipIf`, e.g. `describe.skipIf(skipReason("haproxy"))`. */
export function skipReason(...tools: string[]): string | false {
  const missing = missingTools(...tools);
  if (missing.length === 0) return false;
  const reason = `skipped: ${missing.join(", ")} not installed (run .ci/run to install)`;
  console.warn(reason);
  return reason;
}

/**
 * A reason for `skipIf` when a test needs root (uid 0), printed as one line; false as root.
 * `.ci/run` runs as root, so these run in CI.
 */
export function skipUnlessRoot(what: string): string | false {
  if (process.getuid?.() === 0) return false;
  const reason = `skipped: ${what} needs root (uid 0, as .ci/run runs)`;
  console.warn(reason);
  return reason;
}

/** Whether a daemon could listen on 127.0.0.1:`port` now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Ports this test file has handed out: a daemon may not have bound its port yet. */
const handedOut = new Set<number>();

/**
 * A free loopback port for a daemon the test starts. Picked below the kernel's ephemeral range
 * (32768-60999): a port from `listen(0)` is an ephemeral one, which another test's outgoing
 * connection could take before the daemon binds it. Each vitest worker (VITEST_POOL_ID) has its
 * own band, so files running side by side never pick the same port, and a port is handed out
 * once per file, so a daemon that has not bound its port yet (or is restarting) keeps it.
 */
export async function freePort(): Promise<number> {
  const worker = Math.max(1, Number(process.env.VITEST_POOL_ID) || 1);
  const size = 1500; // 8 bands in 20000-31999
  const low = 20000 + ((worker - 1) % 8) * size;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * size);
    if (handedOut.has(port)) continue;
    handedOut.add(port); // before the check: concurrent calls must not pick it meanwhile
    if (await canListen(port)) return port;
    handedOut.delete(port);
  }
  throw new Error(`freePort: no free port in ${low}-${low + size - 1} after 100 attempts`);
}

/** A fresh temporary directory; remove it with `removeDir`. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `bi-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (no shell) and returns its exit status and output. */
export function run(cmd: string, args: string[], options: SpawnSyncOptions = {}): RunResult {
  const result = spawnSync(which(cmd) ?? cmd, args, { encoding: "utf8", ...options });
  if (result.error) throw result.error;
  return {
    status: result.status ?? -1,
    stdout: String(result.stdout ?? ""),
    stderr: String(result.stderr ?? ""),
  };
}

/** Like `run`, but throws with the command's output when it exits non-zero. */
export function runOk(cmd: string, args: string[], options: SpawnSyncOptions = {}): RunResult {
  const result = run(cmd, args, options);
  if (result.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${result.status}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
  return result;
}

/**
 * Runs a command in the background (no shell): its stderr so far, and its exit status and output
 * once it has ended. For runs that must overlap, which `run` cannot do.
 */
export function runInBackground(
  cmd: string,
  args: string[],
  options: SpawnOptions = {},
): { stderr: () => string; done: Promise<RunResult> } {
  const child = spawn(which(cmd) ?? cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status) => resolve({ status: status ?? -1, stdout, stderr }));
  });
  return { stderr: () => stderr, done };
}

/** A background daemon started by a test; `stop()` ends it and waits for the exit. */
export interface Daemon {
  process: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function startDaemon(cmd: string, args: string[], options: SpawnOptions = {}): Daemon {
  const child = spawn(which(cmd) ?? cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  let log = "";
  child.stdout?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  // A spawn that fails (ENOENT, EAGAIN) emits 'error' and maybe no 'exit': record it and end.
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", (error) => {
      log += `\n[startDaemon] cannot run ${cmd}: ${error.message}\n`;
      resolve();
    });
  });
  return {
    process: child,
    output: () => log,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      // No pid: the spawn failed. Node's kill() would then signal pid 0, the whole process group
      // (this test run and its parents).
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/**
 * Polls `check` until it returns true (or a truthy value) or the timeout passes. A check that
 * hangs (a request without its own timeout) does not hold the wait past the deadline.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  { timeoutMs = 30_000, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const hungError = new Error("the check did not answer");
  let lastError: unknown;
  while (Date.now() < deadline) {
    let timer: NodeJS.Timeout | undefined;
    try {
      const pending = Promise.resolve(check());
      pending.catch(() => undefined); // it may settle after the race is lost
      const hung = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(hungError), Math.max(1, deadline - Date.now()));
      });
      const value = await Promise.race([pending, hung]);
      if (value) return value;
    } catch (error) {
      // A last poll cut off at the deadline must not hide why the earlier ones failed.
      lastError =
        error === hungError && lastError ? `${String(lastError)}; then the check did not answer` : error;
    } finally {
      clearTimeout(timer);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`,
  );
}
