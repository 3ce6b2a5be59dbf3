/**
 * redis.conf for the Redis container: AOF (`appendfsync everysec`) plus RDB snapshots,
 * `maxmemory` derived from the container memory limit, and ACL users instead of a bare
 * `requirepass`.
 *
 * `renderRedisConf` is the single source; `redisServerArgs` turns the same lines into
 * `redis-server --name arg ...` arguments for the container command (the container has a
 * read-only root filesystem and Docker refuses uploads into such a container, so the config
 * travels as arguments). Passwords appear only as SHA-256 hashes (`#<hex>`), so neither the
 * file nor `docker inspect` shows them.
 *
 * Users:
 * - `default`: the administrator (every command). Backups (`redis-cli --rdb`), restores
 *   (`CONFIG SET appendonly yes`), the exporter and operators authenticate as it with
 *   `REDISCLI_AUTH` / `-a`, as with a classic `requirepass`.
 * - the application user (`app`): everything except the `@admin` category (CONFIG, DEBUG,
 *   SHUTDOWN, SAVE/BGSAVE, REPLICAOF, MONITOR, ACL changes, MODULE, ...) and FLUSHALL /
 *   FLUSHDB, so a bug or an injection in the backend cannot wipe or reconfigure the store.
 * - `monitor` (redis_exporter): server statistics only (INFO, CONFIG GET, SLOWLOG GET/LEN,
 *   LATENCY, CLIENT SETNAME/LIST); no key, no channel, nothing that writes.
 * - `backup` (the backup runner's `redis-cli --rdb`): the replication handshake only
 *   (REPLCONF, SYNC/PSYNC); no key, no command that reads or writes data one key at a time.
 */
import { createHash } from "node:crypto";

export interface RedisLimits {
  /** Container memory limit in MB (>= 32). */
  memoryMb: number;
}

export const EVICTION_POLICIES = [
  "noeviction",
  "allkeys-lru",
  "allkeys-lfu",
  "allkeys-random",
  "volatile-lru",
  "volatile-lfu",
  "volatile-random",
  "volatile-ttl",
] as const;
export type EvictionPolicy = (typeof EVICTION_POLICIES)[number];

export interface RedisConfOptions {
  /** Password of the `default` (administrator) user. At least 32 characters. */
  adminPassword: string;
  /** Application user name. Default `app`. */
  appUser?: string;
  /** Password of the application user. At least 32 characters. */
  appPassword: string;
  /** Password of the `monitor` user (redis_exporter). At least 32 characters. */
  monitorPassword: string;
  /** Password of the `backup` user (`redis-cli --rdb`). At least 32 characters. */
  backupPassword: string;
  /** Eviction policy when maxmemory is reached. Default `noeviction` (session data is never dropped). */
  maxmemoryPolicy?: EvictionPolicy;
  /** Data directory (AOF directory and dump.rdb). Default `/data` (the official image's volume). */
  dir?: string;
  /** Port. Default 6379. */
  port?: number;
  /** Addresses to listen on. Default all interfaces (the container is on an internal network only). */
  bind?: string[];
  /** Seconds before an idle client is disconnected; 0 = never. Default 300. */
  idleTimeoutSeconds?: number;
}

export const MIN_REDIS_MEMORY_MB = 32;
/** Share of the container memory limit given to the dataset (`maxmemory`). */
export const MAXMEMORY_SHARE = 0.75;

/**
 * maxmemory in MB: 75 % of the container limit, not 100 %. The rest is headroom that Redis
 * does not count against maxmemory but that the kernel counts against the container: the
 * copy-on-write pages of the forked child during BGSAVE and AOF rewrites (up to the whole
 * dataset under a heavy write load), client output buffers, the AOF rewrite buffer and
 * allocator fragmentation. At 100 % the first snapshot under load gets Redis OOM-killed.
 */
export function redisMaxmemoryMb(limits: RedisLimits): number {
  if (!Number.isInteger(limits.memoryMb) || limits.memoryMb < MIN_REDIS_MEMORY_MB) {
    throw new Error(
      `redis memoryMb: expected a whole number of MB >= ${MIN_REDIS_MEMORY_MB}, got ${limits.memoryMb}`,
    );
  }
  return Math.floor(limits.memoryMb * MAXMEMORY_SHARE);
}

const USER = /^[a-z][a-z0-9_-]{0,31}$/;

/** The exporter's user: what redis_exporter reads for its default metrics, nothing more. */
export const REDIS_MONITOR_USER = "monitor";
export const REDIS_MONITOR_RULES = [
  "resetkeys",
  "resetchannels",
  "-@all",
  "+ping",
  "+info",
  "+config|get",
  "+client|setname",
  "+client|list",
  "+cluster|info",
  "+slowlog|get",
  "+slowlog|len",
  "+latency|latest",
  "+latency|histogram",
  "+select",
].join(" ");

/** The backup runner's user: `redis-cli --rdb` is a replica's full sync, nothing more. */
export const REDIS_BACKUP_USER = "backup";
export const REDIS_BACKUP_RULES = [
  "resetkeys",
  "resetchannels",
  "-@all",
  "+ping",
  "+replconf",
  "+sync",
  "+psync",
].join(" ");

function checkPassword(name: string, password: string): void {
  if (password.length < 32 || /[\s"'\\#<>]/.test(password)) {
    throw new Error(
      `redis ${name}: expected at least 32 characters without spaces, quotes, \\, #, < or > (got ${password.length} characters)`,
    );
  }
}

/** The ACL form of a password: `#` + hex SHA-256. */
export function aclPasswordHash(password: string): string {
  return `#${createHash("sha256").update(password).digest("hex")}`;
}

export function renderRedisConf(limits: RedisLimits, options: RedisConfOptions): string {
  const maxmemory = redisMaxmemoryMb(limits);
  const policy = options.maxmemoryPolicy ?? "noeviction";
  if (!(EVICTION_POLICIES as readonly string[]).includes(policy)) {
    throw new Error(
      `redis maxmemoryPolicy: expected one of ${EVICTION_POLICIES.join(", ")}, got "${policy}"`,
    );
  }
  const appUser = options.appUser ?? "app";
  if (!USER.test(appUser) || ["default", REDIS_MONITOR_USER, REDIS_BACKUP_USER].includes(appUser)) {
    throw new Error(
      `redis appUser: expected a lower-case name other than default, ${REDIS_MONITOR_USER} or ${REDIS_BACKUP_USER}, got "${appUser}"`,
    );
  }
  const passwords = [
    ["adminPassword", options.adminPassword],
    ["appPassword", options.appPassword],
    ["monitorPassword", options.monitorPassword],
    ["backupPassword", options.backupPassword],
  ] as const;
  passwords.forEach(([name, password]) => checkPassword(name, password));
  passwords.forEach(([name, password], i) => {
    const same = passwords.slice(0, i).find(([, other]) => other === password);
    if (same) throw new Error(`redis ${name}: must differ from ${same[0]}`);
  });
  const dir = options.dir ?? "/data";
  if (!/^\/[A-Za-z0-9._/-]*$/.test(dir))
    throw new Error(`redis dir: expected an absolute path, got "${dir}"`);
  const port = options.port ?? 6379;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`redis port: expected a TCP port, got ${port}`);
  const idle = options.idleTimeoutSeconds ?? 300;
  const bind = options.bind ?? ["*", "-::*"];

  return [
    "# Generated by backend-infra (renderers/redis-conf.ts); do not edit by hand.",
    `# Container memory limit ${limits.memoryMb} MB; maxmemory is ${MAXMEMORY_SHARE * 100} % of it.`,
    "",
    "# --- Network",
    `bind ${bind.join(" ")}`,
    "# Refuse connections from outside loopback while no user has a password (defence in depth).",
    "protected-mode yes",
    `port ${port}`,
    "tcp-keepalive 60",
    `timeout ${idle}`,
    "",
    "# --- Durability: AOF fsynced every second (at most ~1 s of writes lost on a crash) + RDB",
    `dir ${dir}`,
    "appendonly yes",
    "appendfilename appendonly.aof",
    "appenddirname appendonlydir",
    "appendfsync everysec",
    "no-appendfsync-on-rewrite no",
    "aof-use-rdb-preamble yes",
    "aof-load-truncated yes",
    "auto-aof-rewrite-percentage 100",
    "auto-aof-rewrite-min-size 64mb",
    "# RDB snapshots (what the backup job copies): after 1 h with 1 change, 5 min with 100, 1 min with 10000.",
    "save 3600 1 300 100 60 10000",
    "dbfilename dump.rdb",
    "rdbcompression yes",
    "rdbchecksum yes",
    "stop-writes-on-bgsave-error yes",
    "",
    "# --- Memory: 75 % of the limit; the rest covers fork copy-on-write, buffers, fragmentation",
    `maxmemory ${maxmemory}mb`,
    `maxmemory-policy ${policy}`,
    "",
    "# --- Logging to stdout (docker json-file, rotated)",
    "loglevel notice",
    'logfile ""',
    "",
    "# --- Users (passwords as SHA-256 hashes). default = administrator; the application user",
    "# --- cannot run @admin commands (CONFIG, DEBUG, SHUTDOWN, SAVE, MONITOR, ACL ...) or FLUSH*.",
    `user default on ${aclPasswordHash(options.adminPassword)} ~* &* +@all`,
    `user ${appUser} on ${aclPasswordHash(options.appPassword)} ~* &* +@all -@admin -flushall -flushdb`,
    "# --- The exporter reads server statistics; the backup runner takes a replica's full sync.",
    `user ${REDIS_MONITOR_USER} on ${aclPasswordHash(options.monitorPassword)} ${REDIS_MONITOR_RULES}`,
    `user ${REDIS_BACKUP_USER} on ${aclPasswordHash(options.backupPassword)} ${REDIS_BACKUP_RULES}`,
    "",
  ].join("\n");
}

/** Splits one redis.conf line into tokens; `""` is an empty token. */
function tokens(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) {
    out.push(m[1] !== undefined ? m[1] : m[2]);
  }
  return out;
}

/**
 * The conf as `redis-server` arguments: each directive becomes `--name arg1 arg2 ...`
 * (redis-server appends them to its configuration exactly like file lines).
 */
export function redisServerArgs(conf: string): string[] {
  const args: string[] = [];
  for (const raw of conf.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [name, ...rest] = tokens(line);
    if (rest.some((token) => token === "")) {
      // The Docker provider refuses an empty command argument. `logfile ""` is Redis' default
      // (log to stdout), so leaving it out changes nothing; any other empty value would.
      if (name === "logfile" && rest.length === 1) continue;
      throw new Error(
        `redis server args: "${line}" has an empty value, which a container command cannot carry`,
      );
    }
    args.push(`--${name}`, ...rest);
  }
  return args;
}
