/** Runs a Node command several times and reports median wall time and peak memory. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Usage {
  /** Median wall time of the whole process, from spawn to exit, in ms. */
  wallMs: number;
  /** Median peak resident set size in MB. */
  peakRssMb: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Measures several Node commands, interleaving their runs (a, b, a, b, ...) so that load
 * from other processes on the machine falls on all of them alike.
 */
export function measureNodeInterleaved(
  commands: string[][],
  { runs = 7, cwd }: { runs?: number; cwd?: string } = {},
): Usage[] {
  const dir = mkdtempSync(join(tmpdir(), "bi-bench-"));
  const samples = commands.map(() => ({ walls: [] as number[], rss: [] as number[] }));
  try {
    for (let i = 0; i < runs; i++) {
      commands.forEach((args, c) => {
        const { wallMs, peakRssMb } = runOnce(args, join(dir, `usage-${c}-${i}.json`), cwd);
        samples[c].walls.push(wallMs);
        samples[c].rss.push(peakRssMb);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return samples.map(({ walls, rss }) => ({ wallMs: median(walls), peakRssMb: median(rss) }));
}

function runOnce(args: string[], usageFile: string, cwd?: string): Usage {
  const reporter = join(__dirname, "usage-reporter.js");
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ["--require", reporter, ...args], {
    cwd,
    env: { ...process.env, BENCH_USAGE_FILE: usageFile },
    encoding: "utf8",
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0)
    throw new Error(`node ${args.join(" ")} exited ${result.status}: ${result.stderr}`);
  const usage = JSON.parse(readFileSync(usageFile, "utf8")) as { maxRssKb: number };
  return { wallMs, peakRssMb: usage.maxRssKb / 1024 };
}
