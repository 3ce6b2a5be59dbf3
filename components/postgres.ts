/**
 * PostgreSQL 15 with pgBackRest: the image built from `images/postgres` (official postgres
 * image + pgBackRest), its data volume, generated passwords, settings tuned from the container
 * limits (renderers/postgresql-conf.ts) and WAL archiving through pgBackRest.
 *
 * How the official image's entrypoint (docker-library/postgres 15/bookworm docker-entrypoint.sh)
 * is used, read from its source:
 * - It runs as the container user. Started as root it chowns PGDATA and re-execs itself via
 *   gosu; started as `999:999` (the image's `postgres` user) it skips the chown and runs initdb
 *   directly. That works because a new named volume is populated from the image, whose
 *   /var/lib/postgresql/data is owned by postgres (mode 1777, chmod 700 by the entrypoint), and
 *   /var/run/postgresql likewise. A bind mount (`dataPath`) must be owned by 999:999 on the host
 *   before the first start (`install -d -o 999 -g 999 -m 700 /opt/data/postgres`).
 * - initdb creates the superuser POSTGRES_USER with POSTGRES_PASSWORD and the database
 *   POSTGRES_DB, runs `/docker-entrypoint-initdb.d/*.sql` once, and appends
 *   `host all all all <password_encryption>` (scram-sha-256 here) to pg_hba.conf.
 *   Arguments after `postgres` reach both the temporary init server and the real one.
 *
 * Choices:
 * - Superuser `postgres` (pgBackRest's default pg1-user; local socket connections use `peer`,
 *   so only OS uid 999 (this container, the backup runner) gets in as postgres over the socket).
 *   It owns the application database and its `public` schema.
 * - The application role (config `postgresUser`, never the superuser) is a plain LOGIN role with
 *   a schema of its own name, which it owns and which comes first in its search path (`$user`);
 *   it cannot create anything in `public` (APP_ROLE_SQL). So no object the application creates
 *   is on the search path of a superuser or maintenance session, and those sessions pin theirs
 *   to `pg_catalog, pg_temp` anyway (images/backup/lib/backup-common.sh, runbooks/lib/postgres.sh,
 *   and `SET search_path` at the top of every init file here).
 * - The restore drill and the disaster-recovery verification read application data as
 *   POSTGRES_VERIFY_ROLE (`verify`): LOGIN, a generated password, member of `pg_read_all_data`,
 *   BYPASSRLS (no row-level-security policy of the application runs in its sessions), nothing
 *   else; VERIFY_ROLE_SQL creates it. Never the superuser: a query over data the application
 *   controls runs with read rights only.
 * - postgres_exporter connects as its own role, POSTGRES_MONITOR_ROLE (`monitor`): LOGIN, a
 *   generated password, member of `pg_monitor` (read all pg_stat_* rows and settings) and
 *   nothing else - no table rights, no CREATE, only the CONNECT that PUBLIC has. The exporter
 *   container therefore holds no credential that can read or write application data.
 *   MONITOR_ROLE_SQL creates it; the entrypoint runs it on first initialisation (after
 *   APP_ROLE_SQL). A cluster initialised before the role existed never runs init SQL again:
 *   an operator runs the same file once by hand (docs/RUNBOOK.md "Monitoring role on an existing
 *   cluster"; it is idempotent and also resets the password to the stack's). Running it on every
 *   start was rejected: the start script runs before the server is up, so it would need a
 *   background process outliving `exec postgres`, and the postmaster (PID 1 here) treats an
 *   unknown child that exits with a status other than 0 or 1 as a crashed backend and restarts
 *   every session.
 * - Settings are `-c` arguments, not a mounted postgresql.conf: the root filesystem is
 *   read-only and Docker refuses uploads into such a container ("container rootfs is marked
 *   read-only"; the provider uploads to `/`). For the same reason pgbackrest.conf and the init
 *   SQL are written at start by POSTGRES_START_SCRIPT into tmpfs mounts, from environment values.
 * - Secrets (passwords, PGBACKREST_* keys) are environment values from secret Outputs: they are
 *   secret in the Pulumi state; `docker inspect` shows them to whoever can reach the Docker API
 *   (already root on the host).
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { POSTGRES_MONITOR_ROLE, POSTGRES_SUPERUSER, POSTGRES_VERIFY_ROLE } from "../config/keys";
import type { Environment, InfraConfig } from "../config/schema";

/** Role postgres_exporter connects as: LOGIN + pg_monitor only (see MONITOR_ROLE_SQL). */
export { POSTGRES_MONITOR_ROLE };
/** Read-only role of the restore drill and the DR verification (see VERIFY_ROLE_SQL). */
export { POSTGRES_VERIFY_ROLE };
export { POSTGRES_SUPERUSER };
import { parseImageRef } from "../lib/image-ref";
import { pgbackrestArchiveCommand, postgresServerArgs, tunePostgres } from "../renderers/postgresql-conf";
import { buildImage } from "./built-image";
import { ServiceContainer } from "./service-container";

/** Paths inside the container (the official image's, shared with the backup runner). */
export const POSTGRES_PATHS = {
  data: "/var/lib/postgresql/data",
  socket: "/var/run/postgresql",
  pgbackrestConfig: "/etc/pgbackrest/pgbackrest.conf",
  repo: "/var/lib/pgbackrest",
  spool: "/var/spool/pgbackrest",
  initdb: "/docker-entrypoint-initdb.d",
} as const;

export const POSTGRES_PORT = 5432;
export const POSTGRES_UID = 999;
/** tmpfs options for a directory the `postgres` user (uid and gid 999) writes and others cannot read. */
export const POSTGRES_TMPFS_OWNER = `uid=${POSTGRES_UID},gid=${POSTGRES_UID},mode=0750`;
export const DEFAULT_STANZA = "main";

/**
 * The first statement of every init file: the file runs as the superuser (and, run again on an
 * existing cluster, in a database the application has filled), so the search path is pinned to
 * the system catalog before anything else; functions are schema-qualified too.
 */
const PINNED_SEARCH_PATH = "SET search_path = pg_catalog, pg_temp;";

/**
 * Creates (or brings back to spec) the application role, its schema and the ownership rules.
 * Run by the official entrypoint on first initialisation (as the superuser, on the new
 * database); idempotent, so an operator runs the same file on a cluster initialised before these
 * rules (docs/RUNBOOK.md "Application schema on an existing cluster"). psql 15's \getenv reads the
 * values from the container environment, so no secret is written into the file.
 *
 * - The role: LOGIN with the stack's password, every other attribute off.
 * - The database and its `public` schema belong to the superuser; nobody but the superuser may
 *   create in `public` (PostgreSQL 15 revokes CREATE from PUBLIC already: checked here
 *   explicitly, also for the application role).
 * - The schema named like the role, owned by it: `$user` in the default search path, so the
 *   application's unqualified names (CREATE TABLE orders ...) land there. Objects the role still
 *   owns in `public` (a cluster from before these rules) are moved into it, so its unqualified
 *   names keep finding them; anything left is named in a WARNING.
 */
export const APP_ROLE_SQL = String.raw`-- backend-infra: application role, its schema, public owned by the superuser (idempotent)
${PINNED_SEARCH_PATH}
\getenv app_user APP_DB_USER
\getenv app_password APP_DB_PASSWORD
\getenv app_db POSTGRES_DB
SELECT pg_catalog.format('CREATE ROLE %I', :'app_user')
  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'app_user') \gexec
ALTER ROLE :"app_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'app_password';
ALTER DATABASE :"app_db" OWNER TO CURRENT_USER;
ALTER SCHEMA public OWNER TO CURRENT_USER;
REVOKE CREATE ON SCHEMA public FROM PUBLIC, :"app_user";
CREATE SCHEMA IF NOT EXISTS :"app_user" AUTHORIZATION :"app_user";
ALTER SCHEMA :"app_user" OWNER TO :"app_user";
-- What the role still owns in public (a cluster from before these rules) moves into its schema:
-- relations (indexes, constraints and owned sequences move with their table), routines, and
-- domains, enums and composite types; never a member of an extension, nor an object whose name
-- (and arguments) its schema holds already.
SELECT pg_catalog.format('ALTER %s public.%I SET SCHEMA %I',
    CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, c.relname, :'app_user')
  FROM pg_catalog.pg_class c
  WHERE c.relnamespace = 'public'::regnamespace AND c.relowner = :'app_user'::regrole
    AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relispartition
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::regclass
      AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_class o
      WHERE o.relnamespace = :'app_user'::regnamespace AND o.relname = c.relname)
  ORDER BY c.relname \gexec
SELECT pg_catalog.format('ALTER ROUTINE %s SET SCHEMA %I', p.oid::regprocedure, :'app_user')
  FROM pg_catalog.pg_proc p
  WHERE p.pronamespace = 'public'::regnamespace AND p.proowner = :'app_user'::regrole
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_proc'::regclass
      AND d.objid = p.oid AND d.deptype IN ('i', 'e'))
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_proc o WHERE o.pronamespace = :'app_user'::regnamespace
      AND o.proname = p.proname AND o.proargtypes = p.proargtypes) \gexec
SELECT pg_catalog.format('ALTER TYPE public.%I SET SCHEMA %I', t.typname, :'app_user')
  FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
  WHERE t.typnamespace = 'public'::regnamespace AND t.typowner = :'app_user'::regrole
    AND (t.typtype IN ('d', 'e') OR (t.typtype = 'c' AND c.relkind = 'c'))
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_type'::regclass
      AND d.objid = t.oid AND d.deptype IN ('i', 'e'))
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_type o
      WHERE o.typnamespace = :'app_user'::regnamespace AND o.typname = t.typname) \gexec
-- Anything else it owns there (operators, range types, name clashes, ...) is named, to be moved
-- by hand.
SELECT pg_catalog.count(*) > 0 AS has_leftovers, pg_catalog.string_agg(o.what, ', ') AS leftovers
  FROM (SELECT pg_catalog.format('relation %I', relname) AS what FROM pg_catalog.pg_class
          WHERE relnamespace = 'public'::regnamespace AND relowner = :'app_user'::regrole AND relkind NOT IN ('i', 'I')
        UNION ALL SELECT pg_catalog.format('routine %s', oid::regprocedure) FROM pg_catalog.pg_proc
          WHERE pronamespace = 'public'::regnamespace AND proowner = :'app_user'::regrole
        UNION ALL SELECT pg_catalog.format('operator %s', oid::regoperator) FROM pg_catalog.pg_operator
          WHERE oprnamespace = 'public'::regnamespace AND oprowner = :'app_user'::regrole
        UNION ALL SELECT pg_catalog.format('type %I', typname) FROM pg_catalog.pg_type
          WHERE typnamespace = 'public'::regnamespace AND typowner = :'app_user'::regrole AND typrelid = 0
            AND typelem = 0) o \gset
\if :has_leftovers
\warn 'WARNING: still in schema public, owned by the application role (move them into its schema):' :leftovers
\endif
`;

/**
 * Creates (or brings back to spec) the monitoring role postgres_exporter connects as: LOGIN with
 * the generated password, every other attribute off, member of pg_monitor. Idempotent, so the
 * same file serves the entrypoint's first initialisation (20-monitor-role.sql, after the app
 * role) and the one-off run on a cluster initialised before it existed:
 *
 *   docker exec <prefix>-postgres bash -c \
 *     'psql -v ON_ERROR_STOP=1 -X -U postgres -d "$POSTGRES_DB" -f /docker-entrypoint-initdb.d/20-monitor-role.sql'
 *
 * (POSTGRES_START_SCRIPT writes the file on every start; `docker exec` runs as uid 999, which
 * the socket's peer authentication maps to postgres.) Values come from MONITOR_DB_USER and
 * MONITOR_DB_PASSWORD in the container environment via \getenv, so no secret is in the file.
 */
export const MONITOR_ROLE_SQL = [
  "-- backend-infra: monitoring role for postgres_exporter (pg_monitor only; idempotent)",
  PINNED_SEARCH_PATH,
  "\\getenv monitor_user MONITOR_DB_USER",
  "\\getenv monitor_password MONITOR_DB_PASSWORD",
  "SELECT pg_catalog.format('CREATE ROLE %I', :'monitor_user')",
  "  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'monitor_user') \\gexec",
  'ALTER ROLE :"monitor_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
  "  PASSWORD :'monitor_password';",
  'GRANT pg_monitor TO :"monitor_user";',
  "",
].join("\n");

/**
 * Creates (or brings back to spec) the read-only role the restore drill and the disaster-recovery
 * verification read application data as: LOGIN with the generated password, member of
 * pg_read_all_data (SELECT on every table, USAGE on every schema), BYPASSRLS (so no row-level
 * security policy the application defines is evaluated in its sessions; it also reads every row),
 * every other attribute off. Idempotent: 30-verify-role.sql on first initialisation, and the
 * disaster-recovery runbook runs it again after a restore (a cluster restored from a backup older
 * than the role gets it). Values from VERIFY_DB_USER and VERIFY_DB_PASSWORD via \getenv.
 */
export const VERIFY_ROLE_SQL = [
  "-- backend-infra: read-only verify role for the restore drill and DR verification (idempotent)",
  PINNED_SEARCH_PATH,
  "\\getenv verify_user VERIFY_DB_USER",
  "\\getenv verify_password VERIFY_DB_PASSWORD",
  "SELECT pg_catalog.format('CREATE ROLE %I', :'verify_user')",
  "  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'verify_user') \\gexec",
  'ALTER ROLE :"verify_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION BYPASSRLS',
  "  PASSWORD :'verify_password';",
  'GRANT pg_read_all_data TO :"verify_user";',
  "",
].join("\n");

/**
 * Entrypoint wrapper: writes pgbackrest.conf (from PGBACKREST_CONF_B64) and the init SQL into
 * their tmpfs directories, then hands over to the official entrypoint with the same arguments.
 * The init SQL is written on every start (the entrypoint runs it only on first initialisation),
 * so an operator can run them again on an existing cluster (and the disaster-recovery runbook
 * runs 30-verify-role.sql after a restore).
 */
export const POSTGRES_START_SCRIPT = `set -euo pipefail
umask 077
conf="\${PGBACKREST_CONFIG:-${POSTGRES_PATHS.pgbackrestConfig}}"
if [ -n "\${PGBACKREST_CONF_B64:-}" ]; then
  mkdir -p "$(dirname "$conf")"
  printf '%s' "$PGBACKREST_CONF_B64" | base64 -d > "$conf.tmp"
  mv "$conf.tmp" "$conf"
  echo "postgres-start: wrote $conf" >&2
fi
unset PGBACKREST_CONF_B64
initdb_dir="\${INITDB_DIR:-${POSTGRES_PATHS.initdb}}"
if [ -n "\${APP_DB_USER:-}" ]; then
  cat > "$initdb_dir/10-app-role.sql" <<'SQL'
${APP_ROLE_SQL}SQL
fi
if [ -n "\${MONITOR_DB_USER:-}" ]; then
  cat > "$initdb_dir/20-monitor-role.sql" <<'SQL'
${MONITOR_ROLE_SQL}SQL
fi
if [ -n "\${VERIFY_DB_USER:-}" ]; then
  cat > "$initdb_dir/30-verify-role.sql" <<'SQL'
${VERIFY_ROLE_SQL}SQL
fi
# A restored data directory (recovery.signal) starts without the old cluster's archive spool, as
# \`pgbackrest restore\` would leave it had it run here: it runs in the backup runner, whose spool
# is another volume. Stale archive-push acks could make the new cluster skip pushing a segment of
# the same name; losing the spool is harmless (pgBackRest re-checks each segment).
data="\${PGDATA:-${POSTGRES_PATHS.data}}"
spool="\${SPOOL_DIR:-${POSTGRES_PATHS.spool}}"
if [ -f "$data/recovery.signal" ] && [ -d "$spool/archive" ]; then
  rm -rf -- "$spool/archive"
  echo "postgres-start: restored cluster: cleared the archive spool $spool/archive" >&2
fi
exec docker-entrypoint.sh "$@"
`;

export interface PostgresPgBackRest {
  /** Rendered pgbackrest.conf (renderers/pgbackrest-conf.ts); written to /etc/pgbackrest/pgbackrest.conf. */
  config: pulumi.Input<string>;
  /** Stanza name; must match the config. */
  stanza: string;
  /** `PGBACKREST_*=value` secrets (S3 keys, cipher passphrases) that archive-push needs. */
  env?: pulumi.Input<string>[];
  /** Volume of the local posix repository (repo1), mounted at /var/lib/pgbackrest. */
  repoVolume: pulumi.Input<string>;
  /** Volume of the archive-async spool directory, mounted at /var/spool/pgbackrest. */
  spoolVolume: pulumi.Input<string>;
}

export interface PostgresArgs {
  /** Open-files limit (`ulimit nofile`) of its containers (config `containerOpenFilesLimit`). Default 65536. */
  openFilesLimit?: number;
  /** Prefix of container and volume names, e.g. `backend-infra-prod`. */
  namePrefix: string;
  environment: Environment;
  /** The typed `postgres` config (limits, database, user, data path, archive timeout). */
  config: InfraConfig["postgres"];
  /** Registry to push the built image to. Unset: build on the Docker host only (not allowed in prod). */
  registry?: InfraConfig["registry"];
  /** Docker network names: `data` (internal) for clients, `backup` (egress) for WAL pushes to S3. */
  networks: { data: pulumi.Input<string>; backup: pulumi.Input<string> };
  /** pgBackRest wiring from the backup tier. Unset: archive_command still calls pgBackRest (and fails visibly). */
  pgbackrest?: PostgresPgBackRest;
  /** Build context of the image. Default `images/postgres` (relative to the project directory). */
  imageContext?: string;
}

export class Postgres extends pulumi.ComponentResource {
  readonly container: pulumi.Output<string>;
  /** Host name on the data network (the container name). */
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly database: pulumi.Output<string>;
  /** Application role. */
  readonly user: pulumi.Output<string>;
  /** Application role's password (secret). */
  readonly password: pulumi.Output<string>;
  /** Monitoring role (POSTGRES_MONITOR_ROLE): LOGIN + pg_monitor, for postgres_exporter. */
  readonly monitorUser: pulumi.Output<string>;
  /** Monitoring role's password (secret). */
  readonly monitorPassword: pulumi.Output<string>;
  /** Read-only verify role (POSTGRES_VERIFY_ROLE): LOGIN + pg_read_all_data + BYPASSRLS. */
  readonly verifyUser: pulumi.Output<string>;
  /** Verify role's password (secret); the backup runner's restore drill logs in with it. */
  readonly verifyPassword: pulumi.Output<string>;
  /** Superuser (`postgres`) password (secret); for operators and restores over the network. */
  readonly superuserPassword: pulumi.Output<string>;
  /** `postgresql://user:password@host:5432/database` for the backend slots (secret). */
  readonly url: pulumi.Output<string>;
  readonly stanza: pulumi.Output<string>;
  readonly dataVolume: pulumi.Output<string>;
  readonly socketVolume: pulumi.Output<string>;
  /**
   * The data directory (PGDATA) inside the container; the backup runner mounts the data volume at
   * the same path (`postgres.dataDir` stack output: where runbooks restore and measure disk use).
   */
  readonly dataDir: string = POSTGRES_PATHS.data;
  /** The image the container runs (a digest when pushed to a registry). */
  readonly image: pulumi.Output<string>;
  readonly service: ServiceContainer;

  constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("backend-infra:data:Postgres", name, {}, opts);
    const cfg = args.config;
    const prefix = args.namePrefix;
    const stanza = args.pgbackrest?.stanza ?? DEFAULT_STANZA;
    // ---- image: official postgres + pgBackRest (images/postgres, owned by the backup tier)
    const base = parseImageRef(cfg.baseImage);
    if (!base?.tag) throw new Error(`Postgres: postgresBaseImage needs a tag, got "${cfg.baseImage}"`);
    const built = buildImage(
      name,
      {
        repository: "postgres-pgbackrest",
        tagPrefix: base.tag,
        context: args.imageContext ?? "images/postgres",
        buildArgs: { POSTGRES_BASE_IMAGE: cfg.baseImage },
        registry: args.registry,
        namePrefix: prefix,
        environment: args.environment,
      },
      this,
    );
    this.image = built.ref;

    // ---- secrets
    const passwordArgs = {
      length: 40,
      special: true,
      overrideSpecial: "-_",
      minUpper: 2,
      minLower: 2,
      minNumeric: 2,
    };
    // The config schema refuses these names too; a component built without it must not either.
    if ([POSTGRES_SUPERUSER, POSTGRES_MONITOR_ROLE, POSTGRES_VERIFY_ROLE].includes(cfg.user)) {
      throw new Error(
        `Postgres: the application role may not be "${cfg.user}" (the superuser, monitoring and verify roles are reserved)`,
      );
    }
    const superuser = new random.RandomPassword(`${name}-superuser-password`, passwordArgs, { parent: this });
    this.superuserPassword = pulumi.secret(superuser.result);
    this.password = pulumi.secret(
      new random.RandomPassword(`${name}-app-password`, passwordArgs, { parent: this }).result,
    );

    this.monitorPassword = pulumi.secret(
      new random.RandomPassword(`${name}-monitor-password`, passwordArgs, { parent: this }).result,
    );
    this.verifyPassword = pulumi.secret(
      new random.RandomPassword(`${name}-verify-password`, passwordArgs, { parent: this }).result,
    );

    // ---- volumes (kept when the resource is deleted: data outlives the stack's resources)
    const dataVolumeName = `${prefix}-postgres-data`;
    const data = new docker.Volume(
      `${name}-data`,
      {
        name: dataVolumeName,
        driver: "local",
        driverOpts: cfg.dataPath ? { type: "none", o: "bind", device: cfg.dataPath } : undefined,
        labels: [{ label: "backend-infra.volume", value: "postgres-data" }],
      },
      { parent: this, retainOnDelete: true },
    );
    const socket = new docker.Volume(
      `${name}-socket`,
      {
        name: `${prefix}-postgres-socket`,
        driver: "local",
        labels: [{ label: "backend-infra.volume", value: "postgres-socket" }],
      },
      { parent: this },
    );
    this.dataVolume = data.name;
    this.socketVolume = socket.name;

    // ---- settings
    const limits = { memoryMb: cfg.memoryMb, cpus: cfg.cpus };
    const tuning = tunePostgres(limits, cfg.maxConnections);
    const serverArgs = postgresServerArgs(limits, {
      maxConnections: cfg.maxConnections,
      archiveCommand: pgbackrestArchiveCommand(stanza, POSTGRES_PATHS.pgbackrestConfig),
      archiveTimeoutSeconds: cfg.archiveTimeoutSeconds,
      port: POSTGRES_PORT,
    });

    const envs: pulumi.Input<string>[] = [
      `POSTGRES_USER=${POSTGRES_SUPERUSER}`,
      pulumi.interpolate`POSTGRES_PASSWORD=${this.superuserPassword}`,
      `POSTGRES_DB=${cfg.database}`,
      "POSTGRES_INITDB_ARGS=--auth-local=peer --auth-host=scram-sha-256",
      `PGDATA=${POSTGRES_PATHS.data}`,
      `PGBACKREST_CONFIG=${POSTGRES_PATHS.pgbackrestConfig}`,
      `PGBACKREST_STANZA=${stanza}`,
    ];
    envs.push(
      `APP_DB_USER=${cfg.user}`,
      pulumi.interpolate`APP_DB_PASSWORD=${this.password}`,
      `MONITOR_DB_USER=${POSTGRES_MONITOR_ROLE}`,
      pulumi.interpolate`MONITOR_DB_PASSWORD=${this.monitorPassword}`,
      `VERIFY_DB_USER=${POSTGRES_VERIFY_ROLE}`,
      pulumi.interpolate`VERIFY_DB_PASSWORD=${this.verifyPassword}`,
    );
    const volumes: docker.types.input.ContainerVolume[] = [
      { volumeName: data.name, containerPath: POSTGRES_PATHS.data },
      { volumeName: socket.name, containerPath: POSTGRES_PATHS.socket },
    ];
    if (args.pgbackrest) {
      const conf = pulumi.output(args.pgbackrest.config);
      envs.push(
        pulumi.secret(conf.apply((text) => `PGBACKREST_CONF_B64=${Buffer.from(text).toString("base64")}`)),
      );
      envs.push(...(args.pgbackrest.env ?? []));
      volumes.push(
        { volumeName: args.pgbackrest.repoVolume, containerPath: POSTGRES_PATHS.repo },
        { volumeName: args.pgbackrest.spoolVolume, containerPath: POSTGRES_PATHS.spool },
      );
    }

    const containerName = `${prefix}-postgres`;
    this.service = new ServiceContainer(
      `${name}-container`,
      {
        openFilesLimit: args.openFilesLimit,
        containerName,
        image: built,
        user: `${POSTGRES_UID}:${POSTGRES_UID}`,
        memoryMb: cfg.memoryMb,
        cpus: cfg.cpus,
        // backends + background workers + autovacuum/walwriter/archiver + pgBackRest async workers
        pidsLimit: Math.max(512, tuning.maxConnections + tuning.maxWorkerProcesses + 100),
        entrypoint: ["bash", "-c", POSTGRES_START_SCRIPT, "postgres-start"],
        command: ["postgres", ...serverArgs],
        envs,
        volumes,
        tmpfs: {
          "/tmp": "rw,noexec,nosuid,nodev,size=64m",
          // Docker mounts a tmpfs owned by root (mode 755): the start script writes these as 999.
          "/etc/pgbackrest": `rw,noexec,nosuid,nodev,size=1m,${POSTGRES_TMPFS_OWNER}`,
          [POSTGRES_PATHS.initdb]: `rw,noexec,nosuid,nodev,size=1m,${POSTGRES_TMPFS_OWNER}`,
          // Parallel query uses POSIX shared memory; Docker's default /dev/shm is only 64 MB.
          "/dev/shm": `rw,noexec,nosuid,nodev,size=${Math.max(64, Math.floor(cfg.memoryMb / 4))}m`,
        },
        healthcheck: {
          // Over TCP, so the entrypoint's socket-only init server does not count as ready.
          test: [
            "CMD",
            "pg_isready",
            "-h",
            "127.0.0.1",
            "-p",
            String(POSTGRES_PORT),
            "-U",
            cfg.user,
            "-d",
            cfg.database,
          ],
          intervalSeconds: 10,
          timeoutSeconds: 5,
          startPeriodSeconds: 120,
          retries: 3,
        },
        networks: [{ name: args.networks.data, aliases: ["postgres"] }, { name: args.networks.backup }],
        ports: [],
        // SIGINT = fast shutdown (the official image's STOPSIGNAL); give the checkpoint time.
        stopSignal: "SIGINT",
        stopTimeoutSeconds: 120,
        labels: { "backend-infra.tier": "data" },
      },
      { parent: this },
    );

    this.container = this.service.containerName;
    this.host = this.service.containerName;
    this.port = pulumi.output(POSTGRES_PORT);
    this.database = pulumi.output(cfg.database);
    this.user = pulumi.output(cfg.user);
    this.monitorUser = pulumi.output(POSTGRES_MONITOR_ROLE);
    this.verifyUser = pulumi.output(POSTGRES_VERIFY_ROLE);
    this.stanza = pulumi.output(stanza);
    this.url = pulumi.secret(
      pulumi.interpolate`postgresql://${cfg.user}:${this.password}@${this.host}:${POSTGRES_PORT}/${cfg.database}`,
    );

    this.registerOutputs({
      container: this.container,
      host: this.host,
      port: this.port,
      database: this.database,
      user: this.user,
      password: this.password,
      monitorUser: this.monitorUser,
      monitorPassword: this.monitorPassword,
      verifyUser: this.verifyUser,
      verifyPassword: this.verifyPassword,
      url: this.url,
      stanza: this.stanza,
      dataVolume: this.dataVolume,
      socketVolume: this.socketVolume,
      dataDir: this.dataDir,
      image: this.image,
    });
  }
}
