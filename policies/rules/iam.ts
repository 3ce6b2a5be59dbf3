/**
 * Access control on backups (seed "Role-based access to backups") and IAM in general. The
 * backup writer may put, read, list and delete current objects (pgBackRest rewrites
 * backup.info/archive.info), but must not delete object versions or administer the bucket:
 * with versioning on, a stolen writer key can then not destroy history, nor turn off the
 * protections. No identity may escalate its own rights (rewrite or attach policies, pass
 * roles, mint keys), act on every resource of a service, hold an AWS managed admin policy,
 * or be assumable by anyone.
 *
 * Policy documents are read from every place @pulumi/aws 7 takes one: Policy, RolePolicy,
 * UserPolicy, GroupPolicy, and a Role's `inlinePolicies`. Resource policies see inputs only,
 * so a role's inline policies as AWS reports them back after `up` are not double-counted.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { resourcePolicy, stringList } from "./metadata";
import { type Statement, actionMatches, coveredActions, parsePolicyDocument } from "./policy-document";
import { configOf, isUnknown, list, record, reveal, str } from "./values";

export const IAM_ROLE = "aws:iam/role:Role";
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
/** Attachments that take a list of policy ARNs (`policyArns`). */
export const IAM_EXCLUSIVE_ATTACHMENT_TYPES = [
  "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
  "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive",
  "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive",
];
/** Every resource type that carries an identity policy document. */
const DOCUMENT_TYPES = [...IAM_POLICY_TYPES, IAM_ROLE];

/** Version deletion and bucket/key administration: what a leaked writer key must not be able to do. */
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
  "kms:DisableKeyRotation",
  "kms:PutKeyPolicy",
];

/**
 * Actions that let an identity give itself (or a principal it controls) more rights: rewriting
 * or attaching policies, changing trust or permission boundaries, minting credentials for other
 * users, joining groups, passing roles to services it can run code in, granting itself a key.
 */
export const ESCALATION_ACTIONS = [
  "iam:CreatePolicyVersion",
  "iam:SetDefaultPolicyVersion",
  "iam:PutUserPolicy",
  "iam:PutRolePolicy",
  "iam:PutGroupPolicy",
  "iam:AttachUserPolicy",
  "iam:AttachRolePolicy",
  "iam:AttachGroupPolicy",
  "iam:UpdateAssumeRolePolicy",
  "iam:PutUserPermissionsBoundary",
  "iam:PutRolePermissionsBoundary",
  "iam:DeleteUserPermissionsBoundary",
  "iam:DeleteRolePermissionsBoundary",
  "iam:CreateAccessKey",
  "iam:CreateLoginProfile",
  "iam:UpdateLoginProfile",
  "iam:AddUserToGroup",
  "iam:PassRole",
  "kms:CreateGrant",
];

/**
 * AWS managed policies that administer the account, IAM or whole services (including reading
 * every bucket): never attached to a backup identity or a role of this program.
 */
const ADMIN_MANAGED =
  /^arn:aws[\w-]*:iam::aws:policy\/(?:job-function\/)?(AdministratorAccess(-[\w]+)?|PowerUserAccess|ReadOnlyAccess|SystemAdministrator|DatabaseAdministrator|NetworkAdministrator|[\w-]*FullAccess(V\d+)?|AmazonS3ReadOnlyAccess|SecretsManagerReadWrite|AWSKeyManagementServicePowerUser)$/;

interface Document {
  label: string;
  doc: unknown;
}

/** The identity policy documents of a resource: `policy`, or a role's `inlinePolicies[].policy`. */
function documentsOf(type: string, props: Record<string, unknown>, name: string): Document[] {
  if (type !== IAM_ROLE) return [{ label: `IAM policy "${str(props.name) ?? name}"`, doc: props.policy }];
  const inline = list(props.inlinePolicies);
  if (isUnknown(inline)) return [];
  return inline
    .map(record)
    .filter((p): p is Record<string, unknown> => !!p && !isUnknown(p) && p.policy !== undefined)
    .map((p) => ({
      label: `role "${str(props.name) ?? name}" inline policy "${str(p.name) ?? "?"}"`,
      doc: p.policy,
    }));
}

/** Calls `check` for every Allow statement of every document; reports parse errors. */
function eachAllow(
  documents: Document[],
  report: (message: string) => void,
  check: (s: Statement, label: string) => void,
) {
  for (const { label, doc } of documents) {
    const { statements, error } = parsePolicyDocument(doc);
    if (isUnknown(statements)) continue;
    if (error) {
      report(`${label}: ${error}`);
      continue;
    }
    for (const s of statements) if (s.effect === "Allow") check(s, label);
  }
}

const sidOf = (s: Statement) => (s.sid ? ` (statement ${s.sid})` : "");

const exemptOption = stringList(
  "Pulumi resource names of IAM policies/roles this rule skips (a reviewed operator role).",
  [],
);

export const iamBackupWriterLeastPrivilege = resourcePolicy(
  {
    name: "iam-backup-writer-least-privilege",
    description:
      "IAM policies and role inline policies (the backup writer's above all) grant no object-version deletion and no bucket or key administration, and never NotAction.",
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
        exemptPolicies: exemptOption,
      },
    },
  },
  DOCUMENT_TYPES,
  (props, args, report) => {
    const cfg = configOf(args, { forbiddenActions: FORBIDDEN_ACTIONS, exemptPolicies: [] as string[] });
    if (cfg.exemptPolicies.includes(args.name)) args.notApplicable("exempted by policy config");
    eachAllow(documentsOf(args.type, props, args.name), report, (s, label) => {
      if (s.notActions) {
        report(`${label} allows NotAction [${s.notActions.join(", ")}], which grants every other action`);
        return;
      }
      const covered = coveredActions(s.actions, cfg.forbiddenActions);
      if (covered.length > 0) {
        report(`${label} allows ${s.actions.join(", ")}, which covers ${covered.join(", ")}${sidOf(s)}`);
      }
    });
  },
);

/** iam:PassRole is acceptable only for named roles and only to the services named in iam:PassedToService. */
function scopedPassRole(s: Statement): boolean {
  const named = s.resources.length > 0 && s.resources.every((r) => !r.includes("*"));
  const passedTo = Object.values(s.condition).some((block) =>
    Object.keys(block ?? {}).some((k) => k.toLowerCase() === "iam:passedtoservice"),
  );
  return named && passedTo;
}

export const iamNoPrivilegeEscalation = resourcePolicy(
  {
    name: "iam-no-privilege-escalation",
    description:
      "No IAM policy or role inline policy allows privilege escalation: rewriting or attaching policies (Put*/Attach*Policy, CreatePolicyVersion, SetDefaultPolicyVersion), changing trust or boundaries, creating access keys or login profiles, joining groups, kms:CreateGrant, or iam:PassRole beyond named roles passed to named services.",
    severity: "critical",
    remediation:
      "Remove the action (and wildcards like iam:* or * that cover it); IAM is administered by the deploying identity through Pulumi, never by a workload's key. Scope iam:PassRole to role ARNs with an iam:PassedToService condition.",
    benchmarks: ["Checkov CKV_AWS_286", "Checkov CKV_AWS_287", "Checkov CKV_AWS_288", "AWS FSBP IAM.1"],
    configSchema: {
      properties: {
        escalationActions: stringList(
          "Actions no Allow statement may cover (wildcards in grants are expanded).",
          ESCALATION_ACTIONS,
        ),
        exemptPolicies: exemptOption,
      },
    },
  },
  DOCUMENT_TYPES,
  (props, args, report) => {
    const cfg = configOf(args, { escalationActions: ESCALATION_ACTIONS, exemptPolicies: [] as string[] });
    if (cfg.exemptPolicies.includes(args.name)) args.notApplicable("exempted by policy config");
    eachAllow(documentsOf(args.type, props, args.name), report, (s, label) => {
      if (s.notActions) {
        const excluded = new Set(coveredActions(s.notActions, cfg.escalationActions));
        const granted = cfg.escalationActions.filter((a) => !excluded.has(a));
        if (granted.length > 0) {
          report(
            `${label} allows NotAction [${s.notActions.join(", ")}], which grants ${granted.join(", ")}${sidOf(s)}`,
          );
        }
        return;
      }
      const covered = coveredActions(s.actions, cfg.escalationActions).filter(
        (a) => a !== "iam:PassRole" || !scopedPassRole(s),
      );
      if (covered.length > 0) {
        report(
          `${label} allows ${s.actions.join(", ")}, which lets it escalate privileges through ${covered.join(", ")}${sidOf(s)}`,
        );
      }
    });
  },
);

/** Actions harmless on every resource: listing and describing, and asking who one is. */
const RESOURCE_WILDCARD_OK = [/^[a-z0-9-]+:(List|Describe)[A-Za-z0-9*]*$/i, /^sts:GetCallerIdentity$/i];
/** Listings that read data: the object keys of every bucket. */
const DATA_LISTINGS = [
  "s3:ListBucket",
  "s3:ListBucketVersions",
  "s3:ListBucketMultipartUploads",
  "s3:ListMultipartUploadParts",
];
const harmlessOnEverything = (action: string) =>
  RESOURCE_WILDCARD_OK.some((re) => re.test(action)) && coveredActions([action], DATA_LISTINGS).length === 0;

/** A resource ARN that means every resource of its service (or everything). */
function everyResource(resource: string): boolean {
  if (resource === "*" || resource === "arn:*") return true;
  const parts = resource.split(":");
  if (parts.length < 6 || parts[0] !== "arn") return false;
  const service = parts[2];
  const rest = parts.slice(5).join(":");
  if (rest === "*" || rest === "*/*") return true;
  // `key/*`, `secret:*`, `table/*`: every key, secret, table of the account (not S3, where the
  // first path segment is the bucket name: `bucket/*` is one bucket's objects).
  return service !== "s3" && /^[A-Za-z-]+[/:]\*$/.test(rest);
}

export const iamNoWildcardResource = resourcePolicy(
  {
    name: "iam-no-wildcard-resource",
    description:
      'No IAM policy or role inline policy allows a data or write action on every resource (Resource "*", arn:aws:s3:::*, key/*, or NotResource); only List*/Describe* (not the object listings of s3:ListBucket*) and sts:GetCallerIdentity may use "*".',
    severity: "high",
    remediation:
      "Name the bucket (and its object prefix), key, secret or table ARNs the identity works on, as lib/iam-policies.ts does.",
    benchmarks: ["Checkov CKV_AWS_355", "Checkov CKV_AWS_111", "AWS FSBP IAM.21"],
    configSchema: { properties: { exemptPolicies: exemptOption } },
  },
  DOCUMENT_TYPES,
  (props, args, report) => {
    const cfg = configOf(args, { exemptPolicies: [] as string[] });
    if (cfg.exemptPolicies.includes(args.name)) args.notApplicable("exempted by policy config");
    eachAllow(documentsOf(args.type, props, args.name), report, (s, label) => {
      const wide = s.notResources
        ? [`NotResource [${s.notResources.join(", ")}] (every other resource)`]
        : s.resources.filter(everyResource);
      if (wide.length === 0) return;
      const actions = s.notActions ? [`NotAction [${s.notActions.join(", ")}]`] : s.actions;
      const data = actions.filter((a) => !harmlessOnEverything(a));
      if (data.length > 0) {
        report(
          `${label} allows ${data.join(", ")} on ${wide.join(", ")}; expected the specific ARNs it works on${sidOf(s)}`,
        );
      }
    });
  },
);

/** Condition keys that confine a `*` principal to one account or organization. */
const ACCOUNT_CONFINING_KEYS = new Set(["aws:principalaccount", "aws:principalorgid", "aws:principalarn"]);

function conditionKeys(s: Statement): string[] {
  return Object.values(s.condition).flatMap((block) =>
    block && typeof block === "object" ? Object.keys(block).map((k) => k.toLowerCase()) : [],
  );
}

/** The condition values of a key (any operator), as strings. */
function conditionValues(s: Statement, key: string): string[] {
  const values: string[] = [];
  for (const block of Object.values(s.condition)) {
    if (!block || typeof block !== "object") continue;
    for (const [k, v] of Object.entries(block)) {
      if (k.toLowerCase() !== key) continue;
      const inner = reveal(v);
      values.push(...(Array.isArray(inner) ? inner.map((x) => String(reveal(x))) : [String(inner)]));
    }
  }
  return values;
}

/** Why a trust statement lets in principals outside this account, or undefined. */
function openTrust(s: Statement): string | undefined {
  const keys = conditionKeys(s);
  const confined = keys.some((k) => ACCOUNT_CONFINING_KEYS.has(k));
  if (s.principals.includes("*") && !confined) return 'trusts any principal ("*")';
  const wildAccount = s.principals.find(
    (p) => /^arn:aws[\w-]*:iam::\*:/.test(p) || p === "arn:aws:iam::*:root",
  );
  if (wildAccount && !confined) return `trusts any account (${wildAccount})`;
  const webIdentity = s.actions.some((a) => actionMatches(a, "sts:AssumeRoleWithWebIdentity"));
  const federated = s.principals.filter((p) =>
    /oidc-provider\/|cognito-identity\.amazonaws\.com|accounts\.google\.com|graph\.facebook\.com|www\.amazon\.com/.test(
      p,
    ),
  );
  if (webIdentity && federated.length > 0) {
    // The subject (GitHub repository and ref, Cognito pool) must be pinned: the audience alone
    // admits every repository or app that uses the same provider.
    const subjects = keys
      .filter(
        (k) => k.endsWith(":sub") || (k.startsWith("cognito-identity.amazonaws.com:") && k.endsWith(":aud")),
      )
      .flatMap((k) => conditionValues(s, k));
    if (subjects.length === 0 || subjects.some((v) => v === "*" || /^[^:]*:\*$/.test(v))) {
      return `trusts web identities of ${federated.join(", ")} without pinning the subject (a :sub condition), so any repository or account using that provider may assume it`;
    }
  }
  return undefined;
}

export const iamRoleTrustRestricted = resourcePolicy(
  {
    name: "iam-role-trust-restricted",
    description:
      'Role trust policies name who may assume the role: never "*" or every account (unless confined by aws:PrincipalAccount/PrincipalOrgID/PrincipalArn), and web-identity trust pins the subject.',
    severity: "critical",
    remediation:
      'Trust a service ("Service": "s3.amazonaws.com"), an account or role ARN, or an OIDC provider with a StringEquals/StringLike condition on "<provider>:sub" (e.g. repo:org/repo:ref:refs/heads/main).',
    benchmarks: ["Checkov CKV_AWS_60", "Checkov CKV_AWS_61", "Checkov CKV_AWS_358"],
  },
  [IAM_ROLE],
  (props, args, report) => {
    const label = `role "${str(props.name) ?? args.name}"`;
    const { statements, error } = parsePolicyDocument(props.assumeRolePolicy);
    if (isUnknown(statements)) return;
    if (error) {
      report(`${label} assumeRolePolicy: ${error}`);
      return;
    }
    for (const s of statements) {
      if (s.effect !== "Allow") continue;
      const problem = openTrust(s);
      if (problem) report(`${label} assumeRolePolicy ${problem}${sidOf(s)}`);
    }
  },
);

export const iamNoAdminManagedPolicies = resourcePolicy(
  {
    name: "iam-no-admin-managed-policies",
    description:
      "No role, user or group gets an AWS managed admin or full-access policy (AdministratorAccess, PowerUserAccess, IAMFullAccess, ReadOnlyAccess, *FullAccess, ...) through an attachment, an exclusive attachment or a role's managedPolicyArns.",
    severity: "critical",
    remediation:
      "Attach a customer managed policy with only the actions and ARNs the identity needs (lib/iam-policies.ts builds them).",
    benchmarks: ["Checkov CKV_AWS_274", "AWS FSBP IAM.1"],
    configSchema: {
      properties: {
        allowedManagedPolicies: stringList(
          "AWS managed policy ARNs allowed despite their name (reviewed).",
          [],
        ),
      },
    },
  },
  [...IAM_ATTACHMENT_TYPES, ...IAM_EXCLUSIVE_ATTACHMENT_TYPES, IAM_ROLE],
  (props, args, report) => {
    const { allowedManagedPolicies } = configOf(args, { allowedManagedPolicies: [] as string[] });
    const arns: unknown[] = [];
    if (args.type === IAM_ROLE) {
      const managed = list(props.managedPolicyArns);
      if (!isUnknown(managed)) arns.push(...managed);
    } else if (IAM_EXCLUSIVE_ATTACHMENT_TYPES.includes(args.type)) {
      const managed = list(props.policyArns);
      if (!isUnknown(managed)) arns.push(...managed);
    } else {
      arns.push(props.policyArn);
    }
    for (const value of arns) {
      const arn = reveal(value);
      if (typeof arn !== "string" || !ADMIN_MANAGED.test(arn) || allowedManagedPolicies.includes(arn))
        continue;
      report(
        `"${args.name}" attaches the AWS managed policy ${arn}, which administers the account or whole services`,
      );
    }
  },
);

export const iamPolicies: ResourceValidationPolicy[] = [
  iamBackupWriterLeastPrivilege,
  iamNoPrivilegeEscalation,
  iamNoWildcardResource,
  iamRoleTrustRestricted,
  iamNoAdminManagedPolicies,
];
