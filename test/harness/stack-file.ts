/**
 * Reads `Pulumi.<stack>.yaml` the way the Pulumi CLI hands config to a program: every
 * value a string (objects and arrays as JSON), `secure:` values as secrets. Offline we
 * cannot decrypt `secure:` values, so they get realistic placeholders.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { PROJECT } from "../../config/keys";

/** The directory holding Pulumi.yaml, found upwards from this file (works from dist/ too). */
export const REPO_ROOT = (() => {
  let dir = __dirname;
  while (!existsSync(join(dir, "Pulumi.yaml"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no Pulumi.yaml above ${__dirname}`);
    dir = parent;
  }
  return dir;
})();

export interface StackConfig {
  values: Record<string, string>;
  secretKeys: Set<string>;
  /** Keys whose `secure:` value was replaced by a placeholder. */
  placeholderKeys: string[];
}

/** Stack names with a `Pulumi.<stack>.yaml` in `dir`. */
export function listStacks(dir = REPO_ROOT): string[] {
  return readdirSync(dir)
    .map((file) => /^Pulumi\.(.+)\.ya?ml$/.exec(file)?.[1])
    .filter((stack): stack is string => stack !== undefined)
    .sort();
}

/** A placeholder that passes the key's validation, so an offline plan can go on. */
export function secretPlaceholder(fullKey: string): string {
  const name = fullKey.split(":").pop() ?? fullKey;
  if (/Cert$/.test(name))
    return "-----BEGIN CERTIFICATE-----\nb2ZmbGluZS1wbGFjZWhvbGRlcg==\n-----END CERTIFICATE-----\n";
  if (/Key$/.test(name))
    return "-----BEGIN PRIVATE KEY-----\nb2ZmbGluZS1wbGFjZWhvbGRlcg==\n-----END PRIVATE KEY-----\n";
  if (/Url$/.test(name)) return `https://placeholder.invalid/${name}`;
  return `offline-placeholder-${name}`;
}

export function readStackConfig(stack: string, dir = REPO_ROOT): StackConfig {
  const file = join(dir, `Pulumi.${stack}.yaml`);
  if (!existsSync(file)) {
    throw new Error(`no stack file ${file}; stacks here: ${listStacks(dir).join(", ") || "none"}`);
  }
  let document: unknown;
  try {
    document = parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`${file}: not valid YAML: ${(error as Error).message}`);
  }
  const config = (document as { config?: Record<string, unknown> } | null)?.config ?? {};
  if (typeof config !== "object" || Array.isArray(config)) {
    throw new Error(`${file}: "config" must be a map of key: value`);
  }
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  const placeholderKeys: string[] = [];
  for (const [rawKey, value] of Object.entries(config)) {
    const key = rawKey.includes(":") ? rawKey : `${PROJECT}:${rawKey}`;
    if (value !== null && typeof value === "object" && "secure" in value) {
      values[key] = secretPlaceholder(key);
      secretKeys.add(key);
      placeholderKeys.push(key);
    } else if (typeof value === "string") {
      values[key] = value;
    } else {
      values[key] = JSON.stringify(value);
    }
  }
  return { values, secretKeys, placeholderKeys };
}
