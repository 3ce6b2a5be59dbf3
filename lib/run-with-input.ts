/**
 * Runs a command with `input` on stdin and resolves to its stdout; rejects on a non-zero exit
 * (with its stderr), on a spawn error, or when it runs past `timeoutMs` (then it is killed;
 * "none": it may take as long as it takes, for a caller that bounds the wait itself).
 * `what` names the command in those messages, e.g. "docker exec into backend-infra-prod-edge".
 * A command that exits before reading all of `input` (EPIPE) fails with its own exit status, or,
 * if it exited 0, as one that did not take its input: a half-read file must not pass as written.
 */
import { spawn } from "node:child_process";

export function runWithInput(
  cmd: string,
  args: string[],
  options: { input?: string; timeoutMs: number | "none"; what?: string },
): Promise<string> {
  const what = options.what ?? cmd;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    // Without a listener an EPIPE here is an uncaught exception that takes the process down.
    let stdinError: Error | undefined;
    child.stdin.on("error", (error) => (stdinError = error));
    // The child's 'close' waits for stdout and stderr only; stdin's EPIPE may come after it.
    const stdinClosed = new Promise<void>((done) => child.stdin.once("close", () => done()));
    const { timeoutMs } = options;
    const timer =
      timeoutMs === "none"
        ? undefined
        : setTimeout(() => {
            if (child.pid !== undefined) child.kill("SIGKILL"); // without a pid kill() signals our group
            reject(new Error(`${what} did not finish within ${timeoutMs} ms`));
          }, timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd} (is it installed and on PATH?): ${error.message}`));
    });
    child.on("close", async (code) => {
      clearTimeout(timer);
      // Bounded: a stdin that somehow never closes must not hang the caller.
      await Promise.race([stdinClosed, new Promise((done) => setTimeout(done, 2_000).unref())]);
      if (code === 0 && stdinError && options.input)
        reject(new Error(`${what} exited 0 without reading all its input: ${stdinError.message}`));
      else if (code === 0) resolve(out);
      else reject(new Error(`${what} exited ${code}: ${err.trim() || out.trim()}`));
    });
    // No chunk without input: writing even an empty one to a child that already exited fails.
    if (options.input) child.stdin.end(options.input);
    else child.stdin.end();
  });
}
