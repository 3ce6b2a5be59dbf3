/**
 * L5: the backup runner's scripts against real PostgreSQL 15 + pgBackRest 2.45, s3rver (TLS)
 * and Redis 7 on loopback. Full + diff backups to both repositories, logical dump, RDB
 * snapshot, verification, restores (latest from each repo, point in time, logical, Redis with
 * AOF) and the restore drill.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { spawn } from "node:child_process";
import { basename, join } from "node:path";
import { createHash } from "node:crypto";
import { createPgServer } from "../support/postgres";
import { redisCli, startRedisDaemon } from "../support/redis";
import { run, skipReason, freePort, waitFor } from "../support/tools";
import { refusedBy } from "../support/s3-iam";
import { archivePolicy, restorePolicy, walArchivePrefix, writerPolicy } from "../../lib/iam-policies";
import {
  APP_DB,
  backupLabels,
  createBackupEnv,
  runAsPostgres,
  tableFingerprints,
  startRestored,
  STANZA,
  type BackupEnv,
} from "./backup-setup";

const TOOLS = [
  "pgbackrest",
  "postgres",
  "pg_dump",
  "pgbench",
  "redis-server",
  "redis-cli",
  "redis-check-rdb",
  "aws",
  "openssl",
];

const IAM_TARGET = {
  bucketArn: "arn:aws:s3:::backups",
  kmsKeyArn: "arn:aws:kms:eu-west-1:111122223333:key/backups",
  region: "eu-west-1",
};
const ARCHIVE_POLICY = archivePolicy({ ...IAM_TARGET, stanza: STANZA });
const WRITER_POLICY = writerPolicy(IAM_TARGET);
const RESTORE_POLICY = restorePolicy(IAM_TARGET);
const COMMON_LIB = join(process.cwd(), "images", "backup", "lib", "backup-common.sh");

/** The manifest the backup job wrote beside FILE, checked against FILE's bytes. */
function expectManifestOf(file: string): void {
  const manifest = JSON.parse(readFileSync(`${file}.manifest.json`, "utf8")) as Record<string, unknown>;
  expect(manifest).toMatchObject({
    version: 1,
    file: basename(file),
    size: statSync(file).size,
    sha256: createHash("sha256").update(readFileSync(file)).digest("hex"),
  });
}

function ok(result: { status: number; stdout: string; stderr: string }, what: string): string {
  if (result.status !== 0)
    throw new Error(`${what} exited ${result.status}\n${result.stderr}\n${result.stdout}`);
  return result.stdout;
}

describe.skipIf(skipReason(...TOOLS))("backup runner scripts against real daemons", () => {
  let env: BackupEnv;

  beforeAll(async () => {
    env = await createBackupEnv();
    env.pg.sql(
      `CREATE TABLE items (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT clock_timestamp(), payload text);
       INSERT INTO items (payload) SELECT 'seed-' || g FROM generate_series(1, 5000) g;`,
      APP_DB,
    );
    ok(
      runAsPostgres(
        "pgbench",
        ["-i", "-s", "1", "-q", "-h", env.pg.socketDir, "-p", String(env.pg.port), APP_DB],
        {},
      ),
      "pgbench -i",
    );
  });

  afterAll(async () => {
    await env?.destroy();
  });

  /**
   * The S3 requests since the last clearRequests(), without the WAL the live PostgreSQL archives
   * meanwhile (its archive_command runs as the archive identity, checked in its own test).
   */
  function restoreRequests() {
    const archive = `/${env.s3!.bucket}/${walArchivePrefix(STANZA)}`;
    return env.s3!.requests().filter((r) => !(r.method === "PUT" && r.path.startsWith(archive)));
  }

  it("backup-init creates the stanza in both repositories and WAL archiving works", () => {
    ok(env.script("backup-init"), "backup-init");
    ok(env.pgbackrest(["check"]), "pgbackrest check");
    expect(env.confText).toContain("repo2-type=s3");
    expect(env.confText).not.toContain("cipher-pass"); // secrets come from the environment
    expect(env.confText).not.toContain("s3-key=");
  });

  it("the archive identity's policy allows every S3 request archive-push makes (and deletes nothing)", async () => {
    const s3 = env.s3!;
    const archive = walArchivePrefix(STANZA);
    const segments = () => s3.keys(archive).filter((k) => /\/[0-9A-F]{24}-[0-9a-f]{40}/.test(k)).length;
    const before = segments();
    s3.clearRequests();
    for (let i = 0; i < 3; i++) {
      // WAL without a row in any table (later tests count rows).
      env.pg.sql("SELECT pg_logical_emit_message(false, 'archive-test', repeat('x', 100000))");
      env.pg.sql("SELECT pg_switch_wal()");
    }
    await waitFor("3 more WAL segments in the S3 archive", () => segments() >= before + 3, {
      timeoutMs: 60_000,
    });
    const requests = s3.requests();
    expect(requests.some((r) => r.method === "PUT" && r.path.includes(`/${archive}`))).toBe(true);
    expect(refusedBy(ARCHIVE_POLICY, requests, s3.bucket)).toEqual([]);
    expect(requests.filter((r) => r.method === "DELETE" || r.query.includes("delete"))).toEqual([]);
  });

  it("backup-pg full writes a full backup to repo1 and repo2 and metrics", () => {
    const before = Math.floor(Date.now() / 1000);
    env.s3!.clearRequests();
    ok(env.script("backup-pg", ["full"]), "backup-pg full");
    // The writer's policy allows every request of a real backup; the archive identity's does not.
    const requests = env.s3!.requests();
    expect(refusedBy(WRITER_POLICY, requests, env.s3!.bucket)).toEqual([]);
    expect(refusedBy(ARCHIVE_POLICY, requests, env.s3!.bucket).join("\n")).toMatch(
      /s3:PutObject PUT \/backups\/pgbackrest\/backup\//,
    );
    expect(backupLabels(env, 1).map((b) => b.type)).toEqual(["full"]);
    expect(backupLabels(env, 2).map((b) => b.type)).toEqual(["full"]);
    const m = env.metrics("pg_full");
    expect(m.backup_last_status).toBe(1);
    expect(m.backup_last_success_timestamp_seconds).toBeGreaterThanOrEqual(before);
    expect(m.backup_last_size_bytes).toBeGreaterThan(100_000);
    expect(m.backup_last_duration_seconds).toBeGreaterThan(0);
    // S3 holds pgBackRest's files under /pgbackrest, encrypted (no plain "PGDATA" names).
    expect(env.s3!.keys("pgbackrest/backup/main/").length).toBeGreaterThan(0);
  });

  it("backup-pg diff adds a differential backup in both repositories", () => {
    env.pg.sql(
      `INSERT INTO items (payload) SELECT 'after-full-' || g FROM generate_series(1, 1000) g`,
      APP_DB,
    );
    ok(env.script("backup-pg", ["diff"]), "backup-pg diff");
    expect(backupLabels(env, 1).map((b) => b.type)).toEqual(["full", "diff"]);
    expect(backupLabels(env, 2).map((b) => b.type)).toEqual(["full", "diff"]);
    expect(env.metrics("pg_diff").backup_last_status).toBe(1);
  });

  it("backup-logical writes a checked custom-format dump locally and to S3", () => {
    ok(env.script("backup-logical"), "backup-logical");
    const dumps = readdirSync(join(env.backupDir, "logical")).filter((f) => f.endsWith(".dump"));
    expect(dumps).toHaveLength(1);
    expect(dumps[0]).toMatch(/^app-\d{8}T\d{6}Z\.dump$/);
    const file = join(env.backupDir, "logical", dumps[0]);
    const list = ok(run("pg_restore", ["--list", file]), "pg_restore --list");
    expect(list).toContain("TABLE DATA public items");
    expect(env.s3!.keys("logical/")).toEqual([`logical/${dumps[0]}`, `logical/${dumps[0]}.manifest.json`]);
    expectManifestOf(file);
    const m = env.metrics("logical");
    expect(m.backup_last_status).toBe(1);
    expect(m.backup_last_size_bytes).toBe(statSync(file).size);
  });

  it("backup-redis pulls a checked RDB through a password-protected connection and uploads it", () => {
    env.redis!.cli("MSET", "session:1", "alice", "session:2", "bob", "counter", "42");
    env.redis!.cli("HSET", "user:7", "name", "carol", "plan", "pro");
    ok(env.script("backup-redis"), "backup-redis");
    const rdbs = readdirSync(join(env.backupDir, "redis")).filter((f) => f.endsWith(".rdb"));
    expect(rdbs).toHaveLength(1);
    expect(env.s3!.keys("redis/")).toEqual([`redis/${rdbs[0]}`, `redis/${rdbs[0]}.manifest.json`]);
    expectManifestOf(join(env.backupDir, "redis", rdbs[0]));
    expect(env.metrics("redis").backup_last_status).toBe(1);
  });

  it("backup-verify checks archiving, both repositories, the dump and the RDB", () => {
    const out = env.script("backup-verify");
    ok(out, "backup-verify");
    expect(out.stderr).toMatch(/newest logical dump is readable/);
    expect(out.stderr).toMatch(/newest RDB file is valid/);
    expect(out.stderr).toMatch(/app-\d{8}T\d{6}Z\.dump matches its manifest/);
    expect(out.stderr).toMatch(/redis-\d{8}T\d{6}Z\.rdb matches its manifest/);
    expect(env.metrics("verify").backup_last_status).toBe(1);
  });

  for (const from of ["local", "s3"] as const) {
    it(`restore-postgres --latest --from ${from} gives a copy with identical tables`, async () => {
      env.pg.sql(
        `INSERT INTO items (payload) SELECT 'after-diff-' || g FROM generate_series(1, 500) g`,
        APP_DB,
      );
      ok(env.pgbackrest(["check"]), "pgbackrest check (archive the last WAL)");
      const expected = tableFingerprints(env.pg);
      expect(Object.keys(expected)).toEqual(
        expect.arrayContaining(["public.items", "public.pgbench_accounts", "public.pgbench_branches"]),
      );

      const copy = await createPgServer({ skipInit: true, root: env.dir(`restore-${from}`) });
      try {
        env.s3!.clearRequests();
        const out = env.script("restore-postgres", [
          "--target-dir",
          copy.dataDir,
          "--latest",
          "--from",
          from,
          "--archive-mode",
          "off",
        ]);
        ok(out, "restore-postgres");
        expect(out.stdout).toContain(`restored into ${copy.dataDir} from repo${from === "local" ? 1 : 2}`);
        if (from === "s3") {
          // Everything the restore asked of S3 is allowed to the read-only restore identity.
          expect(env.s3!.requests().length).toBeGreaterThan(0);
          expect(refusedBy(RESTORE_POLICY, restoreRequests(), env.s3!.bucket)).toEqual([]);
        }
        // repo1 is fetched synchronously (no spool polling), S3 through the config's async prefetch.
        const restoreCommand = /^restore_command = '(.*)'$/m.exec(
          readFileSync(join(copy.dataDir, "postgresql.auto.conf"), "utf8"),
        )?.[1];
        if (from === "local") {
          expect(restoreCommand).toBe(
            `pgbackrest --config=${env.runnerConfFile} --pg1-path=${copy.dataDir} --stanza=main --no-archive-async archive-get %f "%p"`,
          );
        } else {
          // pgBackRest's own command (pins repo2); archive-async comes from the config file.
          expect(restoreCommand).toBe(
            `pgbackrest --config=${env.runnerConfFile} --pg1-path=${copy.dataDir} --repo=2 --stanza=main archive-get %f "%p"`,
          );
        }
        await startRestored(copy);
        expect(tableFingerprints(copy)).toEqual(expected);
      } finally {
        copy.destroy();
      }
    });
  }

  it("restore-postgres refuses a non-empty target directory", () => {
    const target = env.dir("not-empty");
    run("runuser", ["-u", "postgres", "--", "touch", join(target, "PG_VERSION")]);
    const out = env.script("restore-postgres", ["--target-dir", target, "--latest"]);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain("is not empty");
  });

  it("point-in-time restore: exactly the rows committed up to the target time exist", async () => {
    env.pg.sql(
      `CREATE TABLE events (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), batch text)`,
      APP_DB,
    );
    ok(env.script("backup-pg", ["diff", "--repo", "1"]), "backup-pg diff --repo 1");
    for (let i = 0; i < 5; i++) env.pg.sql(`INSERT INTO events (batch) VALUES ('before')`, APP_DB);
    const target = env.pg.sql(
      `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'`,
      APP_DB,
    );
    const before = env.pg.sql(`SELECT count(*) FROM events`, APP_DB);
    await new Promise((r) => setTimeout(r, 1200));
    for (let i = 0; i < 7; i++) env.pg.sql(`INSERT INTO events (batch) VALUES ('after')`, APP_DB);
    ok(env.pgbackrest(["check"]), "pgbackrest check (archive the WAL past the target)");
    expect(before).toBe("5");

    // The repositories' default WAL fetch (local: sync, s3: async), and S3 fetched synchronously.
    const variants: [string, string[]][] = [
      ["local", []],
      ["s3", []],
      ["s3", ["--wal-fetch", "sync"]],
    ];
    for (const [from, walFetch] of variants) {
      const copy = await createPgServer({
        skipInit: true,
        root: env.dir(`pitr-${from}${walFetch.join("")}`),
      });
      try {
        ok(
          env.script("restore-postgres", [
            "--target-dir",
            copy.dataDir,
            "--to",
            target,
            "--from",
            from,
            "--archive-mode",
            "off",
            ...walFetch,
          ]),
          `restore-postgres --to (${from} ${walFetch.join(" ")})`,
        );
        await startRestored(copy);
        expect(
          copy.sql(`SELECT batch || ':' || count(*) FROM events GROUP BY batch ORDER BY 1`, APP_DB),
        ).toBe("before:5");
        expect(copy.sql(`SELECT bool_and(at <= '${target}'::timestamptz) FROM events`, APP_DB)).toBe("t");
      } finally {
        copy.destroy();
      }
    }
  });

  // repo1 fetches WAL synchronously, S3 asynchronously (the two restore_command forms).
  for (const from of ["local", "s3"] as const) {
    it(`restore-drill --exact restores from ${from} and compares every table`, () => {
      // What a killed drill leaves: its directory and a postmaster.pid naming no live server.
      const leftover = join(env.scratchDir, "drill-999999", "data");
      runAsPostgres("mkdir", ["-p", leftover], {});
      runAsPostgres("sh", ["-c", `printf '999999\\n%s\\n' "$1" > "$1/postmaster.pid"`, "sh", leftover], {});
      const out = env.script("restore-drill", ["--from", from, "--exact"]);
      ok(out, "restore-drill");
      expect(out.stdout).toMatch(
        new RegExp(
          `restore drill passed: \\d+ tables, \\d+ rows restored from repo${from === "local" ? 1 : 2}`,
        ),
      );
      expect(out.stderr).toMatch(/0 differ, 0 missing/);
      expect(out.stderr).toContain(`WAL fetch ${from === "local" ? "sync" : "async"}`);
      const m = env.metrics("restore_drill");
      expect(m.backup_last_status).toBe(1);
      expect(m.restore_drill_last_success_timestamp_seconds).toBeGreaterThan(Date.now() / 1000 - 600);
      expect(readdirSync(env.scratchDir)).toEqual([]); // the scratch copy is removed
    });
  }

  it("restore-logical restores the latest dump into a fresh database", () => {
    env.pg.sql(`CREATE DATABASE logical_copy`);
    const dumped = tableFingerprints(env.pg);
    // The dump was taken before later inserts: compare with what the dump holds.
    const out = env.script("restore-logical", [
      "--latest",
      "--dbname",
      `postgresql://postgres@/logical_copy?host=${env.pg.socketDir}&port=${env.pg.port}`,
    ]);
    ok(out, "restore-logical");
    const restored = tableFingerprints(env.pg, "logical_copy");
    expect(Object.keys(restored)).toEqual(
      expect.arrayContaining(["public.items", "public.pgbench_accounts"]),
    );
    expect(restored["public.pgbench_accounts"]).toBe(dumped["public.pgbench_accounts"]);
    expect(restored["public.items"].split(":")[0]).toBe("6000"); // 5000 seed + 1000 before the dump
  });

  it("restore-logical from S3 fails on a target that already has the tables, leaving it unchanged", () => {
    const key = env.s3!.keys("logical/")[0];
    const before = tableFingerprints(env.pg, "logical_copy");
    const out = env.script("restore-logical", [
      `s3://${env.s3!.bucket}/${key}`,
      "--dbname",
      `postgresql://postgres@/logical_copy?host=${env.pg.socketDir}&port=${env.pg.port}`,
    ]);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain("rolled back");
    expect(tableFingerprints(env.pg, "logical_copy")).toEqual(before);
  });

  it("restores only a file that matches its manifest; the S3 reads are the restore identity's", () => {
    const s3 = env.s3!;
    const [dumpName] = readdirSync(join(env.backupDir, "logical")).filter((f) => f.endsWith(".dump"));
    const source = join(env.backupDir, "logical", dumpName);
    const dir = env.dir("manifest-checks");
    const target = (db: string) =>
      `postgresql://postgres@/${db}?host=${env.pg.socketDir}&port=${env.pg.port}`;
    const copy = (name: string, withManifest: boolean) => {
      const file = join(dir, name);
      ok(runAsPostgres("cp", [source, file], {}), "cp");
      if (withManifest) {
        const manifest = readFileSync(`${source}.manifest.json`, "utf8").replace(dumpName, name);
        ok(
          runAsPostgres("bash", ["-c", 'printf %s "$M" >"$F"'], { M: manifest, F: `${file}.manifest.json` }),
          "manifest",
        );
      }
      return file;
    };
    // One byte changed after the backup: refused before pg_restore runs.
    const tampered = copy(dumpName, true);
    ok(
      runAsPostgres(
        "bash",
        ["-c", `printf X | dd of=${JSON.stringify(tampered)} bs=1 seek=200 conv=notrunc status=none`],
        {},
      ),
      "tamper",
    );
    const refused = env.script("restore-logical", [tampered, "--dbname", target("postgres")]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`${dumpName} does not match the sha256 in its manifest`);
    // No manifest: refused, naming the way out for a file made by hand.
    const bare = copy(`bare-${dumpName}`, false);
    const missing = env.script("restore-logical", [bare, "--dbname", target("postgres")]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no checksum manifest for bare-.*--unverified/);
    // A manifest that names another file is not this file's manifest.
    const renamed = join(dir, `renamed-${dumpName}`);
    ok(runAsPostgres("cp", [source, renamed], {}), "cp");
    ok(runAsPostgres("cp", [`${source}.manifest.json`, `${renamed}.manifest.json`], {}), "cp manifest");
    const other = env.script("restore-logical", [renamed, "--dbname", target("postgres")]);
    expect(other.status).toBe(1);
    expect(other.stderr).toContain(`describes ${dumpName}, not renamed-${dumpName}`);
    // --unverified restores it, and says so.
    env.pg.sql(`CREATE DATABASE unverified_copy`);
    const forced = env.script("restore-logical", [
      bare,
      "--unverified",
      "--dbname",
      target("unverified_copy"),
    ]);
    ok(forced, "restore-logical --unverified");
    expect(forced.stderr).toContain("without checking a manifest (--unverified)");

    // In S3: an object replaced after its backup no longer matches the manifest written with it.
    const key = `logical/${dumpName}`;
    const aws = (command: string) =>
      runAsPostgres("bash", ["-c", `. ${JSON.stringify(COMMON_LIB)}; ${command}`], env.env);
    s3.clearRequests();
    env.pg.sql(`CREATE DATABASE s3_copy`);
    ok(
      env.script("restore-logical", [`s3://${s3.bucket}/${key}`, "--dbname", target("s3_copy")]),
      "restore from S3",
    );
    const reads = restoreRequests().filter((r) => r.path.includes("/logical/"));
    expect(reads.length).toBeGreaterThan(0);
    expect(refusedBy(RESTORE_POLICY, reads, s3.bucket)).toEqual([]);
    ok(
      aws(`aws_s3 s3 cp --only-show-errors ${JSON.stringify(tampered)} s3://${s3.bucket}/${key}`),
      "replace the object",
    );
    const replaced = env.script("restore-logical", [
      `s3://${s3.bucket}/${key}`,
      "--dbname",
      target("postgres"),
    ]);
    expect(replaced.status).toBe(1);
    expect(replaced.stderr).toContain("does not match the sha256 in its manifest");
    ok(
      aws(`aws_s3 s3 cp --only-show-errors ${JSON.stringify(source)} s3://${s3.bucket}/${key}`),
      "put it back",
    );
  });

  it("restore-redis --rebuild-aof: a Redis with appendonly yes starts with the snapshot's keys", async () => {
    const dataDir = env.dir("redis-restore");
    // An old AOF that would win over the RDB if it were left in place.
    run("runuser", ["-u", "postgres", "--", "mkdir", join(dataDir, "appendonlydir")]);
    // The env's Redis (REDIS_HOST) keeps running: it does not use this directory.
    const out = env.script("restore-redis", [
      "--latest",
      "--data-dir",
      dataDir,
      "--rebuild-aof",
      "--ignore-running",
    ]);
    ok(out, "restore-redis");
    expect(existsSync(join(dataDir, "dump.rdb"))).toBe(true);
    expect(readdirSync(dataDir).some((f) => f.startsWith("appendonlydir.before-restore-"))).toBe(true);
    expect(readdirSync(join(dataDir, "appendonlydir")).some((f) => f.endsWith(".manifest"))).toBe(true);

    const port = await freePort();
    const redis = await startRedisDaemon({ port, dir: dataDir, appendonly: true, asPostgres: true });
    try {
      const cli = (...args: string[]) => redisCli(port)(...args).stdout.trim();
      expect(cli("get", "session:1")).toBe("alice");
      expect(cli("hget", "user:7", "plan")).toBe("pro");
      expect(cli("dbsize")).toBe("4");
    } finally {
      await redis.stop();
    }
  });

  it("restore-redis refuses while a Redis answers at REDIS_HOST, and without --rebuild-aof over an AOF", () => {
    const dataDir = env.dir("redis-refuse");
    const running = env.script("restore-redis", ["--latest", "--data-dir", dataDir, "--rebuild-aof"]);
    expect(running.status).toBe(1);
    expect(running.stderr).toContain(`a Redis answers at 127.0.0.1:${env.redis!.port}`);
    run("runuser", ["-u", "postgres", "--", "mkdir", join(dataDir, "appendonlydir")]);
    const noRebuild = env.script("restore-redis", ["--latest", "--data-dir", dataDir, "--ignore-running"]);
    expect(noRebuild.status).toBe(2);
    expect(noRebuild.stderr).toMatch(
      /appendonlydir exists: a Redis with appendonly yes loads it and ignores the RDB/,
    );
    expect(readdirSync(dataDir)).toEqual(["appendonlydir"]);
  });

  it("restore-redis puts the old files back when the AOF rebuild fails", () => {
    const dataDir = env.dir("redis-rollback");
    runAsPostgres(
      "sh",
      [
        "-c",
        'echo old-rdb > "$1/dump.rdb" && mkdir "$1/appendonlydir" && echo m > "$1/appendonlydir/x.manifest"',
        "sh",
        dataDir,
      ],
      {},
    );
    // A redis-server that exits at once: the load fails after the old files were moved aside.
    const out = env.script(
      "restore-redis",
      ["--latest", "--data-dir", dataDir, "--rebuild-aof", "--ignore-running"],
      { REDIS_SERVER_BIN: "/bin/false" },
    );
    expect(out.status).toBe(1);
    expect(out.stderr).toContain("redis-server exited while loading");
    expect(out.stderr).toContain("rolling back");
    expect(readdirSync(dataDir).sort()).toEqual(["appendonlydir", "dump.rdb"]);
    expect(readFileSync(join(dataDir, "dump.rdb"), "utf8")).toBe("old-rdb\n");
    expect(readdirSync(join(dataDir, "appendonlydir"))).toEqual(["x.manifest"]);
  });

  it("a backup whose config cannot be read fails (it used to report success with no repository)", () => {
    const textfiles = env.dir("textfile-badconf");
    const out = env.script("backup-pg", ["diff"], {
      PGBACKREST_CONFIG: "/nonexistent/pgbackrest.conf",
      TEXTFILE_DIR: textfiles,
    });
    expect(out.status).toBe(1);
    expect(out.stderr).toContain("PGBACKREST_CONFIG /nonexistent/pgbackrest.conf is not readable");
    expect(readFileSync(join(textfiles, "backup_pg_diff.prom"), "utf8")).toMatch(
      /^backup_last_status\{kind="pg_diff"\} 0$/m,
    );
  });

  it("a job that finds its lock taken exits 75 and leaves the metrics alone", async () => {
    const locks = env.dir("locks-busy");
    const textfiles = env.dir("textfile-busy");
    // Another full backup is running: it holds the shared pg lock (a file the jobs' user owns).
    runAsPostgres("touch", [join(locks, ".lock-pg")], {});
    // It says "held" once it has the lock; its own process group, so the kill reaches the sleep.
    const holder = spawn("flock", [join(locks, ".lock-pg"), "sh", "-c", "echo held; exec sleep 30"], {
      stdio: ["ignore", "pipe", "ignore"],
      detached: true,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.once("error", reject);
        holder.once("exit", (code) => reject(new Error(`flock exited ${code} before taking the lock`)));
        holder.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("held") && resolve());
      });
      const out = env.script("backup-pg", ["diff"], {
        BACKUP_LOCK_DIR: locks,
        TEXTFILE_DIR: textfiles,
        PG_BACKUP_LOCK_WAIT_SECONDS: "1",
      });
      expect(out.status).toBe(75);
      expect(out.stderr).toContain("pg_diff not started");
      expect(readdirSync(textfiles)).toEqual([]);
    } finally {
      try {
        if (holder.pid) process.kill(-holder.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });

  it("prune-local deletes dumps older than the retention but never the newest", () => {
    const dir = env.dir("prune");
    const mk = (name: string, daysAgo: number) => {
      const path = join(dir, name);
      runAsPostgres("touch", ["-d", `${daysAgo} days ago`, path], {});
      return path;
    };
    mk("a.dump", 40);
    mk("a.dump.manifest.json", 40);
    mk("b.dump", 31);
    mk("c.dump", 5);
    mk("c.dump.manifest.json", 5);
    mk("orphan.dump.manifest.json", 3); // its dump is gone: dropped once a day old
    mk("keep.txt", 90);
    ok(env.script("prune-local", [dir, "30", "*.dump"]), "prune-local");
    expect(readdirSync(dir).sort()).toEqual(["c.dump", "c.dump.manifest.json", "keep.txt"]);
    // Only old files left: the newest survives.
    const only = env.dir("prune-old");
    runAsPostgres("touch", ["-d", "50 days ago", join(only, "x.dump")], {});
    runAsPostgres("touch", ["-d", "60 days ago", join(only, "y.dump")], {});
    ok(env.script("prune-local", [only, "30", "*.dump"]), "prune-local");
    expect(readdirSync(only)).toEqual(["x.dump"]);
  });

  it("restore-postgres refuses a path restore_command cannot carry, before touching anything", () => {
    const target = join(env.root, "with blank");
    const out = env.script("restore-postgres", ["--target-dir", target, "--latest"]);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain(`path '${target}' contains blanks`);
    expect(existsSync(target)).toBe(false);
  });

  it("commands reject bad arguments with a usage error (exit 2) naming the problem", () => {
    const cases: [string, string[], RegExp][] = [
      ["backup-pg", ["weekly"], /full, diff or incr/],
      ["restore-postgres", ["--target-dir", "/tmp/x", "--to", "yesterday"], /YYYY-MM-DD HH:MM:SS\+00/],
      ["restore-postgres", ["--latest"], /--target-dir is required/],
      ["restore-postgres", ["--target-dir", "/tmp/x", "--latest", "--from", "tape"], /local or s3/],
      [
        "restore-postgres",
        ["--target-dir", "/tmp/x", "--latest", "--wal-fetch", "fast"],
        /sync or async, got 'fast'/,
      ],
      [
        "restore-postgres",
        ["--target-dir", "/tmp/x", "--to", "2026-01-01 00:00:00+00", "--latest"],
        /--latest and --to exclude each other/,
      ],
      [
        "restore-postgres",
        ["--target-dir", "/tmp/x", "--latest", "--to", "2026-01-01 00:00:00+00"],
        /--latest and --to exclude each other/,
      ],
      [
        "restore-logical",
        ["/tmp/a.dump", "--latest", "--dbname", "postgresql:///x"],
        /not both '\/tmp\/a.dump' and --latest/,
      ],
      [
        "restore-redis",
        ["--latest", "/tmp/a.rdb", "--data-dir", "/tmp"],
        /not both '--latest' and '\/tmp\/a.rdb'/,
      ],
      ["backup-pg", ["full", "--repo", "3"], /--repo expects 1, 2 or all, got '3'/],
      ["restore-logical", ["--latest"], /--dbname is required/],
      ["write-metric", ["Bad-Kind", "ok"], /metric kind/],
    ];
    for (const [cmd, args, message] of cases) {
      const out = env.script(cmd, args);
      expect(out.status, `${cmd} ${args.join(" ")}`).toBe(2);
      expect(out.stderr).toMatch(message);
    }
  });
});
