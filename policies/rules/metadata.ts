/**
 * Rule metadata and the two small builders every rule module uses. Each rule carries its
 * name, description, severity, remediation text and the benchmark controls it maps to
 * (CIS Docker Benchmark 1.6 section 5, Checkov ids, Trivy ids, AWS Foundational Security
 * Best Practices); "project rule" marks a rule that no public benchmark has.
 */
import type {
  EnforcementLevel,
  PolicyConfigSchema,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  Severity,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { propsOf } from "./values";

export interface RuleMeta {
  /** Unique, kebab-case; what `--policy-pack-config` keys on. */
  name: string;
  description: string;
  severity: Severity;
  /** What to change in the program or config to comply. */
  remediation: string;
  /** Benchmark controls, e.g. `CIS Docker 5.4`, `Checkov CKV_AWS_21`. */
  benchmarks: string[];
  /** Default level; the pack default (mandatory) when unset. Overridable per stack by policy config. */
  enforcementLevel?: EnforcementLevel;
  configSchema?: PolicyConfigSchema;
}

/** Every policy of the pack is mandatory unless policy config lowers it for a stack. */
export const DEFAULT_ENFORCEMENT: EnforcementLevel = "mandatory";

/** Metadata of every rule, by name: the offline runner and the docs read it from here. */
export const RULES = new Map<string, RuleMeta>();

function register(meta: RuleMeta): void {
  if (RULES.has(meta.name)) throw new Error(`policy rule "${meta.name}" is defined twice`);
  if (meta.benchmarks.length === 0) throw new Error(`policy rule "${meta.name}" names no benchmark control`);
  RULES.set(meta.name, meta);
}

function base(meta: RuleMeta) {
  register(meta);
  return {
    name: meta.name,
    description: `${meta.description} [${meta.benchmarks.join("; ")}]`,
    enforcementLevel: meta.enforcementLevel ?? DEFAULT_ENFORCEMENT,
    severity: meta.severity,
    remediationSteps: meta.remediation,
    tags: meta.benchmarks,
    ...(meta.configSchema ? { configSchema: meta.configSchema } : {}),
  };
}

export type ResourceCheck = (
  props: Record<string, unknown>,
  args: ResourceValidationArgs,
  report: ReportViolation,
) => void;

/**
 * A policy over the inputs of resources of the given types; any other type is reported
 * not applicable. The check gets the properties as plain data (see values.ts `materialize`).
 */
export function resourcePolicy(
  meta: RuleMeta,
  types: string[],
  check: ResourceCheck,
): ResourceValidationPolicy {
  const wanted = new Set(types);
  return {
    ...base(meta),
    validateResource: (args, report) => {
      if (!wanted.has(args.type)) args.notApplicable(`applies to ${types.join(", ")}`);
      check(propsOf(args), args, report);
    },
  };
}

export type StackCheck = (args: StackValidationArgs, report: ReportViolation) => void;

/** A policy over the whole stack (resource outputs after the plan). */
export function stackPolicy(meta: RuleMeta, check: StackCheck): StackValidationPolicy {
  return { ...base(meta), validateStack: (args, report) => check(args, report) };
}

/** JSON schema of a list of strings. */
export const stringList = (description: string, defaults: string[]) => ({
  type: "array" as const,
  items: { type: "string" as const },
  default: defaults,
  description,
});

/** JSON schema of the `environments` option of environment-dependent rules. */
export const environmentsOption = (defaults: string[]) =>
  stringList("Environments (stack name without -blue/-green) where the rule applies.", defaults);
