// Prints the one summary line CI reads ("N passed, N failed[, N skipped]") from vitest's
// JSON report. Plain JS so it runs without a build step.
import { readFileSync } from "node:fs";

const file = process.argv[2];
let report;
try {
  report = JSON.parse(readFileSync(file, "utf8"));
} catch (error) {
  console.log(`could not read test results ${file}: ${error.message}`);
  console.log("0 passed, 1 failed");
  process.exit(0);
}
const passed = report.numPassedTests ?? 0;
// A file that fails to load has no failing test of its own: count it once.
const brokenFiles = (report.testResults ?? []).filter(
  (file) => file.status === "failed" && !(file.assertionResults ?? []).some((t) => t.status === "failed"),
).length;
const failed = (report.numFailedTests ?? 0) + brokenFiles;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
