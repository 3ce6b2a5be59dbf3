/**
 * Unit tests of the pure backup renderers: pgbackrest.conf and the runner's crontab.
 * The L5 tests (test/l5/backup-*.test.ts) feed the same pgbackrest.conf output to pgBackRest.
 */
import { describe, expect, it } from "vitest";
import {
  pgBackRestSecretEnvNames,
  processMaxForCpus,
  renderPgBackRestConf,
  type PgBackRestConfInput,
} from "../../renderers/pgbackrest-conf";
import { backupJobs, renderBackupCrontab } from "../../renderers/backup-crontab";
import { parseConfig } from "../../config/schema";
import { PGBACKREST_BASE_INPUT } from "../support/pgbackrest-input";

const base: PgBackRestConfInput = PGBACKREST_BASE_INPUT;

/** `key=value` lines of one section. */
function section(text: string, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  let current = "";
  for (const line of text.split("\n")) {
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1];
    else if (current === name && /^[a-z0-9-]+=/.test(line)) {
      const [key, ...rest] = line.split("=");
      if (key in out) throw new Error(`duplicate key ${key} in [${name}]`);
      out[key] = rest.join("=");
    }
  }
  return out;
}

describe("renderPgBackRestConf", () => {
  it("renders two repositories with time-based retention, async archiving and start-fast", () => {
    const text = renderPgBackRestConf(base);
    const g = section(text, "global");
    expect(g).toMatchObject({
      "repo1-path": "/var/lib/pgbackrest",
      "repo1-retention-full-type": "time",
      "repo1-retention-full": "30",
      "repo2-type": "s3",
      "repo2-path": "/pgbackrest",
      "repo2-s3-bucket": "backend-infra-prod-backups",
      "repo2-s3-endpoint": "s3.eu-west-1.amazonaws.com",
      "repo2-s3-region": "eu-west-1",
      "repo2-s3-uri-style": "host",
      "repo2-retention-full-type": "time",
      "repo2-retention-full": "90",
      "repo2-s3-key-type": "shared",
      "compress-type": "lz4",
      "process-max": "2",
      "start-fast": "y",
      "archive-async": "y",
      "spool-path": "/var/spool/pgbackrest",
      "repo1-cipher-type": "aes-256-cbc",
      "repo2-cipher-type": "aes-256-cbc",
    });
    expect(section(text, "main")).toEqual({
      "pg1-path": "/var/lib/postgresql/data",
      "pg1-port": "5432",
      "pg1-socket-path": "/var/run/postgresql",
      "pg1-user": "postgres",
    });
    expect(section(text, "global:backup")).toEqual({ "archive-timeout": "300" });
    expect(section(text, "global:check")).toEqual({ "archive-timeout": "300" });
    // TLS verification stays on unless a test endpoint turns it off.
    expect(text).not.toContain("verify-tls");
  });

  it("keeps secrets out of the file and names the environment variables that carry them", () => {
    const text = renderPgBackRestConf(base);
    expect(text).not.toMatch(/cipher-pass|s3-key=|s3-key-secret=/);
    expect(pgBackRestSecretEnvNames(base)).toEqual([
      "PGBACKREST_REPO2_S3_KEY",
      "PGBACKREST_REPO2_S3_KEY_SECRET",
      "PGBACKREST_REPO1_CIPHER_PASS",
      "PGBACKREST_REPO2_CIPHER_PASS",
    ]);
  });

  it("supports MinIO (path style, port, CA file), instance profiles, KMS, zstd and no encryption", () => {
    const minio = renderPgBackRestConf({
      ...base,
      repo2: {
        ...base.repo2!,
        endpoint: "minio",
        port: 9000,
        uriStyle: "path",
        region: "us-east-1",
        caFile: "/etc/ssl/minio-ca.pem",
      },
      compression: "zst",
      cipher: undefined,
    });
    const g = section(minio, "global");
    expect(g).toMatchObject({
      "repo2-s3-uri-style": "path",
      "repo2-storage-port": "9000",
      "repo2-storage-ca-file": "/etc/ssl/minio-ca.pem",
      "compress-type": "zst",
    });
    expect(minio).not.toContain("cipher");

    const aws = renderPgBackRestConf({
      ...base,
      repo2: {
        ...base.repo2!,
        credentials: { type: "instance-profile" },
        kmsKeyId: "arn:aws:kms:eu-west-1:1:key/abc",
      },
    });
    expect(section(aws, "global")).toMatchObject({
      "repo2-s3-key-type": "auto",
      "repo2-s3-kms-key-id": "arn:aws:kms:eu-west-1:1:key/abc",
    });
    expect(
      pgBackRestSecretEnvNames({
        ...base,
        repo2: { ...base.repo2!, credentials: { type: "instance-profile" } },
      }),
    ).toEqual(["PGBACKREST_REPO1_CIPHER_PASS", "PGBACKREST_REPO2_CIPHER_PASS"]);
  });

  it("renders a local-only configuration without repo2", () => {
    const text = renderPgBackRestConf({ ...base, repo2: undefined });
    expect(text).not.toContain("repo2");
    expect(pgBackRestSecretEnvNames({ ...base, repo2: undefined })).toEqual(["PGBACKREST_REPO1_CIPHER_PASS"]);
  });

  it("writes inline test secrets only when asked, and logs to files only with a log path", () => {
    const text = renderPgBackRestConf({
      ...base,
      repo2: { ...base.repo2!, credentials: { type: "inline", key: "AK", secret: "SK" }, verifyTls: false },
      cipher: { inlinePass: "pass" },
      logPath: "/var/log/pgbackrest",
      archivePushQueueMaxBytes: 4 * 1024 ** 3,
    });
    expect(section(text, "global")).toMatchObject({
      "repo2-s3-key": "AK",
      "repo2-s3-key-secret": "SK",
      "repo1-cipher-pass": "pass",
      "repo2-cipher-pass": "pass",
      "repo2-storage-verify-tls": "n",
      "log-path": "/var/log/pgbackrest",
      "log-level-file": "detail",
      "archive-push-queue-max": String(4 * 1024 ** 3),
    });
    expect(section(renderPgBackRestConf(base), "global")["log-level-file"]).toBe("off");
  });

  it("rejects bad input with a message naming the field", () => {
    const cases: [Partial<PgBackRestConfInput>, RegExp][] = [
      [{ stanza: "bad stanza" }, /stanza/],
      [{ processMax: 0 }, /processMax/],
      [{ compression: "bz2" as never }, /compression/],
      [{ spoolPath: "relative/spool" }, /spoolPath: expected an absolute path/],
      [{ repo1: { path: "/r", retentionDays: 0 } }, /repo1.retentionDays/],
      [{ repo2: { ...base.repo2!, bucket: "Bad_Bucket" } }, /repo2.bucket/],
      [{ repo2: { ...base.repo2!, endpoint: "https://s3.amazonaws.com" } }, /repo2.endpoint/],
      [{ repo2: { ...base.repo2!, port: 70000 } }, /repo2.port/],
      [{ pg: { ...base.pg, path: "/var/../etc" } }, /pg.path/],
      [{ archivePushQueueMaxBytes: 1024 }, /archivePushQueueMaxBytes/],
      [
        { repo2: { ...base.repo2!, credentials: { type: "inline", key: "a\nb", secret: "s" } } },
        /credentials.key/,
      ],
    ];
    for (const [override, message] of cases) {
      expect(() => renderPgBackRestConf({ ...base, ...override }), JSON.stringify(override)).toThrow(message);
    }
  });

  it("keeps = in values (pgBackRest splits at the first =) and never echoes a refused secret", () => {
    const text = renderPgBackRestConf({ ...base, cipher: { inlinePass: "c2VjcmV0+/==" } });
    expect(text).toContain("repo1-cipher-pass=c2VjcmV0+/==\n");
    for (const inlinePass of ["with\nnewline", " padded-s3cr3t "]) {
      let message = "";
      try {
        renderPgBackRestConf({ ...base, cipher: { inlinePass } });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/cipher.inlinePass: expected a non-empty value .*secret, not shown/);
      expect(message).not.toContain(inlinePass.trim());
    }
  });

  it("derives process-max from the CPU limit", () => {
    expect(processMaxForCpus(0.5)).toBe(1);
    expect(processMaxForCpus(1)).toBe(1);
    expect(processMaxForCpus(2)).toBe(2);
    expect(processMaxForCpus(3.5)).toBe(3);
    expect(processMaxForCpus(64)).toBe(8);
    expect(() => processMaxForCpus(0)).toThrow(/CPU count/);
  });
});

describe("renderBackupCrontab", () => {
  const defaults = parseConfig({ stack: "local", values: {}, secretKeys: new Set() }).backups.schedules;

  it("renders the default schedules from the config schema", () => {
    const text = renderBackupCrontab({ schedules: defaults });
    const jobs = text
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(" "));
    expect(jobs.map((f) => [f.slice(0, 5).join(" "), f.slice(5).join(" ")])).toEqual([
      ["0 3 * * 0", "/usr/local/bin/backup-pg full"],
      ["0 2 * * *", "/usr/local/bin/backup-pg diff"],
      ["30 2 * * *", "/usr/local/bin/backup-logical"],
      ["15 2 * * *", "/usr/local/bin/backup-redis"],
      ["0 5 * * *", "/usr/local/bin/backup-verify"],
      ["0 4 * * 6", "/usr/local/bin/restore-drill"],
    ]);
  });

  it("follows configured schedules, normalises spacing and can run an exact drill", () => {
    const jobs = backupJobs({
      schedules: { ...defaults, diff: "0  */6 * * *", drill: "30 3 * * 1" },
      binDir: "/opt/backup/bin",
      drillExact: true,
    });
    expect(jobs.find((j) => j.name === "diff")).toEqual({
      name: "diff",
      schedule: "0 */6 * * *",
      command: "/opt/backup/bin/backup-pg diff",
    });
    expect(jobs.find((j) => j.name === "drill")?.command).toBe("/opt/backup/bin/restore-drill --exact");
  });

  it("every command in the crontab exists as a script in images/backup/bin", async () => {
    const { existsSync } = await import("node:fs");
    const { join } = await import("node:path");
    for (const job of backupJobs({ schedules: defaults, binDir: "/usr/local/bin" })) {
      const script = job.command
        .split(" ")[0]
        .replace("/usr/local/bin", join(__dirname, "../../images/backup/bin"));
      expect(existsSync(script), script).toBe(true);
    }
  });

  it("rejects invalid schedules naming each bad job", () => {
    expect(() =>
      renderBackupCrontab({ schedules: { ...defaults, verify: "61 * * * *", redis: "daily" } }),
    ).toThrow(/schedules.redis "daily".*\n.*schedules.verify "61 \* \* \* \*"/s);
    expect(() => renderBackupCrontab({ schedules: defaults, binDir: "bin" })).toThrow(/binDir/);
  });
});
