/**
 * Runs the real program (index.ts) under Pulumi's mock runtime for a named stack file and
 * captures the whole plan: every registered resource (type, name, parent, inputs, mock
 * outputs) and the stack outputs. Used by unit tests and by the offline plan (tools/plan.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseConfig, type InfraConfig } from "../../config/schema";
import { PROJECT } from "../../config/keys";
import { createMocks } from "./mocks";
import { skipUnreadPromiseStacks } from "./promise-stacks";
import { readStackConfig, secretPlaceholder, REPO_ROOT } from "./stack-file";

/** The parts of the gRPC messages and MockMonitor the harness touches. */
interface Struct {
  toJavaScript(): unknown;
}
interface GrpcRequest {
  getParent(): string;
  getType(): string;
  getName(): string;
  getCustom?(): boolean;
  getObject?(): Struct | undefined;
  getProperties?(): Struct | undefined;
  getDependenciesList?(): string[];
  getPropertydependenciesMap?(): {
    forEach(cb: (value: { getUrnsList(): string[] }, key: string) => void): void;
  };
  getDeletebeforereplace?(): boolean;
  getIgnorechangesList?(): string[];
  getProtect?(): boolean;
  getProvider?(): string;
}
interface GrpcResponse {
  getObject?(): Struct | undefined;
  getProperties?(): Struct | undefined;
}
type MonitorCall = (
  req: GrpcRequest,
  callback: (err: Error | null, res: GrpcResponse | undefined) => void,
) => Promise<void>;
interface MockMonitorInternals {
  newUrn(parent: string, type: string, name: string): string;
  registerResource: MonitorCall;
  readResource: MonitorCall;
}

// `waitForRPCs` is internal to the SDK (not in its typings); it lets a run finish every
// registration before the next run replaces the mocks.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeSettings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };

/** Resolves once every resource registration started so far has been answered by the mocks. */
export const waitForRegistrations = (): Promise<void> => runtimeSettings.waitForRPCs();

// Wire-format marker of a secret value (see @pulumi/pulumi/runtime/rpc specialSigKey).
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export interface PlannedResource {
  urn: string;
  type: string;
  name: string;
  /** URN of the parent resource, if any. */
  parent?: string;
  custom: boolean;
  /** Inputs as the program passed them (secrets unwrapped; see `secretInputs`). */
  inputs: Record<string, unknown>;
  /** Top-level input names whose value was (or contained) a secret. */
  secretInputs: string[];
  /** Inputs merged with the mock's computed outputs. */
  outputs: Record<string, unknown>;
  /** URNs this resource explicitly depends on. */
  dependencies: string[];
  /** Input name -> URNs that input depends on (what policies see as propertyDependencies). */
  propertyDependencies: Record<string, string[]>;
  /** Resource options the engine acts on. */
  options: { deleteBeforeReplace: boolean; ignoreChanges: string[]; protect: boolean; provider?: string };
}

export interface PlanResult {
  stack: string;
  config: InfraConfig;
  resources: PlannedResource[];
  /** Stack outputs with every Output resolved. */
  outputs: Record<string, unknown>;
  /** Dot paths of stack outputs that are secrets. */
  secretOutputs: string[];
  /** Secret keys that got placeholders (their `secure:` value cannot be decrypted offline, or unset). */
  placeholderSecrets: string[];
  /**
   * The placeholders of every stack the run read, per stack role: this stack's, then (slot
   * stacks) its env stack's, whose offline run gives the StackReference its outputs.
   */
  placeholders: PlaceholderReport[];
}

/** The placeholders an offline run filled in for one stack. */
export interface PlaceholderReport {
  stack: string;
  role: "env" | "slot";
  /** The stack file the stack's config comes from. */
  file: string;
  /** Keys set with `secure:` in the stack file: present, but not decryptable offline. */
  secure: string[];
  /** Secrets the configuration requires that the stack file does not set at all. */
  required: string[];
}

export interface RunOptions {
  /** Config values to set or (undefined) remove, by bare or full key. Applied after the stack file. */
  overrides?: Record<string, string | undefined>;
  /** Bare or full keys in `overrides` that are secrets. */
  secretOverrides?: string[];
  /** Fill placeholders for secrets that the config requires but the stack file does not set. Default true. */
  fillMissingSecrets?: boolean;
  /** Directory with Pulumi.<stack>.yaml files. Default: the repository root. */
  dir?: string;
  /** Slot stacks: `overrides` for the env stack run whose outputs the slot stack reads. */
  envOverrides?: Record<string, string | undefined>;
}

const fullKey = (key: string) => (key.includes(":") ? key : `${PROJECT}:${key}`);

/** Resolves every Output inside a value, recording the dot paths of secret ones. */
async function resolveDeep(value: unknown, path: string, secrets: string[]): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) {
    if (await pulumi.isSecret(value)) secrets.push(path);
    const inner = await new Promise<unknown>((resolve) => value.apply((v) => resolve(v)));
    return resolveDeep(inner, path, secrets);
  }
  if (value instanceof Promise) return resolveDeep(await value, path, secrets);
  if (Array.isArray(value)) return Promise.all(value.map((v, i) => resolveDeep(v, `${path}[${i}]`, secrets)));
  if (value !== null && typeof value === "object" && !pulumi.Resource.isInstance(value)) {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [
        k,
        await resolveDeep(v, path ? `${path}.${k}` : k, secrets),
      ]),
    );
    return Object.fromEntries(entries.filter(([, v]) => v !== undefined));
  }
  return value;
}

function containsSecret(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(containsSecret);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    return record[SIG_KEY] === SECRET_SIG || Object.values(record).some(containsSecret);
  }
  return false;
}

function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[SIG_KEY] === SECRET_SIG) return unwrapSecrets(record.value);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

function propertyDependencies(req: GrpcRequest): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  req.getPropertydependenciesMap?.().forEach((value, key) => (result[key] = value.getUrnsList()));
  return result;
}

/** Resolves the stack's config the way the program will see it (values + secret keys). */
export function resolveStackConfig(stack: string, options: RunOptions = {}) {
  const file = readStackConfig(stack, options.dir);
  const values = { ...file.values };
  const required: string[] = [];
  const secretKeys = new Set(file.secretKeys);
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) delete values[fullKey(key)];
    else values[fullKey(key)] = value;
  }
  for (const key of options.secretOverrides ?? []) secretKeys.add(fullKey(key));
  const placeholderSecrets = [...file.placeholderKeys];

  // Required secrets that the committed stack file cannot hold get placeholders, so the
  // plan can proceed; they are listed in the result and in the offline plan's header.
  if (options.fillMissingSecrets ?? true) {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        parseConfig({ stack, values, secretKeys, file: file.file });
        break;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        const missing = error.issues.filter(
          (issue) => issue.missingSecret && values[issue.key] === undefined,
        );
        if (missing.length === 0) break;
        for (const issue of missing) {
          values[issue.key] = secretPlaceholder(issue.key);
          secretKeys.add(issue.key);
          placeholderSecrets.push(issue.key);
          required.push(issue.key);
        }
      }
    }
  }
  return {
    values,
    secretKeys,
    placeholderSecrets,
    file: file.file,
    secure: file.placeholderKeys,
    required,
  };
}

/** Organization of offline runs; the CLI's DIY backends also call it "organization". */
export const OFFLINE_ORGANIZATION = "organization";

let running: Promise<unknown> = Promise.resolve();

/**
 * Runs the program for `stack` under mocks. Runs are serialised: the Pulumi runtime is
 * process-global. Slot stacks see the outputs of their env stack's own offline run.
 */
export function runProgram(stack: string, options: RunOptions = {}): Promise<PlanResult> {
  const result = running.then(() => runOnce(stack, options));
  running = result.catch(() => undefined);
  return result;
}

async function runOnce(stack: string, options: RunOptions): Promise<PlanResult> {
  const { values, secretKeys, placeholderSecrets, file, secure, required } = resolveStackConfig(
    stack,
    options,
  );
  const config = parseConfig({ stack, values, secretKeys, file }); // throws ConfigError before anything runs
  skipUnreadPromiseStacks();

  const placeholders: PlaceholderReport[] = [
    { stack, role: config.role, file, secure: [...secure].sort(), required: [...required].sort() },
  ];
  const envOutputs = new Map<string, Record<string, unknown>>();
  if (config.role === "slot" && config.slot) {
    const envStackName = config.slot.envStack.split("/").pop() as string;
    const envPlan = await runOnce(envStackName, { dir: options.dir, overrides: options.envOverrides });
    envOutputs.set(envStackName, envPlan.outputs);
    placeholders.push(...envPlan.placeholders);
  }

  const resources: PlannedResource[] = [];
  // A failed registration only rejects that resource's outputs; collect them to fail the run.
  const failures: string[] = [];
  const claimed = new Set<string>();
  const mocks = createMocks({ stackOutputs: (name) => envOutputs.get(name), region: config.backups.region });
  await pulumi.runtime.setMocks(mocks, PROJECT, stack, false, OFFLINE_ORGANIZATION);
  // MockMonitor's URN function is private; the harness needs it to record parents and to
  // reject duplicate URNs (which the mocks would silently accept).
  const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitorInternals;
  // Wraps one monitor call (register or read) to record the resource and reject duplicates.
  const record =
    (
      original: MonitorCall,
      kind: {
        custom?: boolean;
        inputs: (req: GrpcRequest) => Struct | undefined;
        state: (res: GrpcResponse) => Struct | undefined;
      },
    ): MonitorCall =>
    async (req, callback) => {
      const urn = monitor.newUrn(req.getParent(), req.getType(), req.getName());
      // Claimed synchronously: registrations run concurrently and the monitor's own map is
      // filled only after the mock answers, so it cannot see a duplicate in flight.
      // The duplicate is recorded and the run fails once it settles; rejecting the
      // registration here would only surface as an unhandled rejection inside the SDK.
      if (claimed.has(urn)) {
        failures.push(
          `duplicate URN ${urn}: two resources of type ${req.getType()} named "${req.getName()}"`,
        );
      }
      claimed.add(urn);
      const raw = (kind.inputs(req)?.toJavaScript() ?? {}) as Record<string, unknown>;
      await original(req, (err, res) => {
        if (err) failures.push(`${req.getType()} "${req.getName()}": ${err.message}`);
        if (!err && res) {
          resources.push({
            urn,
            type: req.getType(),
            name: req.getName(),
            parent: req.getParent() || undefined,
            custom: kind.custom ?? req.getCustom?.() ?? true,
            inputs: unwrapSecrets(raw) as Record<string, unknown>,
            secretInputs: Object.keys(raw).filter((k) => containsSecret(raw[k])),
            outputs: unwrapSecrets(kind.state(res)?.toJavaScript() ?? {}) as Record<string, unknown>,
            dependencies: req.getDependenciesList?.() ?? [],
            propertyDependencies: propertyDependencies(req),
            options: {
              deleteBeforeReplace: req.getDeletebeforereplace?.() ?? false,
              ignoreChanges: req.getIgnorechangesList?.() ?? [],
              protect: req.getProtect?.() ?? false,
              provider: req.getProvider?.() || undefined,
            },
          });
        }
        callback(err, res);
      });
    };
  monitor.registerResource = record(monitor.registerResource.bind(monitor), {
    inputs: (req) => req.getObject?.(),
    state: (res) => res.getObject?.(),
  });
  monitor.readResource = record(monitor.readResource.bind(monitor), {
    custom: true,
    inputs: (req) => req.getProperties?.(),
    state: (res) => res.getProperties?.(),
  });
  pulumi.runtime.setAllConfig(values, [...secretKeys]);

  const program = (await import("../../index.js")).default as unknown as () => Promise<
    Record<string, unknown>
  >;
  const exported = await program();
  const secretOutputs: string[] = [];
  const outputs = (await resolveDeep(exported, "", secretOutputs)) as Record<string, unknown>;
  await runtimeSettings.waitForRPCs();
  if (failures.length > 0) throw new Error(`offline run of "${stack}" failed:\n  ${failures.join("\n  ")}`);

  return { stack, config, resources, outputs, secretOutputs, placeholderSecrets, placeholders };
}

export { REPO_ROOT };
