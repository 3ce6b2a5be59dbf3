/**
 * Latency the edge adds: p50/p99 of GET /ping through HAProxy 2.6 (the rendered config: TLS
 * termination, rate-limit stick table, security headers, health-checked backend) against the same
 * request sent straight to the backend, measured in the same run with wrk --latency. The two are
 * interleaved (direct, edge, direct, edge, ...) so load from other processes falls on both alike;
 * each figure is the median over the rounds.
 *
 * Backend: the example NestJS app (examples/backend, on a real PostgreSQL + Redis) when it is
 * built, else a minimal Node HTTP server (the result notes which one ran).
 * Target (issue 4): added p99 <= 1 ms at moderate load. wrk is closed-loop (no fixed rate), so
 * "load" is the number of keep-alive connections: 1 (one request in flight: moderate) and 4 (the
 * backend saturated on these 2-core machines: queueing dominates p99). Both are reported.
 * Environment: BENCH_EDGE_SECONDS (per run, default 5), BENCH_EDGE_ROUNDS (default 5),
 * BENCH_EDGE_CONNECTIONS (comma list, default "1,4").
 */
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { renderHaproxyConfig } from "../../renderers/haproxy-config";
import { startBackendApp, startBackendDeps, type BackendApp, type BackendDeps } from "../support/backend-app";
import { freePort, removeDir, startDaemon, tempDir, waitFor, type Daemon } from "../support/tools";
import { selfSignedCert } from "../support/tls";
import { runWrk, type WrkResult } from "../support/wrk";
import type { BenchResult } from "./types";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The repository root, from the source tree or from dist/ (compiled benchmarks). */
function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "examples", "backend", "package.json"))) return dir;
    dir = dirname(dir);
  }
  if (existsSync(join(process.cwd(), "examples", "backend", "package.json"))) return process.cwd();
  throw new Error(`cannot find the repository root above ${__dirname} or in ${process.cwd()}`);
}

interface Upstream {
  url: string;
  kind: string;
  stop(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const appDir = join(repoRoot(), "examples", "backend");
  if (existsSync(join(appDir, "dist", "main.js"))) {
    const deps: BackendDeps = await startBackendDeps();
    let app: BackendApp;
    try {
      app = await startBackendApp({
        appDir,
        colour: "blue",
        databaseUrl: deps.databaseUrl,
        redisUrl: deps.redisUrl,
      });
    } catch (error) {
      await deps.destroy();
      throw error;
    }
    return {
      url: app.url,
      kind: "examples/backend (NestJS) GET /ping",
      async stop() {
        await app.stop();
        await deps.destroy();
      },
    };
  }
  const port = await freePort();
  const server = startDaemon(process.execPath, [
    "-e",
    `require("node:http").createServer((q, s) => { s.setHeader("x-backend-colour", "blue"); s.end("{}"); })
       .listen(${port}, "127.0.0.1", () => console.log("listening"));`,
  ]);
  await waitFor("the fallback backend", () => server.output().includes("listening"));
  return {
    url: `http://127.0.0.1:${port}`,
    kind: "minimal Node http server (examples/backend not built)",
    stop: () => server.stop(),
  };
}

export async function run(): Promise<BenchResult[]> {
  const seconds = Number(process.env.BENCH_EDGE_SECONDS ?? 5);
  const rounds = Number(process.env.BENCH_EDGE_ROUNDS ?? 5);
  const loads = (process.env.BENCH_EDGE_CONNECTIONS ?? "1,4").split(",").map(Number);
  if (loads.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`BENCH_EDGE_CONNECTIONS: expected a comma list of connection counts like 1,4`);
  }
  const dir = tempDir("edge-bench");
  let upstream: Upstream | undefined;
  let haproxy: Daemon | undefined;
  try {
    writeFileSync(join(dir, "edge.pem"), selfSignedCert(dir, { keyType: "ec" }).combinedPem);
    upstream = await startUpstream();
    const backendPort = Number(new URL(upstream.url).port);
    const https = await freePort();
    const cfg = join(dir, "haproxy.cfg");
    writeFileSync(
      cfg,
      renderHaproxyConfig({
        bindAddress: "127.0.0.1",
        httpPort: await freePort(),
        httpsPort: https,
        certificatePath: join(dir, "edge.pem"),
        adminSocketPath: join(dir, "admin.sock"),
        serverStateFile: join(dir, "server-state"),
        metrics: { bindAddress: "127.0.0.1", port: await freePort() },
        rateLimitPer10s: 100_000_000,
        maxConnections: 2000,
        logging: "none",
        initialWeight: 256,
        upstreams: {
          kind: "static",
          servers: { blue: [{ address: "127.0.0.1", port: backendPort }], green: [] },
        },
      }),
    );
    const edge = startDaemon("haproxy", ["-db", "-f", cfg]);
    haproxy = edge;
    const edgeUrl = `https://127.0.0.1:${https}/ping`;
    await waitFor(
      "the edge to answer",
      async () => {
        if (edge.process.exitCode !== null) throw new Error(edge.output());
        const probe = await runWrk({ url: edgeUrl, durationSeconds: 1, connections: 1, threads: 1 });
        return probe.requests > 0 && probe.non2xx3xx === 0;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );

    const results: BenchResult[] = [];
    for (const connections of loads) {
      results.push(
        ...(await compare(`${upstream.url}/ping`, edgeUrl, connections, seconds, rounds, upstream.kind)),
      );
    }
    return results;
  } finally {
    await haproxy?.stop("SIGTERM");
    await upstream?.stop();
    removeDir(dir);
  }
}

async function compare(
  directUrl: string,
  edgeUrl: string,
  connections: number,
  seconds: number,
  rounds: number,
  backend: string,
): Promise<BenchResult[]> {
  const direct: WrkResult[] = [];
  const viaEdge: WrkResult[] = [];
  const common = { durationSeconds: seconds, connections, threads: 1, latency: true };
  for (let i = 0; i < rounds; i++) {
    direct.push(await runWrk({ ...common, url: directUrl }));
    viaEdge.push(await runWrk({ ...common, url: edgeUrl }));
  }
  for (const r of [...direct, ...viaEdge]) {
    const errors = Object.values(r.socketErrors).reduce((a, b) => a + b, 0);
    if (errors > 0 || r.non2xx3xx > 0) throw new Error(`a benchmark run had errors:\n${r.raw}`);
  }
  const pick = (runs: WrkResult[], key: "p50" | "p99") => median(runs.map((r) => r.latencyMs[key] as number));
  const d50 = pick(direct, "p50");
  const e50 = pick(viaEdge, "p50");
  const d99 = pick(direct, "p99");
  const e99 = pick(viaEdge, "p99");
  const dRps = median(direct.map((r) => r.requestsPerSecond));
  const eRps = median(viaEdge.map((r) => r.requestsPerSecond));
  const added99 = e99 - d99;
  // On a loaded machine p99 swings between rounds by far more than the 1 ms target; then the
  // comparison says nothing and the verdict is left open instead of claiming the target.
  const direct99 = direct.map((r) => r.latencyMs.p99 as number);
  const spread99 = Math.max(...direct99) - Math.min(...direct99);
  const conclusive = spread99 <= 1;
  const label = `${connections} keep-alive connection${connections === 1 ? "" : "s"}`;
  const setting = `${rounds} x ${seconds} s interleaved, backend: ${backend}`;
  return [
    {
      name: `p50 latency, edge (HTTPS) vs direct (HTTP), ${label}`,
      baseline: d50,
      measured: e50,
      ratio: e50 / d50,
      unit: "ms",
      notes: `added p50 ${(e50 - d50).toFixed(3)} ms; ${setting}`,
    },
    {
      name: `p99 latency, edge (HTTPS) vs direct (HTTP), ${label}`,
      baseline: d99,
      measured: e99,
      ratio: e99 / d99,
      unit: "ms",
      target: "added p99 <= 1 ms",
      met: conclusive ? added99 <= 1 : undefined,
      notes:
        `added p99 ${added99.toFixed(3)} ms; per-round p99 direct ${direct99.join("/")} ms, ` +
        `edge ${viaEdge.map((r) => r.latencyMs.p99).join("/")} ms` +
        (conclusive
          ? ""
          : `; INCONCLUSIVE: direct p99 varies by ${spread99.toFixed(1)} ms between rounds (machine load), ` +
            "more than the 1 ms being measured"),
    },
    {
      name: `throughput, edge vs direct, ${label}`,
      baseline: dRps,
      measured: eRps,
      ratio: eRps / dRps,
      unit: "req/s",
      notes: "closed loop (wrk): each connection sends its next request when the answer arrives",
    },
  ];
}
