/**
 * The edge's switch lock (tools/switch-lock.ts), its sh scripts run for real on a temp directory
 * as they run in the edge container.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { withSwitchLock } from "../../tools/switch-lock";
import type { RuntimeTransport } from "../../tools/traffic-switch";
import { removeDir, tempDir } from "../support/tools";

const dir = tempDir("switch-lock");
afterAll(() => removeDir(dir));

const transport: RuntimeTransport = {
  description: "local sh",
  send: () => Promise.reject(new Error("not used")),
  writeFile: () => Promise.reject(new Error("not used")),
  shell: (script, args) => {
    const run = spawnSync("sh", ["-c", script, "lock-test", ...args], { encoding: "utf8" });
    return run.status === 0 ? Promise.resolve(run.stdout) : Promise.reject(new Error(run.stderr));
  },
};

describe("withSwitchLock", () => {
  it("holds the lock while the switch runs and removes it after, also when the switch fails", async () => {
    const lock = join(dir, "state.lock");
    const seen = await withSwitchLock(transport, lock, () =>
      Promise.resolve(existsSync(lock) && readFileSync(join(lock, "owner"), "utf8")),
    );
    expect(seen).toMatch(/^.+:\d+:\d+\n$/);
    expect(existsSync(lock)).toBe(false);
    await expect(withSwitchLock(transport, lock, () => Promise.reject(new Error("refused")))).rejects.toThrow(
      "refused",
    );
    expect(existsSync(lock)).toBe(false);
  });

  it("a second switch waits for the first, so the two never interleave", async () => {
    const lock = join(dir, "serial.lock");
    const events: string[] = [];
    const lines: string[] = [];
    const run = (name: string, ms: number) =>
      withSwitchLock(
        transport,
        lock,
        async () => {
          events.push(`${name} start`);
          await new Promise((resolve) => setTimeout(resolve, ms));
          events.push(`${name} end`);
        },
        { log: (line) => lines.push(line) },
      );
    const first = run("first", 1500);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await Promise.all([first, run("second", 10)]);
    expect(events).toEqual(["first start", "first end", "second start", "second end"]);
    expect(lines[0]).toMatch(/^waiting for another traffic switch to finish \(.+ since \d{4}-/);
  });

  it("gives up after its wait naming the holder, and takes over a lock older than the TTL", async () => {
    const lock = join(dir, "held.lock");
    mkdirSync(lock);
    spawnSync("sh", ["-c", 'echo "other-host:42:1" > "$1/owner"', "x", lock]);
    await expect(
      withSwitchLock(transport, lock, () => Promise.resolve(), { waitSeconds: 0, ttlSeconds: 300 }),
    ).rejects.toThrow(
      /another traffic switch holds .*held\.lock \(other-host:42:1 since \d{4}-.*\); try again/,
    );
    expect(existsSync(lock)).toBe(true); // someone else's lock is left alone

    const old = new Date(Date.now() - 600_000);
    utimesSync(lock, old, old); // its holder was killed ten minutes ago
    await expect(
      withSwitchLock(transport, lock, () => Promise.resolve("ran"), { ttlSeconds: 300 }),
    ).resolves.toBe("ran");
    expect(existsSync(lock)).toBe(false);
  });
});
