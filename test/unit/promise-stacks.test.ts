import { describe, expect, it } from "vitest";
import { skipUnreadPromiseStacks } from "../harness/promise-stacks";

interface Debuggable {
  debuggablePromise(promise: Promise<unknown>, context: unknown): Promise<unknown>;
}
/** What the SDK attaches to the promise it is given. */
interface Traced {
  _debugStackTrace?: string;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const debuggable = require("@pulumi/pulumi/runtime/debuggable") as Debuggable;

describe("skipUnreadPromiseStacks", () => {
  it("leaves the SDK alone when PULUMI_DEBUG_PROMISE_LEAKS asks for the traces", () => {
    const before = debuggable.debuggablePromise;
    expect(skipUnreadPromiseStacks({ PULUMI_DEBUG_PROMISE_LEAKS: "1" })).toBe(false);
    expect(debuggable.debuggablePromise).toBe(before);
    const input: Traced & Promise<number> = Promise.resolve(1);
    void debuggable.debuggablePromise(input, "with trace");
    expect(input._debugStackTrace).toMatch(/\n\s+at /);
  });

  it("makes the SDK's per-promise trace frameless, keeps the promise and every other trace", async () => {
    expect(skipUnreadPromiseStacks({})).toBe(true);
    expect(skipUnreadPromiseStacks({})).toBe(true); // idempotent: wrapped once
    const limit = Error.stackTraceLimit;
    const input: Traced & Promise<number> = Promise.resolve(42);
    const tracked = debuggable.debuggablePromise(input, "no trace");
    expect(input._debugStackTrace).toMatch(/^Error:? ?$/); // the message line, no frames
    await expect(tracked).resolves.toBe(42);
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error("elsewhere").stack).toMatch(/\n\s+at /);
  });
});
