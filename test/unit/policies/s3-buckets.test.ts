/**
 * Every bucket type of @pulumi/aws 7 gets the checks of aws.s3.Bucket: BucketV2 (list-shaped
 * inline arguments), directory, Outposts, S3 Tables and Vectors buckets, the V2 side resources,
 * and the inline arguments of Bucket/BucketV2 (versioning, serverSideEncryptionConfiguration,
 * lifecycleRules, objectLockConfiguration, replicationConfiguration, acl, grants, policy).
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { describe, expect, it } from "vitest";
import * as s3 from "../../../policies/rules/s3";
import { checkResource, checkStack, type StackResource } from "./support";

const T = s3.S3;
const BUCKET_V2 = "aws:s3/bucketV2:BucketV2";
const STACK_RULES: StackValidationPolicy[] = s3.s3Policies.filter(
  (p): p is StackValidationPolicy => "validateStack" in p,
);

const tls = (bucket: string, extra: object[] = []) =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
      ...extra,
    ],
  });

/** Side resources no bucket argument can replace: public access block and ownership controls. */
const guards = (key: string, bucket: string): StackResource[] => [
  {
    type: T.publicAccessBlock,
    name: `${key}-pab`,
    props: {
      bucket,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
  },
  {
    type: T.ownership,
    name: `${key}-ownership`,
    props: { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } },
  },
];

/** A compliant aws.s3.Bucket configured through its (v7, single-block) inline arguments. */
function inlineBucket(bucket: string, replicaArn?: string): Record<string, unknown> {
  return {
    bucket,
    arn: `arn:aws:s3:::${bucket}`,
    versioning: { enabled: true },
    serverSideEncryptionConfiguration: {
      rule: {
        applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "arn:aws:kms:x" },
        bucketKeyEnabled: true,
      },
    },
    lifecycleRules: [
      {
        id: "noncurrent",
        enabled: true,
        abortIncompleteMultipartUploadDays: 7,
        noncurrentVersionExpiration: { days: 90 },
      },
      { id: "logical", enabled: true, prefix: "logical/", expiration: { days: 90 } },
    ],
    objectLockEnabled: true,
    objectLockConfiguration: {
      objectLockEnabled: "Enabled",
      rule: { defaultRetention: { mode: "GOVERNANCE", days: 30 } },
    },
    policy: tls(bucket),
    ...(replicaArn
      ? {
          replicationConfiguration: {
            role: "arn:aws:iam::1:role/replication",
            rules: [{ id: "all", status: "Enabled", destination: { bucket: replicaArn } }],
          },
        }
      : {}),
  };
}

/** The same bucket as BucketV2 spells it (lists: versionings, ...Configurations[].rules[]). */
function inlineBucketV2(bucket: string, replicaArn?: string): Record<string, unknown> {
  return {
    bucket,
    arn: `arn:aws:s3:::${bucket}`,
    versionings: [{ enabled: true }],
    serverSideEncryptionConfigurations: [
      {
        rules: [
          { applyServerSideEncryptionByDefaults: [{ sseAlgorithm: "aws:kms" }], bucketKeyEnabled: true },
        ],
      },
    ],
    lifecycleRules: [
      {
        id: "noncurrent",
        enabled: true,
        abortIncompleteMultipartUploadDays: 7,
        noncurrentVersionExpirations: [{ days: 90 }],
      },
      { id: "logical", enabled: true, prefix: "logical/", expirations: [{ days: 90 }] },
    ],
    objectLockConfiguration: {
      objectLockEnabled: "Enabled",
      rules: [{ defaultRetentions: [{ mode: "COMPLIANCE", days: 30 }] }],
    },
    policy: tls(bucket),
    ...(replicaArn
      ? {
          replicationConfigurations: [
            {
              role: "arn:aws:iam::1:role/replication",
              rules: [{ id: "all", status: "Enabled", destinations: [{ bucket: replicaArn }] }],
            },
          ],
        }
      : {}),
  };
}

function inlineStack(type: string, build: typeof inlineBucket): StackResource[] {
  return [
    { type, name: "backups", props: build("bi-backups", "arn:aws:s3:::bi-replica") },
    { type, name: "replica", props: build("bi-replica") },
    ...guards("backups", "bi-backups"),
    ...guards("replica", "bi-replica"),
  ];
}

/** A compliant bucket of any type with its side resources (the given side resource types). */
function sideStack(type: string, sideTypes: Partial<Record<keyof typeof T, string>> = {}): StackResource[] {
  const t = { ...T, ...sideTypes };
  const set = (key: string, bucket: string, replica: boolean): StackResource[] => {
    const side = (kind: keyof typeof T, props: Record<string, unknown>): StackResource => ({
      type: t[kind],
      name: `${key}-${kind}`,
      props: { bucket, ...props },
    });
    return [
      { type, name: key, props: { bucket, arn: `arn:aws:s3:::${bucket}` } },
      side("encryption", { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } }] }),
      side("versioning", { versioningConfiguration: { status: "Enabled" } }),
      side("objectLock", {
        objectLockEnabled: "Enabled",
        ...(replica ? {} : { rule: { defaultRetention: { mode: "GOVERNANCE", days: 30 } } }),
      }),
      side("policy", { policy: tls(bucket) }),
      side("lifecycle", {
        rules: [
          {
            id: "n",
            status: "Enabled",
            filter: {},
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
        ],
      }),
      ...guards(key, bucket),
    ];
  };
  return [
    ...set("backups", "bi-backups", false),
    ...set("replica", "bi-replica", true),
    {
      type: T.replication,
      name: "backups-replication",
      props: {
        bucket: "bi-backups",
        rules: [{ id: "all", status: "Enabled", destination: { bucket: "arn:aws:s3:::bi-replica" } }],
      },
    },
  ];
}

const patch = (resources: StackResource[], name: string, props: Record<string, unknown>) =>
  resources.map((r) => (r.name === name ? { ...r, props: { ...r.props, ...props } } : r));

describe("every bucket type gets the Bucket checks", () => {
  for (const type of s3.BUCKET_TYPES) {
    it(`${type}: passes with compliant side resources, fails without versioning`, async () => {
      const resources = sideStack(type);
      for (const policy of STACK_RULES) {
        expect((await checkStack(policy, resources)).violations, `${policy.name} on ${type}`).toEqual([]);
      }
      const outcome = await checkStack(
        s3.s3BucketVersioning,
        resources.filter((r) => r.name !== "backups-versioning"),
      );
      expect(outcome.violations).toEqual([
        expect.stringMatching(/^bucket "bi-backups".*: has no versioning/),
      ]);
      expect(outcome.urns[0]).toMatch(new RegExp(`${type.replace(/[$/]/g, "\\$&")}::backups$`));
    });
  }

  it("the deprecated V2 side resources count like the v7 ones", async () => {
    const resources = sideStack(BUCKET_V2, {
      encryption:
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
      versioning: "aws:s3/bucketVersioningV2:BucketVersioningV2",
      lifecycle: "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
      objectLock: "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2",
    });
    for (const policy of STACK_RULES) {
      expect((await checkStack(policy, resources)).violations, policy.name).toEqual([]);
    }
    const suspended = patch(resources, "backups-versioning", {
      versioningConfiguration: { status: "Suspended" },
    });
    expect((await checkStack(s3.s3BucketVersioning, suspended)).violations[0]).toMatch(/Suspended/);
    const aclV2 = [
      ...resources,
      {
        type: "aws:s3/bucketAclV2:BucketAclV2",
        name: "acl",
        props: { bucket: "bi-backups", acl: "public-read" },
      },
    ];
    expect((await checkStack(s3.s3BucketAclsDisabled, aclV2)).violations[0]).toMatch(/has a BucketAcl/);
  });

  it("a directory bucket (no versioning, no Object Lock) cannot pass: it cannot hold the backups", async () => {
    const directory = [
      {
        type: "aws:s3/directoryBucket:DirectoryBucket",
        name: "express",
        props: { bucket: "bi--euw1-az1--x-s3", location: { name: "euw1-az1" } },
      },
    ];
    expect((await checkStack(s3.s3BucketVersioning, directory)).violations).toEqual([
      expect.stringMatching(
        /^bucket "bi--euw1-az1--x-s3" \(aws:s3\/directoryBucket:DirectoryBucket\): has no versioning/,
      ),
    ]);
    expect((await checkStack(s3.s3BucketObjectLock, directory)).violations).toHaveLength(1);
  });
});

describe("inline bucket arguments", () => {
  for (const [type, build] of [
    [T.bucket, inlineBucket],
    [BUCKET_V2, inlineBucketV2],
  ] as const) {
    it(`${type}: compliant inline arguments satisfy every stack rule`, async () => {
      const resources = inlineStack(type, build);
      for (const policy of STACK_RULES) {
        expect((await checkStack(policy, resources)).violations, policy.name).toEqual([]);
      }
    });
  }

  const failing: [StackValidationPolicy, string, Record<string, unknown>, RegExp][] = [
    [s3.s3BucketVersioning, T.bucket, { versioning: { enabled: false } }, /inline versioning is not enabled/],
    [
      s3.s3BucketVersioning,
      BUCKET_V2,
      { versionings: [{ enabled: false, mfaDelete: false }] },
      /inline versioning/,
    ],
    [s3.s3BucketVersioning, T.bucket, { versioning: undefined }, /has no versioning configuration/],
    [
      s3.s3BucketSseKms,
      T.bucket,
      {
        serverSideEncryptionConfiguration: {
          rule: { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
        },
      },
      /encrypts with \["AES256"\] \(inline serverSideEncryptionConfiguration\)/,
    ],
    [
      s3.s3BucketSseKms,
      BUCKET_V2,
      {
        serverSideEncryptionConfigurations: [
          { rules: [{ applyServerSideEncryptionByDefaults: [{ sseAlgorithm: "AES256" }] }] },
        ],
      },
      /AES256/,
    ],
    [
      s3.s3BucketSseKms,
      T.bucket,
      { serverSideEncryptionConfiguration: undefined },
      /has no server-side encryption/,
    ],
    [
      s3.s3BucketLifecycle,
      T.bucket,
      {
        lifecycleRules: [
          { id: "all", enabled: true, abortIncompleteMultipartUploadDays: 7, expiration: { days: 30 } },
        ],
      },
      /lifecycle rule "all" expires current objects bucket-wide/,
    ],
    [
      s3.s3BucketLifecycle,
      BUCKET_V2,
      { lifecycleRules: [{ id: "x", enabled: true, noncurrentVersionExpirations: [{ days: 1 }] }] },
      /aborts incomplete multipart/,
    ],
    [s3.s3BucketLifecycle, T.bucket, { lifecycleRules: [{ id: "off", enabled: false }] }, /no enabled rule/],
    [s3.s3BucketAclsDisabled, T.bucket, { acl: "public-read" }, /canned ACL "public-read"/],
    [
      s3.s3BucketAclsDisabled,
      BUCKET_V2,
      {
        grants: [
          { type: "Group", uri: "http://acs.amazonaws.com/groups/global/AllUsers", permissions: ["READ"] },
        ],
      },
      /grants READ to http:\/\/acs.amazonaws.com\/groups\/global\/AllUsers/,
    ],
    [
      s3.s3BucketTlsOnly,
      T.bucket,
      {
        policy: JSON.stringify({
          Statement: [{ Effect: "Deny", Principal: "*", Action: "s3:DeleteBucket", Resource: "*" }],
        }),
      },
      /no Deny of s3:\* for aws:SecureTransport=false/,
    ],
    [s3.s3BucketTlsOnly, BUCKET_V2, { policy: undefined }, /has no bucket policy/],
    [
      s3.s3BucketObjectLock,
      T.bucket,
      { objectLockConfiguration: { objectLockEnabled: "Enabled" } },
      /no default retention/,
    ],
    [
      s3.s3BucketObjectLock,
      BUCKET_V2,
      {
        objectLockConfiguration: {
          objectLockEnabled: "Enabled",
          rules: [{ defaultRetentions: [{ mode: "GOVERNANCE", days: 1 }] }],
        },
      },
      /default retention is 1 day\(s\)/,
    ],
    [
      s3.s3BucketObjectLock,
      T.bucket,
      { objectLockEnabled: false, objectLockConfiguration: undefined },
      /has no Object Lock configuration/,
    ],
    [
      s3.s3BucketReplication,
      T.bucket,
      {
        replicationConfiguration: {
          role: "arn:aws:iam::1:role/r",
          rules: [{ id: "all", status: "Disabled", destination: { bucket: "arn:aws:s3:::bi-replica" } }],
        },
      },
      /replication configuration has no enabled rule/,
    ],
  ];
  for (const [policy, type, props, message] of failing) {
    it(`${policy.name} fails ${type} ${JSON.stringify(props).slice(0, 70)}`, async () => {
      const build = type === T.bucket ? inlineBucket : inlineBucketV2;
      const outcome = await checkStack(policy, patch(inlineStack(type, build), "backups", props));
      expect(outcome.violations).toEqual([expect.stringMatching(message)]);
      expect(outcome.violations[0]).toMatch(/^bucket "bi-backups"/);
    });
  }

  it("side resources win over the inline values AWS reports back after `up`", async () => {
    // After the first `up` the provider reads inline arguments back from S3; they mirror the
    // side resources, except for what only a side resource can express (prefix filters).
    const resources = patch(sideStack(T.bucket), "backups", {
      versioning: { enabled: false },
      lifecycleRules: [{ id: "x", enabled: true, expiration: { days: 1 } }],
    });
    expect((await checkStack(s3.s3BucketVersioning, resources)).violations).toEqual([]);
    expect((await checkStack(s3.s3BucketLifecycle, resources)).violations).toEqual([]);
  });

  it("unknown inline values (first preview) are not checkable", async () => {
    const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    const resources = patch(inlineStack(T.bucket, inlineBucket), "backups", {
      versioning: UNKNOWN_STRING,
      serverSideEncryptionConfiguration: UNKNOWN_STRING,
    });
    expect((await checkStack(s3.s3BucketVersioning, resources)).violations).toEqual([]);
    expect((await checkStack(s3.s3BucketSseKms, resources)).violations).toEqual([]);
  });

  it("s3-bucket-policy-no-public-principal reads the inline policy of Bucket and BucketV2", async () => {
    const open = tls("b", [
      { Effect: "Allow", Principal: { AWS: "*" }, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*" },
    ]);
    for (const type of [T.bucket, BUCKET_V2]) {
      expect(
        (await checkResource(s3.s3BucketPolicyNoPublicPrincipal, type, { bucket: "b", policy: open }))
          .violations,
      ).toEqual([expect.stringMatching(/^bucket "b" inline policy allows s3:GetObject to any principal/)]);
      expect(
        (await checkResource(s3.s3BucketPolicyNoPublicPrincipal, type, { bucket: "b", policy: tls("b") }))
          .violations,
      ).toEqual([]);
    }
    const outposts = await checkResource(
      s3.s3BucketPolicyNoPublicPrincipal,
      "aws:s3control/bucketPolicy:BucketPolicy",
      {
        bucket: "arn:aws:s3-outposts:x",
        policy: open,
      },
    );
    expect(outposts.violations).toHaveLength(1);
  });
});
