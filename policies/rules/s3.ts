/**
 * Backup bucket security (seed "Encryption at rest and in transit", "Access control on
 * backups"; Checkov S3 checks). Most rules are cross-resource in @pulumi/aws 7 (a bucket
 * must HAVE a versioning, encryption, ... resource), so they are stack policies over the
 * plan's outputs; `s3-bucket-policy-no-public-principal` checks one resource's inputs.
 */
import type {
  PolicyResource,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { environmentsOption, resourcePolicy, stackPolicy, stringList } from "./metadata";
import { anyonePrincipal, parsePolicyDocument } from "./policy-document";
import {
  appliesIn,
  configOf,
  environmentOfStack,
  isUnknown,
  list,
  materialize,
  record,
  reveal,
  str,
} from "./values";

export const S3 = {
  bucket: "aws:s3/bucket:Bucket",
  encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  versioning: "aws:s3/bucketVersioning:BucketVersioning",
  publicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
  acl: "aws:s3/bucketAcl:BucketAcl",
  policy: "aws:s3/bucketPolicy:BucketPolicy",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  replication: "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
  objectLock: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
} as const;

interface Res {
  resource: PolicyResource;
  props: Record<string, unknown>;
}

interface BucketView extends Res {
  /** Every value the bucket is referred to by: name, id, ARN. */
  refs: Set<string>;
  label: string;
  /** Side resources attached to the bucket, by type. */
  side: Map<string, Res[]>;
}

/** Buckets of the stack with their side resources (matched by name/ARN value, then by dependency). */
export function bucketsOf(args: StackValidationArgs): BucketView[] {
  const buckets: BucketView[] = [];
  const byUrn = new Map<string, BucketView>();
  for (const r of args.resources) {
    if (r.type !== S3.bucket) continue;
    const props = materialize(r.props) as Record<string, unknown>;
    const refs = new Set([str(props.bucket), str(props.id), str(props.arn)].filter((v): v is string => !!v));
    const view: BucketView = {
      resource: r,
      props,
      refs,
      label: `bucket "${str(props.bucket) ?? r.name}"`,
      side: new Map(),
    };
    buckets.push(view);
    byUrn.set(r.urn, view);
  }
  const sideTypes = new Set<string>(Object.values(S3).filter((t) => t !== S3.bucket));
  for (const r of args.resources) {
    if (!sideTypes.has(r.type)) continue;
    const props = materialize(r.props) as Record<string, unknown>;
    const owner = ownerOf(r, props, buckets, byUrn);
    if (!owner) continue;
    const entries = owner.side.get(r.type) ?? [];
    entries.push({ resource: r, props });
    owner.side.set(r.type, entries);
  }
  return buckets;
}

function ownerOf(
  r: PolicyResource,
  props: Record<string, unknown>,
  buckets: BucketView[],
  byUrn: Map<string, BucketView>,
) {
  const ref = str(props.bucket);
  if (ref) {
    const direct = buckets.find((b) => b.refs.has(ref));
    if (direct) return direct;
  }
  const viaProperty = (r.propertyDependencies?.bucket ?? []).map((d) => byUrn.get(d.urn)).find((b) => b);
  if (viaProperty) return viaProperty;
  // Dependencies name every bucket the resource reads; a replication config also depends on
  // its destination, which its props name by ARN: leave out buckets named elsewhere in props.
  const text = JSON.stringify(props, (_k, v: unknown) => (isUnknown(v) ? null : reveal(v)));
  const candidates = (r.dependencies ?? [])
    .map((d) => byUrn.get(d.urn))
    .filter((b): b is BucketView => !!b && ![...b.refs].some((v) => text.includes(JSON.stringify(v))));
  return candidates.length === 1 ? candidates[0] : undefined;
}

/** Runs `check` per bucket; not applicable when the stack has no bucket. */
function perBucket(
  args: StackValidationArgs,
  report: (message: string, urn?: string) => void,
  check: (bucket: BucketView, all: BucketView[]) => string | undefined,
) {
  const buckets = bucketsOf(args);
  if (buckets.length === 0) args.notApplicable("the stack has no S3 bucket");
  for (const bucket of buckets) {
    const problem = check(bucket, buckets);
    if (problem) report(`${bucket.label}: ${problem}`, bucket.resource.urn);
  }
}

const enabled = (v: unknown) => str(v) === "Enabled";

export const s3BucketSseKms: StackValidationPolicy = stackPolicy(
  {
    name: "s3-bucket-sse-kms",
    description: "Buckets encrypt objects by default with SSE-KMS.",
    severity: "high",
    remediation:
      'Add a BucketServerSideEncryptionConfiguration with applyServerSideEncryptionByDefault { sseAlgorithm: "aws:kms", kmsMasterKeyId } and bucketKeyEnabled: true.',
    benchmarks: ["Checkov CKV_AWS_145", "Checkov CKV_AWS_19"],
    configSchema: {
      properties: {
        allowedAlgorithms: stringList("Accepted sseAlgorithm values.", ["aws:kms", "aws:kms:dsse"]),
      },
    },
  },
  (args, report) => {
    const { allowedAlgorithms } = configOf(args, { allowedAlgorithms: ["aws:kms", "aws:kms:dsse"] });
    perBucket(args, report, (bucket) => {
      const configs = bucket.side.get(S3.encryption) ?? [];
      if (configs.length === 0) return "has no server-side encryption configuration";
      for (const { props } of configs) {
        const rules = list(props.rules);
        if (isUnknown(rules)) return undefined;
        const algorithms = rules.map((r) => {
          const rule = record(r);
          const by = rule && !isUnknown(rule) ? record(rule.applyServerSideEncryptionByDefault) : undefined;
          return by && !isUnknown(by) ? reveal(by.sseAlgorithm) : undefined;
        });
        if (algorithms.some(isUnknown)) return undefined;
        if (
          algorithms.length > 0 &&
          algorithms.every((a) => typeof a === "string" && allowedAlgorithms.includes(a))
        ) {
          return undefined;
        }
        return `encrypts with ${JSON.stringify(algorithms)}; expected one of ${allowedAlgorithms.join(", ")}`;
      }
      return undefined;
    });
  },
);

export const s3BucketVersioning: StackValidationPolicy = stackPolicy(
  {
    name: "s3-bucket-versioning",
    description: "Buckets have versioning enabled (overwritten or deleted backups stay recoverable).",
    severity: "high",
    remediation: 'Add a BucketVersioning with versioningConfiguration { status: "Enabled" }.',
    benchmarks: ["Checkov CKV_AWS_21"],
  },
  (args, report) =>
    perBucket(args, report, (bucket) => {
      const configs = bucket.side.get(S3.versioning) ?? [];
      if (configs.length === 0) return "has no versioning configuration";
      const status = configs.map(({ props }) => {
        const cfg = record(props.versioningConfiguration);
        return cfg && !isUnknown(cfg) ? reveal(cfg.status) : cfg;
      });
      if (status.some(isUnknown) || status.some((s) => s === "Enabled")) return undefined;
      return `versioning status is ${JSON.stringify(status)}, not Enabled`;
    }),
);

const PAB_FLAGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"];

export const s3BucketPublicAccessBlock: StackValidationPolicy = stackPolicy(
  {
    name: "s3-bucket-public-access-block",
    description: "Buckets block public access with all four public access block settings.",
    severity: "critical",
    remediation:
      "Add a BucketPublicAccessBlock with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets all true.",
    benchmarks: [
      "Checkov CKV_AWS_53",
      "Checkov CKV_AWS_54",
      "Checkov CKV_AWS_55",
      "Checkov CKV_AWS_56",
      "Checkov CKV2_AWS_6",
    ],
  },
  (args, report) =>
    perBucket(args, report, (bucket) => {
      const blocks = bucket.side.get(S3.publicAccessBlock) ?? [];
      if (blocks.length === 0) return "has no public access block";
      const { props } = blocks[0];
      const off = PAB_FLAGS.filter((flag) => !isUnknown(props[flag]) && reveal(props[flag]) !== true);
      return off.length > 0 ? `public access block does not set ${off.join(", ")} to true` : undefined;
    }),
);

export const s3BucketAclsDisabled: StackValidationPolicy = stackPolicy(
  {
    name: "s3-bucket-acls-disabled",
    description: "Bucket ACLs are disabled (object ownership BucketOwnerEnforced) and no ACL is granted.",
    severity: "medium",
    remediation:
      'Add a BucketOwnershipControls with rule { objectOwnership: "BucketOwnerEnforced" }; remove BucketAcl resources and `acl` arguments.',
    benchmarks: ["Checkov CKV2_AWS_65"],
  },
  (args, report) =>
    perBucket(args, report, (bucket) => {
      if ((bucket.side.get(S3.acl) ?? []).length > 0) return "has a BucketAcl; ACLs must stay disabled";
      const acl = str(bucket.props.acl);
      if (acl && acl !== "private") return `sets the canned ACL "${acl}"`;
      const controls = bucket.side.get(S3.ownership) ?? [];
      if (controls.length === 0) return "has no ownership controls (ACLs stay enabled)";
      const rule = record(controls[0].props.rule);
      if (isUnknown(rule)) return undefined;
      const ownership = rule ? reveal(rule.objectOwnership) : undefined;
      if (isUnknown(ownership) || ownership === "BucketOwnerEnforced") return undefined;
      return `object ownership is ${String(ownership)}, not BucketOwnerEnforced`;
    }),
);

function isFalse(v: unknown): boolean {
  const inner = reveal(v);
  if (Array.isArray(inner)) return inner.length > 0 && inner.every(isFalse);
  return inner === false || (typeof inner === "string" && inner.toLowerCase() === "false");
}

export const s3BucketTlsOnly: StackValidationPolicy = stackPolicy(
  {
    name: "s3-bucket-tls-only",
    description: "Bucket policies deny every request not made over TLS (aws:SecureTransport false).",
    severity: "high",
    remediation:
      'Add a BucketPolicy statement { Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [bucketArn, bucketArn + "/*"], Condition: { Bool: { "aws:SecureTransport": "false" } } }.',
    benchmarks: ["AWS FSBP S3.5"],
  },
  (args, report) =>
    perBucket(args, report, (bucket) => {
      const policies = bucket.side.get(S3.policy) ?? [];
      if (policies.length === 0) return "has no bucket policy, so plain-HTTP requests are not denied";
      for (const { props } of policies) {
        const { statements, error } = parsePolicyDocument(props.policy);
        if (isUnknown(statements)) return undefined;
        if (error) return error;
        const denies = statements.some((s) => {
          if (s.effect !== "Deny" || !anyonePrincipal(s)) return false;
          if (!s.actions.some((a) => a === "*" || a.toLowerCase() === "s3:*")) return false;
          const bool = s.condition.Bool ?? s.condition.bool;
          if (!bool || !isFalse(bool["aws:SecureTransport"])) return false;
          return (
            s.resources.some((r) => r.endsWith("/*") || r === "*") &&
            s.resources.some((r) => !r.includes("/"))
          );
        });
        if (denies) return undefined;
      }
      return "bucket policy has no Deny of s3:* for aws:SecureTransport=false on the bucket and its objects";
    }),
);

function hasPrefixFilter(rule: Record<string, unknown>): boolean {
  const filter = record(rule.filter);
  if (!filter || isUnknown(filter)) return isUnknown(filter) || !!str(rule.prefix);
  if (str(filter.prefix) || record(filter.tag)) return true;
  const and = record(filter.and);
  return !!and && !isUnknown(and) && (!!str(and.prefix) || !!record(and.tags));
}

export const s3BucketLifecycle: StackValidationPolicy = stackPolicy(
  {
    name: "s3-bucket-lifecycle",
    description:
      "Buckets have a lifecycle: incomplete multipart uploads are aborted, and current objects expire only under a prefix (never pgBackRest's repository).",
    severity: "medium",
    remediation:
      "Add a BucketLifecycleConfiguration with an enabled rule that has abortIncompleteMultipartUpload and noncurrentVersionExpiration; scope any `expiration` of current objects with filter.prefix (e.g. logical/).",
    benchmarks: ["Checkov CKV2_AWS_61", "Checkov CKV_AWS_300"],
  },
  (args, report) =>
    perBucket(args, report, (bucket) => {
      const configs = bucket.side.get(S3.lifecycle) ?? [];
      if (configs.length === 0) return "has no lifecycle configuration";
      const rules = list(configs[0].props.rules);
      if (isUnknown(rules)) return undefined;
      const active = rules
        .map(record)
        .filter((r): r is Record<string, unknown> => !!r && !isUnknown(r) && enabled(r.status));
      if (active.length === 0) return "lifecycle configuration has no enabled rule";
      if (!active.some((r) => record(r.abortIncompleteMultipartUpload))) {
        return "no enabled lifecycle rule aborts incomplete multipart uploads";
      }
      for (const rule of active) {
        const expiration = record(rule.expiration);
        if (!expiration || isUnknown(expiration)) continue;
        const expiresObjects = expiration.days !== undefined || expiration.date !== undefined;
        if (expiresObjects && !hasPrefixFilter(rule)) {
          return `lifecycle rule "${str(rule.id) ?? "?"}" expires current objects bucket-wide; that deletes pgBackRest's repository files, scope it with a prefix`;
        }
      }
      return undefined;
    }),
);

/** Whether a bucket is the destination of another bucket's replication configuration. */
function replicaTest(args: StackValidationArgs): (bucket: BucketView) => boolean {
  const buckets = bucketsOf(args);
  const destinations = new Set<string>();
  /** Replicas found through dependencies: a destination ARN is unknown before the first `up`. */
  const replicaUrns = new Set<string>();
  for (const b of buckets) {
    for (const { props, resource } of b.side.get(S3.replication) ?? []) {
      const linked = [...(resource.propertyDependencies?.rules ?? []), ...(resource.dependencies ?? [])];
      for (const dep of linked) {
        if (dep.type === S3.bucket && dep.urn !== b.resource.urn) replicaUrns.add(dep.urn);
      }
      const rules = list(props.rules);
      if (isUnknown(rules)) continue;
      for (const r of rules) {
        const rule = record(r);
        const dest = rule && !isUnknown(rule) ? record(rule.destination) : undefined;
        const ref = dest && !isUnknown(dest) ? str(dest.bucket) : undefined;
        if (ref) destinations.add(ref);
      }
    }
  }
  return (bucket) =>
    replicaUrns.has(bucket.resource.urn) || [...bucket.refs].some((ref) => destinations.has(ref));
}

export const s3BucketReplication: StackValidationPolicy = stackPolicy(
  {
    name: "s3-bucket-replication",
    description:
      "In the listed environments every source bucket replicates to another region (replica buckets excepted).",
    severity: "medium",
    remediation:
      'Add a BucketReplicationConfig with an enabled rule to the replica bucket (config key for the replica region), or list the environment out of this rule\'s "environments".',
    benchmarks: ["Checkov CKV_AWS_144"],
    configSchema: { properties: { environments: environmentsOption(["prod"]) } },
  },
  (args, report) => {
    const { environments } = configOf(args, { environments: ["prod"] });
    const env = environmentOfStack(args.resources);
    if (!appliesIn(env, environments))
      args.notApplicable(`replication is required only in ${environments.join(", ")}`);
    const isReplica = replicaTest(args);
    perBucket(args, report, (bucket) => {
      if (isReplica(bucket)) return undefined;
      const configs = bucket.side.get(S3.replication) ?? [];
      if (configs.length === 0) return `has no replication configuration in ${env}`;
      const rules = list(configs[0].props.rules);
      if (isUnknown(rules)) return undefined;
      const on = rules.map(record).some((r) => r && !isUnknown(r) && enabled(r.status));
      return on ? undefined : "replication configuration has no enabled rule";
    });
  },
);

export const s3BucketObjectLock: StackValidationPolicy = stackPolicy(
  {
    name: "s3-bucket-object-lock",
    description:
      "Backup buckets have Object Lock enabled; source buckets keep every new version for at least minRetentionDays (a stolen writer key cannot destroy the backups).",
    severity: "high",
    remediation:
      "Set backupObjectLockDays (>= minRetentionDays) in the stack config: the bucket gets a BucketObjectLockConfiguration with a GOVERNANCE or COMPLIANCE default retention. A replica needs Object Lock enabled only (replicated versions keep the source's retention).",
    benchmarks: ["Checkov CKV_AWS_143"],
    configSchema: { properties: { minRetentionDays: { type: "integer", minimum: 1, default: 7 } } },
  },
  (args, report) => {
    const { minRetentionDays } = configOf(args, { minRetentionDays: 7 });
    const isReplica = replicaTest(args);
    perBucket(args, report, (bucket) => {
      const configs = bucket.side.get(S3.objectLock) ?? [];
      if (configs.length === 0) return "has no Object Lock configuration (config backupObjectLockDays)";
      const { props } = configs[0];
      const state = reveal(props.objectLockEnabled);
      if (isUnknown(state)) return undefined;
      if (state !== undefined && state !== "Enabled")
        return `Object Lock is ${JSON.stringify(state)}, not Enabled`;
      if (isReplica(bucket)) return undefined;
      const rule = record(props.rule);
      if (isUnknown(rule)) return undefined;
      const retention = rule ? record(rule.defaultRetention) : undefined;
      if (isUnknown(retention)) return undefined;
      if (!retention) return "Object Lock has no default retention: new versions are not locked";
      const mode = reveal(retention.mode);
      const days = reveal(retention.days);
      const years = reveal(retention.years);
      if ([mode, days, years].some(isUnknown)) return undefined;
      if (mode !== "GOVERNANCE" && mode !== "COMPLIANCE")
        return `Object Lock default retention mode is ${JSON.stringify(mode)}, not GOVERNANCE or COMPLIANCE`;
      const total = typeof years === "number" ? years * 365 : typeof days === "number" ? days : 0;
      return total >= minRetentionDays
        ? undefined
        : `Object Lock default retention is ${total} day(s); at least ${minRetentionDays} required`;
    });
  },
);

export const s3BucketPolicyNoPublicPrincipal = resourcePolicy(
  {
    name: "s3-bucket-policy-no-public-principal",
    description: 'Bucket policies never Allow the "*" principal.',
    severity: "critical",
    remediation: 'Grant access to the backup writer\'s IAM role/user ARN instead of "*".',
    benchmarks: ["Checkov CKV_AWS_70"],
  },
  [S3.policy],
  (props, args, report) => {
    const { statements, error } = parsePolicyDocument(props.policy);
    if (isUnknown(statements)) return;
    if (error) {
      report(`bucket policy "${args.name}": ${error}`);
      return;
    }
    for (const s of statements) {
      if (s.effect === "Allow" && anyonePrincipal(s)) {
        report(
          `bucket policy "${args.name}" allows ${s.actions.join(", ") || "actions"} to any principal ("*")${s.sid ? ` in ${s.sid}` : ""}`,
        );
      }
    }
  },
);

export const s3Policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  s3BucketSseKms,
  s3BucketVersioning,
  s3BucketPublicAccessBlock,
  s3BucketAclsDisabled,
  s3BucketTlsOnly,
  s3BucketLifecycle,
  s3BucketReplication,
  s3BucketObjectLock,
  s3BucketPolicyNoPublicPrincipal,
];
