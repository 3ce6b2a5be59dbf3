/**
 * The backup bucket's IAM, bucket and replication policies and lifecycle rules (issue 5,
 * item 1), checked as parsed JSON documents: forbidden actions are absent from every Allow
 * and explicitly denied; the restore identity can only read; lifecycle never expires
 * current versions under pgBackRest's prefix.
 */
import { describe, expect, it } from "vitest";
import {
  BACKUP_PREFIXES,
  FORBIDDEN_KMS_ACTIONS,
  FORBIDDEN_S3_ACTIONS,
  POLICY_SIZE_LIMITS,
  allowedPatternsMatching,
  archivePolicy,
  bucketPolicy,
  evaluate,
  policySize,
  replicationAssumeRolePolicy,
  replicationPolicy,
  restorePolicy,
  walArchivePrefix,
  wildcardMatch,
  writerPolicy,
  type PolicyDocument,
} from "../../lib/iam-policies";
import {
  backupLifecycleRules,
  rulesExpiringCurrentVersionsUnder,
  type LifecycleRule,
} from "../../lib/backup-lifecycle";

const BUCKET = "arn:aws:s3:::backend-infra-prod-backup-abc";
const KEY = "arn:aws:kms:eu-west-1:123456789012:key/1111-2222";
const REPLICA = "arn:aws:s3:::backend-infra-prod-replica-abc";
const REPLICA_KEY = "arn:aws:kms:eu-central-1:123456789012:key/3333-4444";

/** Round-trip through JSON, as the documents reach AWS. */
const parsed = (doc: PolicyDocument): PolicyDocument => JSON.parse(JSON.stringify(doc)) as PolicyDocument;

const statement = (doc: PolicyDocument, sid: string) => {
  const s = doc.Statement.find((x) => x.Sid === sid);
  if (!s) throw new Error(`no statement ${sid} in ${doc.Statement.map((x) => x.Sid).join(", ")}`);
  return s;
};

describe("evaluate() and wildcardMatch() (the checker the other tests rely on)", () => {
  it("matches IAM wildcards, actions case-insensitively", () => {
    expect(wildcardMatch("s3:Put*", "s3:putobject", true)).toBe(true);
    expect(wildcardMatch("s3:Get?bject", "s3:GetObject", true)).toBe(true);
    expect(wildcardMatch("s3:Get*", "s3:PutObject", true)).toBe(false);
    expect(wildcardMatch(`${BUCKET}/logical/*`, `${BUCKET}/logical/x.dump`)).toBe(true);
    expect(wildcardMatch(`${BUCKET}/logical/*`, `${BUCKET}/pgbackrest/x`)).toBe(false);
  });

  it("lets an unconditional Deny win, counts conditional Allows, ignores conditional Denies", () => {
    const doc: PolicyDocument = {
      Version: "2012-10-17",
      Statement: [
        { Sid: "A", Effect: "Allow", Action: ["s3:*"], Resource: ["*"], Condition: { Bool: { x: "true" } } },
        { Sid: "D", Effect: "Deny", Action: ["s3:DeleteObject"], Resource: ["*"] },
        {
          Sid: "C",
          Effect: "Deny",
          Action: ["s3:GetObject"],
          Resource: ["*"],
          Condition: { Bool: { y: "1" } },
        },
      ],
    };
    expect(evaluate(doc, "s3:DeleteObject", `${BUCKET}/k`)).toBe("explicit-deny");
    expect(evaluate(doc, "s3:GetObject", `${BUCKET}/k`)).toBe("allow");
    expect(evaluate(doc, "kms:Decrypt", KEY)).toBe("implicit-deny");
  });

  it("refuses statements it cannot evaluate instead of guessing", () => {
    const doc = {
      Version: "2012-10-17",
      Statement: [{ Sid: "N", Effect: "Allow", NotAction: ["s3:Delete*"], Action: [], Resource: ["*"] }],
    } as unknown as PolicyDocument;
    expect(() => evaluate(doc, "s3:GetObject", BUCKET)).toThrow(/NotAction/);
  });
});

describe("archive policy (PostgreSQL's archive_command)", () => {
  const doc = parsed(
    archivePolicy({ bucketArn: BUCKET, kmsKeyArn: KEY, region: "eu-west-1", stanza: "main" }),
  );
  const wal = `${BUCKET}/pgbackrest/archive/main/15-1/0000000100000000/000000010000000000000003-abc.gz`;

  it("reads and adds WAL under its stanza's archive prefix, and nothing else", () => {
    for (const action of ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]) {
      expect(evaluate(doc, action, wal), action).toBe("allow");
    }
    for (const elsewhere of [
      `${BUCKET}/pgbackrest/backup/main/backup.info`,
      `${BUCKET}/pgbackrest/archive/other/archive.info`,
      `${BUCKET}/logical/app.dump`,
      `${BUCKET}/redis/dump.rdb`,
    ]) {
      expect(evaluate(doc, "s3:PutObject", elsewhere), elsewhere).toBe("implicit-deny");
    }
    expect(statement(doc, "ListWalArchive").Condition).toEqual({
      StringLike: { "s3:prefix": ["pgbackrest/archive/main", "pgbackrest/archive/main/*"] },
    });
  });

  it("deletes nothing and may not touch the protections or the key", () => {
    for (const action of ["s3:DeleteObject", ...FORBIDDEN_S3_ACTIONS]) {
      expect(evaluate(doc, action, wal), action).toBe("explicit-deny");
    }
    for (const action of FORBIDDEN_KMS_ACTIONS)
      expect(evaluate(doc, action, KEY), action).toBe("explicit-deny");
    expect(() =>
      archivePolicy({ bucketArn: BUCKET, kmsKeyArn: KEY, region: "eu-west-1", stanza: "a/b" }),
    ).toThrow(/walArchivePrefix stanza: expected letters, digits, _ or -, got "a\/b"/);
    expect(walArchivePrefix("main")).toBe("pgbackrest/archive/main/");
  });
});

describe("writer policy", () => {
  const doc = parsed(writerPolicy({ bucketArn: BUCKET, kmsKeyArn: KEY, region: "eu-west-1" }));

  it("allows list/get/put/delete of current objects under its prefixes only", () => {
    for (const prefix of Object.values(BACKUP_PREFIXES)) {
      for (const action of ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]) {
        expect(evaluate(doc, action, `${BUCKET}/${prefix}file`), `${action} ${prefix}`).toBe("allow");
      }
    }
    expect(evaluate(doc, "s3:PutObject", `${BUCKET}/elsewhere/file`)).toBe("implicit-deny");
    expect(evaluate(doc, "s3:GetObject", `${REPLICA}/logical/file`)).toBe("implicit-deny");
    expect(statement(doc, "ListOwnPrefixes").Condition).toEqual({
      StringLike: {
        "s3:prefix": ["pgbackrest", "pgbackrest/*", "logical", "logical/*", "redis", "redis/*"],
      },
    });
  });

  it("has no Allow matching a forbidden action, and denies each one explicitly", () => {
    expect(allowedPatternsMatching(doc, FORBIDDEN_S3_ACTIONS)).toEqual([]);
    expect(allowedPatternsMatching(doc, FORBIDDEN_KMS_ACTIONS)).toEqual([]);
    for (const action of FORBIDDEN_S3_ACTIONS) {
      expect(evaluate(doc, action, BUCKET), action).toBe("explicit-deny");
      expect(evaluate(doc, action, `${BUCKET}/pgbackrest/backup.info`), action).toBe("explicit-deny");
    }
    for (const action of FORBIDDEN_KMS_ACTIONS)
      expect(evaluate(doc, action, KEY), action).toBe("explicit-deny");
    // The ones the issue names, spelled out so a change to the shared list cannot drop them.
    for (const action of [
      "s3:DeleteObjectVersion",
      "s3:PutBucketPolicy",
      "s3:PutBucketVersioning",
      "s3:PutLifecycleConfiguration",
      "s3:PutBucketObjectLockConfiguration",
      "s3:DeleteBucket",
    ]) {
      expect(evaluate(doc, action, `${BUCKET}/logical/x`), action).toBe("explicit-deny");
    }
  });

  it("uses no wildcard actions or resources in its Allows", () => {
    for (const s of doc.Statement.filter((x) => x.Effect === "Allow")) {
      expect(
        s.Action.filter((a) => a.includes("*")),
        s.Sid,
      ).toEqual([]);
      expect(s.Resource, s.Sid).not.toContain("*");
    }
  });

  it("may use the key only for Encrypt/Decrypt/GenerateDataKey, and only through S3 in its region", () => {
    const kms = statement(doc, "UseBackupKeyThroughS3");
    expect(kms.Action.sort()).toEqual(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]);
    expect(kms.Resource).toEqual([KEY]);
    expect(kms.Condition).toEqual({ StringEquals: { "kms:ViaService": "s3.eu-west-1.amazonaws.com" } });
    expect(evaluate(doc, "kms:ReEncryptFrom", KEY)).toBe("implicit-deny");
  });

  it("rejects values that are not ARNs, naming the argument", () => {
    expect(() => writerPolicy({ bucketArn: "my-bucket", kmsKeyArn: KEY, region: "eu-west-1" })).toThrow(
      /writerPolicy bucketArn: expected an s3 ARN/,
    );
    expect(() => writerPolicy({ bucketArn: BUCKET, kmsKeyArn: KEY, region: "Ireland" })).toThrow(
      /writerPolicy region: expected an AWS region/,
    );
  });
});

describe("restore policy", () => {
  const primary = { bucketArn: BUCKET, kmsKeyArn: KEY, region: "eu-west-1" };
  const replica = { bucketArn: REPLICA, kmsKeyArn: REPLICA_KEY, region: "eu-central-1" };
  const doc = parsed(restorePolicy(primary, replica));

  it("reads current and old versions in both regions and decrypts through S3", () => {
    for (const b of [BUCKET, REPLICA]) {
      expect(evaluate(doc, "s3:GetObject", `${b}/pgbackrest/backup.info`)).toBe("allow");
      expect(evaluate(doc, "s3:GetObjectVersion", `${b}/logical/x`)).toBe("allow");
      expect(evaluate(doc, "s3:ListBucketVersions", b)).toBe("allow");
    }
    expect(evaluate(doc, "kms:Decrypt", KEY)).toBe("allow");
    expect(evaluate(doc, "kms:Decrypt", REPLICA_KEY)).toBe("allow");
    expect(statement(doc, "DecryptReplicaThroughS3").Condition).toEqual({
      StringEquals: { "kms:ViaService": "s3.eu-central-1.amazonaws.com" },
    });
  });

  it("cannot write, delete, replicate, encrypt or administer anything", () => {
    const writes = [
      ...FORBIDDEN_S3_ACTIONS,
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:ReplicateObject",
      "s3:AbortMultipartUpload",
    ];
    expect(allowedPatternsMatching(doc, writes)).toEqual([]);
    for (const action of writes) {
      for (const resource of [BUCKET, `${BUCKET}/logical/x`, REPLICA, `${REPLICA}/redis/x`]) {
        expect(evaluate(doc, action, resource), `${action} ${resource}`).toBe("explicit-deny");
      }
    }
    for (const action of [
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:ReEncryptTo",
      ...FORBIDDEN_KMS_ACTIONS,
    ]) {
      expect(evaluate(doc, action, KEY), action).toBe("explicit-deny");
      expect(evaluate(doc, action, REPLICA_KEY), action).toBe("explicit-deny");
    }
  });

  it("covers only the primary when there is no replica", () => {
    const single = restorePolicy(primary);
    expect(evaluate(single, "s3:GetObject", `${REPLICA}/x`)).toBe("implicit-deny");
    expect(single.Statement.map((s) => s.Sid)).not.toContain("DecryptReplicaThroughS3");
  });
});

describe("bucket policy", () => {
  const doc = parsed(bucketPolicy({ bucketArn: BUCKET, kmsKeyArn: KEY }));

  it("denies every request without TLS and with TLS older than 1.2, for every principal", () => {
    const tls = statement(doc, "DenyInsecureTransport");
    expect(tls).toMatchObject({ Effect: "Deny", Principal: "*", Action: ["s3:*"] });
    expect(tls.Resource).toEqual([BUCKET, `${BUCKET}/*`]);
    expect(tls.Condition).toEqual({ Bool: { "aws:SecureTransport": "false" } });
    expect(statement(doc, "DenyOldTls").Condition).toEqual({ NumericLessThan: { "s3:TlsVersion": "1.2" } });
  });

  it("denies uploads that ask for non-KMS encryption, another key, or customer-provided keys", () => {
    expect(statement(doc, "DenyNonKmsEncryption")).toMatchObject({
      Effect: "Deny",
      Principal: "*",
      Action: ["s3:PutObject"],
      Resource: [`${BUCKET}/*`],
      Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption": "aws:kms" } },
    });
    expect(statement(doc, "DenyOtherKmsKeys").Condition).toEqual({
      StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY },
    });
    expect(statement(doc, "DenyCustomerProvidedKeys").Condition).toEqual({
      Null: { "s3:x-amz-server-side-encryption-customer-algorithm": "false" },
    });
  });

  it("only denies (grants nothing to anyone)", () => {
    expect(doc.Statement.every((s) => s.Effect === "Deny")).toBe(true);
  });
});

describe("replication role", () => {
  const input = {
    source: { bucketArn: BUCKET, kmsKeyArn: KEY, region: "eu-west-1" },
    destination: { bucketArn: REPLICA, kmsKeyArn: REPLICA_KEY, region: "eu-central-1" },
  };
  const doc = parsed(replicationPolicy(input));

  it("can be assumed by S3 only", () => {
    const trust = parsed(replicationAssumeRolePolicy());
    expect(trust.Statement).toEqual([
      {
        Sid: "S3AssumesReplicationRole",
        Effect: "Allow",
        Principal: { Service: "s3.amazonaws.com" },
        Action: ["sts:AssumeRole"],
      },
    ]);
  });

  it("reads from the source, writes replicas to the destination, nothing else", () => {
    expect(evaluate(doc, "s3:GetObjectVersionForReplication", `${BUCKET}/pgbackrest/x`)).toBe("allow");
    expect(evaluate(doc, "s3:ReplicateObject", `${REPLICA}/pgbackrest/x`)).toBe("allow");
    expect(evaluate(doc, "s3:ReplicateDelete", `${REPLICA}/pgbackrest/x`)).toBe("allow");
    expect(evaluate(doc, "s3:ReplicateObject", `${BUCKET}/x`)).toBe("implicit-deny");
    expect(evaluate(doc, "s3:GetObjectVersionForReplication", `${REPLICA}/x`)).toBe("implicit-deny");
    expect(
      allowedPatternsMatching(doc, [...FORBIDDEN_S3_ACTIONS, "s3:PutObject", "s3:DeleteObject"]),
    ).toEqual([]);
    expect(evaluate(doc, "kms:Decrypt", KEY)).toBe("allow");
    expect(evaluate(doc, "kms:Decrypt", REPLICA_KEY)).toBe("implicit-deny");
    expect(evaluate(doc, "kms:Encrypt", REPLICA_KEY)).toBe("allow");
    expect(evaluate(doc, "kms:Encrypt", KEY)).toBe("implicit-deny");
  });

  it("binds KMS use to S3 in each region and to each bucket's encryption context", () => {
    expect(statement(doc, "DecryptSourceThroughS3").Condition).toEqual({
      StringEquals: { "kms:ViaService": "s3.eu-west-1.amazonaws.com" },
      StringLike: { "kms:EncryptionContext:aws:s3:arn": [BUCKET, `${BUCKET}/*`] },
    });
    expect(statement(doc, "EncryptReplicasThroughS3").Condition).toEqual({
      StringEquals: { "kms:ViaService": "s3.eu-central-1.amazonaws.com" },
      StringLike: { "kms:EncryptionContext:aws:s3:arn": [REPLICA, `${REPLICA}/*`] },
    });
  });

  it("reads retention and legal holds only when Object Lock is on", () => {
    const read = (d: PolicyDocument) => statement(d, "ReadSourceVersions").Action;
    expect(read(doc)).not.toContain("s3:GetObjectRetention");
    expect(read(replicationPolicy({ ...input, objectLock: true }))).toEqual(
      expect.arrayContaining(["s3:GetObjectRetention", "s3:GetObjectLegalHold"]),
    );
  });

  it("refuses a replica in the source region", () => {
    expect(() =>
      replicationPolicy({ ...input, destination: { ...input.destination, region: "eu-west-1" } }),
    ).toThrow(/both in eu-west-1/);
  });
});

describe("document sizes stay within IAM and S3 quotas at the longest names", () => {
  // Longest bucket names the config allows (63 characters) and real-length key ARNs.
  const longBucket = `arn:aws:s3:::${"b".repeat(63)}`;
  const longReplica = `arn:aws:s3:::${"r".repeat(63)}`;
  const key = "arn:aws:kms:ap-southeast-2:123456789012:key/0f80fded-1228-0532-f4a4-a30943d63315";
  const replicaKey = "arn:aws:kms:ap-northeast-3:123456789012:key/0f80fded-1228-0532-f4a4-a30943d63316";
  const primary = { bucketArn: longBucket, kmsKeyArn: key, region: "ap-southeast-2" };
  const replica = { bucketArn: longReplica, kmsKeyArn: replicaKey, region: "ap-northeast-3" };

  it("writer and restore documents fit a managed policy (and would not fit inline on a user)", () => {
    const writer = policySize(writerPolicy(primary));
    const restore = policySize(restorePolicy(primary, replica));
    expect(writer).toBeLessThan(POLICY_SIZE_LIMITS.managedPolicy);
    expect(restore).toBeLessThan(POLICY_SIZE_LIMITS.managedPolicy);
    // Why the component attaches managed policies: both together exceed the inline quota.
    expect(writer + restore).toBeGreaterThan(POLICY_SIZE_LIMITS.userInlineTotal);
    expect(writer).toBeGreaterThan(POLICY_SIZE_LIMITS.userInlineTotal);
    expect(policySize(archivePolicy({ ...primary, stanza: "main" }))).toBeLessThan(
      POLICY_SIZE_LIMITS.managedPolicy,
    );
  });

  it("the replication role's inline policy and the bucket policy fit their quotas", () => {
    const replication = replicationPolicy({ source: primary, destination: replica, objectLock: true });
    expect(policySize(replication) + policySize(replicationAssumeRolePolicy())).toBeLessThan(
      POLICY_SIZE_LIMITS.roleInlineTotal,
    );
    expect(policySize(bucketPolicy({ bucketArn: longBucket, kmsKeyArn: key }))).toBeLessThan(
      POLICY_SIZE_LIMITS.bucketPolicy,
    );
  });
});

describe("lifecycle rules", () => {
  const rules = backupLifecycleRules({ cloudRetentionDays: 90 });
  const byId = (id: string) => rules.find((r) => r.id === id) as LifecycleRule;

  it("aborts incomplete uploads after 7 days and expires non-current versions after 30", () => {
    expect(byId("abort-incomplete-multipart-uploads")).toEqual({
      id: "abort-incomplete-multipart-uploads",
      status: "Enabled",
      filter: { prefix: "" },
      abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
    });
    expect(byId("expire-noncurrent-versions")).toMatchObject({
      filter: { prefix: "" },
      noncurrentVersionExpiration: { noncurrentDays: 30 },
      expiration: { expiredObjectDeleteMarker: true },
    });
    expect(byId("expire-noncurrent-versions").expiration).not.toHaveProperty("days");
  });

  it("expires logical dumps and RDB files after the cloud retention", () => {
    expect(byId("expire-logical-dumps")).toMatchObject({
      filter: { prefix: "logical/" },
      expiration: { days: 90 },
    });
    expect(byId("expire-redis-snapshots")).toMatchObject({
      filter: { prefix: "redis/" },
      expiration: { days: 90 },
    });
    expect(byId("expire-config-exports")).toMatchObject({
      filter: { prefix: "config/" },
      expiration: { days: 90 },
    });
    expect(
      backupLifecycleRules({ cloudRetentionDays: 35 }).filter((r) => r.expiration?.days === 35),
    ).toHaveLength(3);
  });

  it("refuses an expiring prefix that overlaps pgBackRest's repository", () => {
    expect(() =>
      backupLifecycleRules({ cloudRetentionDays: 90, configExportPrefix: "pgbackrest/config/" }),
    ).toThrow(/expiring prefix "pgbackrest\/config\/" overlaps pgBackRest's "pgbackrest\/"/);
    expect(() => backupLifecycleRules({ cloudRetentionDays: 90, configExportPrefix: "" })).toThrow(
      /overlaps/,
    );
  });

  it("never expires or transitions current versions under pgBackRest's prefix", () => {
    expect(rulesExpiringCurrentVersionsUnder(rules, BACKUP_PREFIXES.pgbackrest)).toEqual([]);
    expect(rules.some((r) => (r.transitions ?? []).length > 0)).toBe(false);
  });

  it("can leave out the abort-only rule (MinIO rejects it) without changing the others", () => {
    const minio = backupLifecycleRules({ cloudRetentionDays: 90, includeAbortIncompleteUploads: false });
    expect(minio.map((r) => r.id)).toEqual(
      rules.map((r) => r.id).filter((id) => id !== "abort-incomplete-multipart-uploads"),
    );
    expect(minio).toEqual(rules.filter((r) => r.id !== "abort-incomplete-multipart-uploads"));
  });

  it("the checker catches rules that would (so the test above can fail)", () => {
    const bad: LifecycleRule[] = [
      { id: "everything", status: "Enabled", filter: { prefix: "" }, expiration: { days: 90 } },
      { id: "repo", status: "Enabled", filter: { prefix: "pgbackrest/archive/" }, expiration: { days: 9 } },
      {
        id: "glacier",
        status: "Enabled",
        filter: { prefix: "pg" },
        transitions: [{ days: 1, storageClass: "GLACIER" }],
      },
      { id: "off", status: "Disabled", filter: { prefix: "" }, expiration: { days: 1 } },
      { id: "other", status: "Enabled", filter: { prefix: "logical/" }, expiration: { days: 1 } },
    ];
    expect(rulesExpiringCurrentVersionsUnder(bad, "pgbackrest/")).toEqual(["everything", "repo", "glacier"]);
  });

  it("rejects a dump prefix that overlaps pgBackRest's and bad day counts, naming them", () => {
    expect(() =>
      backupLifecycleRules({
        cloudRetentionDays: 90,
        prefixes: { pgbackrest: "backups/pgbackrest/", logical: "backups/", redis: "redis/" },
      }),
    ).toThrow(/expiring prefix "backups\/" overlaps pgBackRest's "backups\/pgbackrest\/"/);
    expect(() => backupLifecycleRules({ cloudRetentionDays: 0 })).toThrow(/cloudRetentionDays must be/);
  });
});
