/**
 * The backup bucket component (issue 5, items 1 and 5) in the whole program under mocks:
 * prod (replica in a second region, Object Lock), staging (one bucket) and local (MinIO).
 * Policy documents are read back from the resource inputs, parsed, and checked with the
 * same conservative evaluator as the pure tests.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runProgram, type PlanResult, type PlannedResource } from "../harness/run-program";
import {
  FORBIDDEN_KMS_ACTIONS,
  FORBIDDEN_S3_ACTIONS,
  allowedPatternsMatching,
  evaluate,
  type PolicyDocument,
} from "../../lib/iam-policies";
import { rulesExpiringCurrentVersionsUnder, type LifecycleRule } from "../../lib/backup-lifecycle";

const T = {
  component: "backend-infra:backup:BackupStorage",
  provider: "pulumi:providers:aws",
  bucket: "aws:s3/bucket:Bucket",
  sse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  versioning: "aws:s3/bucketVersioning:BucketVersioning",
  pab: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
  policy: "aws:s3/bucketPolicy:BucketPolicy",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  lock: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
  replication: "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
  key: "aws:kms/key:Key",
  alias: "aws:kms/alias:Alias",
  user: "aws:iam/user:User",
  userPolicy: "aws:iam/userPolicy:UserPolicy",
  iamPolicy: "aws:iam/policy:Policy",
  attachment: "aws:iam/userPolicyAttachment:UserPolicyAttachment",
  accessKey: "aws:iam/accessKey:AccessKey",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  container: "docker:index/container:Container",
  volume: "docker:index/volume:Volume",
} as const;

const ofType = (plan: PlanResult, type: string) => plan.resources.filter((r) => r.type === type);
function one(plan: PlanResult, type: string, name: string): PlannedResource {
  const found = plan.resources.filter((r) => r.type === type && r.name === name);
  if (found.length !== 1) {
    const names = ofType(plan, type).map((r) => r.name);
    throw new Error(`expected one ${type} named ${name}, found ${found.length} (have: ${names.join(", ")})`);
  }
  return found[0];
}
const str = (value: unknown) => value as string;
const doc = (r: PlannedResource, field: string) => JSON.parse(str(r.inputs[field])) as PolicyDocument;

/** The side resources of one bucket, all pointing at it by name. */
function bucketSet(plan: PlanResult, id: string) {
  const bucket = one(plan, T.bucket, `${id}-bucket`);
  const name = str(bucket.outputs.bucket);
  const side = (type: string, suffix: string) => {
    const r = one(plan, type, `${id}-${suffix}`);
    expect(r.inputs.bucket, `${type} ${id}-${suffix} targets its bucket`).toBe(name);
    return r;
  };
  return {
    bucket,
    name,
    arn: str(bucket.outputs.arn),
    key: one(plan, T.key, `${id}-key`),
    alias: one(plan, T.alias, `${id}-key`),
    sse: side(T.sse, "encryption"),
    versioning: side(T.versioning, "versioning"),
    pab: side(T.pab, "public-access"),
    ownership: side(T.ownership, "ownership"),
    policy: side(T.policy, "policy"),
    lifecycle: side(T.lifecycle, "lifecycle"),
  };
}

/** Every resource whose parent chain reaches the BackupStorage component. */
function insideComponent(plan: PlanResult): PlannedResource[] {
  const component = ofType(plan, T.component);
  expect(component).toHaveLength(1);
  const byUrn = new Map(plan.resources.map((r) => [r.urn, r]));
  const inside = (r: PlannedResource): boolean => {
    for (let p = r.parent; p; p = byUrn.get(p)?.parent) if (p === component[0].urn) return true;
    return false;
  };
  return plan.resources.filter(inside);
}

function checkHardenedBucket(set: ReturnType<typeof bucketSet>, retentionDays: number) {
  const keyArn = str(set.key.outputs.arn);
  expect(set.key.inputs).toMatchObject({ enableKeyRotation: true, deletionWindowInDays: 30 });
  expect(set.alias.inputs.targetKeyId).toBe(set.key.outputs.keyId);
  expect(str(set.alias.inputs.name)).toMatch(/^alias\/backend-infra-(prod|staging)-backups/);
  expect(set.bucket.inputs.forceDestroy).toBe(false);

  expect(set.sse.inputs.rules).toEqual([
    {
      applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: keyArn },
      bucketKeyEnabled: true,
    },
  ]);
  expect(set.versioning.inputs.versioningConfiguration).toEqual({ status: "Enabled" });
  expect(set.pab.inputs).toMatchObject({
    blockPublicAcls: true,
    blockPublicPolicy: true,
    ignorePublicAcls: true,
    restrictPublicBuckets: true,
  });
  expect(set.ownership.inputs.rule).toEqual({ objectOwnership: "BucketOwnerEnforced" });

  const policy = doc(set.policy, "policy");
  const sids = policy.Statement.map((s) => s.Sid);
  expect(sids).toEqual(
    expect.arrayContaining([
      "DenyInsecureTransport",
      "DenyNonKmsEncryption",
      "DenyOtherKmsKeys",
      "DenyCustomerProvidedKeys",
    ]),
  );
  expect(policy.Statement.every((s) => s.Effect === "Deny")).toBe(true);
  const tls = policy.Statement.find((s) => s.Sid === "DenyInsecureTransport");
  expect(tls?.Resource).toEqual([set.arn, `${set.arn}/*`]);
  expect(tls?.Condition).toEqual({ Bool: { "aws:SecureTransport": "false" } });
  expect(policy.Statement.find((s) => s.Sid === "DenyOtherKmsKeys")?.Condition).toEqual({
    StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArn },
  });
  // The policy only lands after public access block and ownership controls.
  expect(set.policy.dependencies).toEqual(expect.arrayContaining([set.pab.urn, set.ownership.urn]));

  const rules = set.lifecycle.inputs.rules as LifecycleRule[];
  expect(rulesExpiringCurrentVersionsUnder(rules, "pgbackrest/")).toEqual([]);
  expect(
    rules.find((r) => r.id === "abort-incomplete-multipart-uploads")?.abortIncompleteMultipartUpload,
  ).toEqual({
    daysAfterInitiation: 7,
  });
  expect(rules.find((r) => r.id === "expire-noncurrent-versions")?.noncurrentVersionExpiration).toEqual({
    noncurrentDays: 30,
  });
  for (const prefix of ["logical/", "redis/", "config/"]) {
    expect(rules.find((r) => r.filter.prefix === prefix)?.expiration).toEqual({ days: retentionDays });
  }
  expect(set.lifecycle.dependencies).toContain(set.versioning.urn);
}

/** The managed policy attached to the user `name` (and nothing inline). */
function attachedPolicy(plan: PlanResult, name: string): PolicyDocument {
  const user = one(plan, T.user, name);
  const policy = one(plan, T.iamPolicy, name);
  const attachment = one(plan, T.attachment, name);
  expect(attachment.inputs).toEqual({ user: user.outputs.name, policyArn: policy.outputs.arn });
  expect(policy.inputs.path).toBe("/backend-infra/");
  expect(ofType(plan, T.userPolicy).filter((p) => p.inputs.user === user.outputs.name)).toEqual([]);
  return doc(policy, "policy");
}

function checkWriterPolicy(plan: PlanResult, bucketArn: string, keyArn: string, otherBucketArns: string[]) {
  const writer = one(plan, T.user, "backup-storage-writer");
  expect(writer.inputs.name).toMatch(/-backup-writer$/);
  const policy = attachedPolicy(plan, "backup-storage-writer");
  expect(allowedPatternsMatching(policy, FORBIDDEN_S3_ACTIONS)).toEqual([]);
  for (const action of FORBIDDEN_S3_ACTIONS) {
    expect(evaluate(policy, action, bucketArn), action).toBe("explicit-deny");
    expect(evaluate(policy, action, `${bucketArn}/pgbackrest/archive/main/x`), action).toBe("explicit-deny");
  }
  for (const action of FORBIDDEN_KMS_ACTIONS)
    expect(evaluate(policy, action, keyArn), action).toBe("explicit-deny");
  for (const prefix of ["pgbackrest/", "logical/", "redis/"]) {
    expect(evaluate(policy, "s3:PutObject", `${bucketArn}/${prefix}f`)).toBe("allow");
    expect(evaluate(policy, "s3:DeleteObject", `${bucketArn}/${prefix}f`)).toBe("allow");
  }
  expect(evaluate(policy, "kms:GenerateDataKey", keyArn)).toBe("allow");
  for (const other of otherBucketArns)
    expect(evaluate(policy, "s3:GetObject", `${other}/logical/x`)).toBe("implicit-deny");
}

describe("prod: primary + replica in another region, Object Lock", () => {
  let plan: PlanResult;
  beforeAll(async () => {
    plan = await runProgram("prod");
  });

  it("creates every backup resource inside the BackupStorage component", () => {
    const mine = insideComponent(plan);
    const awsTypes = plan.resources.filter((r) => r.type.startsWith("aws:") || r.type === T.provider);
    expect(awsTypes.length).toBeGreaterThan(20);
    expect(awsTypes.filter((r) => !mine.includes(r)).map((r) => r.name)).toEqual([]);
    expect(ofType(plan, T.container).filter((r) => r.name.includes("minio"))).toEqual([]);
  });

  it("has one aws provider per region", () => {
    const regions = ofType(plan, T.provider)
      .filter((p) => p.name.startsWith("backup-storage"))
      .map((p) => p.inputs.region)
      .sort();
    expect(regions).toEqual(["eu-central-1", "eu-west-1"]);
  });

  it("hardens both buckets: SSE-KMS with a rotated key, versioning, PAB, no ACLs, deny policy, lifecycle", () => {
    const primary = bucketSet(plan, "backup-storage-primary");
    const replica = bucketSet(plan, "backup-storage-replica");
    expect(primary.bucket.inputs.bucketPrefix).toBe("backend-infra-prod-backup-");
    expect(replica.bucket.inputs.bucketPrefix).toBe("backend-infra-prod-replica-");
    expect(primary.key.outputs.arn).not.toBe(replica.key.outputs.arn);
    // Each key lives in its bucket's region (S3 replication needs a key in the replica's region).
    expect(str(primary.key.outputs.arn)).toMatch(/^arn:aws:kms:eu-west-1:/);
    expect(str(replica.key.outputs.arn)).toMatch(/^arn:aws:kms:eu-central-1:/);
    checkHardenedBucket(primary, 90);
    checkHardenedBucket(replica, 90);
  });

  it("enables Object Lock on both buckets and a GOVERNANCE default retention on the primary", () => {
    // Through the lock configuration: the bucket's own objectLockEnabled would force a new bucket
    // when the setting is turned on later.
    for (const id of ["primary", "replica"])
      expect(one(plan, T.bucket, `backup-storage-${id}-bucket`).inputs.objectLockEnabled).toBeUndefined();
    const primaryLock = one(plan, T.lock, "backup-storage-primary-object-lock");
    const replicaLock = one(plan, T.lock, "backup-storage-replica-object-lock");
    expect(primaryLock.inputs).toMatchObject({
      objectLockEnabled: "Enabled",
      rule: { defaultRetention: { mode: "GOVERNANCE", days: 30 } },
    });
    expect(replicaLock.inputs.objectLockEnabled).toBe("Enabled");
    expect(replicaLock.inputs.rule).toBeUndefined(); // replicated versions keep the source's retention
    for (const lock of [primaryLock, replicaLock])
      expect(lock.dependencies).toContain(
        one(plan, T.versioning, lock.name.replace("object-lock", "versioning")).urn,
      );
    expect(one(plan, T.replication, "backup-storage-replication").dependencies).toContain(replicaLock.urn);
  });

  it("replicates everything, incl. SSE-KMS objects and delete markers, re-encrypted with the replica key", () => {
    const primary = bucketSet(plan, "backup-storage-primary");
    const replica = bucketSet(plan, "backup-storage-replica");
    const role = one(plan, T.role, "backup-storage-replication");
    const config = one(plan, T.replication, "backup-storage-replication");
    expect(config.inputs.bucket).toBe(primary.name);
    expect(config.inputs.role).toBe(role.outputs.arn);
    expect(config.inputs.rules).toEqual([
      {
        id: "replicate-everything",
        status: "Enabled",
        priority: 1,
        filter: { prefix: "" },
        deleteMarkerReplication: { status: "Enabled" },
        sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
        destination: {
          bucket: replica.arn,
          storageClass: "STANDARD",
          encryptionConfiguration: { replicaKmsKeyId: replica.key.outputs.arn },
        },
      },
    ]);
    // Replication needs versioning on both sides first.
    expect(config.dependencies).toEqual(
      expect.arrayContaining([primary.versioning.urn, replica.versioning.urn]),
    );
  });

  it("gives the replication role least privilege, assumable by S3 only", () => {
    const primary = bucketSet(plan, "backup-storage-primary");
    const replica = bucketSet(plan, "backup-storage-replica");
    const trust = doc(one(plan, T.role, "backup-storage-replication"), "assumeRolePolicy");
    expect(trust.Statement).toHaveLength(1);
    expect(trust.Statement[0]).toMatchObject({ Effect: "Allow", Principal: { Service: "s3.amazonaws.com" } });
    const policy = doc(one(plan, T.rolePolicy, "backup-storage-replication"), "policy");
    expect(
      allowedPatternsMatching(policy, [...FORBIDDEN_S3_ACTIONS, "s3:PutObject", "s3:DeleteObject"]),
    ).toEqual([]);
    expect(evaluate(policy, "s3:GetObjectVersionForReplication", `${primary.arn}/pgbackrest/x`)).toBe(
      "allow",
    );
    expect(evaluate(policy, "s3:GetObjectRetention", `${primary.arn}/logical/x`)).toBe("allow");
    expect(evaluate(policy, "s3:ReplicateObject", `${replica.arn}/logical/x`)).toBe("allow");
    expect(evaluate(policy, "s3:ReplicateObject", `${primary.arn}/logical/x`)).toBe("implicit-deny");
    expect(evaluate(policy, "kms:Decrypt", str(primary.key.outputs.arn))).toBe("allow");
    expect(evaluate(policy, "kms:Encrypt", str(replica.key.outputs.arn))).toBe("allow");
    const viaServices = policy.Statement.flatMap((s) => Object.values(s.Condition?.StringEquals ?? {}));
    expect(viaServices.sort()).toEqual(["s3.eu-central-1.amazonaws.com", "s3.eu-west-1.amazonaws.com"]);
  });

  it("writer: list/get/put/delete in its prefixes; version deletes and bucket changes absent and denied", () => {
    const primary = bucketSet(plan, "backup-storage-primary");
    const replica = bucketSet(plan, "backup-storage-replica");
    checkWriterPolicy(plan, primary.arn, str(primary.key.outputs.arn), [replica.arn]);
  });

  it("restore identity: read-only on both regions", () => {
    const primary = bucketSet(plan, "backup-storage-primary");
    const replica = bucketSet(plan, "backup-storage-replica");
    const policy = attachedPolicy(plan, "backup-storage-restore");
    for (const b of [primary, replica]) {
      expect(evaluate(policy, "s3:GetObjectVersion", `${b.arn}/pgbackrest/backup.info`)).toBe("allow");
      expect(evaluate(policy, "kms:Decrypt", str(b.key.outputs.arn))).toBe("allow");
      for (const action of ["s3:PutObject", "s3:DeleteObject", ...FORBIDDEN_S3_ACTIONS]) {
        expect(evaluate(policy, action, `${b.arn}/logical/x`), action).toBe("explicit-deny");
      }
    }
  });

  it("exports backups{bucket,region,replicaBucket,schedule}; secrets only as secrets, the writer key not at all", () => {
    const primary = bucketSet(plan, "backup-storage-primary");
    const replica = bucketSet(plan, "backup-storage-replica");
    const backups = plan.outputs.backups as Record<string, unknown>;
    expect(backups).toMatchObject({
      bucket: primary.name,
      region: "eu-west-1",
      replicaBucket: replica.name,
      replicaRegion: "eu-central-1",
      endpoint: "https://s3.eu-west-1.amazonaws.com",
      uriStyle: "host",
      kmsKeyArn: primary.key.outputs.arn,
      schedule: { ...plan.config.backups.schedules },
    });
    const restoreKey = one(plan, T.accessKey, "backup-storage-restore");
    expect(backups.restoreAccessKeyId).toBe(restoreKey.outputs.id ?? backups.restoreAccessKeyId);
    expect(backups.restoreSecretAccessKey).toBe(restoreKey.outputs.secret);
    expect(plan.secretOutputs).toContain("backups.restoreSecretAccessKey");
    // Keys are created after their policy is attached: a key used before then has no rights.
    for (const who of ["writer", "restore"]) {
      const attachment = one(plan, T.attachment, `backup-storage-${who}`);
      expect(one(plan, T.accessKey, `backup-storage-${who}`).dependencies).toContain(attachment.urn);
    }
    const writerSecret = str(one(plan, T.accessKey, "backup-storage-writer").outputs.secret);
    expect(writerSecret.length).toBeGreaterThan(10);
    expect(JSON.stringify(plan.outputs)).not.toContain(writerSecret);
  });
});

describe("staging: one bucket, no replica", () => {
  let plan: PlanResult;
  beforeAll(async () => {
    plan = await runProgram("staging");
  });

  it("hardens the single bucket, locks new versions 14 days, creates no replication", () => {
    const primary = bucketSet(plan, "backup-storage-primary");
    expect(primary.bucket.inputs.bucketPrefix).toBe("backend-infra-staging-backup-");
    expect(primary.bucket.inputs.objectLockEnabled).toBeUndefined();
    checkHardenedBucket(primary, 90);
    expect(ofType(plan, T.bucket)).toHaveLength(1);
    for (const type of [T.replication, T.role, T.rolePolicy]) expect(ofType(plan, type)).toEqual([]);
    // Every AWS environment locks (policy s3-bucket-object-lock); staging's config says 14 days.
    expect(one(plan, T.lock, "backup-storage-primary-object-lock").inputs).toMatchObject({
      objectLockEnabled: "Enabled",
      rule: { defaultRetention: { mode: "GOVERNANCE", days: 14 } },
    });
    expect(
      ofType(plan, T.provider)
        .filter((p) => p.name.startsWith("backup-storage"))
        .map((p) => p.inputs.region),
    ).toEqual(["eu-west-1"]);
  });

  it("writer and restore policies cover the one bucket", () => {
    const primary = bucketSet(plan, "backup-storage-primary");
    checkWriterPolicy(plan, primary.arn, str(primary.key.outputs.arn), []);
    const restore = attachedPolicy(plan, "backup-storage-restore");
    expect(
      restore.Statement.flatMap((s) => s.Resource ?? []).filter((r) => r.startsWith("arn:aws:s3")),
    ).toEqual(expect.not.arrayContaining([expect.stringContaining("replica")]));
  });

  it("exports the bucket without a replica", () => {
    const backups = plan.outputs.backups as Record<string, unknown>;
    expect(backups.bucket).toBe(bucketSet(plan, "backup-storage-primary").name);
    expect(backups.region).toBe("eu-west-1");
    expect(backups).not.toHaveProperty("replicaBucket");
  });

  it("follows config: retention, Object Lock days, an explicit bucket name", async () => {
    const custom = await runProgram("staging", {
      overrides: {
        backupCloudRetentionDays: "120",
        backupObjectLockDays: "7",
        backupBucketName: "acme-staging-backups",
        backupReplicaRegion: "us-east-2",
      },
    });
    expect(one(custom, T.bucket, "backup-storage-primary-bucket").inputs.bucket).toBe("acme-staging-backups");
    expect(one(custom, T.bucket, "backup-storage-replica-bucket").inputs.bucket).toBe(
      "acme-staging-backups-replica",
    );
    expect(one(custom, T.lock, "backup-storage-primary-object-lock").inputs).toMatchObject({
      objectLockEnabled: "Enabled",
      rule: { defaultRetention: { mode: "GOVERNANCE", days: 7 } },
    });
    const rules = one(custom, T.lifecycle, "backup-storage-primary-lifecycle").inputs
      .rules as LifecycleRule[];
    expect(rules.filter((r) => r.expiration?.days === 120).map((r) => r.filter.prefix)).toEqual([
      "logical/",
      "redis/",
      "config/",
    ]);
    expect(rulesExpiringCurrentVersionsUnder(rules, "pgbackrest/")).toEqual([]);
  });

  it("rejects a configured bucket name too long for its replica, naming the key", async () => {
    await expect(
      runProgram("staging", {
        overrides: { backupBucketName: "a".repeat(60), backupReplicaRegion: "us-east-2" },
      }),
    ).rejects.toThrow(/backupBucketName .* too long for a replica/);
  });
});

describe("local: MinIO stands in for S3", () => {
  let plan: PlanResult;
  beforeAll(async () => {
    plan = await runProgram("local");
  });

  it("creates no KMS or IAM resources", () => {
    for (const type of [
      T.key,
      T.alias,
      T.user,
      T.userPolicy,
      T.iamPolicy,
      T.attachment,
      T.accessKey,
      T.role,
      T.policy,
      T.pab,
      T.ownership,
    ]) {
      expect(ofType(plan, type), type).toEqual([]);
    }
  });

  it("runs MinIO hardened, non-root, on the backup network, API published on loopback only", () => {
    const container = one(plan, T.container, "backup-storage-minio");
    const inputs = container.inputs as {
      [key: string]: unknown;
      healthcheck: { tests: string[] };
      envs: string[];
      uploads: { file: string }[];
    };
    expect(inputs.name).toBe("backend-infra-local-minio");
    expect(inputs.user).toBe("1000:1000");
    // Uploads (TLS certificate and key) need a writable root fs; the reason is recorded as a label.
    expect(inputs.readOnly).toBe(false);
    expect(inputs.labels).toEqual(
      expect.arrayContaining([
        { label: "backend-infra.writable-rootfs", value: "uploads the TLS certificate and key MinIO serves" },
      ]),
    );
    expect(inputs.securityOpts).toEqual(["no-new-privileges:true"]);
    expect(inputs.capabilities).toEqual({ adds: [], drops: ["ALL"] });
    expect(inputs.networksAdvanced).toEqual([{ name: "backend-infra-local-backup", aliases: ["minio"] }]);
    expect(inputs.ports).toEqual([{ internal: 9000, external: 9000, ip: "127.0.0.1" }]);
    expect(inputs.healthcheck.tests).toEqual([
      "CMD-SHELL",
      'MC_HOST_health="https://$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD@localhost:9000" mc ready --insecure health',
    ]);
    // The probe reads the credentials from the container env; no secret is written into it.
    expect(JSON.stringify(inputs.healthcheck)).not.toContain(
      str(
        one(plan, "random:index/randomPassword:RandomPassword", "backup-storage-minio-password").outputs
          .result,
      ),
    );
    expect(inputs.command).toEqual([
      "server",
      "/var/tmp/minio",
      "--address",
      ":9000",
      "--certs-dir",
      "/certs",
    ]);
    expect(inputs.volumes).toEqual([
      { volumeName: "backend-infra-local-minio-data", containerPath: "/var/tmp" },
    ]);
    expect(inputs.uploads.map((u) => u.file).sort()).toEqual([
      "/certs/CAs/public.crt",
      "/certs/private.key",
      "/certs/public.crt",
    ]);
    const envs = inputs.envs;
    expect(envs.map((e) => e.split("=")[0]).sort()).toEqual([
      "MC_CONFIG_DIR",
      "MINIO_BROWSER",
      "MINIO_KMS_SECRET_KEY",
      "MINIO_ROOT_PASSWORD",
      "MINIO_ROOT_USER",
    ]);
    const kmsKey = envs.find((e) => e.startsWith("MINIO_KMS_SECRET_KEY="))?.split(":")[1] ?? "";
    const keyBytes = Buffer.from(kmsKey, "base64");
    expect(keyBytes).toHaveLength(32);
    expect(keyBytes.toString("base64")).toBe(kmsKey); // canonical base64, nothing dropped
    const password = one(plan, "random:index/randomPassword:RandomPassword", "backup-storage-minio-kms-key");
    expect(password.inputs).toMatchObject({ length: 42, overrideSpecial: "+/" });
    expect(kmsKey).toBe(`${str(password.outputs.result)}A=`);
    expect(container.secretInputs).toEqual(expect.arrayContaining(["envs", "uploads"]));
  });

  it("sets the bucket up inside MinIO with mc: versioned, SSE-S3, lifecycle MinIO accepts, no aws resource", () => {
    expect(plan.resources.filter((r) => r.type.startsWith("aws:") || r.type === T.provider)).toEqual([]);
    const setup = one(plan, "command:local:Command", "backup-storage-minio-bucket");
    const container = one(plan, T.container, "backup-storage-minio");
    expect(setup.dependencies).toContain(container.urn);
    expect(setup.inputs.create).toBe("docker exec -i backend-infra-local-minio sh -s");
    const script = String(setup.inputs.stdin);
    expect(script).toContain("mc mb --ignore-existing local/backend-infra-local-backups");
    expect(script).toContain("mc version enable local/backend-infra-local-backups");
    expect(script).toContain("mc encrypt set sse-s3 local/backend-infra-local-backups");
    const lifecycle = JSON.parse(script.split("<<'LIFECYCLE'\n")[1].split("\nLIFECYCLE")[0]) as {
      Rules: { ID: string; Filter: { Prefix: string }; Expiration?: { Days?: number } }[];
    };
    expect(lifecycle.Rules.map((r) => r.ID)).toEqual([
      "expire-noncurrent-versions",
      "expire-logical-dumps",
      "expire-redis-snapshots",
      "expire-config-exports",
    ]);
    expect(
      lifecycle.Rules.filter((r) => r.Filter.Prefix.startsWith("pgbackrest") && r.Expiration?.Days),
    ).toEqual([]);
  });

  it("exports the MinIO endpoint, path style, and keeps its credentials secret", () => {
    const backups = plan.outputs.backups as Record<string, unknown>;
    expect(backups).toMatchObject({
      bucket: "backend-infra-local-backups",
      region: "us-east-1",
      endpoint: "https://minio:9000",
      uriStyle: "path",
    });
    expect(backups).not.toHaveProperty("kmsKeyArn");
    expect(plan.secretOutputs).toEqual(
      expect.arrayContaining(["backups.restoreAccessKeyId", "backups.restoreSecretAccessKey"]),
    );
  });
});
