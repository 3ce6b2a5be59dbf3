import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "bi-ci-summary-"));

function summary(report: unknown, ...status: string[]): string[] {
  const file = join(dir, `report-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, typeof report === "string" ? report : JSON.stringify(report));
  const run = spawnSync("node", ["tools/ci-summary.mjs", file, ...status], { encoding: "utf8" });
  expect(run.status).toBe(0);
  return run.stdout.trim().split("\n");
}

describe("tools/ci-summary.mjs", () => {
  const passing = { numPassedTests: 3, numFailedTests: 0, numPendingTests: 1, testResults: [] };

  it("prints passed, failed and skipped from the report", () => {
    expect(summary(passing, "0").at(-1)).toBe("3 passed, 0 failed, 1 skipped");
  });

  it("counts a run that failed with no failing test (an unhandled error) as one failure", () => {
    const lines = summary(passing, "1");
    expect(lines[0]).toMatch(/vitest exited 1 with no failing test/);
    expect(lines.at(-1)).toBe("3 passed, 1 failed, 1 skipped");
  });

  it("does not add to failures the report already counts", () => {
    expect(summary({ ...passing, numFailedTests: 2 }, "1").at(-1)).toBe("3 passed, 2 failed, 1 skipped");
  });

  it("counts a file that failed to load once", () => {
    const report = { ...passing, testResults: [{ status: "failed", assertionResults: [] }] };
    expect(summary(report, "1").at(-1)).toBe("3 passed, 1 failed, 1 skipped");
  });

  it("an unreadable report is one failure", () => {
    expect(summary("not json").at(-1)).toBe("0 passed, 1 failed");
  });

  it("adds the engine level's counts, and counts an engine run that failed without a failed check once", () => {
    const engine = join(dir, "engine.json");
    writeFileSync(engine, JSON.stringify({ passed: 12, failed: 1 }));
    expect(summary(passing, "0", engine, "1").at(-1)).toBe("15 passed, 1 failed, 1 skipped");
    writeFileSync(engine, JSON.stringify({ passed: 12, failed: 0 }));
    expect(summary(passing, "0", engine, "0").at(-1)).toBe("15 passed, 0 failed, 1 skipped");
    expect(summary(passing, "0", engine, "1").at(-1)).toBe("15 passed, 1 failed, 1 skipped");
    expect(summary(passing, "0", join(dir, "missing.json"), "1").at(-1)).toBe(
      "3 passed, 1 failed, 1 skipped",
    );
  });
});
