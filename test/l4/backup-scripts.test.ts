/**
 * L4: the backup runner's scripts checked by shellcheck, the published command contract
 * (images/backup/README.md) matched against the scripts that exist, and the runner's first-start
 * metric checked by promtool.
 */
import { describe, expect, it } from "vitest";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
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

describe("values from outside the runner's scripts (backup-common.sh)", () => {
  const LIB = JSON.stringify(join(IMAGE, "lib/backup-common.sh"));
  /** Runs bash with the library sourced; `args` are $1... of the snippet. */
  const lib = (snippet: string, args: string[] = [], env: Record<string, string> = {}) =>
    run("bash", ["-c", `set -euo pipefail; source ${LIB}; ${snippet}`, "test", ...args], {
      env: { ...process.env, ...env },
    });

  /** A directory with dump files `days` old (their mtime), newest last. */
  function dumps(dir: string, ages: Record<string, number>) {
    mkdirSync(dir, { recursive: true });
    for (const [name, days] of Object.entries(ages)) {
      const file = join(dir, name);
      writeFileSync(file, "x");
      const t = Date.now() / 1000 - days * 86400;
      utimesSync(file, t, t);
    }
  }

  it("prune_local refuses a retention below one day itself, naming the variable, and deletes nothing", () => {
    const dir = tempDir("prune");
    try {
      dumps(dir, { "a.dump": 40, "b.dump": 10, "c.dump": 0.5 });
      for (const days of ["0", "-1", "1x", "01", ""]) {
        const result = lib('prune_local "$1" "$2" "*.dump"', [dir, days]);
        expect(result.status, days).toBe(2);
        expect(result.stderr, days).toMatch(/usage error: RETENTION_DAYS must be /);
      }
      expect(readdirSync(dir).sort()).toEqual(["a.dump", "b.dump", "c.dump"]);
      // the runner's own command names its argument
      const cli = run(join(BIN, "prune-local"), [dir, "0", "*.dump"]);
      expect(cli.status).toBe(2);
      expect(cli.stderr).toContain("DAYS must be at least 1 (days), got '0'");
      // and the jobs refuse RETENTION_DAYS=0 before they dump anything
      const logical = run(join(BIN, "backup-logical"), [], {
        env: { ...process.env, PGDATABASE: "app", RETENTION_DAYS: "0", BACKUP_DIR: dir },
      });
      expect(logical.status).toBe(2);
      expect(logical.stderr).toContain("RETENTION_DAYS must be at least 1 (days), got '0'");
      // one day is the least it takes: the 40- and 10-day-old dumps go, the newest stays
      const ok = lib('prune_local "$1" 1 "*.dump"', [dir]);
      expect(ok.status, ok.stderr).toBe(0);
      expect(readdirSync(dir)).toEqual(["c.dump"]);
    } finally {
      removeDir(dir);
    }
  });

  it("prune_local never deletes the newest file, whatever its name holds (newline, blank)", () => {
    const dir = tempDir("prune-names");
    try {
      dumps(dir, { "old.dump": 40, "x\n1 old.dump": 35, "newest \n.dump": 20 });
      const result = lib('prune_local "$1" 1 "*.dump"', [dir]);
      expect(result.status, result.stderr).toBe(0);
      expect(readdirSync(dir)).toEqual(["newest \n.dump"]);
    } finally {
      removeDir(dir);
    }
  });

  it("metric_write keeps no value from a tampered previous file that is not a whole number", () => {
    const dir = tempDir("metric-prev");
    try {
      const marker = join(dir, "pwned");
      writeFileSync(
        join(dir, "backup_logical.prom"),
        `backup_last_success_timestamp_seconds{kind="logical"} 9999999999e9\n` +
          `backup_last_size_bytes{kind="logical"} BASH_VERSINFO[$(touch\${IFS}${marker})0]\n`,
      );
      const result = lib("metric_write logical fail 1.5", [], { TEXTFILE_DIR: dir });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stderr).toContain("ignoring the value");
      const text = readFileSync(join(dir, "backup_logical.prom"), "utf8");
      expect(text).toContain('backup_last_success_timestamp_seconds{kind="logical"} 0\n');
      expect(text).toContain('backup_last_size_bytes{kind="logical"} 0\n');
      expect(existsSync(marker)).toBe(false);
    } finally {
      removeDir(dir);
    }
  });

  it("require_uint accepts plain whole numbers only, and says where a bad value came from", () => {
    for (const good of ["0", "7", "123456789012345678"]) {
      expect(lib('require_uint n "$1" here', [good]).status, good).toBe(0);
    }
    for (const bad of ["", "-1", "010", "1e3", "1.5", " 1", "1\n", "1234567890123456789", "x[$(id)]"]) {
      const result = lib('require_uint "row count" "$1" "the source database"', [bad]);
      expect(result.status, JSON.stringify(bad)).toBe(1);
      expect(result.stderr).toContain("row count from the source database is not a whole number");
    }
  });
});
