import { describe, expect, it } from "vitest";
import * as secrets from "../../../policies/rules/secrets";
import { SECRETS_MARKED_TAG, SecretValue } from "../../../policies/rules/values";
import { CONTAINER, checkResource, checkStack, hardenedContainer, type StackResource } from "./support";

const GENERATED = "Zq3xY8vW2tR6nM1kP9sL4hJ7";
const password: StackResource = {
  type: secrets.RANDOM_PASSWORD,
  name: "postgres-password",
  props: { length: 32, special: false, result: GENERATED },
};
const app = (envs: unknown[]): StackResource => ({
  type: CONTAINER,
  name: "backend",
  props: hardenedContainer({ envs }),
});

describe("isSensitiveName", () => {
  it.each([
    ["POSTGRES_PASSWORD", true],
    ["REDIS_PASS", true],
    ["API_TOKEN", true],
    ["AWS_SECRET_ACCESS_KEY", true],
    ["PGBACKREST_REPO2_S3_KEY_SECRET", true],
    ["apiKey", true],
    ["grafanaAdminPassword", true],
    ["POSTGRES_PASSWORD_FILE", false],
    ["GF_SECURITY_ADMIN_PASSWORD__FILE", false],
    ["AWS_ACCESS_KEY_ID", false],
    ["kmsKeyArn", false],
    ["NODE_ENV", false],
    ["PORT", false],
    ["passwordLength", false],
    ["REDISCLI_AUTH", true],
    ["PGBACKREST_REPO2_S3_KEY", false],
    ["PGBACKREST_REPO2_S3_KEY_SECRET", true],
    ["PGBACKREST_REPO1_CIPHER_PASS", true],
    ["GF_AUTH_ANONYMOUS_ENABLED", false],
  ])("%s -> %s", (name, expected) => {
    expect(secrets.isSensitiveName(name)).toBe(expected);
  });
});

describe("random-password-length", () => {
  const policy = secrets.randomPasswordLength;
  it("passes 24 and more", async () => {
    expect(await checkResource(policy, secrets.RANDOM_PASSWORD, { length: 24 })).toEqual({
      violations: [],
      notApplicable: undefined,
    });
  });
  it("fails shorter or missing lengths, with a configurable minimum", async () => {
    expect((await checkResource(policy, secrets.RANDOM_PASSWORD, { length: 16 })).violations[0]).toMatch(
      /length 16; at least 24/,
    );
    expect((await checkResource(policy, secrets.RANDOM_PASSWORD, {})).violations[0]).toMatch(
      /length undefined/,
    );
    const strict = await checkResource(
      policy,
      secrets.RANDOM_PASSWORD,
      { length: 32 },
      { config: { minLength: 40 } },
    );
    expect(strict.violations[0]).toMatch(/at least 40/);
  });
  it("is not applicable to other types", async () => {
    expect(
      (await checkResource(policy, "random:index/randomString:RandomString", { length: 4 })).notApplicable,
    ).toBeDefined();
  });
});

describe("container-env-no-plaintext-secrets", () => {
  const policy = secrets.containerEnvNoPlaintextSecrets;
  it("passes generated secrets (whole value or inside a URL), *_FILE paths, empty values and plain settings", async () => {
    const outcome = await checkStack(policy, [
      password,
      app([
        `POSTGRES_PASSWORD=${GENERATED}`,
        `DATABASE_URL=postgres://app:${GENERATED}@postgres:5432/app`,
        "REDIS_PASSWORD_FILE=/run/secrets/redis",
        "SMTP_PASSWORD=",
        "NODE_ENV=production",
        `MINIO_KMS_SECRET_KEY=backups:${Buffer.from(GENERATED).toString("base64")}`,
        `SESSION_SECRET=${Buffer.from(GENERATED).toString("hex")}`,
        new SecretValue("API_TOKEN=whatever"),
      ]),
    ]);
    expect(outcome).toEqual({ violations: [], urns: [], notApplicable: undefined });
  });
  it("passes secrets read from the env stack's sensitive or secret outputs (slot stacks)", async () => {
    const ref: StackResource = {
      type: secrets.STACK_REFERENCE,
      name: "env",
      props: {
        name: "org/backend-infra/prod",
        outputs: { postgres: { password: "from-env-stack-pw-123" }, redis: { auth: "redis-auth-secret-1" } },
        secretOutputNames: ["redis"],
      },
    };
    const outcome = await checkStack(policy, [
      ref,
      app(["PGPASSWORD=from-env-stack-pw-123", "REDIS_PASSWORD=redis-auth-secret-1"]),
    ]);
    expect(outcome.violations).toEqual([]);
  });
  it("passes a generated password percent-encoded in a URL (as the slot's DATABASE_URL carries it)", async () => {
    const special = "p@ss:w/rd#with%special?chars";
    const ref: StackResource = {
      type: secrets.STACK_REFERENCE,
      name: "env",
      props: {
        name: "org/backend-infra/local",
        outputs: { postgres: { password: special } },
        secretOutputNames: [],
      },
    };
    const url = `DATABASE_URL=postgres://app:${encodeURIComponent(special)}@postgres:5432/app`;
    expect((await checkStack(policy, [ref, app([url])])).violations).toEqual([]);
    // Without the reference it is a literal.
    expect((await checkStack(policy, [app([url])])).violations).toEqual([
      expect.stringMatching(/sets DATABASE_URL to a URL with a literal password/),
    ]);
  });
  it("fails literal secrets and URL passwords, naming container and variable", async () => {
    const outcome = await checkStack(policy, [
      password,
      app(["POSTGRES_PASSWORD=hunter2hunter2", "API_KEY=abc", "DATABASE_URL=postgres://app:literal@db/app"]),
    ]);
    expect(outcome.violations).toEqual([
      expect.stringMatching(
        /container "backend-infra-prod-backend-blue" \(backend\) sets POSTGRES_PASSWORD to a literal value/,
      ),
      expect.stringMatching(/sets API_KEY to a literal value/),
      expect.stringMatching(/sets DATABASE_URL to a URL with a literal password/),
    ]);
    expect(outcome.urns[0]).toMatch(/::backend$/);
  });
  it("allows configured exceptions", async () => {
    const outcome = await checkStack(policy, [app(["GF_AUTH_TOKEN=dev-token"])], {
      config: { allowedEnvNames: ["GF_AUTH_TOKEN"] },
    });
    expect(outcome.violations).toEqual([]);
  });
  it("a short generated value does not whitelist everything that contains it", async () => {
    const tiny: StackResource = {
      type: secrets.RANDOM_PASSWORD,
      name: "tiny",
      props: { length: 2, result: "ab" },
    };
    const outcome = await checkStack(policy, [tiny, app(["ADMIN_PASSWORD=abcdef123"])]);
    expect(outcome.violations).toHaveLength(1);
  });
  it("is not applicable without containers", async () => {
    expect((await checkStack(policy, [password])).notApplicable).toMatch(/no container/);
  });
});

describe("stack-outputs-sensitive-secret", () => {
  const policy = secrets.stackOutputsSensitiveSecret;
  const stack = (outputs: Record<string, unknown>): StackResource => ({
    type: secrets.STACK,
    name: "backend-infra-prod",
    props: outputs,
  });
  const marked = { tags: { [SECRETS_MARKED_TAG]: "true" } };
  it("passes secret sensitive outputs (whole object or leaf) and non-sensitive plain ones", async () => {
    const outcome = await checkStack(
      policy,
      [
        stack({
          postgres: {
            host: "postgres",
            port: 5432,
            user: "app",
            password: new SecretValue("pw"),
            stanza: "main",
          },
          redis: new SecretValue({ host: "redis", password: "pw" }),
          backups: { bucket: "b", kmsKeyArn: "arn:aws:kms:..." },
          monitoring: { enabled: false },
        }),
      ],
      marked,
    );
    expect(outcome).toEqual({ violations: [], urns: [], notApplicable: undefined });
  });
  it("fails a plain password and a plain token, with their paths", async () => {
    const outcome = await checkStack(
      policy,
      [
        stack({
          postgres: { password: "pw" },
          monitoring: { grafanaAdminPassword: "admin" },
          tokens: [{ apiToken: "t" }],
        }),
      ],
      marked,
    );
    expect(outcome.violations).toEqual([
      "stack output postgres.password is not a secret",
      "stack output monitoring.grafanaAdminPassword is not a secret",
      "stack output tokens[0].apiToken is not a secret",
    ]);
    expect(outcome.urns[0]).toMatch(/pulumi:pulumi:Stack::backend-infra-prod$/);
  });
  it("honours ignoreOutputs", async () => {
    const outcome = await checkStack(policy, [stack({ postgres: { password: "pw" } })], {
      ...marked,
      config: { ignoreOutputs: ["postgres.password"] },
    });
    expect(outcome.violations).toEqual([]);
  });
  it("is not applicable under the real engine (secrets unwrapped, no marker tag) or without a root stack", async () => {
    expect((await checkStack(policy, [stack({ postgres: { password: "pw" } })])).notApplicable).toMatch(
      /offline plan/,
    );
    expect((await checkStack(policy, [password], marked)).notApplicable).toMatch(/no root stack/);
  });
});
