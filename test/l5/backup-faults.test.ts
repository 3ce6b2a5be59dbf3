/**
 * L5 fault injection for the backup runner's scripts: S3 endpoint down, database down,
 * corrupt and empty dumps, full disk, wrong Redis password. Each must fail loudly (non-zero
 * exit, `backup_last_status 0`, previous success timestamp kept) and leave the previous good
 * backup usable.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, skipReason, waitFor } from "../support/tools";
import { APP_DB, backupLabels, createBackupEnv, type BackupEnv } from "./backup-setup";

const TOOLS = [
  "pgbackrest",
  "postgres",
  "pg_dump",
  "redis-server",
  "redis-cli",
  "redis-check-rdb",
  "aws",
  "openssl",
  "promtool",
];

function ok(result: { status: number; stdout: string; stderr: string }, what: string): string {
  if (result.status !== 0)
    throw new Error(`${what} exited ${result.status}\n${result.stderr}\n${result.stdout}`);
  return result.stdout;
}

const files = (dir: string, suffix: string) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(suffix))
        .sort()
    : [];

/** WAL segment file names present in repo1's archive. */
function repo1Segments(env: BackupEnv): string[] {
  const found = run("find", [join(env.repo1, "archive"), "-type", "f", "-name", "0*"]).stdout;
  return found
    .split("\n")
    .filter(Boolean)
    .map((p) => p.split("/").pop()!.slice(0, 24));
}

/** The dumps and the checksum manifest each backup job writes beside its dump, as readdir lists them. */
function withManifests(dumps: string[]): string[] {
  return dumps.flatMap((d) => [d, `${d}.manifest.json`]).sort();
}

describe.skipIf(skipReason(...TOOLS))(
  "backup runner scripts fail loudly and keep the last good backup",
  () => {
    let env: BackupEnv;
    let goodDump: string;

    beforeAll(async () => {
      // Shorter pgBackRest timeouts than production (10 s / 300 s): every command against the dead
      // S3 endpoint waits about 4 x io-timeout, and the behaviour under test does not depend on it.
      env = await createBackupEnv({ pgbackrestTimeouts: { ioSeconds: 4, backupArchiveSeconds: 60 } });
      env.pg.sql(
        `CREATE TABLE items (id bigserial PRIMARY KEY, payload text);
       INSERT INTO items (payload) SELECT 'seed-' || g FROM generate_series(1, 2000) g;`,
        APP_DB,
      );
      env.redis!.cli("SET", "k", "v");
      ok(env.script("backup-init"), "backup-init");
      ok(env.script("backup-pg", ["full"]), "backup-pg full");
      ok(env.script("backup-pg", ["diff"]), "backup-pg diff");
      ok(env.script("backup-logical"), "backup-logical");
      ok(env.script("backup-redis"), "backup-redis");
      goodDump = files(join(env.backupDir, "logical"), ".dump")[0];
    });

    afterAll(async () => {
      await env?.destroy();
    });

    /** The job failed loudly: exit 1, status 0, earlier success timestamp kept. */
    function expectLoudFailure(kind: string, result: { status: number; stderr: string }, previousTs: number) {
      expect(result.status, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/ERROR: /);
      expect(result.stderr).toMatch(new RegExp(`FAILED: ${kind} exited 1`));
      const m = env.metrics(kind);
      expect(m.backup_last_status).toBe(0);
      expect(m.backup_last_success_timestamp_seconds).toBe(previousTs);
    }

    it("S3 down: WAL still reaches repo1, backups fail loudly, repo1 is still backed up", async () => {
      const diffTs = env.metrics("pg_diff").backup_last_success_timestamp_seconds;
      const logicalTs = env.metrics("logical").backup_last_success_timestamp_seconds;
      const repo1Before = backupLabels(env, 1).length;
      const repo2Before = backupLabels(env, 2);
      await env.s3!.stop();
      try {
        // WAL archiving keeps going to repo1 during the outage (archive-async + spool).
        env.pg.sql(
          `INSERT INTO items (payload) SELECT 'outage-' || g FROM generate_series(1, 500) g`,
          APP_DB,
        );
        const segment = env.pg.sql(`SELECT pg_walfile_name(pg_switch_wal())`);
        const outageStart = Date.now();
        await waitFor(
          `WAL ${segment} in repo1 while S3 is down`,
          () => repo1Segments(env).includes(segment),
          {
            timeoutMs: 240_000,
            intervalMs: 500,
          },
        );
        console.log(`S3 down: WAL ${segment} reached repo1 after ${(Date.now() - outageStart) / 1000} s`);

        const stepStart = Date.now();
        const diff = env.script("backup-pg", ["diff"]);
        console.log(`S3 down: backup-pg diff took ${(Date.now() - stepStart) / 1000} s`);
        expectLoudFailure("pg_diff", diff, diffTs);
        expect(diff.stderr).toContain("diff backup failed for repo(s): 2");
        expect(backupLabels(env, 1).length).toBe(repo1Before + 1); // repo1 still got its backup

        const logical = env.script("backup-logical");
        expectLoudFailure("logical", logical, logicalTs);
        expect(logical.stderr).toMatch(/upload of .* failed/);

        const verify = env.script("backup-verify");
        expect(verify.status).toBe(1);
        expect(verify.stderr).toContain("pgbackrest check failed");
        expect(env.metrics("verify").backup_last_status).toBe(0);

        // A runner (re)started during the outage still starts: repo1 holds the stanza.
        const init = env.script("backup-init", [], { BACKUP_INIT_TIMEOUT: "5" });
        expect(init.status, init.stderr).toBe(0);
        expect(init.stderr).toContain(`repo1 holds stanza main: starting with what works`);
      } finally {
        await env.s3!.start();
      }
      // After the outage: repo2 still has its earlier backups and catches up.
      expect(backupLabels(env, 2).slice(0, repo2Before.length)).toEqual(repo2Before);
      ok(env.pgbackrest(["check"]), "pgbackrest check after the outage");
      ok(env.script("backup-pg", ["diff"]), "backup-pg diff after the outage");
      expect(env.metrics("pg_diff").backup_last_status).toBe(1);
      const drill = env.script("restore-drill", ["--from", "s3", "--exact"]);
      ok(drill, "restore-drill from S3 after the outage");
    }, 900_000);

    it("database down: logical and physical backups fail loudly, the previous dump stays", async () => {
      const logicalTs = env.metrics("logical").backup_last_success_timestamp_seconds;
      const diffTs = env.metrics("pg_diff").backup_last_success_timestamp_seconds;
      const dumpsBefore = files(join(env.backupDir, "logical"), ".dump");
      env.pg.stop("fast");
      try {
        const logical = env.script("backup-logical");
        expectLoudFailure("logical", logical, logicalTs);
        expect(logical.stderr).toMatch(/pg_dump of app failed/);
        expect(readdirSync(join(env.backupDir, "logical")).filter((f) => !f.startsWith("."))).toEqual(
          withManifests(dumpsBefore),
        );

        const diff = env.script("backup-pg", ["diff"]);
        expectLoudFailure("pg_diff", diff, diffTs);
      } finally {
        await env.pg.start();
      }
      ok(run("pg_restore", ["--list", join(env.backupDir, "logical", goodDump)]), "previous dump readable");
    });

    it("a corrupt or empty dump is never reported as success", () => {
      const fake = env.dir("fake-bin");
      const logicalTs = env.metrics("logical").backup_last_success_timestamp_seconds;
      const dumpsBefore = files(join(env.backupDir, "logical"), ".dump");
      for (const [content, message] of [
        ["printf 'this is not a dump' >", /unreadable \(pg_restore --list/],
        [":>", /empty file/],
      ] as const) {
        writeFileSync(
          join(fake, "pg_dump"),
          `#!/bin/sh\nfor a in "$@"; do case $a in --file=*) ${content} "\${a#--file=}";; esac; done\nexit 0\n`,
        );
        chmodSync(join(fake, "pg_dump"), 0o755);
        const result = env.script("backup-logical", [], {
          PATH: `${fake}:/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin`,
        });
        expectLoudFailure("logical", result, logicalTs);
        expect(result.stderr).toMatch(message);
        // No new dump, no leftover partial file.
        expect(readdirSync(join(env.backupDir, "logical")).filter((f) => !f.startsWith("."))).toEqual(
          withManifests(dumpsBefore),
        );
      }

      // A dump corrupted after the fact is caught by backup-verify and refused by restore-logical.
      const corrupt = join(env.backupDir, "logical", "app-29991231T000000Z.dump");
      const good = readFileSync(join(env.backupDir, "logical", goodDump));
      writeFileSync(corrupt, good.subarray(0, Math.floor(good.length / 3)));
      run("chown", ["postgres", corrupt]);
      try {
        const verify = env.script("backup-verify");
        expect(verify.status).toBe(1);
        expect(verify.stderr).toMatch(/newest logical dump .* is unreadable/);
        const target = `postgresql://postgres@/postgres?host=${env.pg.socketDir}&port=${env.pg.port}`;
        // No backup job wrote it: refused for the missing manifest before pg_restore looks at it.
        const restore = env.script("restore-logical", [corrupt, "--dbname", target]);
        expect(restore.status).toBe(1);
        expect(restore.stderr).toMatch(/no checksum manifest for app-29991231T000000Z\.dump/);
        // Forced past the manifest, pg_restore's own check still refuses it.
        const forced = env.script("restore-logical", [corrupt, "--unverified", "--dbname", target]);
        expect(forced.status).toBe(1);
        expect(forced.stderr).toMatch(/not a readable pg_dump archive|pg_restore failed/);
      } finally {
        run("rm", ["-f", corrupt]);
      }

      // A truncated RDB is refused before anything in the data directory is touched.
      const rdb = files(join(env.backupDir, "redis"), ".rdb")[0];
      const badRdb = join(env.dir("bad-rdb"), "bad.rdb");
      const rdbBytes = readFileSync(join(env.backupDir, "redis", rdb));
      writeFileSync(badRdb, rdbBytes.subarray(0, rdbBytes.length - 12));
      const target = env.dir("redis-target");
      // --ignore-running: the env's Redis does not use this directory.
      // With the manifest of the snapshot it was cut from: refused for its size, before any check.
      const manifest = readFileSync(join(env.backupDir, "redis", `${rdb}.manifest.json`), "utf8");
      writeFileSync(`${badRdb}.manifest.json`, manifest.replace(rdb, "bad.rdb"));
      const restoreRedis = env.script("restore-redis", [badRdb, "--data-dir", target, "--ignore-running"]);
      expect(restoreRedis.status).toBe(1);
      expect(restoreRedis.stderr).toMatch(/bad\.rdb has \d+ bytes, its manifest says \d+/);
      // Forced past the manifest, redis-check-rdb still refuses it.
      const forced = env.script("restore-redis", [
        badRdb,
        "--unverified",
        "--data-dir",
        target,
        "--ignore-running",
      ]);
      expect(forced.status).toBe(1);
      expect(forced.stderr).toMatch(/redis-check-rdb rejects/);
      expect(readdirSync(target)).toEqual([]);
    });

    it("full disk: the dump fails loudly, no partial file is left, the previous dump stays", () => {
      const mountPoint = env.dir("small-disk");
      const mounted = run("mount", ["-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", mountPoint]);
      if (mounted.status !== 0) {
        console.warn(`skipped full-disk case: mount -t tmpfs not permitted here (${mounted.stderr.trim()})`);
        return;
      }
      try {
        run("chown", ["postgres:postgres", mountPoint]);
        const smallEnv = { BACKUP_DIR: mountPoint, BACKUP_LOCK_DIR: env.backupDir };
        ok(env.script("backup-logical", [], { ...smallEnv, S3_BUCKET: "" }), "small dump on the small disk");
        const before = files(join(mountPoint, "logical"), ".dump");
        expect(before).toHaveLength(1);
        const ts = env.metrics("logical").backup_last_success_timestamp_seconds;

        // About 6 MB of incompressible text: the next dump cannot fit in 2 MB.
        env.pg.sql(
          `CREATE TABLE bulky AS SELECT g, md5(random()::text) || md5(random()::text) AS a FROM generate_series(1, 100000) g`,
          APP_DB,
        );
        const result = env.script("backup-logical", [], { ...smallEnv, S3_BUCKET: "" });
        expectLoudFailure("logical", result, ts);
        expect(readdirSync(join(mountPoint, "logical")).filter((f) => !f.startsWith("."))).toEqual(
          withManifests(before),
        );
        ok(
          run("pg_restore", ["--list", join(mountPoint, "logical", before[0])]),
          "previous dump on the full disk",
        );
        env.pg.sql(`DROP TABLE bulky`, APP_DB);
      } finally {
        run("umount", [mountPoint]);
      }
    });

    it("Redis with a wrong password or down: backup-redis fails loudly", async () => {
      const ts = env.metrics("redis").backup_last_success_timestamp_seconds;
      const wrong = join(env.dir("wrong-pw"), "password");
      writeFileSync(wrong, "not-the-password");
      run("chown", ["postgres", wrong]);
      const result = env.script("backup-redis", [], { REDIS_PASSWORD_FILE: wrong });
      expectLoudFailure("redis", result, ts);

      await env.redis!.stop();
      try {
        expectLoudFailure("redis", env.script("backup-redis"), ts);
      } finally {
        await env.redis!.start();
      }
      expect(files(join(env.backupDir, "redis"), ".rdb")).toHaveLength(1);
    });

    it("metrics are written atomically: no temp files are left in the textfile directory", () => {
      const names = readdirSync(env.textfileDir);
      expect(names.filter((n) => !n.endsWith(".prom") && !n.startsWith(".lock"))).toEqual([]);
      // backup_runner.prom holds the runner's first start (test/l4/backup-scripts.test.ts).
      for (const name of names.filter((n) => n.endsWith(".prom") && n !== "backup_runner.prom")) {
        const text = readFileSync(join(env.textfileDir, name), "utf8");
        expect(text).toMatch(/^backup_last_status\{kind="[a-z_]+"\} [01]$/m);
      }
      const promtool = run("promtool", ["check", "metrics"], {
        input: readFileSync(join(env.textfileDir, "backup_logical.prom"), "utf8"),
      });
      expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0);
    });
  },
);
