/**
 * Runs a command with `input` on stdin and resolves to its stdout; rejects on a non-zero exit
 * (with its stderr), on a spawn error, or when it runs past `timeoutMs` (then it is killed).
 * `what` names the command in those messages, e.g. "docker exec into backend-infra-prod-edge".
 */
import { spawn } from "node:child_process";

export function runWithInput(
  cmd: string,
  args: string[],
  options: { input?: string; timeoutMs: number; what?: string },
): Promise<string> {
  const what = options.what ?? cmd;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${what} did not finish within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd} (is it installed and on PATH?): ${error.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${what} exited ${code}: ${err.trim() || out.trim()}`));
    });
    child.stdin.end(options.input ?? "");
  });
}
