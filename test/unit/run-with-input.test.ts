import { describe, expect, it } from "vitest";
import { runWithInput } from "../../lib/run-with-input";

// Far more than a pipe buffer holds, so a child that exits early makes the write fail with EPIPE.
const big = "x".repeat(8 * 1024 * 1024);

describe("runWithInput", () => {
  it("passes the input and resolves to stdout", async () => {
    await expect(runWithInput("sh", ["-c", "wc -c"], { input: "hello", timeoutMs: 10_000 })).resolves.toMatch(
      /^\s*5\s*$/,
    );
  });

  it("a child that fails before reading its input rejects with its exit status, not an EPIPE crash", async () => {
    await expect(
      runWithInput("sh", ["-c", "echo refused >&2; exit 3"], {
        input: big,
        timeoutMs: 10_000,
        what: "check",
      }),
    ).rejects.toThrow("check exited 3: refused");
  });

  it("a child that exits 0 without reading its input is not taken as success", async () => {
    await expect(runWithInput("true", [], { input: big, timeoutMs: 10_000 })).rejects.toThrow(
      /true exited 0 without reading all its input: .*EPIPE/,
    );
  });

  it("a child given no input may exit before anything is written", async () => {
    // 200 quick exits: writing even an empty chunk raced the exit (EPIPE) about 1 time in 30.
    const runs = await Promise.all(
      Array.from({ length: 200 }, () => runWithInput("sh", ["-c", "exit 0"], { timeoutMs: 10_000 })),
    );
    expect(runs.every((out) => out === "")).toBe(true);
  });

  it("names a missing command", async () => {
    await expect(runWithInput("no-such-command-bi", [], { timeoutMs: 10_000 })).rejects.toThrow(
      /cannot run no-such-command-bi/,
    );
  });

  it("kills a command past its timeout", async () => {
    await expect(runWithInput("sleep", ["5"], { timeoutMs: 200, what: "sleeper" })).rejects.toThrow(
      "sleeper did not finish within 200 ms",
    );
  });
});
