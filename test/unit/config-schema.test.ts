import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, stackIdentity, type RawConfig } from "../../config/schema";
import { KEYS, KEY_NAMES } from "../../config/keys";
import { cronError } from "../../lib/cron";
import { imagePinError } from "../../lib/image-ref";
import { listStacks, readStackConfig, secretPlaceholder } from "../harness/stack-file";
import { resolveStackConfig } from "../harness/run-program";

const PEM_CERT = secretPlaceholder("backend-infra:edgeTlsCert");
const PEM_KEY = secretPlaceholder("backend-infra:edgeTlsKey");

const raw = (stack: string, values: Record<string, string> = {}, secrets: string[] = []): RawConfig => ({
  stack,
  values: Object.fromEntries(Object.entries(values).map(([k, v]) => [`backend-infra:${k}`, v])),
  secretKeys: new Set(secrets.map((k) => `backend-infra:${k}`)),
});

/** Parses and returns the ConfigError's issues (fails the test if parsing succeeds). */
function issuesOf(config: RawConfig) {
  try {
    parseConfig(config);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error("expected the config to be rejected");
}

describe("config schema", () => {
  it.each(listStacks())("stack file Pulumi.%s.yaml parses", (stack) => {
    const { values, secretKeys } = resolveStackConfig(stack);
    const config = parseConfig({ stack, values, secretKeys });
    expect(config.stack).toBe(stack);
    expect(config.environment).toBe(stackIdentity(stack).environment);
  });

  it("derives environment, role and slot from the stack name", () => {
    expect(stackIdentity("prod")).toEqual({ environment: "prod", role: "env" });
    expect(stackIdentity("staging-green")).toEqual({ environment: "staging", role: "slot", slot: "green" });
    const slot = parseConfig(raw("local-blue"));
    expect(slot.role).toBe("slot");
    expect(slot.slot).toEqual({ colour: "blue", envStack: "organization/backend-infra/local" });
  });

  it("applies defaults and per-environment defaults with units parsed", () => {
    const local = parseConfig(raw("local"));
    expect(local.postgres.memoryMb).toBe(1024);
    expect(local.monitoring.enabled).toBe(false);
    expect(local.backups.storage).toBe("minio");
    expect(local.postgres.archiveTimeoutSeconds).toBe(60);
    const staging = parseConfig(
      raw(
        "staging",
        {
          publicHostname: "staging.example.com",
          dockerHost: "ssh://deploy@staging.example.com",
          edgeTlsCert: PEM_CERT,
          edgeTlsKey: PEM_KEY,
        },
        ["edgeTlsCert", "edgeTlsKey"],
      ),
    );
    expect(staging.postgres.memoryMb).toBe(2048);
    expect(staging.monitoring.enabled).toBe(true);
    expect(parseConfig(raw("local", { redisMemory: "1.5g", postgresCpus: "0.5" })).redis.memoryMb).toBe(1536);
  });

  it("refuses the laptop default publicHostname outside local env stacks, naming the key", () => {
    expect(issuesOf(raw("staging"))).toContainEqual({
      key: "backend-infra:publicHostname",
      message: "staging must set the public host name the edge serves (got localhost)",
    });
    expect(parseConfig(raw("local")).publicHostname).toBe("localhost");
    // Slot stacks do not serve it: a staging slot needs nothing of the edge's.
    expect(() => parseConfig(raw("staging-blue"))).not.toThrow();
  });

  it("keeps secrets secret", async () => {
    const config = parseConfig(
      raw("local", { alertSlackWebhookUrl: "https://hooks.slack.com/x" }, ["alertSlackWebhookUrl"]),
    );
    expect(await pulumi.isSecret(config.alerting.slackWebhookUrl as pulumi.Output<string>)).toBe(true);
  });

  const invalid: [string, RawConfig, string, RegExp][] = [
    [
      "local retention above cloud retention",
      raw("local", { backupLocalRetentionDays: "100", backupCloudRetentionDays: "90" }),
      "backupLocalRetentionDays",
      /must not exceed backupCloudRetentionDays/,
    ],
    [
      "canary above 100",
      raw("local", { trafficCanaryPercent: "101" }),
      "trafficCanaryPercent",
      /from 0 to 100/,
    ],
    [
      "canary not a number",
      raw("local", { trafficCanaryPercent: "ten" }),
      "trafficCanaryPercent",
      /whole number/,
    ],
    ["slot colour not blue|green", raw("local", { role: "slot", slot: "red" }), "slot", /blue|green/],
    [
      "active colour not blue|green",
      raw("local", { trafficActive: "purple" }),
      "trafficActive",
      /blue|green/,
    ],
    [
      "memory limit that does not parse",
      raw("local", { postgresMemory: "lots" }),
      "postgresMemory",
      /size like 512m or 2g/,
    ],
    ["CPU limit that does not parse", raw("local", { redisCpus: "two" }), "redisCpus", /CPU count/],
    [
      "invalid cron expression",
      raw("local", { backupDiffSchedule: "0 25 * * *" }),
      "backupDiffSchedule",
      /hour field "25": values must be within 0-23/,
    ],
    [
      "cron with too few fields",
      raw("local", { backupFullSchedule: "daily" }),
      "backupFullSchedule",
      /expected 5 fields/,
    ],
    ["image on latest", raw("local", { redisImage: "redis:latest" }), "redisImage", /latest/],
    ["image without a tag", raw("local", { edgeImage: "haproxy" }), "edgeImage", /no tag or digest/],
    [
      "prod on the local S3 stand-in",
      raw(
        "prod",
        {
          backupStorage: "minio",
          alertEmailTo: '["a@example.com"]',
          alertEmailFrom: "b@example.com",
          alertSmtpSmarthost: "smtp:25",
          edgeTlsCert: "-----BEGIN CERTIFICATE-----",
          edgeTlsKey: "-----BEGIN PRIVATE KEY-----",
        },
        ["edgeTlsCert", "edgeTlsKey"],
      ),
      "backupStorage",
      /prod must back up to AWS S3/,
    ],
    [
      "prod with a self-signed certificate",
      raw("prod", {
        edgeTlsMode: "self-signed",
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "b@example.com",
        alertSmtpSmarthost: "smtp:25",
      }),
      "edgeTlsMode",
      /provided certificate/,
    ],
    [
      "memory too small for Postgres",
      raw("local", { postgresMemory: "128m" }),
      "postgresMemory",
      /at least 256m/,
    ],
    [
      "unknown eviction policy",
      raw("local", { redisMaxmemoryPolicy: "evict-everything" }),
      "redisMaxmemoryPolicy",
      /noeviction/,
    ],
    [
      "relative data path",
      raw("local", { postgresDataPath: "data/postgres" }),
      "postgresDataPath",
      /absolute host path/,
    ],
    ["a typo in a key", raw("local", { postgresMemroy: "1g" }), "postgresMemroy", /unknown key/],
    [
      "a secret set in plain text",
      raw("local", { alertSlackWebhookUrl: "https://hooks.slack.com/x" }),
      "alertSlackWebhookUrl",
      /pulumi config set --secret/,
    ],
    [
      "replica in the same region",
      raw("local", { backupRegion: "eu-west-1", backupReplicaRegion: "eu-west-1" }),
      "backupReplicaRegion",
      /must differ/,
    ],
    [
      "a replica region for the MinIO stand-in",
      raw("local", { backupReplicaRegion: "eu-central-1" }),
      "backupReplicaRegion",
      /MinIO has no replica/,
    ],
    ["an unknown environment", raw("dev"), "environment", /prod, staging, local/],
    [
      "e-mail alerts half configured",
      raw("local", { alertEmailTo: '["a@example.com"]' }),
      "alertEmailFrom",
      /alertEmailFrom/,
    ],
    [
      "e-mail list that is not a JSON array",
      raw("local", {
        alertEmailTo: "a@example.com",
        alertEmailFrom: "b@example.com",
        alertSmtpSmarthost: "smtp:25",
      }),
      "alertEmailTo",
      /JSON array/,
    ],
  ];

  it.each(invalid)("rejects %s, naming the key", (_what, config, key, message) => {
    const issues = issuesOf(config);
    const issue = issues.find((i) => i.key === `backend-infra:${key}`);
    expect(issue, JSON.stringify(issues)).toBeDefined();
    expect(issue?.message).toMatch(message);
  });

  it("lists every bad key in one message", () => {
    const config = raw("local", {
      postgresMemory: "lots",
      trafficCanaryPercent: "200",
      redisImage: "redis:latest",
    });
    expect(() => parseConfig(config)).toThrowError(
      /3 problems[\s\S]*backend-infra:postgresMemory[\s\S]*backend-infra:redisImage[\s\S]*backend-infra:trafficCanaryPercent/,
    );
  });

  it("never echoes a secret value in an error", () => {
    const issues = issuesOf(
      raw("local", { alertPagerWebhookUrl: "not a url with token s3cr3t" }, ["alertPagerWebhookUrl"]),
    );
    expect(JSON.stringify(issues)).not.toContain("s3cr3t");
    expect(issues[0].message).toContain("[secret]");
  });

  it("documents every key", () => {
    for (const name of KEY_NAMES) expect(KEYS[name].description.length, name).toBeGreaterThan(10);
  });

  it("reads structured values from stack files as the CLI passes them", () => {
    const prod = readStackConfig("prod");
    expect(JSON.parse(prod.values["backend-infra:alertEmailTo"])).toEqual(["oncall@example.com"]);
    expect(prod.values["backend-infra:trafficCanaryPercent"]).toBe("0");
  });
});

describe("cron and image validators", () => {
  it.each(["0 2 * * *", "*/15 * * * *", "0 3 * * 0", "30 2 1-15 1,6 1-5", "0 0 * * 7"])(
    "accepts %s",
    (expr) => {
      expect(cronError(expr)).toBeUndefined();
    },
  );
  it.each(["* * * *", "60 * * * *", "0 0 32 * *", "0 0 * 13 *", "*/0 * * * *", "5-1 * * * *", "@daily"])(
    "rejects %s",
    (expr) => {
      expect(cronError(expr)).toBeDefined();
    },
  );
  it.each([
    "redis:7.2.6-bookworm",
    "quay.io/prometheuscommunity/postgres-exporter:v0.11.1",
    `postgres@sha256:${"a".repeat(64)}`,
    "localhost:5000/app:1.0",
  ])("accepts pinned %s", (ref) => {
    expect(imagePinError(ref)).toBeUndefined();
  });
  it.each(["redis", "redis:latest", "Redis:7", "redis:7 ", `redis@sha256:${"a".repeat(10)}`])(
    "rejects %s",
    (ref) => {
      expect(imagePinError(ref)).toBeDefined();
    },
  );
});
