/**
 * The Postgres container's entrypoint wrapper (components/postgres.ts POSTGRES_START_SCRIPT):
 * shellcheck-clean, and run for real with bash against a temp directory and a stand-in
 * docker-entrypoint.sh: it writes pgbackrest.conf (0600) and the init SQL, removes the base64
 * variable from the environment and passes every argument through unchanged.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  APP_ROLE_SQL,
  MONITOR_ROLE_SQL,
  POSTGRES_START_SCRIPT,
  VERIFY_ROLE_SQL,
} from "../../components/postgres";
import { removeDir, run, skipReason, tempDir } from "../support/tools";

describe.skipIf(skipReason("shellcheck", "bash", "base64"))("postgres start script", () => {
  const dir = tempDir("pgstart");
  afterAll(() => removeDir(dir));

  /** The script under bash with `postgres ...args` and, besides HOME and PATH, only `env`. */
  const runStart = (env: Record<string, string>, args: string[] = []) =>
    run(
      "bash",
      ["--norc", "--noprofile", "-c", POSTGRES_START_SCRIPT, "postgres-start", "postgres", ...args],
      {
        env: { HOME: dir, PATH: `${join(dir, "bin")}:${process.env.PATH}`, ...env },
      },
    );

  it("is shellcheck-clean", () => {
    const file = join(dir, "postgres-start.sh");
    writeFileSync(file, `#!/usr/bin/env bash\n${POSTGRES_START_SCRIPT}`);
    const result = run("shellcheck", ["-s", "bash", file]);
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("writes pgbackrest.conf and the init SQL, then execs the official entrypoint with the same arguments", () => {
    const bin = join(dir, "bin");
    mkdirSync(bin);
    mkdirSync(join(dir, "initdb"));
    // Stand-in for the image's docker-entrypoint.sh: prints its arguments and what it can see.
    writeFileSync(
      join(bin, "docker-entrypoint.sh"),
      '#!/usr/bin/env bash\nprintf "arg:%s\\n" "$@"\necho "b64:${PGBACKREST_CONF_B64:-unset}"\n',
    );
    chmodSync(join(bin, "docker-entrypoint.sh"), 0o755);
    const conf = "[global]\nrepo1-path=/var/lib/pgbackrest\n\n[main]\npg1-path=/var/lib/postgresql/data\n";
    const confPath = join(dir, "etc", "pgbackrest.conf");
    const result = runStart(
      {
        PGBACKREST_CONF_B64: Buffer.from(conf).toString("base64"),
        PGBACKREST_CONFIG: confPath,
        INITDB_DIR: join(dir, "initdb"),
        APP_DB_USER: "app",
        MONITOR_DB_USER: "monitor",
        VERIFY_DB_USER: "verify",
      },
      ["-c", "archive_command=pgbackrest --stanza=main archive-push %p", "-c", "log_line_prefix=%m [%p] "],
    );
    expect(result.stderr).toContain(`postgres-start: wrote ${confPath}`);
    expect(result.status).toBe(0);
    expect(result.stdout.split("\n")).toEqual([
      "arg:postgres",
      "arg:-c",
      "arg:archive_command=pgbackrest --stanza=main archive-push %p",
      "arg:-c",
      "arg:log_line_prefix=%m [%p] ",
      "b64:unset",
      "",
    ]);
    expect(readFileSync(confPath, "utf8")).toBe(conf);
    expect(statSync(confPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "initdb", "10-app-role.sql"), "utf8")).toBe(APP_ROLE_SQL);
    expect(readFileSync(join(dir, "initdb", "20-monitor-role.sql"), "utf8")).toBe(MONITOR_ROLE_SQL);
    expect(readFileSync(join(dir, "initdb", "30-verify-role.sql"), "utf8")).toBe(VERIFY_ROLE_SQL);
    // Every init file pins the search path first: it runs as the superuser.
    for (const sql of [APP_ROLE_SQL, MONITOR_ROLE_SQL, VERIFY_ROLE_SQL]) {
      expect(sql.split("\n")[1]).toBe("SET search_path = pg_catalog, pg_temp;");
    }
  });

  it("writes only the init files whose role is in the environment (here only the monitoring role)", () => {
    const initdb = join(dir, "initdb-monitor-only");
    mkdirSync(initdb);
    const result = runStart({
      PGBACKREST_CONFIG: join(dir, "none", "x.conf"),
      INITDB_DIR: initdb,
      MONITOR_DB_USER: "monitor",
    });
    expect(result.status, result.stderr).toBe(0);
    expect(readdirSync(initdb)).toEqual(["20-monitor-role.sql"]);
    expect(readFileSync(join(initdb, "20-monitor-role.sql"), "utf8")).toBe(MONITOR_ROLE_SQL);
  });

  it("clears the archive spool of a restored data directory (recovery.signal), and only then", () => {
    for (const restored of [true, false]) {
      const root = join(dir, `spool-${restored}`);
      const data = join(root, "data");
      const spool = join(root, "spool");
      mkdirSync(join(spool, "archive", "main", "out"), { recursive: true });
      mkdirSync(data, { recursive: true });
      writeFileSync(join(spool, "archive", "main", "out", "000000010000000000000003.ok"), "");
      if (restored) writeFileSync(join(data, "recovery.signal"), "");
      const result = runStart({
        PGBACKREST_CONFIG: join(dir, "none", "x.conf"),
        PGDATA: data,
        SPOOL_DIR: spool,
      });
      expect(result.status, result.stderr).toBe(0);
      expect(existsSync(join(spool, "archive")), `restored=${restored}`).toBe(!restored);
      expect(existsSync(spool)).toBe(true);
      expect(result.stderr).toBe(
        restored ? `postgres-start: restored cluster: cleared the archive spool ${spool}/archive\n` : "",
      );
      expect(result.stdout).toBe("arg:postgres\nb64:unset\n");
    }
  });

  it("without pgBackRest config or app user it only execs the entrypoint", () => {
    const result = runStart({
      PGBACKREST_CONFIG: join(dir, "none", "x.conf"),
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe("arg:postgres\nb64:unset\n");
    expect(result.stderr).toBe("");
  });
});
