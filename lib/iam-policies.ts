/**
 * IAM and bucket policy documents of the backup bucket, built as plain objects by pure
 * functions so unit tests (and the policy pack) can parse and check them without Pulumi.
 *
 * Identities (issue 5, item 1):
 * - writer: the backup runner and pgBackRest's `archive_command`. Reads, writes and deletes
 *   *current* objects under its prefixes only. pgBackRest needs DeleteObject (it rewrites
 *   backup.info/archive.info and its `expire` removes old backups); in a versioned bucket that
 *   only adds a delete marker, so the data survives until the non-current-version lifecycle
 *   rule removes it. What would make a stolen writer key fatal is denied explicitly:
 *   deleting versions, changing the bucket's policy, versioning, lifecycle, Object Lock,
 *   encryption, replication, ACLs, and deleting the bucket or the key.
 * - archive: pgBackRest's `archive_command` in the PostgreSQL container. Reads and writes
 *   (never deletes) objects under the stanza's WAL archive prefix only: a key stolen from the
 *   database container can add WAL, not remove or overwrite backups (the writer's job, in the
 *   runner). Reads are needed: archive-push checks archive.info and whether a segment is
 *   already there (its duplicate check), archive-get reads segments during recovery.
 * - restore: read-only (current and old versions) plus kms:Decrypt, on the primary and, when
 *   there is one, the replica bucket (a restore must work when the primary region is down).
 * - replication role: assumed by S3 only; reads versions for replication from the primary and
 *   writes replicas into the replica bucket, with KMS use limited to S3 in each region.
 */

export const POLICY_VERSION = "2012-10-17";

export type ConditionBlock = Record<string, Record<string, string | string[]>>;

export interface PolicyStatement {
  Sid: string;
  Effect: "Allow" | "Deny";
  Principal?: "*" | { AWS?: string | string[]; Service?: string | string[] };
  Action: string[];
  Resource?: string[];
  Condition?: ConditionBlock;
}

export interface PolicyDocument {
  Version: typeof POLICY_VERSION;
  Statement: PolicyStatement[];
}

/**
 * Key prefixes in the bucket. pgBackRest's repo2 is `repo2-path=/pgbackrest` (objects under
 * `pgbackrest/`); the runner uploads logical dumps and Redis RDB files under `logical/` and
 * `redis/` (images/backup/README.md, `S3_PREFIX` empty).
 */
export interface BackupPrefixes {
  /** pgBackRest repository. Lifecycle never expires current versions here (field notes). */
  pgbackrest: string;
  /** Logical `pg_dump -Fc` files; expire after the cloud retention. */
  logical: string;
  /** Redis RDB snapshots; expire after the cloud retention. */
  redis: string;
}

export const BACKUP_PREFIXES: Readonly<BackupPrefixes> = Object.freeze({
  pgbackrest: "pgbackrest/",
  logical: "logical/",
  redis: "redis/",
});

/** Object actions the writer is allowed under its prefixes. */
export const WRITER_OBJECT_ACTIONS = [
  "s3:GetObject",
  "s3:PutObject",
  "s3:DeleteObject",
  "s3:AbortMultipartUpload",
  "s3:ListMultipartUploadParts",
] as const;

/** KMS actions the writer needs for SSE-KMS uploads (incl. multipart) and downloads. */
export const WRITER_KMS_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"] as const;

/**
 * S3 actions no backup identity may perform: they would let a stolen key destroy backups
 * (version deletes, retention bypass) or turn the protections off (policy, versioning,
 * lifecycle, Object Lock, encryption, replication, public access, ACLs, bucket deletion).
 */
export const FORBIDDEN_S3_ACTIONS = [
  "s3:DeleteObjectVersion",
  "s3:DeleteObjectVersionTagging",
  "s3:BypassGovernanceRetention",
  "s3:PutObjectRetention",
  "s3:PutObjectLegalHold",
  "s3:PutBucketPolicy",
  "s3:DeleteBucketPolicy",
  "s3:PutBucketVersioning",
  "s3:PutLifecycleConfiguration",
  "s3:PutBucketObjectLockConfiguration",
  "s3:PutEncryptionConfiguration",
  "s3:PutReplicationConfiguration",
  "s3:PutBucketPublicAccessBlock",
  "s3:PutBucketOwnershipControls",
  "s3:PutBucketAcl",
  "s3:PutObjectAcl",
  "s3:PutObjectVersionAcl",
  "s3:DeleteBucket",
] as const;

/** KMS actions no backup identity may perform on the backup keys. */
export const FORBIDDEN_KMS_ACTIONS = [
  "kms:ScheduleKeyDeletion",
  "kms:DisableKey",
  "kms:DisableKeyRotation",
  "kms:PutKeyPolicy",
  "kms:CreateGrant",
  "kms:RetireGrant",
  "kms:RevokeGrant",
] as const;

/** Everything the restore identity must never do (wildcards; checked by `evaluate`). */
export const RESTORE_DENIED_ACTIONS = [
  "s3:Put*",
  "s3:Delete*",
  "s3:Replicate*",
  "s3:AbortMultipartUpload",
  "s3:BypassGovernanceRetention",
  "s3:RestoreObject",
  "s3:CreateBucket",
  "kms:Encrypt",
  "kms:GenerateDataKey*",
  "kms:ReEncrypt*",
  ...FORBIDDEN_KMS_ACTIONS,
] as const;

function arnError(what: string, value: string, service: "s3" | "kms" | "iam"): string | undefined {
  return new RegExp(`^arn:aws[a-z-]*:${service}:`).test(value)
    ? undefined
    : `${what}: expected an ${service} ARN (arn:aws:${service}:...), got "${value}"`;
}

function requireArns(checks: [string, string | undefined, "s3" | "kms" | "iam"][]): void {
  const problems = checks
    .filter(([, value]) => value !== undefined)
    .map(([what, value, service]) => arnError(what, value as string, service))
    .filter((p): p is string => p !== undefined);
  if (problems.length > 0) throw new Error(problems.join("; "));
}

function requireRegion(what: string, region: string): void {
  if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(region)) {
    throw new Error(`${what}: expected an AWS region like eu-west-1, got "${region}"`);
  }
}

/** Prefix list as `StringLike` patterns for `s3:prefix` (with and without the trailing slash). */
function listPrefixPatterns(prefixes: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of prefixes) {
    const bare = p.replace(/\/+$/, "");
    out.add(bare);
    out.add(`${bare}/*`);
  }
  return [...out];
}

export interface WriterPolicyInput {
  bucketArn: string;
  kmsKeyArn: string;
  /** Region of the bucket and key: KMS use is limited to S3 in this region. */
  region: string;
  prefixes?: BackupPrefixes;
}

/** Identity policy of the backup writer (attached to its IAM user). */
export function writerPolicy(input: WriterPolicyInput): PolicyDocument {
  const { bucketArn, kmsKeyArn, region } = input;
  requireArns([
    ["writerPolicy bucketArn", bucketArn, "s3"],
    ["writerPolicy kmsKeyArn", kmsKeyArn, "kms"],
  ]);
  requireRegion("writerPolicy region", region);
  const prefixes = Object.values(input.prefixes ?? BACKUP_PREFIXES);
  return {
    Version: POLICY_VERSION,
    Statement: [
      {
        Sid: "ListOwnPrefixes",
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: [bucketArn],
        Condition: { StringLike: { "s3:prefix": listPrefixPatterns(prefixes) } },
      },
      {
        Sid: "ReadWriteCurrentObjectsInOwnPrefixes",
        Effect: "Allow",
        Action: [...WRITER_OBJECT_ACTIONS],
        Resource: prefixes.map((p) => `${bucketArn}/${p.replace(/\/+$/, "")}/*`),
      },
      {
        Sid: "UseBackupKeyThroughS3",
        Effect: "Allow",
        Action: [...WRITER_KMS_ACTIONS],
        Resource: [kmsKeyArn],
        Condition: { StringEquals: { "kms:ViaService": `s3.${region}.amazonaws.com` } },
      },
      {
        Sid: "DenyDestroyingBackupsOrProtections",
        Effect: "Deny",
        Action: [...FORBIDDEN_S3_ACTIONS],
        Resource: [bucketArn, `${bucketArn}/*`],
      },
      {
        Sid: "DenyKeyAdministration",
        Effect: "Deny",
        Action: [...FORBIDDEN_KMS_ACTIONS],
        Resource: [kmsKeyArn],
      },
    ],
  };
}

/** Object actions the archive identity is allowed under the WAL archive prefix. */
export const ARCHIVE_OBJECT_ACTIONS = [
  "s3:GetObject",
  "s3:PutObject",
  "s3:AbortMultipartUpload",
  "s3:ListMultipartUploadParts",
] as const;

/** The WAL archive prefix of a stanza in pgBackRest's repository (`repo2-path=/pgbackrest`). */
export function walArchivePrefix(stanza: string, prefixes: BackupPrefixes = BACKUP_PREFIXES): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(stanza)) {
    throw new Error(`walArchivePrefix stanza: expected letters, digits, _ or -, got "${stanza}"`);
  }
  return `${prefixes.pgbackrest.replace(/\/+$/, "")}/archive/${stanza}/`;
}

export interface ArchivePolicyInput {
  bucketArn: string;
  kmsKeyArn: string;
  region: string;
  /** pgBackRest stanza whose WAL archive this identity pushes to. */
  stanza: string;
  prefixes?: BackupPrefixes;
}

/** Identity policy of the archive identity (PostgreSQL's `archive_command`). */
export function archivePolicy(input: ArchivePolicyInput): PolicyDocument {
  const { bucketArn, kmsKeyArn, region } = input;
  requireArns([
    ["archivePolicy bucketArn", bucketArn, "s3"],
    ["archivePolicy kmsKeyArn", kmsKeyArn, "kms"],
  ]);
  requireRegion("archivePolicy region", region);
  const prefix = walArchivePrefix(input.stanza, input.prefixes);
  return {
    Version: POLICY_VERSION,
    Statement: [
      {
        Sid: "ListWalArchive",
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: [bucketArn],
        Condition: { StringLike: { "s3:prefix": listPrefixPatterns([prefix]) } },
      },
      {
        Sid: "ReadAndAddWal",
        Effect: "Allow",
        Action: [...ARCHIVE_OBJECT_ACTIONS],
        Resource: [`${bucketArn}/${prefix}*`],
      },
      {
        Sid: "UseBackupKeyThroughS3",
        Effect: "Allow",
        Action: ["kms:Decrypt", "kms:GenerateDataKey"],
        Resource: [kmsKeyArn],
        Condition: { StringEquals: { "kms:ViaService": `s3.${region}.amazonaws.com` } },
      },
      {
        Sid: "DenyDeletesAndProtections",
        Effect: "Deny",
        Action: ["s3:DeleteObject", "s3:DeleteObjectTagging", ...FORBIDDEN_S3_ACTIONS],
        Resource: [bucketArn, `${bucketArn}/*`],
      },
      {
        Sid: "DenyKeyAdministration",
        Effect: "Deny",
        Action: [...FORBIDDEN_KMS_ACTIONS],
        Resource: [kmsKeyArn],
      },
    ],
  };
}

export interface RestoreTarget {
  bucketArn: string;
  kmsKeyArn: string;
  region: string;
}

/** Identity policy of the read-only restore identity: the primary and (optional) replica. */
export function restorePolicy(primary: RestoreTarget, replica?: RestoreTarget): PolicyDocument {
  const targets = replica ? [primary, replica] : [primary];
  targets.forEach((t, i) => {
    const what = i === 0 ? "restorePolicy primary" : "restorePolicy replica";
    requireArns([
      [`${what} bucketArn`, t.bucketArn, "s3"],
      [`${what} kmsKeyArn`, t.kmsKeyArn, "kms"],
    ]);
    requireRegion(`${what} region`, t.region);
  });
  const buckets = targets.map((t) => t.bucketArn);
  const statements: PolicyStatement[] = [
    {
      Sid: "ListBackups",
      Effect: "Allow",
      Action: ["s3:ListBucket", "s3:ListBucketVersions"],
      Resource: buckets,
    },
    {
      Sid: "ReadBackupsAndOldVersions",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:GetObjectVersion"],
      Resource: buckets.map((b) => `${b}/*`),
    },
    ...targets.map((t, i): PolicyStatement => ({
      Sid: i === 0 ? "DecryptPrimaryThroughS3" : "DecryptReplicaThroughS3",
      Effect: "Allow",
      Action: ["kms:Decrypt"],
      Resource: [t.kmsKeyArn],
      Condition: { StringEquals: { "kms:ViaService": `s3.${t.region}.amazonaws.com` } },
    })),
    {
      Sid: "DenyAnyWrite",
      Effect: "Deny",
      Action: [...RESTORE_DENIED_ACTIONS],
      Resource: [...buckets, ...buckets.map((b) => `${b}/*`), ...targets.map((t) => t.kmsKeyArn)],
    },
  ];
  return { Version: POLICY_VERSION, Statement: statements };
}

export interface BucketPolicyInput {
  bucketArn: string;
  /** The bucket's default KMS key: an explicit key header must name it. */
  kmsKeyArn: string;
}

/**
 * Resource policy of an AWS backup bucket (primary or replica).
 *
 * - every request without TLS, or with TLS older than 1.2, is denied;
 * - uploads that ask for any encryption other than SSE-KMS, for another KMS key, or for
 *   SSE-C (customer keys bypass our KMS key) are denied.
 *
 * An upload *without* encryption headers is not denied: the bucket's default encryption
 * (SSE-KMS with the customer key, bucket key on) encrypts it, so no object can be stored
 * unencrypted. Denying a missing header (`Null: true`) would also deny `UploadPart`, which
 * never carries the header, and break every multipart upload (pgBackRest, aws s3 cp).
 */
export function bucketPolicy(input: BucketPolicyInput): PolicyDocument {
  const { bucketArn, kmsKeyArn } = input;
  requireArns([
    ["bucketPolicy bucketArn", bucketArn, "s3"],
    ["bucketPolicy kmsKeyArn", kmsKeyArn, "kms"],
  ]);
  const everything = [bucketArn, `${bucketArn}/*`];
  return {
    Version: POLICY_VERSION,
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: ["s3:*"],
        Resource: everything,
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
      {
        Sid: "DenyOldTls",
        Effect: "Deny",
        Principal: "*",
        Action: ["s3:*"],
        Resource: everything,
        Condition: { NumericLessThan: { "s3:TlsVersion": "1.2" } },
      },
      {
        Sid: "DenyNonKmsEncryption",
        Effect: "Deny",
        Principal: "*",
        Action: ["s3:PutObject"],
        Resource: [`${bucketArn}/*`],
        Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption": "aws:kms" } },
      },
      {
        Sid: "DenyOtherKmsKeys",
        Effect: "Deny",
        Principal: "*",
        Action: ["s3:PutObject"],
        Resource: [`${bucketArn}/*`],
        Condition: {
          StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption-aws-kms-key-id": kmsKeyArn },
        },
      },
      {
        Sid: "DenyCustomerProvidedKeys",
        Effect: "Deny",
        Principal: "*",
        Action: ["s3:PutObject"],
        Resource: [`${bucketArn}/*`],
        Condition: { Null: { "s3:x-amz-server-side-encryption-customer-algorithm": "false" } },
      },
    ],
  };
}

/** Trust policy of the replication role: only the S3 service may assume it. */
export function replicationAssumeRolePolicy(): PolicyDocument {
  return {
    Version: POLICY_VERSION,
    Statement: [
      {
        Sid: "S3AssumesReplicationRole",
        Effect: "Allow",
        Principal: { Service: "s3.amazonaws.com" },
        Action: ["sts:AssumeRole"],
      },
    ],
  };
}

export interface ReplicationPolicyInput {
  source: { bucketArn: string; kmsKeyArn: string; region: string };
  destination: { bucketArn: string; kmsKeyArn: string; region: string };
  /** Source has Object Lock: the role must read retention and legal holds to replicate them. */
  objectLock?: boolean;
}

/**
 * Least-privilege policy of the replication role (AWS "Setting up permissions for live
 * replication", with SSE-KMS objects). KMS use is bound to S3 in each region and to the
 * bucket's encryption context (bucket ARN with S3 Bucket Keys, object ARN without).
 */
export function replicationPolicy(input: ReplicationPolicyInput): PolicyDocument {
  const { source, destination } = input;
  requireArns([
    ["replicationPolicy source bucketArn", source.bucketArn, "s3"],
    ["replicationPolicy source kmsKeyArn", source.kmsKeyArn, "kms"],
    ["replicationPolicy destination bucketArn", destination.bucketArn, "s3"],
    ["replicationPolicy destination kmsKeyArn", destination.kmsKeyArn, "kms"],
  ]);
  requireRegion("replicationPolicy source region", source.region);
  requireRegion("replicationPolicy destination region", destination.region);
  if (source.region === destination.region) {
    throw new Error(`replicationPolicy: source and destination are both in ${source.region}`);
  }
  const readVersions = [
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionTagging",
    ...(input.objectLock ? ["s3:GetObjectRetention", "s3:GetObjectLegalHold"] : []),
  ];
  const context = (bucketArn: string) => [bucketArn, `${bucketArn}/*`];
  return {
    Version: POLICY_VERSION,
    Statement: [
      {
        Sid: "ReadReplicationConfiguration",
        Effect: "Allow",
        Action: ["s3:GetReplicationConfiguration", "s3:ListBucket"],
        Resource: [source.bucketArn],
      },
      {
        Sid: "ReadSourceVersions",
        Effect: "Allow",
        Action: readVersions,
        Resource: [`${source.bucketArn}/*`],
      },
      {
        Sid: "WriteReplicas",
        Effect: "Allow",
        Action: ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
        Resource: [`${destination.bucketArn}/*`],
      },
      {
        Sid: "DecryptSourceThroughS3",
        Effect: "Allow",
        Action: ["kms:Decrypt"],
        Resource: [source.kmsKeyArn],
        Condition: {
          StringEquals: { "kms:ViaService": `s3.${source.region}.amazonaws.com` },
          StringLike: { "kms:EncryptionContext:aws:s3:arn": context(source.bucketArn) },
        },
      },
      {
        Sid: "EncryptReplicasThroughS3",
        Effect: "Allow",
        Action: ["kms:Encrypt", "kms:GenerateDataKey"],
        Resource: [destination.kmsKeyArn],
        Condition: {
          StringEquals: { "kms:ViaService": `s3.${destination.region}.amazonaws.com` },
          StringLike: { "kms:EncryptionContext:aws:s3:arn": context(destination.bucketArn) },
        },
      },
    ],
  };
}

// ---------- checking documents ----------

/**
 * IAM size quotas, counted in characters without whitespace (AWS IAM and STS quotas): a
 * customer-managed policy 6,144; all inline policies of a user 2,048, of a role 10,240.
 * S3 bucket policies may be 20 KB.
 */
export const POLICY_SIZE_LIMITS = {
  managedPolicy: 6144,
  userInlineTotal: 2048,
  roleInlineTotal: 10240,
  bucketPolicy: 20 * 1024,
} as const;

/** Size of a document as IAM counts it: its JSON without whitespace outside strings. */
export function policySize(doc: PolicyDocument): number {
  return JSON.stringify(doc).length;
}

/** IAM wildcard match (`*` any run, `?` one character); actions are case-insensitive. */
export function wildcardMatch(pattern: string, value: string, caseInsensitive = false): boolean {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`, caseInsensitive ? "i" : "").test(value);
}

export type Decision = "allow" | "explicit-deny" | "implicit-deny";

/**
 * Decides whether `doc` could allow `action` on `resource`, erring towards "allow":
 * an Allow statement counts even when it has a condition (the condition might hold),
 * a Deny statement counts only when it has none (a conditional deny might not apply).
 * So `evaluate(...) !== "allow"` proves the action is never allowed by this document.
 * Statements with NotAction/NotResource/NotPrincipal are rejected rather than guessed at.
 */
export function evaluate(doc: PolicyDocument, action: string, resource: string): Decision {
  if (doc.Version !== POLICY_VERSION) throw new Error(`unexpected policy Version "${String(doc.Version)}"`);
  let allowed = false;
  for (const s of doc.Statement) {
    for (const unsupported of ["NotAction", "NotResource", "NotPrincipal"]) {
      if (unsupported in s)
        throw new Error(`statement ${s.Sid}: ${unsupported} is not supported by evaluate()`);
    }
    const actionHit = s.Action.some((a) => wildcardMatch(a, action, true));
    const resourceHit = (s.Resource ?? ["*"]).some((r) => wildcardMatch(r, resource));
    if (!actionHit || !resourceHit) continue;
    if (s.Effect === "Deny" && s.Condition === undefined) return "explicit-deny";
    if (s.Effect === "Allow") allowed = true;
  }
  return allowed ? "allow" : "implicit-deny";
}

/** Every action pattern of the document's Allow statements that matches one of `actions`. */
export function allowedPatternsMatching(doc: PolicyDocument, actions: readonly string[]): string[] {
  return doc.Statement.filter((s) => s.Effect === "Allow")
    .flatMap((s) => s.Action)
    .filter((pattern) => actions.some((a) => wildcardMatch(pattern, a, true)));
}
