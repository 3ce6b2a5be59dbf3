/**
 * L5: the monitoring role postgres_exporter connects as, on a real PostgreSQL 15 with scram
 * password authentication over TCP (as in the container's pg_hba.conf). The real init SQL
 * (APP_ROLE_SQL then MONITOR_ROLE_SQL, in the entrypoint's order, values from the environment)
 * creates it; as that role: it logs in with its password only, sees other sessions' queries
 * and superuser-only settings (pg_monitor; a plain LOGIN role is the control that does not),
 * and cannot read, write or create tables in the application database. MONITOR_ROLE_SQL run
 * again on the existing cluster (the one-off for clusters initialised before the role existed)
 * succeeds, resets the password and undoes drift. The real postgres_exporter 0.11.1 connects as
 * the role and reports pg_up 1 and pg_stat_* / pg_settings metrics.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_ROLE_SQL, MONITOR_ROLE_SQL, POSTGRES_MONITOR_ROLE } from "../../components/postgres";
import { createPgServer, PG_BIN, runInitSql, type PgServer } from "../support/postgres";
import {
  freePort,
  run,
  skipReason,
  startDaemon,
  waitFor,
  type Daemon,
  type RunResult,
} from "../support/tools";

const DB = "appdb";
const APP_PASSWORD = "App-_password-0123456789abcdefghijklmnop";
const MONITOR_PASSWORD = "Mon-_password-0123456789abcdefghijklmnop";
const CONTROL_PASSWORD = "Ctl-_password-0123456789abcdefghijklmnop";

describe.skipIf(skipReason("pg_ctl", "initdb", "prometheus-postgres-exporter"))(
  "PostgreSQL monitoring role (L5)",
  () => {
    let pg: PgServer;
    const daemons: Daemon[] = [];

    /** psql arguments for a TCP connection (so the password is checked, scram) as `user`. */
    const tcpArgs = (user: string, database = DB) => [
      "-h",
      "127.0.0.1",
      "-p",
      String(pg.port),
      "-U",
      user,
      "-d",
      database,
      "-qAtX",
    ];
    /** psql over TCP with a password (scram), as `user`; no ON_ERROR_STOP hiding: status is returned. */
    const psqlAs = (user: string, password: string, query: string, database = DB): RunResult =>
      run(join(PG_BIN, "psql"), [...tcpArgs(user, database), "-v", "ON_ERROR_STOP=1"], {
        input: query,
        env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "5" },
      });
    const monitor = (query: string) => psqlAs(POSTGRES_MONITOR_ROLE, MONITOR_PASSWORD, query);
    const ok = (result: RunResult) => {
      expect(result.status, result.stderr).toBe(0);
      return result.stdout.trim();
    };

    beforeAll(async () => {
      pg = await createPgServer();
      // The container's authentication: local socket for the superuser, scram over TCP.
      writeFileSync(
        join(pg.dataDir, "pg_hba.conf"),
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
      );
      await pg.start();
      // As the entrypoint: POSTGRES_DB exists (owned by the superuser), then the init files in order.
      pg.sql(`CREATE DATABASE ${DB}`);
      const env = {
        POSTGRES_DB: DB,
        APP_DB_USER: "app",
        APP_DB_PASSWORD: APP_PASSWORD,
        MONITOR_DB_USER: POSTGRES_MONITOR_ROLE,
        MONITOR_DB_PASSWORD: MONITOR_PASSWORD,
      };
      for (const [file, sql] of [
        ["10-app-role.sql", APP_ROLE_SQL],
        ["20-monitor-role.sql", MONITOR_ROLE_SQL],
      ]) {
        const result = runInitSql(pg, file, sql, env, DB);
        expect(result.status, `${file}: ${result.stderr}`).toBe(0);
        expect(result.stdout + result.stderr).not.toContain(MONITOR_PASSWORD);
      }
      // Application data, created by the application role in its own schema.
      ok(
        psqlAs(
          "app",
          APP_PASSWORD,
          "CREATE TABLE sessions(id text PRIMARY KEY, secret text); INSERT INTO sessions VALUES ('s1', 'token')",
        ),
      );
      // Control: a role with LOGIN only, to show what pg_monitor adds.
      pg.sql(`CREATE ROLE control LOGIN PASSWORD '${CONTROL_PASSWORD}'`);
    });

    afterAll(async () => {
      for (const d of daemons.reverse()) await d.stop();
      pg?.destroy();
    });

    it("logs in over TCP with its generated password only (scram), and is nothing but LOGIN + pg_monitor", () => {
      expect(ok(monitor("SELECT current_user"))).toBe(POSTGRES_MONITOR_ROLE);
      const wrong = psqlAs(POSTGRES_MONITOR_ROLE, APP_PASSWORD, "SELECT 1");
      expect(wrong.status).not.toBe(0);
      expect(wrong.stderr).toContain(`password authentication failed for user "${POSTGRES_MONITOR_ROLE}"`);
      expect(
        pg.sql(
          "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, " +
            `rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = '${POSTGRES_MONITOR_ROLE}'`,
        ),
      ).toBe("t|f|f|f|f|f|t");
      expect(
        pg.sql(
          "SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m " +
            `JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = '${POSTGRES_MONITOR_ROLE}'::regrole`,
        ),
      ).toBe("pg_monitor");
      // No grant of its own on any database (CONNECT only through PUBLIC), owns nothing.
      expect(
        pg.sql(`SELECT count(*) FROM pg_database WHERE datacl::text LIKE '%${POSTGRES_MONITOR_ROLE}=%'`),
      ).toBe("0");
      expect(
        pg.sql(`SELECT count(*) FROM pg_class WHERE relowner = '${POSTGRES_MONITOR_ROLE}'::regrole`, DB),
      ).toBe("0");
    });

    it("sees other sessions' queries in pg_stat_activity and superuser-only settings (pg_monitor); a plain role does not", async () => {
      const marker = "monitor_role_probe_sleep";
      const sleeper = startDaemon(
        join(PG_BIN, "psql"),
        [...tcpArgs("app"), "-c", `SELECT pg_sleep(60) AS ${marker}`],
        { env: { ...process.env, PGPASSWORD: APP_PASSWORD } },
      );
      daemons.push(sleeper);
      const query = `SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND query LIKE '%AS ${marker}%'`;
      await waitFor("the app session's query to show", () => pg.sql(query) === "1");
      expect(ok(monitor(query))).toBe("1");
      expect(ok(psqlAs("control", CONTROL_PASSWORD, query))).toBe("0"); // "<insufficient privilege>"
      pg.sql(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app' AND query LIKE '%AS ${marker}%'`,
      );
      await sleeper.stop();

      expect(ok(monitor(`SELECT count(*) FROM pg_stat_database WHERE datname = '${DB}'`))).toBe("1");
      expect(
        Number(ok(monitor(`SELECT xact_commit FROM pg_stat_database WHERE datname = '${DB}'`))),
      ).toBeGreaterThan(0);
      // data_directory is superuser-only: pg_settings shows it to pg_read_all_settings members.
      const dataDir = "SELECT setting FROM pg_settings WHERE name = 'data_directory'";
      expect(ok(monitor(dataDir))).toBe(pg.dataDir);
      expect(ok(psqlAs("control", CONTROL_PASSWORD, dataDir))).toBe("");
    });

    it("cannot read or write application tables, nor create one in the application database", () => {
      for (const [statement, error] of [
        ["SELECT * FROM app.sessions", "permission denied for schema app"],
        ["INSERT INTO app.sessions VALUES ('s2', 'x')", "permission denied for schema app"],
        ["UPDATE app.sessions SET secret = 'x'", "permission denied for schema app"],
        ["DELETE FROM app.sessions", "permission denied for schema app"],
        ["CREATE TABLE public.monitor_owned(id int)", "permission denied for schema public"],
        ["CREATE TABLE monitor_owned(id int)", "permission denied for schema public"],
      ]) {
        const result = monitor(statement);
        expect(result.status, statement).not.toBe(0);
        expect(result.stderr, statement).toContain(error);
      }
      expect(pg.sql("SELECT id || ':' || secret FROM app.sessions", DB)).toBe("s1:token");
      expect(pg.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'monitor_owned'", DB)).toBe("0");
    });

    it("MONITOR_ROLE_SQL again on the existing cluster (the one-off): succeeds, sets the new password, undoes drift", () => {
      const newPassword = "New-_password-0123456789abcdefghijklmnop";
      const applyMonitorRole = (password: string) =>
        runInitSql(
          pg,
          "20-monitor-role.sql",
          MONITOR_ROLE_SQL,
          { MONITOR_DB_USER: POSTGRES_MONITOR_ROLE, MONITOR_DB_PASSWORD: password },
          DB,
        );
      pg.sql(`ALTER ROLE ${POSTGRES_MONITOR_ROLE} CREATEDB; REVOKE pg_monitor FROM ${POSTGRES_MONITOR_ROLE}`);
      const result = applyMonitorRole(newPassword);
      expect(result.status, result.stderr).toBe(0);
      expect(ok(psqlAs(POSTGRES_MONITOR_ROLE, newPassword, "SELECT current_user"))).toBe(
        POSTGRES_MONITOR_ROLE,
      );
      expect(monitor("SELECT 1").status).not.toBe(0); // the old password no longer works
      expect(
        pg.sql(
          `SELECT rolcreatedb, pg_has_role('${POSTGRES_MONITOR_ROLE}', 'pg_monitor', 'MEMBER') FROM pg_roles WHERE rolname = '${POSTGRES_MONITOR_ROLE}'`,
        ),
      ).toBe("f|t");
      // back to the password the exporter test uses
      const back = applyMonitorRole(MONITOR_PASSWORD);
      expect(back.status, back.stderr).toBe(0);
      expect(ok(monitor("SELECT current_user"))).toBe(POSTGRES_MONITOR_ROLE);
    });

    it("postgres_exporter 0.11.1 connected as the role reports pg_up 1 and pg_stat_* and pg_settings metrics", async () => {
      const port = await freePort();
      const exporter = startDaemon(
        "prometheus-postgres-exporter",
        [`--web.listen-address=127.0.0.1:${port}`],
        {
          env: {
            ...process.env,
            // the DSN components/monitoring.ts builds: the monitoring role and its password
            DATA_SOURCE_NAME: `postgresql://${POSTGRES_MONITOR_ROLE}:${MONITOR_PASSWORD}@127.0.0.1:${pg.port}/${DB}?sslmode=disable`,
          },
        },
      );
      daemons.push(exporter);
      const metrics = await waitFor(
        "postgres_exporter metrics",
        async () => {
          const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
            signal: AbortSignal.timeout(5_000),
          });
          const text = await response.text();
          return /^pg_up 1$/m.test(text) && text.includes("pg_stat_database_xact_commit") ? text : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      ).catch((error: Error) => {
        throw new Error(`${error.message}\nexporter output:\n${exporter.output()}`);
      });
      expect(metrics).toMatch(
        new RegExp(`^pg_stat_database_xact_commit\\{datid="\\d+",datname="${DB}"`, "m"),
      );
      expect(metrics).toMatch(/^pg_settings_max_connections\{[^}]*\} 100$/m);
      expect(metrics).toMatch(/^pg_stat_activity_count\{/m);
      expect(exporter.output()).not.toContain("permission denied");
    });
  },
);
