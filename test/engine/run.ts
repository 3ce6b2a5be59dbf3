/**
 * `npm run test:engine`: the engine level (L6 + L7). The real Pulumi CLI and providers
 * (tools/toolchain) deploy the local stacks onto the real Docker engine, with stand-in images for
 * the official ones (test/engine/images); then the deployed containers are checked.
 *
 *   npm run test:engine              deploy, check, destroy
 *   npm run test:engine -- --keep    deploy and check; leave the stacks up, write .engine/env
 *   npm run test:engine -- --down    destroy what a --keep run left (pulumi destroy, then volumes)
 *   npm run test:engine -- --only idempotence,blue-green   the deploy, those phases, the destroy
 *   (phases: acceptance, idempotence, config-change, blue-green, operations: the runbooks against
 *   the containers, one `scenario <name>: ok|FAIL <figures>` line each)
 *
 * Ends with `engine: N passed, N failed` and the time each phase took; the counts also go to
 * .test-output/engine.json for the CI summary.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { acceptanceChecks } from "./acceptance";
import { operationsScenarios } from "./operations";
import { Checks } from "./checks";
import { lifecycleChecks, OPTIONAL_PHASES, type OptionalPhase } from "./lifecycle";
import { log, mustRun, setLog } from "./proc";
import { parseExports, PulumiSession } from "./pulumi-session";
import { ENV_STACK, SLOT_STACKS, teardown } from "./stacks";

const root = resolve(__dirname, "..", "..", "..");
/** The resource plugins the local stacks load (@pulumi/docker, command, random, tls). */
const PLUGINS = ["docker", "command", "random", "tls"];

/** Plugins found neither on PATH nor installed under PULUMI_HOME/plugins. */
function missingPlugins(env: NodeJS.ProcessEnv): string[] {
  const dirs = (env.PATH ?? "").split(":").filter(Boolean);
  const installed =
    env.PULUMI_HOME && existsSync(join(env.PULUMI_HOME, "plugins"))
      ? readdirSync(join(env.PULUMI_HOME, "plugins"))
      : [];
  return PLUGINS.filter(
    (p) =>
      !dirs.some((d) => existsSync(join(d, `pulumi-resource-${p}`))) &&
      !installed.some((entry) => entry.startsWith(`resource-${p}-v`)),
  ).map((p) => `pulumi-resource-${p}`);
}
const engineDir = join(root, ".engine");

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const args = new Set<string>();
  let only: Set<OptionalPhase> = new Set(OPTIONAL_PHASES);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--only") {
      const names = (argv[++i] ?? "").split(",").filter(Boolean);
      const bad = names.filter((n) => !(OPTIONAL_PHASES as readonly string[]).includes(n));
      if (!names.length || bad.length) {
        console.error(
          `test:engine: --only takes a comma-separated list of ${OPTIONAL_PHASES.join(", ")}; got "${argv[i] ?? ""}"`,
        );
        return 2;
      }
      only = new Set(names as OptionalPhase[]);
    } else if (a === "--keep" || a === "--down") {
      args.add(a);
    } else {
      console.error(`test:engine: unknown argument ${a} (expected --keep, --down or --only PHASES)`);
      return 2;
    }
  }
  mkdirSync(engineDir, { recursive: true });
  const logPath = join(engineDir, "engine.log");
  writeFileSync(logPath, "");
  setLog(logPath);
  console.log(`engine: log in ${logPath}`);
  const checks = new Checks();

  await checks.phase("engine", async () => {
    await mustRun("bash", [join(root, "test/engine/dockerd.sh")], { live: true });
  });
  let session: PulumiSession | undefined;
  await checks.phase("toolchain", async () => {
    const out = await mustRun("bash", [join(root, "tools/toolchain/build.sh"), "--print-env"], {
      timeoutMs: 90 * 60_000,
    });
    session = new PulumiSession({ root, engineDir }, parseExports(out.stdout));
    // The policy pack runs in every preview; it has its own dependencies.
    if (!existsSync(join(root, "policies/node_modules"))) {
      await mustRun("npm", ["ci", "--no-audit", "--no-fund", "--prefix", join(root, "policies")], {
        timeoutMs: 10 * 60_000,
      });
    }
    await session.syncProject();
  });
  if (!session) return checks.finish();
  const missing = missingPlugins(session.env);

  if (args.has("--down")) {
    await checks.phase("destroy", () => teardown(session as PulumiSession, checks, { volumes: true }));
    return checks.finish();
  }

  await checks.phase("images", async () => {
    await mustRun("bash", [join(root, "test/engine/build-images.sh")], {
      live: true,
      timeoutMs: 60 * 60_000,
    });
  });
  if (checks.failed > 0) return checks.finish();

  if (missing.length) {
    // A module the Go proxy refuses cannot be built here: the stacks cannot be applied, say so.
    checks.skip(
      "pulumi preview/up/destroy of the local stacks and the acceptance checks",
      `the toolchain has no ${missing.join(", ")} (tools/toolchain/README.md says why)`,
    );
    return checks.finish();
  }
  const ok = await lifecycleChecks(
    session,
    checks,
    () => acceptanceChecks(session as PulumiSession, checks),
    only,
    (slot) => operationsScenarios(session as PulumiSession, checks, slot),
  );
  if (args.has("--keep") || !ok) {
    writeFileSync(join(engineDir, "env"), session.envFile());
    console.log(
      `engine: stacks ${ENV_STACK}, ${SLOT_STACKS.join(", ")} left up; outputs in .engine/outputs.json; ` +
        "`source .engine/env` for a shell with pulumi; `npm run test:engine -- --down` removes them",
    );
  } else {
    await checks.phase("destroy", () => teardown(session as PulumiSession, checks, { volumes: true }));
  }
  return checks.finish();
}

main().then(
  (code) => {
    const outDir = join(root, ".test-output");
    if (!existsSync(outDir)) mkdirSync(outDir, { recursive: true });
    process.exitCode = code;
  },
  (error: unknown) => {
    log(String(error instanceof Error ? error.stack : error));
    console.error(error instanceof Error ? error.message : error);
    console.log("engine: 0 passed, 1 failed");
    process.exitCode = 1;
  },
);
