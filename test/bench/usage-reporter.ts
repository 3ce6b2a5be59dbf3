/**
 * Loaded with `node --require` into a measured process: on exit it writes the process's
 * wall time since start and peak resident memory to the file named by BENCH_USAGE_FILE.
 */
import { writeFileSync } from "node:fs";

const file = process.env.BENCH_USAGE_FILE;
if (file) {
  process.on("exit", () => {
    const usage = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ uptimeMs: process.uptime() * 1000, maxRssKb: usage.maxRSS }));
  });
}
