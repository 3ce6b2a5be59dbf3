/**
 * The edge's switch lock (tools/switch-lock.ts), its sh scripts run for real, concurrently, on a
 * temp directory, as they run in the edge container.
 */
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LOCK_SCRIPT, UNLOCK_SCRIPT, withSwitchLock } from "../../tools/switch-lock";
import type { RuntimeTransport } from "../../tools/traffic-switch";
import { removeDir, runInBackground, tempDir } from "../support/tools";

const dir = tempDir("switch-lock");
afterAll(() => removeDir(dir));

/** Runs a script with `sh -c` in the background (scripts of concurrent callers overlap). */
const sh = (script: string, args: string[]) =>
  runInBackground("sh", ["-c", script, "lock-test", ...args]).done;

const transport: RuntimeTransport = {
  description: "local sh",
  send: () => Promise.reject(new Error("not used")),
  writeFile: () => Promise.reject(new Error("not used")),
  shell: async (script, args) => {
    const run = await sh(script, args);
    if (run.status !== 0) throw new Error(run.stderr.trim());
    return run.stdout;
  },
};

const aged = (path: string, seconds: number) => {
  const then = new Date(Date.now() - seconds * 1000);
  utimesSync(path, then, then);
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
    await new Promise((resolve) => setTimeout(resolve, 300));
    await Promise.all([first, run("second", 10)]);
    expect(events).toEqual(["first start", "first end", "second start", "second end"]);
    expect(lines[0]).toMatch(/^waiting for another traffic switch to finish \(.+, last seen \d{4}-/);
  });

  it("a holder that outlives the TTL keeps its lock: it refreshes it", async () => {
    const lock = join(dir, "refreshed.lock");
    const holder = withSwitchLock(
      transport,
      lock,
      () => new Promise((resolve) => setTimeout(resolve, 3500)),
      {
        ttlSeconds: 2,
        refreshSeconds: 0.5,
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 2800)); // past the TTL, still running
    await expect(
      withSwitchLock(transport, lock, () => Promise.resolve(), { ttlSeconds: 2, waitSeconds: 0 }),
    ).rejects.toThrow(/another traffic switch holds/);
    await holder;
    expect(existsSync(lock)).toBe(false);
  });

  it("gives up after its wait naming the holder, and takes over a lock its holder stopped refreshing", async () => {
    const lock = join(dir, "held.lock");
    mkdirSync(lock);
    writeFileSync(join(lock, "owner"), "other-host:42:1\n");
    await expect(
      withSwitchLock(transport, lock, () => Promise.resolve(), { waitSeconds: 0, ttlSeconds: 300 }),
    ).rejects.toThrow(
      /another traffic switch holds .*held\.lock \(other-host:42:1, last seen \d{4}-.*\); try again/,
    );
    expect(existsSync(lock)).toBe(true); // someone else's live lock is left alone

    aged(lock, 600); // its holder was killed ten minutes ago
    await expect(
      withSwitchLock(transport, lock, () => Promise.resolve("ran"), { ttlSeconds: 300 }),
    ).resolves.toBe("ran");
    expect(existsSync(lock)).toBe(false);
  });

  it("a missing or unwritable lock directory is an error, not another switch", async () => {
    await expect(
      withSwitchLock(transport, join(dir, "no-such-dir", "state.lock"), () => Promise.resolve()),
    ).rejects.toThrow(/cannot create the switch lock: .*no-such-dir is not a writable directory/);
  });
});

describe("LOCK_SCRIPT and UNLOCK_SCRIPT", () => {
  it("of eight switches that find the same abandoned lock at once, exactly one takes it", async () => {
    for (let trial = 0; trial < 15; trial++) {
      const lock = join(dir, `stale-${trial}.lock`);
      mkdirSync(lock);
      writeFileSync(join(lock, "owner"), "killed:1:1\n");
      aged(lock, 3600);
      const runs = await Promise.all(
        Array.from({ length: 8 }, (_, i) => sh(LOCK_SCRIPT, [lock, `racer-${i}`, "90"])),
      );
      for (const run of runs) expect(run.status, run.stderr).toBe(0);
      const winners = runs.filter((run) => run.stdout.trim() === "acquired");
      expect(winners, `trial ${trial}: ${runs.map((r) => r.stdout.trim()).join(" | ")}`).toHaveLength(1);
      expect(readFileSync(join(lock, "owner"), "utf8")).toMatch(/^racer-\d\n$/);
      expect(existsSync(`${lock}.break`)).toBe(false);
    }
  });

  it("the old holder's unlock leaves a lock someone else took over", async () => {
    const lock = join(dir, "taken-over.lock");
    expect((await sh(LOCK_SCRIPT, [lock, "new-owner", "90"])).stdout.trim()).toBe("acquired");
    expect((await sh(UNLOCK_SCRIPT, [lock, "old-owner"])).status).toBe(0);
    expect(readFileSync(join(lock, "owner"), "utf8")).toBe("new-owner\n");
    await sh(UNLOCK_SCRIPT, [lock, "new-owner"]);
    expect(existsSync(lock)).toBe(false);
  });
});
