/**
 * The stacks the engine level deploys, and how they come down again. The local env stack runs
 * with monitoring on (as prod and staging do), set the way a user sets it: `pulumi config set`.
 */
import type { Checks } from "./checks";
import { deployedContainers, inspect, logTail } from "./docker-facts";
import { runQuick } from "./proc";
import type { PulumiSession } from "./pulumi-session";

export const ENV_STACK = "local";
export const SLOT_STACKS = ["local-blue", "local-green"] as const;
export const NAME_PREFIX = "backend-infra-local";
/** Open files the Docker engine itself may open (its hard limit), when it can be read. */
export function engineOpenFilesLimit(): number | undefined {
  const pid = runQuick("pgrep", ["-o", "-x", "dockerd"]).stdout.trim();
  if (!/^\d+$/.test(pid)) return undefined;
  const limits = runQuick("cat", [`/proc/${pid}/limits`]).stdout;
  const hard = /^Max open files\s+\S+\s+(\d+)/m.exec(limits)?.[1];
  return hard ? Number(hard) : undefined;
}

/**
 * Config the engine level sets on a stack before its up, as a user would (`pulumi config set`):
 * monitoring on for the env stack (as in prod and staging), the edge's per-IP rate limit raised
 * for the load of the switch check, and the containers' open-files limit
 * lowered to what this engine can grant, when that is below the default 65536 (it is 20000 on
 * the CI machines); that deviation is printed.
 */
export function stackConfig(stack: string): Record<string, string> {
  // The switch check drives thousands of requests a second from one address: the edge's per-IP
  // limit (200 in 10 s by default) would answer them 429, as it should a single abusive client.
  const config: Record<string, string> =
    stack === ENV_STACK ? { monitoringEnabled: "true", edgeRateLimitPer10s: "100000" } : {};
  const engineLimit = engineOpenFilesLimit();
  if (engineLimit !== undefined && engineLimit < 65536) config.containerOpenFilesLimit = String(engineLimit);
  return config;
}

/**
 * `pulumi up --yes` of one stack, selecting (or creating) it first. A failed up names every
 * container that is not running healthy, with its health-check output and last log lines.
 */
export async function up(session: PulumiSession, stack: string): Promise<void> {
  await session.selectStack(stack);
  for (const [key, value] of Object.entries(stackConfig(stack))) {
    await session.must(["config", "set", key, value, "--stack", stack]);
  }
  try {
    await session.must(["up", "--yes", "--skip-preview", "--stack", stack], {
      live: true,
      timeoutMs: 40 * 60_000,
    });
  } catch (error) {
    const sick = deployedContainers(NAME_PREFIX)
      .map(inspect)
      .filter((c) => !c.running || (c.health !== undefined && c.health !== "healthy"));
    const report = sick.map(
      (c) =>
        `--- ${c.name}: ${c.running ? c.health : "not running"}\n` +
        `health: ${c.healthLog.join(" | ") || "none"}\n${logTail(c.name, 20)}`,
    );
    throw new Error([error instanceof Error ? error.message : String(error), ...report].join("\n"));
  }
}

/** Stacks that exist in the engine's backend. */
async function existingStacks(session: PulumiSession): Promise<string[]> {
  const r = await session.run(["stack", "ls", "--json"]);
  if (r.status !== 0) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((s) => s.name.split("/").pop() as string);
}

/**
 * `pulumi destroy` of the slots, then the env stack. Volumes the program retains on delete
 * (data, backups) are listed by name; with `volumes` they are removed too (`--down`).
 */
export async function teardown(
  session: PulumiSession,
  checks: Checks,
  o: { volumes: boolean },
): Promise<void> {
  // The engine level's own stacks only: never a stack of the user's (their backend is elsewhere).
  const stacks = await existingStacks(session);
  for (const stack of [...SLOT_STACKS, ENV_STACK]) {
    if (!stacks.includes(stack)) continue;
    await checks.check(`pulumi destroy ${stack}`, async () => {
      await session.must(["destroy", "--yes", "--skip-preview", "--stack", stack], {
        live: true,
        timeoutMs: 20 * 60_000,
      });
      return "every resource removed";
    });
  }
  await checks.check("destroy leaves no container or network behind", () => {
    const containers = runQuick("docker", [
      "ps",
      "-a",
      "--filter",
      `name=^${NAME_PREFIX}-`,
      "--format",
      "{{.Names}}",
    ]).stdout.trim();
    const networks = runQuick("docker", [
      "network",
      "ls",
      "--filter",
      `name=^${NAME_PREFIX}-`,
      "--format",
      "{{.Name}}",
    ]).stdout.trim();
    if (containers || networks)
      throw new Error(`left behind: ${[containers, networks].filter(Boolean).join(" ")}`);
  });
  const volumes = runQuick("docker", [
    "volume",
    "ls",
    "--filter",
    `name=^${NAME_PREFIX}-`,
    "--format",
    "{{.Name}}",
  ])
    .stdout.split("\n")
    .filter(Boolean);
  if (volumes.length)
    console.log(`kept by pulumi destroy on purpose (retainOnDelete): ${volumes.join(", ")}`);
  // A later run would adopt them (Docker reuses a named volume), with data made for other secrets.
  if (o.volumes && volumes.length) {
    const r = runQuick("docker", ["volume", "rm", ...volumes]);
    if (r.status !== 0) throw new Error(`docker volume rm failed: ${r.stderr.trim()}`);
    console.log("removed them: they hold this test's data only");
  }
}

/**
 * Containers, networks and volumes named like the local stack's that no engine-level stack
 * owns (a run that was killed, a session's manual test): they would clash with the first up.
 * Under CI they are removed; elsewhere they may be a user's own local stack, so the run stops
 * and names them.
 */
export async function clearLeftovers(session: PulumiSession): Promise<void> {
  if ((await existingStacks(session)).includes(ENV_STACK)) return;
  const list = (args: string[]) => runQuick("docker", args).stdout.split("\n").filter(Boolean);
  const filter = ["--filter", `name=^${NAME_PREFIX}-`];
  const containers = list(["ps", "-a", ...filter, "--format", "{{.Names}}"]);
  const networks = list(["network", "ls", ...filter, "--format", "{{.Name}}"]);
  const volumes = list(["volume", "ls", ...filter, "--format", "{{.Name}}"]);
  if (!containers.length && !networks.length && !volumes.length) return;
  const names = [...containers, ...networks, ...volumes].join(", ");
  if (process.env.CI !== "true") {
    throw new Error(
      `Docker has ${names}, which no engine-level stack owns (a killed run, or your own local stack). ` +
        "Remove them (docker rm -f / docker network rm / docker volume rm), or destroy your stack, then run again.",
    );
  }
  console.log(`removing leftovers no stack owns: ${names}`);
  if (containers.length) runQuick("docker", ["rm", "-f", ...containers]);
  if (networks.length) runQuick("docker", ["network", "rm", ...networks]);
  if (volumes.length) runQuick("docker", ["volume", "rm", ...volumes]);
}
