/**
 * Reads `Pulumi.<stack>.yaml` the way the Pulumi CLI hands config to a program: every
 * value a string (objects and arrays as JSON), `secure:` values as secrets. Offline we
 * cannot decrypt `secure:` values, so they get realistic placeholders.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
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
  /** The stack file, as errors name it (`Pulumi.<stack>.yaml`, with its directory outside the repository). */
  file: string;
}

/**
 * The plan's own input is bad: an unknown stack, a stack file that is not YAML or not shaped like
 * one. The message is one line (the offline plan prints it as is and exits 2).
 */
export class StackFileError extends Error {
  override readonly name = "StackFileError";
}

/** Stack names the Pulumi CLI accepts (and that cannot climb out of the directory). */
const STACK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/** Top-level keys of a Pulumi stack file. */
const STACK_FILE_KEYS = ["config", "encryptionsalt", "encryptedkey", "secretsprovider", "environment"];

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

const oneLine = (text: string) => text.split("\n")[0].trim();

export function readStackConfig(stack: string, dir = REPO_ROOT): StackConfig {
  if (!STACK_NAME.test(stack)) {
    throw new StackFileError(
      `invalid stack name ${JSON.stringify(stack)}: expected letters, digits, ".", "_" or "-" (the stack of a Pulumi.<stack>.yaml)`,
    );
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new StackFileError(`no directory ${dir}`);
  const path = join(dir, `Pulumi.${stack}.yaml`);
  const file = resolve(dir) === resolve(REPO_ROOT) ? `Pulumi.${stack}.yaml` : path;
  if (!existsSync(path)) {
    throw new StackFileError(
      `unknown stack "${stack}": no stack file ${file}; stacks here: ${listStacks(dir).join(", ") || "none"}`,
    );
  }
  let document: unknown;
  try {
    document = parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new StackFileError(`${file}: not valid YAML: ${oneLine((error as Error).message)}`);
  }
  if (
    document !== null &&
    document !== undefined &&
    (typeof document !== "object" || Array.isArray(document))
  )
    throw new StackFileError(`${file}: expected a map with a config: key at the top level`);
  const top = (document ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(top)) {
    if (!STACK_FILE_KEYS.includes(key))
      throw new StackFileError(
        `${file}: unknown top-level key "${key}": expected ${STACK_FILE_KEYS.join(", ")} (config values go under config:)`,
      );
  }
  const config = top.config ?? {};
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new StackFileError(`${file}: "config" must be a map of key: value`);
  }
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  const placeholderKeys: string[] = [];
  for (const [rawKey, value] of Object.entries(config)) {
    const key = rawKey.includes(":") ? rawKey : `${PROJECT}:${rawKey}`;
    if (key in values) throw new StackFileError(`${file}: ${key} is set twice`);
    if (value !== null && typeof value === "object" && "secure" in value) {
      values[key] = secretPlaceholder(key);
      secretKeys.add(key);
      placeholderKeys.push(key);
    } else if (typeof value === "string") {
      values[key] = value;
    } else if (value === null) {
      // `key:` with nothing after it: the empty string, which every key's check refuses by name.
      values[key] = "";
    } else {
      values[key] = JSON.stringify(value);
    }
  }
  return { values, secretKeys, placeholderKeys, file };
}
