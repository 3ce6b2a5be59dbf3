/**
 * L5: the real edge. HAProxy 2.6 runs the config from renderers/haproxy-config.ts (static loopback
 * servers instead of Docker DNS, TLS with an openssl test certificate) in front of two real
 * example backends (examples/backend, on real PostgreSQL + Redis): two replicas of blue, one of
 * green (so the per-server weight division for unequal replica counts runs for real too).
 * The traffic switch (tools/traffic-switch.ts) drives it over the admin socket while wrk keeps
 * load on it.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { edgeHealthcheckScript } from "../../components/edge";
import { parseServersState, parseStat } from "../../lib/haproxy-runtime";
import { renderHaproxyConfig, type HaproxyConfigInput } from "../../renderers/haproxy-config";
import { applySwitch, unixTransport, type RuntimeTransport } from "../../tools/traffic-switch";
import { startBackendApp, startBackendDeps, type BackendApp, type BackendDeps } from "../support/backend-app";
import {
  freePort,
  removeDir,
  run,
  runOk,
  runInBackground,
  skipReason,
  startDaemon,
  tempDir,
  waitFor,
  type Daemon,
} from "../support/tools";
import { selfSignedCert } from "../support/tls";
import { runWrk, type WrkResult } from "../support/wrk";

const REPO = resolve(__dirname, "..", "..");

interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(url: string, ca?: string): Promise<Response> {
  return new Promise((done, fail) => {
    const isHttps = url.startsWith("https:");
    const req = (isHttps ? httpsRequest : httpRequest)(
      url,
      { method: "GET", ...(isHttps ? { ca, servername: "localhost", agent: false } : { agent: false }) },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.on("error", fail);
    req.end();
  });
}

function expectClean(result: WrkResult, what: string): void {
  const detail = `${what}:\n${result.raw}`;
  expect(result.requests, detail).toBeGreaterThan(200);
  expect(result.socketErrors, detail).toEqual({ connect: 0, read: 0, write: 0, timeout: 0 });
  expect(result.non2xx3xx, detail).toBe(0);
  expect(result.counts?.non2xx, detail).toBe(0);
  expect(result.counts?.other, detail).toBe(0);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skipReason("haproxy", "wrk", "openssl", "redis-server", "pg_ctl"))(
  "edge: HAProxy 2.6 + traffic switch in front of real blue and green backends",
  () => {
    let dir: string;
    let deps: BackendDeps;
    let blue: BackendApp;
    let blue2: BackendApp;
    let green: BackendApp;
    let haproxy: Daemon | undefined;
    let cfgFile: string;
    let stateFile: string;
    let ca: string;
    let ports: { http: number; https: number; metrics: number; admin: number };
    let admin: RuntimeTransport;
    let cliDir: string;
    let input: HaproxyConfigInput;
    const switches: string[] = [];

    // masterWorker: as the official image runs it (`haproxy -W -db`), which reloads on SIGUSR2.
    const startHaproxy = async (masterWorker = false) => {
      const daemon = startDaemon("haproxy", [...(masterWorker ? ["-W"] : []), "-db", "-f", cfgFile]);
      await waitFor("haproxy admin socket", async () => {
        if (daemon.process.exitCode !== null) throw new Error(`haproxy exited: ${daemon.output()}`);
        return (await admin.send("show info")).includes("Name: HAProxy");
      });
      haproxy = daemon;
    };

    const stats = async () => parseStat(await admin.send("show stat")).filter((s) => s.backend === "app");
    const weights = async () =>
      Object.fromEntries(
        parseServersState(await admin.send("show servers state app")).map((s) => [s.name, s.weight]),
      );
    const waitHealthy = (name: string, healthy = true) =>
      waitFor(
        `${name} ${healthy ? "UP" : "DOWN"} in HAProxy`,
        async () => {
          const row = (await stats()).find((s) => s.name === name);
          return healthy
            ? row?.status === "UP" && row.checkStatus === "L7OK"
            : row?.status.startsWith("DOWN");
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
    const doSwitch = async (active: "blue" | "green", canaryPercent = 0) => {
      const result = await applySwitch(admin, {
        target: { active, canaryPercent },
        stateFile,
        waitHealthySeconds: 5,
      });
      switches.push(`${active}/${canaryPercent}:${result.action}`);
      return result;
    };
    const cli = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
      spawnSync(process.execPath, [join(cliDir, "tools", "traffic-switch.js"), ...args], {
        encoding: "utf8",
        env,
        timeout: 60_000,
      });
    /** The CLI in the background: its stderr so far, and its exit status and output at the end. */
    const cliAsync = (args: string[]) =>
      runInBackground(process.execPath, [join(cliDir, "tools", "traffic-switch.js"), ...args]);

    beforeAll(async () => {
      dir = tempDir("edge-l5");
      // The switch CLI as the deployed edge runs it: compiled JavaScript, run by node.
      cliDir = join(dir, "cli");
      runOk(
        "npx",
        [
          "tsc",
          "--outDir",
          cliDir,
          "--rootDir",
          REPO,
          "--module",
          "node16",
          "--target",
          "es2022",
          "--strict",
          "--skipLibCheck",
          "--esModuleInterop",
          join(REPO, "tools", "traffic-switch.ts"),
          join(REPO, "tools", "config-reload.ts"),
        ],
        { cwd: REPO },
      );

      const tls = selfSignedCert(dir);
      ca = tls.certPem;
      writeFileSync(join(dir, "edge.pem"), tls.combinedPem);

      deps = await startBackendDeps();
      // Drain (after SIGTERM /health answers 503) longer than HAProxy needs to mark a server DOWN
      // (inter 500 ms, fastinter 250 ms, fall 2), as production keeps drain < stop timeout.
      const app = { databaseUrl: deps.databaseUrl, redisUrl: deps.redisUrl, drainMs: 1500 };
      [blue, blue2, green] = await Promise.all([
        startBackendApp({ colour: "blue", ...app }),
        startBackendApp({ colour: "blue", ...app }),
        startBackendApp({ colour: "green", ...app }),
      ]);

      ports = {
        http: await freePort(),
        https: await freePort(),
        metrics: await freePort(),
        admin: await freePort(),
      };
      stateFile = join(dir, "server-state");
      input = {
        bindAddress: "127.0.0.1",
        httpPort: ports.http,
        httpsPort: ports.https,
        certificatePath: join(dir, "edge.pem"),
        adminSocketPath: join(dir, "admin.sock"),
        adminTcpPort: ports.admin,
        serverStateFile: stateFile,
        metrics: { bindAddress: "127.0.0.1", port: ports.metrics },
        rateLimitPer10s: 1_000_000,
        maxConnections: 2000,
        logging: "none",
        healthCheck: { intervalMs: 500, fall: 2, rise: 2 },
        upstreams: {
          kind: "static",
          servers: {
            blue: [
              { address: "127.0.0.1", port: blue.port },
              { address: "127.0.0.1", port: blue2.port },
            ],
            green: [{ address: "127.0.0.1", port: green.port }],
          },
        },
      };
      cfgFile = join(dir, "haproxy.cfg");
      writeFileSync(cfgFile, renderHaproxyConfig(input));
      admin = unixTransport(join(dir, "admin.sock"));
      await startHaproxy();
      await waitHealthy("blue1");
      await waitHealthy("blue2");
      await waitHealthy("green1");
    });

    afterAll(async () => {
      await haproxy?.stop("SIGTERM");
      await Promise.all([blue?.stop(), blue2?.stop(), green?.stop()]);
      await deps?.destroy();
      if (dir) removeDir(dir);
      console.log(`edge L5: ${switches.length} switches applied: ${switches.join(" ")}`);
    });

    it("serves the backends over TLS with the security headers, redirects HTTP, exports metrics", async () => {
      await doSwitch("blue");
      const res = await get(`https://127.0.0.1:${ports.https}/ping`, ca);
      expect(res.status).toBe(200);
      expect(res.headers["x-backend-colour"]).toBe("blue");
      expect(res.headers["strict-transport-security"]).toBe("max-age=63072000; includeSubDomains");
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      expect(res.headers["x-frame-options"]).toBe("DENY");
      expect(res.headers["x-powered-by"]).toBeUndefined();
      expect(res.headers["x-request-id"]).toBeUndefined(); // set towards the backend, not the client

      // The backend's Prometheus endpoint is for the monitoring network only: the edge answers 404
      // in every spelling Express would route to it.
      expect((await get(`http://127.0.0.1:${blue.port}/metrics`)).status).toBe(200);
      for (const path of ["/metrics", "/METRICS", "//metrics", "/%6detrics", "/metrics/", "/metrics?x=1"]) {
        const blocked = await get(`https://127.0.0.1:${ports.https}${path}`, ca);
        expect(blocked.status, path).toBe(404);
        expect(blocked.body, path).not.toMatch(/# HELP|statusCode/);
      }
      // A path that only starts alike still reaches the backend (its own JSON 404, not the edge's).
      expect((await get(`https://127.0.0.1:${ports.https}/metricsboard`, ca)).body).toContain(
        '"statusCode":404',
      );

      const redirect = await get(`http://127.0.0.1:${ports.http}/ping?x=1`);
      expect(redirect.status).toBe(301);
      expect(redirect.headers.location).toBe(`https://127.0.0.1:${ports.https}/ping?x=1`);

      const tls = (version: string) =>
        run(
          "openssl",
          [
            "s_client",
            "-connect",
            `127.0.0.1:${ports.https}`,
            "-servername",
            "localhost",
            version,
            "-cipher",
            "DEFAULT@SECLEVEL=0",
            "-brief",
          ],
          { input: "" },
        );
      expect(tls("-tls1_1").status, "TLS 1.1 must be refused").not.toBe(0);
      expect(tls("-tls1_2").status).toBe(0);
      expect(tls("-tls1_3").status).toBe(0);
      const alpn = run(
        "openssl",
        ["s_client", "-connect", `127.0.0.1:${ports.https}`, "-servername", "localhost", "-alpn", "h2"],
        { input: "" },
      );
      expect(alpn.stdout + alpn.stderr).toMatch(/ALPN protocol: h2/);

      // The edge container's Docker healthcheck, run as Docker would (bash, no curl in the image).
      expect(run("bash", ["-c", edgeHealthcheckScript(ports.metrics)]).status).toBe(0);
      expect(run("bash", ["-c", edgeHealthcheckScript(ports.http)]).status).not.toBe(0); // a 301, not 200

      const metrics = await get(`http://127.0.0.1:${ports.metrics}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatch(/haproxy_server_status\{proxy="app",server="blue1".*\} 1/);
      expect(metrics.body).toMatch(/haproxy_server_weight\{proxy="app",server="green1"\} 0/);
    });

    it("switches blue <-> green 12 times under keep-alive load without a failed request", async () => {
      const load = runWrk({
        url: `https://127.0.0.1:${ports.https}/ping`,
        durationSeconds: 8,
        connections: 8,
        countIn: dir,
      });
      await sleep(700);
      for (let i = 0; i < 12; i++) {
        const result = await doSwitch(i % 2 === 0 ? "green" : "blue");
        expect(result.action).toBe("applied");
        await sleep(400);
      }
      const result = await load;
      expectClean(result, "keep-alive");
      expect(result.counts?.blue).toBeGreaterThan(50);
      expect(result.counts?.green).toBeGreaterThan(50);
      console.log(
        `keep-alive: ${result.requests} requests (${Math.round(result.requestsPerSecond)}/s), ` +
          `blue ${result.counts?.blue} green ${result.counts?.green}, 12 switches, 0 errors`,
      );
    });

    it("switches 12 times under load with a new connection (and TLS handshake) per request", async () => {
      const load = runWrk({
        url: `https://127.0.0.1:${ports.https}/ping`,
        durationSeconds: 8,
        connections: 8,
        close: true,
        countIn: dir,
      });
      await sleep(700);
      for (let i = 0; i < 12; i++) {
        await doSwitch(i % 2 === 0 ? "green" : "blue");
        await sleep(400);
      }
      const result = await load;
      expectClean(result, "Connection: close");
      expect(result.counts?.blue).toBeGreaterThan(20);
      expect(result.counts?.green).toBeGreaterThan(20);
      console.log(
        `connection-close: ${result.requests} requests (${Math.round(result.requestsPerSecond)}/s), ` +
          `blue ${result.counts?.blue} green ${result.counts?.green}, 12 switches, 0 errors`,
      );
    });

    it("sends 10% +/- 3% to the canary (per-server counters of show stat and wrk agree)", async () => {
      const applied = await doSwitch("blue", 10);
      expect(applied.colourWeights).toEqual({ blue: 256, green: 28 });
      const before = await stats();
      const result = await runWrk({
        url: `https://127.0.0.1:${ports.https}/ping`,
        durationSeconds: 6,
        connections: 8,
        countIn: dir,
      });
      const after = await stats();
      expectClean(result, "canary");
      // 2 blue servers, 1 green: the switch divided blue's weight over its two servers.
      expect(applied.serverWeights).toEqual({ blue: 256, green: 56 }); // 2 x 256 : 56 = 9.86 % green
      const delta = (colour: string) =>
        after.filter((s) => s.colour === colour).reduce((sum, s) => sum + s.responses["2xx"], 0) -
        before.filter((s) => s.colour === colour).reduce((sum, s) => sum + s.responses["2xx"], 0);
      const canary = (100 * delta("green")) / (delta("green") + delta("blue"));
      const seenByClient = (100 * (result.counts?.green ?? 0)) / result.requests;
      console.log(
        `canary 10%: HAProxy counted ${canary.toFixed(2)}% to green (${delta("green")}/${delta("green") + delta("blue")}), ` +
          `wrk saw ${seenByClient.toFixed(2)}%`,
      );
      expect(canary).toBeGreaterThanOrEqual(7);
      expect(canary).toBeLessThanOrEqual(13);
      expect(Math.abs(seenByClient - canary)).toBeLessThan(1);
    });

    it("restarts the active slot's replicas one at a time under load without a failed request", async () => {
      // What a slot update does: each replica gets SIGTERM (drain: /health 503, HAProxy marks it
      // DOWN, in-flight requests finish), a new one starts, and only when the edge sees it healthy
      // does the next replica go. retry-on + redispatch cover requests that race the close.
      await doSwitch("blue", 0);
      const load = runWrk({
        url: `https://127.0.0.1:${ports.https}/ping`,
        durationSeconds: 14,
        connections: 8,
        countIn: dir,
      });
      await sleep(500);
      const app = {
        colour: "blue" as const,
        databaseUrl: deps.databaseUrl,
        redisUrl: deps.redisUrl,
        drainMs: 1500,
      };
      await blue2.stop();
      blue2 = await startBackendApp({ ...app, port: blue2.port });
      await waitHealthy("blue2");
      await blue.stop();
      blue = await startBackendApp({ ...app, port: blue.port });
      await waitHealthy("blue1");
      const result = await load;
      expectClean(result, "rolling restart of blue");
      expect(result.counts?.green).toBe(0);
      console.log(
        `rolling restart: ${result.requests} requests while both blue replicas were replaced, 0 errors`,
      );
    });

    it("reaches the admin API through `docker exec` + bash /dev/tcp (docker replaced by a local shim)", () => {
      // The deployed switch runs `docker exec -i <edge> bash -c ...`; this shim runs the same bash
      // locally, so the /dev/tcp client and the atomic state-file write are exercised for real.
      const bin = join(dir, "bin");
      mkdirSync(bin, { recursive: true });
      const log = join(dir, "docker-calls.log");
      writeFileSync(
        join(bin, "docker"),
        [
          "#!/usr/bin/env bash",
          "set -euo pipefail",
          'if [[ "${1:-}" == "-H" ]]; then shift 2; fi',
          'if [[ "${1:-}" != "exec" || "${2:-}" != "-i" ]]; then echo "unexpected docker call: $*" >&2; exit 64; fi',
          'echo "$3 ${*:4:1}" >> "$DOCKER_SHIM_LOG"',
          "shift 3",
          'exec "$@"',
          "",
        ].join("\n"),
      );
      chmodSync(join(bin, "docker"), 0o755);
      const shimState = join(dir, "server-state-via-docker");
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, DOCKER_SHIM_LOG: log };
      const res = cli(
        [
          "apply",
          "--active",
          "green",
          "--canary-percent",
          "0",
          "--docker-container",
          "edge-under-test",
          "--admin-tcp",
          `127.0.0.1:${ports.admin}`,
          "--state-file",
          shimState,
          "--wait-healthy",
          "5",
        ],
        env,
      );
      expect(res.status, res.stderr).toBe(0);
      expect(JSON.parse(res.stdout)).toMatchObject({
        action: "applied",
        active: "green",
        colourWeights: { blue: 0, green: 256 },
      });
      expect(readFileSync(log, "utf8")).toMatch(/^edge-under-test bash$/m);
      const saved = parseServersState(readFileSync(shimState, "utf8"));
      expect(saved.map((s) => [s.name, s.weight])).toEqual([
        ["blue1", 0],
        ["blue2", 0],
        ["green1", 256],
      ]);
      switches.push("green/0:applied(cli+docker)");

      const again = cli(
        [
          "apply",
          "--active",
          "green",
          "--docker-container",
          "edge-under-test",
          "--admin-tcp",
          `127.0.0.1:${ports.admin}`,
          "--state-file",
          shimState,
        ],
        env,
      );
      expect(again.status, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout).action).toBe("unchanged");

      const status = cli(["status", "--tcp", `127.0.0.1:${ports.admin}`]);
      expect(status.status, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ active: "green", share: { blue: 0, green: 100 } });
    });

    it("keeps the weights when HAProxy restarts (server-state file)", async () => {
      await doSwitch("green", 10);
      expect(await weights()).toEqual({ blue1: 14, blue2: 14, green1: 256 });
      await haproxy?.stop("SIGTERM");
      haproxy = undefined;
      await startHaproxy();
      // The configured weight is 1: anything else was restored from the state file.
      expect(await weights()).toEqual({ blue1: 14, blue2: 14, green1: 256 });
      await waitHealthy("green1");
      const res = await get(`https://127.0.0.1:${ports.https}/ping`, ca);
      expect(res.status).toBe(200);
    });

    describe("in-place reload of a changed config and certificate (tools/config-reload.ts)", () => {
      const reloadCli = (args: string[], stdin: string, env: NodeJS.ProcessEnv = process.env) =>
        spawnSync(process.execPath, [join(cliDir, "tools", "config-reload.js"), ...args], {
          encoding: "utf8",
          env,
          input: stdin,
          timeout: 60_000,
        });
      /** stdin as the Edge component sends it: haproxy.cfg first, then the certificate bundle. */
      const files = (config: string, certificate: string) =>
        JSON.stringify({
          files: [
            { path: cfgFile, content: config },
            { path: join(dir, "edge.pem"), content: certificate },
          ],
        });
      const localArgs = () => [
        "--service",
        "haproxy",
        "--pid",
        String(haproxy?.process.pid),
        "--socket",
        join(dir, "admin.sock"),
        "--state-file",
        stateFile,
        "--wait-seconds",
        "20",
      ];
      const servedCertificateFingerprint = () =>
        runOk("bash", [
          "-c",
          `openssl s_client -connect 127.0.0.1:${ports.https} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256`,
        ]).stdout.trim();
      const subDir = (name: string) => {
        const path = join(dir, name);
        mkdirSync(path, { recursive: true });
        return path;
      };
      const fingerprint = (pem: string) =>
        runOk("openssl", ["x509", "-noout", "-fingerprint", "-sha256"], { input: pem }).stdout.trim();

      it("swaps config and certificate under load without a failed request and keeps the weights", async () => {
        await haproxy?.stop("SIGTERM");
        haproxy = undefined;
        await startHaproxy(true);
        await waitHealthy("green1");
        await waitHealthy("blue1");
        const weightsBefore = await weights();
        expect(weightsBefore).toEqual({ blue1: 14, blue2: 14, green1: 256 });

        const renewed = selfSignedCert(subDir("renewed"));
        // Three reloads in one wrk run: the first brings a new certificate too.
        const configs = [999_999, 999_998, 999_997].map((limit) =>
          renderHaproxyConfig({ ...input, rateLimitPer10s: limit }),
        );
        expect(configs[0]).not.toBe(readFileSync(cfgFile, "utf8"));
        const newConfig = configs[2];
        const stdin = files(newConfig, renewed.combinedPem);

        const load = runWrk({
          url: `https://127.0.0.1:${ports.https}/ping`,
          durationSeconds: 7,
          connections: 8,
          countIn: subDir("reload-wrk"),
        });
        await sleep(1000);
        const workers: number[] = [];
        for (const config of configs) {
          const res = reloadCli(localArgs(), files(config, renewed.combinedPem));
          expect(res.status, res.stderr).toBe(0);
          const out = JSON.parse(res.stdout) as { action: string; marker: string; previousMarker: string };
          expect(out.action).toBe("reloaded");
          expect(out.marker).not.toBe(out.previousMarker); // the worker pid
          workers.push(Number(out.marker));
          await sleep(1500);
        }
        ca = renewed.certPem; // what the edge serves from now on, also if an expectation below fails
        const result = await load;
        expectClean(result, "load during three reloads");
        expect(new Set(workers).size).toBe(3);

        expect(readFileSync(cfgFile, "utf8")).toBe(newConfig);
        expect(existsSync(`${cfgFile}.prev`)).toBe(false); // cleaned up after the reload took
        expect(await weights()).toEqual(weightsBefore);
        expect(servedCertificateFingerprint()).toBe(fingerprint(renewed.certPem));
        expect((await get(`https://127.0.0.1:${ports.https}/ping`, ca)).status).toBe(200);
        expect((haproxy as Daemon | undefined)?.process.exitCode).toBeNull(); // the same master, no restart

        const again = reloadCli(localArgs(), stdin);
        expect(again.status, again.stderr).toBe(0);
        expect(JSON.parse(again.stdout)).toMatchObject({ action: "unchanged", marker: String(workers[2]) });
      });

      it("refuses a config HAProxy rejects: files put back, the running worker untouched", async () => {
        const liveConfig = readFileSync(cfgFile, "utf8");
        const liveCert = readFileSync(join(dir, "edge.pem"), "utf8");
        const pidBefore = (await admin.send("show info")).match(/^Pid: (\d+)$/m)?.[1];
        const broken = liveConfig.replace(
          "load-server-state-from-file global",
          "load-server-state-from-file sideways",
        );
        const res = reloadCli(localArgs(), files(broken, liveCert));
        expect(res.status).toBe(1);
        expect(res.stderr).toMatch(
          /the new files do not pass haproxy's check; haproxy keeps its configuration/,
        );
        expect(res.stderr).toMatch(/sideways/); // HAProxy's own message
        expect(readFileSync(cfgFile, "utf8")).toBe(liveConfig);
        expect(existsSync(`${cfgFile}.next`)).toBe(false);
        expect((await admin.send("show info")).match(/^Pid: (\d+)$/m)?.[1]).toBe(pidBefore);
        expect((await get(`https://127.0.0.1:${ports.https}/ping`, ca)).status).toBe(200);

        const notJson = reloadCli(localArgs(), "config=1");
        expect(notJson.status).toBe(2);
        expect(notJson.stderr).toMatch(/stdin: expected JSON/);
        const relative = reloadCli(
          localArgs(),
          JSON.stringify({ files: [{ path: "haproxy.cfg", content: liveConfig }] }),
        );
        expect(relative.status).toBe(2);
        expect(relative.stderr).toMatch(/files\[0\]\.path must be an absolute path/);
        const both = reloadCli(["--docker-container", "edge", ...localArgs()], "{}");
        expect(both.status).toBe(2);
        expect(both.stderr).toMatch(/exactly one of --docker-container NAME or --pid PID/);
        const service = reloadCli(["--service", "nginx", "--pid", "1"], "{}");
        expect(service.status).toBe(2);
        expect(service.stderr).toMatch(
          /--service: expected one of haproxy, prometheus, alertmanager, got "nginx"/,
        );
      });

      it("runs the file steps as the config directory's owner (`docker exec -u`) and signals with `docker kill` (docker replaced by a shim)", async () => {
        const bin = subDir("reload-bin");
        const log = join(dir, "reload-docker-calls.log");
        writeFileSync(
          join(bin, "docker"),
          [
            "#!/usr/bin/env bash",
            "set -euo pipefail",
            'if [[ "${1:-}" == "-H" ]]; then shift 2; fi',
            'echo "$*" | cut -c1-40 >> "$DOCKER_SHIM_LOG"',
            'if [[ "$1" == kill && "$2" == --signal && "$4" == edge-under-test ]]; then exec kill -s "$3" "$HAPROXY_MASTER_PID"; fi',
            'if [[ "$1" != exec ]]; then echo "unexpected docker call: $*" >&2; exit 64; fi',
            'shift; if [[ "$1" == -i ]]; then shift; fi; if [[ "$1" == -u ]]; then shift 2; fi',
            '[[ "$1" == edge-under-test ]] || { echo "unexpected container $1" >&2; exit 64; }',
            'shift; exec "$@"',
            "",
          ].join("\n"),
        );
        chmodSync(join(bin, "docker"), 0o755);
        const env = {
          ...process.env,
          PATH: `${bin}:${process.env.PATH}`,
          DOCKER_SHIM_LOG: log,
          HAPROXY_MASTER_PID: String(haproxy?.process.pid),
        };
        const renewed = selfSignedCert(subDir("renewed-again"));
        const stdin = files(readFileSync(cfgFile, "utf8"), renewed.combinedPem);
        const res = reloadCli(
          [
            "--service",
            "haproxy",
            "--docker-container",
            "edge-under-test",
            "--admin-tcp",
            `127.0.0.1:${ports.admin}`,
            "--state-file",
            stateFile,
          ],
          stdin,
          env,
        );
        expect(res.status, res.stderr).toBe(0);
        expect(JSON.parse(res.stdout).action).toBe("reloaded");
        const calls = readFileSync(log, "utf8");
        const owner = String(statSync(dir).uid);
        expect(calls).toContain(`exec edge-under-test stat -c %u ${dir}`.slice(0, 40));
        expect(calls).toMatch(new RegExp(`^exec -i -u ${owner} edge-under-test sh -c`, "m"));
        expect(calls).toMatch(/^exec -i edge-under-test bash -c/m); // runtime API as the edge's user
        expect(calls).toMatch(/^exec -i edge-under-test sh -c set -eu$/m); // the switch lock, held
        expect(existsSync(`${stateFile}.lock`)).toBe(false); // and released
        expect(calls).toMatch(/^kill --signal USR2 edge-under-test$/m);
        expect(servedCertificateFingerprint()).toBe(fingerprint(renewed.certPem));
        ca = renewed.certPem;
        expect(await weights()).toEqual({ blue1: 14, blue2: 14, green1: 256 });
      });
    });

    it("divides the weights over the running replicas Docker reports (docker replaced by a shim), explicit counts first", async () => {
      const bin = join(dir, "replicas-bin");
      mkdirSync(bin, { recursive: true });
      const log = join(dir, "replicas-docker-calls.log");
      // Docker runs blue 1 and 2 (blue 2 twice: a replaced container whose delete is pending) and
      // green 1 and 2; the edge has blue2 in maintenance, so it sees 1 blue server.
      writeFileSync(
        join(bin, "docker"),
        '#!/usr/bin/env bash\necho "$*" >> "$DOCKER_SHIM_LOG"\nprintf "blue/1\\nblue/2\\nblue/2\\ngreen/1\\ngreen/2\\n"\n',
        { mode: 0o755 },
      );
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, DOCKER_SHIM_LOG: log };
      const target = [
        "apply",
        "--active",
        "blue",
        "--canary-percent",
        "10",
        "--tcp",
        `127.0.0.1:${ports.admin}`,
      ];
      expect((await admin.send("set server app/blue2 state maint")).trim()).toBe("");
      try {
        // green=1 given explicitly wins over Docker's 2; blue comes from Docker (2, not 3).
        const res = cli(
          [...target, "--no-persist", "--replicas-from-docker", "bi-app", "--replicas", "green=1"],
          env,
        );
        expect(res.status, res.stderr).toBe(0);
        expect(JSON.parse(res.stdout)).toMatchObject({
          present: { blue: 1, green: 1 },
          replicas: { blue: 2, green: 1 },
          serverWeights: { blue: 256, green: 56 },
        });
        expect(await weights()).toEqual({ blue1: 256, blue2: 256, green1: 56 });
      } finally {
        await admin.send("set server app/blue2 state ready");
      }
      expect(readFileSync(log, "utf8").trim()).toBe(
        'ps --filter label=backend-infra.role=backend --filter network=bi-app --filter status=running --format {{.Label "backend-infra.slot"}}/{{.Label "backend-infra.replica"}}',
      );
      // The edge's status with Docker's counts: each colour's share once every replica is up.
      const live = cli(
        ["status", "--tcp", `127.0.0.1:${ports.admin}`, "--replicas-from-docker", "bi-app"],
        env,
      );
      expect(live.status, live.stderr).toBe(0);
      expect(JSON.parse(live.stdout)).toMatchObject({
        receives: { blue: true, green: true },
        replicas: { blue: 2, green: 2 },
        replicaShare: { blue: 82.05, green: 17.95 }, // 256 x 2 against 56 x 2
      });
      // No backend container runs yet (a new environment): Docker's zeros are not used, the
      // edge's own count is, and the switch goes ahead.
      writeFileSync(join(bin, "docker"), "#!/usr/bin/env bash\nexit 0\n");
      const none = cli([...target, "--no-persist", "--replicas-from-docker", "bi-app"], env);
      expect(none.status, none.stderr).toBe(0);
      expect(JSON.parse(none.stdout)).toMatchObject({ replicas: { blue: 2, green: 1 } });
      const tooMany = cli([...target, "--no-persist", "--replicas", "blue=3"], env);
      expect(tooMany.status).toBe(1);
      expect(tooMany.stderr).toMatch(/replicas: blue=3, but the edge has only 2 blue server slots/);

      const bad = cli([...target, "--no-persist", "--replicas", "green=2", "--replicas", "green=3"], env);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/--replicas: green is given twice/);
      const badForm = cli([...target, "--no-persist", "--replicas", "purple=1"], env);
      expect(badForm.stderr).toMatch(/--replicas: expected COLOUR=N like green=3, got "purple=1"/);
      writeFileSync(
        join(bin, "docker"),
        "#!/usr/bin/env bash\necho 'Cannot connect to the Docker daemon' >&2; exit 1\n",
      );
      const down = cli([...target, "--no-persist", "--replicas-from-docker", "bi-app"], env);
      expect(down.status).toBe(1);
      expect(down.stderr).toMatch(
        /FAILED: docker ps \(backend replicas on network bi-app\) exited 1: Cannot connect/,
      );
      expect(await weights()).toEqual({ blue1: 256, blue2: 256, green1: 56 }); // nothing applied
    });

    it("two switches at once take turns on the edge's lock: the weights are one target's, never a mix", async () => {
      const apply = (active: string, percent: string) =>
        cliAsync([
          "apply",
          "--active",
          active,
          "--canary-percent",
          percent,
          "--tcp",
          `127.0.0.1:${ports.admin}`,
          "--state-file",
          stateFile,
        ]);
      // A third switch holds the lock while both start, so both wait and then compete for it.
      mkdirSync(`${stateFile}.lock`);
      writeFileSync(`${stateFile}.lock/owner`, "operator-shell:1:1\n");
      const runs = [apply("green", "0"), apply("blue", "10")];
      await waitFor("both switches waiting for the lock", () =>
        runs.every((run) => run.stderr().includes("waiting for another traffic switch to finish")),
      );
      rmSync(`${stateFile}.lock`, { recursive: true });
      const [toGreen, canary] = await Promise.all(runs.map((run) => run.done));
      expect(toGreen.status, toGreen.stderr).toBe(0);
      expect(canary.status, canary.stderr).toBe(0);
      for (const run of [toGreen, canary]) {
        expect(run.stderr).toMatch(
          /waiting for another traffic switch to finish \(operator-shell:1:1, last seen/,
        );
      }
      // That they never interleave is the unit test's (test/unit/switch-lock.test.ts).
      expect(existsSync(`${stateFile}.lock`)).toBe(false);
      const final = await weights();
      expect([
        { blue1: 0, blue2: 0, green1: 256 },
        { blue1: 256, blue2: 256, green1: 56 },
      ]).toContainEqual(final);
      await doSwitch("blue", 0);
    });

    it("refuses to switch to an unhealthy slot and leaves weights, state file and traffic unchanged", async () => {
      await doSwitch("blue", 0);
      await green.stop();
      await waitHealthy("green1", false);
      const weightsBefore = await weights();
      const stateBefore = readFileSync(stateFile, "utf8");

      const load = runWrk({
        url: `https://127.0.0.1:${ports.https}/ping`,
        durationSeconds: 4,
        connections: 4,
        countIn: dir,
      });
      await sleep(500);
      const refused = cli([
        "apply",
        "--active",
        "green",
        "--socket",
        join(dir, "admin.sock"),
        "--state-file",
        stateFile,
        "--wait-healthy",
        "1",
      ]);
      const result = await load;

      expect(refused.status, refused.stderr).toBe(3);
      expect(refused.stderr).toMatch(
        /REFUSED: refusing to send traffic to green: no server passes its \/health check \(green: green1 DOWN L4CON\)/,
      );
      expect(JSON.parse(refused.stdout)).toMatchObject({ action: "refused" });
      expect(await weights()).toEqual(weightsBefore);
      expect(readFileSync(stateFile, "utf8")).toBe(stateBefore);
      expectClean(result, "during a refused switch");
      expect(result.counts?.green).toBe(0);
      expect(result.counts?.blue).toBe(result.requests);

      // The in-process API refuses the same way (and a canary to the dead slot too).
      await expect(
        applySwitch(admin, {
          target: { active: "blue", canaryPercent: 10 },
          stateFile,
          waitHealthySeconds: 0,
        }),
      ).rejects.toThrow(/refusing to send traffic to green/);
      expect(await weights()).toEqual(weightsBefore);
    });

    it("rejects bad CLI arguments with exit 2 and a message naming the argument", () => {
      const bad = cli(["apply", "--active", "purple", "--tcp", `127.0.0.1:${ports.admin}`, "--no-persist"]);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/--active: expected blue or green, got "purple"/);
      const pct = cli([
        "apply",
        "--active",
        "blue",
        "--canary-percent",
        "101",
        "--tcp",
        "127.0.0.1:1",
        "--no-persist",
      ]);
      expect(pct.status).toBe(2);
      expect(pct.stderr).toMatch(/--canary-percent/);
      const noTransport = cli(["status"]);
      expect(noTransport.status).toBe(2);
      expect(noTransport.stderr).toMatch(/exactly one of --socket, --tcp or --docker-container/);
      const noState = cli(["apply", "--active", "blue", "--tcp", "127.0.0.1:1"]);
      expect(noState.stderr).toMatch(/--state-file FILE is required/);
      const unreachable = cli(["status", "--tcp", "127.0.0.1:1"]);
      expect(unreachable.status).toBe(1);
      expect(unreachable.stderr).toMatch(/FAILED: admin socket: connect ECONNREFUSED/);
      expect(existsSync(join(cliDir, "tools", "traffic-switch.js"))).toBe(true);
    });

    it("answers 429 with Retry-After once a client exceeds the per-IP rate limit", async () => {
      const limitedPorts = { https: await freePort(), http: await freePort(), metrics: await freePort() };
      const file = join(dir, "limited.cfg");
      const limitedAdmin = join(dir, "limited.sock");
      writeFileSync(
        file,
        renderHaproxyConfig({
          ...input,
          rateLimitPer10s: 20,
          httpPort: limitedPorts.http,
          httpsPort: limitedPorts.https,
          metrics: { bindAddress: "127.0.0.1", port: limitedPorts.metrics },
          adminSocketPath: limitedAdmin,
          adminTcpPort: undefined,
          serverStateFile: join(dir, "limited-state"),
        }),
      );
      const limited = startDaemon("haproxy", ["-db", "-f", file]);
      try {
        await waitFor("the rate-limited haproxy", async () => {
          if (limited.process.exitCode !== null) throw new Error(limited.output());
          return (await unixTransport(limitedAdmin).send("show info")).includes("Name: HAProxy");
        });
        // green is stopped by now: wait until this instance has seen that, so every request gets blue.
        await waitFor("green1 DOWN in the rate-limited haproxy", async () =>
          parseStat(await unixTransport(limitedAdmin).send("show stat")).some(
            (r) => r.name === "green1" && r.status.startsWith("DOWN"),
          ),
        );
        const statuses: number[] = [];
        let retryAfter: unknown;
        let hsts: unknown;
        for (let i = 0; i < 30; i++) {
          const res = await get(`https://127.0.0.1:${limitedPorts.https}/ping`, ca);
          statuses.push(res.status);
          if (res.status === 429) {
            retryAfter = res.headers["retry-after"];
            hsts = res.headers["strict-transport-security"];
          }
        }
        expect(statuses.filter((s) => s === 429).length).toBe(10);
        expect(
          statuses.slice(0, 20).every((s) => s === 200),
          statuses.join(","),
        ).toBe(true);
        expect(retryAfter).toBe("10");
        expect(hsts).toBe("max-age=63072000; includeSubDomains");
      } finally {
        await limited.stop("SIGTERM");
      }
    });
  },
);
