/**
 * What a platform engineer does with the stacks, done with the real CLI: preview, up, the
 * acceptance checks, a second preview that must find nothing to change, one config change that
 * touches only what it should, a blue-green switch under load, and the outputs the runbooks read.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Checks } from "./checks";
import { httpsGet, waitFor } from "./http";
import { runQuick } from "./proc";
import type { PulumiSession } from "./pulumi-session";
import { clearLeftovers, ENV_STACK, NAME_PREFIX, stackConfig, up } from "./stacks";
import { which } from "../support/tools";
import { runWrk } from "../support/wrk";

/** The edge's published HTTPS port in Pulumi.local.yaml. */
export const EDGE_HTTPS = "https://127.0.0.1:8443";

interface PreviewStep {
  op: string;
  urn: string;
}

/** The policy pack, as the deploy workflow and the runbooks apply it (local.json for local-*). */
function policyArgs(session: PulumiSession): string[] {
  const pack = join(session.project, "policies");
  return ["--policy-pack", pack, "--policy-pack-config", join(pack, "config", "local.json")];
}

/** `pulumi preview --json` with the policy pack: the steps that are not `same`. */
async function changes(session: PulumiSession, stack: string): Promise<PreviewStep[]> {
  const r = await session.must(["preview", "--json", ...policyArgs(session), "--stack", stack], {
    timeoutMs: 15 * 60_000,
  });
  const steps = (JSON.parse(r.stdout) as { steps?: PreviewStep[] }).steps ?? [];
  return steps.filter((s) => s.op !== "same");
}

const typeAndName = (urn: string) => urn.split("::").slice(-2).join("::");

function containerIds(): Map<string, string> {
  const out = runQuick("docker", [
    "ps",
    "--filter",
    `name=^${NAME_PREFIX}-`,
    "--format",
    "{{.Names}} {{.ID}}",
  ]).stdout;
  return new Map(
    out
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" ") as [string, string]),
  );
}

async function writeOutputs(session: PulumiSession, engineDir: string, slot: string): Promise<void> {
  writeFileSync(join(engineDir, "outputs.json"), JSON.stringify(await session.outputs(ENV_STACK), null, 2), {
    mode: 0o600,
  });
  writeFileSync(
    join(engineDir, "slot-outputs.json"),
    JSON.stringify(await session.outputs(`local-${slot}`), null, 2),
    {
      mode: 0o600,
    },
  );
}

/** Returns false when the stacks could not be deployed (the caller keeps them for a look). */
/** The phases after the deploy, in order; `--only` picks some. */
export const OPTIONAL_PHASES = [
  "acceptance",
  "idempotence",
  "config-change",
  "blue-green",
  "operations",
] as const;
export type OptionalPhase = (typeof OPTIONAL_PHASES)[number];

export async function lifecycleChecks(
  session: PulumiSession,
  checks: Checks,
  acceptance: () => Promise<void>,
  selected: ReadonlySet<OptionalPhase> = new Set(OPTIONAL_PHASES),
  operations: (activeSlot: string) => Promise<void> = async () => undefined,
): Promise<boolean> {
  const phase = async (name: OptionalPhase, body: () => Promise<void>) => {
    if (selected.has(name)) await checks.phase(name, body);
    else checks.skip(`phase ${name}`, "not selected (--only)");
  };
  const engineDir = session.paths.engineDir;
  let deployed = await checks.phase("deploy", async () => {
    await clearLeftovers(session);
    for (const stack of [ENV_STACK, "local-blue"]) {
      await session.selectStack(stack);
      for (const [key, value] of Object.entries(stackConfig(stack))) {
        await session.must(["config", "set", key, value, "--stack", stack]);
      }
    }
    const limit = stackConfig(ENV_STACK).containerOpenFilesLimit;
    if (limit)
      console.log(
        `deviation: this Docker engine grants at most ${limit} open files: containerOpenFilesLimit=${limit}`,
      );
    await checks.check("pulumi preview local (real engine and providers)", async () => {
      const steps = await changes(session, ENV_STACK);
      return `${steps.length} changes planned`;
    });
    await checks.check("pulumi up local", () => up(session, ENV_STACK).then(() => undefined));
    await checks.check("pulumi preview (policy pack) + up local-blue (the active slot)", async () => {
      await session.selectStack("local-blue");
      const steps = await changes(session, "local-blue");
      await up(session, "local-blue");
      return `${steps.length} changes`;
    });
    await writeOutputs(session, engineDir, "blue");
  });
  deployed = deployed && checks.failed === 0;
  if (!deployed) return false;

  await phase("acceptance", acceptance);

  await phase("idempotence", async () => {
    for (const stack of [ENV_STACK, "local-blue"]) {
      await checks.check(`second preview of ${stack} finds no changes`, async () => {
        const r = await session.run(["preview", "--expect-no-changes", "--diff", "--stack", stack], {
          timeoutMs: 15 * 60_000,
        });
        if (r.status !== 0)
          throw new Error(
            `changes found:\n${r.stdout
              .split("\n")
              .filter((l) => /^\s*[~+-]/.test(l))
              .slice(0, 40)
              .join("\n")}`,
          );
        return "0 changes";
      });
    }
  });

  await phase("config-change", async () => {
    const before = containerIds();
    await session.must(["config", "set", "redisMemory", "320m", "--stack", ENV_STACK]);
    await checks.check("a Redis memory change plans only the Redis container", async () => {
      const steps = await changes(session, ENV_STACK);
      const touched = [...new Set(steps.map((s) => typeAndName(s.urn)))].sort();
      const unexpected = touched.filter(
        (t) => !/::redis-container$/.test(t) && !t.startsWith("pulumi:pulumi:Stack"),
      );
      if (unexpected.length) throw new Error(`also changes: ${unexpected.join(", ")}`);
      if (!touched.some((t) => t.endsWith("::redis-container")))
        throw new Error("the Redis container is not changed");
      return touched.join(", ");
    });
    await checks.check("pulumi up applies it; every other container keeps running", async () => {
      await up(session, ENV_STACK);
      const after = containerIds();
      const replaced = [...before].filter(([name, id]) => after.get(name) !== id).map(([name]) => name);
      const expected = [`${NAME_PREFIX}-redis`];
      const others = replaced.filter((n) => !expected.includes(n));
      if (others.length) throw new Error(`also replaced or stopped: ${others.join(", ")}`);
      const memory = runQuick("docker", [
        "inspect",
        "--format",
        "{{.HostConfig.Memory}}",
        `${NAME_PREFIX}-redis`,
      ]).stdout.trim();
      if (memory !== String(320 * 1024 * 1024))
        throw new Error(`redis memory is ${memory}, expected 320 MiB`);
      await waitFor(
        "the edge serves /health after the change",
        120,
        async () => (await httpsGet(`${EDGE_HTTPS}/health`)).status === 200,
      );
      return `replaced: ${replaced.join(", ") || "none"}`;
    });
  });

  await phase("blue-green", async () => {
    await checks.check("pulumi up local-green (the idle slot)", () => up(session, "local-green"));
    await checks.check("switch to green with pulumi config set + up: no request fails", async () => {
      if (!which("wrk")) throw new Error("wrk is not installed (apt-get install wrk; .ci/run installs it)");
      // The load runs from 5 s before the switch until 10 s after `pulumi up` returns, however
      // long the up takes (most of it is the program and the refresh, not the switch).
      let switched: () => void = () => undefined;
      const afterSwitch = new Promise<void>((resolve) => (switched = resolve));
      const load = runWrk({
        url: `${EDGE_HTTPS}/ping`,
        durationSeconds: 600,
        connections: 8,
        countIn: engineDir,
        stopWhen: afterSwitch,
      });
      load.catch(() => undefined); // awaited below; a failed start must not crash the run before
      await new Promise((r) => setTimeout(r, 5000));
      const started = Date.now();
      let switchSeconds = 0;
      try {
        await session.must(["config", "set", "trafficActive", "green", "--stack", ENV_STACK]);
        await up(session, ENV_STACK);
        switchSeconds = (Date.now() - started) / 1000;
        await new Promise((r) => setTimeout(r, 10_000));
      } finally {
        switched();
      }
      const result = await load;
      const errors = Object.values(result.socketErrors).reduce((a, b) => a + b, 0);
      const non2xx = result.counts?.non2xx ?? result.non2xx3xx;
      if (errors || non2xx)
        throw new Error(`${non2xx} non-2xx responses, ${errors} socket errors of ${result.requests}`);
      if (!result.counts?.green)
        throw new Error(`no response came from green during the run (${JSON.stringify(result.counts)})`);
      return `${result.requests} requests, 0 failed; up with the switch took ${switchSeconds.toFixed(0)} s`;
    });
    await checks.check("the edge serves green only", async () => {
      for (let i = 0; i < 20; i++) {
        const r = await httpsGet(`${EDGE_HTTPS}/ping`);
        if (r.status !== 200 || !r.body.includes('"green"'))
          throw new Error(`request ${i}: ${r.status} ${r.body}`);
      }
      return "20 of 20 /ping answered green";
    });
    await checks.check("stack outputs report the switch (what the runbooks read)", async () => {
      await writeOutputs(session, engineDir, "green");
      const traffic = (await session.outputs(ENV_STACK)).traffic as { active?: string } | undefined;
      if (traffic?.active !== "green")
        throw new Error(`traffic.active is ${JSON.stringify(traffic?.active)}`);
      return "traffic.active = green";
    });
  });

  // The runbooks against the containers; the outputs files name the slot that serves.
  await phase("operations", async () => {
    const active = selected.has("blue-green") ? "green" : "blue";
    await writeOutputs(session, engineDir, active);
    await operations(active);
  });
  return true;
}
