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
    // Joined spellings (issue 16): the sensitive word inside one word.
    ["PGPASSWORD", true],
    ["DBPASSWORD", true],
    ["DBPASS", true],
    ["DB_PASSWD", true],
    ["MYSQL_PWD", true],
    ["APIKEY", true],
    ["STRIPE_APIKEY", true],
    ["MYSECRETKEY", true],
    ["JWTSECRET", true],
    ["GITHUBTOKEN", true],
    ["REDISAUTH", true],
    ["dbPassword", true],
    ["AWS_SESSION_TOKEN", true],
    ["PGPASSFILE", false],
    ["PASSWORDFILE", false],
    ["TOKEN_TTL", false],
    ["SECRETS_MANAGER_REGION", false],
    ["POSTGRES_HOST_AUTH_METHOD", false],
    ["S3_KMS_KEY_ID", false],
    ["SSH_PUBLIC_KEY", false],
    ["CACHE_BYPASS", false],
    ["OAUTH", false],
    ["PWD", false],
    ["OLDPWD", false],
    ["TOKENIZERS_PARALLELISM", false],
    ["MAX_TOKENS", false],
    ["PASSWORDLESS_LOGIN", false],
    ["SLACKBOTTOKEN", true],
    ["CIPHERPASS", true],
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
  it("fails a long password over too few characters (entropy), with a configurable minimum", async () => {
    const digits = { length: 30, upper: false, lower: false, special: false };
    expect((await checkResource(policy, secrets.RANDOM_PASSWORD, digits)).violations).toEqual([
      expect.stringMatching(/RandomPassword "subject" has 99 bits of entropy .*at least 128/),
    ]);
    const oneClass = { length: 24, upper: false, numeric: false, special: false };
    expect((await checkResource(policy, secrets.RANDOM_PASSWORD, oneClass)).violations).toHaveLength(1);
    const numberAlias = { length: 26, upper: false, lower: false, number: true, special: false };
    expect((await checkResource(policy, secrets.RANDOM_PASSWORD, numberAlias)).violations).toHaveLength(1);
    const nothing = { length: 40, upper: false, lower: false, numeric: false, special: false };
    expect((await checkResource(policy, secrets.RANDOM_PASSWORD, nothing)).violations[0]).toMatch(/0 bits/);
    // The program's passwords: 40 of [A-Za-z0-9-_], 32 alphanumeric, MinIO's 42 base64 characters.
    for (const ok of [
      { length: 40, special: true, overrideSpecial: "-_", minUpper: 2, minLower: 2, minNumeric: 2 },
      { length: 32, special: false },
      { length: 42, upper: true, lower: true, numeric: true, special: true, overrideSpecial: "+/" },
    ]) {
      expect((await checkResource(policy, secrets.RANDOM_PASSWORD, ok)).violations).toEqual([]);
    }
    const strict = await checkResource(
      policy,
      secrets.RANDOM_PASSWORD,
      { length: 32, special: false },
      { config: { minEntropyBits: 200 } },
    );
    expect(strict.violations[0]).toMatch(/190 bits.*at least 200/);
  });
  it("is not applicable to other types", async () => {
    expect(
      (await checkResource(policy, "random:index/randomString:RandomString", { length: 4 })).notApplicable,
    ).toBeDefined();
  });
});

describe("random-string-not-secret", () => {
  const policy = secrets.randomStringNotSecret;
  const randomString = (name: string, props: Record<string, unknown>): StackResource => ({
    type: secrets.RANDOM_STRING,
    name,
    props,
  });
  // components/backup-storage.ts: MinIO's root user (an access key id), not a secret.
  const minioUser = randomString("backup-storage-minio-user", {
    length: 20,
    special: false,
    upper: false,
    result: "k3v9q2x7m1p8z4r6t0ya",
  });
  it("passes a RandomString for a user name or suffix (the MinIO root user, used as MINIO_ROOT_USER and AWS_ACCESS_KEY_ID)", async () => {
    const outcome = await checkStack(policy, [
      minioUser,
      randomString("bucket-suffix", { length: 6, special: true, overrideSpecial: "-", result: "ab-cd1" }),
      app(["MINIO_ROOT_USER=k3v9q2x7m1p8z4r6t0ya", "AWS_ACCESS_KEY_ID=k3v9q2x7m1p8z4r6t0ya"]),
      {
        type: secrets.STACK,
        name: "stack",
        props: { backups: { restoreAccessKeyId: "k3v9q2x7m1p8z4r6t0ya" } },
      },
    ]);
    expect(outcome).toEqual({ violations: [], urns: [], notApplicable: undefined });
  });
  it("fails a RandomString named like a secret", async () => {
    for (const name of ["db-password", "api-token", "jwtSecret", "grafana-admin-pass", "encryption-key"]) {
      const outcome = await checkStack(policy, [randomString(name, { length: 32, special: false })]);
      expect(outcome.violations, name).toEqual([
        `RandomString "${name}" is named like a secret; generate secrets with RandomPassword`,
      ]);
      expect(outcome.urns[0]).toMatch(new RegExp(`randomString:RandomString::${name}$`));
    }
  });
  it("fails a RandomString with password-like special characters (the provider's default)", async () => {
    const outcome = await checkStack(policy, [
      randomString("generated", { length: 24 }),
      randomString("generated-2", { length: 24, special: true, overrideSpecial: "!#%" }),
    ]);
    expect(outcome.violations).toEqual([
      expect.stringMatching(
        /RandomString "generated" has special characters \(special: true \(default\)\), so it is a password/,
      ),
      expect.stringMatching(/RandomString "generated-2" has special characters/),
    ]);
  });
  it("fails a RandomString whose result is used as a secret (env var, URL password, property, stack output)", async () => {
    const value = "Zq3xY8vW2tR6nM1kP9sL4hJ7";
    const plain = (name: string) => randomString(name, { length: 24, special: false, result: value });
    const uses: [string, StackResource][] = [
      ["backend POSTGRES_PASSWORD", app([`POSTGRES_PASSWORD=${value}`])],
      ["backend DATABASE_URL", app([`DATABASE_URL=postgres://app:${value}@postgres:5432/app`])],
      [
        "db masterPassword",
        { type: "aws:rds/instance:Instance", name: "db", props: { username: "app", masterPassword: value } },
      ],
      [
        "stack output redis.password",
        { type: secrets.STACK, name: "stack", props: { redis: { password: value } } },
      ],
    ];
    for (const [where, user] of uses) {
      const outcome = await checkStack(policy, [plain("generated"), user]);
      expect(outcome.violations, where).toEqual([
        `RandomString "generated" is used as a secret (${where}); use RandomPassword`,
      ]);
    }
  });
  it("values unknown during a first preview are not checkable; no RandomString is not applicable", async () => {
    const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    const unknown = randomString("generated", {
      length: 24,
      special: UNKNOWN_STRING,
      result: UNKNOWN_STRING,
    });
    expect((await checkStack(policy, [unknown, app(["POSTGRES_PASSWORD=x"])])).violations).toEqual([]);
    expect((await checkStack(policy, [password])).notApplicable).toMatch(/no RandomString/);
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
  it("fails joined names (PGPASSWORD, DBPASS, APIKEY), connection strings and passwords from a RandomString", async () => {
    const weak: StackResource = {
      type: secrets.RANDOM_STRING,
      name: "db-suffix",
      props: { length: 24, special: false, result: "Ab3dEf6hIj9kLm2nOp5qRs8t" },
    };
    const outcome = await checkStack(policy, [
      password,
      weak,
      app([
        "PGPASSWORD=hunter2hunter2",
        "DBPASS=hunter2",
        "APIKEY=abc123",
        "MYSQL_PWD=root",
        "REDIS_URL=redis://:literal-password@redis:6379/0",
        "JDBC_URL=jdbc:postgresql://db:5432/app?user=app&password=literal",
        "PG_DSN=host=db user=app password=literal dbname=app",
        "ADMIN_PASSWORD=Ab3dEf6hIj9kLm2nOp5qRs8t",
      ]),
    ]);
    expect(outcome.violations).toEqual([
      expect.stringMatching(/sets PGPASSWORD to a literal value/),
      expect.stringMatching(/sets DBPASS to a literal value/),
      expect.stringMatching(/sets APIKEY to a literal value/),
      expect.stringMatching(/sets MYSQL_PWD to a literal value/),
      expect.stringMatching(/sets REDIS_URL to a URL with a literal password/),
      expect.stringMatching(/sets JDBC_URL to a connection string with a literal password/),
      expect.stringMatching(/sets PG_DSN to a connection string with a literal password/),
      expect.stringMatching(
        /sets ADMIN_PASSWORD from RandomString "db-suffix", whose result is stored unencrypted in the state; generate it with RandomPassword/,
      ),
    ]);
  });
  it("passes generated passwords under joined names and variable references in URLs", async () => {
    const outcome = await checkStack(policy, [
      password,
      app([
        `PGPASSWORD=${GENERATED}`,
        `DBPASS=${GENERATED}`,
        `DATA_SOURCE_NAME=postgresql://monitor:${GENERATED}@postgres:5432/app?sslmode=disable`,
        "MC_HOST_local=https://$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD@localhost:9000",
        "PGPASSFILE=/run/secrets/pgpass",
        "S3_KMS_KEY_ID=arn:aws:kms:eu-west-1:1:key/x",
        "POSTGRES_HOST_AUTH_METHOD=scram-sha-256",
      ]),
    ]);
    expect(outcome.violations).toEqual([]);
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
  it("fails any output that embeds a credential, whatever its name, unless it is secret", async () => {
    const outcome = await checkStack(
      policy,
      [
        password,
        stack({
          postgres: { connection: `postgresql://app:${GENERATED}@postgres:5432/app` },
          cache: { endpoint: "redis://:literal-pass@redis:6379/0" },
          dsn: "host=db user=app password=literal",
          admin: { login: `admin / ${GENERATED}` },
          safe: new SecretValue({ url: `postgresql://app:${GENERATED}@postgres:5432/app` }),
          readerUrl: "postgresql://app@postgres:5432/app",
          edge: { url: "https://api.example.com" },
        }),
      ],
      marked,
    );
    expect(outcome.violations).toEqual([
      "stack output postgres.connection embeds a password (URL or connection string) and is not a secret",
      "stack output cache.endpoint embeds a password (URL or connection string) and is not a secret",
      "stack output dsn embeds a password (URL or connection string) and is not a secret",
      "stack output admin.login contains a generated secret and is not a secret",
    ]);
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
