/**
 * The edge's switch lock (tools/switch-lock.ts), its sh scripts run for real, concurrently, on a
 * temp directory, as they run in the edge container.
 */
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
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

/** A one-shot event: `fired` resolves once `fire()` was called. */
function signal(): { fire: () => void; fired: Promise<void> } {
  let fire!: () => void;
  const fired = new Promise<void>((resolve) => (fire = resolve));
  return { fire, fired };
}

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
    // Each step waits for what the other side was seen to do, never for a length of time: the
    // first holds the lock until the second has said it waits for it.
    const firstHolds = signal();
    const secondWaits = signal();
    const first = withSwitchLock(transport, lock, async () => {
      events.push("first start");
      firstHolds.fire();
      await secondWaits.fired;
      events.push("first end");
    });
    await firstHolds.fired;
    const second = withSwitchLock(
      transport,
      lock,
      async () => {
        events.push("second start");
        events.push("second end");
      },
      {
        log: (line) => {
          lines.push(line);
          if (line.startsWith("waiting for another traffic switch")) secondWaits.fire();
        },
      },
    );
    // A second that does not wait must fail the order below, not leave the first holding forever.
    void second.then(secondWaits.fire, secondWaits.fire);
    await Promise.all([first, second]);
    expect(events).toEqual(["first start", "first end", "second start", "second end"]);
    expect(lines[0]).toMatch(/^waiting for another traffic switch to finish \(.+, last seen \d{4}-/);
  });

  it("a holder that outlives the TTL keeps its lock: it refreshes it", async () => {
    const lock = join(dir, "refreshed.lock");
    const holding = signal();
    const done = signal();
    const holder = withSwitchLock(
      transport,
      lock,
      async () => {
        holding.fire();
        await done.fired;
      },
      { ttlSeconds: 60, refreshSeconds: 0.2 },
    );
    await holding.fired;
    // Ten minutes without a refresh would make it abandoned (the next test takes such a lock
    // over); the holder is alive, so its next refresh makes the lock current again.
    aged(lock, 600);
    const agedAt = statSync(lock).mtimeMs;
    while (statSync(lock).mtimeMs === agedAt) await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(
      withSwitchLock(transport, lock, () => Promise.resolve(), { ttlSeconds: 60, waitSeconds: 0 }),
    ).rejects.toThrow(/another traffic switch holds/);
    done.fire();
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
