/**
 * Runs the policy pack over an offline plan (test/harness/run-program.ts), the way the
 * Pulumi engine runs it during `pulumi preview --policy-pack policies`: resource policies
 * over each resource's inputs, stack policies over every resource's outputs. The SAME
 * policy objects (policies/rules) are used, with the same enforcement-level resolution
 * (`--policy-pack-config`: per-policy entries over `all`, over the policy's default).
 *
 * Differences from the engine, on purpose:
 * - the root stack resource carries the stack outputs with secret ones marked
 *   (`SecretValue`) and the SECRETS_MARKED_TAG stack tag, so `stack-outputs-sensitive-secret`
 *   can run (the engine unwraps secrets, so under the engine that rule is not applicable);
 * - policy config that lowers a mandatory rule in prod is refused (prod is always mandatory);
 * - policy config is checked against each rule's schema here, before anything runs.
 */
import type {
  EnforcementLevel,
  Policies,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { unknownCheckingProxy } from "@pulumi/policy";
import * as fs from "node:fs";
import * as path from "node:path";
import { ALL_POLICIES } from "../policies/rules";
import { SECRETS_MARKED_TAG, SecretValue, environmentOfUrn, stackOfUrn } from "../policies/rules/values";
import { PROJECT_ROOT } from "./project-root";

/** One resource of a plan (a subset of the harness's PlannedResource). */
export interface PlanResourceLike {
  urn: string;
  type: string;
  name: string;
  parent?: string;
  custom?: boolean;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  dependencies?: string[];
  /** Per input property, the URNs its value came from (the engine sends these to stack policies). */
  propertyDependencies?: Record<string, string[]>;
}

export interface PlanLike {
  resources: PlanResourceLike[];
  /** Stack outputs, resolved. */
  outputs: Record<string, unknown>;
  /** Dot paths (with [i] for list items) of stack outputs that are secrets. */
  secretOutputs?: string[];
}

/** `--policy-pack-config` JSON: `all` and/or per-policy level or `{ enforcementLevel?, ...options }`. */
export type PolicyConfigFile = Record<
  string,
  EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>)
>;

export interface RunPoliciesOptions {
  /** prod, staging or local. Default: from the plan's URNs. In prod no rule may be lowered below mandatory. */
  environment?: string;
  config?: PolicyConfigFile;
  /** Default: every policy of the pack. */
  policies?: Policies;
}

export interface Violation {
  policy: string;
  level: "mandatory" | "advisory";
  severity?: string;
  /** The resource in violation; absent when a stack policy reports the whole stack. */
  urn?: string;
  name?: string;
  type?: string;
  message: string;
  remediation: string;
  benchmarks: string[];
}

const LEVELS: EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];
const PROJECT_FALLBACK = "backend-infra";
/** The repository root (lib/project-root.ts). */
const REPO_ROOT = PROJECT_ROOT;
/**
 * Thrown by `notApplicable`, which most (rule, resource) pairs call: a plain object, because
 * capturing an Error's stack thousands of times was a tenth of the offline plan's run time.
 */
class NotApplicable {
  constructor(readonly reason?: string) {}
}

const isResourcePolicy = (
  p: ResourceValidationPolicy | StackValidationPolicy,
): p is ResourceValidationPolicy => "validateResource" in p && p.validateResource !== undefined;
const isStackPolicy = (p: ResourceValidationPolicy | StackValidationPolicy): p is StackValidationPolicy =>
  "validateStack" in p && typeof p.validateStack === "function";

function levelOf(entry: unknown): EnforcementLevel | undefined {
  if (typeof entry === "string") return entry as EnforcementLevel;
  if (entry && typeof entry === "object")
    return (entry as { enforcementLevel?: EnforcementLevel }).enforcementLevel;
  return undefined;
}

/** Checks a policy config file against the pack: policy names, levels, option names and types. */
export function validatePolicyConfig(config: PolicyConfigFile, policies: Policies = ALL_POLICIES): void {
  const byName = new Map(policies.map((p) => [p.name, p]));
  const problems: string[] = [];
  for (const [name, entry] of Object.entries(config)) {
    const policy = byName.get(name);
    if (name !== "all" && !policy) {
      problems.push(`"${name}": no such policy (known: all, ${[...byName.keys()].join(", ")})`);
      continue;
    }
    const level = levelOf(entry);
    if (level !== undefined && !LEVELS.includes(level)) {
      problems.push(`"${name}": enforcement level "${String(level)}" is not one of ${LEVELS.join(", ")}`);
    }
    if (typeof entry === "string" || entry === null || typeof entry !== "object") {
      if (typeof entry !== "string") problems.push(`"${name}": expected a level or an object`);
      continue;
    }
    const properties = policy?.configSchema?.properties ?? {};
    for (const [key, value] of Object.entries(entry)) {
      if (key === "enforcementLevel") continue;
      const schema = properties[key] as { type?: string; items?: { type?: string } } | undefined;
      if (!schema) {
        problems.push(
          `"${name}.${key}": unknown option (options: ${Object.keys(properties).join(", ") || "none"})`,
        );
      } else if (schema.type === "array") {
        const itemType = schema.items?.type;
        const ok =
          Array.isArray(value) &&
          value.every((v) =>
            itemType === "integer" ? Number.isInteger(v) : itemType ? typeof v === itemType : true,
          );
        if (!ok) problems.push(`"${name}.${key}": expected an array of ${itemType ?? "values"}`);
      } else if (schema.type === "integer" && !Number.isInteger(value)) {
        problems.push(`"${name}.${key}": expected an integer`);
      } else if (schema.type && schema.type !== "integer" && typeof value !== schema.type) {
        problems.push(`"${name}.${key}": expected a ${schema.type}`);
      }
    }
  }
  if (problems.length > 0) throw new Error(`invalid policy config:\n  ${problems.join("\n  ")}`);
}

/** The level a policy runs at under `config`, resolved like the engine: policy entry, then `all`, then default. */
export function effectiveLevel(
  policy: { enforcementLevel?: EnforcementLevel },
  name: string,
  config: PolicyConfigFile = {},
) {
  return levelOf(config[name]) ?? levelOf(config.all) ?? policy.enforcementLevel ?? "advisory";
}

function optionsOf(config: PolicyConfigFile, name: string): Record<string, unknown> {
  const entry = config[name];
  if (!entry || typeof entry !== "object") return {};
  const { enforcementLevel: _ignored, ...options } = entry;
  return options;
}

/** Wraps the values at the given dot paths (`a.b`, `a[0]`) in SecretValue. */
export function markSecrets(outputs: Record<string, unknown>, paths: string[]): Record<string, unknown> {
  const secret = new Set(paths);
  const walk = (value: unknown, path: string): unknown => {
    if (secret.has(path)) return new SecretValue(value);
    if (Array.isArray(value)) return value.map((v, i) => walk(v, `${path}[${i}]`));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, walk(v, path ? `${path}.${k}` : k)]),
      );
    }
    return value;
  };
  return walk(outputs, "") as Record<string, unknown>;
}

const OPTS = (parent?: string) => ({
  protect: false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
  ...(parent ? { parent } : {}),
});

function isTypeFn(type: string) {
  return (resourceClass: { __pulumiType?: string; isInstance?: (o: unknown) => boolean }) =>
    resourceClass.__pulumiType === type || resourceClass.isInstance?.({ __pulumiType: type }) === true;
}

const notApplicable = (reason?: string): never => {
  throw new NotApplicable(reason);
};

/** Runs every (enabled) policy over the plan and returns the violations, mandatory first. */
export async function runPolicies(plan: PlanLike, options: RunPoliciesOptions = {}): Promise<Violation[]> {
  return (await runPoliciesWithCoverage(plan, options)).violations;
}

export interface PolicyRun {
  violations: Violation[];
  /** Per policy: how many resources (resource policies) or stacks (stack policies) it applied to. */
  applied: Map<string, number>;
}

/** Like `runPolicies`, and also counts where each policy was applicable (not `notApplicable`). */
export async function runPoliciesWithCoverage(
  plan: PlanLike,
  options: RunPoliciesOptions = {},
): Promise<PolicyRun> {
  const policies = options.policies ?? ALL_POLICIES;
  const config = options.config ?? {};
  validatePolicyConfig(config, policies);
  const firstUrn = plan.resources[0]?.urn;
  const environment = options.environment ?? (firstUrn ? environmentOfUrn(firstUrn) : undefined);
  const stackName = (firstUrn && stackOfUrn(firstUrn)) || environment || "stack";
  const project = (firstUrn && /^urn:pulumi:[^:]+::([^:]+)::/.exec(firstUrn)?.[1]) || PROJECT_FALLBACK;

  const levels = new Map<string, EnforcementLevel>();
  for (const p of policies) {
    const level = effectiveLevel(p, p.name, config);
    if (
      environment === "prod" &&
      p.enforcementLevel === "mandatory" &&
      level !== "mandatory" &&
      level !== "remediate"
    ) {
      throw new Error(`policy config: "${p.name}" is mandatory in prod and cannot be set to ${level}`);
    }
    levels.set(p.name, level);
  }

  const violations: Violation[] = [];
  const reporterFor = (p: ResourceValidationPolicy | StackValidationPolicy, resource?: PlanResourceLike) => {
    const level = levels.get(p.name) === "advisory" ? "advisory" : "mandatory";
    const report: ReportViolation = (message: string, urn?: string) => {
      const target = urn ? byUrn.get(urn) : resource;
      violations.push({
        policy: p.name,
        level,
        severity: p.severity,
        urn: target?.urn ?? urn,
        name: target?.name,
        type: target?.type,
        message,
        remediation: p.remediationSteps ?? "",
        benchmarks: p.tags ?? [],
      });
    };
    return report;
  };

  const applied = new Map<string, number>(policies.map((p) => [p.name, 0]));
  const run = async (p: ResourceValidationPolicy | StackValidationPolicy, fn: () => unknown) => {
    try {
      await fn();
      applied.set(p.name, (applied.get(p.name) ?? 0) + 1);
    } catch (error) {
      if (error instanceof NotApplicable) return;
      if (error instanceof Error && error.constructor.name === "UnknownValueError") {
        // The engine reports this as an advisory "can't run policy during preview".
        violations.push({
          policy: p.name,
          level: "advisory",
          message: `can't run policy during preview: ${error.message}`,
          remediation: "",
          benchmarks: [],
        });
        return;
      }
      throw new Error(`policy ${p.name} failed: ${(error as Error).message}`, { cause: error });
    }
  };

  // The root stack resource holds the stack outputs (secret ones marked).
  const resources: PlanResourceLike[] = plan.resources.filter((r) => r.type !== "pulumi:pulumi:Stack");
  const stackUrn = `urn:pulumi:${stackName}::${project}::pulumi:pulumi:Stack::${project}-${stackName}`;
  const stackOutputs = markSecrets(plan.outputs, plan.secretOutputs ?? []);
  const root: PlanResourceLike = {
    urn: stackUrn,
    type: "pulumi:pulumi:Stack",
    name: `${project}-${stackName}`,
    custom: false,
    inputs: {},
    outputs: stackOutputs,
  };
  const byUrn = new Map<string, PlanResourceLike>([...resources, root].map((r) => [r.urn, r]));

  // ---- resource policies: inputs ----
  for (const p of policies) {
    if (levels.get(p.name) === "disabled" || !isResourcePolicy(p)) continue;
    const validations = Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource];
    for (const r of resources) {
      const report = reporterFor(p, r);
      const props = unknownCheckingProxy(structuredClone(r.inputs)) as Record<string, unknown>;
      const args: ResourceValidationArgs = {
        type: r.type,
        props,
        urn: r.urn,
        name: r.name,
        opts: OPTS(r.parent),
        stackTags: new Map(),
        isType: isTypeFn(r.type) as ResourceValidationArgs["isType"],
        asType: ((cls: { __pulumiType?: string }) =>
          isTypeFn(r.type)(cls) ? props : undefined) as ResourceValidationArgs["asType"],
        getConfig: <T extends object>() => optionsOf(config, p.name) as T,
        notApplicable,
      };
      for (const validate of validations) {
        if (validate) await run(p, () => validate(args, report));
      }
    }
  }

  // ---- stack policies: outputs ----
  const policyResources = new Map<string, PolicyResource>();
  for (const r of [...resources, root]) {
    const props =
      r === root
        ? (r.outputs as Record<string, unknown>)
        : (unknownCheckingProxy(structuredClone(r.outputs)) as Record<string, unknown>);
    policyResources.set(r.urn, {
      type: r.type,
      props,
      urn: r.urn,
      name: r.name,
      opts: OPTS(r.parent ?? (r === root ? undefined : stackUrn)),
      dependencies: [],
      propertyDependencies: {},
      isType: isTypeFn(r.type) as PolicyResource["isType"],
      asType: ((cls: { __pulumiType?: string }) =>
        isTypeFn(r.type)(cls) ? props : undefined) as PolicyResource["asType"],
    });
  }
  for (const r of resources) {
    const pr = policyResources.get(r.urn) as PolicyResource;
    pr.parent = policyResources.get(r.parent ?? stackUrn);
    pr.dependencies = (r.dependencies ?? [])
      .map((u) => policyResources.get(u))
      .filter((d): d is PolicyResource => !!d);
    for (const [key, urns] of Object.entries(r.propertyDependencies ?? {})) {
      pr.propertyDependencies[key] = urns
        .map((u) => policyResources.get(u))
        .filter((d): d is PolicyResource => !!d);
    }
  }
  const all = [...policyResources.values()];
  for (const p of policies) {
    if (levels.get(p.name) === "disabled" || !isStackPolicy(p)) continue;
    const report = reporterFor(p);
    const args: StackValidationArgs = {
      resources: all,
      stackTags: new Map([[SECRETS_MARKED_TAG, "true"]]),
      getConfig: <T extends object>() => optionsOf(config, p.name) as T,
      notApplicable,
    };
    await run(p, () => p.validateStack(args, report));
  }

  violations.sort((a, b) => (a.level === b.level ? 0 : a.level === "mandatory" ? -1 : 1));
  return { violations, applied };
}

export const mandatory = (violations: Violation[]) => violations.filter((v) => v.level === "mandatory");

/** Human-readable report: one block per violation with resource, rule, message and remediation. */
export function formatViolations(violations: Violation[]): string {
  if (violations.length === 0) return "policy pack: no violations\n";
  const lines: string[] = [];
  for (const v of violations) {
    const where = v.urn ? `${v.type ?? ""} ${v.name ?? ""} (${v.urn})`.trim() : "stack";
    lines.push(`[${v.level}] ${v.policy}${v.severity ? ` (${v.severity})` : ""}: ${where}`);
    lines.push(`    ${v.message}`);
    if (v.remediation) lines.push(`    remediation: ${v.remediation}`);
    if (v.benchmarks.length > 0) lines.push(`    maps to: ${v.benchmarks.join("; ")}`);
  }
  const m = mandatory(violations).length;
  lines.push(`policy pack: ${m} mandatory, ${violations.length - m} advisory violation(s)`);
  return `${lines.join("\n")}\n`;
}

/**
 * The policy config of an environment: `policies/config/<environment>.json` when it exists,
 * else `{}` (every rule at its default, mandatory). The same file is what CI passes to
 * `pulumi preview --policy-pack policies --policy-pack-config <file>`.
 */
export function loadPolicyConfig(
  environment: string,
  root: string = REPO_ROOT,
): { file?: string; config: PolicyConfigFile } {
  const absolute = path.join(root, "policies", "config", `${environment}.json`);
  if (!fs.existsSync(absolute)) return { config: {} };
  const file = path.relative(process.cwd(), absolute) || absolute;
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(absolute, "utf8"));
  } catch (error) {
    throw new Error(`${file}: not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error(`${file}: expected a JSON object of policy name -> level or options`);
  }
  try {
    validatePolicyConfig(parsed as PolicyConfigFile);
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
  return { file, config: parsed as PolicyConfigFile };
}
