/**
 * Lifecycle rules of the backup bucket as plain objects (the shape of
 * `aws.s3.BucketLifecycleConfiguration` rules), and a checker that proves no rule expires
 * current versions under pgBackRest's prefix.
 *
 * pgBackRest owns its repository: its `expire` removes old backups and WAL in an order that
 * keeps the repository consistent. A lifecycle rule that expires current versions there
 * deletes files pgBackRest still lists in backup.info and corrupts the repository (field
 * notes). Rules may touch pgBackRest's prefix only for non-current versions (what its deletes
 * leave behind in a versioned bucket), incomplete multipart uploads, and expired delete markers.
 */
import { BACKUP_PREFIXES, type BackupPrefixes } from "./iam-policies";

/**
 * Where `runbooks/backup-config` uploads stack exports (`config/<env>/<stamp>/`). Written by the
 * operator's identity, not the backup runner's, so it is not one of the writer's prefixes.
 */
export const CONFIG_EXPORT_PREFIX = "config/";

export interface LifecycleRule {
  id: string;
  status: "Enabled" | "Disabled";
  filter: { prefix: string };
  expiration?: { days?: number; date?: string; expiredObjectDeleteMarker?: boolean };
  noncurrentVersionExpiration?: { noncurrentDays: number };
  abortIncompleteMultipartUpload?: { daysAfterInitiation: number };
  transitions?: { days?: number; storageClass: string }[];
}

export interface LifecycleInput {
  /** Days logical dumps and RDB files are kept (current versions). */
  cloudRetentionDays: number;
  /** Days a non-current version is kept before it is removed. Default 30. */
  noncurrentVersionDays?: number;
  /** Days before an incomplete multipart upload is aborted. Default 7. */
  abortIncompleteUploadDays?: number;
  prefixes?: BackupPrefixes;
  /** Prefix of the stack configuration exports; expire after the cloud retention. Default `config/`. */
  configExportPrefix?: string;
  /**
   * Include the abort-incomplete-multipart-uploads rule. Default true. MinIO rejects a rule
   * with only that action (it cleans stale uploads itself), so the MinIO bucket turns it off.
   */
  includeAbortIncompleteUploads?: boolean;
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`backup lifecycle: ${name} must be a whole number of days >= 1, got ${value}`);
  }
  return value;
}

export function backupLifecycleRules(input: LifecycleInput): LifecycleRule[] {
  const prefixes = input.prefixes ?? BACKUP_PREFIXES;
  const retention = positiveInt("cloudRetentionDays", input.cloudRetentionDays);
  const noncurrent = positiveInt("noncurrentVersionDays", input.noncurrentVersionDays ?? 30);
  const abort = positiveInt("abortIncompleteUploadDays", input.abortIncompleteUploadDays ?? 7);
  const configExports = input.configExportPrefix ?? CONFIG_EXPORT_PREFIX;
  for (const p of [prefixes.logical, prefixes.redis, configExports]) {
    if (prefixesOverlap(p, prefixes.pgbackrest)) {
      throw new Error(
        `backup lifecycle: expiring prefix "${p}" overlaps pgBackRest's "${prefixes.pgbackrest}"; ` +
          "expiring it would delete pgBackRest's files",
      );
    }
  }
  const abortRule: LifecycleRule = {
    id: "abort-incomplete-multipart-uploads",
    status: "Enabled",
    filter: { prefix: "" },
    abortIncompleteMultipartUpload: { daysAfterInitiation: abort },
  };
  return [
    ...(input.includeAbortIncompleteUploads === false ? [] : [abortRule]),
    {
      // Old versions (overwritten or deleted by pgBackRest/the runner) and the delete
      // markers left once they are gone. Never a current version.
      id: "expire-noncurrent-versions",
      status: "Enabled",
      filter: { prefix: "" },
      noncurrentVersionExpiration: { noncurrentDays: noncurrent },
      expiration: { expiredObjectDeleteMarker: true },
    },
    {
      id: "expire-logical-dumps",
      status: "Enabled",
      filter: { prefix: prefixes.logical },
      expiration: { days: retention },
    },
    {
      id: "expire-redis-snapshots",
      status: "Enabled",
      filter: { prefix: prefixes.redis },
      expiration: { days: retention },
    },
    {
      id: "expire-config-exports",
      status: "Enabled",
      filter: { prefix: configExports },
      expiration: { days: retention },
    },
  ];
}

/** True when some key could start with both prefixes ("" overlaps everything). */
export function prefixesOverlap(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

/** True when the rule removes or moves current versions (expiry by age/date, transitions). */
export function expiresCurrentVersions(rule: LifecycleRule): boolean {
  const e = rule.expiration;
  return (
    (e !== undefined && (e.days !== undefined || e.date !== undefined)) || (rule.transitions ?? []).length > 0
  );
}

/** Ids of enabled rules that would expire or transition current versions under `prefix`. */
export function rulesExpiringCurrentVersionsUnder(rules: readonly LifecycleRule[], prefix: string): string[] {
  return rules
    .filter(
      (r) => r.status === "Enabled" && prefixesOverlap(r.filter.prefix, prefix) && expiresCurrentVersions(r),
    )
    .map((r) => r.id);
}
