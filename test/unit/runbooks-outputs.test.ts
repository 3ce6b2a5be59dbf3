/**
 * The contract between the Pulumi program and the runbooks, end to end: the stack outputs the
 * real program exports (run under mocks for the prod and staging stack files) are fed to the
 * runbooks in --dry-run, which must find every field they need. A field renamed or dropped in
 * the program fails here with the runbook's own message naming it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProgram } from "../harness/run-program";
import { removeDir, run, skipReason, tempDir } from "../support/tools";

const REPO = resolve(__dirname, "..", "..");

describe.skipIf(skipReason("jq"))("stack outputs of the program satisfy the runbooks", () => {
  let root: string;
  beforeAll(() => {
    root = tempDir("runbook-contract");
  });
  afterAll(() => removeDir(root));

  for (const env of ["prod", "staging"]) {
    describe(env, () => {
      let envFile: string;
      let slotFile: string;
      let active: string;
      beforeAll(async () => {
        const plan = await runProgram(env);
        const outputs = plan.outputs as { traffic?: { active?: string } };
        active = outputs.traffic?.active ?? "";
        envFile = join(root, `${env}.json`);
        writeFileSync(envFile, JSON.stringify(plan.outputs));
        const slotPlan = await runProgram(`${env}-${active}`);
        slotFile = join(root, `${env}-${active}.json`);
        writeFileSync(slotFile, JSON.stringify(slotPlan.outputs));
      }, 180_000);

      const dryRun = (runbook: string, args: string[]) => {
        const result = run(
          join(REPO, "runbooks", runbook),
          [...args, "--dry-run", "--outputs", envFile, "--slot-outputs", slotFile],
          { cwd: REPO, input: "", env: { ...process.env, BI_LOG_DIR: join(root, "logs") } },
        );
        return result;
      };

      it("restart covers every container the outputs name: data, slot, edge, monitoring", () => {
        const outputs = JSON.parse(readFileSync(envFile, "utf8")) as {
          postgres: { container: string };
          redis: { container: string };
          edge: { container: string };
          backups: { runnerContainer: string };
          monitoring?: { containers?: Record<string, string> | string[] };
        };
        const slot = JSON.parse(readFileSync(slotFile, "utf8")) as { containers: string[] };
        const expected = [
          outputs.postgres.container,
          outputs.redis.container,
          outputs.backups.runnerContainer,
          ...slot.containers,
          outputs.edge.container,
          ...Object.values(outputs.monitoring?.containers ?? {}),
        ];
        const result = dryRun("disaster-recovery", ["restart"]);
        expect(result.status, result.stderr).toBe(0);
        const restarted = [...result.stdout.matchAll(/^\[dry-run\] docker -H \S+ restart (\S+)$/gm)].map(
          (m) => m[1],
        );
        expect(restarted).toEqual(expected);
      });

      it("the active slot is blue or green", () => {
        expect(["blue", "green"]).toContain(active);
      });

      it.each([
        ["disaster-recovery", ["restore", "--latest", "--from", "s3"]],
        ["disaster-recovery", ["restore", "--to", "2026-11-28 09:14:00", "--only", "postgres"]],
        ["disaster-recovery", ["restart"]],
        ["backup-now", ["--what", "all"]],
        ["backup-list", []],
      ])("%s %s finds every field it needs", (runbook, args) => {
        const result = dryRun(runbook, args as string[]);
        expect(result.stderr).not.toMatch(/stack output field '[^']+' is missing/);
        expect(result.status, result.stderr).toBe(0);
        expect(result.stdout).toMatch(/^\[dry-run\] docker -H \S+ /m);
      });
    });
  }
});
