import { describe, expect, it } from "vitest";
import { backupLifecycleRules } from "../../lib/backup-lifecycle";
import { minioBucketSetupScript, s3LifecycleJson } from "../../renderers/minio-bucket-setup";

const rules = backupLifecycleRules({ cloudRetentionDays: 90, includeAbortIncompleteUploads: false });
const input = { bucket: "backend-infra-local-backups", lifecycleRules: rules, objectLockDays: 0, port: 9000 };

describe("minio bucket setup script", () => {
  it("creates the bucket if missing and applies every setting again", () => {
    const script = minioBucketSetupScript(input);
    expect(script.split("\n").filter((l) => l.startsWith("mc "))).toEqual([
      "mc ready local",
      "mc mb --ignore-existing local/backend-infra-local-backups",
      "mc version enable local/backend-infra-local-backups",
      "mc encrypt set sse-s3 local/backend-infra-local-backups",
      "mc ilm import local/backend-infra-local-backups <<'LIFECYCLE'",
    ]);
    expect(script).toMatch(/^set -eu$/m);
    expect(script).toContain('MC_HOST_local="https://$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD@localhost:9000"');
  });

  it("asks for Object Lock at creation and sets the GOVERNANCE default retention", () => {
    const script = minioBucketSetupScript({ ...input, objectLockDays: 14 });
    expect(script).toContain("mc mb --ignore-existing --with-lock local/backend-infra-local-backups");
    expect(script).toContain("mc retention set --default GOVERNANCE 14d local/backend-infra-local-backups");
  });

  it("writes the lifecycle as S3 API JSON, never expiring pgBackRest's current versions", () => {
    const json = JSON.parse(s3LifecycleJson(rules)) as { Rules: Record<string, unknown>[] };
    expect(json.Rules[0]).toEqual({
      ID: "expire-noncurrent-versions",
      Status: "Enabled",
      Filter: { Prefix: "" },
      Expiration: { ExpiredObjectDeleteMarker: true },
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
    });
    expect(json.Rules[1]).toEqual({
      ID: "expire-logical-dumps",
      Status: "Enabled",
      Filter: { Prefix: "logical/" },
      Expiration: { Days: 90 },
    });
  });

  it("refuses what MinIO or S3 would refuse, naming it", () => {
    expect(() => s3LifecycleJson(backupLifecycleRules({ cloudRetentionDays: 90 }))).toThrow(
      /abort-incomplete-multipart-uploads.*MinIO rejects/,
    );
    for (const bucket of ["UPPER", "a", "x;rm -rf /", "-lead", "a..b"]) {
      expect(() => minioBucketSetupScript({ ...input, bucket }), bucket).toThrow(
        /not a valid S3 bucket name/,
      );
    }
    expect(() => minioBucketSetupScript({ ...input, objectLockDays: -1 })).toThrow(/objectLockDays/);
    expect(() => minioBucketSetupScript({ ...input, port: 0 })).toThrow(/port must be a TCP port/);
  });
});
