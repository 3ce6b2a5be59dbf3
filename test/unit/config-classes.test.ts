/**
 * The classes of bad configuration issue 16 names, table-driven: each class has many bad cases
 * (each must be refused naming its key and saying what was expected) and valid cases (each must
 * parse: no valid configuration is refused). Every case starts from a valid base config of its
 * stack, so the only problem is the one the case adds.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, type ConfigIssue, type InfraConfig } from "../../config/schema";
import { secretPlaceholder } from "../harness/stack-file";

const PEM_CERT = secretPlaceholder("backend-infra:edgeTlsCert");
const PEM_KEY = secretPlaceholder("backend-infra:edgeTlsKey");
const SECRET_KEYS = [
  "registryPassword",
  "edgeTlsCert",
  "edgeTlsKey",
  "alertPagerWebhookUrl",
  "alertSlackWebhookUrl",
  "alertTeamsWebhookUrl",
  "alertSmtpPassword",
  "alertDeadMansSwitchUrl",
];

/** A valid configuration of each stack: what its stack file and its documented secrets hold. */
const BASE: Record<string, Record<string, string>> = {
  prod: {
    dockerHost: "ssh://deploy@docker-prod-1.example.com",
    publicHostname: "api.example.com",
    registryServer: "ghcr.io/example/backend-infra",
    registryUsername: "deploy-bot",
    registryPassword: "token",
    edgeTlsCert: PEM_CERT,
    edgeTlsKey: PEM_KEY,
    alertPagerWebhookUrl: "https://events.pagerduty.com/integration/x/enqueue",
  },
  staging: {
    dockerHost: "ssh://deploy@docker-staging-1.example.com",
    publicHostname: "staging-api.example.com",
    edgeTlsCert: PEM_CERT,
    edgeTlsKey: PEM_KEY,
  },
  local: {},
  "prod-blue": {
    registryServer: "ghcr.io/example/backend-infra",
    registryUsername: "deploy-bot",
    registryPassword: "token",
  },
  "prod-green": {
    registryServer: "ghcr.io/example/backend-infra",
    registryUsername: "deploy-bot",
    registryPassword: "token",
  },
  "staging-blue": {},
  "staging-green": {},
  "local-blue": {},
  "local-green": {},
};

/** Bare keys become `backend-infra:` keys; keys with a namespace stay as written; undefined removes. */
function rawOf(stack: string, overrides: Record<string, string | undefined>) {
  const merged: Record<string, string | undefined> = { ...(BASE[stack] ?? {}), ...overrides };
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [key, value] of Object.entries(merged)) {
    if (value === undefined) continue;
    const full = key.includes(":") ? key : `backend-infra:${key}`;
    values[full] = value;
    if (SECRET_KEYS.includes(key)) secretKeys.add(full);
  }
  return { stack, values, secretKeys };
}

function parse(stack: string, overrides: Record<string, string | undefined> = {}): InfraConfig {
  return parseConfig(rawOf(stack, overrides));
}

function issuesOf(stack: string, overrides: Record<string, string | undefined>): ConfigIssue[] {
  try {
    parse(stack, overrides);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error(`expected ${stack} ${JSON.stringify(overrides)} to be refused`);
}

/** [what, stack, overrides, key the error names, what the message says] */
type Bad = [string, string, Record<string, string | undefined>, string, RegExp];
/** [what, stack, overrides] */
type Good = [string, string, Record<string, string | undefined>];

function checkClass(name: string, bad: Bad[], good: Good[]) {
  describe(name, () => {
    it.each(bad)("refuses %s", (_what, stack, overrides, key, message) => {
      const issues = issuesOf(stack, overrides);
      const fullKey = key.includes(":") ? key : `backend-infra:${key}`;
      const issue = issues.find((i) => i.key === fullKey && message.test(i.message));
      expect(issue, JSON.stringify(issues, null, 2)).toBeDefined();
      // Nothing else is wrong with the base: only the keys the case sets (or secrets it removes).
      const touched = Object.keys(overrides).map((k) => (k.includes(":") ? k : `backend-infra:${k}`));
      expect(issues.filter((i) => i.key !== fullKey && !touched.includes(i.key) && !i.missingSecret)).toEqual(
        [],
      );
    });

    it.each(good)("accepts %s", (_what, stack, overrides) => {
      expect(() => parse(stack, overrides)).not.toThrow();
    });

    it("names every bad key of the class in one run, per stack", () => {
      const byStack = new Map<string, Bad[]>();
      for (const c of bad) byStack.set(c[1], [...(byStack.get(c[1]) ?? []), c]);
      for (const [stack, cases] of byStack) {
        // Cases are merged one by one while every merged case stays reported; a case that a
        // merged one hides (an e-mail receiver satisfies the receiver a removed pager left
        // missing) is left out. Most cases merge, and then every one of them is named at once.
        let merged: Record<string, string | undefined> = {};
        const keys: string[] = [];
        for (const [, , overrides, key, pattern] of cases) {
          if (keys.includes(key) || Object.keys(overrides).some((k) => k in merged)) continue;
          const attempt = { ...merged, ...overrides };
          let issues: ConfigIssue[] = [];
          try {
            parse(stack, attempt);
          } catch (error) {
            issues = (error as ConfigError).issues;
          }
          const named = (k: string, p?: RegExp) =>
            issues.some(
              (i) => i.key === (k.includes(":") ? k : `backend-infra:${k}`) && (!p || p.test(i.message)),
            );
          if ([...keys].every((k) => named(k)) && named(key, pattern)) {
            merged = attempt;
            keys.push(key);
          }
        }
        const distinct = new Set(cases.map((c) => c[3])).size;
        expect(keys.length, `${stack}: ${keys.join(", ")}`).toBeGreaterThanOrEqual(Math.ceil(distinct / 2));
        let message = "";
        try {
          parse(stack, merged);
        } catch (error) {
          message = (error as Error).message;
        }
        expect(message).toContain(`Pulumi.${stack}.yaml`);
      }
    });
  });
}

describe("the base configurations are valid", () => {
  it.each(Object.keys(BASE))("%s", (stack) => {
    expect(parse(stack).stack).toBe(stack);
  });
});

// ---------- identity ----------

checkClass(
  "identity cannot contradict the stack name",
  [
    [
      "a prod file that says staging",
      "prod",
      { environment: "staging" },
      "environment",
      /contradicts the stack name "prod"/,
    ],
    ["a prod file that says local", "prod", { environment: "local" }, "environment", /expected prod/],
    ["a staging file that says prod", "staging", { environment: "prod" }, "environment", /contradicts/],
    ["a prod slot that says staging", "prod-blue", { environment: "staging" }, "environment", /contradicts/],
    ["a local slot that says prod", "local-green", { environment: "prod" }, "environment", /contradicts/],
    ["an environment in capitals", "prod", { environment: "Prod" }, "environment", /expected one of/],
    [
      "an env stack that says slot",
      "prod",
      { role: "slot" },
      "role",
      /contradicts the stack name "prod" \(role env\)/,
    ],
    ["a slot stack that says env", "prod-blue", { role: "env" }, "role", /contradicts/],
    ["a role that is no role", "staging", { role: "slots" }, "role", /expected one of/],
    [
      "a blue slot that says green",
      "prod-blue",
      { slot: "green" },
      "slot",
      /contradicts the stack name "prod-blue" \(slot blue\)/,
    ],
    ["a green slot that says blue", "staging-green", { slot: "blue" }, "slot", /contradicts/],
    ["a colour that is no colour", "local-blue", { slot: "red" }, "slot", /expected one of/],
    ["a colour on an env stack", "prod", { slot: "blue" }, "slot", /slot stacks only/],
    [
      "a slot reading another environment",
      "prod-blue",
      { envStack: "acme/backend-infra/staging" },
      "envStack",
      /backend-infra\/prod/,
    ],
    [
      "a slot reading another project",
      "prod-blue",
      { envStack: "acme/other-project/prod" },
      "envStack",
      /project and environment/,
    ],
    [
      "a slot reading a slot stack",
      "prod-green",
      { envStack: "acme/backend-infra/prod-blue" },
      "envStack",
      /backend-infra\/prod/,
    ],
    [
      "a slot reading a bare other environment",
      "staging-green",
      { envStack: "prod" },
      "envStack",
      /backend-infra\/staging/,
    ],
    ["a two-part stack reference", "prod-blue", { envStack: "backend-infra/prod" }, "envStack", /two-part/],
    [
      "a stack reference with four parts",
      "local-blue",
      { envStack: "a/b/backend-infra/local" },
      "envStack",
      /org\/project\/stack/,
    ],
    [
      "a stack reference with a space",
      "local-blue",
      { envStack: "my org/backend-infra/local" },
      "envStack",
      /stack reference/,
    ],
    [
      "an env stack reference on an env stack",
      "prod",
      { envStack: "acme/backend-infra/prod" },
      "envStack",
      /slot stacks only/,
    ],
    ["a stack name that names no environment", "dev", {}, "environment", /"dev" names no environment/],
    ["a slot of no environment", "qa-blue", {}, "environment", /names no environment/],
    ["a colour that is not blue or green", "prod-purple", {}, "environment", /names no environment/],
    [
      "an environment spelt out",
      "production",
      { environment: "prod" },
      "environment",
      /names no environment/,
    ],
  ],
  [
    ["a prod file that repeats its identity", "prod", { environment: "prod", role: "env" }],
    [
      "a slot that repeats its identity",
      "prod-blue",
      { environment: "prod", role: "slot", slot: "blue", envStack: "acme/backend-infra/prod" },
    ],
    ["a slot naming its env stack alone", "staging-green", { envStack: "staging" }],
    ["the default organisation", "local-blue", { envStack: "organization/backend-infra/local" }],
  ],
);

// ---------- floors ----------

checkClass(
  "prod and staging keep the seed's floors; local stays free",
  [
    [
      "prod local retention under 30 days",
      "prod",
      { backupLocalRetentionDays: "29" },
      "backupLocalRetentionDays",
      /at least 30 days/,
    ],
    [
      "staging local retention of a week",
      "staging",
      { backupLocalRetentionDays: "7" },
      "backupLocalRetentionDays",
      /at least 30/,
    ],
    [
      "prod cloud retention under 90 days",
      "prod",
      { backupCloudRetentionDays: "89" },
      "backupCloudRetentionDays",
      /at least 90 days/,
    ],
    [
      "staging cloud retention of 35 days",
      "staging",
      { backupCloudRetentionDays: "35" },
      "backupCloudRetentionDays",
      /at least 90/,
    ],
    [
      "prod without repository encryption",
      "prod",
      { backupRepoEncryption: "false" },
      "backupRepoEncryption",
      /encrypts/,
    ],
    [
      "staging without repository encryption",
      "staging",
      { backupRepoEncryption: "false" },
      "backupRepoEncryption",
      /expected true/,
    ],
    [
      "prod archiving WAL every 61 s",
      "prod",
      { postgresArchiveTimeoutSeconds: "61" },
      "postgresArchiveTimeoutSeconds",
      /at most 60/,
    ],
    [
      "prod archiving WAL every hour",
      "prod",
      { postgresArchiveTimeoutSeconds: "3600" },
      "postgresArchiveTimeoutSeconds",
      /at most 60/,
    ],
    [
      "prod with a self-signed certificate",
      "prod",
      { edgeTlsMode: "self-signed", edgeTlsCert: undefined, edgeTlsKey: undefined },
      "edgeTlsMode",
      /provided certificate/,
    ],
    [
      "staging with a self-signed certificate",
      "staging",
      { edgeTlsMode: "self-signed", edgeTlsCert: undefined, edgeTlsKey: undefined },
      "edgeTlsMode",
      /provided/,
    ],
    [
      "prod on plain tcp",
      "prod",
      { dockerHost: "tcp://docker-prod-1.example.com:2375" },
      "dockerHost",
      /expected ssh:\/\/ or TLS.*plain tcp/,
    ],
    [
      "staging on plain tcp without a port",
      "staging",
      { dockerHost: "tcp://10.0.0.5" },
      "dockerHost",
      /plain tcp/,
    ],
    [
      "prod on plain tcp over IPv6",
      "prod",
      { dockerHost: "tcp://[2001:db8::5]:2375" },
      "dockerHost",
      /plain tcp/,
    ],
    [
      "prod on the local socket",
      "prod",
      { dockerHost: "unix:///var/run/docker.sock" },
      "dockerHost",
      /unix:\/\//,
    ],
    ["staging on the default socket", "staging", { dockerHost: undefined }, "dockerHost", /ssh:\/\/ or TLS/],
    ["prod backing up to MinIO", "prod", { backupStorage: "minio" }, "backupStorage", /AWS S3/],
    ["staging backing up to MinIO", "staging", { backupStorage: "minio" }, "backupStorage", /AWS S3/],
    [
      "prod without monitoring",
      "prod",
      { monitoringEnabled: "false" },
      "monitoringEnabled",
      /must run monitoring/,
    ],
    ["local on AWS S3", "local", { backupStorage: "aws" }, "backupStorage", /local stacks stay free/],
    [
      "local with a replica region",
      "local",
      { backupReplicaRegion: "eu-central-1" },
      "backupReplicaRegion",
      /MinIO has no replica/,
    ],
  ],
  [
    [
      "prod exactly at the floors",
      "prod",
      { backupLocalRetentionDays: "30", backupCloudRetentionDays: "90", postgresArchiveTimeoutSeconds: "60" },
    ],
    [
      "prod above the floors",
      "prod",
      {
        backupLocalRetentionDays: "60",
        backupCloudRetentionDays: "365",
        postgresArchiveTimeoutSeconds: "15",
      },
    ],
    ["prod over TLS on Docker's TLS port", "prod", { dockerHost: "tcp://docker-prod-1.example.com:2376" }],
    ["prod over ssh with a port", "prod", { dockerHost: "ssh://deploy@10.0.0.5:2222" }],
    ["staging over ssh without a user", "staging", { dockerHost: "ssh://docker-staging-1.example.com" }],
    [
      "staging archiving WAL every 5 minutes (the bound is prod's)",
      "staging",
      { postgresArchiveTimeoutSeconds: "300" },
    ],
    [
      "local with short retention and no encryption",
      "local",
      { backupLocalRetentionDays: "1", backupCloudRetentionDays: "1", backupRepoEncryption: "false" },
    ],
    ["local on a plain tcp engine", "local", { dockerHost: "tcp://127.0.0.1:2375" }],
    ["local archiving WAL hourly", "local", { postgresArchiveTimeoutSeconds: "3600" }],
    ["staging without monitoring", "staging", { monitoringEnabled: "false" }],
  ],
);

// ---------- misspellings ----------

checkClass(
  "misspellings",
  [
    [
      "a misspelt project namespace",
      "prod",
      { "backend-infr:postgresMemory": "8g" },
      "backend-infr:postgresMemory",
      /unknown namespace "backend-infr".*did you mean backend-infra:postgresMemory/,
    ],
    [
      "a namespace with an underscore",
      "local",
      { "backend_infra:edgeImage": "haproxy:2.6.18" },
      "backend_infra:edgeImage",
      /did you mean backend-infra:edgeImage/,
    ],
    [
      "a namespace without its hyphen",
      "staging",
      { "backendinfra:redisMemory": "1g" },
      "backendinfra:redisMemory",
      /unknown namespace/,
    ],
    [
      "a namespace in capitals",
      "local",
      { "Backend-Infra:postgresCpus": "2" },
      "Backend-Infra:postgresCpus",
      /did you mean backend-infra:postgresCpus/,
    ],
    [
      "a misspelt namespace and key",
      "local",
      { "backend-infar:postgresMemroy": "2g" },
      "backend-infar:postgresMemroy",
      /did you mean backend-infra:postgresMemory/,
    ],
    [
      "a namespace of no provider here",
      "local",
      { "kubernetes:context": "prod" },
      "kubernetes:context",
      /provider namespace \(aws, command, docker, pulumi, random, tls\)/,
    ],
    [
      "a transposition",
      "local",
      { postgresMemroy: "1g" },
      "postgresMemroy",
      /did you mean backend-infra:postgresMemory\?/,
    ],
    [
      "a dotted path",
      "local",
      { "postgres.memory": "1g" },
      "postgres.memory",
      /did you mean backend-infra:postgresMemory/,
    ],
    [
      "a wrong case",
      "local",
      { edgeTLSMode: "self-signed" },
      "edgeTLSMode",
      /did you mean backend-infra:edgeTlsMode/,
    ],
    [
      "a missing letter",
      "local",
      { alertEmailT: '["a@example.com"]' },
      "alertEmailT",
      /did you mean backend-infra:alertEmailTo/,
    ],
    [
      "a singular",
      "local-blue",
      { backendReplica: "2" },
      "backendReplica",
      /did you mean backend-infra:backendReplicas/,
    ],
    [
      "a lower-case key",
      "local",
      { dockerhost: "unix:///var/run/docker.sock" },
      "dockerhost",
      /did you mean backend-infra:dockerHost/,
    ],
    [
      "an extra letter",
      "prod",
      { backupCloudRetentionDayss: "120" },
      "backupCloudRetentionDayss",
      /did you mean backend-infra:backupCloudRetentionDays/,
    ],
    [
      "backend replicas on an env stack",
      "prod",
      { backendReplicas: "3" },
      "backendReplicas",
      /slot stacks only.*Pulumi\.prod-blue\.yaml/,
    ],
    [
      "a backend image on an env stack",
      "staging",
      { backendImage: "ghcr.io/acme/backend:1.0" },
      "backendImage",
      /slot stacks only/,
    ],
    ["backend memory on an env stack", "local", { backendMemory: "1g" }, "backendMemory", /slot stacks only/],
    [
      "the TLS pair on a slot stack",
      "prod-blue",
      { edgeTlsCert: PEM_CERT, edgeTlsKey: PEM_KEY },
      "edgeTlsCert",
      /env stacks only.*Pulumi\.prod\.yaml/,
    ],
    [
      "a pager receiver on a slot stack",
      "prod-green",
      { alertPagerWebhookUrl: "https://events.pagerduty.com/x" },
      "alertPagerWebhookUrl",
      /env stacks only/,
    ],
    [
      "a Docker host on a slot stack",
      "staging-blue",
      { dockerHost: "ssh://deploy@other-host" },
      "dockerHost",
      /env stack's Docker host/,
    ],
    [
      "the traffic split on a slot stack",
      "prod-blue",
      { trafficActive: "green" },
      "trafficActive",
      /env stacks only/,
    ],
    [
      "Postgres memory on a slot stack",
      "local-blue",
      { postgresMemory: "2g" },
      "postgresMemory",
      /env stacks only/,
    ],
    [
      "a public host name on a slot stack",
      "staging-green",
      { publicHostname: "staging-api.example.com" },
      "publicHostname",
      /env stacks only/,
    ],
    [
      "a backup region on a slot stack",
      "prod-blue",
      { backupRegion: "eu-central-1" },
      "backupRegion",
      /env stacks only/,
    ],
  ],
  [
    [
      "provider keys",
      "prod",
      { "aws:region": "eu-west-1", "docker:host": "ssh://deploy@docker-prod-1.example.com" },
    ],
    ["Pulumi's own keys", "local", { "pulumi:tags": '{"team":"infra"}' }],
    [
      "keys of every other provider the program uses",
      "local",
      { "random:x": "1", "tls:y": "2", "command:z": "3" },
    ],
    ["keys both roles read, on a slot", "prod-blue", { containerOpenFilesLimit: "20000" }],
    [
      "keys both roles read, on an env stack",
      "staging",
      {
        containerOpenFilesLimit: "20000",
        registryServer: "ghcr.io/acme/infra",
        registryUsername: "ci",
        registryPassword: "t",
      },
    ],
    ["bare keys", "local", { "backend-infra:postgresMemory": "2g" }],
  ],
);

// ---------- values that reach files and command lines ----------

const LONG_LABEL = "a".repeat(64);
checkClass(
  "every value that reaches a file or a command line is fully checked",
  [
    // no control characters
    [
      "a newline after a host name",
      "prod",
      { publicHostname: "api.example.com\n" },
      "publicHostname",
      /single line.*newline \(U\+000A\)/,
    ],
    [
      "a newline in a cron schedule",
      "local",
      { backupDiffSchedule: "0 2 * * *\n* * * * * rm -rf /" },
      "backupDiffSchedule",
      /newline/,
    ],
    [
      "a trailing newline in a schedule",
      "local",
      { backupFullSchedule: "0 3 * * 0\n" },
      "backupFullSchedule",
      /newline/,
    ],
    ["a tab in a user name", "prod", { registryUsername: "deploy\tbot" }, "registryUsername", /a tab/],
    ["a NUL byte in a database name", "local", { postgresDatabase: "app\u0000" }, "postgresDatabase", /NUL/],
    [
      "a carriage return in an image",
      "local",
      { redisImage: "redis:7.2.6\r" },
      "redisImage",
      /carriage return/,
    ],
    [
      "a line separator in a sender",
      "prod",
      {
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "am@example.com\u2028",
        alertSmtpSmarthost: "smtp.example.com:587",
      },
      "alertEmailFrom",
      /control character \(U\+2028\)/,
    ],
    [
      "an escape character in a path",
      "local",
      { postgresDataPath: "/opt/data/\u001b[2J" },
      "postgresDataPath",
      /control character/,
    ],
    [
      "a newline in a secret token",
      "prod",
      { registryPassword: "tok\nen" },
      "registryPassword",
      /newline.*\[secret\]/,
    ],
    [
      "a bell in a certificate",
      "prod",
      { edgeTlsCert: `${PEM_CERT}\u0007` },
      "edgeTlsCert",
      /control character/,
    ],
    [
      "a newline inside an e-mail list item",
      "prod",
      {
        alertEmailTo: '["a@example.com","b@example.com\\nBcc: x@evil.example"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:587",
      },
      "alertEmailTo",
      /item 2/,
    ],
    // anchored patterns: Docker hosts
    [
      "an ssh host with a command",
      "prod",
      { dockerHost: "ssh://deploy@host;rm -rf /" },
      "dockerHost",
      /ssh:\/\/\[user@\]host/,
    ],
    [
      "an ssh host with a path",
      "prod",
      { dockerHost: "ssh://deploy@docker-prod-1.example.com/var/run" },
      "dockerHost",
      /no path/,
    ],
    [
      "an ssh port out of range",
      "prod",
      { dockerHost: "ssh://deploy@docker-prod-1.example.com:99999" },
      "dockerHost",
      /port from 1 to 65535/,
    ],
    [
      "a tcp host with a path",
      "local",
      { dockerHost: "tcp://host:2376/x" },
      "dockerHost",
      /tcp:\/\/host:port/,
    ],
    ["a tcp port of 0", "local", { dockerHost: "tcp://host:0" }, "dockerHost", /port from 1 to 65535/],
    [
      "a relative unix socket",
      "local",
      { dockerHost: "unix://docker.sock" },
      "dockerHost",
      /absolute socket path/,
    ],
    [
      "an http Docker host",
      "local",
      { dockerHost: "http://docker.example.com:2375" },
      "dockerHost",
      /not a Docker host scheme/,
    ],
    [
      "a Docker host without a scheme",
      "local",
      { dockerHost: "docker.example.com" },
      "dockerHost",
      /expected unix/,
    ],
    // host names
    [
      "a host name with a semicolon",
      "prod",
      { publicHostname: "api.example.com;reboot" },
      "publicHostname",
      /DNS host name/,
    ],
    [
      "a host name starting with a hyphen",
      "staging",
      { publicHostname: "-api.example.com" },
      "publicHostname",
      /DNS host name/,
    ],
    [
      "a host name with an empty label",
      "prod",
      { publicHostname: "api..example.com" },
      "publicHostname",
      /DNS host name/,
    ],
    [
      "a host name label of 64 characters",
      "prod",
      { publicHostname: `${LONG_LABEL}.example.com` },
      "publicHostname",
      /DNS host name/,
    ],
    [
      "an address that is not one",
      "prod",
      { publicHostname: "999.1.1.1" },
      "publicHostname",
      /DNS host name/,
    ],
    [
      "a URL for a host name",
      "prod",
      { publicHostname: "https://api.example.com" },
      "publicHostname",
      /DNS host name/,
    ],
    // registries and user names
    [
      "a registry with a scheme",
      "prod",
      { registryServer: "https://ghcr.io/example" },
      "registryServer",
      /no scheme/,
    ],
    [
      "a registry path in capitals",
      "prod",
      { registryServer: "ghcr.io/Example" },
      "registryServer",
      /lower-case path/,
    ],
    [
      "a registry without a host",
      "prod-blue",
      { registryServer: "example" },
      "registryServer",
      /not a registry host/,
    ],
    [
      "a registry with a space",
      "prod",
      { registryServer: "ghcr.io/example team" },
      "registryServer",
      /registry/,
    ],
    [
      "a registry port out of range",
      "prod",
      { registryServer: "registry.example.com:70000/x" },
      "registryServer",
      /port from 1 to 65535/,
    ],
    ["an empty registry", "prod", { registryServer: "" }, "registryServer", /registry/],
    [
      "a registry user with a space",
      "prod",
      { registryUsername: "deploy bot" },
      "registryUsername",
      /user name/,
    ],
    [
      "a registry user with a colon",
      "prod-blue",
      { registryUsername: "deploy:bot" },
      "registryUsername",
      /colons/,
    ],
    [
      "an SMTP user with a space",
      "prod",
      {
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:587",
        alertSmtpUsername: "alert manager",
      },
      "alertSmtpUsername",
      /no spaces/,
    ],
    // S3 bucket names
    [
      "a bucket name in capitals",
      "prod",
      { backupBucketName: "Acme-Backups" },
      "backupBucketName",
      /S3 bucket name/,
    ],
    ["a bucket name of two characters", "prod", { backupBucketName: "ab" }, "backupBucketName", /3-63/],
    [
      "a bucket name with ..",
      "prod",
      { backupBucketName: "acme..backups" },
      "backupBucketName",
      /without \.\./,
    ],
    [
      "a bucket name like an address",
      "staging",
      { backupBucketName: "192.168.10.1" },
      "backupBucketName",
      /IP address/,
    ],
    [
      "a bucket name with a reserved prefix",
      "prod",
      { backupBucketName: "xn--acme-backups" },
      "backupBucketName",
      /reserves/,
    ],
    [
      "a bucket name with a reserved suffix",
      "prod",
      { backupBucketName: "acme-backups-s3alias" },
      "backupBucketName",
      /reserves/,
    ],
    [
      "a bucket name ending in a hyphen",
      "prod",
      { backupBucketName: "acme-backups-" },
      "backupBucketName",
      /S3 bucket name/,
    ],
    // host paths
    ["the root as a data directory", "local", { postgresDataPath: "/" }, "postgresDataPath", /not \/ itself/],
    [
      "a data directory under /etc",
      "local",
      { postgresDataPath: "/etc/postgresql" },
      "postgresDataPath",
      /not under \/etc/,
    ],
    [
      "Docker's own directory",
      "prod",
      { redisDataPath: "/var/lib/docker/volumes/redis" },
      "redisDataPath",
      /not under \/var\/lib\/docker/,
    ],
    ["a home directory", "local", { redisDataPath: "/home/me/redis" }, "redisDataPath", /not under \/home/],
    [
      "a temporary directory",
      "staging",
      { postgresDataPath: "/tmp/pg" },
      "postgresDataPath",
      /not under \/tmp/,
    ],
    ["a shared parent", "prod", { postgresDataPath: "/opt" }, "postgresDataPath", /not \/opt itself/],
    [
      "a path with a command substitution",
      "local",
      { postgresDataPath: "/data/$(id)" },
      "postgresDataPath",
      /letters, digits/,
    ],
    [
      "a path with a space",
      "local",
      { redisDataPath: "/data/redis data" },
      "redisDataPath",
      /letters, digits/,
    ],
    [
      "a path with a dot component",
      "local",
      { redisDataPath: "/data/./redis" },
      "redisDataPath",
      /without \.\. or \./,
    ],
    [
      "the Docker socket as a data directory",
      "local",
      { redisDataPath: "/srv/docker.sock" },
      "redisDataPath",
      /not a socket/,
    ],
    [
      "Redis inside Postgres's directory",
      "prod",
      { postgresDataPath: "/data/pg", redisDataPath: "/data/pg/redis" },
      "redisDataPath",
      /each service owns its directory/,
    ],
    // host:port
    [
      "a smarthost without a port",
      "prod",
      {
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com",
      },
      "alertSmtpSmarthost",
      /host:port/,
    ],
    [
      "a smarthost on port 0",
      "prod",
      {
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:0",
      },
      "alertSmtpSmarthost",
      /1 to 65535/,
    ],
    [
      "a smarthost on port 65536",
      "prod",
      {
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:65536",
      },
      "alertSmtpSmarthost",
      /1 to 65535/,
    ],
    [
      "a smarthost without a host",
      "prod",
      { alertEmailTo: '["a@example.com"]', alertEmailFrom: "am@example.com", alertSmtpSmarthost: ":587" },
      "alertSmtpSmarthost",
      /host:port/,
    ],
    [
      "a smarthost with a space",
      "prod",
      {
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp example.com:587",
      },
      "alertSmtpSmarthost",
      /host:port/,
    ],
    [
      "a smarthost with two ports",
      "prod",
      {
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:587:25",
      },
      "alertSmtpSmarthost",
      /host:port/,
    ],
    [
      "a smarthost port with letters",
      "prod",
      {
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:smtp",
      },
      "alertSmtpSmarthost",
      /1 to 65535/,
    ],
    // every e-mail address
    [
      "a list with one bad address",
      "prod",
      {
        alertEmailTo: '["oncall@example.com","not-an-address"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:587",
      },
      "alertEmailTo",
      /item 2 \("not-an-address"\): expected an e-mail address/,
    ],
    [
      "two addresses in one item",
      "prod",
      {
        alertEmailTo: '["a@example.com, b@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:587",
      },
      "alertEmailTo",
      /item 1/,
    ],
    [
      "a number for an address",
      "prod",
      { alertEmailTo: "[1]", alertEmailFrom: "am@example.com", alertSmtpSmarthost: "smtp.example.com:587" },
      "alertEmailTo",
      /item 1 \(1\)/,
    ],
    [
      "an address listed twice",
      "prod",
      {
        alertEmailTo: '["a@example.com","a@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:587",
      },
      "alertEmailTo",
      /listed twice/,
    ],
    [
      "a map for a list",
      "prod",
      {
        alertEmailTo: '{"to":"a@example.com"}',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:587",
      },
      "alertEmailTo",
      /array of e-mail addresses/,
    ],
    [
      "a sender that is no address",
      "prod",
      {
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "alertmanager",
        alertSmtpSmarthost: "smtp.example.com:587",
      },
      "alertEmailFrom",
      /e-mail/,
    ],
    // empty lists where a receiver is required
    [
      "an empty receiver list in prod",
      "prod",
      {
        alertPagerWebhookUrl: undefined,
        alertEmailTo: "[]",
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:587",
      },
      "alertEmailTo",
      /at least one address/,
    ],
    [
      "an empty receiver list in staging",
      "staging",
      { alertEmailTo: "[]", alertEmailFrom: "am@example.com", alertSmtpSmarthost: "smtp.example.com:587" },
      "alertEmailTo",
      /at least one address/,
    ],
    [
      "an empty value for a list",
      "local",
      { alertEmailTo: "", alertEmailFrom: "am@example.com", alertSmtpSmarthost: "smtp.example.com:587" },
      "alertEmailTo",
      /JSON array/,
    ],
    // AWS regions
    [
      "a region that does not exist",
      "prod",
      { backupRegion: "eu-west-9" },
      "backupRegion",
      /AWS region.*did you mean eu-west-1/,
    ],
    ["a region in capitals", "staging", { backupRegion: "EU-WEST-1" }, "backupRegion", /AWS region/],
    ["a made-up region", "prod", { backupRegion: "moon-base-1" }, "backupRegion", /AWS region/],
    [
      "a GovCloud region that does not exist",
      "prod",
      { backupRegion: "us-gov-west-2" },
      "backupRegion",
      /AWS region/,
    ],
    [
      "a China region (another S3 endpoint)",
      "prod",
      { backupRegion: "cn-north-1" },
      "backupRegion",
      /aws or aws-us-gov partition/,
    ],
    ["a sovereign-cloud region", "prod", { backupRegion: "eusc-de-east-1" }, "backupRegion", /partition/],
    [
      "a replica region that does not exist",
      "prod",
      { backupReplicaRegion: "us-east-7" },
      "backupReplicaRegion",
      /AWS region/,
    ],
    [
      "a replica across partitions",
      "prod",
      { backupRegion: "us-gov-west-1", backupReplicaRegion: "us-east-1" },
      "backupReplicaRegion",
      /cannot replicate across partitions/,
    ],
    [
      "a replica in the same region",
      "staging",
      { backupReplicaRegion: "eu-west-1" },
      "backupReplicaRegion",
      /must differ/,
    ],
    // cron expressions that can never fire
    [
      "February 30",
      "prod",
      { backupFullSchedule: "0 3 30 2 *" },
      "backupFullSchedule",
      /never occurs in February/,
    ],
    ["February 31", "local", { backupDiffSchedule: "0 2 31 2 *" }, "backupDiffSchedule", /can fire/],
    [
      "April 31",
      "staging",
      { backupLogicalSchedule: "30 2 31 4 *" },
      "backupLogicalSchedule",
      /April \(30 days\)/,
    ],
    [
      "the 31st of every short month",
      "prod",
      { backupVerifySchedule: "0 5 31 2,4,6,9,11 *" },
      "backupVerifySchedule",
      /never occurs/,
    ],
    [
      "days 30-31 of February",
      "prod",
      { backupRedisSchedule: "15 2 30-31 2 *" },
      "backupRedisSchedule",
      /never occurs/,
    ],
    [
      "the 31st of a stepped short-month range",
      "local",
      { backupDrillSchedule: "0 4 31 4-6/2 *" },
      "backupDrillSchedule",
      /never occurs/,
    ],
    ["an hour out of range", "local", { backupDiffSchedule: "0 25 * * *" }, "backupDiffSchedule", /0-23/],
    ["a macro", "local", { backupFullSchedule: "@weekly" }, "backupFullSchedule", /5 fields/],
    // URLs
    [
      "a javascript: pager URL",
      "prod",
      { alertPagerWebhookUrl: "javascript:alert(1)" },
      "alertPagerWebhookUrl",
      /http\(s\) URL.*\[secret\]/,
    ],
    [
      "an ftp Slack URL",
      "staging",
      { alertSlackWebhookUrl: "ftp://hooks.example.com/x" },
      "alertSlackWebhookUrl",
      /URL/,
    ],
    ["a URL without a host", "local", { alertSlackWebhookUrl: "https://" }, "alertSlackWebhookUrl", /URL/],
    [
      "a URL with a space",
      "local",
      { alertTeamsWebhookUrl: "https://teams relay/x" },
      "alertTeamsWebhookUrl",
      /URL/,
    ],
    [
      "a plain-http pager in prod",
      "prod",
      { alertPagerWebhookUrl: "http://events.pagerduty.com/x" },
      "alertPagerWebhookUrl",
      /https:\/\//,
    ],
    [
      "a plain-http heartbeat in staging",
      "staging",
      { alertDeadMansSwitchUrl: "http://hc-ping.com/x" },
      "alertDeadMansSwitchUrl",
      /https:\/\//,
    ],
    // PEM
    [
      "a certificate that is not PEM",
      "prod",
      { edgeTlsCert: "not a certificate" },
      "edgeTlsCert",
      /PEM certificate chain/,
    ],
    [
      "a lone BEGIN line",
      "prod",
      { edgeTlsCert: "-----BEGIN CERTIFICATE-----" },
      "edgeTlsCert",
      /PEM certificate/,
    ],
    [
      "a certificate with text around it",
      "staging",
      { edgeTlsCert: `subject=CN=x\n${PEM_CERT}` },
      "edgeTlsCert",
      /nothing else/,
    ],
    [
      "a key in the certificate",
      "prod",
      { edgeTlsCert: `${PEM_CERT}${PEM_KEY}` },
      "edgeTlsCert",
      /nothing else/,
    ],
    ["a certificate as the key", "prod", { edgeTlsKey: PEM_CERT }, "edgeTlsKey", /private key/],
    [
      "an encrypted key",
      "prod",
      { edgeTlsKey: PEM_KEY.replace(/PRIVATE KEY/g, "ENCRYPTED PRIVATE KEY") },
      "edgeTlsKey",
      /unencrypted/,
    ],
    ["two keys", "staging", { edgeTlsKey: `${PEM_KEY}${PEM_KEY}` }, "edgeTlsKey", /one PEM private key/],
    [
      "a key with a bad base64 body",
      "prod",
      { edgeTlsKey: "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n" },
      "edgeTlsKey",
      /private key/,
    ],
    // numbers and sizes
    ["a memory size in terabytes", "local", { postgresMemory: "2t" }, "postgresMemory", /size like 512m/],
    ["a memory size beyond any host", "local", { redisMemory: "99999g" }, "redisMemory", /at most 1024g/],
    ["an exponent for a port", "local", { edgeHttpPort: "8e3" }, "edgeHttpPort", /whole number/],
    ["an HTTPS port of 70000", "local", { edgeHttpsPort: "70000" }, "edgeHttpsPort", /from 1 to 65535/],
  ],
  [
    ["a host name in capitals and an IPv4 address", "prod", { publicHostname: "API.Example.com" }],
    ["a public address", "staging", { publicHostname: "203.0.113.10" }],
    ["an ssh Docker host over IPv6", "prod", { dockerHost: "ssh://deploy@[2001:db8::1]:22" }],
    ["a TLS Docker host by address", "staging", { dockerHost: "tcp://192.0.2.7:2376" }],
    ["a registry with a port and path", "prod", { registryServer: "registry.example.com:5000/team/infra" }],
    ["a registry with a trailing slash", "prod-blue", { registryServer: "ghcr.io/example/" }],
    [
      "an ECR registry",
      "prod",
      { registryServer: "123456789012.dkr.ecr.eu-west-1.amazonaws.com", registryUsername: "AWS" },
    ],
    [
      "a local registry",
      "local",
      { registryServer: "localhost:5000", registryUsername: "ci", registryPassword: "t" },
    ],
    ["registry user names of the big registries", "prod", { registryUsername: "_json_key" }],
    ["a robot account", "prod-green", { registryUsername: "acme+ci_robot" }],
    [
      "an SMTP user with a domain",
      "prod",
      {
        alertEmailTo: '["a@example.com","b@example.org"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:465",
        alertSmtpUsername: "CORP\\alerts",
        alertSmtpPassword: "p w",
      },
    ],
    [
      "a smarthost by IPv6 address",
      "staging",
      {
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "[2001:db8::25]:25",
      },
    ],
    [
      "a smarthost by IPv4 address",
      "local",
      {
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "10.0.0.25:25",
      },
    ],
    ["a bucket name with dots", "prod", { backupBucketName: "acme.backups-prod" }],
    [
      "data directories of their own",
      "prod",
      { postgresDataPath: "/opt/data/postgres", redisDataPath: "/opt/data/redis" },
    ],
    [
      "data directories under /var/lib and /srv",
      "staging",
      { postgresDataPath: "/var/lib/postgresql/data", redisDataPath: "/srv/redis/" },
    ],
    ["a top-level data mount", "local", { postgresDataPath: "/data" }],
    [
      "every region of the provider's aws partition",
      "prod",
      { backupRegion: "ap-southeast-7", backupReplicaRegion: "mx-central-1" },
    ],
    [
      "GovCloud with its replica",
      "prod",
      { backupRegion: "us-gov-west-1", backupReplicaRegion: "us-gov-east-1" },
    ],
    ["the leap day (fires every four years)", "prod", { backupDrillSchedule: "0 4 29 2 *" }],
    ["the 31st (fires in long months)", "prod", { backupFullSchedule: "0 3 31 * *" }],
    ["February 30 or any Monday (day of week restricted)", "local", { backupFullSchedule: "0 3 30 2 1" }],
    ["steps and ranges", "staging", { backupDiffSchedule: "*/30 1-5 1-15 1,6 1-5" }],
    [
      "an http Teams relay in prod",
      "prod",
      { alertTeamsWebhookUrl: "http://msteams-relay:2000/alertmanager" },
    ],
    [
      "https receivers in prod",
      "prod",
      {
        alertSlackWebhookUrl: "https://hooks.slack.com/services/T/B/x",
        alertDeadMansSwitchUrl: "https://hc-ping.com/uuid",
      },
    ],
    ["http receivers in local", "local", { alertSlackWebhookUrl: "http://127.0.0.1:9000/hook" }],
    [
      "a certificate chain with CRLF line ends",
      "prod",
      { edgeTlsCert: `${PEM_CERT}${PEM_CERT}`.replace(/\n/g, "\r\n") },
    ],
    [
      "an EC key with its parameters",
      "staging",
      {
        edgeTlsKey: `-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${PEM_KEY.replace(/PRIVATE KEY/g, "EC PRIVATE KEY")}`,
      },
    ],
    ["an RSA key", "prod", { edgeTlsKey: PEM_KEY.replace(/PRIVATE KEY/g, "RSA PRIVATE KEY") }],
    ["sizes in both units", "local", { postgresMemory: "1.5g", redisMemory: "384M" }],
  ],
);

// ---------- required keys ----------

checkClass(
  "required keys",
  [
    [
      "prod without a registry",
      "prod",
      { registryServer: undefined, registryUsername: undefined, registryPassword: undefined },
      "registryServer",
      /required in prod/,
    ],
    [
      "a prod slot without a registry",
      "prod-blue",
      { registryServer: undefined, registryUsername: undefined, registryPassword: undefined },
      "registryServer",
      /required in prod.*-s prod-blue\)/,
    ],
    [
      "a registry without a user name",
      "prod",
      { registryUsername: undefined },
      "registryUsername",
      /required when registryServer is set/,
    ],
    [
      "a registry without its token",
      "prod-green",
      { registryPassword: undefined },
      "registryPassword",
      /required when registryServer is set/,
    ],
    [
      "a registry user without a registry",
      "staging",
      { registryUsername: "ci" },
      "registryUsername",
      /only with registryServer/,
    ],
    [
      "a registry token without a registry",
      "local-blue",
      { registryPassword: "t" },
      "registryPassword",
      /only with registryServer/,
    ],
    [
      "prod without its certificate",
      "prod",
      { edgeTlsCert: undefined },
      "edgeTlsCert",
      /required when edgeTlsMode is provided/,
    ],
    [
      "staging without its key",
      "staging",
      { edgeTlsKey: undefined },
      "edgeTlsKey",
      /required when edgeTlsMode is provided/,
    ],
    [
      "a certificate the self-signed mode ignores",
      "local",
      { edgeTlsCert: PEM_CERT },
      "edgeTlsCert",
      /only when edgeTlsMode is provided/,
    ],
    [
      "prod without a critical receiver",
      "prod",
      { alertPagerWebhookUrl: undefined },
      "alertPagerWebhookUrl",
      /critical-alert receiver/,
    ],
    [
      "staging without its public host name",
      "staging",
      { publicHostname: undefined },
      "publicHostname",
      /staging must set the public host name/,
    ],
    ["prod on localhost", "prod", { publicHostname: "localhost" }, "publicHostname", /prod must set/],
    [
      "e-mail without a sender",
      "local",
      { alertEmailTo: '["a@example.com"]', alertSmtpSmarthost: "smtp.example.com:25" },
      "alertEmailFrom",
      /needs alertEmailTo, alertEmailFrom and alertSmtpSmarthost/,
    ],
    [
      "e-mail without a relay",
      "prod",
      { alertEmailTo: '["a@example.com"]', alertEmailFrom: "am@example.com" },
      "alertSmtpSmarthost",
      /needs/,
    ],
    [
      "e-mail without recipients",
      "staging",
      { alertEmailFrom: "am@example.com", alertSmtpSmarthost: "smtp.example.com:25" },
      "alertEmailTo",
      /needs/,
    ],
    [
      "an SMTP user without e-mail",
      "staging",
      { alertSmtpUsername: "am" },
      "alertSmtpUsername",
      /only with alert e-mail/,
    ],
    [
      "an SMTP password without e-mail",
      "prod",
      { alertSmtpPassword: "p" },
      "alertSmtpPassword",
      /only with alert e-mail/,
    ],
    [
      "an SMTP user without its password",
      "prod",
      {
        alertEmailTo: '["a@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:587",
        alertSmtpUsername: "alertmanager@example.com",
      },
      "alertSmtpPassword",
      /required when alertSmtpUsername is set/,
    ],
  ],
  [
    ["staging building on its Docker host", "staging", {}],
    ["a local stack with nothing set", "local", {}],
    [
      "prod paging by e-mail only",
      "prod",
      {
        alertPagerWebhookUrl: undefined,
        alertEmailTo: '["oncall@example.com"]',
        alertEmailFrom: "am@example.com",
        alertSmtpSmarthost: "smtp.example.com:587",
      },
    ],
    ["a staging slot without any secret", "staging-blue", {}],
    ["a prod slot with only its registry secret", "prod-blue", {}],
  ],
);

checkClass(
  "edge overload limits (per-server maxconn, queue timeout)",
  [
    ["a per-server limit of 0", "prod", { edgeServerMaxConn: "0" }, "edgeServerMaxConn", /from 1 to 10000/],
    [
      "a per-server limit in words",
      "local",
      { edgeServerMaxConn: "many" },
      "edgeServerMaxConn",
      /whole number/,
    ],
    [
      "a per-server limit above what the edge's open files allow",
      "staging",
      { containerOpenFilesLimit: "4096", edgeServerMaxConn: "2000" },
      "edgeServerMaxConn",
      /at most 1548, the edge's whole connection limit with containerOpenFilesLimit 4096 \(got 2000\)/,
    ],
    [
      "a queue timeout of 0 s",
      "prod",
      { edgeQueueTimeoutSeconds: "0" },
      "edgeQueueTimeoutSeconds",
      /from 1 to 300/,
    ],
    [
      "a per-server limit in a slot stack (the edge is the env stack's)",
      "prod-blue",
      { edgeServerMaxConn: "32" },
      "edgeServerMaxConn",
      /env/,
    ],
  ],
  [
    ["the defaults", "prod", {}],
    [
      "a small replica's limit and a short queue",
      "local",
      { edgeServerMaxConn: "8", edgeQueueTimeoutSeconds: "3" },
    ],
    [
      "a per-server limit equal to the edge's whole limit",
      "staging",
      { containerOpenFilesLimit: "4096", edgeServerMaxConn: "1548" },
    ],
  ],
);

describe("edge overload limits reach the typed config", () => {
  it("defaults to 64 requests per replica and a 10 s queue", () => {
    expect(parse("prod").edge).toMatchObject({ serverMaxConn: 64, queueTimeoutSeconds: 10 });
  });

  it("takes the configured values", () => {
    expect(parse("local", { edgeServerMaxConn: "8", edgeQueueTimeoutSeconds: "3" }).edge).toMatchObject({
      serverMaxConn: 8,
      queueTimeoutSeconds: 3,
    });
  });
});

describe("every problem in one run", () => {
  it("names a bad key of every class at once, with the stack file and what was expected", () => {
    const overrides = {
      environment: "staging",
      backupCloudRetentionDays: "30",
      backupRepoEncryption: "false",
      dockerHost: "tcp://docker-prod-1.example.com:2375",
      "backend-infr:postgresMemory": "8g",
      postgresMemroy: "8g",
      backendReplicas: "3",
      publicHostname: "api.example.com\nx",
      backupRegion: "eu-west-9",
      backupFullSchedule: "0 3 30 2 *",
      registryServer: undefined,
      registryUsername: undefined,
      registryPassword: undefined,
    };
    let message = "";
    try {
      parse("prod", overrides);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^Invalid configuration for stack "prod" in Pulumi\.prod\.yaml \(11 problems\):/);
    for (const key of [
      "backend-infra:environment",
      "backend-infra:backupCloudRetentionDays",
      "backend-infra:backupRepoEncryption",
      "backend-infra:dockerHost",
      "backend-infr:postgresMemory",
      "backend-infra:postgresMemroy",
      "backend-infra:backendReplicas",
      "backend-infra:publicHostname",
      "backend-infra:backupRegion",
      "backend-infra:backupFullSchedule",
      "backend-infra:registryServer",
    ])
      expect(message).toContain(`  - ${key}: `);
    // What was expected, in every line.
    for (const line of message.split("\n").slice(1))
      expect(line).toMatch(/expected|must|required|contradicts|applies|did you mean/);
  });

  it("names the stack file it was given", () => {
    expect(() =>
      parseConfig({ ...rawOf("local", { postgresMemory: "lots" }), file: "/tmp/stacks/Pulumi.local.yaml" }),
    ).toThrowError(/in \/tmp\/stacks\/Pulumi\.local\.yaml/);
  });

  it("keeps checking every key when the stack name is unknown", () => {
    const issues = issuesOf("dev", { postgresMemory: "lots", "backend-infr:x": "1" });
    expect(issues.map((i) => i.key).sort()).toEqual([
      "backend-infr:x",
      "backend-infra:environment",
      "backend-infra:postgresMemory",
    ]);
  });
});

describe("declared defaults under the real engine", () => {
  it("does not mistake a Pulumi.yaml default that the engine passes for a key the slot set", () => {
    // The engine passes dockerHost's declared default to every stack, slot stacks included.
    const raw = { ...rawOf("local-blue", { dockerHost: "unix:///var/run/docker.sock", edgeHttpPort: "80" }) };
    expect(() => parseConfig({ ...raw, includesDeclaredDefaults: true })).not.toThrow();
    // The offline plan reads only the stack file: there the same keys were set by the file.
    expect(() => parseConfig(raw)).toThrowError(/dockerHost: applies to env stacks only/);
    // A value other than the default was set by the stack file either way.
    expect(() =>
      parseConfig({ ...rawOf("local-blue", { edgeHttpPort: "8080" }), includesDeclaredDefaults: true }),
    ).toThrowError(/edgeHttpPort: applies to env stacks only/);
  });
});
