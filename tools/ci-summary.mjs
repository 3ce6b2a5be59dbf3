// Prints the one summary line CI reads ("N passed, N failed[, N skipped]") from vitest's
// JSON report and vitest's exit status. Plain JS so it runs without a build step.
// Usage: node tools/ci-summary.mjs <results.json> [vitest exit status]
import { readFileSync } from "node:fs";

const file = process.argv[2];
const status = Number(process.argv[3] ?? 0);
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
let failed = (report.numFailedTests ?? 0) + brokenFiles;
// An unhandled error fails the run but no test: the report does not list it, so count it once
// here rather than print "0 failed" for a run that failed.
if (status !== 0 && failed === 0) {
  console.log(`vitest exited ${status} with no failing test (an unhandled error; see its output above)`);
  failed = 1;
}
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
