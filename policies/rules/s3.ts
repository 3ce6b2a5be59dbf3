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
  UNKNOWN,
  type Unknown,
  appliesIn,
  configOf,
  containsUnknown,
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

/**
 * Every bucket resource type of @pulumi/aws 7: the general-purpose Bucket, its deprecated
 * BucketV2 spelling (same bucket, list-shaped inline arguments), S3 Express directory buckets,
 * S3 on Outposts buckets, S3 Tables and S3 Vectors buckets. All get the same checks: a type
 * that cannot have versioning or Object Lock cannot hold the backups and is reported.
 */
export const BUCKET_TYPES = [
  S3.bucket,
  "aws:s3/bucketV2:BucketV2",
  "aws:s3/directoryBucket:DirectoryBucket",
  "aws:s3control/bucket:Bucket",
  "aws:s3tables/tableBucket:TableBucket",
  "aws:s3/vectorsVectorBucket:VectorsVectorBucket",
];

type SideKind = Exclude<keyof typeof S3, "bucket">;

/** Side resource types per kind: the v7 types, their deprecated V2 aliases, S3 on Outposts ones. */
export const SIDE_TYPES: Record<SideKind, string[]> = {
  encryption: [
    S3.encryption,
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
  ],
  versioning: [S3.versioning, "aws:s3/bucketVersioningV2:BucketVersioningV2"],
  publicAccessBlock: [S3.publicAccessBlock],
  ownership: [S3.ownership],
  acl: [S3.acl, "aws:s3/bucketAclV2:BucketAclV2"],
  policy: [S3.policy, "aws:s3control/bucketPolicy:BucketPolicy"],
  lifecycle: [
    S3.lifecycle,
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
    "aws:s3control/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  ],
  replication: [S3.replication],
  objectLock: [S3.objectLock, "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2"],
};
const KIND_OF = new Map<string, SideKind>(
  (Object.entries(SIDE_TYPES) as [SideKind, string[]][]).flatMap(([kind, types]) =>
    types.map((t): [string, SideKind] => [t, kind]),
  ),
);

interface Res {
  resource: PolicyResource;
  props: Record<string, unknown>;
}

interface BucketView extends Res {
  /** Every value the bucket is referred to by: name, id, ARN. */
  refs: Set<string>;
  label: string;
  /** Side resources attached to the bucket, by kind. */
  side: Map<SideKind, Res[]>;
}

/** Buckets of the stack with their side resources (matched by name/ARN value, then by dependency). */
export function bucketsOf(args: StackValidationArgs): BucketView[] {
  const buckets: BucketView[] = [];
  const byUrn = new Map<string, BucketView>();
  for (const r of args.resources) {
    if (!BUCKET_TYPES.includes(r.type)) continue;
    const props = materialize(r.props) as Record<string, unknown>;
    const refs = new Set(
      [str(props.bucket), str(props.name), str(props.id), str(props.arn)].filter((v): v is string => !!v),
    );
    view(buckets, byUrn, r, props, refs, r.type === S3.bucket ? "bucket" : r.type);
  }
  for (const r of args.resources) {
    const kind = KIND_OF.get(r.type);
    if (!kind) continue;
    const props = materialize(r.props) as Record<string, unknown>;
    const owner = ownerOf(r, props, buckets, byUrn);
    if (!owner) continue;
    const entries = owner.side.get(kind) ?? [];
    entries.push({ resource: r, props });
    owner.side.set(kind, entries);
  }
  return buckets;
}

function view(
  buckets: BucketView[],
  byUrn: Map<string, BucketView>,
  r: PolicyResource,
  props: Record<string, unknown>,
  refs: Set<string>,
  kind: string,
) {
  const name = str(props.bucket) ?? str(props.name) ?? r.name;
  const label = kind === "bucket" ? `bucket "${name}"` : `bucket "${name}" (${kind})`;
  const v: BucketView = { resource: r, props, refs, label, side: new Map() };
  buckets.push(v);
  byUrn.set(r.urn, v);
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

// ---------- inline bucket arguments ----------
// aws.s3.Bucket (v7) takes single blocks (`versioning`, `serverSideEncryptionConfiguration.rule`),
// BucketV2 lists (`versionings`, `serverSideEncryptionConfigurations[].rules[]`). The provider
// reads them back from the bucket, so after the first `up` they mirror the side resources:
// a rule reads them only when the bucket has no side resource of that kind.

/** The items of a block given as an object or a list; UNKNOWN when not known yet. */
function blocks(v: unknown): Record<string, unknown>[] | Unknown {
  const inner = reveal(v);
  if (isUnknown(inner) || containsUnknown(inner)) return UNKNOWN;
  const items = Array.isArray(inner) ? inner : inner === undefined || inner === null ? [] : [inner];
  return items
    .map((i) => reveal(i))
    .filter((i): i is Record<string, unknown> => i !== null && typeof i === "object" && !Array.isArray(i));
}

/** The blocks of the first of `keys` that is set (singular and plural spellings). */
function inline(props: Record<string, unknown>, ...keys: string[]): Record<string, unknown>[] | Unknown {
  for (const key of keys) if (props[key] !== undefined && props[key] !== null) return blocks(props[key]);
  return [];
}

/** Inline default encryption algorithms; [] when the bucket sets none. */
function inlineAlgorithms(props: Record<string, unknown>): (string | undefined)[] | Unknown {
  const configs = inline(props, "serverSideEncryptionConfiguration", "serverSideEncryptionConfigurations");
  const table = inline(props, "encryptionConfiguration"); // S3 Tables / Vectors: { sseAlgorithm, kmsKeyArn }
  if (isUnknown(configs) || isUnknown(table)) return UNKNOWN;
  const algorithms: (string | undefined)[] = table.map((t) => str(t.sseAlgorithm));
  for (const config of configs) {
    const rules = inline(config, "rule", "rules");
    if (isUnknown(rules)) return UNKNOWN;
    for (const rule of rules) {
      const by = inline(rule, "applyServerSideEncryptionByDefault", "applyServerSideEncryptionByDefaults");
      if (isUnknown(by)) return UNKNOWN;
      algorithms.push(...(by.length > 0 ? by.map((b) => str(b.sseAlgorithm)) : [undefined]));
    }
  }
  return algorithms;
}

/** Lifecycle rules in the side resources' shape (status, filter.prefix, abortIncompleteMultipartUpload, expiration). */
function inlineLifecycleRules(props: Record<string, unknown>): Record<string, unknown>[] | Unknown {
  const rules = inline(props, "lifecycleRules");
  if (isUnknown(rules)) return UNKNOWN;
  return rules.map((r) => {
    const expiration = inline(r, "expiration", "expirations");
    const days = reveal(r.abortIncompleteMultipartUploadDays);
    return {
      id: r.id,
      status: reveal(r.enabled) === true ? "Enabled" : "Disabled",
      prefix: r.prefix,
      filter: str(r.prefix) || record(r.tags) ? { prefix: r.prefix, tag: r.tags } : undefined,
      abortIncompleteMultipartUpload:
        typeof days === "number" && days > 0 ? { daysAfterInitiation: days } : undefined,
      expiration: isUnknown(expiration) ? undefined : expiration[0],
    };
  });
}

/** Inline replication rules in the side resource's shape (status, destination.bucket). */
function inlineReplicationRules(props: Record<string, unknown>): Record<string, unknown>[] | Unknown {
  const configs = inline(props, "replicationConfiguration", "replicationConfigurations");
  if (isUnknown(configs)) return UNKNOWN;
  const rules: Record<string, unknown>[] = [];
  for (const config of configs) {
    const items = inline(config, "rules");
    if (isUnknown(items)) return UNKNOWN;
    for (const rule of items) {
      const destinations = inline(rule, "destination", "destinations");
      rules.push({ ...rule, destination: isUnknown(destinations) ? undefined : destinations[0] });
    }
  }
  return rules;
}

/** Inline Object Lock in the side resource's shape ({ objectLockEnabled, rule.defaultRetention }). */
function inlineObjectLock(props: Record<string, unknown>): Record<string, unknown> | Unknown | undefined {
  const configs = inline(props, "objectLockConfiguration", "objectLockConfigurations");
  if (isUnknown(configs)) return UNKNOWN;
  const enabledFlag = reveal(props.objectLockEnabled);
  if (configs.length === 0) return enabledFlag === true ? { objectLockEnabled: "Enabled" } : undefined;
  const config = configs[0];
  const rules = inline(config, "rule", "rules");
  if (isUnknown(rules)) return UNKNOWN;
  const retention = rules.length > 0 ? inline(rules[0], "defaultRetention", "defaultRetentions") : [];
  if (isUnknown(retention)) return UNKNOWN;
  return {
    objectLockEnabled: config.objectLockEnabled ?? (enabledFlag === true ? "Enabled" : undefined),
    rule: retention.length > 0 ? { defaultRetention: retention[0] } : undefined,
  };
}

/** ACL grants to everyone or to every AWS account. */
const PUBLIC_GRANTEES = /acs\.amazonaws\.com\/groups\/global\/(AllUsers|AuthenticatedUsers)$/;

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
    const judge = (algorithms: unknown[], where: string) =>
      algorithms.length > 0 && algorithms.every((a) => typeof a === "string" && allowedAlgorithms.includes(a))
        ? undefined
        : `encrypts with ${JSON.stringify(algorithms)}${where}; expected one of ${allowedAlgorithms.join(", ")}`;
    perBucket(args, report, (bucket) => {
      const configs = bucket.side.get("encryption") ?? [];
      if (configs.length === 0) {
        const algorithms = inlineAlgorithms(bucket.props);
        if (isUnknown(algorithms)) return undefined;
        if (algorithms.length === 0) return "has no server-side encryption configuration";
        return judge(algorithms, " (inline serverSideEncryptionConfiguration)");
      }
      for (const { props } of configs) {
        const rules = list(props.rules);
        if (isUnknown(rules)) return undefined;
        const algorithms = rules.map((r) => {
          const rule = record(r);
          const by = rule && !isUnknown(rule) ? record(rule.applyServerSideEncryptionByDefault) : undefined;
          return by && !isUnknown(by) ? reveal(by.sseAlgorithm) : undefined;
        });
        if (algorithms.some(isUnknown)) return undefined;
        return judge(algorithms, "");
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
      const configs = bucket.side.get("versioning") ?? [];
      if (configs.length === 0) {
        const own = inline(bucket.props, "versioning", "versionings");
        if (isUnknown(own)) return undefined;
        if (own.length === 0) return "has no versioning configuration";
        const on = own.map((v) => reveal(v.enabled));
        if (on.some(isUnknown) || on.some((v) => v === true)) return undefined;
        return "inline versioning is not enabled (versioning.enabled is not true)";
      }
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
      const pabs = bucket.side.get("publicAccessBlock") ?? [];
      if (pabs.length === 0) return "has no public access block";
      const { props } = pabs[0];
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
      if ((bucket.side.get("acl") ?? []).length > 0) return "has a BucketAcl; ACLs must stay disabled";
      const acl = str(bucket.props.acl);
      if (acl && acl !== "private") return `sets the canned ACL "${acl}"`;
      // Read back after `up`, grants list the owner's FULL_CONTROL: only public groups are refused.
      const grants = inline(bucket.props, "grants");
      const open = isUnknown(grants) ? [] : grants.filter((g) => PUBLIC_GRANTEES.test(str(g.uri) ?? ""));
      if (open.length > 0)
        return `grants ${open.map((g) => `${String(reveal(g.permissions))} to ${str(g.uri)}`).join(", ")}`;
      const controls = bucket.side.get("ownership") ?? [];
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
      const sidePolicies = bucket.side.get("policy") ?? [];
      const own = reveal(bucket.props.policy);
      // An inline `policy` argument counts when there is no BucketPolicy resource.
      const policies =
        sidePolicies.length > 0 || own === undefined || own === null || own === ""
          ? sidePolicies
          : [{ resource: bucket.resource, props: { policy: own } }];
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
      const configs = bucket.side.get("lifecycle") ?? [];
      const rules = configs.length > 0 ? list(configs[0].props.rules) : inlineLifecycleRules(bucket.props);
      if (isUnknown(rules)) return undefined;
      if (configs.length === 0 && rules.length === 0) return "has no lifecycle configuration";
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
    const configs = b.side.get("replication") ?? [];
    const inlineRules = inlineReplicationRules(b.props);
    const sources = [
      ...configs,
      ...(configs.length === 0 && !isUnknown(inlineRules) && inlineRules.length > 0
        ? [{ resource: b.resource, props: { rules: inlineRules } }]
        : []),
    ];
    for (const { props, resource } of sources) {
      const linked =
        resource === b.resource
          ? []
          : [...(resource.propertyDependencies?.rules ?? []), ...(resource.dependencies ?? [])];
      for (const dep of linked) {
        if (BUCKET_TYPES.includes(dep.type) && dep.urn !== b.resource.urn) replicaUrns.add(dep.urn);
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
      const configs = bucket.side.get("replication") ?? [];
      const rules = configs.length > 0 ? list(configs[0].props.rules) : inlineReplicationRules(bucket.props);
      if (isUnknown(rules)) return undefined;
      if (configs.length === 0 && rules.length === 0) return `has no replication configuration in ${env}`;
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
      const configs = bucket.side.get("objectLock") ?? [];
      const own = configs.length === 0 ? inlineObjectLock(bucket.props) : undefined;
      if (isUnknown(own)) return undefined;
      const props = configs.length > 0 ? configs[0].props : own;
      if (!props) return "has no Object Lock configuration (config backupObjectLockDays)";
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

/** Resources whose `policy` (or S3 Tables' `resourcePolicy`) is a bucket's resource policy. */
const BUCKET_POLICY_TYPES = [
  ...SIDE_TYPES.policy,
  S3.bucket,
  "aws:s3/bucketV2:BucketV2",
  "aws:s3tables/tableBucketPolicy:TableBucketPolicy",
  "aws:s3/vectorsVectorBucketPolicy:VectorsVectorBucketPolicy",
];

export const s3BucketPolicyNoPublicPrincipal = resourcePolicy(
  {
    name: "s3-bucket-policy-no-public-principal",
    description:
      'Bucket policies (BucketPolicy resources and inline `policy` arguments of every bucket type) never Allow the "*" principal.',
    severity: "critical",
    remediation: 'Grant access to the backup writer\'s IAM role/user ARN instead of "*".',
    benchmarks: ["Checkov CKV_AWS_70"],
  },
  BUCKET_POLICY_TYPES,
  (props, args, report) => {
    const document = props.policy ?? props.resourcePolicy;
    if (document === undefined || document === null || document === "") return;
    const { statements, error } = parsePolicyDocument(document);
    if (isUnknown(statements)) return;
    const label =
      SIDE_TYPES.policy.includes(args.type) || args.type.endsWith("Policy")
        ? `bucket policy "${args.name}"`
        : `bucket "${str(props.bucket) ?? args.name}" inline policy`;
    if (error) {
      report(`${label}: ${error}`);
      return;
    }
    for (const s of statements) {
      if (s.effect === "Allow" && anyonePrincipal(s)) {
        report(
          `${label} allows ${s.actions.join(", ") || "actions"} to any principal ("*")${s.sid ? ` in ${s.sid}` : ""}`,
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
