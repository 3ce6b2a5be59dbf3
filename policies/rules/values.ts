/**
 * Helpers every rule module shares: reading resource properties safely (values that are
 * unknown during a preview, secret markers of the offline plan), the stack's environment,
 * policy config with defaults, and how a container says what it is.
 *
 * The Pulumi engine hands policies plain JSON: secrets are already unwrapped and a value
 * that is unknown during `pulumi preview` is a sentinel string that the SDK's property
 * proxy turns into an `UnknownValueError` on access. `materialize` turns both worlds into
 * plain data with explicit `UNKNOWN` / `SecretValue` markers, so a rule never aborts on an
 * unknown value and never has to care which runner called it.
 */
import type { PolicyResource, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";

/** A value that is not known yet (computed by a provider during `pulumi preview`). */
export class Unknown {
  /** Keeps the type nominal, so `isUnknown` narrows correctly. */
  readonly kind = "unknown" as const;
  toString(): string {
    return "<unknown>";
  }
}
export const UNKNOWN: Unknown = Object.freeze(new Unknown()) as Unknown;

/**
 * A value the program marked as a Pulumi secret. Only the offline runner (lib/policy-runner.ts)
 * produces it; the real engine unwraps secrets before policies see them.
 */
export class SecretValue {
  readonly kind = "secret" as const;
  constructor(readonly value: unknown) {}
  toString(): string {
    return "[secret]";
  }
}

/**
 * Stack tag the offline runner sets when it marked every secret with `SecretValue`.
 * Without it (the real engine), secrecy is judged by provenance instead (see secrets.ts).
 */
export const SECRETS_MARKED_TAG = "backend-infra:policy-runner-secrets-marked";

/** The engine's sentinels for unknown values (@pulumi/policy proxy.ts, same strings as the SDK). */
const UNKNOWN_SENTINELS = new Set([
  "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
  "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
  "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
  "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
  "030794c1-ac77-496b-92df-f27374a8bd58",
  "e48ece36-62e2-4504-bad9-02848725956a",
  "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
]);

function isUnknownValueError(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.constructor.name === "UnknownValueError" || "unknownTypeSentinel" in (error as object))
  );
}

/**
 * A deep plain copy of a property bag: unknown values become `UNKNOWN`, the SDK's `Secret`
 * (and our `SecretValue`) become `SecretValue`. Works on the SDK's unknown-checking proxy.
 */
export function materialize(value: unknown, depth = 0): unknown {
  if (depth > 64) throw new Error("property value nested deeper than 64 levels");
  if (typeof value === "string") return UNKNOWN_SENTINELS.has(value) ? UNKNOWN : value;
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Unknown || value instanceof SecretValue) return value;
  const ctor = (value as { constructor?: { name?: string } }).constructor;
  if (ctor?.name === "Secret" && "value" in (value as object)) {
    return new SecretValue(materialize(readKey(value, "value"), depth + 1));
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) out.push(materialize(readKey(value, String(i)), depth + 1));
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const item = materialize(readKey(value, key), depth + 1);
    if (item !== undefined) out[key] = item;
  }
  return out;
}

function readKey(container: object, key: string): unknown {
  try {
    return (container as Record<string, unknown>)[key];
  } catch (error) {
    if (isUnknownValueError(error)) return UNKNOWN;
    throw error;
  }
}

/** Resource properties as plain data (see `materialize`). */
export function propsOf(args: { props: Record<string, unknown> }): Record<string, unknown> {
  return materialize(args.props) as Record<string, unknown>;
}

export const isUnknown = (v: unknown): v is Unknown => v instanceof Unknown;
export const isSecret = (v: unknown): v is SecretValue => v instanceof SecretValue;

/** The value inside a secret marker (or the value itself). */
export function reveal(v: unknown): unknown {
  return v instanceof SecretValue ? reveal(v.value) : v;
}

/** True when the value or anything inside it is unknown. */
export function containsUnknown(v: unknown): boolean {
  if (isUnknown(v)) return true;
  if (isSecret(v)) return containsUnknown(v.value);
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (v !== null && typeof v === "object") return Object.values(v).some(containsUnknown);
  return false;
}

/** The value as a string when it is a known string (secrets revealed), else undefined. */
export function str(v: unknown): string | undefined {
  const inner = reveal(v);
  return typeof inner === "string" ? inner : undefined;
}

/** The value as an array (an absent or non-array value is `[]`; unknown stays UNKNOWN). */
export function list(v: unknown): unknown[] | Unknown {
  const inner = reveal(v);
  if (isUnknown(inner)) return UNKNOWN;
  return Array.isArray(inner) ? inner : [];
}

export function record(v: unknown): Record<string, unknown> | Unknown | undefined {
  const inner = reveal(v);
  if (isUnknown(inner)) return UNKNOWN;
  return inner !== null && typeof inner === "object" && !Array.isArray(inner)
    ? (inner as Record<string, unknown>)
    : undefined;
}

// ---------- stack identity ----------

/** The stack name from a URN `urn:pulumi:<stack>::<project>::<type>::<name>`. */
export function stackOfUrn(urn: string): string | undefined {
  const match = /^urn:pulumi:([^:]+)::/.exec(urn);
  return match?.[1];
}

/** The environment of a stack: `prod-blue` -> `prod`, `staging` -> `staging`. */
export function environmentOfUrn(urn: string): string | undefined {
  const stack = stackOfUrn(urn);
  return stack?.replace(/-(blue|green)$/, "");
}

/** The environment of a stack validation (from any resource URN). */
export function environmentOfStack(resources: PolicyResource[]): string | undefined {
  for (const r of resources) {
    const env = environmentOfUrn(r.urn);
    if (env) return env;
  }
  return undefined;
}

// ---------- policy config ----------

/** The policy's config merged over its defaults (the engine does not apply schema defaults). */
export function configOf<T extends object>(
  args: ResourceValidationArgs | StackValidationArgs,
  defaults: T,
): T {
  const given = args.getConfig<Partial<T>>() ?? {};
  const merged = { ...defaults } as Record<string, unknown>;
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined && key !== "enforcementLevel") merged[key] = value;
  }
  return merged as T;
}

/** True when `environment` is in the list; an unknown environment counts as prod (strictest). */
export function appliesIn(environment: string | undefined, environments: string[]): boolean {
  return environments.includes(environment ?? "prod");
}

// ---------- containers ----------

export const CONTAINER = "docker:index/container:Container";
export const NETWORK = "docker:index/network:Network";
export const REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage";
export const COMPONENT_LABEL = "backend-infra.component";
export const ROLE_LABEL = "backend-infra.role";

/** Container labels as a map (values that are unknown are left out). */
export function labelsOf(props: Record<string, unknown>): Map<string, string> {
  const labels = new Map<string, string>();
  const items = list(props.labels);
  if (isUnknown(items)) return labels;
  for (const item of items) {
    const entry = record(item);
    if (!entry || isUnknown(entry)) continue;
    const label = str(entry.label);
    const value = str(entry.value);
    if (label !== undefined && value !== undefined) labels.set(label, value);
  }
  return labels;
}

/** The names a container is known by: its container name and its component label. */
export function identitiesOf(props: Record<string, unknown>, resourceName?: string): string[] {
  const labels = labelsOf(props);
  return [str(props.name), labels.get(COMPONENT_LABEL), labels.get(ROLE_LABEL), resourceName].filter(
    (v): v is string => typeof v === "string" && v.length > 0,
  );
}

/** True when any identity matches any of the regular expressions. */
export function matchesAny(identities: string[], patterns: string[]): boolean {
  const regexes = patterns.map((p) => new RegExp(p, "i"));
  return identities.some((id) => regexes.some((re) => re.test(id)));
}

/** Repository of an image reference without registry path, tag or digest: `x/postgres:15@sha..` -> `postgres`. */
export function imageBaseName(image: string): string {
  const noDigest = image.replace(/@sha256:[a-f0-9]+$/, "");
  const last = noDigest.split("/").pop() ?? noDigest;
  return last.replace(/:[\w][\w.-]*$/, "");
}

/** Patterns that identify the data services by container name, component or role label. */
export const DEFAULT_POSTGRES_PATTERNS = ["(^|[-_])(postgres|postgresql)$"];
export const DEFAULT_REDIS_PATTERNS = ["(^|[-_])redis$"];

/**
 * The data service a container runs, by role label, name/component patterns, or the image's
 * repository name (`postgres`, `redis`; exporters like `postgres-exporter` do not match).
 */
export function dataServiceOf(
  props: Record<string, unknown>,
  patterns: { postgres: string[]; redis: string[] },
  resourceName?: string,
): "postgres" | "redis" | undefined {
  const role = labelsOf(props).get(ROLE_LABEL);
  if (role === "postgres" || role === "redis") return role;
  if (role !== undefined) return undefined;
  const ids = identitiesOf(props, resourceName);
  const image = str(props.image);
  if (image) ids.push(imageBaseName(image));
  if (matchesAny(ids, patterns.postgres)) return "postgres";
  if (matchesAny(ids, patterns.redis)) return "redis";
  return undefined;
}

/** A short human name for a container in messages. */
export function describeContainer(props: Record<string, unknown>, resourceName: string): string {
  const name = str(props.name);
  return name && name !== resourceName
    ? `container "${name}" (${resourceName})`
    : `container "${resourceName}"`;
}

// ---------- host paths ----------

/**
 * A host path as the kernel resolves it, for comparison: `//`, `.` and `..` collapsed, no
 * trailing slash (`/var/run/../run//docker.sock/` -> `/run/docker.sock`). Undefined when the
 * path is not absolute (a relative source is a named volume to Docker, or a mistake).
 * Symbolic links on the host cannot be seen from a plan.
 */
export function normalizeHostPath(raw: string): string | undefined {
  const path = raw.trim();
  if (!path.startsWith("/")) return undefined;
  const parts: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") parts.pop();
    else parts.push(segment);
  }
  return `/${parts.join("/")}`;
}

/** True when `path` is `base` or lies below it (both normalized). */
export function isUnderPath(path: string, base: string): boolean {
  if (base === "/") return true;
  return path === base || path.startsWith(`${base}/`);
}
