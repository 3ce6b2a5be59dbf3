import type { StackValidationPolicy } from "@pulumi/policy";
import { describe, expect, it } from "vitest";
import { iamBackupWriterLeastPrivilege } from "../../../policies/rules/iam";
import * as s3 from "../../../policies/rules/s3";
import { checkResource, checkStack, type StackResource } from "./support";

const T = s3.S3;
const tlsPolicy = (bucket: string, extra: object[] = []) =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
      ...extra,
    ],
  });

/**
 * A compliant bucket with its side resources. `ref` is how side resources name the bucket:
 * "name" (bucket.bucket), "id" (the mock's id, which the bucket's outputs do not carry, so
 * only the dependency links it), like the offline plan.
 */
function bucketSet(
  key: string,
  bucket: string,
  ref: "name" | "id" = "name",
  lock: "retention" | "enabled" = "retention",
): StackResource[] {
  const b = ref === "name" ? bucket : `${key}-0a1b2c3d`;
  const side = (type: string, suffix: string, props: Record<string, unknown>): StackResource => ({
    type,
    name: `${key}-${suffix}`,
    props: { bucket: b, ...props },
    dependsOn: [key],
  });
  return [
    { type: T.bucket, name: key, props: { bucket, arn: `arn:aws:s3:::${bucket}` } },
    side(T.encryption, "sse", {
      rules: [
        {
          applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "arn:aws:kms:x" },
          bucketKeyEnabled: true,
        },
      ],
    }),
    side(T.versioning, "versioning", { versioningConfiguration: { status: "Enabled" } }),
    side(T.objectLock, "object-lock", {
      objectLockEnabled: "Enabled",
      ...(lock === "retention" ? { rule: { defaultRetention: { mode: "GOVERNANCE", days: 30 } } } : {}),
    }),
    side(T.publicAccessBlock, "pab", {
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    }),
    side(T.ownership, "ownership", { rule: { objectOwnership: "BucketOwnerEnforced" } }),
    side(T.policy, "policy", { policy: tlsPolicy(bucket) }),
    side(T.lifecycle, "lifecycle", {
      rules: [
        {
          id: "noncurrent",
          status: "Enabled",
          filter: {},
          abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          noncurrentVersionExpiration: { noncurrentDays: 90 },
        },
        { id: "logical-dumps", status: "Enabled", filter: { prefix: "logical/" }, expiration: { days: 90 } },
      ],
    }),
  ];
}

function prodBuckets(ref: "name" | "id" = "name"): StackResource[] {
  return [
    ...bucketSet("backups", "bi-prod-backups", ref),
    // A replica needs Object Lock enabled only: replicated versions keep the source's retention.
    ...bucketSet("replica", "bi-prod-replica", ref, "enabled"),
    {
      type: T.replication,
      name: "backups-replication",
      props: {
        bucket: ref === "name" ? "bi-prod-backups" : "backups-0a1b2c3d",
        role: "arn:aws:iam::1:role/replication",
        rules: [{ id: "all", status: "Enabled", destination: { bucket: "arn:aws:s3:::bi-prod-replica" } }],
      },
      dependsOn: ["backups", "replica"],
    },
  ];
}

const replace = (resources: StackResource[], name: string, props: Record<string, unknown> | undefined) =>
  props === undefined
    ? resources.filter((r) => r.name !== name)
    : resources.map((r) => (r.name === name ? { ...r, props: { ...r.props, ...props } } : r));

const stackCases: [StackValidationPolicy, string, Record<string, unknown> | undefined, RegExp][] = [
  [s3.s3BucketSseKms, "backups-sse", undefined, /has no server-side encryption/],
  [
    s3.s3BucketSseKms,
    "backups-sse",
    { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
    /AES256/,
  ],
  [s3.s3BucketVersioning, "backups-versioning", undefined, /no versioning/],
  [
    s3.s3BucketVersioning,
    "backups-versioning",
    { versioningConfiguration: { status: "Suspended" } },
    /Suspended/,
  ],
  [s3.s3BucketPublicAccessBlock, "backups-pab", undefined, /no public access block/],
  [s3.s3BucketPublicAccessBlock, "backups-pab", { restrictPublicBuckets: false }, /restrictPublicBuckets/],
  [s3.s3BucketAclsDisabled, "backups-ownership", undefined, /no ownership controls/],
  [
    s3.s3BucketAclsDisabled,
    "backups-ownership",
    { rule: { objectOwnership: "ObjectWriter" } },
    /ObjectWriter/,
  ],
  [s3.s3BucketTlsOnly, "backups-policy", undefined, /no bucket policy/],
  [
    s3.s3BucketTlsOnly,
    "backups-policy",
    {
      policy: JSON.stringify({
        Statement: [{ Effect: "Deny", Principal: "*", Action: "s3:DeleteBucket", Resource: "*" }],
      }),
    },
    /no Deny of s3:\* for aws:SecureTransport=false/,
  ],
  [s3.s3BucketTlsOnly, "backups-policy", { policy: "{not json" }, /not valid JSON/],
  [s3.s3BucketLifecycle, "backups-lifecycle", undefined, /no lifecycle configuration/],
  [
    s3.s3BucketLifecycle,
    "backups-lifecycle",
    { rules: [{ id: "x", status: "Enabled", noncurrentVersionExpiration: { noncurrentDays: 1 } }] },
    /aborts incomplete multipart/,
  ],
  [
    s3.s3BucketLifecycle,
    "backups-lifecycle",
    {
      rules: [
        {
          id: "all",
          status: "Enabled",
          filter: {},
          abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          expiration: { days: 30 },
        },
      ],
    },
    /expires current objects bucket-wide/,
  ],
  [
    s3.s3BucketLifecycle,
    "backups-lifecycle",
    { rules: [{ id: "off", status: "Disabled" }] },
    /no enabled rule/,
  ],
  [
    s3.s3BucketReplication,
    "backups-replication",
    { rules: [{ status: "Disabled", destination: { bucket: "arn:aws:s3:::bi-prod-replica" } }] },
    /no enabled rule/,
  ],
  [s3.s3BucketObjectLock, "backups-object-lock", undefined, /has no Object Lock configuration/],
  [s3.s3BucketObjectLock, "backups-object-lock", { rule: undefined }, /no default retention/],
  [
    s3.s3BucketObjectLock,
    "backups-object-lock",
    { rule: { defaultRetention: { mode: "GOVERNANCE", days: 3 } } },
    /default retention is 3 day\(s\); at least 7 required/,
  ],
  [
    s3.s3BucketObjectLock,
    "backups-object-lock",
    { rule: { defaultRetention: { mode: "NONE", days: 30 } } },
    /mode is "NONE"/,
  ],
];

describe("S3 stack policies", () => {
  for (const policy of [...new Set(stackCases.map(([p]) => p))]) {
    describe(policy.name, () => {
      it("passes compliant source and replica buckets (side resources named by bucket name)", async () => {
        expect(await checkStack(policy, prodBuckets())).toEqual({
          violations: [],
          urns: [],
          notApplicable: undefined,
        });
      });
      it("passes when side resources reference the bucket id (linked through dependencies)", async () => {
        expect((await checkStack(policy, prodBuckets("id"))).violations).toEqual([]);
      });
      for (const [, name, props, message] of stackCases.filter(([p]) => p === policy)) {
        it(`fails: ${name} ${props === undefined ? "missing" : JSON.stringify(props).slice(0, 60)}`, async () => {
          const outcome = await checkStack(policy, replace(prodBuckets(), name, props));
          expect(outcome.violations).toHaveLength(1);
          expect(outcome.violations[0]).toMatch(/^bucket "bi-prod-backups": /);
          expect(outcome.violations[0]).toMatch(message);
          expect(outcome.urns[0]).toMatch(/aws:s3\/bucket:Bucket::backups$/);
        });
      }
      it("is not applicable to a stack without buckets", async () => {
        const outcome = await checkStack(policy, [
          { type: "docker:index/network:Network", name: "n", props: {} },
        ]);
        expect(outcome.notApplicable).toMatch(/no S3 bucket/);
      });
    });
  }

  it("a side resource for another bucket does not count", async () => {
    const resources = prodBuckets().filter((r) => r.name !== "replica-versioning");
    const outcome = await checkStack(s3.s3BucketVersioning, resources);
    expect(outcome.violations).toEqual([
      expect.stringMatching(/^bucket "bi-prod-replica": has no versioning/),
    ]);
  });

  it("s3-bucket-replication finds the replica through dependencies when its ARN is unknown (first preview)", async () => {
    const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    const firstPreview = replace(prodBuckets(), "backups-replication", {
      rules: [{ id: "all", status: "Enabled", destination: { bucket: UNKNOWN_STRING } }],
    });
    expect((await checkStack(s3.s3BucketReplication, firstPreview)).violations).toEqual([]);
    // Without the dependency the replica cannot be told apart: it is reported.
    const unlinked = firstPreview.map((r) =>
      r.name === "backups-replication" ? { ...r, dependsOn: ["backups"] } : r,
    );
    expect((await checkStack(s3.s3BucketReplication, unlinked)).violations).toEqual([
      expect.stringMatching(/^bucket "bi-prod-replica": has no replication configuration/),
    ]);
  });

  it("s3-bucket-acls-disabled also rejects BucketAcl resources and canned ACLs", async () => {
    const withAcl = [
      ...prodBuckets(),
      { type: T.acl, name: "backups-acl", props: { bucket: "bi-prod-backups", acl: "private" } },
    ];
    expect((await checkStack(s3.s3BucketAclsDisabled, withAcl)).violations[0]).toMatch(/has a BucketAcl/);
    const canned = replace(prodBuckets(), "backups", { acl: "public-read" });
    expect((await checkStack(s3.s3BucketAclsDisabled, canned)).violations[0]).toMatch(
      /canned ACL "public-read"/,
    );
  });

  it("s3-bucket-replication applies only in the configured environments", async () => {
    const noReplication = prodBuckets().filter((r) => r.type !== T.replication);
    expect(
      (await checkStack(s3.s3BucketReplication, noReplication, { stack: "staging" })).notApplicable,
    ).toMatch(/only in prod/);
    // Without a replication config neither bucket is known to be a replica: both are reported.
    const both = await checkStack(s3.s3BucketReplication, noReplication, { stack: "prod" });
    expect(both.violations).toEqual([
      expect.stringMatching(/^bucket "bi-prod-backups": has no replication configuration in prod/),
      expect.stringMatching(/^bucket "bi-prod-replica": has no replication configuration in prod/),
    ]);
    const staging = await checkStack(s3.s3BucketReplication, noReplication, {
      stack: "staging",
      config: { environments: ["staging"] },
    });
    expect(staging.violations).toHaveLength(2);
  });

  it("s3-bucket-sse-kms accepts configured algorithms (e.g. a MinIO stack)", async () => {
    const aes = replace(prodBuckets(), "backups-sse", {
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
    });
    const outcome = await checkStack(s3.s3BucketSseKms, aes, {
      config: { allowedAlgorithms: ["aws:kms", "AES256"] },
    });
    expect(outcome.violations).toEqual([]);
  });
});

describe("s3-bucket-policy-no-public-principal", () => {
  const policy = s3.s3BucketPolicyNoPublicPrincipal;
  const type = T.policy;
  it("passes a TLS deny for everyone and an allow for a named role", async () => {
    const doc = tlsPolicy("b", [
      {
        Effect: "Allow",
        Principal: { AWS: "arn:aws:iam::1:role/writer" },
        Action: "s3:PutObject",
        Resource: "arn:aws:s3:::b/*",
      },
    ]);
    expect(await checkResource(policy, type, { bucket: "b", policy: doc })).toEqual({
      violations: [],
      notApplicable: undefined,
    });
  });
  it("fails an Allow to * (string or AWS map, object or JSON)", async () => {
    const anyone = {
      Version: "2012-10-17",
      Statement: { Sid: "Public", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "*" },
    };
    expect((await checkResource(policy, type, { policy: anyone })).violations[0]).toMatch(
      /allows s3:GetObject to any principal \("\*"\) in Public/,
    );
    const aws = JSON.stringify({
      Statement: [{ Effect: "Allow", Principal: { AWS: ["*"] }, Action: ["s3:*"], Resource: "*" }],
    });
    expect((await checkResource(policy, type, { policy: aws })).violations).toHaveLength(1);
  });
  it("is not applicable to other types; a bucket without an inline policy has nothing to check", async () => {
    expect((await checkResource(policy, T.ownership, { bucket: "b" })).notApplicable).toBeDefined();
    expect(await checkResource(policy, T.bucket, { bucket: "b" })).toEqual({
      violations: [],
      notApplicable: undefined,
    });
  });
});

describe("iam-backup-writer-least-privilege", () => {
  const policy = iamBackupWriterLeastPrivilege;
  const doc = (...statements: object[]) => JSON.stringify({ Version: "2012-10-17", Statement: statements });
  const writer = doc(
    {
      Effect: "Allow",
      Action: ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
      Resource: "arn:aws:s3:::b/*",
    },
    { Effect: "Allow", Action: ["s3:ListBucket", "s3:GetBucketLocation"], Resource: "arn:aws:s3:::b" },
    { Effect: "Deny", Action: ["s3:DeleteObjectVersion"], Resource: "arn:aws:s3:::b/*" },
  );
  for (const type of [
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/rolePolicy:RolePolicy",
  ]) {
    it(`passes a least-privilege writer (${type})`, async () => {
      expect(await checkResource(policy, type, { name: "writer", policy: writer })).toEqual({
        violations: [],
        notApplicable: undefined,
      });
    });
  }
  it("fails version deletion, wildcards that cover bucket admin, and NotAction", async () => {
    const type = "aws:iam/policy:Policy";
    const versions = await checkResource(policy, type, {
      policy: doc({ Effect: "Allow", Action: "s3:DeleteObjectVersion", Resource: "*" }),
    });
    expect(versions.violations[0]).toMatch(/covers s3:DeleteObjectVersion$/);
    const star = await checkResource(policy, type, {
      policy: doc({ Effect: "Allow", Action: "s3:*", Resource: "*" }),
    });
    expect(star.violations[0]).toMatch(/covers s3:DeleteObjectVersion.*s3:PutBucketPolicy/);
    const putBucket = await checkResource(policy, type, {
      policy: doc({ Effect: "Allow", Action: ["s3:PutBucket*"], Resource: "*" }),
    });
    expect(putBucket.violations[0]).toMatch(/s3:PutBucketPolicy.*s3:PutBucketVersioning/);
    const everything = await checkResource(policy, type, {
      policy: { Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] },
    });
    expect(everything.violations[0]).toMatch(/kms:PutKeyPolicy/);
    const notAction = await checkResource(policy, type, {
      policy: doc({ Effect: "Allow", NotAction: "iam:*", Resource: "*" }),
    });
    expect(notAction.violations[0]).toMatch(/NotAction/);
    // Managed admin policies are iam-no-admin-managed-policies' (kms-iam.test.ts).
    const attach = await checkResource(policy, "aws:iam/userPolicyAttachment:UserPolicyAttachment", {
      policyArn: "arn:aws:iam::aws:policy/AmazonS3FullAccess",
    });
    expect(attach.notApplicable).toBeDefined();
  });
  it("covers a role's inline policies", async () => {
    const role = await checkResource(policy, "aws:iam/role:Role", {
      name: "ops",
      assumeRolePolicy: "{}",
      inlinePolicies: [
        { name: "ok", policy: writer },
        { name: "admin", policy: doc({ Effect: "Allow", Action: "s3:*", Resource: "arn:aws:s3:::b" }) },
      ],
    });
    expect(role.violations).toEqual([
      expect.stringMatching(
        /^role "ops" inline policy "admin" allows s3:\*, which covers s3:DeleteObjectVersion/,
      ),
    ]);
  });
  it("exempts configured policies and skips other types", async () => {
    const star = { policy: doc({ Effect: "Allow", Action: "s3:*", Resource: "*" }) };
    const exempt = await checkResource(policy, "aws:iam/policy:Policy", star, {
      name: "ops",
      config: { exemptPolicies: ["ops"] },
    });
    expect(exempt.notApplicable).toMatch(/exempted/);
    expect((await checkResource(policy, T.bucket, {})).notApplicable).toBeDefined();
  });
});
