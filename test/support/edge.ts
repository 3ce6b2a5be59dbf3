/**
 * Support for the edge's real-daemon tests (test/l5/edge-traffic-switch.test.ts): extra HAProxy
 * instances with the rendered config, clients that misbehave the way an attacker or a broken
 * network does (a body trickled byte by byte, a connection that never says anything, a TLS
 * handshake that never finishes), and a small HTTP server that counts what reaches it and can
 * stall or drop a request, for checks the example backend cannot make (how many times a request
 * arrived, how many ran at once).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { request as httpsRequestRaw } from "node:https";
import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { connect as http2Connect } from "node:http2";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderHaproxyConfig, type HaproxyConfigInput } from "../../renderers/haproxy-config";
import { unixTransport, type RuntimeTransport } from "../../tools/traffic-switch";
import { freePort, startDaemon, waitFor, type Daemon } from "./tools";

export interface EdgeInstance {
  name: string;
  ports: { http: number; https: number; metrics: number };
  /** https://127.0.0.1:<https port> */
  url: string;
  admin: RuntimeTransport;
  config: string;
  daemon: Daemon;
  /** `show stat` as rows of name -> value (every CSV column), for proxy `pxname`. */
  statRows(pxname?: string): Promise<Record<string, string>[]>;
  stop(): Promise<void>;
}

/**
 * Starts one more HAProxy on fresh loopback ports with `renderHaproxyConfig(base + overrides)`
 * (own admin socket and state file in `dir`) and waits until its admin socket answers.
 */
export async function startEdge(
  dir: string,
  name: string,
  base: HaproxyConfigInput,
  overrides: Partial<HaproxyConfigInput>,
): Promise<EdgeInstance> {
  const ports = { http: await freePort(), https: await freePort(), metrics: await freePort() };
  const adminSocketPath = join(dir, `${name}.sock`);
  const config = renderHaproxyConfig({
    ...base,
    adminTcpPort: undefined,
    ...overrides,
    httpPort: ports.http,
    httpsPort: ports.https,
    publicHttpsPort: undefined,
    metrics: { bindAddress: "127.0.0.1", port: ports.metrics },
    adminSocketPath,
    serverStateFile: join(dir, `${name}-state`),
  });
  const file = join(dir, `${name}.cfg`);
  writeFileSync(file, config);
  const daemon = startDaemon("haproxy", ["-db", "-f", file]);
  const admin = unixTransport(adminSocketPath);
  await waitFor(`haproxy ${name}`, async () => {
    if (daemon.process.exitCode !== null) throw new Error(`haproxy ${name} exited: ${daemon.output()}`);
    return (await admin.send("show info")).includes("Name: HAProxy");
  });
  const statRows = async (pxname = "app") => {
    const lines = (await admin.send("show stat")).split("\n").filter((l) => l.trim() !== "");
    const header = (lines.find((l) => l.startsWith("# ")) ?? "").slice(2).split(",");
    return lines
      .filter((l) => !l.startsWith("#"))
      .map((l) => Object.fromEntries(l.split(",").map((v, i) => [header[i], v])))
      .filter((row) => row.pxname === pxname);
  };
  return {
    name,
    ports,
    url: `https://127.0.0.1:${ports.https}`,
    admin,
    config,
    daemon,
    statRows,
    stop: () => daemon.stop("SIGTERM"),
  };
}

/** Sum of a numeric `show stat` column over the server rows (not FRONTEND/BACKEND). */
export function serverSum(rows: Record<string, string>[], field: string): number {
  return rows
    .filter((r) => r.svname !== "FRONTEND" && r.svname !== "BACKEND")
    .reduce((sum, r) => sum + Number(r[field] || 0), 0);
}

export interface ClientOutcome {
  /** Status of the response the edge sent, if any (408 for a request that took too long). */
  status?: number;
  /** Milliseconds from connecting until the edge closed the connection. */
  closedAfterMs: number;
  /** True when the test's own cap ended the connection, not the edge. */
  cappedByTest: boolean;
}

function statusOf(text: string): number | undefined {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * A client that sends a request's head at once and then its body one byte every
 * `intervalMs`, over TLS (HTTP/1.1) to 127.0.0.1:`port`; resolves when the edge closes the
 * connection, or after `capMs` (then `cappedByTest`).
 */
export function trickleBody(options: {
  port: number;
  path: string;
  body: string;
  intervalMs: number;
  capMs: number;
}): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    let received = "";
    let sent = 0;
    let capped = false;
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: options.port,
      servername: "localhost",
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
    const timer = setInterval(() => {
      if (sent < options.body.length && socket.writable) socket.write(options.body[sent++]);
    }, options.intervalMs);
    const cap = setTimeout(() => {
      capped = true;
      socket.destroy();
    }, options.capMs);
    socket.on("secureConnect", () => {
      socket.write(
        `POST ${options.path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(options.body)}\r\n\r\n`,
      );
    });
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(timer);
      clearTimeout(cap);
      resolve({ status: statusOf(received), closedAfterMs: Date.now() - started, cappedByTest: capped });
    });
  });
}

/**
 * A connection that sends nothing useful before its first request:
 * - `tcp`: connects and says nothing (on a TLS port: not even a ClientHello);
 * - `partial-hello`: the first bytes of a TLS ClientHello, never the rest (a stalled handshake);
 * - `tls-h1` / `tls-h2`: finishes the TLS handshake (ALPN http/1.1 or h2) and sends no request.
 * Resolves when the edge closes it, or after `capMs`.
 */
export function idleConnection(options: {
  port: number;
  mode: "tcp" | "partial-hello" | "tls-h1" | "tls-h2";
  capMs: number;
}): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    let received = "";
    let capped = false;
    let socket: Socket;
    if (options.mode === "tcp" || options.mode === "partial-hello") {
      socket = tcpConnect(options.port, "127.0.0.1", () => {
        // TLS record header (handshake, TLS 1.0 record version, 512 bytes) + ClientHello type.
        if (options.mode === "partial-hello") socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
      });
    } else {
      socket = tlsConnect({
        host: "127.0.0.1",
        port: options.port,
        servername: "localhost",
        rejectUnauthorized: false,
        ALPNProtocols: [options.mode === "tls-h2" ? "h2" : "http/1.1"],
      });
    }
    const cap = setTimeout(() => {
      capped = true;
      socket.destroy();
    }, options.capMs);
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(cap);
      resolve({ status: statusOf(received), closedAfterMs: Date.now() - started, cappedByTest: capped });
    });
  });
}

/** One HTTP/2 GET over TLS; resolves with its status (for a slow response through the edge). */
export function http2Get(port: number, path: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://127.0.0.1:${port}`, {
      rejectUnauthorized: false,
      servername: "localhost",
    });
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`h2 GET ${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    session.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    const req = session.request({ ":path": path, ":method": "GET" });
    req.on("response", (headers) => {
      req.resume();
      req.on("end", () => {
        clearTimeout(timer);
        session.close();
        resolve(Number(headers[":status"]));
      });
    });
    req.end();
  });
}

/**
 * A tiny backend that counts every request that reaches it (`METHOD /path`) and how many ran
 * at once. `GET /health` answers 200 (HAProxy's check; not counted). `/slow?ms=N` answers 200
 * after N ms; `/drop` closes the connection without answering (a replica that crashed in the
 * middle of the request) unless `answerDrop`; anything else answers 200 at once.
 */
export interface ProbeServer {
  port: number;
  /** Requests seen, by `METHOD /path`. */
  count(key: string): number;
  /** Most requests in progress at the same time since the last `reset`. */
  maxInFlight(): number;
  reset(): void;
  /** Stops listening and closes every connection (HAProxy then gets "connection refused"). */
  close(): Promise<void>;
}

export async function startProbeServer(options: { answerDrop?: boolean } = {}): Promise<ProbeServer> {
  const counts = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://probe");
    req.resume();
    if (url.pathname === "/health") {
      res.end("ok");
      return;
    }
    const key = `${req.method} ${url.pathname}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const done = () => {
      inFlight--;
    };
    req.on("end", () => {
      if (url.pathname === "/drop" && !options.answerDrop) {
        done();
        req.socket.destroy();
        return;
      }
      const ms = url.pathname === "/slow" ? Number(url.searchParams.get("ms") ?? 0) : 0;
      setTimeout(() => {
        done();
        if (!res.destroyed) res.end("ok");
      }, ms);
    });
  };
  const server: Server = createServer(handle);
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    port,
    count: (key) => counts.get(key) ?? 0,
    maxInFlight: () => maxInFlight,
    reset() {
      counts.clear();
      maxInFlight = inFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** One HTTPS request with Node's client (a new connection each time); status and headers. */
export function httpsRequest(
  url: string,
  options: { method?: string; body?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = httpsRequestRaw(
      url,
      {
        method: options.method ?? "GET",
        rejectUnauthorized: false,
        servername: "localhost",
        agent: false,
        headers: {
          ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: Date.now() - started }),
        );
      },
    );
    req.setTimeout(options.timeoutMs ?? 15_000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.on("error", reject);
    req.end(options.body);
  });
}
