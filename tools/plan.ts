/**
 * `npm run -s plan -- <stack> [--json] [--dir DIR]`: the offline plan. Runs the real program under Pulumi's
 * mock runtime (no cloud credentials, Docker or Pulumi CLI), prints the resource tree, the
 * stack outputs with secrets masked and a count per resource type, then runs the policy pack
 * (policies/, config policies/config/<environment>.json) over the plan. Exit codes: 0 ok,
 * 2 bad input (invalid configuration, an unknown stack, a stack file that is not YAML, bad
 * arguments), 3 a mandatory policy violation, 1 any other failure.
 */
import { existsSync } from "node:fs";
import { ConfigError } from "../config/schema";
import { formatViolations, loadPolicyConfig, mandatory, runPolicies } from "../lib/policy-runner";
import {
  runProgram,
  type PlaceholderReport,
  type PlanResult,
  type PlannedResource,
} from "../test/harness/run-program";
import { listStacks, StackFileError } from "../test/harness/stack-file";

/** Input properties worth a glance, per resource type (others are in --json). */
const KEY_PROPERTIES: Record<string, string[]> = {
  "docker:index/container:Container": [
    "name",
    "image",
    "user",
    "memory",
    "cpus",
    "ports",
    "networksAdvanced",
    "restart",
  ],
  "docker:index/network:Network": ["name", "internal"],
  "docker:index/volume:Volume": ["name"],
  "docker:index/remoteImage:RemoteImage": ["name"],
  "docker:index/registryImage:RegistryImage": ["name"],
  "pulumi:providers:docker": ["host"],
  "pulumi:providers:aws": ["region"],
  "pulumi:pulumi:StackReference": ["name"],
  "aws:s3/bucket:Bucket": ["bucket", "objectLockEnabled"],
  "random:index/randomPassword:RandomPassword": ["length"],
  "command:local:Command": ["create"],
};

export const SECRET_MASK = "[secret]";

function summarise(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value
      .map((item) =>
        item !== null && typeof item === "object"
          ? Object.values(item as Record<string, unknown>)
              .filter((v) => v !== undefined && v !== null && v !== "")
              .map((v) => (Array.isArray(v) ? v.join("|") : String(v)))
              .join(":")
          : String(item),
      )
      .join(", ")}]`;
  }
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describe(resource: PlannedResource): string {
  const keys = KEY_PROPERTIES[resource.type] ?? [];
  const props = keys
    .filter((key) => resource.inputs[key] !== undefined)
    .map(
      (key) =>
        `${key}=${resource.secretInputs.includes(key) ? SECRET_MASK : summarise(resource.inputs[key])}`,
    );
  return `${resource.type}  ${resource.name}${props.length ? `  (${props.join(" ")})` : ""}`;
}

export function renderTree(resources: PlannedResource[]): string[] {
  const children = new Map<string | undefined, PlannedResource[]>();
  const urns = new Set(resources.map((r) => r.urn));
  for (const resource of resources) {
    const parent = resource.parent && urns.has(resource.parent) ? resource.parent : undefined;
    children.set(parent, [...(children.get(parent) ?? []), resource]);
  }
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const resource of children.get(parent) ?? []) {
      lines.push(`${"  ".repeat(depth)}+ ${describe(resource)}`);
      walk(resource.urn, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines;
}

/** Stack outputs with every secret path replaced by the mask. */
export function maskSecrets(outputs: Record<string, unknown>, secretPaths: string[]): unknown {
  const secrets = new Set(secretPaths);
  const mask = (value: unknown, path: string): unknown => {
    if (secrets.has(path)) return SECRET_MASK;
    if (Array.isArray(value)) return value.map((v, i) => mask(v, `${path}[${i}]`));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, mask(v, path ? `${path}.${k}` : k)]),
      );
    }
    return value;
  };
  return mask(outputs, "");
}

export function countByType(resources: PlannedResource[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const r of resources) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => a[0].localeCompare(b[0]));
}

const bare = (key: string) => key.replace(/^[^:]*:/, "");

/**
 * Which placeholders the run filled, per stack it read: a slot stack's own, and its env stack's
 * (whose offline run stands in for the StackReference). A slot stack's line lists only what that
 * stack must hold; the env stack's are the env stack's to set.
 */
export function renderPlaceholders(reports: PlaceholderReport[]): string[] {
  const lines = [
    "Placeholders filled in (secrets an offline plan cannot read; before pulumi up, set each with `pulumi config set --secret KEY -s STACK`):",
  ];
  reports.forEach((report, index) => {
    const items = [
      ...report.secure.map((key) => `${bare(key)} (secure: in ${report.file}, not decryptable offline)`),
      ...report.required.map((key) => `${bare(key)} (required, not set in ${report.file})`),
    ];
    const via = index > 0 ? ", read through the StackReference" : "";
    lines.push(`  ${report.role} stack ${report.stack}${via}: ${items.length ? items.join(", ") : "none"}`);
  });
  return lines;
}

export function renderPlan(plan: PlanResult): string {
  const lines = [
    `OFFLINE PLAN for stack "${plan.stack}" (${plan.config.environment}, ${plan.config.role} role)`,
    "This is the program run under Pulumi's mock runtime: no cloud, Docker or Pulumi CLI was contacted.",
    "It is not `pulumi preview`: provider-side validation and diffs against real state are not included.",
    ...renderPlaceholders(plan.placeholders),
  ];
  lines.push("", "Resources:", ...renderTree(plan.resources), "", "Outputs:");
  lines.push(JSON.stringify(maskSecrets(plan.outputs, plan.secretOutputs), null, 2));
  lines.push("", "Resources by type:");
  for (const [type, count] of countByType(plan.resources))
    lines.push(`  ${String(count).padStart(4)}  ${type}`);
  lines.push(`  ${String(plan.resources.length).padStart(4)}  total`);
  return lines.join("\n");
}

const USAGE = "usage: npm run -s plan -- <stack> [--json] [--dir DIR]";

/** The arguments, or a one-line error. */
function parseArgs(argv: string[]): { stack?: string; json: boolean; dir?: string } | { error: string } {
  let json = false;
  let dir: string | undefined;
  const stacks: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") json = true;
    else if (arg === "--dir") {
      dir = argv[++i];
      if (dir === undefined || dir.startsWith("--")) return { error: "--dir needs a directory" };
    } else if (arg.startsWith("-")) return { error: `unknown option ${arg}` };
    else stacks.push(arg);
  }
  if (stacks.length > 1) return { error: `one stack at a time (got ${stacks.join(", ")})` };
  if (dir !== undefined && !existsSync(dir)) return { error: `--dir ${dir}: no such directory` };
  return { stack: stacks[0], json, dir };
}

/**
 * Whether `npm run plan` (without -s) started this: npm then wrote "> backend-infra@... plan" to
 * stdout first, which no JSON reader accepts. On a terminal that does no harm.
 */
function npmPrintedBanner(): boolean {
  return (
    process.env.npm_lifecycle_event === "plan" &&
    process.env.npm_config_loglevel !== "silent" &&
    !process.stdout.isTTY
  );
}

/** Runs the CLI; returns the exit code. `--dir` reads stack files from another directory. */
export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if ("error" in args) {
    console.error(`offline plan: ${args.error} (${USAGE})`);
    return 2;
  }
  const { stack, json, dir } = args;
  if (json && npmPrintedBanner()) {
    console.error(
      "offline plan: npm printed its banner on stdout ahead of the JSON; for the document alone run `npm run -s plan -- <stack> --json`",
    );
  }
  if (!stack) {
    console.error(`${USAGE}\nstacks: ${listStacks(dir).join(", ")}`);
    return 2;
  }
  try {
    const plan = await runProgram(stack, { dir });
    const environment = plan.config.environment;
    const policy = loadPolicyConfig(environment);
    const violations = await runPolicies(plan, { environment, config: policy.config });
    if (json) {
      const { config: _config, ...rest } = plan;
      const outputs = maskSecrets(plan.outputs, plan.secretOutputs);
      console.log(
        JSON.stringify({ ...rest, outputs, policy: { configFile: policy.file, violations } }, null, 2),
      );
    } else {
      console.log(renderPlan(plan));
      console.log(`\nPolicy pack (config: ${policy.file ?? "defaults, every rule mandatory"}):`);
      console.log(formatViolations(violations));
    }
    return mandatory(violations).length > 0 ? 3 : 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      console.error("No resources were registered.");
      return 2;
    }
    if (error instanceof StackFileError) {
      console.error(`offline plan: ${error.message}`);
      return 2;
    }
    console.error(
      `offline plan for "${stack}" failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    return 1;
  }
}

/**
 * Exits with `code` once stdout and stderr have handed everything to the OS. A pipe takes 64 KiB
 * before its reader catches up, and process.exit() drops what is still queued: `plan --json | jq`
 * got the first 65,536 bytes of a 490 KB document, with exit 0. A reader that goes away early
 * (`| head`) ends the plan quietly instead of with an EPIPE stack trace.
 */
export function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE") throw error;
    });
    // Callbacks run in write order: this one runs after every earlier write was flushed or failed.
    stream.write("", done);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(exitWhenFlushed, (error: unknown) => {
    console.error(error);
    exitWhenFlushed(1);
  });
}
