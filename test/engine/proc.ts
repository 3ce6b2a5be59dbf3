/**
 * Running commands for the engine level: every command and its output go to the engine log,
 * and a failure says which command failed with the end of its output.
 */
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync } from "node:fs";

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** Milliseconds before the command is killed (then status 124). Default 10 minutes. */
  timeoutMs?: number;
  /** Echo the command's output live (long phases: builds, `pulumi up`). */
  live?: boolean;
}

let logFile: string | undefined;

/** Every command and its output are appended here. */
export function setLog(path: string): void {
  logFile = path;
}

export function log(text: string): void {
  if (logFile) appendFileSync(logFile, text.endsWith("\n") ? text : `${text}\n`);
}

function describeCommand(command: string, args: readonly string[]): string {
  return [command, ...args]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(" ");
}

/** Runs a command to completion; never throws for a non-zero exit (see `mustRun`). */
export async function run(
  command: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  log(`$ ${describeCommand(command, args)}${opts.cwd ? `   (in ${opts.cwd})` : ""}`);
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      if (child.pid) child.kill("SIGTERM");
    }, opts.timeoutMs ?? 600_000);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk;
      log(chunk.toString());
      if (opts.live) process.stdout.write(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
      log(chunk.toString());
      if (opts.live) process.stderr.write(chunk);
    });
    child.stdin.on("error", () => undefined); // a command that does not read its input
    child.stdin.end(opts.input ?? "");
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ status: 127, stdout, stderr: `${stderr}${error.message}\n` });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const status = code ?? (signal === "SIGTERM" ? 124 : 128);
      log(`(exit ${status})`);
      resolve({ status, stdout, stderr });
    });
  });
}

/** The last `n` lines of a text, for error messages. */
export function tail(text: string, n = 25): string {
  return text.trimEnd().split("\n").slice(-n).join("\n");
}

/** Runs a command and throws, naming it and quoting the end of its output, unless it exits 0. */
export async function mustRun(
  command: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const result = await run(command, args, opts);
  if (result.status !== 0) {
    throw new Error(
      `${describeCommand(command, args)} exited ${result.status}:\n${tail(result.stderr || result.stdout)}`,
    );
  }
  return result;
}

/** Synchronous variant for quick read-only commands (`docker inspect`). */
export function runQuick(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): RunResult {
  const r = spawnSync(command, args, { encoding: "utf8", env: env ?? process.env, timeout: 60_000 });
  log(`$ ${describeCommand(command, args)}\n${r.stdout ?? ""}${r.stderr ?? ""}(exit ${r.status})`);
  return { status: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? r.error?.message ?? "" };
}
