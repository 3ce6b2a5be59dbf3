/**
 * The script that sets up the local stack's backup bucket inside the MinIO container, with the
 * `mc` client MinIO ships there. It replaces an aws provider pointed at MinIO: no AWS plugin is
 * needed where `pulumi up` runs, and nothing reaches MinIO from outside its container.
 *
 * Idempotent (an existing bucket is kept, each setting is applied again), so the command that
 * runs it may run on every change. Credentials come from the container's own MINIO_ROOT_USER /
 * MINIO_ROOT_PASSWORD; the script itself holds no secret.
 */
import type { LifecycleRule } from "../lib/backup-lifecycle";

export interface MinioBucketSetupInput {
  /** Bucket name (S3 rules: 3-63 characters, lower-case letters, digits, `.` and `-`). */
  bucket: string;
  /** Lifecycle rules (lib/backup-lifecycle.ts); MinIO rejects abort-incomplete-upload rules. */
  lifecycleRules: readonly LifecycleRule[];
  /** Object Lock GOVERNANCE default retention in days; 0: no Object Lock. */
  objectLockDays: number;
  /** Port MinIO's S3 API listens on inside the container. */
  port: number;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** S3 API JSON (`PutBucketLifecycleConfiguration`), the format `mc ilm import` reads. */
export function s3LifecycleJson(rules: readonly LifecycleRule[]): string {
  const s3Rules = rules.map((r) => {
    if (r.abortIncompleteMultipartUpload) {
      throw new Error(
        `minio bucket setup: lifecycle rule "${r.id}": MinIO rejects AbortIncompleteMultipartUpload`,
      );
    }
    const expiration = r.expiration && {
      ...(r.expiration.days !== undefined ? { Days: r.expiration.days } : {}),
      ...(r.expiration.date !== undefined ? { Date: r.expiration.date } : {}),
      ...(r.expiration.expiredObjectDeleteMarker !== undefined
        ? { ExpiredObjectDeleteMarker: r.expiration.expiredObjectDeleteMarker }
        : {}),
    };
    return {
      ID: r.id,
      Status: r.status,
      Filter: { Prefix: r.filter.prefix },
      ...(expiration ? { Expiration: expiration } : {}),
      ...(r.noncurrentVersionExpiration
        ? { NoncurrentVersionExpiration: { NoncurrentDays: r.noncurrentVersionExpiration.noncurrentDays } }
        : {}),
      ...(r.transitions?.length
        ? { Transitions: r.transitions.map((t) => ({ Days: t.days, StorageClass: t.storageClass })) }
        : {}),
    };
  });
  return JSON.stringify({ Rules: s3Rules });
}

export function minioBucketSetupScript(input: MinioBucketSetupInput): string {
  if (!BUCKET_NAME.test(input.bucket) || input.bucket.includes("..")) {
    throw new Error(
      `minio bucket setup: bucket "${input.bucket}" is not a valid S3 bucket name ` +
        "(3-63 characters: lower-case letters, digits, '.' and '-', starting and ending with a letter or digit)",
    );
  }
  if (!Number.isInteger(input.objectLockDays) || input.objectLockDays < 0) {
    throw new Error(
      `minio bucket setup: objectLockDays must be a whole number of days >= 0, got ${input.objectLockDays}`,
    );
  }
  if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535) {
    throw new Error(`minio bucket setup: port must be a TCP port (1-65535), got ${input.port}`);
  }
  const target = `local/${input.bucket}`;
  const lock = input.objectLockDays > 0;
  return [
    "#!/bin/sh",
    "# Sets up the backup bucket (renderers/minio-bucket-setup.ts). Runs inside the MinIO container.",
    "set -eu",
    // The credentials stay in the container's environment; mc reads the alias from MC_HOST_local.
    `MC_HOST_local="https://$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD@localhost:${input.port}"`,
    "export MC_HOST_local",
    // The certificate is self-signed for `minio`; this loopback connection skips its check.
    'mc() { command mc --insecure --quiet --no-color "$@"; }',
    "mc ready local",
    // Object Lock can only be chosen when a bucket is created (MinIO refuses it later).
    `mc mb --ignore-existing${lock ? " --with-lock" : ""} ${target}`,
    `mc version enable ${target}`,
    `mc encrypt set sse-s3 ${target}`,
    `mc ilm import ${target} <<'LIFECYCLE'`,
    s3LifecycleJson(input.lifecycleRules),
    "LIFECYCLE",
    ...(lock ? [`mc retention set --default GOVERNANCE ${input.objectLockDays}d ${target}`] : []),
    `echo "bucket ${input.bucket}: versioning on, SSE-S3, ${input.lifecycleRules.length} lifecycle rules${
      lock ? `, Object Lock GOVERNANCE ${input.objectLockDays}d` : ""
    }"`,
    "",
  ].join("\n");
}
