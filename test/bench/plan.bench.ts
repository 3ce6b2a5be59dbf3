/**
 * The offline plan for prod against a bare `require('@pulumi/pulumi')`, both measured
 * here in the same run. Target (issue 2): within 2x of the baseline in time and memory.
 */
import { join } from "node:path";
import { REPO_ROOT } from "../harness/stack-file";
import { measureNodeInterleaved } from "./measure";
import type { BenchResult } from "./types";

export async function run(): Promise<BenchResult[]> {
  const [baseline, plan] = measureNodeInterleaved(
    [
      ["-e", "require('@pulumi/pulumi')"],
      [join(REPO_ROOT, "dist", "tools", "plan.js"), "prod"],
    ],
    { cwd: REPO_ROOT },
  );
  const time = plan.wallMs / baseline.wallMs;
  const memory = plan.peakRssMb / baseline.peakRssMb;
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
  ];
}
