/**
 * KMS key rotation and key policies; IAM privilege escalation, wildcard resources, role trust
 * and AWS managed admin policies. Passing fixtures are the program's own documents
 * (lib/iam-policies.ts: writer, archive, restore, replication role and its trust policy).
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { describe, expect, it } from "vitest";
import {
  archivePolicy,
  replicationAssumeRolePolicy,
  replicationPolicy,
  restorePolicy,
  writerPolicy,
} from "../../../lib/iam-policies";
import * as iam from "../../../policies/rules/iam";
import * as kms from "../../../policies/rules/kms";
import { checkResource } from "./support";

const POLICY = "aws:iam/policy:Policy";
const ROLE = "aws:iam/role:Role";
const ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy";
const doc = (...statements: object[]) => JSON.stringify({ Version: "2012-10-17", Statement: statements });

const bucketArn = "arn:aws:s3:::backend-infra-prod-backup-abc";
const replicaArn = "arn:aws:s3:::backend-infra-prod-replica-abc";
const kmsKeyArn = "arn:aws:kms:eu-west-1:123456789012:key/0f80fded-1228-0532-f4a4-a30943d63315";
const replicaKeyArn = "arn:aws:kms:eu-central-1:123456789012:key/1f80fded-1228-0532-f4a4-a30943d63315";
/** The program's identity policies, as components/backup-storage.ts renders them. */
const PROGRAM: [string, string, Record<string, unknown>][] = [
  [
    "writer",
    POLICY,
    { name: "writer", policy: JSON.stringify(writerPolicy({ bucketArn, kmsKeyArn, region: "eu-west-1" })) },
  ],
  [
    "archive",
    POLICY,
    {
      name: "archive",
      policy: JSON.stringify(archivePolicy({ bucketArn, kmsKeyArn, region: "eu-west-1", stanza: "main" })),
    },
  ],
  [
    "restore",
    POLICY,
    {
      name: "restore",
      policy: JSON.stringify(
        restorePolicy(
          { bucketArn, kmsKeyArn, region: "eu-west-1" },
          { bucketArn: replicaArn, kmsKeyArn: replicaKeyArn, region: "eu-central-1" },
        ),
      ),
    },
  ],
  [
    "replication role policy",
    ROLE_POLICY,
    {
      role: "replication",
      policy: JSON.stringify(
        replicationPolicy({
          source: { bucketArn, kmsKeyArn, region: "eu-west-1" },
          destination: { bucketArn: replicaArn, kmsKeyArn: replicaKeyArn, region: "eu-central-1" },
          objectLock: true,
        }),
      ),
    },
  ],
  [
    "replication role",
    ROLE,
    { assumeRolePolicy: JSON.stringify(replicationAssumeRolePolicy()), description: "S3 replication" },
  ],
];

const IAM_RULES: ResourceValidationPolicy[] = iam.iamPolicies;

describe("the program's own IAM passes every IAM rule", () => {
  for (const [label, type, props] of PROGRAM) {
    it(label, async () => {
      for (const policy of IAM_RULES) {
        const outcome = await checkResource(policy, type, props);
        expect(outcome.violations, policy.name).toEqual([]);
      }
    });
  }
  it("the writer's key attachment (a customer managed policy)", async () => {
    const outcome = await checkResource(
      iam.iamNoAdminManagedPolicies,
      "aws:iam/userPolicyAttachment:UserPolicyAttachment",
      { user: "writer", policyArn: "arn:aws:iam::123456789012:policy/backend-infra/writer" },
    );
    expect(outcome).toEqual({ violations: [], notApplicable: undefined });
  });
});

describe("iam-no-privilege-escalation", () => {
  const policy = iam.iamNoPrivilegeEscalation;
  it.each([
    ["iam:PutUserPolicy", "arn:aws:iam::1:user/*"],
    ["iam:PutRolePolicy", "*"],
    ["iam:AttachUserPolicy", "*"],
    ["iam:AttachRolePolicy", "arn:aws:iam::1:role/app"],
    ["iam:CreatePolicyVersion", "arn:aws:iam::1:policy/backend-infra/writer"],
    ["iam:SetDefaultPolicyVersion", "*"],
    ["iam:UpdateAssumeRolePolicy", "*"],
    ["iam:CreateAccessKey", "arn:aws:iam::1:user/*"],
    ["iam:CreateLoginProfile", "*"],
    ["iam:AddUserToGroup", "*"],
    ["iam:PassRole", "*"],
    ["kms:CreateGrant", kmsKeyArn],
  ])("fails %s", async (action, resource) => {
    const outcome = await checkResource(policy, POLICY, {
      name: "writer",
      policy: doc({ Sid: "Escalate", Effect: "Allow", Action: action, Resource: resource }),
    });
    expect(outcome.violations).toEqual([
      `IAM policy "writer" allows ${action}, which lets it escalate privileges through ${action} (statement Escalate)`,
    ]);
  });
  it("expands wildcards and NotAction, and reads a role's inline policies", async () => {
    const star = await checkResource(policy, POLICY, {
      policy: doc({ Effect: "Allow", Action: "iam:*", Resource: "*" }),
    });
    expect(star.violations[0]).toMatch(/through iam:CreatePolicyVersion, .*iam:PassRole/);
    const put = await checkResource(policy, POLICY, {
      policy: doc({ Effect: "Allow", Action: "iam:Put*", Resource: "*" }),
    });
    expect(put.violations[0]).toMatch(/iam:PutUserPolicy, iam:PutRolePolicy, iam:PutGroupPolicy/);
    const notAction = await checkResource(policy, POLICY, {
      policy: doc({ Effect: "Allow", NotAction: ["s3:*"], Resource: "*" }),
    });
    expect(notAction.violations[0]).toMatch(
      /allows NotAction \[s3:\*\], which grants iam:CreatePolicyVersion/,
    );
    const role = await checkResource(policy, ROLE, {
      name: "ci",
      assumeRolePolicy: JSON.stringify(replicationAssumeRolePolicy()),
      inlinePolicies: [
        { name: "self", policy: doc({ Effect: "Allow", Action: "iam:AttachRolePolicy", Resource: "*" }) },
      ],
    });
    expect(role.violations).toEqual([
      expect.stringMatching(/^role "ci" inline policy "self" allows iam:AttachRolePolicy/),
    ]);
  });
  it("passes iam:PassRole scoped to a named role and service, and Deny statements", async () => {
    const scoped = doc(
      {
        Effect: "Allow",
        Action: "iam:PassRole",
        Resource: "arn:aws:iam::1:role/ecs-task",
        Condition: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
      },
      { Effect: "Deny", Action: "iam:*", Resource: "*" },
    );
    expect((await checkResource(policy, POLICY, { policy: scoped })).violations).toEqual([]);
    const unscoped = doc({ Effect: "Allow", Action: "iam:PassRole", Resource: "arn:aws:iam::1:role/*" });
    expect((await checkResource(policy, POLICY, { policy: unscoped })).violations).toHaveLength(1);
  });
  it("honours exemptPolicies and is not applicable to other types", async () => {
    const admin = { policy: doc({ Effect: "Allow", Action: "iam:*", Resource: "*" }) };
    const exempt = await checkResource(policy, POLICY, admin, {
      name: "ops",
      config: { exemptPolicies: ["ops"] },
    });
    expect(exempt.notApplicable).toMatch(/exempted/);
    expect((await checkResource(policy, "aws:s3/bucket:Bucket", {})).notApplicable).toBeDefined();
  });
});

describe("iam-no-wildcard-resource", () => {
  const policy = iam.iamNoWildcardResource;
  it.each([
    ["s3:GetObject on *", { Action: "s3:GetObject", Resource: "*" }, /allows s3:GetObject on \*/],
    [
      "s3:PutObject on every bucket",
      { Action: "s3:PutObject", Resource: "arn:aws:s3:::*/*" },
      /arn:aws:s3:::\*\/\*/,
    ],
    [
      "kms:Decrypt on every key",
      { Action: "kms:Decrypt", Resource: "arn:aws:kms:eu-west-1:1:key/*" },
      /key\/\*/,
    ],
    [
      "secretsmanager on *",
      { Action: "secretsmanager:GetSecretValue", Resource: ["*"] },
      /GetSecretValue on \*/,
    ],
    ["s3:Get* on every bucket", { Action: "s3:Get*", Resource: "arn:aws:s3:::*" }, /s3:Get\*/],
    ["NotResource", { Action: "s3:GetObject", NotResource: "arn:aws:s3:::other/*" }, /NotResource/],
    ["listing every bucket's objects", { Action: "s3:List*", Resource: "*" }, /allows s3:List\* on \*/],
  ])("fails %s", async (_label, statement, message) => {
    const outcome = await checkResource(policy, POLICY, {
      name: "reader",
      policy: doc({ Effect: "Allow", ...statement }),
    });
    expect(outcome.violations).toEqual([expect.stringMatching(message)]);
    expect(outcome.violations[0]).toMatch(/^IAM policy "reader" allows .*expected the specific ARNs/);
  });
  it("passes listing on *, named buckets and keys, and Deny statements on *", async () => {
    const ok = doc(
      {
        Effect: "Allow",
        Action: ["s3:ListAllMyBuckets", "kms:ListAliases", "sts:GetCallerIdentity"],
        Resource: "*",
      },
      { Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::bi-backups/*" },
      { Effect: "Deny", Action: "s3:*", Resource: "*" },
    );
    expect((await checkResource(policy, POLICY, { policy: ok })).violations).toEqual([]);
  });
});

describe("iam-role-trust-restricted", () => {
  const policy = iam.iamRoleTrustRestricted;
  const role = (statement: object) => ({
    name: "deploy",
    assumeRolePolicy: doc({ Effect: "Allow", ...statement }),
  });
  it.each([
    ["Principal *", { Principal: "*", Action: "sts:AssumeRole" }, /trusts any principal \("\*"\)/],
    ["AWS *", { Principal: { AWS: "*" }, Action: "sts:AssumeRole" }, /trusts any principal/],
    [
      "AWS * with only an external id",
      {
        Principal: { AWS: "*" },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "sts:ExternalId": "x" } },
      },
      /trusts any principal/,
    ],
    [
      "every account",
      { Principal: { AWS: "arn:aws:iam::*:root" }, Action: "sts:AssumeRole" },
      /trusts any account/,
    ],
    [
      "GitHub OIDC without a subject",
      {
        Principal: { Federated: "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com" },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: { StringEquals: { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" } },
      },
      /without pinning the subject/,
    ],
    [
      "GitHub OIDC with a wildcard subject",
      {
        Principal: { Federated: "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com" },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: { StringLike: { "token.actions.githubusercontent.com:sub": "*" } },
      },
      /without pinning the subject/,
    ],
  ])("fails %s", async (_label, statement, message) => {
    const outcome = await checkResource(policy, ROLE, role(statement));
    expect(outcome.violations).toEqual([expect.stringMatching(message)]);
    expect(outcome.violations[0]).toMatch(/^role "deploy" assumeRolePolicy /);
  });
  it.each([
    [
      "the replication role (S3 only)",
      JSON.parse(JSON.stringify(replicationAssumeRolePolicy())).Statement[0],
    ],
    [
      "an account",
      { Effect: "Allow", Principal: { AWS: "arn:aws:iam::123456789012:root" }, Action: "sts:AssumeRole" },
    ],
    [
      "* confined to the organization",
      {
        Effect: "Allow",
        Principal: "*",
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "aws:PrincipalOrgID": "o-abc" } },
      },
    ],
    [
      "GitHub OIDC pinned to a repository",
      {
        Effect: "Allow",
        Principal: { Federated: "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com" },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" },
          StringLike: {
            "token.actions.githubusercontent.com:sub": "repo:example/backend-infra:ref:refs/heads/main",
          },
        },
      },
    ],
  ])("passes %s", async (_label, statement) => {
    expect((await checkResource(policy, ROLE, { assumeRolePolicy: doc(statement) })).violations).toEqual([]);
  });
});

describe("iam-no-admin-managed-policies", () => {
  const policy = iam.iamNoAdminManagedPolicies;
  it.each([
    [
      "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
      { role: "r", policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" },
    ],
    [
      "aws:iam/userPolicyAttachment:UserPolicyAttachment",
      { user: "u", policyArn: "arn:aws:iam::aws:policy/PowerUserAccess" },
    ],
    [
      "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
      { group: "g", policyArn: "arn:aws:iam::aws:policy/IAMFullAccess" },
    ],
    [
      "aws:iam/policyAttachment:PolicyAttachment",
      { users: ["u"], policyArn: "arn:aws:iam::aws:policy/AmazonS3FullAccess" },
    ],
    [
      "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
      { roleName: "r", policyArns: ["arn:aws:iam::1:policy/ok", "arn:aws:iam::aws:policy/ReadOnlyAccess"] },
    ],
    [
      ROLE,
      {
        assumeRolePolicy: "{}",
        managedPolicyArns: ["arn:aws:iam::aws:policy/job-function/SystemAdministrator"],
      },
    ],
  ])("fails %s", async (type, props) => {
    const outcome = await checkResource(policy, type, props, { name: "admin" });
    expect(outcome.violations).toEqual([
      expect.stringMatching(
        /^"admin" attaches the AWS managed policy arn:aws:iam::aws:policy\/.* which administers/,
      ),
    ]);
  });
  it("passes customer managed and narrow AWS managed policies, and configured exceptions", async () => {
    const type = "aws:iam/rolePolicyAttachment:RolePolicyAttachment";
    for (const policyArn of [
      "arn:aws:iam::123456789012:policy/backend-infra/writer",
      "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
      "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
    ]) {
      expect((await checkResource(policy, type, { policyArn })).violations, policyArn).toEqual([]);
    }
    const arn = "arn:aws:iam::aws:policy/AmazonSSMFullAccess";
    const allowed = await checkResource(
      policy,
      type,
      { policyArn: arn },
      { config: { allowedManagedPolicies: [arn] } },
    );
    expect(allowed.violations).toEqual([]);
  });
});

describe("kms-key-rotation", () => {
  const policy = kms.kmsKeyRotation;
  it("passes the program's key (rotation on, default period) and a shorter period", async () => {
    const key = { description: "Encrypts backups", enableKeyRotation: true, deletionWindowInDays: 30 };
    expect(await checkResource(policy, kms.KMS.key, key)).toEqual({
      violations: [],
      notApplicable: undefined,
    });
    expect(
      (await checkResource(policy, kms.KMS.key, { ...key, rotationPeriodInDays: 180 })).violations,
    ).toEqual([]);
  });
  it.each([
    ["rotation off", { enableKeyRotation: false }, /has enableKeyRotation false; expected true$/],
    ["rotation unset", {}, /has enableKeyRotation undefined; expected true/],
    [
      "an asymmetric key",
      { keySpec: "RSA_4096", enableKeyRotation: false },
      /keySpec RSA_4096 cannot rotate/,
    ],
    [
      "a period above a year",
      { enableKeyRotation: true, rotationPeriodInDays: 2000 },
      /rotates every 2000 days; expected at most 365/,
    ],
  ])("fails %s", async (_label, props, message) => {
    const outcome = await checkResource(policy, kms.KMS.key, props, { name: "backups-key" });
    expect(outcome.violations).toEqual([expect.stringMatching(message)]);
    expect(outcome.violations[0]).toMatch(/^KMS key "backups-key"/);
  });
  it("fails imported key material and is not applicable to aliases", async () => {
    expect(
      (await checkResource(policy, kms.KMS.externalKey, { keyMaterialBase64: "x" })).violations[0],
    ).toMatch(/imported key material/);
    expect((await checkResource(policy, "aws:kms/alias:Alias", {})).notApplicable).toBeDefined();
  });
});

describe("kms-key-policy-no-wildcard", () => {
  const policy = kms.kmsKeyPolicyNoWildcard;
  const root = {
    Sid: "Root",
    Effect: "Allow",
    Principal: { AWS: "arn:aws:iam::123456789012:root" },
    Action: "kms:*",
    Resource: "*",
  };
  it("passes the default key policy (unset) and a policy that names its users", async () => {
    expect(await checkResource(policy, kms.KMS.key, { enableKeyRotation: true })).toEqual({
      violations: [],
      notApplicable: undefined,
    });
    const named = doc(root, {
      Effect: "Allow",
      Principal: { AWS: "arn:aws:iam::123456789012:user/backend-infra/writer" },
      Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
      Resource: "*",
    });
    expect((await checkResource(policy, kms.KMS.key, { policy: named })).violations).toEqual([]);
    expect(
      (await checkResource(policy, kms.KMS.keyPolicy, { keyId: "k", policy: named })).violations,
    ).toEqual([]);
  });
  it.each([
    [
      kms.KMS.key,
      { Effect: "Allow", Principal: "*", Action: "kms:Decrypt", Resource: "*" },
      /allows kms:Decrypt to any principal/,
    ],
    [
      kms.KMS.keyPolicy,
      { Effect: "Allow", Principal: { AWS: "*" }, Action: "kms:*", Resource: "*" },
      /to any principal/,
    ],
    [
      kms.KMS.replicaKey,
      { Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/app" }, Action: "kms:*", Resource: "*" },
      /grants kms:\* to arn:aws:iam::1:role\/app/,
    ],
    [
      kms.KMS.key,
      { Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/app" }, Action: "*", Resource: "*" },
      /grants kms:\*/,
    ],
    [
      kms.KMS.key,
      {
        Effect: "Allow",
        Principal: { AWS: "arn:aws:iam::1:role/app" },
        NotAction: "kms:ScheduleKeyDeletion",
        Resource: "*",
      },
      /grants NotAction/,
    ],
  ])("fails %s %j", async (type, statement, message) => {
    const outcome = await checkResource(policy, type, { policy: doc(root, statement) });
    expect(outcome.violations).toEqual([expect.stringMatching(message)]);
  });
});
