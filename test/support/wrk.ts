/**
 * wrk for load tests and benchmarks: run it in the background and parse what it prints.
 *
 * wrk counts 3xx as success and prints `Socket errors:` / `Non-2xx or 3xx responses:` only when
 * there are some, so the tests also load a Lua script (`COUNTING_SCRIPT`) that counts non-2xx
 * responses and the `x-backend-colour` header of every response, summed over all threads.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { which } from "./tools";

export const COUNTING_SCRIPT = `
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  non2xx = 0; blue = 0; green = 0; other = 0
end
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  local colour = headers["x-backend-colour"]
  if colour == "blue" then blue = blue + 1
  elseif colour == "green" then green = green + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local n, b, g, o = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    n = n + t:get("non2xx"); b = b + t:get("blue"); g = g + t:get("green"); o = o + t:get("other")
  end
  io.write(string.format("COUNTS non2xx=%d blue=%d green=%d other=%d\\n", n, b, g, o))
end
`;

export interface WrkResult {
  requests: number;
  durationSeconds: number;
  requestsPerSecond: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** wrk's own count of responses that were not 2xx or 3xx. */
  non2xx3xx: number;
  /** Latency percentiles in milliseconds (with --latency). */
  latencyMs: { p50?: number; p75?: number; p90?: number; p99?: number };
  /** From COUNTING_SCRIPT, when it was used. */
  counts?: { non2xx: number; blue: number; green: number; other: number };
  raw: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseDurationMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new Error(`cannot parse wrk duration "${text}"`);
  return Number(match[1]) * UNIT_MS[match[2]];
}

/** Parses wrk 4.x output. Throws when the summary line is missing (wrk failed). */
export function parseWrk(output: string): WrkResult {
  const summary = /(\d+) requests in ([\d.]+)(us|ms|s|m|h),/.exec(output);
  if (!summary) throw new Error(`wrk output has no "N requests in T" line:\n${output}`);
  const requests = Number(summary[1]);
  const durationSeconds = (Number(summary[2]) * UNIT_MS[summary[3]]) / 1000;
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const latencyMs: WrkResult["latencyMs"] = {};
  const dist = output.split("Latency Distribution")[1];
  if (dist) {
    for (const [pct, key] of [
      ["50", "p50"],
      ["75", "p75"],
      ["90", "p90"],
      ["99", "p99"],
    ] as const) {
      const m = new RegExp(`^\\s+${pct}%\\s+(\\S+)`, "m").exec(dist);
      if (m) latencyMs[key] = parseDurationMs(m[1]);
    }
  }
  const c = /COUNTS non2xx=(\d+) blue=(\d+) green=(\d+) other=(\d+)/.exec(output);
  return {
    requests,
    durationSeconds,
    requestsPerSecond: rps ? Number(rps[1]) : requests / durationSeconds,
    socketErrors: socket
      ? { connect: +socket[1], read: +socket[2], write: +socket[3], timeout: +socket[4] }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx3xx: non ? Number(non[1]) : 0,
    latencyMs,
    counts: c ? { non2xx: +c[1], blue: +c[2], green: +c[3], other: +c[4] } : undefined,
    raw: output,
  };
}

export interface WrkOptions {
  url: string;
  durationSeconds: number;
  connections: number;
  threads?: number;
  /** Send `Connection: close` (a new connection, and TLS handshake, per request). */
  close?: boolean;
  /** Print the latency distribution. */
  latency?: boolean;
  /** Count non-2xx and colours with COUNTING_SCRIPT (written to `scriptDir`). */
  countIn?: string;
  /**
   * Send this instead of a GET (needs `countIn`: set in the same script). Headers and body are
   * ASCII.
   */
  request?: { method: string; body?: string; headers?: Record<string, string> };
  /** Request timeout, seconds. Default 5. */
  timeoutSeconds?: number;
  /**
   * Ends the run early once this settles (SIGINT: wrk stops and prints its summary, the
   * counting script's included); `durationSeconds` is then the upper bound.
   */
  stopWhen?: Promise<unknown>;
}

/** Lua that makes every wrk request `request` (JSON strings are Lua string literals for ASCII). */
export function requestLua(request: WrkOptions["request"]): string {
  if (!request) return "";
  const lua = (text: string) => {
    if (!/^[\x20-\x7e]*$/.test(text))
      throw new Error(`runWrk: request text must be printable ASCII: ${text}`);
    return JSON.stringify(text);
  };
  return [
    `wrk.method = ${lua(request.method)}`,
    ...(request.body !== undefined ? [`wrk.body = ${lua(request.body)}`] : []),
    ...Object.entries(request.headers ?? {}).map(
      ([name, value]) => `wrk.headers[${lua(name)}] = ${lua(value)}`,
    ),
    "",
  ].join("\n");
}

/** Starts wrk; the promise resolves with the parsed result when it exits. */
export function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${options.threads ?? 2}`,
    `-c${options.connections}`,
    `-d${options.durationSeconds}s`,
    `--timeout`,
    `${options.timeoutSeconds ?? 5}s`,
  ];
  if (options.latency) args.push("--latency");
  if (options.close) args.push("-H", "Connection: close");
  if (options.request && !options.countIn) throw new Error("runWrk: request needs countIn (its script)");
  if (options.countIn) {
    const script = join(options.countIn, "count.lua");
    writeFileSync(script, `${requestLua(options.request)}${COUNTING_SCRIPT}`);
    args.push("-s", script);
  }
  args.push(options.url);
  return new Promise((resolve, reject) => {
    const child = spawn(which("wrk") ?? "wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const limit = setTimeout(() => child.kill("SIGKILL"), (options.durationSeconds + 30) * 1000);
    const stop = () => {
      if (child.exitCode === null && child.pid !== undefined) child.kill("SIGINT");
    };
    options.stopWhen?.then(stop, stop);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(limit);
      if (code !== 0) reject(new Error(`wrk ${args.join(" ")} exited ${code}:\n${out}`));
      else {
        try {
          resolve(parseWrk(out));
        } catch (error) {
          reject(error as Error);
        }
      }
    });
  });
}
