/**
 * traffic-switch: sets the blue/green split of the edge through HAProxy's runtime API.
 *
 *   node dist/tools/traffic-switch.js apply --active green --canary-percent 0 <transport> [options]
 *   node dist/tools/traffic-switch.js status <transport>
 *   node dist/tools/traffic-switch.js save --state-file FILE <transport>
 *
 * Transport (how to reach the admin API), exactly one of:
 *   --socket PATH              unix admin socket (a local HAProxy)
 *   --tcp HOST:PORT            TCP admin socket (tests)
 *   --docker-container NAME    `docker exec` into the edge container and talk to its admin API on
 *                              the container's loopback (--admin-tcp, default 127.0.0.1:9999) with
 *                              bash's /dev/tcp (the official HAProxy image has no socat). DOCKER_HOST
 *                              (or --docker-host) selects the engine.
 *
 * apply --replicas COLOUR=N (repeatable) / --replicas-from-docker NETWORK: the replica counts each
 * colour's weight is divided over, given or counted from the running slot containers on the app
 * network (explicit counts win). Without them the servers the edge has an address for now are
 * used, which DNS lags behind while replicas come and go, and a canary share computed from them
 * would stay off once it catches up.
 *
 * apply --health-gate new: only a colour that gets no traffic now must be healthy; for
 * re-applying the target the edge serves with new replica counts (components/slot-rebalance.ts).
 *
 * apply takes the edge's switch lock (a directory next to the state file, tools/switch-lock.ts):
 * the env stack's switch and a slot stack's rebalance never interleave.
 *
 * apply: waits up to --wait-healthy seconds (default 30) for every colour that would receive
 * traffic to have a server that is UP with a passing /health check; refuses otherwise (exit 3)
 * and leaves all weights as they are. Then sets the weights (raising before lowering, so there is
 * never a moment without capacity), reads them back, and dumps `show servers state` to the
 * server-state file (atomic write) so a reload or restart keeps them. Re-running with the same
 * target changes nothing (idempotent) but still refreshes the state file.
 *
 * Output: one JSON object on stdout; progress on stderr. Exit codes: 0 ok, 1 error, 2 usage, 3 refused.
 */
import { renameSync, writeFileSync } from "node:fs";
import { connect, type NetConnectOpts } from "node:net";
import { parseArgs } from "node:util";
import {
  APP_BACKEND,
  currentTraffic,
  HAPROXY_NAME,
  haproxyName,
  parseServersState,
  parseStat,
  planSwitch,
  type ServerState,
  type SwitchPlan,
} from "../lib/haproxy-runtime";
import { runWithInput } from "../lib/run-with-input";
import {
  COLOUR_NAMES,
  isColour,
  shareOf,
  validateTarget,
  type PerColour,
  type TrafficTarget,
} from "../lib/traffic-weights";
import type { Colour } from "../config/keys";
import { dockerReplicas } from "./docker-replicas";
import { withSwitchLock } from "./switch-lock";

export const EXIT = { ok: 0, error: 1, usage: 2, refused: 3 } as const;
const DOCKER_NETWORK = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const DEFAULT_ADMIN_TCP = "127.0.0.1:9999";
const DEFAULT_CONTAINER_STATE_FILE = "/var/lib/haproxy/server-state";

export class UsageError extends Error {}
export class RefusedError extends Error {}

/** How the CLI reaches HAProxy's runtime API and the server-state file. */
export interface RuntimeTransport {
  readonly description: string;
  /** Sends one command line (may hold several `;`-separated commands) and returns the answer. */
  send(command: string): Promise<string>;
  /** Writes a file atomically (temp file + rename) where HAProxy reads it. */
  writeFile(path: string, content: string): Promise<void>;
  /** Runs a POSIX sh script with arguments where HAProxy runs (its container, or this host). */
  shell(script: string, args: string[]): Promise<string>;
}

const localShell = (script: string, args: string[]) =>
  runWithInput("sh", ["-c", script, "traffic-switch", ...args], { timeoutMs: 30_000 });

function socketRequest(options: NetConnectOpts, command: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(options);
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`admin socket did not answer "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.end(`${command}\n`));
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`admin socket: ${error.message}`));
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

function writeLocalFile(path: string, content: string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, content, { mode: 0o644 });
  renameSync(temp, path);
  return Promise.resolve();
}

export function unixTransport(path: string, timeoutMs = 10_000): RuntimeTransport {
  return {
    description: `unix socket ${path}`,
    send: (command) => socketRequest({ path }, command, timeoutMs),
    writeFile: writeLocalFile,
    shell: localShell,
  };
}

export function tcpTransport(hostPort: string, timeoutMs = 10_000): RuntimeTransport {
  const { host, port } = splitHostPort(hostPort, "--tcp");
  return {
    description: `tcp ${host}:${port}`,
    send: (command) => socketRequest({ host, port }, command, timeoutMs),
    writeFile: writeLocalFile,
    shell: localShell,
  };
}

/** bash script run inside the edge container: one request over /dev/tcp, answer to stdout. */
export const DOCKER_SEND_SCRIPT = 'exec 3<>"/dev/tcp/$1/$2" || exit 70; cat >&3; cat <&3';
export const DOCKER_WRITE_SCRIPT = 'cat > "$1.tmp" && mv -f "$1.tmp" "$1"';

export function dockerTransport(
  container: string,
  adminTcp = DEFAULT_ADMIN_TCP,
  dockerHost?: string,
  timeoutMs = 30_000,
): RuntimeTransport {
  const { host, port } = splitHostPort(adminTcp, "--admin-tcp");
  const hostArgs = dockerHost ? ["-H", dockerHost] : [];
  const exec = (args: string[], input: string) =>
    runWithInput("docker", [...hostArgs, "exec", "-i", container, ...args], {
      input,
      timeoutMs,
      what: `docker exec into ${container}`,
    });
  return {
    description: `docker exec ${container} (admin ${host}:${port})`,
    send: (command) =>
      exec(["bash", "-c", DOCKER_SEND_SCRIPT, "traffic-switch", host, String(port)], `${command}\n`),
    writeFile: async (path, content) => {
      await exec(["bash", "-c", DOCKER_WRITE_SCRIPT, "traffic-switch", path], content);
    },
    shell: (script, args) => exec(["sh", "-c", script, "traffic-switch", ...args], ""),
  };
}

function splitHostPort(value: string, flag: string): { host: string; port: number } {
  const match = /^([^:\s]+):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new UsageError(`${flag}: expected HOST:PORT like 127.0.0.1:9999, got ${JSON.stringify(value)}`);
  }
  return { host: match[1], port };
}

export interface ApplyOptions {
  target: TrafficTarget;
  backend?: string;
  /** Where to persist `show servers state`; undefined = do not persist. */
  stateFile?: string;
  /** Seconds to wait for the receiving colours to become healthy before refusing. */
  waitHealthySeconds?: number;
  /** Replicas per colour the weights are divided over (lib/haproxy-runtime SwitchPlanInput). */
  replicas?: Partial<PerColour<number>>;
  /** Which receiving colours the health gate checks (lib/haproxy-runtime SwitchPlanInput). */
  gate?: "receiving" | "new";
  /** Seconds to wait for another switch's lock (tools/switch-lock.ts default). */
  lockWaitSeconds?: number;
  /** Counts the running replicas (Docker); `replicas` given explicitly win over its counts. */
  countReplicas?: () => Promise<Partial<PerColour<number>>>;
  dryRun?: boolean;
  log?: (line: string) => void;
}

export interface ApplyResult {
  action: "applied" | "unchanged" | "refused" | "dry-run";
  active: string;
  canaryPercent: number;
  colourWeights?: Record<string, number>;
  /** Weight of each replica of a colour, largest first. */
  replicaWeights?: Record<string, number[]>;
  share?: Record<string, number>;
  healthy: Record<string, number>;
  present?: Record<string, number>;
  replicas?: Record<string, number>;
  commands?: string[];
  stateFile?: string;
  reason?: string;
  warning?: string;
}

async function readPlan(
  transport: RuntimeTransport,
  options: ApplyOptions,
): Promise<{ plan: SwitchPlan; servers: ServerState[] }> {
  const backend = haproxyName("backend", options.backend ?? APP_BACKEND);
  const servers = parseServersState(await transport.send(`show servers state ${backend}`));
  const stats = parseStat(await transport.send("show stat"));
  return {
    plan: planSwitch({
      target: options.target,
      servers,
      stats,
      backend,
      replicas: options.replicas,
      gate: options.gate,
    }),
    servers,
  };
}

/**
 * After a failed weight change: sets back each server that still holds the weight this run gave
 * it (a server another writer changed meanwhile is left alone), raising before lowering, and
 * returns how that went, for the error message.
 */
async function restoreWeights(
  transport: RuntimeTransport,
  backend: string,
  before: ServerState[],
  set: Record<string, number>,
) {
  try {
    const now = parseServersState(await transport.send(`show servers state ${backend}`));
    // Servers this run changed (their weight before differs from the one set) that still hold it.
    const changed = before
      .flatMap((s) =>
        set[s.name] !== undefined && s.weight !== set[s.name] ? [{ ...s, set: set[s.name] }] : [],
      )
      .map((s) => ({
        name: s.name,
        want: s.weight,
        set: s.set,
        now: now.find((n) => n.name === s.name)?.weight,
      }))
      .filter((s) => s.now === s.set)
      .sort((a, b) => Number(b.want > b.set) - Number(a.want > a.set));
    if (changed.length === 0) return "no weight had changed";
    const answer = await transport.send(
      changed
        .map(
          (s) =>
            `set server ${haproxyName("backend", backend)}/${haproxyName("server", s.name)} weight ${s.want}`,
        )
        .join("; "),
    );
    if (answer.trim() !== "") return `putting the weights back failed too: ${answer.trim()}`;
    return `the weights were put back as they were (${changed.map((s) => `${s.name}=${s.want}`).join(", ")})`;
  } catch (error) {
    return `putting the weights back failed too: ${(error as Error).message}`;
  }
}

/** Persists the current server state to `path` (atomic). Returns the text written. */
export async function saveState(transport: RuntimeTransport, path: string): Promise<string> {
  const state = await transport.send("show servers state");
  parseServersState(state); // refuse to write something HAProxy could not load
  await transport.writeFile(path, state.endsWith("\n") ? state : `${state}\n`);
  return state;
}

/**
 * The switch itself; throws RefusedError when the health gate says no. With a state file (every
 * real switch), it holds the edge's switch lock (`<state file>.lock`, tools/switch-lock.ts) from
 * reading the weights to saving them, so two switches never interleave.
 */
export async function applySwitch(transport: RuntimeTransport, options: ApplyOptions): Promise<ApplyResult> {
  validateTarget(options.target);
  haproxyName("backend", options.backend ?? APP_BACKEND);
  if (!options.stateFile || options.dryRun) return applyUnlocked(transport, options);
  return withSwitchLock(transport, `${options.stateFile}.lock`, () => applyUnlocked(transport, options), {
    waitSeconds: options.lockWaitSeconds,
    log: options.log,
  });
}

async function applyUnlocked(transport: RuntimeTransport, given: ApplyOptions): Promise<ApplyResult> {
  // Counted here, under the lock: a count taken before waiting for another switch may be stale.
  const counted = given.countReplicas ? await given.countReplicas() : {};
  const options = { ...given, replicas: { ...counted, ...given.replicas } };
  const log = options.log ?? (() => undefined);
  const backend = options.backend ?? APP_BACKEND;
  const waitMs = Math.max(0, (options.waitHealthySeconds ?? 30) * 1000);
  const deadline = Date.now() + waitMs;
  const base = { active: options.target.active, canaryPercent: options.target.canaryPercent };

  log(`reading server state of backend ${backend} over ${transport.description}`);
  let { plan, servers: before } = await readPlan(transport, options);
  let waited = false;
  while (!plan.ok && Date.now() < deadline) {
    if (!waited) log(`waiting up to ${waitMs / 1000} s for a healthy server: ${plan.reason}`);
    waited = true;
    await new Promise((r) => setTimeout(r, 500));
    ({ plan, servers: before } = await readPlan(transport, options));
  }
  if (!plan.ok) throw new RefusedError(plan.reason);
  if (plan.warning) log(`WARNING: ${plan.warning}`);

  const summary = {
    ...base,
    colourWeights: plan.colourWeights,
    replicaWeights: plan.replicaWeights,
    share: roundShare(plan.share),
    healthy: plan.healthy,
    present: plan.present,
    replicas: plan.replicas,
    commands: plan.commands,
    ...(plan.warning ? { warning: plan.warning } : {}),
  };
  if (options.dryRun) {
    log(`dry run: would send ${plan.commands.length} command(s)`);
    return { action: "dry-run", ...summary };
  }
  if (plan.changed) {
    log(`setting weights: ${plan.commands.join("; ")}`);
    // A batch is not atomic: HAProxy runs the commands before and after one it rejects. The raises
    // go first and are checked before anything is lowered, so a rejected raise never leaves a
    // colour without capacity; a switch that did not fully apply is undone, not left half done.
    const failed = async (why: string): Promise<never> => {
      throw new Error(`${why}; ${await restoreWeights(transport, backend, before, plan.serverWeights)}`);
    };
    for (const batch of plan.batches) {
      let answer: string;
      try {
        answer = await transport.send(batch.join("; "));
      } catch (error) {
        return failed(`sending the weights failed: ${(error as Error).message}`);
      }
      if (answer.trim() !== "") {
        await failed(`HAProxy rejected a weight change: ${answer.trim()} (commands: ${batch.join("; ")})`);
      }
    }
    const after = parseServersState(await transport.send(`show servers state ${backend}`));
    const want = plan.serverWeights;
    const wrong = after.filter((s) => want[s.name] !== undefined && s.weight !== want[s.name]);
    if (wrong.length > 0) {
      await failed(
        `weights did not take effect: ${wrong.map((s) => `${s.name}=${s.weight} (wanted ${want[s.name]})`).join(", ")}`,
      );
    }
  } else {
    log("weights already as requested; nothing to change");
  }
  if (options.stateFile) {
    await saveState(transport, options.stateFile);
    log(`saved server state to ${options.stateFile}`);
  }
  return { action: plan.changed ? "applied" : "unchanged", ...summary, stateFile: options.stateFile };
}

/**
 * What the edge serves. With `replicas` (both colours' running replica counts) it also gives
 * `replicaShare`: each colour's share once every replica is up, from the weights of as many of
 * the colour's server slots as it has replicas; unlike `share`, it does not follow DNS's view of
 * the moment.
 */
export async function status(
  transport: RuntimeTransport,
  backend = APP_BACKEND,
  replicas?: Partial<PerColour<number>>,
) {
  haproxyName("backend", backend);
  const servers = parseServersState(await transport.send(`show servers state ${backend}`));
  const stats = parseStat(await transport.send("show stat")).filter((s) => s.backend === backend);
  const traffic = currentTraffic(servers, backend);
  const slots = (c: Colour) => servers.filter((s) => s.backend === backend && s.colour === c);
  const counts =
    replicas?.blue !== undefined && replicas.green !== undefined
      ? { blue: replicas.blue, green: replicas.green }
      : undefined;
  // Each colour's weights once every replica is up: its `count` largest slot weights (the switch
  // gives the replicas the edge has an address for their weights and every other slot the
  // colour's smallest, at least 1, which is what a replica that appears there gets).
  const share = counts
    ? shareOf(
        Object.fromEntries(
          COLOUR_NAMES.map((c) => {
            const sorted = slots(c)
              .map((s) => s.weight)
              .sort((a, b) => b - a);
            const smallest = sorted.length > 0 ? sorted[sorted.length - 1] : 0;
            return [c, Array.from({ length: counts[c] }, (_, i) => sorted[i] ?? smallest)];
          }),
        ) as PerColour<number[]>,
      )
    : undefined;
  const replicaShare = share && share.blue + share.green > 0 ? roundShare(share) : undefined;
  return {
    backend,
    active: traffic.active,
    colourTotals: traffic.totals,
    share: roundShare(traffic.share),
    // Whether the weights give a colour traffic, over all its server slots, with or without an
    // address: a crashed slot whose servers DNS dropped still "receives" by the target.
    receives: Object.fromEntries(COLOUR_NAMES.map((c) => [c, slots(c).some((s) => s.weight > 0)])),
    ...(replicaShare ? { replicas, replicaShare } : {}),
    servers: stats
      .filter((s) => s.colour)
      .map((s) => ({
        name: s.name,
        status: s.status,
        check: s.checkStatus,
        weight: s.weight,
        requests: s.sessionsTotal,
      })),
  };
}

function roundShare(share: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(share).map(([k, v]) => [k, Math.round(v * 100) / 100]));
}

const USAGE = `usage:
  traffic-switch apply --active blue|green [--canary-percent N] [--state-file FILE | --no-persist]
                       [--replicas COLOUR=N]... [--replicas-from-docker NETWORK]
                       [--health-gate receiving|new]
                       [--wait-healthy SECONDS] [--backend app] [--dry-run] TRANSPORT
  traffic-switch status [--replicas-from-docker NETWORK] TRANSPORT
  traffic-switch save --state-file FILE TRANSPORT
TRANSPORT: --socket PATH | --tcp HOST:PORT | --docker-container NAME [--admin-tcp HOST:PORT] [--docker-host URL]`;

export function parseCli(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      active: { type: "string" },
      "canary-percent": { type: "string", default: "0" },
      "state-file": { type: "string" },
      "no-persist": { type: "boolean", default: false },
      "wait-healthy": { type: "string", default: "30" },
      replicas: { type: "string", multiple: true, default: [] },
      "replicas-from-docker": { type: "string" },
      "health-gate": { type: "string", default: "receiving" },
      backend: { type: "string", default: APP_BACKEND },
      "dry-run": { type: "boolean", default: false },
      socket: { type: "string" },
      tcp: { type: "string" },
      "docker-container": { type: "string" },
      "admin-tcp": { type: "string", default: DEFAULT_ADMIN_TCP },
      "docker-host": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  const command = positionals[0];
  if (values.help) return { command: "help" as const };
  if (positionals.length !== 1 || !["apply", "status", "save"].includes(command)) {
    throw new UsageError(`expected one command (apply, status or save), got ${JSON.stringify(positionals)}`);
  }
  const transports = [values.socket, values.tcp, values["docker-container"]].filter((v) => v !== undefined);
  if (transports.length !== 1) {
    throw new UsageError("give exactly one of --socket, --tcp or --docker-container");
  }
  const transport = values.socket
    ? unixTransport(values.socket)
    : values.tcp
      ? tcpTransport(values.tcp)
      : dockerTransport(values["docker-container"] as string, values["admin-tcp"], values["docker-host"]);
  const inContainer = values["docker-container"] !== undefined;
  // Before any command is built: the name goes into runtime API command lines (`;` splits them).
  if (!HAPROXY_NAME.test(values.backend)) {
    throw new UsageError(
      `--backend: expected an HAProxy backend name (1-64 letters, digits, "-", "_", ".", ":"), got ${JSON.stringify(values.backend)}`,
    );
  }
  if (values["replicas-from-docker"] !== undefined && !DOCKER_NETWORK.test(values["replicas-from-docker"])) {
    throw new UsageError(
      `--replicas-from-docker: expected a Docker network name, got ${JSON.stringify(values["replicas-from-docker"])}`,
    );
  }
  const stateFile = values["no-persist"]
    ? undefined
    : (values["state-file"] ?? (inContainer ? DEFAULT_CONTAINER_STATE_FILE : undefined));

  if (command === "apply") {
    if (!isColour(values.active)) {
      throw new UsageError(`--active: expected blue or green, got ${JSON.stringify(values.active ?? "")}`);
    }
    const canary = values["canary-percent"];
    if (!/^\d{1,3}$/.test(canary) || Number(canary) > 100) {
      throw new UsageError(
        `--canary-percent: expected a whole number from 0 to 100, got ${JSON.stringify(canary)}`,
      );
    }
    const wait = values["wait-healthy"];
    if (!/^\d+(\.\d+)?$/.test(wait)) {
      throw new UsageError(`--wait-healthy: expected seconds like 30, got ${JSON.stringify(wait)}`);
    }
    if (!stateFile && !values["no-persist"]) {
      throw new UsageError("--state-file FILE is required (or --no-persist): weights must survive a restart");
    }
    const replicas: Partial<PerColour<number>> = {};
    for (const item of values.replicas) {
      const match = /^(blue|green)=(\d{1,3})$/.exec(item);
      if (!match)
        throw new UsageError(`--replicas: expected COLOUR=N like green=3, got ${JSON.stringify(item)}`);
      if (replicas[match[1] as Colour] !== undefined) {
        throw new UsageError(`--replicas: ${match[1]} is given twice`);
      }
      replicas[match[1] as Colour] = Number(match[2]);
    }
    const gate = values["health-gate"];
    if (gate !== "receiving" && gate !== "new") {
      throw new UsageError(`--health-gate: expected receiving or new, got ${JSON.stringify(gate)}`);
    }
    const fromDocker = values["replicas-from-docker"];
    return {
      command: "apply" as const,
      transport,
      options: {
        target: { active: values.active, canaryPercent: Number(canary) },
        backend: values.backend,
        stateFile,
        waitHealthySeconds: Number(wait),
        replicas,
        gate,
        dryRun: values["dry-run"],
      } satisfies ApplyOptions,
      replicasFromDocker: fromDocker,
      dockerHost: values["docker-host"],
    };
  }
  if (command === "save") {
    if (!stateFile) throw new UsageError("save: --state-file FILE is required");
    return { command: "save" as const, transport, stateFile };
  }
  return {
    command: "status" as const,
    transport,
    backend: values.backend,
    replicasFromDocker: values["replicas-from-docker"],
    dockerHost: values["docker-host"],
  };
}

/**
 * Running replicas per colour from Docker, without the colours that have none: a slot not yet
 * deployed (a new environment) or crashed keeps the edge's own count, and the health gate decides.
 */
async function countedReplicas(
  network: string | undefined,
  dockerHost: string | undefined,
  log: (line: string) => void,
): Promise<Partial<PerColour<number>>> {
  if (!network) return {};
  const counted = await dockerReplicas(network, dockerHost);
  log(`running replicas on ${network}: blue ${counted.blue}, green ${counted.green}`);
  return Object.fromEntries(COLOUR_NAMES.filter((c) => counted[c] > 0).map((c) => [c, counted[c]]));
}

export async function main(argv: string[]): Promise<number> {
  const log = (line: string) => process.stderr.write(`traffic-switch: ${line}\n`);
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (error) {
    process.stderr.write(`traffic-switch: ${(error as Error).message}\n${USAGE}\n`);
    return EXIT.usage;
  }
  try {
    if (parsed.command === "help") {
      process.stdout.write(`${USAGE}\n`);
    } else if (parsed.command === "apply") {
      const network = parsed.replicasFromDocker;
      const countReplicas = network ? () => countedReplicas(network, parsed.dockerHost, log) : undefined;
      const result = await applySwitch(parsed.transport, { ...parsed.options, countReplicas, log });
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else if (parsed.command === "save") {
      // Under the switch lock: a save between a switch's change and its own save would persist
      // the old weights.
      const { transport, stateFile } = parsed;
      await withSwitchLock(transport, `${stateFile}.lock`, () => saveState(transport, stateFile), { log });
      process.stdout.write(`${JSON.stringify({ action: "saved", stateFile: parsed.stateFile })}\n`);
    } else {
      const replicas = await countedReplicas(parsed.replicasFromDocker, parsed.dockerHost, log);
      process.stdout.write(`${JSON.stringify(await status(parsed.transport, parsed.backend, replicas))}\n`);
    }
    return EXIT.ok;
  } catch (error) {
    if (error instanceof RefusedError) {
      process.stderr.write(`traffic-switch: REFUSED: ${error.message}\n`);
      process.stdout.write(`${JSON.stringify({ action: "refused", reason: error.message })}\n`);
      return EXIT.refused;
    }
    process.stderr.write(`traffic-switch: FAILED: ${(error as Error).message}\n`);
    return EXIT.error;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
