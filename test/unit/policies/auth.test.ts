/**
 * Password-less database access: postgres-no-trust-auth and redis-auth-required, on containers
 * shaped like components/postgres.ts and components/redis.ts build them, and on insecure ones.
 */
import { unknownCheckingProxy } from "@pulumi/policy";
import { describe, expect, it } from "vitest";
import * as data from "../../../policies/rules/data";
import { redisServerArgs, renderRedisConf } from "../../../renderers/redis-conf";
import { CONTAINER, checkResource, hardenedContainer } from "./support";

const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

const conf = renderRedisConf(
  { memoryMb: 1024 },
  {
    adminPassword: "admin-password-0123456789abcdefghijkl",
    appPassword: "app-password-0123456789abcdefghijklmn",
    monitorPassword: "monitor-password-0123456789abcdefghij",
    backupPassword: "backup-password-0123456789abcdefghijk",
  },
);

/** The Postgres container as components/postgres.ts builds it (the parts these rules read). */
const postgres = (overrides: Record<string, unknown> = {}) =>
  hardenedContainer({
    name: "backend-infra-prod-postgres",
    labels: [{ label: "backend-infra.component", value: "postgres-container" }],
    entrypoints: ["bash", "-c", 'set -euo pipefail\nexec docker-entrypoint.sh "$@"', "postgres-start"],
    command: ["postgres", "-c", "listen_addresses=*", "-c", "password_encryption=scram-sha-256"],
    envs: [
      "POSTGRES_USER=postgres",
      "POSTGRES_PASSWORD=pFogqlHzPgzDQRidzPNqoEwPvkoQCSEzDEIGEqAv",
      "POSTGRES_DB=app",
      "POSTGRES_INITDB_ARGS=--auth-local=peer --auth-host=scram-sha-256",
    ],
    ...overrides,
  });
const envWith = (...extra: string[]) => [
  "POSTGRES_USER=postgres",
  "POSTGRES_PASSWORD=pFogqlHzPgzDQRidzPNqoEwPvkoQCSEzDEIGEqAv",
  ...extra,
];

/** The Redis container as components/redis.ts builds it: the config as redis-server arguments. */
const redis = (overrides: Record<string, unknown> = {}) =>
  hardenedContainer({
    name: "backend-infra-prod-redis",
    labels: [{ label: "backend-infra.component", value: "redis-container" }],
    command: ["redis-server", ...redisServerArgs(conf)],
    envs: ["REDISCLI_AUTH=TIPgeMaqcakAsnABeugefTFSELPmwlNIAsRuEeSH"],
    ...overrides,
  });

describe("postgres-no-trust-auth", () => {
  const policy = data.postgresNoTrustAuth;
  it("passes the program's Postgres (peer on the socket, scram-sha-256 over TCP)", async () => {
    expect(await checkResource(policy, CONTAINER, postgres())).toEqual({
      violations: [],
      notApplicable: undefined,
    });
  });
  it.each([
    ["--auth=scram-sha-256", envWith("POSTGRES_INITDB_ARGS=--auth=scram-sha-256")],
    ["-A scram-sha-256", envWith("POSTGRES_INITDB_ARGS=-A scram-sha-256 --data-checksums")],
    [
      "md5 only on the local socket",
      envWith("POSTGRES_INITDB_ARGS=--auth-local=md5 --auth-host=scram-sha-256"),
    ],
  ])("passes initdb options %s", async (_label, envs) => {
    expect((await checkResource(policy, CONTAINER, postgres({ envs }))).violations).toEqual([]);
  });
  it("passes its own pg_hba.conf with scram-sha-256 and peer", async () => {
    const outcome = await checkResource(
      policy,
      CONTAINER,
      postgres({
        envs: envWith(),
        command: ["postgres", "-c", "hba_file=/etc/postgresql/pg_hba.conf"],
        uploads: [
          {
            file: "/etc/postgresql/pg_hba.conf",
            content:
              "# TYPE DATABASE USER ADDRESS METHOD\nlocal all postgres peer\nhost all all 10.0.0.0/8 scram-sha-256\n",
          },
        ],
      }),
    );
    expect(outcome.violations).toEqual([]);
  });

  const failing: [string, Record<string, unknown>, RegExp][] = [
    [
      "POSTGRES_HOST_AUTH_METHOD=trust",
      { envs: [...(postgres().envs as string[]), "POSTGRES_HOST_AUTH_METHOD=trust"] },
      /sets POSTGRES_HOST_AUTH_METHOD=trust; expected scram-sha-256/,
    ],
    [
      "POSTGRES_HOST_AUTH_METHOD=md5",
      { envs: [...(postgres().envs as string[]), "POSTGRES_HOST_AUTH_METHOD=md5"] },
      /POSTGRES_HOST_AUTH_METHOD=md5/,
    ],
    [
      "initdb --auth=trust",
      { envs: envWith("POSTGRES_INITDB_ARGS=--auth=trust") },
      /initialises the cluster with --auth=trust/,
    ],
    [
      "initdb --auth-local=trust",
      { envs: envWith("POSTGRES_INITDB_ARGS=--auth-local=trust --auth-host=scram-sha-256") },
      /--auth-local=trust/,
    ],
    ["initdb -A trust", { envs: envWith("POSTGRES_INITDB_ARGS=-A trust") }, /-A trust/],
    [
      "initdb --auth-host=password (cleartext)",
      { envs: envWith("POSTGRES_INITDB_ARGS=--auth-local=peer --auth-host=password") },
      /--auth-host=password/,
    ],
    [
      "initdb defaults (local trust)",
      { envs: envWith() },
      /leaves initdb's default local authentication \(trust/,
    ],
    [
      "a pg_hba.conf with trust",
      {
        command: ["postgres", "-c", "hba_file=/etc/postgresql/pg_hba.conf"],
        uploads: [
          {
            file: "/etc/postgresql/pg_hba.conf",
            content: "local all all peer\nhost    all   all   0.0.0.0/0   trust\n",
          },
        ],
      },
      /uploads \/etc\/postgresql\/pg_hba.conf with "host {4}all {3}all {3}0.0.0.0\/0 {3}trust"/,
    ],
    [
      "a start script that appends a trust line",
      {
        entrypoints: [
          "bash",
          "-c",
          'echo "host all all all trust" >> "$PGDATA/pg_hba.conf"; exec docker-entrypoint.sh "$@"',
        ],
      },
      /writes the pg_hba line "host all all all trust"/,
    ],
    [
      "bitnami's ALLOW_EMPTY_PASSWORD",
      { envs: [...(postgres().envs as string[]), "ALLOW_EMPTY_PASSWORD=yes"] },
      /ALLOW_EMPTY_PASSWORD=yes; a password is required/,
    ],
  ];
  for (const [label, overrides, message] of failing) {
    it(`fails: ${label}`, async () => {
      const outcome = await checkResource(policy, CONTAINER, postgres(overrides));
      expect(outcome.violations).toEqual([expect.stringMatching(message)]);
      expect(outcome.violations[0]).toMatch(/^PostgreSQL container "backend-infra-prod-postgres"/);
    });
  }

  it("is not applicable to Redis, exporters and other types; unknown commands are skipped", async () => {
    expect((await checkResource(policy, CONTAINER, redis())).notApplicable).toMatch(/not a PostgreSQL/);
    const exporter = hardenedContainer({ name: "backend-infra-prod-postgres-exporter" });
    expect((await checkResource(policy, CONTAINER, exporter)).notApplicable).toBeDefined();
    expect((await checkResource(policy, "docker:index/network:Network", {})).notApplicable).toBeDefined();
    const unknown = unknownCheckingProxy(postgres({ envs: envWith(), command: UNKNOWN_STRING })) as Record<
      string,
      unknown
    >;
    expect((await checkResource(policy, CONTAINER, unknown)).violations).toEqual([]);
    // A first preview: an env entry built from a generated password is unknown, so a missing
    // POSTGRES_INITDB_ARGS cannot be told from one hidden in it.
    const hidden = unknownCheckingProxy(postgres({ envs: [UNKNOWN_STRING, "POSTGRES_DB=app"] })) as Record<
      string,
      unknown
    >;
    expect((await checkResource(policy, CONTAINER, hidden)).violations).toEqual([]);
  });
});

describe("redis-auth-required", () => {
  const policy = data.redisAuthRequired;
  it("passes the program's Redis (ACL users with password hashes as redis-server arguments)", async () => {
    expect(await checkResource(policy, CONTAINER, redis())).toEqual({
      violations: [],
      notApplicable: undefined,
    });
  });
  it.each([
    [
      "the same config as an uploaded redis.conf",
      {
        command: ["redis-server", "/usr/local/etc/redis/redis.conf"],
        uploads: [{ file: "/usr/local/etc/redis/redis.conf", content: conf }],
      },
    ],
    [
      "--requirepass",
      { command: ["redis-server", "--appendonly", "yes", "--requirepass", "a-generated-one"] },
    ],
    [
      "--requirepass from the environment in a shell",
      {
        entrypoints: ["sh", "-c"],
        command: ['exec redis-server --appendonly yes --requirepass "$REDIS_PASSWORD"'],
      },
    ],
    [
      "the default user off and an app user with a password",
      {
        command: [
          "redis-server",
          "--user",
          "default",
          "off",
          "--user",
          "app",
          "on",
          ">s3cret-generated",
          "~*",
          "+@all",
        ],
      },
    ],
    [
      "an ACL file from a volume (not readable from the plan)",
      { command: ["redis-server", "--aclfile", "/data/users.acl"] },
    ],
    [
      "bitnami's image with REDIS_PASSWORD",
      {
        image: "bitnami/redis:7.2.5",
        command: [],
        envs: ["REDIS_PASSWORD=TIPgeMaqcakAsnABeugefTFSELPmwlNIAsRuEeSH"],
      },
    ],
  ])("passes %s", async (_label, overrides) => {
    expect((await checkResource(policy, CONTAINER, redis(overrides))).violations).toEqual([]);
  });

  const failing: [string, Record<string, unknown>, RegExp][] = [
    [
      "no password at all",
      { command: ["redis-server", "--appendonly", "yes"] },
      /has no password: no --requirepass and no "--user default" ACL rule/,
    ],
    ["the image's default command", { command: [] }, /has no password/],
    [
      "the official image ignores REDIS_PASSWORD",
      { image: "redis:7.2.6-bookworm", command: [], envs: ["REDIS_PASSWORD=TIPgeMaqcakAsnABeugefTFSELPmwl"] },
      /has no password/,
    ],
    ["an empty requirepass", { command: ["redis-server", "--requirepass", ""] }, /has no password/],
    [
      "default user nopass",
      { command: ["redis-server", "--user", "default", "on", "nopass", "~*", "&*", "+@all"] },
      /ACL user "default" with nopass/,
    ],
    [
      "an app user nopass next to a protected default",
      {
        command: ["redis-server", ...redisServerArgs(conf), "--user", "app", "on", "nopass", "~*", "+@all"],
      },
      /ACL user "app" with nopass/,
    ],
    [
      "a redis.conf without requirepass",
      {
        command: ["redis-server", "/usr/local/etc/redis/redis.conf"],
        uploads: [
          { file: "/usr/local/etc/redis/redis.conf", content: "appendonly yes\nprotected-mode no\n" },
        ],
      },
      /has no password/,
    ],
    [
      "an uploaded ACL file with a nopass user",
      {
        command: ["redis-server", "--aclfile", "/etc/redis/users.acl"],
        uploads: [{ file: "/etc/redis/users.acl", content: "user default on nopass ~* &* +@all\n" }],
      },
      /ACL user "default" with nopass/,
    ],
    [
      "bitnami's ALLOW_EMPTY_PASSWORD",
      { command: ["redis-server", "--requirepass", "a-generated-one"], envs: ["ALLOW_EMPTY_PASSWORD=yes"] },
      /ALLOW_EMPTY_PASSWORD=yes/,
    ],
  ];
  for (const [label, overrides, message] of failing) {
    it(`fails: ${label}`, async () => {
      const outcome = await checkResource(policy, CONTAINER, redis(overrides));
      expect(outcome.violations).toEqual([expect.stringMatching(message)]);
      expect(outcome.violations[0]).toMatch(/^Redis container "backend-infra-prod-redis"/);
    });
  }

  it("is not applicable to Postgres and the redis exporter; unknown commands are skipped", async () => {
    expect((await checkResource(policy, CONTAINER, postgres())).notApplicable).toMatch(/not a Redis/);
    const exporter = hardenedContainer({ name: "backend-infra-prod-redis-exporter" });
    expect((await checkResource(policy, CONTAINER, exporter)).notApplicable).toBeDefined();
    const unknown = unknownCheckingProxy(redis({ command: ["redis-server", UNKNOWN_STRING] })) as Record<
      string,
      unknown
    >;
    expect((await checkResource(policy, CONTAINER, unknown)).violations).toEqual([]);
  });
});
