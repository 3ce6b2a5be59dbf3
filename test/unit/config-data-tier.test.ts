/**
 * Bad input for the data tier (issue 3): every case fails in `parseConfig`, before any
 * resource is registered, with an error that names the key and says what was expected.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, type InfraConfig } from "../../config/schema";

function parse(values: Record<string, string>, stack = "local"): InfraConfig {
  return parseConfig({ stack, values, secretKeys: new Set() });
}

function issuesOf(values: Record<string, string>, stack = "local"): { key: string; message: string }[] {
  try {
    parse(values, stack);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error("expected parseConfig to throw a ConfigError");
}

describe("data-tier config: bad input names the key", () => {
  it("rejects a Postgres memory limit too small to run PostgreSQL", () => {
    const issues = issuesOf({ postgresMemory: "128m" });
    expect(issues).toEqual([
      {
        key: "backend-infra:postgresMemory",
        message: "expected at least 256m for PostgreSQL (got 128m)",
      },
    ]);
  });

  it("rejects a Postgres memory value that is not a size", () => {
    const issues = issuesOf({ postgresMemory: "4 GB" });
    expect(issues).toHaveLength(1);
    expect(issues[0].key).toBe("backend-infra:postgresMemory");
    expect(issues[0].message).toContain("expected a size like 512m or 2g");
  });

  it("accepts exactly 256m for Postgres", () => {
    expect(parse({ postgresMemory: "256m" }).postgres.memoryMb).toBe(256);
  });

  it("rejects an unknown Redis eviction policy and lists the valid ones", () => {
    const issues = issuesOf({ redisMaxmemoryPolicy: "lru" });
    expect(issues).toHaveLength(1);
    expect(issues[0].key).toBe("backend-infra:redisMaxmemoryPolicy");
    expect(issues[0].message).toContain("noeviction");
    expect(issues[0].message).toContain("allkeys-lru");
    expect(issues[0].message).toContain('"lru"');
  });

  it("rejects a relative Postgres data path", () => {
    const issues = issuesOf({ postgresDataPath: "data/postgres" });
    expect(issues).toEqual([
      {
        key: "backend-infra:postgresDataPath",
        message: 'expected an absolute host path like /opt/data/postgres (got "data/postgres")',
      },
    ]);
  });

  it("rejects a relative Redis data path and a path that climbs with ..", () => {
    const issues = issuesOf({ redisDataPath: "./redis", postgresDataPath: "/opt/data/../etc" });
    expect(issues.map((i) => i.key).sort()).toEqual([
      "backend-infra:postgresDataPath",
      "backend-infra:redisDataPath",
    ]);
    expect(issues.find((i) => i.key.endsWith("redisDataPath"))?.message).toContain("absolute host path");
    expect(issues.find((i) => i.key.endsWith("postgresDataPath"))?.message).toContain("without ..");
  });

  it("reports every bad data-tier key at once", () => {
    const issues = issuesOf({
      postgresMemory: "64m",
      redisMaxmemoryPolicy: "sometimes",
      postgresDataPath: "pg",
      redisMemory: "16m",
    });
    expect(issues.map((i) => i.key).sort()).toEqual([
      "backend-infra:postgresDataPath",
      "backend-infra:postgresMemory",
      "backend-infra:redisMaxmemoryPolicy",
      "backend-infra:redisMemory",
    ]);
  });

  it("rejects an archive_timeout outside 1..3600 s and a too-small max_connections", () => {
    const issues = issuesOf({ postgresArchiveTimeoutSeconds: "0", postgresMaxConnections: "5" });
    expect(issues.map((i) => i.key).sort()).toEqual([
      "backend-infra:postgresArchiveTimeoutSeconds",
      "backend-infra:postgresMaxConnections",
    ]);
  });

  it("defaults: data tier values per environment", () => {
    const local = parse({});
    expect(local.postgres).toMatchObject({ memoryMb: 1024, cpus: 1, archiveTimeoutSeconds: 60 });
    expect(local.postgres.dataPath).toBeUndefined();
    expect(local.postgres.maxConnections).toBeUndefined();
    expect(local.redis).toMatchObject({ memoryMb: 256, maxmemoryPolicy: "noeviction" });
    const good = parse({ postgresDataPath: "/opt/data/postgres", redisMaxmemoryPolicy: "allkeys-lfu" });
    expect(good.postgres.dataPath).toBe("/opt/data/postgres");
    expect(good.redis.maxmemoryPolicy).toBe("allkeys-lfu");
  });
});
