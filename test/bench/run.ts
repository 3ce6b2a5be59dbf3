/**
 * `npm run bench [-- name ...]`: runs every test/bench/*.bench module (or those whose file
 * name contains one of the given names) and prints each figure next to its baseline.
 * Benchmarks report; they do not fail on a missed target (the table says so).
 */
import { readdirSync } from "node:fs";
import type { BenchModule, BenchResult } from "./types";

const format = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2));

async function main(filters: string[]): Promise<number> {
  const modules = readdirSync(__dirname)
    .filter((file) => file.endsWith(".bench.js"))
    .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
    .sort();
  if (modules.length === 0) {
    console.error(`no benchmark matches ${filters.join(", ")}`);
    return 2;
  }
  let failures = 0;
  for (const file of modules) {
    console.log(`\n== ${file.replace(/\.bench\.js$/, "")}`);
    let results: BenchResult[];
    try {
      results = await ((await import(`./${file}`)) as BenchModule).run();
    } catch (error) {
      failures++;
      console.log(`  could not run: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    for (const r of results) {
      const verdict = r.met === undefined ? "" : r.met ? "  [target met]" : "  [TARGET MISSED]";
      console.log(
        `  ${r.name}: ${format(r.measured)} ${r.unit} vs baseline ${format(r.baseline)} ${r.unit} -> ratio ${r.ratio.toFixed(2)}` +
          `${r.target ? ` (target ${r.target})` : ""}${verdict}`,
      );
      if (r.notes) console.log(`      ${r.notes}`);
    }
  }
  return failures === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
