/**
 * L5, issue 27: the application role attacks the sessions that read its data with more power
 * than it has, on a real PostgreSQL 15 + pgBackRest, and never gets anywhere.
 *
 * The roles come from the product's init SQL (components/postgres.ts): the application role owns
 * a schema of its own name and nothing else; the database and `public` belong to the superuser.
 * Connected as the application role over TCP with its password, the test:
 *  - tries to create a shadowing function and operator in `public`: refused;
 *  - creates, where it can (its own schema, and `public` as on a cluster from before these rules,
 *    when the application owned the database): functions and an aggregate shadowing what
 *    maintenance SQL calls (format, count, md5, lower, substr, pg_is_in_recovery), an operator,
 *    a cast from its table's row type to text, a row-level security policy, and tables whose
 *    names carry a tab, a newline and a bash arithmetic payload. Every hostile function
 *    announces itself (WARNING), counts its runs in a sequence, tries `ALTER ROLE app SUPERUSER`
 *    and `COPY ... TO PROGRAM 'touch <marker>'`.
 * Controls first show the traps are live: the old drill's query shapes run as the superuser make
 * the application role a superuser and run a program; the old drill's parsing runs the payload.
 * Then the product paths run: backup-pg + restore-drill (with and without --exact) and the
 * disaster-recovery verification (runbooks/lib/postgres.sh through the local seam). They pass,
 * and no hostile function ran in any role, no program ran, the application role is no superuser.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { APP_ROLE_SQL, POSTGRES_VERIFY_ROLE, VERIFY_ROLE_SQL } from "../../components/postgres";
import { PG_BIN, runInitSql } from "../support/postgres";
import { removeDir, run, skipReason, type RunResult } from "../support/tools";
import {
  APP_DB,
  APP_PASSWORD,
  APP_ROLE,
  createBackupEnv,
  VERIFY_PASSWORD,
  type BackupEnv,
} from "./backup-setup";

const REPO = resolve(__dirname, "..", "..");

vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

describe.skipIf(skipReason("pg_ctl", "initdb", "pgbackrest", "jq"))(
  "privileged sessions against a hostile application role (L5)",
  () => {
    let env: BackupEnv;
    let markers: string;
    /** The table whose name carries a tab-separated bash arithmetic payload. */
    let arithName: string;

    /** psql as `user` over TCP (scram, as the container's pg_hba.conf asks for the network). */
    const psqlAs = (user: string, password: string, sql: string): RunResult =>
      run(
        join(PG_BIN, "psql"),
        [
          "-h",
          "127.0.0.1",
          "-p",
          String(env.pg.port),
          "-U",
          user,
          "-d",
          APP_DB,
          "-X",
          "-qAt",
          "-v",
          "ON_ERROR_STOP=1",
        ],
        { input: sql, env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "5" } },
      );
    const asApp = (sql: string) => psqlAs(APP_ROLE, APP_PASSWORD, sql);
    const okApp = (sql: string) => {
      const r = asApp(sql);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    const marker = (name: string) => join(markers, name);
    const isSuperuser = () => env.pg.sql(`SELECT rolsuper FROM pg_roles WHERE rolname = '${APP_ROLE}'`);
    const hostileRuns = () =>
      env.pg.sql("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM app.pwn_runs", APP_DB);
    /** After a control: back to a clean state (the control's effects are the point of the control). */
    const undo = () => {
      env.pg.sql(`ALTER ROLE ${APP_ROLE} NOSUPERUSER`);
      env.pg.sql("SELECT setval('app.pwn_runs', 1, false)", APP_DB);
      freshMarkers();
    };
    /** An empty markers directory the server can write to (COPY TO PROGRAM runs as postgres). */
    const freshMarkers = () => {
      removeDir(markers);
      mkdirSync(markers, { recursive: true });
      run("chmod", ["0777", markers]);
    };
    const expectNothingRan = (output: string) => {
      expect(output).not.toContain("hostile function ran");
      expect(isSuperuser()).toBe("f");
      expect(hostileRuns()).toBe("0");
      expect(existsSync(marker("program"))).toBe(false);
      expect(existsSync(marker("a"))).toBe(false);
    };

    beforeAll(async () => {
      env = await createBackupEnv({ s3: false, redis: false });
      markers = join(env.root, "m"); // short: the payload must fit a 63-byte table name
      freshMarkers();
      // The container's authentication: the socket for the OS user postgres, scram over TCP. Every
      // login is logged, so the test can tell which role read the application database.
      writeFileSync(
        join(env.pg.dataDir, "pg_hba.conf"),
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
      );
      env.pg.sql("ALTER SYSTEM SET log_connections = on");
      env.pg.sql("SELECT pg_reload_conf()");
      arithName = `t\tBASH_VERSINFO[$(touch ${marker("a")})0]\tz`;

      const pwn = (name: string, args: string, returns: string, result: string) => `
        CREATE FUNCTION ${name}(${args}) RETURNS ${returns} LANGUAGE plpgsql AS $f$
        BEGIN
          RAISE WARNING 'hostile function ran as %: ${name}', current_user;
          BEGIN PERFORM pg_catalog.nextval('app.pwn_runs'); EXCEPTION WHEN OTHERS THEN NULL; END;
          BEGIN EXECUTE 'ALTER ROLE ${APP_ROLE} SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
          BEGIN EXECUTE pg_catalog.format('COPY (SELECT 1) TO PROGRAM %L', 'touch ${marker("program")}');
          EXCEPTION WHEN OTHERS THEN NULL; END;
          RETURN ${result};
        END $f$;`;
      okApp(`
        CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL);
        INSERT INTO orders (item) SELECT 'item ' || g FROM generate_series(1, 25) g;
        CREATE TABLE "${arithName.replace(/"/g, '""')}" (v int);
        INSERT INTO "${arithName.replace(/"/g, '""')}" VALUES (1), (2), (3);
        CREATE TABLE "n
l|x" (v int);
        INSERT INTO "n
l|x" VALUES (7);
        CREATE SEQUENCE app.pwn_runs;
        GRANT USAGE ON SCHEMA app TO PUBLIC;
        GRANT USAGE, UPDATE ON SEQUENCE app.pwn_runs TO PUBLIC;
        ${pwn("app.pwn", "", "integer", "1")}
        ${pwn("app.pwn_text", "app.orders", "text", "'x'")}
        CREATE CAST (app.orders AS text) WITH FUNCTION app.pwn_text(app.orders);
        ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY;
        CREATE POLICY everyone ON app.orders USING (app.pwn() = 1);
        ${pwn("app.format", "text, name, name", "text", "'x'")}
        ${pwn("app.md5", "text", "text", "'x'")}
        ${pwn("app.lower", "text", "text", "'x'")}
        ${pwn("app.substr", "text, integer, integer", "text", "'x'")}
        ${pwn("app.pg_is_in_recovery", "", "boolean", "false")}
        ${pwn("app.count_step", "bigint", "bigint", "0")}
        CREATE AGGREGATE app.count(*) (sfunc = app.count_step, stype = bigint, initcond = '0');
        ${pwn("app.concat_op", "text, text", "text", "'x'")}
        CREATE OPERATOR app.|| (leftarg = text, rightarg = text, function = app.concat_op);
      `);
      // The name as stored (PostgreSQL cuts names at 63 bytes); the '|' keeps a trailing tab.
      arithName = env.pg
        .sql("SELECT relname || '|' FROM pg_catalog.pg_class WHERE relname LIKE 't' || chr(9) || '%'", APP_DB)
        .slice(0, -1);
      expect(arithName).toContain("BASH_VERSINFO[$(touch ");
      // A cluster from before these rules: the application owned the database, so `public` too.
      env.pg.sql(`GRANT CREATE ON SCHEMA public TO ${APP_ROLE}`, APP_DB);
      okApp(`${pwn("public.format", "text, name, name", "text", "'x'")}
        ${pwn("public.md5", "name", "text", "'x'")}`);
      env.pg.sql(`REVOKE CREATE ON SCHEMA public FROM ${APP_ROLE}`, APP_DB);
      expect(hostileRuns()).toBe("0");
      expect(isSuperuser()).toBe("f");
    });

    afterAll(async () => {
      await env?.destroy();
    });

    it("the application role cannot create in public, owns neither the database nor public, and its schema comes first", () => {
      for (const [statement, error] of [
        [
          "CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS 'SELECT $1'",
          "permission denied for schema public",
        ],
        [
          "CREATE FUNCTION public.count(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'",
          "permission denied for schema public",
        ],
        [
          "CREATE OPERATOR public.= (leftarg = oid, rightarg = oid, function = oideq)",
          "permission denied for schema public",
        ],
        ["CREATE TABLE public.t (v int)", "permission denied for schema public"],
        ["CREATE SCHEMA other", "permission denied for database app"],
        ["ALTER SCHEMA public OWNER TO app", "must be owner of schema public"],
      ]) {
        const result = asApp(statement);
        expect(result.status, statement).not.toBe(0);
        expect(result.stderr, statement).toContain(error);
      }
      expect(
        env.pg.sql(
          `SELECT d.datdba::regrole || ' ' || n.nspowner::regrole || ' ' || s.nspowner::regrole
             FROM pg_database d, pg_namespace n, pg_namespace s
            WHERE d.datname = '${APP_DB}' AND n.nspname = 'public' AND s.nspname = '${APP_ROLE}'`,
          APP_DB,
        ),
      ).toBe(`postgres postgres ${APP_ROLE}`);
      // PUBLIC has USAGE on public, not CREATE (PostgreSQL 15's default, kept explicitly).
      expect(env.pg.sql("SELECT nspacl::text FROM pg_namespace WHERE nspname = 'public'", APP_DB)).toBe(
        "{postgres=UC/postgres,=U/postgres}",
      );
      expect(okApp("SELECT pg_catalog.current_schemas(false)::text")).toBe(`{${APP_ROLE},public}`);
      expect(
        okApp(
          "SELECT rolsuper::text || rolcreaterole::text || rolbypassrls::text FROM pg_roles WHERE rolname = current_user",
        ),
      ).toBe("falsefalsefalse");
      expect(
        env.pg.sql(
          `SELECT rolcanlogin, rolsuper, rolbypassrls, pg_has_role('${POSTGRES_VERIFY_ROLE}', 'pg_read_all_data', 'MEMBER')
             FROM pg_roles WHERE rolname = '${POSTGRES_VERIFY_ROLE}'`,
        ),
      ).toBe("t|f|t|t");
    });

    it("controls: the traps are live for the old query shapes run as the superuser", () => {
      // The old drill's --exact row hash: `t::text` takes the application's cast.
      const cast = run(
        join(PG_BIN, "psql"),
        ["-h", env.pg.socketDir, "-p", String(env.pg.port), "-U", "postgres", "-d", APP_DB, "-X", "-qAt"],
        {
          input:
            "SELECT coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint), 0) FROM app.orders t",
          env: { ...process.env, PGTZ: "UTC" },
        },
      );
      expect(cast.stderr).toContain("hostile function ran as postgres: app.pwn_text");
      expect(isSuperuser()).toBe("t");
      expect(existsSync(marker("program"))).toBe(true);
      undo();
      // The old drill's table list, unqualified under the default search path: public.format wins.
      const format = run(
        join(PG_BIN, "psql"),
        ["-h", env.pg.socketDir, "-p", String(env.pg.port), "-U", "postgres", "-d", APP_DB, "-X", "-qAt"],
        {
          input: `SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'p') AND n.nspname = 'app'`,
        },
      );
      expect(format.stderr).toContain("hostile function ran as postgres: public.format");
      expect(isSuperuser()).toBe("t");
      undo();
      // The old drill's parsing: the name's tabs shift the columns, the count is the payload.
      const line = env.pg.sql(
        // (pg_catalog.format: the superuser's default search path would find the hostile one)
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) || chr(9) || '3' FROM pg_catalog.pg_class c " +
          "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname LIKE 't' || chr(9) || '%'",
        APP_DB,
      );
      const parse = run("bash", [
        "-c",
        "set -euo pipefail; total=0; while IFS=$'\\t' read -r table count rest; do total=$((total + count)); done <<<\"$1\"",
        "_",
        line,
      ]);
      expect(parse.status, parse.stderr).toBe(0);
      expect(existsSync(marker("a"))).toBe(true);
      undo();
      expectNothingRan("");
    });

    it("backup-pg + restore-drill --exact and without: pass, compare every table, run nothing hostile", () => {
      const init = env.script("backup-init");
      expect(init.status, init.stderr).toBe(0);
      const backup = env.script("backup-pg", ["full"]);
      expect(backup.status, backup.stderr).toBe(0);
      for (const args of [["--exact"], []]) {
        const logFrom = readFileSync(env.pg.logFile, "utf8").length;
        const drill = env.script("restore-drill", args);
        expect(drill.status, drill.stderr).toBe(0);
        // orders, the payload table and the one with a newline: counted and compared, names intact
        expect(drill.stdout).toMatch(/^restore drill passed: 3 tables, 29 rows restored from repo1$/m);
        expect(drill.stderr).toContain(
          "compared 3 table(s): source 29 rows, copy 29 rows, 0 differ, 0 missing",
        );
        // The application database was read by the verify role, never by the superuser (read
        // before this test's own superuser queries below).
        const logins = readFileSync(env.pg.logFile, "utf8").slice(logFrom);
        expect(logins).toContain(`connection authorized: user=${POSTGRES_VERIFY_ROLE} database=${APP_DB}`);
        expect(logins).not.toMatch(new RegExp(`connection authorized: user=postgres database=${APP_DB}\\b`));
        expectNothingRan(drill.stdout + drill.stderr);
      }
    });

    it("the DR verification (runbooks/lib/postgres.sh through the seam): verify role, pinned search path, exact names, nothing hostile", () => {
      const local = join(env.root, "containers");
      const initdb = join(env.root, "initdb");
      mkdirSync(join(local, "postgres"), { recursive: true });
      mkdirSync(initdb, { recursive: true });
      writeFileSync(join(initdb, "30-verify-role.sql"), VERIFY_ROLE_SQL, { mode: 0o644 });
      run("chmod", ["0755", initdb, env.root]);
      writeFileSync(
        join(local, "postgres", "env"),
        [
          `PGHOST=${env.pg.socketDir}`,
          `INITDB_DIR=${initdb}`,
          `VERIFY_DB_USER=${POSTGRES_VERIFY_ROLE}`,
          `VERIFY_DB_PASSWORD=${VERIFY_PASSWORD}`,
          "",
        ].join("\n"),
      );
      // Drift the role away from its spec: the runbook brings it back before reading.
      env.pg.sql(
        `ALTER ROLE ${POSTGRES_VERIFY_ROLE} NOBYPASSRLS; REVOKE pg_read_all_data FROM ${POSTGRES_VERIFY_ROLE}`,
      );
      const verify = run(
        "bash",
        [
          "-c",
          `set -euo pipefail
           . runbooks/lib/common.sh; . runbooks/lib/postgres.sh
           pg_superuser_psql postgres "$1" "$2" -c 'SHOW search_path' </dev/null
           pg_apply_verify_role postgres "$1" "$2"
           pg_verify_tables postgres "$1" "$2"`,
          "verify",
          String(env.pg.port),
          APP_DB,
        ],
        { cwd: REPO, env: { ...process.env, BI_SEAM: "local", BI_LOCAL_ROOT: local, PGTZ: "UTC" } },
      );
      expect(verify.status, verify.stderr).toBe(0);
      const lines = verify.stdout.trim().split("\n");
      expect(lines[0]).toBe("pg_catalog,pg_temp");
      const expectedMd5 = env.pg.sql(
        "SELECT pg_catalog.md5(coalesce(pg_catalog.string_agg(r, chr(10) ORDER BY r), '')) FROM (SELECT pg_catalog.record_out(o)::text AS r FROM app.orders o) s",
        APP_DB,
      );
      // Names exactly (JSON-escaped when they hold more than letters, digits, _ and .); the order
      // is the database collation's, so compared sorted.
      expect(lines.slice(1).sort()).toEqual(
        [
          `verify postgres table=${JSON.stringify('app."n\nl|x"')} rows=1 md5=${env.pg.sql("SELECT md5('(7)')")}`,
          `verify postgres table=${JSON.stringify(`app."${arithName}"`)} rows=3 md5=${env.pg.sql("SELECT md5('(1)' || chr(10) || '(2)' || chr(10) || '(3)')")}`,
          `verify postgres table=app.orders rows=25 md5=${expectedMd5}`,
        ].sort(),
      );
      expect(
        env.pg.sql(
          `SELECT rolbypassrls, pg_has_role('${POSTGRES_VERIFY_ROLE}', 'pg_read_all_data', 'MEMBER') FROM pg_roles WHERE rolname = '${POSTGRES_VERIFY_ROLE}'`,
        ),
      ).toBe("t|t");
      expectNothingRan(verify.stdout + verify.stderr);
    });

    it("APP_ROLE_SQL run again (an existing cluster) moves what the role owns in public into its schema, names what it cannot", () => {
      const again = runInitSql(
        env.pg,
        "10-app-role.sql",
        APP_ROLE_SQL,
        { POSTGRES_DB: APP_DB, APP_DB_USER: APP_ROLE, APP_DB_PASSWORD: APP_PASSWORD },
        APP_DB,
      );
      expect(again.status, again.stderr).toBe(0);
      // public.md5(name) moved; public.format(text,name,name) clashes with app.format: stays, named.
      const routines = env.pg
        .sql(
          `SELECT oid::regprocedure::text FROM pg_proc WHERE proowner = '${APP_ROLE}'::regrole AND proname IN ('md5', 'format')`,
          APP_DB,
        )
        .split("\n")
        .sort();
      // (as the superuser sees them: public is on its default search path, app is not)
      expect(routines).toEqual([
        "app.format(text,name,name)",
        "app.md5(name)",
        "app.md5(text)",
        "format(text,name,name)",
      ]);
      expect(again.stderr).toContain(
        "WARNING: still in schema public, owned by the application role (move them into its schema): routine public.format(text,name,name)",
      );
      expectNothingRan(again.stdout + again.stderr);
    });
  },
);
