/**
 * Pure parts of the traffic switch: parsing HAProxy runtime API answers (`show servers state`,
 * `show stat`) and planning a switch (health gate + the `set server` commands).
 *
 * No I/O here: the CLI (tools/traffic-switch.ts) fetches the text over the admin socket,
 * calls `planSwitch`, and sends the commands it returns.
 */
import type { Colour } from "../config/keys";
import {
  COLOUR_NAMES,
  colourWeights,
  receivingColours,
  replicaWeights,
  shareOf,
  type PerColour,
  type TrafficTarget,
} from "./traffic-weights";

/** The single backend that holds both colours' servers (see renderers/haproxy-config.ts). */
export const APP_BACKEND = "app";

/**
 * A proxy or server name as HAProxy allows it (letters, digits, `-`, `_`, `.`, `:`), at most 64
 * characters. Names go into runtime API command lines, where `;` separates commands and a newline
 * ends the line: nothing else may reach them.
 */
export const HAPROXY_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Returns `name` when it is a valid HAProxy identifier; throws naming `what` otherwise. */
export function haproxyName(what: string, name: string): string {
  if (!HAPROXY_NAME.test(name)) {
    throw new Error(
      `${what} ${JSON.stringify(name)} is not an HAProxy name (1-64 letters, digits, "-", "_", ".", ":")`,
    );
  }
  return name;
}

/** Admin-state bits that mean "this server cannot take traffic whatever its weight". */
const MAINT_BITS = {
  FMAINT: 0x01, // forced (set server state maint)
  IMAINT: 0x02, // inherited from a tracked server
  CMAINT: 0x04, // `disabled` in the configuration
  RMAINT: 0x20, // DNS resolution failed / no address yet
  HMAINT: 0x40, // hostname change pending
} as const;
const MAINT_MASK = Object.values(MAINT_BITS).reduce((a, b) => a | b, 0);

/** One row of `show servers state` (the format of the server-state file). */
export interface ServerState {
  backend: string;
  name: string;
  /** Colour from the server name (`blue3`), or undefined for servers of no colour. */
  colour?: Colour;
  address: string;
  /** 0 stopped, 1 starting, 2 running, 3 stopping. */
  opState: number;
  adminState: number;
  /** Current (runtime) weight. */
  weight: number;
  /** Weight from the configuration. */
  initialWeight: number;
  /** True when the server has an address and no maintenance flag: it counts for the split. */
  present: boolean;
}

/** One server row of `show stat` (CSV). */
export interface ServerStat {
  backend: string;
  name: string;
  colour?: Colour;
  /** `UP`, `UP 1/3` (going down), `DOWN`, `DOWN 1/2` (going up), `MAINT`, `MAINT (resolution)`, `DRAIN`, `no check`. */
  status: string;
  /** Last health check: `L7OK`, `L4CON`, `L7STS`, `INI`, ... (without the in-progress `* ` prefix). */
  checkStatus: string;
  weight: number;
  /** Sessions this server has handled since start (`stot`). */
  sessionsTotal: number;
  /** Times the load balancer picked this server (`lbtot`). */
  selected: number;
  /** Responses by class; `hrsp_5xx` etc. */
  responses: { "1xx": number; "2xx": number; "3xx": number; "4xx": number; "5xx": number; other: number };
}

export function colourOf(serverName: string): Colour | undefined {
  const match = /^(blue|green)\d+$/.exec(serverName);
  return match ? (match[1] as Colour) : undefined;
}

/** Parses the answer of `show servers state [backend]` (also the server-state file). */
export function parseServersState(text: string): ServerState[] {
  const lines = text.split("\n").map((l) => l.trim());
  const headerLine = lines.find((l) => l.startsWith("# be_id"));
  if (!headerLine) {
    throw new Error(
      `unexpected answer to "show servers state" (no "# be_id" header): ${JSON.stringify(text.slice(0, 200))}`,
    );
  }
  const header = headerLine.slice(2).split(/\s+/);
  const col = (name: string) => {
    const index = header.indexOf(name);
    if (index < 0) throw new Error(`"show servers state" has no column ${name}`);
    return index;
  };
  const idx = {
    backend: col("be_name"),
    name: col("srv_name"),
    address: col("srv_addr"),
    opState: col("srv_op_state"),
    adminState: col("srv_admin_state"),
    weight: col("srv_uweight"),
    initialWeight: col("srv_iweight"),
  };
  const rows: ServerState[] = [];
  for (const line of lines) {
    if (line === "" || line.startsWith("#") || /^\d+$/.test(line)) continue;
    const f = line.split(/\s+/);
    if (f.length < header.length - 2) continue;
    const adminState = Number(f[idx.adminState]);
    const address = f[idx.address];
    rows.push({
      backend: f[idx.backend],
      name: f[idx.name],
      colour: colourOf(f[idx.name]),
      address,
      opState: Number(f[idx.opState]),
      adminState,
      weight: Number(f[idx.weight]),
      initialWeight: Number(f[idx.initialWeight]),
      present: address !== "-" && address !== "" && (adminState & MAINT_MASK) === 0,
    });
  }
  return rows;
}

/** Parses `show stat` CSV and returns the server rows (not FRONTEND/BACKEND aggregates). */
export function parseStat(text: string): ServerStat[] {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const headerLine = lines.find((l) => l.startsWith("# pxname"));
  if (!headerLine) {
    throw new Error(
      `unexpected answer to "show stat" (no "# pxname" header): ${JSON.stringify(text.slice(0, 200))}`,
    );
  }
  const header = headerLine.slice(2).split(",");
  const get = (fields: string[], name: string) => {
    const index = header.indexOf(name);
    return index < 0 ? "" : (fields[index] ?? "");
  };
  const num = (fields: string[], name: string) => Number(get(fields, name) || 0);
  const rows: ServerStat[] = [];
  for (const line of lines) {
    if (line.startsWith("#")) continue;
    const f = line.split(",");
    const name = get(f, "svname");
    if (name === "FRONTEND" || name === "BACKEND") continue;
    rows.push({
      backend: get(f, "pxname"),
      name,
      colour: colourOf(name),
      status: get(f, "status"),
      checkStatus: get(f, "check_status").replace(/^\* /, ""),
      weight: num(f, "weight"),
      sessionsTotal: num(f, "stot"),
      selected: num(f, "lbtot"),
      responses: {
        "1xx": num(f, "hrsp_1xx"),
        "2xx": num(f, "hrsp_2xx"),
        "3xx": num(f, "hrsp_3xx"),
        "4xx": num(f, "hrsp_4xx"),
        "5xx": num(f, "hrsp_5xx"),
        other: num(f, "hrsp_other"),
      },
    });
  }
  return rows;
}

/** A server passes the gate when HAProxy has it UP and its last health check succeeded. */
export function isHealthy(stat: ServerStat): boolean {
  return /^UP($| )/.test(stat.status) && /^L7OKC?$/.test(stat.checkStatus);
}

export interface SwitchPlanInput {
  target: TrafficTarget;
  /** `show servers state` rows of the backend. */
  servers: ServerState[];
  /** `show stat` rows of the backend. */
  stats: ServerStat[];
  backend?: string;
  /**
   * Replicas per colour to divide each colour's weight over: the slots' steady state. A colour
   * left out uses the servers the edge has an address for now, which is off while DNS still
   * holds a removed replica or has not yet resolved a new one, and the share would stay off.
   */
  replicas?: Partial<PerColour<number>>;
  /**
   * Which receiving colours must have a healthy server. `receiving` (default): every colour the
   * target sends traffic to. `new`: only a colour whose servers all have weight 0 now; for
   * re-applying a target the edge already serves with other replica counts (a slot scaled during
   * a canary), where refusing would protect nothing and block the other slot's deploy.
   */
  gate?: "receiving" | "new";
}

export interface SwitchPlanOk {
  ok: true;
  /** True when at least one server weight changes. */
  changed: boolean;
  /** Runtime API commands, raising weights before lowering them (never all-zero in between). */
  commands: string[];
  /** The same commands as the batches to send in turn: the raises, then the lowers. */
  batches: string[][];
  colourWeights: PerColour<number>;
  /** Weight of each replica of a colour, largest first (lib/traffic-weights.ts replicaWeights). */
  replicaWeights: PerColour<number[]>;
  /** The weight each server (slot) of the backend gets, by server name (`slotWeights`). */
  serverWeights: Record<string, number>;
  /** Servers per colour the edge has now (an address, not in maintenance). */
  present: PerColour<number>;
  /** Servers per colour the weights are computed for: `replicas` where given, else `present`. */
  replicas: PerColour<number>;
  healthy: PerColour<number>;
  /** Percent of requests each colour will get once `replicas` run (exactly the target's). */
  share: PerColour<number>;
  /** Set when the gate let an unhealthy target through (bootstrap: nothing is healthy anywhere). */
  warning?: string;
}

export interface SwitchPlanRefused {
  ok: false;
  reason: string;
  healthy: PerColour<number>;
}

export type SwitchPlan = SwitchPlanOk | SwitchPlanRefused;

/** Slot number of a server name (`blue12` -> 12), for a stable order. */
const slotNumber = (name: string) => Number(/\d+$/.exec(name)?.[0] ?? 0);

/**
 * Puts replica weights on server slots. A colour's servers that have an address take its
 * replica weights in slot order (largest first); the other slots (no address yet, a replica DNS
 * has not resolved, or more slots than replicas) get the colour's smallest weight, and at least 1
 * when the colour receives traffic: a replica that appears there later gets its share (a little
 * more while a spread is uneven) until the next switch or rebalance, never none.
 */
export function slotWeights(
  servers: readonly ServerState[],
  weights: PerColour<readonly number[]>,
  receiving: readonly Colour[],
): Record<string, number> {
  const result: Record<string, number> = {};
  for (const c of COLOUR_NAMES) {
    const list = weights[c];
    const smallest = list.length > 0 ? Math.min(...list) : 0;
    const spare = receiving.includes(c) ? Math.max(1, smallest) : smallest;
    const slots = servers
      .filter((s) => s.colour === c)
      .sort((a, b) => slotNumber(a.name) - slotNumber(b.name));
    slots.filter((s) => s.present).forEach((s, i) => (result[s.name] = list[i] ?? spare));
    slots.filter((s) => !s.present).forEach((s) => (result[s.name] = spare));
  }
  return result;
}

/**
 * Plans a switch. Refuses (leaving every weight as it is) when a colour that would receive
 * traffic has no healthy server, while some other server is healthy or still running its first
 * check. When nothing at all is healthy (bootstrap of a new environment) the switch cannot make
 * anything worse: it goes ahead with a warning. When the weights are already right the plan is a
 * no-op and the gate is not applied: re-applying the current state is always safe (idempotent).
 */
export function planSwitch(input: SwitchPlanInput): SwitchPlan {
  const backend = haproxyName("backend", input.backend ?? APP_BACKEND);
  const servers = input.servers.filter((s) => s.backend === backend && s.colour !== undefined);
  const stats = input.stats.filter((s) => s.backend === backend && s.colour !== undefined);
  if (servers.length === 0) {
    throw new Error(`backend "${backend}" has no blue or green servers; is this the edge's admin socket?`);
  }
  const count = (pred: (c: Colour) => (s: { colour?: Colour }) => boolean, list: { colour?: Colour }[]) =>
    Object.fromEntries(COLOUR_NAMES.map((c) => [c, list.filter(pred(c)).length])) as PerColour<number>;
  const present = count((c) => (s) => s.colour === c && (s as ServerState).present, servers);
  const healthy = count((c) => (s) => s.colour === c && isHealthy(s as ServerStat), stats);

  const replicas: PerColour<number> = {
    blue: input.replicas?.blue ?? present.blue,
    green: input.replicas?.green ?? present.green,
  };
  const colour = colourWeights(input.target);
  for (const c of COLOUR_NAMES) {
    const slots = servers.filter((s) => s.colour === c).length;
    const given = input.replicas?.[c];
    if (given === undefined) continue;
    if (given > slots) {
      throw new Error(`replicas: ${c}=${given}, but the edge has only ${slots} ${c} server slots`);
    }
    if (given === 0 && colour[c] > 0) {
      throw new Error(`replicas: ${c}=0, but the target sends ${c} traffic`);
    }
  }
  const perReplica = replicaWeights(input.target, replicas);
  const perServer = slotWeights(servers, perReplica, receivingColours(input.target));
  const raise: string[] = [];
  const lower: string[] = [];
  for (const server of servers) {
    const want = perServer[server.name];
    if (server.weight === want) continue;
    (want > server.weight ? raise : lower).push(
      `set server ${backend}/${haproxyName("server", server.name)} weight ${want}`,
    );
  }
  const changed = raise.length + lower.length > 0;

  let warning: string | undefined;
  if (changed) {
    const receivesNow = (c: Colour) => servers.some((s) => s.colour === c && s.weight > 0);
    const unhealthy = receivingColours(input.target)
      .filter((c) => input.gate !== "new" || !receivesNow(c))
      .filter((c) => healthy[c] === 0);
    // Servers with an address whose first health check has not finished (just started edge).
    const checking = stats.filter(
      (s) => !s.status.startsWith("MAINT") && /^(INI)?$/.test(s.checkStatus),
    ).length;
    const anyHealthy = healthy.blue + healthy.green > 0;
    if (unhealthy.length > 0 && !anyHealthy && checking === 0) {
      // Bootstrap (a new environment, or a total outage): no server of any colour is healthy, so
      // the switch cannot take traffic away from anything that works. Apply, and say so.
      warning =
        `no server of any colour passes its /health check (a new environment before its first slot ` +
        `deploy, or an outage): weights applied anyway, ${unhealthy.join(" and ")} gets traffic once healthy`;
    } else if (unhealthy.length > 0) {
      const detail = unhealthy
        .map((c) => {
          const rows = stats.filter((s) => s.colour === c);
          const shown = rows
            .filter((s) => s.status !== "MAINT (resolution)")
            .slice(0, 6)
            .map((s) => `${s.name} ${s.status} ${s.checkStatus}`.trim());
          const unresolved = rows.length - rows.filter((s) => s.status !== "MAINT (resolution)").length;
          const parts = [...shown];
          if (unresolved > 0) parts.push(`${unresolved} without an address`);
          return `${c}: ${parts.length > 0 ? parts.join(", ") : "no servers"}`;
        })
        .join("; ");
      return {
        ok: false,
        healthy,
        reason:
          `refusing to send traffic to ${unhealthy.join(" and ")}: no server passes its /health check ` +
          `(${detail}). Weights were left unchanged. Deploy or fix the slot, then run the switch again.`,
      };
    }
    // gate "new" let these through: they get traffic already, but say that none of it is served.
    const ungated = receivingColours(input.target).filter((c) => receivesNow(c) && healthy[c] === 0);
    if (input.gate === "new" && ungated.length > 0 && !warning) {
      warning =
        `${ungated.join(" and ")} gets traffic but no server of it passes its /health check ` +
        `(HAProxy gives its share to the other colour while it is down): weights re-applied for the new replica counts`;
    }
  }
  return {
    ok: true,
    changed,
    commands: [...raise, ...lower],
    batches: [raise, lower].filter((batch) => batch.length > 0),
    colourWeights: colour,
    replicaWeights: perReplica,
    serverWeights: perServer,
    present,
    replicas,
    healthy,
    share: shareOf(perReplica),
    ...(warning ? { warning } : {}),
  };
}

/** Colour weights and shares currently applied (for `status`). */
export function currentTraffic(servers: ServerState[], backend = APP_BACKEND) {
  const rows = servers.filter((s) => s.backend === backend && s.colour !== undefined && s.present);
  const sum = (c: Colour) => rows.filter((s) => s.colour === c).reduce((a, s) => a + s.weight, 0);
  const totals: PerColour<number> = { blue: sum("blue"), green: sum("green") };
  const total = totals.blue + totals.green;
  const share: PerColour<number> =
    total === 0
      ? { blue: 0, green: 0 }
      : { blue: (100 * totals.blue) / total, green: (100 * totals.green) / total };
  const active: Colour | "none" = total === 0 ? "none" : totals.blue >= totals.green ? "blue" : "green";
  return { active, totals, share };
}
