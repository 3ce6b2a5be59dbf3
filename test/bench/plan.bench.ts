/**
 * The offline plan for prod against a bare `require('@pulumi/pulumi')`, all measured here in the
 * same run, interleaved. Targets (issue 2 and issue 17): the plan itself within 2x of the baseline
 * in time and memory, and `npm run -s plan -- prod` with no source changed (what a user types:
 * npm, the stale-build check of tools/build.mjs, then the plan) within 2x of it in time.
 */
import { spawnSync } from "node:child_process";
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../harness/stack-file";
import { measureNodeInterleaved } from "./measure";
import type { BenchResult } from "./types";

/** npm's own script (npm-cli.js), to run it under this Node with the usage reporter. */
function npmCli(): string {
  const fromNpm = process.env.npm_execpath;
  if (fromNpm && /npm-cli\.js$/.test(fromNpm)) return fromNpm;
  for (const dir of (process.env.PATH ?? "").split(":")) {
    try {
      const target = realpathSync(join(dir, "npm"));
      if (target.endsWith("npm-cli.js")) return target;
    } catch {
      // not in this directory
    }
  }
  throw new Error("cannot find npm-cli.js (npm_execpath, or npm on PATH)");
}

export async function run(): Promise<BenchResult[]> {
  const build = join(REPO_ROOT, "tools", "build.mjs");
  // Nothing changed is the case measured: bring dist/ up to date once, outside the measurement.
  const prepared = spawnSync(process.execPath, [build, "--if-stale"], { cwd: REPO_ROOT, stdio: "inherit" });
  if (prepared.status !== 0) throw new Error(`tools/build.mjs --if-stale exited ${prepared.status}`);
  const [baseline, plan, npmPlan, check] = measureNodeInterleaved(
    [
      ["-e", "require('@pulumi/pulumi')"],
      [join(REPO_ROOT, "dist", "tools", "plan.js"), "prod"],
      [npmCli(), "run", "-s", "plan", "--", "prod"],
      [build, "--if-stale"],
    ],
    { cwd: REPO_ROOT },
  );
  const time = plan.wallMs / baseline.wallMs;
  const memory = plan.peakRssMb / baseline.peakRssMb;
  const npmTime = npmPlan.wallMs / baseline.wallMs;
  return [
    {
      name: "offline plan (prod): wall time",
      baseline: baseline.wallMs,
      measured: plan.wallMs,
      ratio: time,
      unit: "ms",
      target: "ratio <= 2",
      met: time <= 2,
      notes: "baseline: node -e \"require('@pulumi/pulumi')\"; median of 7, runs interleaved",
    },
    {
      name: "offline plan (prod): peak RSS",
      baseline: baseline.peakRssMb,
      measured: plan.peakRssMb,
      ratio: memory,
      unit: "MB",
      target: "ratio <= 2",
      met: memory <= 2,
      notes: "median of 7, runs interleaved",
    },
    {
      name: "npm run -s plan -- prod, no source changed: wall time",
      baseline: baseline.wallMs,
      measured: npmPlan.wallMs,
      ratio: npmTime,
      unit: "ms",
      target: "ratio <= 2",
      met: npmTime <= 2,
      notes:
        "npm, then tools/build.mjs --if-stale (finds dist/ current), then the plan; median of 7, interleaved",
    },
    {
      name: "stale-build check alone (node tools/build.mjs --if-stale, dist/ current): wall time",
      baseline: baseline.wallMs,
      measured: check.wallMs,
      ratio: check.wallMs / baseline.wallMs,
      unit: "ms",
      notes: "what the plan pays for not rebuilding; before, every npm run plan ran tsc (20-60 s)",
    },
  ];
}
