/**
 * One traffic switch at a time per edge. The env stack's switch and a slot stack's rebalance run
 * from different `pulumi up`s; two at once could each undo the other's weights. The lock is a
 * directory next to the server-state file (`mkdir` is atomic), made where HAProxy runs (in the
 * edge container through `docker exec`), with an owner file.
 *
 * The holder touches the directory every REFRESH seconds, so only a lock whose holder is gone
 * (killed, its host lost) grows older than the TTL; the next switch then takes it over. Takeovers
 * are serialised by a second directory (`<lock>.break`), so two switches that find the same stale
 * lock cannot both take it. A holder that gets SIGINT or SIGTERM releases the lock first.
 */
import { hostname } from "node:os";
import type { RuntimeTransport } from "./traffic-switch";

/**
 * "$1" lock dir, "$2" owner, "$3" TTL seconds: prints `acquired`, or `busy <since> <owner>`; exits
 * 1 with a message when the lock's directory cannot be written (that is no "other switch").
 */
export const LOCK_SCRIPT = `set -eu
dir=$1 owner=$2 ttl=$3
parent=$(dirname "$dir")
if [ ! -d "$parent" ] || [ ! -w "$parent" ]; then
  echo "cannot create the switch lock: $parent is not a writable directory for uid $(id -u)" >&2
  exit 1
fi
take() { mkdir "$dir" 2>/dev/null && printf '%s\\n' "$owner" > "$dir/owner"; }
age() { echo $(( $(date +%s) - $(stat -c %Y "$1" 2>/dev/null || date +%s) )); }
if take; then echo acquired; exit 0; fi
if [ -d "$dir" ] && [ "$(age "$dir")" -ge "$ttl" ]; then
  # A breaker killed inside its few lines leaves .break behind: it is stale after a minute.
  if [ -d "$dir.break" ] && [ "$(age "$dir.break")" -ge 60 ]; then rmdir "$dir.break" 2>/dev/null || :; fi
  if mkdir "$dir.break" 2>/dev/null; then
    took=no
    # Checked again under .break: another breaker may have taken it over meanwhile.
    if [ ! -d "$dir" ] || [ "$(age "$dir")" -ge "$ttl" ]; then
      rm -rf "$dir" 2>/dev/null || :
      if take; then took=yes; fi
    fi
    rmdir "$dir.break" 2>/dev/null || :
    if [ "$took" = yes ]; then echo acquired; exit 0; fi
  fi
fi
printf 'busy %s %s\\n' "$(stat -c %Y "$dir" 2>/dev/null || date +%s)" "$(cat "$dir/owner" 2>/dev/null || echo unknown)"`;

/** "$1" lock dir, "$2" owner: refreshes the lock's age; prints `lost` when it is not ours. */
export const REFRESH_SCRIPT = `set -eu
if [ "$(cat "$1/owner" 2>/dev/null)" = "$2" ]; then touch "$1"; else echo lost; fi`;

/** "$1" lock dir, "$2" owner: removes the lock only when it is still this owner's. */
export const UNLOCK_SCRIPT = `set -eu
if [ "$(cat "$1/owner" 2>/dev/null)" = "$2" ]; then rm -rf "$1"; fi`;

export interface SwitchLockOptions {
  /** Seconds to wait for another switch to finish. Default 180 (twice the TTL). */
  waitSeconds?: number;
  /** Seconds without a refresh after which a lock counts as abandoned. Default 90. */
  ttlSeconds?: number;
  /** Seconds between the holder's refreshes. Default 15. */
  refreshSeconds?: number;
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
  const ttl = options.ttlSeconds ?? 90;
  const deadline = Date.now() + (options.waitSeconds ?? 2 * ttl) * 1000;
  let waiting = false;
  for (;;) {
    const answer = (await transport.shell(LOCK_SCRIPT, [dir, owner, String(ttl)])).trim();
    if (answer === "acquired") break;
    const busy = /^busy (\d+) (.*)$/.exec(answer);
    if (!busy) throw new Error(`switch lock ${dir}: unexpected answer ${JSON.stringify(answer)}`);
    const holder = `${busy[2]}, last seen ${new Date(Number(busy[1]) * 1000).toISOString()}`;
    if (Date.now() >= deadline) {
      throw new Error(
        `another traffic switch holds ${dir} (${holder}); try again once it is done. A lock its ` +
          `holder no longer refreshes is taken over after ${ttl} s`,
      );
    }
    if (!waiting) options.log?.(`waiting for another traffic switch to finish (${holder})`);
    waiting = true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }

  const release = () =>
    transport.shell(UNLOCK_SCRIPT, [dir, owner]).catch((error: Error) => {
      options.log?.(`WARNING: could not release the switch lock ${dir}: ${error.message}`);
    });
  const refresh = setInterval(
    () => {
      void transport
        .shell(REFRESH_SCRIPT, [dir, owner])
        .then((answer) => {
          if (answer.trim() === "lost") options.log?.(`WARNING: the switch lock ${dir} was taken over`);
        })
        .catch(() => undefined);
    },
    (options.refreshSeconds ?? 15) * 1000,
  );
  // Cancelled (Ctrl-C, pulumi cancel): release before going, so the next switch need not wait.
  const onSignal = (signal: NodeJS.Signals) => {
    void release().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await fn();
  } finally {
    clearInterval(refresh);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await release();
  }
}
