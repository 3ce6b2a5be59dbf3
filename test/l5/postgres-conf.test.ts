/**
 * L5: the rendered postgresql.conf fragment on a real PostgreSQL 15. The settings must take
 * effect (SHOW reads them back exactly as rendered), the server must start with them, and the
 * rendered archive_command must archive WAL through a real pgBackRest stanza (`pgbackrest check`
 * forces a WAL switch and waits until the segment is in the repository).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  pgbackrestArchiveCommand,
  postgresServerArgs,
  postgresSettings,
  renderPostgresqlConf,
} from "../../renderers/postgresql-conf";
import { APP_ROLE_SQL } from "../../components/postgres";
import {
  asPostgres,
  createPgServer,
  postgresOwnedDir,
  PG_BIN,
  runInitSql,
  type PgServer,
} from "../support/postgres";
import { skipReason, waitFor } from "../support/tools";

const LIMITS = { memoryMb: 1024, cpus: 2 };

describe.skipIf(skipReason("pg_ctl", "initdb", "pgbackrest"))("postgresql.conf on PostgreSQL 15 (L5)", () => {
  let pg: PgServer;
  let configPath: string;
  let options: Parameters<typeof renderPostgresqlConf>[1];

  beforeAll(async () => {
    pg = await createPgServer();
    const repo = postgresOwnedDir(join(pg.root, "repo"));
    const spool = postgresOwnedDir(join(pg.root, "spool"));
    const logs = postgresOwnedDir(join(pg.root, "pgbackrest-log"));
    const locks = postgresOwnedDir(join(pg.root, "pgbackrest-lock"));
    configPath = join(pg.root, "pgbackrest.conf");
    // A minimal local stanza (the product's pgbackrest.conf is the backup renderer's; this
    // test only needs a repository the rendered archive_command can push to).
    writeFileSync(
      configPath,
      [
        "[global]",
        `repo1-path=${repo}`,
        `spool-path=${spool}`,
        `log-path=${logs}`,
        `lock-path=${locks}`,
        "log-level-console=warn",
        "",
        "[main]",
        `pg1-path=${pg.dataDir}`,
        `pg1-port=${pg.port}`,
        `pg1-socket-path=${pg.socketDir}`,
        "",
      ].join("\n"),
      { mode: 0o644 },
    );
    options = {
      archiveCommand: pgbackrestArchiveCommand("main", configPath),
      archiveTimeoutSeconds: 60,
      listenAddresses: "127.0.0.1",
      port: pg.port,
    };
    pg.appendConfig(renderPostgresqlConf(LIMITS, options));
    await pg.start();
  });

  afterAll(() => pg?.destroy());

  it("every rendered setting reads back through SHOW exactly as rendered", () => {
    const settings = postgresSettings(LIMITS, options);
    const mismatches: string[] = [];
    for (const s of settings) {
      const shown = pg.sql(`SHOW ${s.name}`);
      // (the psql helper trims output, so log_line_prefix loses its trailing space here)
      if (shown !== String(s.value).trim())
        mismatches.push(`${s.name}: rendered ${String(s.value)}, SHOW ${shown}`);
    }
    expect(mismatches).toEqual([]);
    // The values the issue names, spelled out:
    expect(pg.sql("SHOW shared_buffers")).toBe("256MB");
    expect(pg.sql("SHOW effective_cache_size")).toBe("768MB");
    expect(pg.sql("SHOW work_mem")).toBe("2427kB");
    expect(pg.sql("SHOW max_connections")).toBe("100");
    expect(pg.sql("SHOW max_worker_processes")).toBe("8");
    expect(pg.sql("SHOW max_parallel_workers")).toBe("2");
    expect(pg.sql("SHOW wal_level")).toBe("replica");
    expect(pg.sql("SHOW archive_mode")).toBe("on");
    expect(pg.sql("SHOW archive_timeout")).toBe("1min");
    expect(pg.sql("SHOW password_encryption")).toBe("scram-sha-256");
  });

  it("no setting came from anywhere but the config file (no typo silently ignored)", () => {
    const names = postgresSettings(LIMITS, options).map((s) => `'${s.name}'`);
    const rows = pg.sql(
      `SELECT lower(name) || '=' || source FROM pg_settings WHERE lower(name) IN (${names.join(",")}) ORDER BY 1`,
    );
    const sources = rows.split("\n");
    expect(sources).toHaveLength(names.length);
    // The test harness also passes port and listen_addresses to pg_ctl, and its psql sets PGTZ
    // (the session's timezone): those three show other sources here.
    const notFromFile = sources.filter(
      (r) =>
        !r.endsWith("=configuration file") &&
        !/^(port=command line|listen_addresses=command line|timezone=client)$/.test(r),
    );
    expect(notFromFile).toEqual([]);
    expect(pg.sql("SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL")).toBe("0");
  });

  it("the rendered archive_command archives WAL into a real pgBackRest repository", async () => {
    const stanzaCreate = asPostgres("pgbackrest", [
      `--config=${configPath}`,
      "--stanza=main",
      "stanza-create",
    ]);
    expect(stanzaCreate.status, stanzaCreate.stderr + stanzaCreate.stdout).toBe(0);
    pg.sql("CREATE TABLE archived(id int); INSERT INTO archived SELECT generate_series(1, 1000);");
    // `check` switches WAL and waits until archive-push put the segment into the repository.
    const check = asPostgres("pgbackrest", [
      `--config=${configPath}`,
      "--stanza=main",
      "--archive-timeout=60",
      "check",
    ]);
    expect(check.status, check.stderr + check.stdout).toBe(0);
    const archived = await waitFor("pg_stat_archiver to count an archived segment", () => {
      const row = pg.sql("SELECT archived_count || ',' || failed_count FROM pg_stat_archiver");
      const [ok] = row.split(",").map(Number);
      return ok >= 1 ? row : undefined;
    });
    const [ok, failed] = String(archived).split(",").map(Number);
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(failed).toBe(0);
    const info = asPostgres("pgbackrest", [
      `--config=${configPath}`,
      "--stanza=main",
      "--output=json",
      "info",
    ]);
    const parsed = JSON.parse(info.stdout) as { archive: { max: string | null }[] }[];
    expect(parsed[0].archive[0].max).toMatch(/^[0-9A-F]{24}$/);
    console.log(`pgBackRest archived ${ok} WAL segment(s), newest ${parsed[0].archive[0].max}`);
  });

  it("the same settings passed as -c arguments (the container's form) give the same values", () => {
    // A fresh data directory without the fragment: whatever `postgres -C` reports there comes
    // from the arguments alone. Compared with pg_settings of the server configured by the file.
    const bare = join(pg.root, "bare");
    const init = asPostgres(join(PG_BIN, "initdb"), ["-D", bare, "-U", "postgres", "--auth=trust"]);
    expect(init.status, init.stderr).toBe(0);
    const args = postgresServerArgs(LIMITS, options);
    const differences: string[] = [];
    for (const s of postgresSettings(LIMITS, options)) {
      const fromArgs = asPostgres(join(PG_BIN, "postgres"), ["-D", bare, ...args, "-C", s.name]);
      expect(fromArgs.status, fromArgs.stderr).toBe(0);
      const fromFile = pg.sql(`SELECT setting FROM pg_settings WHERE lower(name) = '${s.name}'`);
      // (trimmed: the psql helper trims, so log_line_prefix's trailing space is compared without it)
      if (fromArgs.stdout.trim() !== fromFile) {
        differences.push(`${s.name}: args ${fromArgs.stdout.trim()}, file ${fromFile}`);
      }
    }
    expect(differences).toEqual([]);
  });

  it("the app-role init SQL (run once by the official entrypoint) creates a scram LOGIN role with a schema of its own, not the database or public", () => {
    pg.sql("CREATE DATABASE appdb");
    const password = "Zq3-_generated-password-0123456789abcdef";
    const result = runInitSql(
      pg,
      "10-app-role.sql",
      APP_ROLE_SQL,
      { APP_DB_USER: "app", APP_DB_PASSWORD: password, POSTGRES_DB: "appdb" },
      "appdb",
    );
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).not.toContain(password);
    expect(
      pg.sql(
        "SELECT rolcanlogin, rolsuper, rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'app'",
      ),
    ).toBe("t|f|t");
    // The database and public belong to postgres; the application works in its own schema.
    expect(pg.sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'appdb'")).toBe(
      "postgres",
    );
    const create = asPostgres(join(PG_BIN, "psql"), [
      "-h",
      pg.socketDir,
      "-p",
      String(pg.port),
      "-U",
      "app",
      "-d",
      "appdb",
      "-v",
      "ON_ERROR_STOP=1",
      "-qAtX",
      "-c",
      "CREATE TABLE sessions(id text primary key); SELECT current_user || ' ' || (SELECT nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid WHERE c.relname = 'sessions')",
    ]);
    expect(create.status, create.stderr).toBe(0);
    expect(create.stdout.trim()).toBe("app app");
    const inPublic = asPostgres(join(PG_BIN, "psql"), [
      "-h",
      pg.socketDir,
      "-p",
      String(pg.port),
      "-U",
      "app",
      "-d",
      "appdb",
      "-qAtX",
      "-c",
      "CREATE TABLE public.planted(id int)",
    ]);
    expect(inPublic.status).not.toBe(0);
    expect(inPublic.stderr).toMatch(/permission denied for schema public/);
  });
});
