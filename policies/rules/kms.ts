/**
 * The KMS keys that encrypt the backups (seed "Encryption at rest"): their material rotates
 * yearly, and their key policy never grants anyone at all. Resource policies over key inputs.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { resourcePolicy } from "./metadata";
import { anyonePrincipal, parsePolicyDocument } from "./policy-document";
import { configOf, isUnknown, reveal, str } from "./values";

export const KMS = {
  key: "aws:kms/key:Key",
  externalKey: "aws:kms/externalKey:ExternalKey",
  replicaKey: "aws:kms/replicaKey:ReplicaKey",
  replicaExternalKey: "aws:kms/replicaExternalKey:ReplicaExternalKey",
  keyPolicy: "aws:kms/keyPolicy:KeyPolicy",
} as const;

export const kmsKeyRotation = resourcePolicy(
  {
    name: "kms-key-rotation",
    description:
      "Customer KMS keys rotate their key material (enableKeyRotation true, period at most maxRotationDays); imported key material, which KMS cannot rotate, is refused.",
    severity: "high",
    remediation:
      "Create the key with `enableKeyRotation: true` (components/backup-storage.ts does) and a symmetric keySpec; leave rotationPeriodInDays unset (365) or lower.",
    benchmarks: ["Checkov CKV_AWS_7", "AWS FSBP KMS.4"],
    configSchema: {
      properties: {
        maxRotationDays: { type: "integer", minimum: 90, maximum: 2560, default: 365 },
      },
    },
  },
  [KMS.key, KMS.externalKey],
  (props, args, report) => {
    const { maxRotationDays } = configOf(args, { maxRotationDays: 365 });
    const label = `KMS key "${args.name}"`;
    if (args.type === KMS.externalKey) {
      report(
        `${label} uses imported key material (ExternalKey), which KMS never rotates; expected aws.kms.Key with enableKeyRotation`,
      );
      return;
    }
    const rotation = reveal(props.enableKeyRotation);
    if (isUnknown(rotation)) return;
    if (rotation !== true) {
      const spec = str(props.customerMasterKeySpec) ?? str(props.keySpec);
      const why =
        spec && spec !== "SYMMETRIC_DEFAULT"
          ? ` (keySpec ${spec} cannot rotate; backups need SYMMETRIC_DEFAULT)`
          : "";
      report(`${label} has enableKeyRotation ${String(rotation)}; expected true${why}`);
      return;
    }
    const period = reveal(props.rotationPeriodInDays);
    if (typeof period === "number" && period > maxRotationDays) {
      report(`${label} rotates every ${period} days; expected at most ${maxRotationDays}`);
    }
  },
);

/** The account root (`arn:aws:iam::<account>:root` or a bare account id): the default key policy's principal. */
const ACCOUNT_ROOT = /^(arn:aws[\w-]*:iam::\d{12}:root|\d{12})$/;

export const kmsKeyPolicyNoWildcard = resourcePolicy(
  {
    name: "kms-key-policy-no-wildcard",
    description:
      'KMS key policies never Allow the "*" principal, and grant kms:* (or *, or NotAction) only to the account root (the default key policy).',
    severity: "critical",
    remediation:
      "Leave `policy` unset (the default key policy delegates to IAM) or name the roles and the actions they need (kms:Encrypt, kms:Decrypt, kms:GenerateDataKey) with their ARNs.",
    benchmarks: ["Checkov CKV_AWS_33"],
  },
  [KMS.key, KMS.externalKey, KMS.replicaKey, KMS.replicaExternalKey, KMS.keyPolicy],
  (props, args, report) => {
    const policy = props.policy;
    if (policy === undefined || policy === null || policy === "") return; // the default key policy
    const label =
      args.type === KMS.keyPolicy ? `KMS key policy "${args.name}"` : `KMS key "${args.name}" policy`;
    const { statements, error } = parsePolicyDocument(policy);
    if (isUnknown(statements)) return;
    if (error) {
      report(`${label}: ${error}`);
      return;
    }
    for (const s of statements) {
      if (s.effect !== "Allow") continue;
      const sid = s.sid ? ` (statement ${s.sid})` : "";
      if (anyonePrincipal(s)) {
        report(`${label} allows ${s.actions.join(", ") || "NotAction"} to any principal ("*")${sid}`);
        continue;
      }
      const everything =
        s.notActions !== undefined || s.actions.some((a) => a === "*" || a.toLowerCase() === "kms:*");
      const others = s.principals.filter((p) => !ACCOUNT_ROOT.test(p));
      if (everything && others.length > 0) {
        report(
          `${label} grants ${s.notActions ? "NotAction" : "kms:*"} to ${others.join(", ")}; only the account root may hold every key action${sid}`,
        );
      }
    }
  },
);

export const kmsPolicies: ResourceValidationPolicy[] = [kmsKeyRotation, kmsKeyPolicyNoWildcard];
