/**
 * One traffic switch at a time per edge. The env stack's switch and a slot stack's rebalance run
 * from different `pulumi up`s; two at once could each undo the other's weights. The lock is a
 * directory next to the server-state file (`mkdir` is atomic), made where HAProxy runs (in the
 * edge container through `docker exec`), with an owner file; one older than the TTL is taken over
 * (its holder was killed).
 */
import { hostname } from "node:os";
import type { RuntimeTransport } from "./traffic-switch";

/** "$1" lock dir, "$2" owner, "$3" TTL seconds: prints `acquired`, or `busy <since> <owner>`. */
export const LOCK_SCRIPT = `set -eu
dir=$1 owner=$2 ttl=$3
take() { mkdir "$dir" 2>/dev/null && printf '%s\\n' "$owner" > "$dir/owner"; }
if take; then echo acquired; exit 0; fi
now=$(date +%s)
since=$(stat -c %Y "$dir" 2>/dev/null || echo "$now")
if [ $((now - since)) -ge "$ttl" ]; then
  rm -rf "$dir"
  if take; then echo acquired; exit 0; fi
fi
printf 'busy %s %s\\n' "$since" "$(cat "$dir/owner" 2>/dev/null || echo unknown)"`;

/** "$1" lock dir, "$2" owner: removes the lock only when it is still this owner's. */
export const UNLOCK_SCRIPT = `set -eu
if [ "$(cat "$1/owner" 2>/dev/null)" = "$2" ]; then rm -rf "$1"; fi`;

export interface SwitchLockOptions {
  /** Seconds to wait for another switch to finish. Default 180. */
  waitSeconds?: number;
  /** Seconds after which a lock counts as abandoned. Default 300 (longer than any switch). */
  ttlSeconds?: number;
  log?: (line: string) => void;
}

/** Runs `fn` holding the switch lock `dir`; throws naming the holder when it cannot get it in time. */
export async function withSwitchLock<T>(
  transport: RuntimeTransport,
  dir: string,
  fn: () => Promise<T>,
  options: SwitchLockOptions = {},
): Promise<T> {
  const owner = `${hostname()}:${process.pid}:${Date.now()}`;
  const ttl = options.ttlSeconds ?? 300;
  const deadline = Date.now() + (options.waitSeconds ?? 180) * 1000;
  let waiting = false;
  for (;;) {
    const answer = (await transport.shell(LOCK_SCRIPT, [dir, owner, String(ttl)])).trim();
    if (answer === "acquired") break;
    const busy = /^busy (\d+) (.*)$/.exec(answer);
    if (!busy) throw new Error(`switch lock ${dir}: unexpected answer ${JSON.stringify(answer)}`);
    const holder = `${busy[2]} since ${new Date(Number(busy[1]) * 1000).toISOString()}`;
    if (Date.now() >= deadline) {
      throw new Error(
        `another traffic switch holds ${dir} (${holder}); try again once it is done, or remove the directory if its holder is gone`,
      );
    }
    if (!waiting) options.log?.(`waiting for another traffic switch to finish (${holder})`);
    waiting = true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  try {
    return await fn();
  } finally {
    await transport.shell(UNLOCK_SCRIPT, [dir, owner]).catch((error: Error) => {
      options.log?.(`WARNING: could not release the switch lock ${dir}: ${error.message}`);
    });
  }
}
