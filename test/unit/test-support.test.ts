/**
 * The test support helpers that the real-daemon tests lean on: port picking and daemons that
 * cannot start.
 */
import { describe, expect, it } from "vitest";
import { freePort, startDaemon, waitFor } from "../support/tools";

describe("freePort", () => {
  it("never hands out a port twice in one file, and stays in this worker's band", async () => {
    const saved = process.env.VITEST_POOL_ID;
    try {
      // Band 8: no worker of this run uses it (maxWorkers is 2), so no real port is taken.
      process.env.VITEST_POOL_ID = "8";
      const ports = await Promise.all(Array.from({ length: 200 }, () => freePort()));
      expect(new Set(ports).size).toBe(ports.length);
      for (const port of ports) {
        expect(port).toBeGreaterThanOrEqual(30500);
        expect(port).toBeLessThan(32000);
      }
      process.env.VITEST_POOL_ID = "1";
      for (const port of await Promise.all([freePort(), freePort()])) {
        expect(port).toBeGreaterThanOrEqual(20000);
        expect(port).toBeLessThan(21500);
      }
    } finally {
      if (saved === undefined) delete process.env.VITEST_POOL_ID;
      else process.env.VITEST_POOL_ID = saved;
    }
  });
});

describe("startDaemon", () => {
  it("a command that cannot start ends the daemon with the reason in its output", async () => {
    const daemon = startDaemon("/nonexistent/bi-daemon", []);
    await daemon.stop();
    expect(daemon.output()).toMatch(/cannot run \/nonexistent\/bi-daemon: .*ENOENT/);
  });
});

describe("waitFor", () => {
  it("a check that never answers still ends at the deadline, saying so", async () => {
    await expect(
      waitFor("a hung request", () => new Promise<boolean>(() => undefined), { timeoutMs: 300 }),
    ).rejects.toThrow("timed out after 300 ms waiting for a hung request: Error: the check did not answer");
  });

  it("a last check cut off at the deadline keeps the earlier error", async () => {
    let calls = 0;
    const check = () =>
      ++calls === 1 ? Promise.reject(new Error("ECONNREFUSED")) : new Promise<boolean>(() => undefined);
    await expect(waitFor("a daemon", check, { timeoutMs: 300, intervalMs: 1 })).rejects.toThrow(
      "waiting for a daemon: Error: ECONNREFUSED; then the check did not answer",
    );
  });

  it("returns the first truthy value and keeps the last error otherwise", async () => {
    let calls = 0;
    await expect(waitFor("three calls", () => ++calls >= 3 && calls, { intervalMs: 1 })).resolves.toBe(3);
    await expect(
      waitFor("a failing check", () => Promise.reject(new Error("refused")), {
        timeoutMs: 100,
        intervalMs: 10,
      }),
    ).rejects.toThrow("waiting for a failing check: Error: refused");
  });
});
