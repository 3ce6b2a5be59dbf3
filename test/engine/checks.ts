/**
 * The engine level's bookkeeping: named phases with their times, named checks that pass or fail
 * with a reason, and the closing `engine: N passed, N failed` line.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { log } from "./proc";

export class Checks {
  passed = 0;
  failed = 0;
  skipped = 0;
  private readonly phases: { name: string; seconds: number; ok: boolean }[] = [];
  private readonly failures: string[] = [];

  /** Runs a phase; an exception fails it (counted once) and is reported, the run goes on. */
  async phase(name: string, body: () => Promise<void>): Promise<boolean> {
    const start = Date.now();
    console.log(`\n==> phase ${name}`);
    log(`==> phase ${name}`);
    let ok = true;
    try {
      await body();
    } catch (error) {
      ok = false;
      this.fail(`phase ${name}`, error);
    }
    const seconds = (Date.now() - start) / 1000;
    this.phases.push({ name, seconds, ok });
    console.log(`<== phase ${name}: ${ok ? "ok" : "FAILED"} in ${seconds.toFixed(1)} s`);
    return ok;
  }

  /** One named check: passes unless `body` throws; `detail` (its return) is printed. */
  async check(name: string, body: () => Promise<string | void> | string | void): Promise<boolean> {
    try {
      const detail = await body();
      this.passed++;
      const line = `ok   ${name}${detail ? `: ${detail}` : ""}`;
      console.log(line);
      log(line);
      return true;
    } catch (error) {
      this.fail(name, error);
      return false;
    }
  }

  /**
   * One operations scenario: prints exactly `scenario <name>: ok <figures>` or
   * `scenario <name>: FAIL <why>`, and counts like a check.
   */
  async scenario(name: string, body: () => Promise<string>): Promise<boolean> {
    try {
      const figures = await body();
      this.passed++;
      const line = `scenario ${name}: ok ${figures}`;
      console.log(line);
      log(line);
      return true;
    } catch (error) {
      this.failed++;
      const message = error instanceof Error ? error.message : String(error);
      const line = `scenario ${name}: FAIL ${message}`;
      this.failures.push(line);
      console.log(line);
      log(line);
      return false;
    }
  }

  /** A check that cannot run here, with the reason (counted and printed, never silent). */
  skip(name: string, reason: string): void {
    this.skipped++;
    const line = `skip ${name}: ${reason}`;
    console.log(line);
    log(line);
  }

  fail(name: string, error: unknown): void {
    this.failed++;
    const message = error instanceof Error ? error.message : String(error);
    const line = `FAIL ${name}: ${message}`;
    this.failures.push(line);
    console.log(line);
    log(line);
  }

  /** Prints the phase times and the summary line; returns the exit status. */
  finish(): number {
    console.log("\nengine phases:");
    for (const p of this.phases)
      console.log(`  ${p.name.padEnd(16)} ${p.seconds.toFixed(1).padStart(7)} s  ${p.ok ? "ok" : "FAILED"}`);
    const total = this.phases.reduce((s, p) => s + p.seconds, 0);
    console.log(`  ${"total".padEnd(16)} ${total.toFixed(1).padStart(7)} s`);
    if (this.failures.length)
      console.log(`\nfailures:\n${this.failures.map((f) => `  ${f.split("\n")[0]}`).join("\n")}`);
    const outDir = resolve(__dirname, "..", "..", "..", ".test-output");
    mkdirSync(outDir, { recursive: true });
    writeFileSync(
      join(outDir, "engine.json"),
      JSON.stringify(
        { passed: this.passed, failed: this.failed, skipped: this.skipped, phases: this.phases },
        null,
        2,
      ),
    );
    const skipped = this.skipped ? `, ${this.skipped} skipped` : "";
    console.log(`engine: ${this.passed} passed, ${this.failed} failed${skipped}`);
    return this.failed === 0 ? 0 : 1;
  }
}
