/**
 * Access control on backups (seed "Role-based access to backups"). The backup writer may
 * put, read, list and delete current objects (pgBackRest rewrites backup.info/archive.info),
 * but must not delete object versions or administer the bucket: with versioning on, a
 * stolen writer key can then not destroy history, nor turn off the protections.
 * Applied to every IAM policy the program creates.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { resourcePolicy, stringList } from "./metadata";
import { coveredActions, parsePolicyDocument } from "./policy-document";
import { configOf, isUnknown, reveal, str } from "./values";

export const IAM_POLICY_TYPES = [
  "aws:iam/policy:Policy",
  "aws:iam/rolePolicy:RolePolicy",
  "aws:iam/userPolicy:UserPolicy",
  "aws:iam/groupPolicy:GroupPolicy",
];
export const IAM_ATTACHMENT_TYPES = [
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  "aws:iam/userPolicyAttachment:UserPolicyAttachment",
  "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
  "aws:iam/policyAttachment:PolicyAttachment",
];

/** Version deletion and bucket administration: what a leaked writer key must not be able to do. */
export const FORBIDDEN_ACTIONS = [
  "s3:DeleteObjectVersion",
  "s3:DeleteObjectVersionTagging",
  "s3:BypassGovernanceRetention",
  "s3:PutObjectRetention",
  "s3:PutObjectLegalHold",
  "s3:PutObjectAcl",
  "s3:PutObjectVersionAcl",
  "s3:CreateBucket",
  "s3:DeleteBucket",
  "s3:PutBucketPolicy",
  "s3:DeleteBucketPolicy",
  "s3:PutBucketAcl",
  "s3:PutBucketOwnershipControls",
  "s3:PutBucketPublicAccessBlock",
  "s3:PutBucketVersioning",
  "s3:PutLifecycleConfiguration",
  "s3:PutEncryptionConfiguration",
  "s3:PutReplicationConfiguration",
  "s3:PutBucketObjectLockConfiguration",
  "s3:PutBucketLogging",
  "kms:ScheduleKeyDeletion",
  "kms:DisableKey",
  "kms:PutKeyPolicy",
  "iam:PassRole",
  "iam:CreateAccessKey",
  "iam:PutUserPolicy",
  "iam:AttachUserPolicy",
];

/** AWS managed policies that grant bucket administration. */
const BROAD_MANAGED =
  /^arn:aws[\w-]*:iam::aws:policy\/(AdministratorAccess|PowerUserAccess|IAMFullAccess|AmazonS3FullAccess)$/;

export const iamBackupWriterLeastPrivilege = resourcePolicy(
  {
    name: "iam-backup-writer-least-privilege",
    description:
      "IAM policies (the backup writer's above all) grant no object-version deletion and no bucket, key or IAM administration.",
    severity: "high",
    remediation:
      "Grant the writer only s3:PutObject, s3:GetObject, s3:DeleteObject, s3:ListBucket, s3:GetBucketLocation (and kms:Encrypt/Decrypt/GenerateDataKey on its key); never wildcards like s3:* or NotAction.",
    benchmarks: [
      "Checkov CKV_AWS_289",
      "Checkov CKV_AWS_290",
      "AWS Config iam-policy-no-statements-with-full-access",
    ],
    configSchema: {
      properties: {
        forbiddenActions: stringList(
          "Actions no Allow statement may cover (wildcards in grants are expanded).",
          FORBIDDEN_ACTIONS,
        ),
        exemptPolicies: stringList(
          "Pulumi resource names of IAM policies this rule skips (e.g. an operator role).",
          [],
        ),
      },
    },
  },
  [...IAM_POLICY_TYPES, ...IAM_ATTACHMENT_TYPES],
  (props, args, report) => {
    const cfg = configOf(args, { forbiddenActions: FORBIDDEN_ACTIONS, exemptPolicies: [] as string[] });
    if (cfg.exemptPolicies.includes(args.name)) args.notApplicable("exempted by policy config");
    if (IAM_ATTACHMENT_TYPES.includes(args.type)) {
      const arn = reveal(props.policyArn);
      if (!isUnknown(arn) && typeof arn === "string" && BROAD_MANAGED.test(arn)) {
        report(`"${args.name}" attaches the AWS managed policy ${arn}, which administers buckets`);
      }
      return;
    }
    const { statements, error } = parsePolicyDocument(props.policy);
    if (isUnknown(statements)) return;
    const label = `IAM policy "${str(props.name) ?? args.name}"`;
    if (error) {
      report(`${label}: ${error}`);
      return;
    }
    for (const s of statements) {
      if (s.effect !== "Allow") continue;
      if (s.notActions) {
        report(`${label} allows NotAction [${s.notActions.join(", ")}], which grants every other action`);
        continue;
      }
      const covered = coveredActions(s.actions, cfg.forbiddenActions);
      if (covered.length > 0) {
        report(
          `${label} allows ${s.actions.join(", ")}, which covers ${covered.join(", ")}${s.sid ? ` (statement ${s.sid})` : ""}`,
        );
      }
    }
  },
);

export const iamPolicies: ResourceValidationPolicy[] = [iamBackupWriterLeastPrivilege];
