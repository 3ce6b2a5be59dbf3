/**
 * edge-reload: applies a new haproxy.cfg and TLS certificate to the RUNNING edge and reloads
 * HAProxy in place, so a config change or a certificate renewal costs no request.
 *
 *   node dist/tools/edge-reload.js --docker-container NAME [--docker-host H] [--admin-tcp HOST:PORT] \
 *       [--config-path P] [--cert-path P] [--state-file P] [--wait-seconds N] < input.json
 *   node dist/tools/edge-reload.js --master-pid PID --socket PATH --config-path P --cert-path P \
 *       --state-file P < input.json                                    (a local HAProxy, tests)
 *
 * input.json on stdin (stdin, not argv, because the certificate holds the private key):
 *   {"config": "<haproxy.cfg>", "certificate": "<PEM: chain + key>"}
 *
 * Steps: stage both files next to the live ones → nothing differs: exit "unchanged" → keep the
 * live files as `.prev`, move the staged ones in, `haproxy -c` → invalid: put `.prev` back, exit 1
 * (HAProxy never saw the bad files) → save `show servers state` to the server-state file (the
 * traffic weights survive the reload) → SIGUSR2 to the master (the official image runs
 * `haproxy -W`, master-worker; `docker kill --signal` reaches it through the container's init)
 * → wait until the runtime API answers from a new worker. The old worker finishes its open
 * requests; the listeners are handed over (`expose-fd listeners`), so no connection is refused.
 * No new worker within --wait-seconds: `.prev` goes back and the exit is 1 (the master keeps
 * the old worker when a reload fails).
 *
 * In the container the file steps run as root (`docker exec -u 0`): Docker uploads the files as
 * root, and the edge runs as the haproxy user. Runtime API calls run as the container's user.
 *
 * Output: one JSON object on stdout; progress on stderr. Exit codes: 0 ok, 1 error, 2 usage.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { EDGE_CERT_PATH, EDGE_CONFIG_DIR, EDGE_STATE_FILE } from "../renderers/haproxy-config";
import {
  dockerTransport,
  saveState,
  tcpTransport,
  unixTransport,
  UsageError,
  type RuntimeTransport,
} from "./traffic-switch";

export const EXIT = { ok: 0, error: 1, usage: 2 } as const;
const DEFAULT_CONFIG_PATH = `${EDGE_CONFIG_DIR}/haproxy.cfg`;

/** Where the edge runs: its runtime API, a shell that may write its config files, its master. */
export interface EdgeHost {
  readonly description: string;
  readonly runtime: RuntimeTransport;
  /** Runs a bash script with positional arguments and stdin; resolves to stdout, rejects on exit != 0. */
  script(body: string, args: string[], input?: string): Promise<string>;
  /** Asks the HAProxy master to reload (SIGUSR2). */
  signalReload(): Promise<void>;
}

export interface ReloadInput {
  config: string;
  certificate: string;
}

export interface ReloadOptions {
  configPath: string;
  certPath: string;
  stateFile: string;
  waitSeconds: number;
  log?: (line: string) => void;
}

export interface ReloadResult {
  action: "reloaded" | "unchanged";
  configSha256: string;
  workerPid?: number;
  previousWorkerPid?: number;
}

/** Writes stdin to "$1" through a temp file, with the mode of the live file "$2" (0644 when new). */
export const STAGE_SCRIPT =
  'set -euo pipefail; umask 022; cat > "$1.tmp"; if [[ -e $2 ]]; then chmod --reference="$2" "$1.tmp"; fi; mv -f "$1.tmp" "$1"';

/**
 * Swaps the staged files in when they differ and validates them with `haproxy -c`: prints
 * `unchanged` or `swapped`; on an invalid config puts the previous files back and exits 65.
 */
export const SWAP_SCRIPT = `set -euo pipefail
cfg=$1 cert=$2
if cmp -s "$cfg.next" "$cfg" && cmp -s "$cert.next" "$cert"; then
  rm -f "$cfg.next" "$cert.next"; echo unchanged; exit 0
fi
cp -p "$cfg" "$cfg.prev"; cp -p "$cert" "$cert.prev"
mv -f "$cert.next" "$cert"; mv -f "$cfg.next" "$cfg"
if ! out=$(haproxy -c -q -f "$cfg" 2>&1); then
  mv -f "$cfg.prev" "$cfg"; mv -f "$cert.prev" "$cert"
  printf '%s\\n' "$out" >&2; exit 65
fi
echo swapped`;

/** Puts the `.prev` files back (a reload that did not take). */
export const ROLLBACK_SCRIPT = 'set -euo pipefail; mv -f "$1.prev" "$1"; mv -f "$2.prev" "$2"';

/** The worker pid the runtime API answers from (`show info`). */
export async function workerPid(runtime: RuntimeTransport): Promise<number> {
  const info = await runtime.send("show info");
  const match = /^Pid: (\d+)$/m.exec(info);
  if (!match) throw new Error(`the runtime API's "show info" has no Pid line: ${info.slice(0, 200)}`);
  return Number(match[1]);
}

export function parseInput(text: string): ReloadInput {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`stdin: expected JSON {"config", "certificate"}: ${(error as Error).message}`);
  }
  const record = (value ?? {}) as Record<string, unknown>;
  for (const key of ["config", "certificate"]) {
    if (typeof record[key] !== "string" || (record[key] as string).trim() === "") {
      throw new UsageError(`stdin: "${key}" must be a non-empty string`);
    }
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(record.certificate as string)) {
    throw new UsageError('stdin: "certificate" must hold the PEM chain followed by its private key');
  }
  return { config: record.config as string, certificate: record.certificate as string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function reloadEdge(
  host: EdgeHost,
  input: ReloadInput,
  options: ReloadOptions,
): Promise<ReloadResult> {
  const log = options.log ?? (() => undefined);
  const configSha256 = createHash("sha256").update(input.config).digest("hex");
  const { configPath, certPath } = options;
  const previousWorkerPid = await workerPid(host.runtime);

  await host.script(STAGE_SCRIPT, [`${configPath}.next`, configPath], input.config);
  await host.script(STAGE_SCRIPT, [`${certPath}.next`, certPath], input.certificate);
  let swap: string;
  try {
    swap = (await host.script(SWAP_SCRIPT, [configPath, certPath])).trim();
  } catch (error) {
    throw new Error(
      `the new haproxy.cfg does not pass "haproxy -c"; the edge keeps its configuration: ${(error as Error).message}`,
    );
  }
  if (swap === "unchanged") {
    log(`${host.description}: config and certificate unchanged (sha256 ${configSha256.slice(0, 12)})`);
    return { action: "unchanged", configSha256, workerPid: previousWorkerPid };
  }

  try {
    await saveState(host.runtime, options.stateFile);
    log(`${host.description}: config valid, server state saved, reloading worker ${previousWorkerPid}`);
    await host.signalReload();
    const deadline = Date.now() + options.waitSeconds * 1000;
    for (;;) {
      const pid = await workerPid(host.runtime).catch(() => previousWorkerPid);
      if (pid !== previousWorkerPid) {
        log(`${host.description}: worker ${pid} serves the new config`);
        return { action: "reloaded", configSha256, workerPid: pid, previousWorkerPid };
      }
      if (Date.now() > deadline) {
        throw new Error(`no new HAProxy worker within ${options.waitSeconds} s of the reload signal`);
      }
      await sleep(200);
    }
  } catch (error) {
    await host.script(ROLLBACK_SCRIPT, [configPath, certPath]).catch((rollback: Error) => {
      log(`could not put the previous files back: ${rollback.message}`);
    });
    throw new Error(
      `reload failed, the previous haproxy.cfg and certificate are back in place: ${(error as Error).message}`,
    );
  }
}

function spawnCollect(
  cmd: string,
  args: string[],
  input: string | undefined,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${error.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} exited ${code}: ${err.trim() || out.trim()}`));
    });
    child.stdin.end(input ?? "");
  });
}

export function dockerEdgeHost(container: string, adminTcp?: string, dockerHost?: string): EdgeHost {
  const hostArgs = dockerHost ? ["-H", dockerHost] : [];
  return {
    description: `edge container ${container}`,
    runtime: dockerTransport(container, adminTcp, dockerHost),
    script: (body, args, input) =>
      spawnCollect(
        "docker",
        [...hostArgs, "exec", "-i", "-u", "0", container, "bash", "-c", body, "edge-reload", ...args],
        input,
        60_000,
      ),
    signalReload: async () => {
      await spawnCollect("docker", [...hostArgs, "kill", "--signal", "USR2", container], undefined, 30_000);
    },
  };
}

export function localEdgeHost(runtime: RuntimeTransport, masterPid: number): EdgeHost {
  return {
    description: `local HAProxy (master ${masterPid})`,
    runtime,
    script: (body, args, input) => spawnCollect("bash", ["-c", body, "edge-reload", ...args], input, 60_000),
    signalReload: () => {
      process.kill(masterPid, "SIGUSR2");
      return Promise.resolve();
    },
  };
}

export function parseCli(argv: string[]): { host: EdgeHost; options: ReloadOptions } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      "docker-container": { type: "string" },
      "docker-host": { type: "string" },
      "admin-tcp": { type: "string" },
      "master-pid": { type: "string" },
      socket: { type: "string" },
      tcp: { type: "string" },
      "config-path": { type: "string" },
      "cert-path": { type: "string" },
      "state-file": { type: "string" },
      "wait-seconds": { type: "string" },
    },
  });
  const wait = values["wait-seconds"] ?? "30";
  if (!/^\d+$/.test(wait) || Number(wait) < 1 || Number(wait) > 600) {
    throw new UsageError(`--wait-seconds: expected whole seconds from 1 to 600, got ${JSON.stringify(wait)}`);
  }
  const paths = {
    configPath: values["config-path"] ?? DEFAULT_CONFIG_PATH,
    certPath: values["cert-path"] ?? EDGE_CERT_PATH,
    stateFile: values["state-file"] ?? EDGE_STATE_FILE,
  };
  for (const [flag, path] of [
    ["--config-path", paths.configPath],
    ["--cert-path", paths.certPath],
    ["--state-file", paths.stateFile],
  ]) {
    if (!path.startsWith("/"))
      throw new UsageError(`${flag}: expected an absolute path, got ${JSON.stringify(path)}`);
  }
  const options = { ...paths, waitSeconds: Number(wait) };

  const container = values["docker-container"];
  const masterPid = values["master-pid"];
  if ((container === undefined) === (masterPid === undefined)) {
    throw new UsageError("give exactly one of --docker-container NAME or --master-pid PID (a local HAProxy)");
  }
  if (container !== undefined) {
    if (values.socket || values.tcp)
      throw new UsageError("--socket/--tcp are for a local HAProxy, not --docker-container");
    return { host: dockerEdgeHost(container, values["admin-tcp"], values["docker-host"]), options };
  }
  if (!/^\d+$/.test(masterPid as string)) {
    throw new UsageError(`--master-pid: expected a process id, got ${JSON.stringify(masterPid)}`);
  }
  if (Boolean(values.socket) === Boolean(values.tcp)) {
    throw new UsageError("with --master-pid give exactly one of --socket PATH or --tcp HOST:PORT");
  }
  const runtime = values.socket ? unixTransport(values.socket) : tcpTransport(values.tcp as string);
  return { host: localEdgeHost(runtime, Number(masterPid)), options };
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
    const { host, options } = parseCli(argv);
    const input = parseInput(await readStdin());
    const result = await reloadEdge(host, input, { ...options, log: (l) => console.error(l) });
    console.log(JSON.stringify(result));
    return EXIT.ok;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`edge-reload: ${message}`);
      return EXIT.usage;
    }
    console.error(`edge-reload: ${message}`);
    return EXIT.error;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
