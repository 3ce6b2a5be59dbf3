/**
 * Helpers for policy tests: call a policy's validateResource / validateStack with hand-built
 * args the way the engine does (never construct PolicyPack: it starts a gRPC server).
 */
import type {
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";

export class NotApplicableMarker extends Error {}

export interface Outcome {
  violations: string[];
  /** The reason given to notApplicable, when the policy called it. */
  notApplicable?: string;
}

export const urnOf = (stack: string, type: string, name: string) =>
  `urn:pulumi:${stack}::backend-infra::${type}::${name}`;

const OPTS = {
  protect: false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
};

const notApplicable = (reason?: string): never => {
  throw new NotApplicableMarker(reason ?? "not applicable");
};

export interface ResourceOptions {
  name?: string;
  stack?: string;
  config?: Record<string, unknown>;
}

export async function checkResource(
  policy: ResourceValidationPolicy,
  type: string,
  props: Record<string, unknown>,
  options: ResourceOptions = {},
): Promise<Outcome> {
  const name = options.name ?? "subject";
  const args: ResourceValidationArgs = {
    type,
    props,
    urn: urnOf(options.stack ?? "prod", type, name),
    name,
    opts: OPTS,
    stackTags: new Map(),
    isType: () => false,
    asType: () => undefined,
    getConfig: <T extends object>() => (options.config ?? {}) as T,
    notApplicable,
  };
  const violations: string[] = [];
  const validations = Array.isArray(policy.validateResource)
    ? policy.validateResource
    : [policy.validateResource];
  try {
    for (const validate of validations) await validate?.(args, (message) => violations.push(message));
  } catch (error) {
    if (error instanceof NotApplicableMarker) return { violations, notApplicable: error.message };
    throw error;
  }
  return { violations, notApplicable: undefined };
}

export interface StackResource {
  type: string;
  name: string;
  props: Record<string, unknown>;
  /** Names of resources in the same list this one depends on. */
  dependsOn?: string[];
  propertyDependencies?: Record<string, string[]>;
  parent?: string;
}

export interface StackOptions {
  stack?: string;
  config?: Record<string, unknown>;
  tags?: Record<string, string>;
}

export async function checkStack(
  policy: StackValidationPolicy,
  resources: StackResource[],
  options: StackOptions = {},
): Promise<Outcome & { urns: (string | undefined)[] }> {
  const stack = options.stack ?? "prod";
  const built = new Map<string, PolicyResource>();
  for (const r of resources) {
    built.set(r.name, {
      type: r.type,
      name: r.name,
      props: r.props,
      urn: urnOf(stack, r.type, r.name),
      opts: OPTS,
      dependencies: [],
      propertyDependencies: {},
      isType: () => false,
      asType: () => undefined,
    });
  }
  for (const r of resources) {
    const pr = built.get(r.name) as PolicyResource;
    pr.dependencies = (r.dependsOn ?? []).map((n) => built.get(n) as PolicyResource);
    pr.parent = r.parent ? built.get(r.parent) : undefined;
    for (const [key, names] of Object.entries(r.propertyDependencies ?? {})) {
      pr.propertyDependencies[key] = names.map((n) => built.get(n) as PolicyResource);
    }
  }
  const args: StackValidationArgs = {
    resources: [...built.values()],
    stackTags: new Map(Object.entries(options.tags ?? {})),
    getConfig: <T extends object>() => (options.config ?? {}) as T,
    notApplicable,
  };
  const violations: string[] = [];
  const urns: (string | undefined)[] = [];
  try {
    await policy.validateStack(args, (message, urn) => {
      violations.push(message);
      urns.push(urn);
    });
  } catch (error) {
    if (error instanceof NotApplicableMarker) return { violations, urns, notApplicable: error.message };
    throw error;
  }
  return { violations, urns, notApplicable: undefined };
}

export const DIGEST = `sha256:${"a".repeat(64)}`;
export const CONTAINER = "docker:index/container:Container";

/** Container inputs as components/service-container.ts produces them: every rule passes. */
export function hardenedContainer(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "backend-infra-prod-backend-blue",
    image: `registry.example.com/backend@${DIGEST}`,
    user: "1000:1000",
    memory: 512,
    memorySwap: 512,
    cpus: "1",
    ulimits: [
      { name: "nproc", soft: 512, hard: 512 },
      { name: "nofile", soft: 65536, hard: 65536 },
    ],
    restart: "unless-stopped",
    healthcheck: {
      tests: ["CMD", "node", "healthcheck.js"],
      interval: "10s",
      timeout: "5s",
      startPeriod: "30s",
      retries: 3,
    },
    networksAdvanced: [{ name: "backend-infra-prod-app" }],
    ports: [],
    readOnly: true,
    tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" },
    capabilities: { drops: ["ALL"], adds: [] },
    securityOpts: ["no-new-privileges:true"],
    privileged: false,
    logDriver: "json-file",
    logOpts: { "max-size": "10m", "max-file": "5" },
    init: true,
    labels: [{ label: "backend-infra.component", value: "backend-blue" }],
    envs: ["NODE_ENV=production", "PORT=4000"],
    ...overrides,
  };
}
