import { describe, expect, it } from "vitest";
import { runWithInput } from "../../lib/run-with-input";

// Far more than a pipe buffer holds, so a child that exits early makes the write fail with EPIPE.
// Only the timeout test sets a time limit: on a loaded machine, a limit is a flake, not a check.
const big = "x".repeat(8 * 1024 * 1024);

describe("runWithInput", () => {
  it("passes the input and resolves to stdout", async () => {
    await expect(runWithInput("sh", ["-c", "wc -c"], { input: "hello", timeoutMs: "none" })).resolves.toMatch(
      /^\s*5\s*$/,
    );
  });

  it("a child that fails before reading its input rejects with its exit status, not an EPIPE crash", async () => {
    await expect(
      runWithInput("sh", ["-c", "echo refused >&2; exit 3"], {
        input: big,
        timeoutMs: "none",
        what: "check",
      }),
    ).rejects.toThrow("check exited 3: refused");
  });

  it("a child that exits 0 without reading its input is not taken as success", async () => {
    await expect(runWithInput("true", [], { input: big, timeoutMs: "none" })).rejects.toThrow(
      /true exited 0 without reading all its input: .*EPIPE/,
    );
  });

  it("a child given no input may exit before anything is written", async () => {
    // 200 quick exits: writing even an empty chunk raced the exit (EPIPE) about 1 time in 30.
    // No time limit: on a busy machine 200 shells at once may take long to start, which is not
    // what this checks (the vitest timeout still ends a hang).
    const runs = await Promise.all(
      Array.from({ length: 200 }, () => runWithInput("sh", ["-c", "exit 0"], { timeoutMs: "none" })),
    );
    expect(runs.every((out) => out === "")).toBe(true);
  });

  it("names a missing command", async () => {
    await expect(runWithInput("no-such-command-bi", [], { timeoutMs: "none" })).rejects.toThrow(
      /cannot run no-such-command-bi/,
    );
  });

  it("kills a command past its timeout", async () => {
    await expect(runWithInput("sleep", ["5"], { timeoutMs: 200, what: "sleeper" })).rejects.toThrow(
      "sleeper did not finish within 200 ms",
    );
  });
});
