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
    const patterns = { postgres: cfg.postgresPatterns, redis: cfg.redisPatterns };
    if (dataServiceOf(props, patterns, args.name) !== "redis") args.notApplicable("not a Redis container");
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
    const patterns = { postgres: cfg.postgresPatterns, redis: cfg.redisPatterns };
    if (dataServiceOf(props, patterns, args.name) !== "postgres")
      args.notApplicable("not a PostgreSQL container");
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
    const patterns = { postgres: cfg.postgresPatterns, redis: cfg.redisPatterns };
    const service = dataServiceOf(props, patterns, args.name);
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

export const dataPolicies: ResourceValidationPolicy[] = [
  redisAofEnabled,
  postgresWalArchiving,
  statefulServiceVolumes,
];
