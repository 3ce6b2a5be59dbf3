import { readFileSync } from "node:fs";

/** Everything the app reads from its environment, validated once at start-up. */
export interface AppConfig {
  /** TCP port of the HTTP server (env PORT, default 4000). */
  port: number;
  /** Address to bind (env HOST, default 0.0.0.0; tests use 127.0.0.1). */
  host: string;
  /** postgres://user:password@host:port/db (env DATABASE_URL or DATABASE_URL_FILE). */
  databaseUrl: string;
  /** redis://:password@host:port (env REDIS_URL or REDIS_URL_FILE). */
  redisUrl: string;
  /** Slot colour reported by /ping, the x-backend-colour header and the metrics label (env APP_COLOUR). */
  colour: "blue" | "green";
  /** After SIGTERM, /health answers 503 for this long before the server closes (env SHUTDOWN_DRAIN_MS, ms). */
  shutdownDrainMs: number;
  /** How long start-up keeps retrying the first database connection (env STARTUP_DB_TIMEOUT_MS, ms). */
  startupDbTimeoutMs: number;
  /** One JSON log line per request (env LOG_REQUESTS, true|false, default true). */
  logRequests: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;
type ReadFile = (path: string) => string;

const defaultReadFile: ReadFile = (path) => readFileSync(path, "utf8");

/**
 * Reads a secret either from `NAME` or from the file named by `NAME_FILE` (Docker secrets).
 * Setting both is an error: which one wins would be a guess.
 */
function secret(env: Env, name: string, example: string, problems: string[], readFile: ReadFile): string {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct && file) {
    problems.push(`set only one of ${name} and ${name}_FILE, not both`);
    return "";
  }
  if (file) {
    try {
      const value = readFile(file).trim();
      if (!value) problems.push(`${name}_FILE=${file} is empty; expected a URL like ${example}`);
      return value;
    } catch (error) {
      problems.push(`${name}_FILE=${file} cannot be read: ${(error as Error).message}`);
      return "";
    }
  }
  if (!direct) {
    problems.push(
      `${name} is required (expected a URL like ${example}), or ${name}_FILE naming a file with it`,
    );
    return "";
  }
  return direct.trim();
}

function checkUrl(
  name: string,
  value: string,
  protocols: string[],
  example: string,
  problems: string[],
): void {
  if (!value) return;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${name} is not a valid URL; expected something like ${example}`);
    return;
  }
  if (!protocols.includes(url.protocol)) {
    problems.push(
      `${name} must start with ${protocols.map((p) => `${p}//`).join(" or ")}, got ${url.protocol}//`,
    );
  } else if (!url.hostname) {
    problems.push(`${name} has no host; expected something like ${example}`);
  }
}

function integer(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    return fallback;
  }
  return value;
}

/** Parses the environment; throws a ConfigError that lists every problem at once. */
export function loadConfig(env: Env = process.env, readFile: ReadFile = defaultReadFile): AppConfig {
  const problems: string[] = [];
  const dbExample = "postgres://user:password@host:5432/database";
  const redisExample = "redis://:password@host:6379";

  const databaseUrl = secret(env, "DATABASE_URL", dbExample, problems, readFile);
  checkUrl("DATABASE_URL", databaseUrl, ["postgres:", "postgresql:"], dbExample, problems);
  const redisUrl = secret(env, "REDIS_URL", redisExample, problems, readFile);
  checkUrl("REDIS_URL", redisUrl, ["redis:", "rediss:"], redisExample, problems);

  const colourRaw = env.APP_COLOUR || "blue";
  if (colourRaw !== "blue" && colourRaw !== "green") {
    problems.push(`APP_COLOUR must be "blue" or "green", got "${colourRaw}"`);
  }
  const logRaw = (env.LOG_REQUESTS || "true").toLowerCase();
  if (logRaw !== "true" && logRaw !== "false") {
    problems.push(`LOG_REQUESTS must be "true" or "false", got "${env.LOG_REQUESTS}"`);
  }

  const config: AppConfig = {
    port: integer(env, "PORT", 4000, 1, 65535, problems),
    host: env.HOST || "0.0.0.0",
    databaseUrl,
    redisUrl,
    colour: colourRaw === "green" ? "green" : "blue",
    shutdownDrainMs: integer(env, "SHUTDOWN_DRAIN_MS", 5000, 0, 600_000, problems),
    startupDbTimeoutMs: integer(env, "STARTUP_DB_TIMEOUT_MS", 30_000, 0, 600_000, problems),
    logRequests: logRaw !== "false",
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Nest injection token for the AppConfig value. */
export const APP_CONFIG = Symbol("APP_CONFIG");
