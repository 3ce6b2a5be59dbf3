import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  currentTraffic,
  isHealthy,
  parseServersState,
  parseStat,
  planSwitch,
  type ServerState,
  type ServerStat,
} from "../../lib/haproxy-runtime";

const fixture = (name: string) => readFileSync(join(__dirname, "fixtures", name), "utf8");

const HEADER =
  "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight " +
  "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state " +
  "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl " +
  "srv_check_port srv_check_addr srv_agent_addr srv_agent_port";

interface Srv {
  name: string;
  weight: number;
  status?: string;
  check?: string;
  addr?: string;
  admin?: number;
}

/** `show servers state` + `show stat` text for a set of servers, in HAProxy 2.6's formats. */
function haproxyAnswers(servers: Srv[]): { state: string; stat: string } {
  const rows = servers.map(
    (s, i) =>
      `3 app ${i + 1} ${s.name} ${s.addr ?? "10.0.0." + (i + 2)} ${s.status?.startsWith("DOWN") ? 0 : 2} ` +
      `${s.admin ?? 0} ${s.weight} 1 12 15 3 4 6 0 0 0 backend-${s.name.replace(/\d+$/, "")} 4000 - 0 0 - - 0`,
  );
  const statHeader = "# pxname,svname,stot,status,weight,check_status,lbtot,hrsp_2xx";
  const statRows = servers.map(
    (s) => `app,${s.name},5,${s.status ?? "UP"},${s.weight},${s.check ?? "L7OK"},5,5`,
  );
  return {
    state: ["1", HEADER, ...rows, ""].join("\n"),
    stat: [statHeader, "app,BACKEND,10,UP,2,,10,10", ...statRows, ""].join("\n"),
  };
}

function plan(servers: Srv[], active: "blue" | "green", canaryPercent = 0) {
  const { state, stat } = haproxyAnswers(servers);
  return planSwitch({
    target: { active, canaryPercent },
    servers: parseServersState(state),
    stats: parseStat(stat),
  });
}

describe("parsing real HAProxy 2.6 answers", () => {
  it("parses show servers state", () => {
    const rows = parseServersState(fixture("haproxy-servers-state.txt"));
    expect(rows.map((r) => [r.name, r.colour, r.weight, r.initialWeight, r.present])).toEqual([
      ["blue1", "blue", 256, 1, true],
      ["green1", "green", 0, 1, true],
    ]);
  });

  it("parses show stat and keeps only servers", () => {
    const rows = parseStat(fixture("haproxy-show-stat.txt"));
    const app = rows.filter((r) => r.backend === "app");
    expect(app.map((r) => [r.name, r.status, r.checkStatus, r.weight])).toEqual([
      ["blue1", "UP", "L7OK", 256],
      ["green1", "UP", "L7OK", 0],
    ]);
    expect(rows.some((r) => r.name === "FRONTEND" || r.name === "BACKEND")).toBe(false);
  });

  it("rejects answers that are not what was asked for", () => {
    expect(() => parseServersState("Unknown command\n")).toThrow(/show servers state/);
    expect(() => parseStat("Permission denied\n")).toThrow(/show stat/);
  });

  it("counts unresolved and maintenance servers as not present", () => {
    const { state } = haproxyAnswers([
      { name: "blue1", weight: 1 },
      { name: "blue2", weight: 1, addr: "-", admin: 0x20 },
      { name: "blue3", weight: 1, admin: 0x01 },
    ]);
    expect(parseServersState(state).map((s) => s.present)).toEqual([true, false, false]);
  });

  it("treats a server as healthy only when UP with a passing L7 check", () => {
    const stat = (status: string, checkStatus: string) => ({ status, checkStatus }) as ServerStat;
    expect(isHealthy(stat("UP", "L7OK"))).toBe(true);
    expect(isHealthy(stat("UP", "INI"))).toBe(false);
    expect(isHealthy(stat("UP 1/3", "L7STS"))).toBe(false);
    expect(isHealthy(stat("DOWN", "L4CON"))).toBe(false);
    expect(isHealthy(stat("MAINT (resolution)", ""))).toBe(false);
    expect(isHealthy(stat("DRAIN", "L7OK"))).toBe(false);
  });
});

describe("planSwitch", () => {
  const both = (blue: number, green: number, greenStatus = "UP", greenCheck = "L7OK"): Srv[] => [
    { name: "blue1", weight: blue },
    { name: "blue2", weight: blue },
    { name: "green1", weight: green, status: greenStatus, check: greenCheck },
    { name: "green2", weight: green, status: greenStatus, check: greenCheck },
  ];

  it("switches blue -> green raising green before lowering blue", () => {
    const p = plan(both(256, 0), "green");
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.changed).toBe(true);
    expect(p.commands).toEqual([
      "set server app/green1 weight 256",
      "set server app/green2 weight 256",
      "set server app/blue1 weight 0",
      "set server app/blue2 weight 0",
    ]);
    expect(p.share).toEqual({ blue: 0, green: 100 });
  });

  it("is a no-op when the weights are already right", () => {
    const p = plan(both(0, 256), "green");
    expect(p).toMatchObject({ ok: true, changed: false, commands: [] });
  });

  it("applies a canary of 10% to the idle colour", () => {
    const p = plan(both(256, 0), "blue", 10);
    // 2 + 2 replicas: 252 x 2 : 28 x 2, exactly 10 % (raises first, then the lowers).
    expect(p.ok && p.commands).toEqual([
      "set server app/green1 weight 28",
      "set server app/green2 weight 28",
      "set server app/blue1 weight 252",
      "set server app/blue2 weight 252",
    ]);
    expect(p.ok && p.share.green).toBe(10);
  });

  it("refuses to switch to a colour whose servers are down and names them", () => {
    const p = plan(both(256, 0, "DOWN", "L4CON"), "green");
    expect(p.ok).toBe(false);
    if (p.ok) return;
    expect(p.reason).toMatch(/refusing to send traffic to green/);
    expect(p.reason).toMatch(/green1 DOWN L4CON/);
    expect(p.reason).toMatch(/Weights were left unchanged/);
    expect(p.healthy).toEqual({ blue: 2, green: 0 });
  });

  it("refuses a canary to an unhealthy colour too", () => {
    expect(plan(both(256, 0, "UP 1/3", "L7STS"), "blue", 10).ok).toBe(false);
  });

  it("refuses when the target slot is not deployed (no address)", () => {
    const servers: Srv[] = [
      { name: "blue1", weight: 256 },
      { name: "green1", weight: 0, addr: "-", admin: 0x20, status: "MAINT (resolution)", check: "" },
      { name: "green2", weight: 0, addr: "-", admin: 0x20, status: "MAINT (resolution)", check: "" },
    ];
    const p = plan(servers, "green");
    expect(p.ok).toBe(false);
    expect(!p.ok && p.reason).toMatch(/green: 2 without an address/);
  });

  it("bootstraps a new environment: nothing healthy anywhere, so the switch applies with a warning", () => {
    const servers: Srv[] = [
      { name: "blue1", weight: 1, addr: "-", admin: 0x20, status: "MAINT (resolution)", check: "" },
      { name: "green1", weight: 1, addr: "-", admin: 0x20, status: "MAINT (resolution)", check: "" },
    ];
    const p = plan(servers, "blue");
    expect(p.ok).toBe(true);
    expect(p.ok && p.warning).toMatch(/no server of any colour passes its \/health check/);
    expect(p.ok && p.commands).toEqual(["set server app/blue1 weight 256", "set server app/green1 weight 0"]);
  });

  it("does not bootstrap while first health checks are still running (waits instead)", () => {
    const p = plan(
      both(1, 1, "UP", "INI").map((s) => ({ ...s, check: "INI" })),
      "green",
    );
    expect(p.ok).toBe(false);
  });

  it("does not need the idle colour to be healthy when it gets no traffic", () => {
    const p = plan(both(1, 1, "DOWN", "L4CON"), "blue");
    expect(p.ok && p.commands).toEqual([
      "set server app/blue1 weight 256",
      "set server app/blue2 weight 256",
      "set server app/green1 weight 0",
      "set server app/green2 weight 0",
    ]);
  });

  /** 3 blue servers, and 2 green server slots of which the edge has resolved one. */
  const oneGreenUnresolved: Srv[] = [
    { name: "blue1", weight: 256 },
    { name: "blue2", weight: 256 },
    { name: "blue3", weight: 256 },
    { name: "green1", weight: 0 },
    { name: "green2", weight: 0, addr: "-", admin: 0x20, status: "MAINT (resolution)", check: "" },
  ];

  it("divides weights over present servers only", () => {
    const servers = oneGreenUnresolved;
    const p = plan(servers, "blue", 10);
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.present).toEqual({ blue: 3, green: 1 });
    expect(p.replicaWeights).toEqual({ blue: [255, 255, 255], green: [85] });
    expect(p.serverWeights).toEqual({ blue1: 255, blue2: 255, blue3: 255, green1: 85, green2: 85 });
    // the unresolved server gets the colour's weight too, ready for when it appears
    expect(p.commands).toContain("set server app/green2 weight 85");
  });

  it("divides weights over the given replica counts, not the edge's DNS view of the moment", () => {
    // 3 blue replicas; green scaled from 1 to 2 while DNS still holds one old green address
    // and has not resolved the new one: the edge sees 1 green, the steady state is 2.
    const servers = oneGreenUnresolved;
    const { state, stat } = haproxyAnswers(servers);
    const p = planSwitch({
      target: { active: "blue", canaryPercent: 10 },
      servers: parseServersState(state),
      stats: parseStat(stat),
      replicas: { green: 2 },
    });
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.present).toEqual({ blue: 3, green: 1 });
    expect(p.replicas).toEqual({ blue: 3, green: 2 });
    expect(p.replicaWeights).toEqual({ blue: [252, 252, 252], green: [42, 42] });
    expect(p.serverWeights).toMatchObject({ green1: 42, green2: 42 });
    // the share once DNS has caught up: the canary's 10 %, not 20 %
    expect(p.share.green).toBe(10);
    // without the count, the weights fit the moment and the share doubles once green2 resolves
    const naive = plan(servers, "blue", 10);
    expect(naive.ok && naive.replicaWeights.green).toEqual([85]);
    expect(naive.ok && naive.serverWeights.green2).toBe(85);
  });

  it("re-applying with --health-gate new does not let a broken canary block a rebalance", () => {
    // A 10 % canary on green, green now DOWN; blue scaled from 2 to 3.
    const servers: Srv[] = [
      { name: "blue1", weight: 256 },
      { name: "blue2", weight: 256 },
      { name: "blue3", weight: 1 },
      { name: "green1", weight: 56, status: "DOWN", check: "L4CON" },
    ];
    const { state, stat } = haproxyAnswers(servers);
    const input = {
      target: { active: "blue" as const, canaryPercent: 10 },
      servers: parseServersState(state),
      stats: parseStat(stat),
      replicas: { blue: 3 },
    };
    expect(planSwitch(input).ok).toBe(false); // the full gate: green gets traffic and is down
    const rebalance = planSwitch({ ...input, gate: "new" });
    expect(rebalance.ok && rebalance.replicaWeights).toEqual({ blue: [255, 255, 255], green: [85] });
    expect(rebalance.ok && rebalance.warning).toMatch(/^green gets traffic but no server of it passes/);
    // but a colour that gets no traffic now is still gated
    const idle = haproxyAnswers(servers.map((s) => (s.name === "green1" ? { ...s, weight: 0 } : s)));
    const newCanary = planSwitch({
      ...input,
      servers: parseServersState(idle.state),
      stats: parseStat(idle.stat),
      gate: "new",
    });
    expect(newCanary.ok).toBe(false);
  });

  it("sets every server so HAProxy serves each requested share within 0.2 points (1-99 %, 1-8 replicas per colour)", () => {
    const off: string[] = [];
    for (const active of ["blue", "green"] as const)
      for (let pct = 1; pct <= 99; pct++)
        for (let activeReplicas = 1; activeReplicas <= 8; activeReplicas++)
          for (let canaryReplicas = 1; canaryReplicas <= 8; canaryReplicas++) {
            const canary = active === "blue" ? "green" : "blue";
            const count = { [active]: activeReplicas, [canary]: canaryReplicas } as Record<string, number>;
            // 8 slots per colour, the replicas' resolved, the rest without an address (as DNS leaves them).
            const servers: Srv[] = (["blue", "green"] as const).flatMap((c) =>
              Array.from({ length: 8 }, (_, i) =>
                i < count[c]
                  ? { name: `${c}${i + 1}`, weight: c === active ? 256 : 0 }
                  : {
                      name: `${c}${i + 1}`,
                      weight: 0,
                      addr: "-",
                      admin: 0x20,
                      status: "MAINT (resolution)",
                      check: "",
                    },
              ),
            );
            const p = plan(servers, active, pct);
            if (!p.ok) {
              off.push(`${active} ${pct}% refused: ${p.reason}`);
              continue;
            }
            // What HAProxy then splits by: the weights of the servers that have an address.
            const weight = (name: string) => p.serverWeights[name];
            const sum = (c: string) =>
              servers
                .filter((s) => s.addr !== "-" && s.name.startsWith(c))
                .reduce((a, s) => a + weight(s.name), 0);
            const share = (100 * sum(canary)) / (sum(canary) + sum(active));
            if (Math.abs(share - pct) > 0.2)
              off.push(`${active} ${pct}% ${activeReplicas}:${canaryReplicas} -> ${share.toFixed(3)}%`);
          }
    expect(off, off.slice(0, 10).join("\n")).toEqual([]);
  });

  it("gives slots without an address a receiving colour's smallest weight, at least 1", () => {
    const servers: Srv[] = [
      { name: "blue1", weight: 256 },
      ...Array.from({ length: 8 }, (_, i) => ({ name: `green${i + 1}`, weight: 0 })),
      { name: "green9", weight: 0, addr: "-", admin: 0x20, status: "MAINT (resolution)", check: "" },
    ];
    const p = plan(servers, "blue", 1);
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    // 1 % over 8 green replicas next to 1 blue: 198 : 1 + 1, the other green replicas 0 ...
    expect(p.replicaWeights).toEqual({ blue: [198], green: [1, 1, 0, 0, 0, 0, 0, 0] });
    expect(p.serverWeights).toMatchObject({ blue1: 198, green1: 1, green2: 1, green3: 0, green8: 0 });
    // ... but a replica that appears in the empty slot gets traffic, not none.
    expect(p.serverWeights.green9).toBe(1);
  });

  it("refuses replica counts the edge cannot serve or that starve a receiving colour", () => {
    const { state, stat } = haproxyAnswers(both(256, 0));
    const input = {
      target: { active: "blue" as const, canaryPercent: 10 },
      servers: parseServersState(state),
      stats: parseStat(stat),
    };
    expect(() => planSwitch({ ...input, replicas: { green: 3 } })).toThrow(
      "replicas: green=3, but the edge has only 2 green server slots",
    );
    expect(() => planSwitch({ ...input, replicas: { green: 0 } })).toThrow(
      "replicas: green=0, but the target sends green traffic",
    );
    expect(
      planSwitch({ ...input, target: { active: "blue", canaryPercent: 0 }, replicas: { green: 0 } }).ok,
    ).toBe(true);
  });

  it("fails loudly when the backend has no colour servers", () => {
    expect(() =>
      planSwitch({ target: { active: "blue", canaryPercent: 0 }, servers: [] as ServerState[], stats: [] }),
    ).toThrow(/no blue or green servers/);
  });
});

describe("currentTraffic", () => {
  it("reports the active colour and shares", () => {
    const { state } = haproxyAnswers([
      { name: "blue1", weight: 256 },
      { name: "green1", weight: 28 },
    ]);
    const t = currentTraffic(parseServersState(state));
    expect(t.active).toBe("blue");
    expect(t.share.green).toBeCloseTo(9.86, 1);
    const none = currentTraffic(parseServersState(haproxyAnswers([{ name: "blue1", weight: 0 }]).state));
    expect(none.active).toBe("none");
  });
});
