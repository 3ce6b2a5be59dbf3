// Prints the one summary line CI reads ("N passed, N failed[, N skipped]") from vitest's
// JSON report and vitest's exit status. Plain JS so it runs without a build step.
// Usage: node tools/ci-summary.mjs <results.json> [vitest exit status] [engine.json engine exit status]
// The engine level (npm run test:engine) writes its own counts to engine.json; they are added.
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
let skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
let enginePassed = 0;
let engineSkipped = 0;
const engineFile = process.argv[4];
if (engineFile) {
  const engineStatus = Number(process.argv[5] ?? 0);
  let engine;
  try {
    engine = JSON.parse(readFileSync(engineFile, "utf8"));
  } catch (error) {
    console.log(`could not read engine results ${engineFile}: ${error.message}`);
    engine = { passed: 0, failed: 1 };
  }
  enginePassed = Number(engine.passed) || 0;
  engineSkipped = Number(engine.skipped) || 0;
  let engineFailed = Number(engine.failed) || 0;
  if (engineStatus !== 0 && engineFailed === 0) {
    console.log(`the engine level exited ${engineStatus} with no failed check (see its output above)`);
    engineFailed = 1;
  }
  console.log(
    `engine level: ${enginePassed} passed, ${engineFailed} failed${engineSkipped ? `, ${engineSkipped} skipped` : ""}`,
  );
  failed += engineFailed;
}
skipped += engineSkipped;
console.log(`${passed + enginePassed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
