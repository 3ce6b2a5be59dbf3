/**
 * L4: the backup runner's scripts checked by shellcheck, the published command contract
 * (images/backup/README.md) matched against the scripts that exist, and the runner's first-start
 * metric checked by promtool.
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { backupLifecycleRules } from "../../lib/backup-lifecycle";
import { minioBucketSetupScript } from "../../renderers/minio-bucket-setup";
import { removeDir, run, skipReason, tempDir } from "../support/tools";

const IMAGE = join(__dirname, "../../images/backup");
const BIN = join(IMAGE, "bin");
const scripts = readdirSync(BIN).map((f) => join(BIN, f));

describe.skipIf(skipReason("shellcheck"))("backup runner scripts", () => {
  it("are shellcheck-clean (all severities), following the sourced library", () => {
    const result = run(
      "shellcheck",
      ["-x", "--severity=style", ...scripts, join(IMAGE, "lib/backup-common.sh")],
      {
        cwd: "/",
      },
    );
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("are executable bash with set -euo pipefail", () => {
    for (const script of scripts) {
      const text = readFileSync(script, "utf8");
      expect(text.startsWith("#!/usr/bin/env bash\n"), script).toBe(true);
      expect(text, script).toMatch(/^set -euo pipefail$/m);
      expect(statSync(script).mode & 0o111, script).not.toBe(0);
    }
  });

  it("every command of the README contract exists, and every script is documented", () => {
    const readme = readFileSync(join(IMAGE, "README.md"), "utf8");
    const documented = new Set([...readme.matchAll(/^\| `([a-z-]+)[ `]/gm)].map((m) => m[1]));
    const existing = readdirSync(BIN);
    for (const name of documented) expect(existing, `README documents ${name}`).toContain(name);
    for (const name of existing) expect([...documented], `${name} is not in the README`).toContain(name);
  });
});

describe.skipIf(skipReason("promtool"))("the runner's first-start metric (metric_first_start)", () => {
  const firstStart = (textfileDir: string) =>
    run("bash", ["-c", `source ${JSON.stringify(join(IMAGE, "lib/backup-common.sh"))}; metric_first_start`], {
      env: { ...process.env, TEXTFILE_DIR: textfileDir },
    });

  it("is written once, kept by later starts, and valid exposition format", () => {
    const dir = tempDir("first-start");
    try {
      const file = join(dir, "textfile", "backup_runner.prom");
      const first = firstStart(join(dir, "textfile"));
      expect(first.status, first.stderr).toBe(0);
      const text = readFileSync(file, "utf8");
      const value = Number(/^backup_runner_first_start_timestamp_seconds (\d+)$/m.exec(text)?.[1]);
      expect(Math.abs(value - Date.now() / 1000)).toBeLessThan(300);
      const promtool = run("promtool", ["check", "metrics"], { input: text });
      expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0);

      // A later start (a restarted or replaced runner) keeps the first value.
      writeFileSync(file, text.replace(String(value), "1700000000"));
      expect(firstStart(join(dir, "textfile")).status).toBe(0);
      expect(readFileSync(file, "utf8")).toContain(
        "backup_runner_first_start_timestamp_seconds 1700000000\n",
      );
      expect(readdirSync(join(dir, "textfile"))).toEqual(["backup_runner.prom"]);
      // No job can take its file over: the kind "runner" is reserved.
      const job = run(
        "bash",
        ["-c", `source ${JSON.stringify(join(IMAGE, "lib/backup-common.sh"))}; metric_write runner ok 1`],
        {
          env: { ...process.env, TEXTFILE_DIR: join(dir, "textfile") },
        },
      );
      expect(job.status).toBe(2);
      expect(job.stderr).toMatch(/metric kind 'runner' is reserved/);
      expect(readFileSync(file, "utf8")).toContain(
        "backup_runner_first_start_timestamp_seconds 1700000000\n",
      );
    } finally {
      removeDir(dir);
    }
  });

  it("fails with a message when the directory cannot be written", () => {
    const dir = tempDir("first-start-ro");
    try {
      writeFileSync(join(dir, "not-a-dir"), "");
      const result = firstStart(join(dir, "not-a-dir"));
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/cannot create TEXTFILE_DIR .*not-a-dir/);
    } finally {
      removeDir(dir);
    }
  });
});

describe.skipIf(skipReason("shellcheck"))("the MinIO bucket setup script", () => {
  it("is shellcheck-clean as POSIX sh, with and without Object Lock", () => {
    const dir = tempDir("minio-setup");
    try {
      for (const objectLockDays of [0, 7]) {
        const path = join(dir, `setup-${objectLockDays}.sh`);
        writeFileSync(
          path,
          minioBucketSetupScript({
            bucket: "backend-infra-local-backups",
            lifecycleRules: backupLifecycleRules({
              cloudRetentionDays: 90,
              includeAbortIncompleteUploads: false,
            }),
            objectLockDays,
            port: 9000,
          }),
        );
        const result = run("shellcheck", ["-s", "sh", "--severity=style", path]);
        expect(result.stdout + result.stderr).toBe("");
        expect(result.status).toBe(0);
      }
    } finally {
      removeDir(dir);
    }
  });
});
