/**
 * Data durability (seed "Data Persistence Strategy", "Zero Data Loss"): Redis appends to
 * its AOF, PostgreSQL archives WAL in the listed environments, and stateful services keep
 * their data in volumes. Resource policies over container inputs: the command line and the
 * rendered config files uploaded into the container.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { environmentsOption, resourcePolicy, stringList } from "./metadata";
import {
  CONTAINER,
  DEFAULT_POSTGRES_PATTERNS,
  DEFAULT_REDIS_PATTERNS,
  appliesIn,
  configOf,
  containsUnknown,
  dataServiceOf,
  describeContainer,
  environmentOfUrn,
  identitiesOf,
  isUnknown,
  list,
  matchesAny,
  record,
  reveal,
  str,
} from "./values";

const servicePatternsSchema = {
  postgresPatterns: stringList(
    "Regular expressions identifying PostgreSQL containers.",
    DEFAULT_POSTGRES_PATTERNS,
  ),
  redisPatterns: stringList("Regular expressions identifying Redis containers.", DEFAULT_REDIS_PATTERNS),
};
const servicePatternDefaults = {
  postgresPatterns: DEFAULT_POSTGRES_PATTERNS,
  redisPatterns: DEFAULT_REDIS_PATTERNS,
};

/** Which data service a container is, by the rule's configured patterns. */
function serviceOf(
  props: Record<string, unknown>,
  name: string,
  cfg: { postgresPatterns: string[]; redisPatterns: string[] },
) {
  return dataServiceOf(props, { postgres: cfg.postgresPatterns, redis: cfg.redisPatterns }, name);
}

const SERVICE_NAMES = { postgres: "PostgreSQL", redis: "Redis" } as const;

/** Ends a rule as not applicable unless the container is `kind`. */
function requireService(
  kind: keyof typeof SERVICE_NAMES,
  props: Record<string, unknown>,
  args: { name: string; notApplicable(reason?: string): never },
  cfg: { postgresPatterns: string[]; redisPatterns: string[] },
): void {
  if (serviceOf(props, args.name, cfg) !== kind) args.notApplicable(`not a ${SERVICE_NAMES[kind]} container`);
}

/** Command line words (entrypoint + command); undefined when any is unknown. */
function commandWords(props: Record<string, unknown>): string[] | undefined {
  const words: string[] = [];
  for (const key of ["entrypoints", "command"]) {
    const items = list(props[key]);
    if (isUnknown(items) || containsUnknown(items)) return undefined;
    for (const item of items) {
      const word = str(item);
      if (word !== undefined) words.push(word);
    }
  }
  return words;
}

interface UploadedFile {
  file: string;
  content: string | undefined;
}

/** Files uploaded into the container, content decoded (undefined when unknown). */
function uploadsOf(props: Record<string, unknown>): UploadedFile[] {
  const uploads = list(props.uploads);
  if (isUnknown(uploads)) return [];
  const files: UploadedFile[] = [];
  for (const item of uploads) {
    const upload = record(item);
    if (!upload || isUnknown(upload)) continue;
    const file = str(upload.file) ?? "";
    const content = str(upload.content);
    const b64 = str(upload.contentBase64);
    files.push({
      file,
      content: content ?? (b64 !== undefined ? Buffer.from(b64, "base64").toString("utf8") : undefined),
    });
  }
  return files;
}

/** The last value of a setting given as `--name value` / `--name=value` on a command line. */
function lastFlag(words: string[], flag: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < words.length; i++) {
    if (words[i] === `--${flag}` && i + 1 < words.length) value = words[i + 1];
    else if (words[i].startsWith(`--${flag}=`)) value = words[i].slice(flag.length + 3);
  }
  return value;
}

/** The last value of `name value` (redis.conf) or `name = value` (postgresql.conf) in a config file. */
function lastDirective(content: string, name: string): string | undefined {
  const re = new RegExp(`^\\s*${name}\\s*(?:=\\s*|\\s+)(.*?)\\s*(?:#.*)?$`, "gim");
  let value: string | undefined;
  for (const match of content.matchAll(re)) value = match[1];
  return value?.replace(/^'(.*)'$/, "$1").replace(/^"(.*)"$/, "$1");
}

export const redisAofEnabled = resourcePolicy(
  {
    name: "redis-aof-enabled",
    description: "Redis runs with append-only-file persistence (appendonly yes).",
    severity: "high",
    remediation:
      'Start redis-server with "--appendonly yes --appendfsync everysec" or upload a redis.conf with `appendonly yes` and pass its path on the command line.',
    benchmarks: ["project rule (seed: Redis AOF persistence)"],
    configSchema: { properties: servicePatternsSchema },
  },
  [CONTAINER],
  (props, args, report) => {
    const cfg = configOf(args, servicePatternDefaults);
    requireService("redis", props, args, cfg);
    const words = commandWords(props);
    if (!words) return;
    const who = describeContainer(props, args.name);
    const flag = lastFlag(words, "appendonly");
    if (flag !== undefined) {
      if (flag !== "yes") report(`Redis ${who} starts with --appendonly ${flag}`);
      return;
    }
    const configs = uploadsOf(props).filter((f) => words.includes(f.file));
    if (configs.some((f) => f.content === undefined)) return;
    const fromFile = configs
      .map((f) => lastDirective(f.content as string, "appendonly"))
      .filter((v) => v !== undefined);
    const value = fromFile.pop();
    if (value === undefined)
      report(`Redis ${who} does not enable appendonly (command line or a config file it loads)`);
    else if (value.toLowerCase() !== "yes") report(`Redis ${who} loads a config with appendonly ${value}`);
  },
);

const DISABLED_ARCHIVE = /^(|\/bin\/true|true|:|exit 0)$/;

export const postgresWalArchiving = resourcePolicy(
  {
    name: "postgres-wal-archiving",
    description:
      "PostgreSQL archives WAL (archive_mode on and a real archive_command) in the listed environments.",
    severity: "high",
    remediation:
      "Render postgresql.conf with archive_mode = on and archive_command = 'pgbackrest --stanza=<stanza> archive-push %p' (or pass them with -c on the command line).",
    benchmarks: ["project rule (seed: point-in-time recovery, zero data loss)"],
    configSchema: { properties: { environments: environmentsOption(["prod"]), ...servicePatternsSchema } },
  },
  [CONTAINER],
  (props, args, report) => {
    const cfg = configOf(args, { environments: ["prod"], ...servicePatternDefaults });
    requireService("postgres", props, args, cfg);
    const env = environmentOfUrn(args.urn);
    if (!appliesIn(env, cfg.environments))
      args.notApplicable(`WAL archiving is required only in ${cfg.environments.join(", ")}`);
    const words = commandWords(props);
    if (!words) return;
    const settings = new Map<string, string>();
    const files = uploadsOf(props);
    if (files.some((f) => f.content === undefined)) return;
    // Config files first, then -c flags (the command line overrides postgresql.conf).
    for (const f of files) {
      for (const name of ["archive_mode", "archive_command"]) {
        const value = lastDirective(f.content as string, name);
        if (value !== undefined) settings.set(name, value);
      }
    }
    for (let i = 0; i < words.length; i++) {
      const word = words[i];
      const setting =
        word === "-c"
          ? words[i + 1]
          : word.startsWith("--") || word.startsWith("-c")
            ? word.slice(2)
            : undefined;
      const match = setting ? /^(archive_mode|archive_command)=(.*)$/.exec(setting) : null;
      if (match) settings.set(match[1], match[2].replace(/^'(.*)'$/, "$1"));
    }
    const who = describeContainer(props, args.name);
    const mode = settings.get("archive_mode")?.toLowerCase();
    const command = settings.get("archive_command")?.trim() ?? "";
    if (mode !== "on" && mode !== "always") {
      report(
        `PostgreSQL ${who} does not set archive_mode = on in ${env}; point-in-time recovery is impossible`,
      );
    } else if (DISABLED_ARCHIVE.test(command)) {
      report(`PostgreSQL ${who} has archive_mode on but no real archive_command ("${command}")`);
    }
  },
);

export const statefulServiceVolumes = resourcePolicy(
  {
    name: "stateful-service-volumes",
    description:
      "Stateful services (PostgreSQL, Redis, and any listed) keep their data in a writable volume.",
    severity: "high",
    remediation:
      "Mount a named volume (or host path) at the service's data directory, e.g. /var/lib/postgresql/data or /data.",
    benchmarks: ["project rule (seed: Data Persistence Strategy)"],
    configSchema: {
      properties: {
        ...servicePatternsSchema,
        extraStatefulPatterns: stringList("Regular expressions identifying other stateful containers.", []),
      },
    },
  },
  [CONTAINER],
  (props, args, report) => {
    const cfg = configOf(args, { ...servicePatternDefaults, extraStatefulPatterns: [] as string[] });
    const service = serviceOf(props, args.name, cfg);
    const extra = matchesAny(identitiesOf(props, args.name), cfg.extraStatefulPatterns);
    if (!service && !extra) args.notApplicable("not a stateful service");
    const volumes = list(props.volumes);
    const mounts = list(props.mounts);
    if (isUnknown(volumes) || isUnknown(mounts)) return;
    const persistent = [
      ...volumes
        .map(record)
        .filter(
          (v) => v && !isUnknown(v) && (str(v.volumeName) || str(v.hostPath)) && reveal(v.readOnly) !== true,
        ),
      ...mounts
        .map(record)
        .filter(
          (m) =>
            m &&
            !isUnknown(m) &&
            ["volume", "bind"].includes(str(m.type) ?? "") &&
            reveal(m.readOnly) !== true,
        ),
    ];
    if (persistent.length === 0) {
      report(
        `${service ?? "stateful"} ${describeContainer(props, args.name)} has no writable volume; its data dies with the container`,
      );
    }
  },
);

// ---------- authentication ----------

/**
 * Environment variables as a map (last one wins). Entries that are unknown (a generated password
 * during a first preview) are left out, and `complete` is false: absence proves nothing then.
 */
function envOf(props: Record<string, unknown>): { env: Map<string, string>; complete: boolean } {
  const env = new Map<string, string>();
  const items = list(props.envs);
  if (isUnknown(items)) return { env, complete: false };
  let complete = true;
  for (const item of items) {
    const entry = str(item);
    if (entry === undefined) {
      complete = complete && !containsUnknown(item);
      continue;
    }
    const eq = entry.indexOf("=");
    env.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? "" : entry.slice(eq + 1));
  }
  return { env, complete };
}

/** Command words, each shell-like word (`sh -c "redis-server --requirepass x"`) also split on blanks. */
function commandTokens(words: string[]): string[] {
  return words.flatMap((w) => (/\s/.test(w) ? w.split(/\s+/).filter((t) => t !== "") : [w]));
}

const YES = /^(yes|true|1|on)$/i;
/** pg_hba methods that let a client in without proving a password over the wire. */
const WEAK_PG_METHODS = new Set(["trust", "password", "md5"]);
/** A pg_hba line: type, database, user, then address and/or method and options. */
const HBA_TYPES = "local|host|hostssl|hostnossl|hostgssenc|hostnogssenc";
const HBA_FILE_LINE = new RegExp(`^\\s*(${HBA_TYPES})\\s+(\\S+)\\s+(\\S+)\\s+(.*)$`, "i");
/** The same inside a script (`echo "host all all all trust" >> pg_hba.conf`). */
const HBA_SCRIPT_LINE = new RegExp(`\\b(${HBA_TYPES})\\s+(\\S+)\\s+(\\S+)\\s+([^'"\\n>|;]*)`, "gi");
/** An initdb auth option: --auth=x, --auth-host x, -A x, -Ax. */
const INITDB_AUTH = /(?:^|\s)(?:--auth(-host|-local)?(?:=|\s+)|-A\s*)([A-Za-z0-9-]+)/g;

/** The weak method of one pg_hba entry, or undefined (md5/password on the local socket still need the password). */
function weakHbaMethod(type: string, rest: string): string | undefined {
  const method = rest
    .split(/\s+/)
    .map((t) => t.toLowerCase())
    .find((t) => WEAK_PG_METHODS.has(t));
  if (!method) return undefined;
  return type.toLowerCase() !== "local" || method === "trust" ? method : undefined;
}

/** pg_hba entries with a weak method: lines of a file, or lines a script writes (`scripted`). */
function weakHbaLines(text: string, scripted: boolean): string[] {
  const found: string[] = [];
  if (scripted) {
    for (const m of text.matchAll(HBA_SCRIPT_LINE)) {
      if (weakHbaMethod(m[1], m[4])) found.push(m[0].trim());
    }
    return found;
  }
  for (const line of text.split(/\r?\n/)) {
    const m = HBA_FILE_LINE.exec(line);
    if (m && weakHbaMethod(m[1], m[4])) found.push(line.trim());
  }
  return found;
}

export const postgresNoTrustAuth = resourcePolicy(
  {
    name: "postgres-no-trust-auth",
    description:
      "PostgreSQL never trusts a connection without a password: no trust (or cleartext password/md5 over TCP) in POSTGRES_HOST_AUTH_METHOD, initdb options or pg_hba.conf, and initdb's local trust default overridden.",
    severity: "critical",
    remediation:
      'Set POSTGRES_INITDB_ARGS="--auth-local=peer --auth-host=scram-sha-256" and a generated POSTGRES_PASSWORD; never POSTGRES_HOST_AUTH_METHOD=trust or a pg_hba.conf line with trust (components/postgres.ts).',
    benchmarks: [
      "CIS PostgreSQL Benchmark (pg_hba.conf: no trust method)",
      "project rule (seed: secure database access)",
    ],
    configSchema: { properties: servicePatternsSchema },
  },
  [CONTAINER],
  (props, args, report) => {
    const cfg = configOf(args, servicePatternDefaults);
    requireService("postgres", props, args, cfg);
    const who = `PostgreSQL ${describeContainer(props, args.name)}`;
    const { env, complete } = envOf(props);
    const hostMethod = env.get("POSTGRES_HOST_AUTH_METHOD")?.trim().toLowerCase();
    if (hostMethod && WEAK_PG_METHODS.has(hostMethod)) {
      report(`${who} sets POSTGRES_HOST_AUTH_METHOD=${hostMethod}; expected scram-sha-256`);
    }
    for (const name of ["ALLOW_EMPTY_PASSWORD", "POSTGRESQL_ALLOW_EMPTY_PASSWORD"]) {
      if (YES.test(env.get(name) ?? ""))
        report(`${who} sets ${name}=${env.get(name)}; a password is required`);
    }
    const words = commandWords(props);
    // initdb options: the official image's POSTGRES_INITDB_ARGS, or a command that runs initdb itself.
    const texts = [
      env.get("POSTGRES_INITDB_ARGS") ?? "",
      ...(words ?? []).filter((w) => /\binitdb\b/.test(w)),
    ];
    let localAuthSet = false;
    for (const text of texts) {
      for (const match of text.matchAll(INITDB_AUTH)) {
        const scope = match[1]?.toLowerCase();
        const method = match[2].toLowerCase();
        if (scope !== "-host") localAuthSet = true;
        const weak = method === "trust" || (scope !== "-local" && WEAK_PG_METHODS.has(method));
        if (weak)
          report(
            `${who} initialises the cluster with ${match[0].trim()}; expected peer (local) and scram-sha-256 (host)`,
          );
      }
    }
    const files = uploadsOf(props);
    const hbaSetting = (words ?? []).map((w) => /^(?:-c\s*|--)?hba_file=(.*)$/.exec(w)?.[1]).find((v) => v);
    for (const f of files) {
      if (f.content === undefined) continue;
      const isHba =
        /hba/i.test(f.file) || (hbaSetting !== undefined && f.file === hbaSetting.replace(/^'(.*)'$/, "$1"));
      if (!isHba && !/^\s*(local|host)\w*\s/m.test(f.content)) continue;
      for (const line of weakHbaLines(f.content, false))
        report(`${who} uploads ${f.file} with "${line}"; expected scram-sha-256 (host) or peer (local)`);
    }
    for (const word of words ?? []) {
      for (const line of weakHbaLines(word, true))
        report(
          `${who} writes the pg_hba line "${line}" in its command; expected scram-sha-256 (host) or peer (local)`,
        );
    }
    // initdb writes `local all all trust` (and loopback trust) unless told otherwise; the official
    // image's entrypoint only appends the host line. A custom pg_hba.conf replaces both.
    const ownHba = hbaSetting !== undefined || files.some((f) => /pg_hba/i.test(f.file));
    if (words !== undefined && complete && !localAuthSet && !ownHba) {
      report(
        `${who} leaves initdb's default local authentication (trust on the socket and loopback); set POSTGRES_INITDB_ARGS with --auth-local=peer (or --auth=scram-sha-256)`,
      );
    }
  },
);

interface AclUser {
  on: boolean;
  nopass: boolean;
  passwords: number;
}

/** Applies ACL rules (`on`, `nopass`, `>pw`, `#hash`, ...) to a user reset like Redis does for configured users. */
function aclUser(rules: string[]): AclUser {
  const user: AclUser = { on: false, nopass: false, passwords: 0 };
  for (const rule of rules) {
    const r = rule.toLowerCase();
    if (r === "on") user.on = true;
    else if (r === "off") user.on = false;
    else if (r === "nopass") Object.assign(user, { nopass: true, passwords: 0 });
    else if (r === "resetpass") Object.assign(user, { nopass: false, passwords: 0 });
    else if (r === "reset") Object.assign(user, { on: false, nopass: false, passwords: 0 });
    else if (rule.startsWith(">") || rule.startsWith("#"))
      Object.assign(user, { nopass: false, passwords: user.passwords + 1 });
    else if (rule.startsWith("<") || rule.startsWith("!")) user.passwords = Math.max(0, user.passwords - 1);
  }
  return user;
}

interface RedisAuth {
  requirepass?: string;
  users: Map<string, AclUser>;
  aclfile?: string;
}

/** `requirepass`, `user` and `aclfile` directives of a redis.conf or ACL file. */
function readRedisConf(content: string, into: RedisAuth): void {
  for (const raw of content.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [directive, ...rest] = line.split(/\s+/);
    const d = directive.toLowerCase();
    if (d === "requirepass") into.requirepass = (rest[0] ?? "").replace(/^"(.*)"$/, "$1");
    else if (d === "aclfile") into.aclfile = rest[0];
    else if (d === "user" && rest[0]) into.users.set(rest[0], aclUser(rest.slice(1)));
  }
}

export const redisAuthRequired = resourcePolicy(
  {
    name: "redis-auth-required",
    description:
      "Redis requires a password: the default user has one (requirepass or an ACL rule) or is off, and no enabled ACL user is nopass.",
    severity: "critical",
    remediation:
      'Start redis-server with ACL users that carry password hashes ("--user default on #<sha256> ~* &* +@all", renderers/redis-conf.ts) or --requirepass from a generated password; never nopass.',
    benchmarks: [
      "Redis security guide (ACL users or requirepass)",
      "project rule (seed: secure cache access)",
    ],
    configSchema: { properties: servicePatternsSchema },
  },
  [CONTAINER],
  (props, args, report) => {
    const cfg = configOf(args, servicePatternDefaults);
    requireService("redis", props, args, cfg);
    const words = commandWords(props);
    if (!words) return;
    const who = `Redis ${describeContainer(props, args.name)}`;
    const { env, complete } = envOf(props);
    for (const name of ["ALLOW_EMPTY_PASSWORD", "REDIS_ALLOW_EMPTY_PASSWORD"]) {
      if (YES.test(env.get(name) ?? ""))
        report(`${who} sets ${name}=${env.get(name)}; a password is required`);
    }
    const tokens = commandTokens(words);
    const auth: RedisAuth = { users: new Map() };
    // Config files first (the file named on the command line), then --flags, which override them.
    const uploads = uploadsOf(props);
    for (const f of uploads.filter((u) => tokens.includes(u.file))) {
      if (f.content === undefined) return;
      readRedisConf(f.content, auth);
    }
    for (let i = 0; i < tokens.length; i++) {
      const flag = tokens[i].toLowerCase();
      if (flag === "--requirepass") auth.requirepass = tokens[i + 1] ?? "";
      else if (flag === "--aclfile") auth.aclfile = tokens[i + 1];
      else if (flag === "--user" && tokens[i + 1]) {
        const rules: string[] = [];
        for (let j = i + 2; j < tokens.length && !tokens[j].startsWith("--"); j++) rules.push(tokens[j]);
        auth.users.set(tokens[i + 1], aclUser(rules));
      }
    }
    if (auth.aclfile !== undefined) {
      const file = uploads.find((u) => u.file === auth.aclfile);
      // An ACL file from a volume cannot be read from the plan: trusted, as Redis refuses to mix it with --user.
      if (!file) return;
      if (file.content === undefined) return;
      auth.users.clear();
      readRedisConf(file.content, auth);
    }
    // An image whose own entrypoint sets the password from REDIS_PASSWORD (bitnami/redis), when the
    // command does not start redis-server itself. The official image ignores that variable.
    const serverStarted = tokens.some((t) => /(^|\/)redis-server$/.test(t));
    const image = str(props.image) ?? "";
    const passwordByImage =
      !serverStarted &&
      (!complete || env.has("REDIS_PASSWORD") || env.has("REDIS_PASSWORD_FILE")) &&
      (/bitnami/i.test(image) || /^sha256:/.test(image) || image === "");
    if (passwordByImage) return;
    for (const [name, user] of auth.users) {
      if (user.on && user.nopass)
        report(`${who} defines ACL user "${name}" with nopass; every enabled user needs a password`);
    }
    if (!auth.users.has("default")) {
      if (auth.requirepass === undefined || auth.requirepass.trim() === "") {
        report(
          `${who} has no password: no --requirepass and no "--user default" ACL rule, so the default user is nopass`,
        );
      }
    }
  },
);

export const dataPolicies: ResourceValidationPolicy[] = [
  redisAofEnabled,
  postgresWalArchiving,
  statefulServiceVolumes,
  postgresNoTrustAuth,
  redisAuthRequired,
];
