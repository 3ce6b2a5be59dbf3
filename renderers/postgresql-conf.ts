/**
 * postgresql.conf settings for the Postgres container, tuned from the container's memory and
 * CPU limits the way PGTune's "web application" profile does (github.com/le0pard/pgtune), plus
 * the WAL settings continuous archiving with pgBackRest needs.
 *
 * One list of settings (`postgresSettings`) feeds two renderings that cannot drift apart:
 * - `renderPostgresqlConf`: the `postgresql.conf` fragment (what the L5 test appends to a real
 *   PostgreSQL 15 and reads back with SHOW);
 * - `postgresServerArgs`: the same settings as `-c name=value` arguments for the container
 *   command. The container has a read-only root filesystem, and Docker refuses file uploads
 *   into such a container, so the settings travel as arguments rather than as a file.
 *
 * Differences from PGTune, all because a container limit is a hard ceiling (the kernel OOM-kills
 * past it) rather than a host's RAM:
 * - max_connections is derived from memory (25 per 256 MB, at most PGTune's web value 200)
 *   instead of a flat 200, so a 256 MB container cannot be asked to serve 200 backends;
 * - work_mem has no 4 MB floor: PGTune's formula result is used as is, and a result below 1 MB
 *   is an error (too many connections for the memory) rather than silently over-committing;
 * - maintenance_work_mem is capped at 2 GB (autovacuum workers each may use that much);
 * - parallel query is off below 2 CPUs (a 1-CPU quota gains nothing from parallel workers).
 */

export interface PostgresLimits {
  /** Container memory limit in MB (>= 256). */
  memoryMb: number;
  /** Container CPU limit (fractional CPUs, > 0). */
  cpus: number;
}

export interface PostgresConfOptions {
  /** max_connections. Default: 25 per 256 MB of memory, at most 200. */
  maxConnections?: number;
  /**
   * archive_command, run by the server for every finished WAL segment (`%p` = its path).
   * Normally `pgbackrestArchiveCommand(...)`; tests pass a plain copy command.
   */
  archiveCommand: string;
  /** archive_timeout in seconds: the longest a WAL segment stays unarchived (the RPO bound). Default 60. */
  archiveTimeoutSeconds?: number;
  /** listen_addresses. Default `*` (the container is reachable only on its internal data network). */
  listenAddresses?: string;
  /** Server port. Default 5432. */
  port?: number;
  /** log_min_duration_statement in ms (statements slower than this are logged); -1 turns it off. Default 1000. */
  logMinDurationMs?: number;
}

export type SettingValue = string | number;

export interface PostgresSetting {
  name: string;
  value: SettingValue;
  /** Why this value (written as a comment above the setting). */
  why: string;
  /** Section heading in the rendered file. */
  section: string;
}

export const MIN_POSTGRES_MEMORY_MB = 256;
const STANZA = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * The archive_command that pushes a WAL segment to every pgBackRest repository of `stanza`.
 * `configPath` is pgBackRest's configuration file (default: pgBackRest's own default path).
 */
export function pgbackrestArchiveCommand(stanza: string, configPath?: string): string {
  if (!STANZA.test(stanza)) {
    throw new Error(`pgbackrestArchiveCommand: stanza must match ${STANZA.source}, got "${stanza}"`);
  }
  if (configPath !== undefined && !/^\/[A-Za-z0-9._/-]+$/.test(configPath)) {
    throw new Error(`pgbackrestArchiveCommand: configPath must be an absolute path, got "${configPath}"`);
  }
  const config = configPath === undefined ? "" : ` --config=${configPath}`;
  return `pgbackrest${config} --stanza=${stanza} archive-push %p`;
}

/**
 * A size in kB written the way PostgreSQL's SHOW prints it: the largest unit (kB, MB, GB, TB)
 * that divides the value exactly, so `1048576` -> `1GB` and `1985` -> `1985kB`.
 */
export function formatKb(kb: number): string {
  if (!Number.isInteger(kb) || kb < 0) throw new Error(`formatKb: expected a whole number of kB, got ${kb}`);
  const units: [string, number][] = [
    ["TB", 1024 ** 3],
    ["GB", 1024 ** 2],
    ["MB", 1024],
  ];
  for (const [unit, size] of units) {
    if (kb > 0 && kb % size === 0) return `${kb / size}${unit}`;
  }
  return `${kb}kB`;
}

/** A duration in seconds written the way SHOW prints it (`60` -> `1min`, `90` -> `90s`). */
export function formatSeconds(seconds: number): string {
  if (seconds % 3600 === 0 && seconds > 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0 && seconds > 0) return `${seconds / 60}min`;
  return `${seconds}s`;
}

/** The tuned numbers before formatting; exported so the arithmetic can be unit-tested on its own. */
export interface PostgresTuning {
  maxConnections: number;
  sharedBuffersKb: number;
  effectiveCacheSizeKb: number;
  maintenanceWorkMemKb: number;
  workMemKb: number;
  /** Whole CPUs the parallel settings are based on: ceil(cpus), at least 1. */
  cores: number;
  maxWorkerProcesses: number;
  maxParallelWorkers: number;
  maxParallelWorkersPerGather: number;
  maxParallelMaintenanceWorkers: number;
  minWalSizeMb: number;
  maxWalSizeMb: number;
}

/** PGTune-style arithmetic from the container limits. Throws on limits PostgreSQL cannot use. */
export function tunePostgres(limits: PostgresLimits, maxConnectionsOverride?: number): PostgresTuning {
  const { memoryMb, cpus } = limits;
  if (!Number.isInteger(memoryMb) || memoryMb < MIN_POSTGRES_MEMORY_MB) {
    throw new Error(
      `postgres memoryMb: expected a whole number of MB >= ${MIN_POSTGRES_MEMORY_MB}, got ${memoryMb}`,
    );
  }
  if (!(cpus > 0)) throw new Error(`postgres cpus: expected a CPU count > 0, got ${cpus}`);
  if (
    maxConnectionsOverride !== undefined &&
    (!Number.isInteger(maxConnectionsOverride) ||
      maxConnectionsOverride < 10 ||
      maxConnectionsOverride > 5000)
  ) {
    throw new Error(
      `postgres maxConnections: expected a whole number from 10 to 5000, got ${maxConnectionsOverride}`,
    );
  }

  const memoryKb = memoryMb * 1024;
  const maxConnections = maxConnectionsOverride ?? Math.min(200, 25 * Math.floor(memoryMb / 256));
  // 25 % / 75 % of memory; memoryMb * 256 kB is always a multiple of the 8 kB page.
  const sharedBuffersKb = Math.floor(memoryKb / 4);
  const effectiveCacheSizeKb = Math.floor((memoryKb * 3) / 4);
  const maintenanceWorkMemKb = Math.min(Math.floor(memoryKb / 16), 2 * 1024 * 1024);

  const cores = Math.max(1, Math.ceil(cpus));
  const maxWorkerProcesses = Math.max(8, cores);
  const maxParallelWorkers = cores;
  const perGather = Math.min(4, Math.floor(cores / 2));

  // PGTune: (RAM - shared_buffers) / ((max_connections + max_worker_processes) * 3): every
  // connection and worker may run about three sort/hash nodes at once.
  const workMemKb = Math.floor((memoryKb - sharedBuffersKb) / ((maxConnections + maxWorkerProcesses) * 3));
  if (workMemKb < 1024) {
    throw new Error(
      `postgres maxConnections: ${maxConnections} connections leave work_mem at ${workMemKb}kB with ` +
        `${memoryMb}MB of memory; expected at least 1MB: lower max_connections or raise the memory limit`,
    );
  }

  // Bigger instances get PGTune's web WAL sizes; small (local/dev) ones keep pg_wal small on disk.
  const big = memoryMb >= 2048;
  return {
    maxConnections,
    sharedBuffersKb,
    effectiveCacheSizeKb,
    maintenanceWorkMemKb,
    workMemKb,
    cores,
    maxWorkerProcesses,
    maxParallelWorkers,
    maxParallelWorkersPerGather: perGather,
    maxParallelMaintenanceWorkers: perGather,
    minWalSizeMb: big ? 1024 : 256,
    maxWalSizeMb: big ? 4096 : 1024,
  };
}

/** Every setting this project sets, in file order. */
export function postgresSettings(limits: PostgresLimits, options: PostgresConfOptions): PostgresSetting[] {
  const t = tunePostgres(limits, options.maxConnections);
  const archiveTimeout = options.archiveTimeoutSeconds ?? 60;
  if (!Number.isInteger(archiveTimeout) || archiveTimeout < 1 || archiveTimeout > 3600) {
    throw new Error(`postgres archiveTimeoutSeconds: expected 1 to 3600, got ${archiveTimeout}`);
  }
  if (!options.archiveCommand.includes("%p")) {
    throw new Error(
      `postgres archiveCommand: must contain %p (the WAL file path), got "${options.archiveCommand}"`,
    );
  }
  if (/[\n\r\0]/.test(options.archiveCommand)) {
    throw new Error("postgres archiveCommand: must be a single line");
  }
  const port = options.port ?? 5432;
  const logMin = options.logMinDurationMs ?? 1000;
  const mb = (n: number) => formatKb(n * 1024);

  const s: PostgresSetting[] = [];
  const add = (section: string, name: string, value: SettingValue, why: string) =>
    s.push({ section, name, value, why });

  const conn = "Connections and authentication";
  add(
    conn,
    "listen_addresses",
    options.listenAddresses ?? "*",
    "reachable only on the internal data network",
  );
  add(conn, "port", port, "the standard port inside the container; nothing is published");
  add(
    conn,
    "max_connections",
    t.maxConnections,
    options.maxConnections === undefined ? "25 per 256 MB of memory, at most 200" : "set in config",
  );
  add(conn, "password_encryption", "scram-sha-256", "no md5 password hashes");

  const memory = "Memory (from the container memory limit)";
  add(memory, "shared_buffers", formatKb(t.sharedBuffersKb), "25 % of the memory limit");
  add(
    memory,
    "effective_cache_size",
    formatKb(t.effectiveCacheSizeKb),
    "75 % of the memory limit (planner hint)",
  );
  add(memory, "maintenance_work_mem", formatKb(t.maintenanceWorkMemKb), "memory / 16, at most 2 GB");
  add(
    memory,
    "work_mem",
    formatKb(t.workMemKb),
    "(memory - shared_buffers) / ((max_connections + max_worker_processes) * 3)",
  );

  const cpu = `Workers (from the CPU limit: ${t.cores} core${t.cores === 1 ? "" : "s"})`;
  add(cpu, "max_worker_processes", t.maxWorkerProcesses, "CPU count, at least the default 8");
  add(cpu, "max_parallel_workers", t.maxParallelWorkers, "CPU count");
  add(
    cpu,
    "max_parallel_workers_per_gather",
    t.maxParallelWorkersPerGather,
    "half the CPUs, at most 4; 0 = off",
  );
  add(cpu, "max_parallel_maintenance_workers", t.maxParallelMaintenanceWorkers, "half the CPUs, at most 4");

  const planner = "Planner (SSD storage, short web queries)";
  add(planner, "random_page_cost", "1.1", "SSD: random reads cost about as much as sequential ones");
  add(planner, "effective_io_concurrency", 200, "SSD");
  add(planner, "jit", "off", "JIT compilation slows short web queries");

  const wal = "WAL and continuous archiving (pgBackRest)";
  add(wal, "wal_level", "replica", "enough WAL for archiving, point-in-time recovery and replicas");
  add(wal, "wal_compression", "lz4", "smaller full-page writes, so less WAL to archive");
  add(
    wal,
    "min_wal_size",
    mb(t.minWalSizeMb),
    t.minWalSizeMb === 1024 ? "PGTune web profile" : "small instance",
  );
  add(
    wal,
    "max_wal_size",
    mb(t.maxWalSizeMb),
    t.maxWalSizeMb === 4096 ? "PGTune web profile" : "small instance",
  );
  add(wal, "checkpoint_completion_target", "0.9", "spread checkpoint writes over the interval");
  add(
    wal,
    "recovery_init_sync_method",
    "syncfs",
    "after a crash or a restore, one syncfs() of the volume instead of an fsync per file",
  );
  add(wal, "archive_mode", "on", "every finished WAL segment goes to archive_command");
  add(wal, "archive_command", options.archiveCommand, "a failure keeps the segment and retries");
  add(
    wal,
    "archive_timeout",
    formatSeconds(archiveTimeout),
    "switch segments at least this often: the RPO bound",
  );

  const log = "Logging (stderr -> docker json-file, rotated)";
  add(log, "log_destination", "stderr", "collected by the container runtime");
  add(log, "logging_collector", "off", "the runtime rotates the logs");
  add(log, "log_line_prefix", "%m [%p] %q%u@%d ", "time, pid, user@database");
  add(log, "log_timezone", "UTC", "one time zone in every log");
  add(log, "timezone", "UTC", "session default");
  add(
    log,
    "log_min_duration_statement",
    logMin < 0 ? -1 : logMin % 1000 === 0 ? formatSeconds(logMin / 1000) : `${logMin}ms`,
    "slow statements",
  );
  add(log, "log_checkpoints", "on", "checkpoint timing shows I/O pressure");
  add(log, "log_lock_waits", "on", "waits longer than deadlock_timeout");
  add(log, "log_temp_files", 0, "every spill to disk: work_mem too small");
  add(log, "log_autovacuum_min_duration", "10s", "slow autovacuum runs");
  return s;
}

const BARE = /^-?[0-9]+(\.[0-9]+)?([a-zA-Z]+)?$/;

/** A value as written in postgresql.conf: numbers and sizes bare, everything else single-quoted. */
export function confValue(value: SettingValue): string {
  const text = String(value);
  if (typeof value === "number" || BARE.test(text) || text === "on" || text === "off") return text;
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/** The postgresql.conf fragment (append to, or include from, the server's postgresql.conf). */
export function renderPostgresqlConf(limits: PostgresLimits, options: PostgresConfOptions): string {
  const settings = postgresSettings(limits, options);
  const lines = [
    "# Generated by backend-infra (renderers/postgresql-conf.ts); do not edit by hand.",
    `# Tuned for a container limit of ${limits.memoryMb} MB memory and ${limits.cpus} CPU${limits.cpus === 1 ? "" : "s"}.`,
  ];
  let section = "";
  for (const setting of settings) {
    if (setting.section !== section) {
      section = setting.section;
      lines.push("", `# --- ${section}`);
    }
    lines.push(`${setting.name} = ${confValue(setting.value)}\t# ${setting.why}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The same settings as server arguments: `["-c", "name=value", ...]`. postgres takes the text
 * after `=` literally (no quoting), so values are passed unquoted.
 */
export function postgresServerArgs(limits: PostgresLimits, options: PostgresConfOptions): string[] {
  return postgresSettings(limits, options).flatMap((s) => ["-c", `${s.name}=${String(s.value)}`]);
}
