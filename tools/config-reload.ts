/**
 * config-reload: applies new config files to a RUNNING service and reloads it in place, so a
 * config change or a certificate renewal neither replaces the container nor costs a request.
 * Services: the edge (HAProxy), Prometheus, Alertmanager.
 *
 *   node dist/tools/config-reload.js --service S --docker-container NAME [--docker-host H] \
 *       [--admin-tcp HOST:PORT] [--state-file P] [--metrics-url URL] [--auth-header-file P] \
 *       [--wait-seconds N] < files.json
 *   node dist/tools/config-reload.js --service S --pid PID [--socket PATH | --tcp HOST:PORT] \
 *       [--state-file P] [--metrics-url URL] [--auth-header-file P] < files.json (a local process, tests)
 *
 * --auth-header-file: Prometheus and Alertmanager behind a web config answer /metrics only with
 * a login: a file next to the service (in its container) holding `Authorization: Basic ...`,
 * read there, so the password is on no command line (renderers/web-config.ts).
 *
 * files.json on stdin (stdin, not argv: files may hold keys and webhook secrets), the main config
 * first: {"files": [{"path": "/usr/local/etc/haproxy/haproxy.cfg", "content": "..."}, ...]}
 *
 * Steps: stage every file next to its live one → nothing differs: "unchanged" → keep the live
 * files as `.prev`, move the staged ones in, run the service's own check (`haproxy -c`,
 * `promtool check config`, `amtool check-config`) → it fails: `.prev` goes back, exit 1 (the
 * service never saw the files) → HAProxy only: save `show servers state` (the traffic weights
 * survive) → signal the process (HAProxy master USR2, Prometheus and Alertmanager HUP; `docker
 * kill --signal` reaches it through the container's init) → wait until it runs the new files: a
 * new HAProxy worker answers the runtime API / the reload-success timestamp metric moves on.
 * A reload that fails or does not happen within --wait-seconds puts `.prev` back (and signals
 * again, so the service reloads what is on disk) and exits 1.
 *
 * The file steps are POSIX sh (the Prometheus images have busybox, not bash) and run in the
 * container as the owner of the config directory (`docker exec -u <uid>`): Docker's uploads are
 * root's, the directories may be the service user's, and the containers drop every capability.
 *
 * Output: one JSON object on stdout; progress on stderr. Exit codes: 0 ok, 1 error, 2 usage.
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { runWithInput } from "../lib/run-with-input";
import { EDGE_STATE_FILE } from "../renderers/haproxy-config";
import { withSwitchLock } from "./switch-lock";
import {
  dockerTransport,
  saveState,
  tcpTransport,
  unixTransport,
  UsageError,
  type RuntimeTransport,
} from "./traffic-switch";
import { shellQuote } from "../lib/shell-quote";

export const EXIT = { ok: 0, error: 1, usage: 2 } as const;
export const SERVICES = ["haproxy", "prometheus", "alertmanager"] as const;
export type Service = (typeof SERVICES)[number];

export interface ConfigFile {
  path: string;
  content: string;
}

/** Where the service runs: a shell next to its files, and its main process. */
export interface ServiceHost {
  readonly description: string;
  /** Runs a POSIX sh script with positional arguments and stdin; stdout, or a rejection on exit != 0. */
  script(body: string, args: string[], input?: string): Promise<string>;
  /** Sends a signal (USR2, HUP) to the service's main process. */
  signal(name: string): Promise<void>;
}

/** What differs between the services: their check, their signal and how a reload shows. */
interface Profile {
  check(mainConfig: string): string;
  signal: string;
  /** A value that changes when the service has loaded its config again. */
  marker(): Promise<string>;
  /** Whether the service reports the last reload as failed (it then keeps the old config). */
  reloadFailed(): Promise<boolean>;
  /** Runs after the check passed, before the signal. */
  prepare?(): Promise<void>;
}

/** Writes stdin to "$1" through a temp file next to it (mode 0644, like Docker's uploads). */
export const STAGE_SCRIPT = 'set -eu; umask 022; cat > "$1.tmp"; mv -f "$1.tmp" "$1"';

/**
 * "$1" = the check command, "$2"... = the live files (their `.next` staged). Prints `unchanged`
 * when no file differs and no earlier swap is left unfinished; otherwise keeps `.prev` (or an
 * `.absent` marker for a file that did not exist), swaps, runs the check and, when it fails,
 * puts the old files back and exits 65 with the check's output.
 */
export const SWAP_SCRIPT = `set -eu
check=$1; shift
changed=no
for f in "$@"; do
  cmp -s "$f.next" "$f" || changed=yes
  if [ -e "$f.prev" ] || [ -e "$f.absent" ]; then changed=yes; fi
done
if [ "$changed" = no ]; then
  for f in "$@"; do rm -f "$f.next"; done
  echo unchanged; exit 0
fi
for f in "$@"; do
  rm -f "$f.prev" "$f.absent"
  if [ -e "$f" ]; then cp "$f" "$f.prev"; else : > "$f.absent"; fi
done
for f in "$@"; do mv -f "$f.next" "$f"; done
if ! out=$(sh -c "$check" 2>&1); then
  for f in "$@"; do if [ -e "$f.absent" ]; then rm -f "$f" "$f.absent"; else mv -f "$f.prev" "$f"; fi; done
  printf '%s\\n' "$out" >&2; exit 65
fi
echo swapped`;

/** Puts the old files back (a reload that did not take): `.prev` over the file, `.absent` removes it. */
export const ROLLBACK_SCRIPT =
  'set -eu; for f in "$@"; do if [ -e "$f.absent" ]; then rm -f "$f" "$f.absent"; else mv -f "$f.prev" "$f"; fi; done';

/** After a reload took: no `.prev` / `.absent` left, so the next run knows no swap is pending. */
export const CLEANUP_SCRIPT = 'set -eu; for f in "$@"; do rm -f "$f.prev" "$f.absent"; done';

/** The worker pid the HAProxy runtime API answers from (`show info`). */
export async function workerPid(runtime: RuntimeTransport): Promise<number> {
  const info = await runtime.send("show info");
  const match = /^Pid: (\d+)$/m.exec(info);
  if (!match) throw new Error(`the runtime API's "show info" has no Pid line: ${info.slice(0, 200)}`);
  return Number(match[1]);
}

/**
 * Prints the page at "$1". "$2", when not empty, is a file holding the request's Authorization
 * header: read by the shell next to the service, it reaches wget without passing through this
 * CLI's or `docker exec`'s arguments.
 */
export const FETCH_SCRIPT =
  'set -eu; if [ -n "${2:-}" ]; then h=$(cat "$2"); exec wget -q -O - --header "$h" "$1"; fi; exec wget -q -O - "$1"';

/** One sample of a Prometheus-format metric page; NaN when absent. */
export function metricValue(page: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(page);
  return match ? Number(match[1]) : NaN;
}

function haproxyProfile(runtime: RuntimeTransport, stateFile: string): Profile {
  return {
    check: (cfg) => `haproxy -c -f ${shellQuote(cfg)}`,
    signal: "USR2",
    marker: async () => String(await workerPid(runtime)),
    // A failed HAProxy reload keeps the old worker: the marker then never moves.
    reloadFailed: () => Promise.resolve(false),
    prepare: async () => {
      await saveState(runtime, stateFile);
    },
  };
}

/** Prometheus and Alertmanager: `<prefix>_config_last_reload_success_timestamp_seconds` / `_successful`. */
function metricsProfile(
  host: ServiceHost,
  service: "prometheus" | "alertmanager",
  metricsUrl: string,
  authHeaderFile = "",
): Profile {
  const page = () => host.script(FETCH_SCRIPT, [metricsUrl, authHeaderFile]);
  return {
    check: (cfg) =>
      service === "prometheus"
        ? `promtool check config ${shellQuote(cfg)}`
        : `amtool check-config ${shellQuote(cfg)}`,
    signal: "HUP",
    marker: async () => {
      const value = metricValue(await page(), `${service}_config_last_reload_success_timestamp_seconds`);
      if (Number.isNaN(value))
        throw new Error(`${metricsUrl} has no ${service}_config_last_reload_success_timestamp_seconds`);
      return String(value);
    },
    reloadFailed: async () => metricValue(await page(), `${service}_config_last_reload_successful`) === 0,
  };
}

export interface ReloadOptions {
  waitSeconds: number;
  log?: (line: string) => void;
}

export interface ReloadResult {
  service: Service;
  action: "reloaded" | "unchanged";
  sha256: string;
  marker: string;
  previousMarker?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function applyAndReload(
  service: Service,
  host: ServiceHost,
  profile: Profile,
  files: ConfigFile[],
  options: ReloadOptions,
): Promise<ReloadResult> {
  const log = options.log ?? (() => undefined);
  const paths = files.map((f) => f.path);
  const sha256 = createHash("sha256").update(JSON.stringify(files)).digest("hex");
  const previousMarker = await profile.marker();

  for (const file of files) await host.script(STAGE_SCRIPT, [`${file.path}.next`], file.content);
  let swap: string;
  try {
    swap = (await host.script(SWAP_SCRIPT, [profile.check(paths[0]), ...paths])).trim();
  } catch (error) {
    throw new Error(
      `the new files do not pass ${service}'s check; ${service} keeps its configuration: ${(error as Error).message}`,
    );
  }
  if (swap === "unchanged") {
    log(`${host.description}: files unchanged (sha256 ${sha256.slice(0, 12)})`);
    return { service, action: "unchanged", sha256, marker: previousMarker };
  }

  try {
    // A failure reported before this reload (an earlier one) must not read as this one's.
    const failedBefore = await profile.reloadFailed().catch(() => false);
    await profile.prepare?.();
    log(`${host.description}: files valid, reloading (${profile.signal})`);
    await host.signal(profile.signal);
    const deadline = Date.now() + options.waitSeconds * 1000;
    for (;;) {
      const marker = await profile.marker().catch(() => previousMarker);
      if (marker !== previousMarker) {
        log(`${host.description}: runs the new files`);
        // Best effort: a leftover .prev only makes the next run reload once more.
        await host.script(CLEANUP_SCRIPT, paths).catch(() => undefined);
        return { service, action: "reloaded", sha256, marker, previousMarker };
      }
      if (!failedBefore && (await profile.reloadFailed().catch(() => false))) {
        throw new Error(`${service} reports the reload as failed (see its log)`);
      }
      if (Date.now() > deadline)
        throw new Error(`no reload within ${options.waitSeconds} s of the ${profile.signal} signal`);
      await sleep(200);
    }
  } catch (error) {
    const reason = (error as Error).message;
    try {
      await host.script(ROLLBACK_SCRIPT, paths);
    } catch (rollback) {
      // The new files stay on disk while the service runs the old ones; the .prev files left
      // behind make the next run reload instead of reporting "unchanged".
      throw new Error(
        `reload failed (${reason}) and the previous files could not be put back (${(rollback as Error).message}): ` +
          `${paths.join(", ")} hold the new files, ${service} still runs the old ones. Fix the files and run again.`,
      );
    }
    // The files on disk are the old ones again; have the service (re)load them.
    await host.signal(profile.signal).catch(() => undefined);
    throw new Error(`reload failed, the previous files are back in place: ${reason}`);
  }
}

export interface ReloadTarget {
  service: Service;
  host: ServiceHost;
  /** HAProxy: its runtime API and the server-state file. */
  runtime?: RuntimeTransport;
  stateFile?: string;
  /** Prometheus / Alertmanager: their /metrics URL as seen from the host's shell. */
  metricsUrl?: string;
  /** Prometheus / Alertmanager behind a web config: the host's file with the Authorization header. */
  authHeaderFile?: string;
}

export async function reloadService(
  target: ReloadTarget,
  files: ConfigFile[],
  options: ReloadOptions,
): Promise<ReloadResult> {
  let profile: Profile;
  if (target.service === "haproxy") {
    const runtime = target.runtime;
    if (!runtime)
      throw new UsageError("haproxy needs its runtime API (--socket, --tcp or --docker-container)");
    const stateFile = target.stateFile ?? EDGE_STATE_FILE;
    profile = haproxyProfile(runtime, stateFile);
    // The reload saves the weights for the new worker: a switch between that save and the reload
    // would be lost, so it holds the switch lock (tools/switch-lock.ts) like a switch does.
    return withSwitchLock(
      runtime,
      `${stateFile}.lock`,
      () => applyAndReload(target.service, target.host, profile, files, options),
      { log: options.log },
    );
  } else {
    profile = metricsProfile(
      target.host,
      target.service,
      target.metricsUrl ?? DEFAULT_METRICS_URL[target.service],
      target.authHeaderFile,
    );
  }
  return applyAndReload(target.service, target.host, profile, files, options);
}

const DEFAULT_METRICS_URL = {
  prometheus: "http://127.0.0.1:9090/metrics",
  alertmanager: "http://127.0.0.1:9093/metrics",
} as const;

/** Parses and checks stdin: a non-empty list of files with absolute, plain paths. */
export function parseFiles(text: string): ConfigFile[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `stdin: expected JSON {"files": [{"path", "content"}]}: ${(error as Error).message}`,
    );
  }
  const files = (value as { files?: unknown } | null)?.files;
  if (!Array.isArray(files) || files.length === 0 || files.length > 16) {
    throw new UsageError('stdin: "files" must be a list of 1 to 16 {"path", "content"} objects');
  }
  return files.map((file: unknown, i) => {
    const { path, content } = (file ?? {}) as Record<string, unknown>;
    if (typeof path !== "string" || !/^\/[A-Za-z0-9._/-]+$/.test(path) || path.split("/").includes("..")) {
      throw new UsageError(
        `stdin: files[${i}].path must be an absolute path of letters, digits, . _ - /, got ${JSON.stringify(path)}`,
      );
    }
    if (typeof content !== "string" || content.trim() === "") {
      throw new UsageError(`stdin: files[${i}].content (${path}) must be a non-empty string`);
    }
    return { path, content };
  });
}

/** The container's service: file steps as the config directory's owner, signals through Docker. */
export function dockerServiceHost(container: string, configDir: string, dockerHost?: string): ServiceHost {
  const docker = (args: string[], input?: string) =>
    runWithInput("docker", [...(dockerHost ? ["-H", dockerHost] : []), ...args], {
      input,
      timeoutMs: 60_000,
    });
  let owner: Promise<string> | undefined;
  const ownerUid = () =>
    (owner ??= docker(["exec", container, "stat", "-c", "%u", configDir]).then((uid) => {
      if (!/^\d+$/.test(uid.trim()))
        throw new Error(`cannot tell the owner of ${configDir} in ${container}: ${uid}`);
      return uid.trim();
    }));
  return {
    description: `container ${container}`,
    script: async (body, args, input) =>
      docker(
        ["exec", "-i", "-u", await ownerUid(), container, "sh", "-c", body, "config-reload", ...args],
        input,
      ),
    signal: async (name) => {
      await docker(["kill", "--signal", name, container]);
    },
  };
}

export function localServiceHost(pid: number): ServiceHost {
  return {
    description: `local process ${pid}`,
    script: (body, args, input) =>
      runWithInput("sh", ["-c", body, "config-reload", ...args], { input, timeoutMs: 60_000 }),
    signal: (name) => {
      process.kill(pid, `SIG${name}` as NodeJS.Signals);
      return Promise.resolve();
    },
  };
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

export interface CliOptions {
  service: Service;
  waitSeconds: number;
  stateFile?: string;
  metricsUrl?: string;
  authHeaderFile?: string;
  /** A container, or a local process. */
  docker?: { container: string; dockerHost?: string; adminTcp?: string };
  local?: { pid: number; runtime?: RuntimeTransport };
}

export function parseCli(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      service: { type: "string" },
      "docker-container": { type: "string" },
      "docker-host": { type: "string" },
      "admin-tcp": { type: "string" },
      pid: { type: "string" },
      socket: { type: "string" },
      tcp: { type: "string" },
      "state-file": { type: "string" },
      "metrics-url": { type: "string" },
      "auth-header-file": { type: "string" },
      "wait-seconds": { type: "string" },
    },
  });
  const service = values.service as Service | undefined;
  if (!service || !SERVICES.includes(service)) {
    throw new UsageError(
      `--service: expected one of ${SERVICES.join(", ")}, got ${JSON.stringify(values.service)}`,
    );
  }
  const wait = values["wait-seconds"] ?? "30";
  if (!/^\d+$/.test(wait) || Number(wait) < 1 || Number(wait) > 600) {
    throw new UsageError(`--wait-seconds: expected whole seconds from 1 to 600, got ${JSON.stringify(wait)}`);
  }
  const stateFile = values["state-file"];
  if (stateFile !== undefined && !stateFile.startsWith("/")) {
    throw new UsageError(`--state-file: expected an absolute path, got ${JSON.stringify(stateFile)}`);
  }
  const metricsUrl = values["metrics-url"];
  if (metricsUrl !== undefined && !/^https?:\/\/[^\s'"]+$/.test(metricsUrl)) {
    throw new UsageError(`--metrics-url: expected an http(s) URL, got ${JSON.stringify(metricsUrl)}`);
  }
  const authHeaderFile = values["auth-header-file"];
  if (authHeaderFile !== undefined && !/^\/[A-Za-z0-9._/-]+$/.test(authHeaderFile)) {
    throw new UsageError(
      `--auth-header-file: expected an absolute path of letters, digits, . _ - /, got ${JSON.stringify(authHeaderFile)}`,
    );
  }
  if (service !== "haproxy" && (values.socket || values.tcp || values["admin-tcp"] || stateFile)) {
    throw new UsageError("--socket, --tcp, --admin-tcp and --state-file are for --service haproxy");
  }
  if (service === "haproxy" && (metricsUrl || authHeaderFile))
    throw new UsageError("--metrics-url and --auth-header-file are for prometheus and alertmanager");

  const container = values["docker-container"];
  const pid = values.pid;
  if ((container === undefined) === (pid === undefined)) {
    throw new UsageError("give exactly one of --docker-container NAME or --pid PID (a local process)");
  }
  const common = { service, waitSeconds: Number(wait), stateFile, metricsUrl, authHeaderFile };
  if (container !== undefined) {
    if (values.socket || values.tcp)
      throw new UsageError("--socket/--tcp are for a local HAProxy, not --docker-container");
    return {
      ...common,
      docker: { container, dockerHost: values["docker-host"], adminTcp: values["admin-tcp"] },
    };
  }
  // Not 0: kill(0, ...) signals every process in our own group.
  if (!/^[1-9]\d*$/.test(pid as string))
    throw new UsageError(`--pid: expected a process id (1 or more), got ${JSON.stringify(pid)}`);
  let runtime: RuntimeTransport | undefined;
  if (service === "haproxy") {
    if (Boolean(values.socket) === Boolean(values.tcp)) {
      throw new UsageError(
        "--service haproxy with --pid needs exactly one of --socket PATH or --tcp HOST:PORT",
      );
    }
    runtime = values.socket ? unixTransport(values.socket) : tcpTransport(values.tcp as string);
  }
  return { ...common, local: { pid: Number(pid), runtime } };
}

/** The target for the parsed options; a container's file steps run as the owner of the main config's directory. */
export function targetFor(cli: CliOptions, files: ConfigFile[]): ReloadTarget {
  const { service, stateFile, metricsUrl, authHeaderFile } = cli;
  if (cli.docker) {
    const { container, dockerHost, adminTcp } = cli.docker;
    return {
      service,
      host: dockerServiceHost(container, dirOf(files[0].path), dockerHost),
      runtime: service === "haproxy" ? dockerTransport(container, adminTcp, dockerHost) : undefined,
      stateFile,
      metricsUrl,
      authHeaderFile,
    };
  }
  const local = cli.local as { pid: number; runtime?: RuntimeTransport };
  return {
    service,
    host: localServiceHost(local.pid),
    runtime: local.runtime,
    stateFile,
    metricsUrl,
    authHeaderFile,
  };
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (c: string) => (text += c));
    process.stdin.on("end", () => resolve(text));
    process.stdin.on("error", reject);
  });
}

export async function main(argv: string[]): Promise<number> {
  try {
    const cli = parseCli(argv);
    const files = parseFiles(await readStdin());
    const result = await reloadService(targetFor(cli, files), files, {
      waitSeconds: cli.waitSeconds,
      log: (l) => console.error(l),
    });
    console.log(JSON.stringify(result));
    return EXIT.ok;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`config-reload: ${message}`);
    const usage =
      error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    return usage ? EXIT.usage : EXIT.error;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
