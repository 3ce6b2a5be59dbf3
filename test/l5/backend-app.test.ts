/**
 * L5: the example NestJS backend (examples/backend) against a real PostgreSQL 15 and a real
 * Redis 7 with a password, all on loopback. Needs the build: CI runs it before the tests,
 *   npm ci --prefix examples/backend && npm run build --prefix examples/backend
 * and elsewhere the suite builds it first (test/support/backend-app.ts), or skips saying why.
 */
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BACKEND_DIR,
  BACKEND_MAIN,
  backendSkipReason,
  ensureBackendBuilt,
  startBackendApp,
  startBackendDeps,
  startRedisServer,
  type BackendApp,
  type BackendDeps,
} from "../support/backend-app";
import {
  freePort,
  removeDir,
  run,
  runOk,
  skipReason,
  skipUnlessRoot,
  tempDir,
  waitFor,
} from "../support/tools";

interface Health {
  status: string;
  info?: Record<string, { status: string }>;
  error?: Record<string, { status: string; message?: string }>;
  details?: Record<string, { status: string; message?: string }>;
}

async function getJson<T>(url: string): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as T, headers: response.headers };
}

async function postOrder(url: string, body: string, contentType = "application/json") {
  const response = await fetch(`${url}/api/orders`, {
    method: "POST",
    headers: { "content-type": contentType },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The exec-form command of the Dockerfile's HEALTHCHECK instruction. */
function healthcheckCommand(dockerfile: string): string[] {
  const match = /^HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])$/m.exec(dockerfile);
  if (!match) throw new Error("Dockerfile has no HEALTHCHECK ... CMD [exec form] instruction");
  return JSON.parse(match[1]) as string[];
}

/** Polls /health until it answers `status`; returns that answer. */
async function waitForHealth(url: string, status: number, timeoutMs = 30_000, intervalMs = 100) {
  let last: { status: number; body: Health } | undefined;
  await waitFor(
    `${url}/health to answer ${status}`,
    async () => {
      last = await getJson<Health>(`${url}/health`);
      return last.status === status;
    },
    { timeoutMs, intervalMs },
  );
  if (!last) throw new Error("unreachable: waitFor returned without an answer");
  return last;
}

/** The checksum recomputed from the rows psql returns, independently of the app's SQL aggregate. */
function expectedChecksum(deps: BackendDeps): string {
  const rows = deps.pg.sql(
    `SELECT id::text || chr(9) || item || chr(9) || quantity::text || chr(9) ||
            to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
     FROM app.orders ORDER BY id`,
    "app",
  );
  return createHash("md5").update(rows).digest("hex");
}

/** Runs the app in the foreground with the given environment and returns how it ended. */
function runAppToExit(env: Record<string, string>) {
  return run(process.execPath, [BACKEND_MAIN], {
    cwd: BACKEND_DIR,
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", ...env },
    timeout: 30_000,
  });
}

describe.skipIf(skipReason("redis-server", "initdb", "pg_ctl") || backendSkipReason())(
  "examples/backend on real Postgres and Redis",
  () => {
    let deps: BackendDeps;
    let app: BackendApp;
    // Long enough for the SIGTERM test to make three requests inside the drain on a loaded machine.
    const drainMs = 4_000;

    beforeAll(async () => {
      ensureBackendBuilt();
      deps = await startBackendDeps();
      app = await startBackendApp({
        databaseUrl: deps.databaseUrl,
        redisUrl: deps.redisUrl,
        colour: "blue",
        drainMs,
        logRequests: true,
      });
    });

    afterAll(async () => {
      await app?.stop("SIGKILL");
      await deps?.destroy();
    });

    it("GET /health answers 200 with Postgres and Redis up", async () => {
      const { status, body } = await getJson<Health>(`${app.url}/health`);
      expect(status).toBe(200);
      expect(body.status).toBe("ok");
      expect(body.details?.postgres?.status).toBe("up");
      expect(body.details?.redis?.status).toBe("up");
      expect(body.details?.lifecycle?.status).toBe("up");
    });

    it("created the orders table on boot in its own schema, owned by the app role (public is not its)", () => {
      const columns = deps.pg.sql(
        "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'orders'",
        "app",
      );
      expect(columns).toBe(
        "id:bigint,item:text,quantity:integer,created_at:timestamp with time zone," +
          "idempotency_key:text,request_hash:text",
      );
      // The Idempotency-Key of the POST that wrote a row is unique: a retry cannot write twice.
      expect(
        deps.pg.sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'orders_idempotency_key'", "app"),
      ).toBe("CREATE UNIQUE INDEX orders_idempotency_key ON app.orders USING btree (idempotency_key)");
      expect(
        deps.pg.sql(
          "SELECT schemaname || '.' || tableowner FROM pg_tables WHERE tablename = 'orders'",
          "app",
        ),
      ).toBe("app.app");
      expect(deps.pg.sql("SELECT has_schema_privilege('app', 'public', 'CREATE')", "app")).toBe("f");
    });

    it("GET /ping answers the colour in body and x-backend-colour header, without touching Postgres", async () => {
      const { status, body, headers } = await getJson<{ colour: string }>(`${app.url}/ping`);
      expect(status).toBe(200);
      expect(body).toEqual({ colour: "blue" });
      expect(headers.get("x-backend-colour")).toBe("blue");
      const slow = await getJson<{ colour: string }>(`${app.url}/ping?delay_ms=300`);
      expect(slow.body).toEqual({ colour: "blue" });
      for (const bad of ["-1", "abc", "10001"]) {
        const answer = await getJson<{ message: string }>(`${app.url}/ping?delay_ms=${bad}`);
        expect(answer.status, bad).toBe(400);
        expect(answer.body.message).toContain("delay_ms must be an integer from 0 to 10000");
      }
    });

    it("GET /metrics exposes prom-client defaults and the HTTP histogram with a 0.2 s bucket and the colour", async () => {
      for (let i = 0; i < 3; i++) await getJson(`${app.url}/ping`);
      await fetch(`${app.url}/no-such-route/123`).then((r) => r.arrayBuffer());
      const response = await fetch(`${app.url}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/plain");
      const text = await response.text();
      expect(text).toContain("# TYPE http_request_duration_seconds histogram");
      const pingBucket = text
        .split("\n")
        .find(
          (line) =>
            line.startsWith("http_request_duration_seconds_bucket{") &&
            line.includes('le="0.2"') &&
            line.includes('route="/ping"') &&
            line.includes('method="GET"') &&
            line.includes('status_code="200"'),
        );
      expect(pingBucket, text).toBeDefined();
      expect(pingBucket).toContain('colour="blue"');
      expect(Number(pingBucket?.split(" ").pop())).toBeGreaterThanOrEqual(3);
      for (const le of ["0.005", "0.01", "0.025", "0.05", "0.1", "0.3", "0.5", "1", "2.5", "5", "+Inf"]) {
        expect(text).toContain(`le="${le}"`);
      }
      // Unknown paths share one label value instead of one series per URL.
      expect(text).toMatch(
        /http_request_duration_seconds_count\{[^}]*route="unmatched"[^}]*status_code="404"/,
      );
      expect(text).not.toContain("no-such-route");
      // prom-client default metrics, also labelled with the colour.
      expect(text).toMatch(/process_cpu_user_seconds_total\{colour="blue"\} /);
      expect(text).toContain("nodejs_eventloop_lag_p99_seconds");
    });

    it("POST /api/orders stores a row; GET /api/orders/stats follows count, maxId and checksum", async () => {
      const before = await getJson<{ count: number; maxId: number; checksum: string }>(
        `${app.url}/api/orders/stats`,
      );
      expect(before.status).toBe(200);
      expect(before.body).toEqual({
        count: 0,
        maxId: 0,
        checksum: createHash("md5").update("").digest("hex"),
      });

      const created = await postOrder(app.url, JSON.stringify({ item: "widget", quantity: 3 }));
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ item: "widget", quantity: 3 });
      expect(typeof created.body.id).toBe("number");
      expect(new Date(String(created.body.created_at)).toISOString()).toBe(created.body.created_at);
      const second = await postOrder(app.url, JSON.stringify({ item: "gadget\twith tab", quantity: 1 }));
      expect(second.status).toBe(201);

      const after = await getJson<{ count: number; maxId: number; checksum: string }>(
        `${app.url}/api/orders/stats`,
      );
      expect(after.body.count).toBe(2);
      expect(after.body.maxId).toBe(second.body.id);
      expect(after.body.checksum).toMatch(/^[0-9a-f]{32}$/);
      expect(after.body.checksum).not.toBe(before.body.checksum);
      expect(after.body.checksum).toBe(expectedChecksum(deps));
      expect(
        deps.pg.sql("SELECT count(*) FROM app.orders WHERE item = 'widget' AND quantity = 3", "app"),
      ).toBe("1");

      // A change to any stored row changes the checksum (what a DR drill relies on).
      deps.pg.sql(`UPDATE app.orders SET quantity = 4 WHERE id = ${Number(created.body.id)}`, "app");
      const changed = await getJson<{ checksum: string }>(`${app.url}/api/orders/stats`);
      expect(changed.body.checksum).not.toBe(after.body.checksum);
      expect(changed.body.checksum).toBe(expectedChecksum(deps));
    });

    it("POST /api/orders answers 400 with a clear message on bad input and stores nothing", async () => {
      const countBefore = deps.pg.sql("SELECT count(*) FROM app.orders", "app");
      const cases: Array<[string, RegExp, string?]> = [
        [JSON.stringify({ item: "widget" }), /quantity must be a positive integer/],
        [JSON.stringify({ item: "widget", quantity: 0 }), /quantity must be a positive integer/],
        [JSON.stringify({ item: "widget", quantity: -2 }), /quantity must be a positive integer/],
        [JSON.stringify({ item: "widget", quantity: 1.5 }), /quantity must be a positive integer/],
        [JSON.stringify({ item: "widget", quantity: "3" }), /quantity must be a positive integer/],
        [JSON.stringify({ item: "", quantity: 1 }), /item must be a non-empty string/],
        [JSON.stringify({ quantity: 1 }), /item must be a non-empty string/],
        [JSON.stringify({ item: "x".repeat(201), quantity: 1 }), /at most 200 characters/],
        [JSON.stringify([1, 2]), /request body must be a JSON object/],
        ["item=widget&quantity=1", /request body must be a JSON object/, "text/plain"],
        ["{not json", /JSON|Unexpected|Expected/],
      ];
      for (const [body, message, contentType] of cases) {
        const response = await postOrder(app.url, body, contentType);
        expect(response.status, body).toBe(400);
        expect(JSON.stringify(response.body.message), body).toMatch(message);
      }
      // Both fields wrong: both named.
      const both = await postOrder(app.url, JSON.stringify({ item: 7, quantity: 0 }));
      expect(both.body.message).toEqual([
        "item must be a non-empty string",
        "quantity must be a positive integer (1 to 2147483647), got 0",
      ]);
      expect(deps.pg.sql("SELECT count(*) FROM app.orders", "app")).toBe(countBefore);
    });

    it("writes one JSON log line per request", () => {
      const lines = app
        .output()
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const request = lines.find((line) => line.msg === "request" && line.route === "/api/orders/stats");
      expect(request).toMatchObject({ level: "info", method: "GET", status: 200, colour: "blue" });
      expect(typeof request?.duration_ms).toBe("number");
      // Every line of output is JSON.
      expect(
        app
          .output()
          .trim()
          .split("\n")
          .filter((l) => !l.startsWith("{")),
      ).toEqual([]);
    });

    it("GET /health answers 503 with status error while Redis is down, and 200 again when it is back", async () => {
      const { port, password } = deps.redis;
      await deps.redis.stop();
      const down = await waitForHealth(app.url, 503);
      expect(down.body.status).toBe("error");
      expect(down.body.error?.redis?.status).toBe("down");
      expect(down.body.details?.postgres?.status).toBe("up");
      // The cheap endpoint does not depend on Redis.
      expect((await getJson(`${app.url}/ping`)).status).toBe(200);

      deps.redis = await startRedisServer(password, port);
      const up = await waitForHealth(app.url, 200);
      expect(up.body.status).toBe("ok");
    });

    it("GET /health answers 503 while Postgres is down, and 200 again when it is back", async () => {
      deps.pg.stop("fast");
      const down = await waitForHealth(app.url, 503);
      expect(down.body.status).toBe("error");
      expect(down.body.error?.postgres?.status).toBe("down");
      // No password from DATABASE_URL leaks into the answer.
      expect(JSON.stringify(down.body)).not.toContain("app-password");

      await deps.pg.start();
      await waitForHealth(app.url, 200);
      expect((await getJson<{ count: number }>(`${app.url}/api/orders/stats`)).body.count).toBe(2);
    });

    it("reads DATABASE_URL_FILE and REDIS_URL_FILE (Docker secrets) and reports its colour", async () => {
      const dir = tempDir("backend-secrets");
      try {
        writeFileSync(join(dir, "database_url"), `${deps.databaseUrl}\n`);
        writeFileSync(join(dir, "redis_url"), `${deps.redisUrl}\n`);
        const green = await startBackendApp({
          databaseUrl: "",
          redisUrl: "",
          colour: "green",
          drainMs: 0,
          env: {
            DATABASE_URL: undefined,
            REDIS_URL: undefined,
            DATABASE_URL_FILE: join(dir, "database_url"),
            REDIS_URL_FILE: join(dir, "redis_url"),
          },
        });
        try {
          const ping = await getJson<{ colour: string }>(`${green.url}/ping`);
          expect(ping.body).toEqual({ colour: "green" });
          expect(ping.headers.get("x-backend-colour")).toBe("green");
          expect(await (await fetch(`${green.url}/metrics`)).text()).toMatch(
            /process_cpu_user_seconds_total\{colour="green"\} /,
          );
          // A second replica booting against the same database: the migration is idempotent.
          expect((await getJson<{ count: number }>(`${green.url}/api/orders/stats`)).body.count).toBe(2);
        } finally {
          expect(await green.stop()).toEqual({ code: 0, signal: null });
        }
      } finally {
        removeDir(dir);
      }
    });

    it.skipIf(skipUnlessRoot("running the backend as uid 1000 like the image's USER node"))(
      "runs like the image's runtime stage: prod dependencies only, uid 1000, code it cannot write; HEALTHCHECK passes",
      async () => {
        // The Dockerfile's own steps, without a Docker engine: `npm ci --omit=dev` from the lockfile,
        // copy dist, run `node dist/main.js` as USER node (uid 1000), probe with the HEALTHCHECK command.
        const dockerfile = readFileSync(join(BACKEND_DIR, "Dockerfile"), "utf8");
        const runtime = tempDir("backend-runtime");
        chmodSync(runtime, 0o755);
        try {
          copyFileSync(join(BACKEND_DIR, "package.json"), join(runtime, "package.json"));
          copyFileSync(join(BACKEND_DIR, "package-lock.json"), join(runtime, "package-lock.json"));
          expect(dockerfile).toContain("RUN npm ci --omit=dev --no-audit --no-fund");
          runOk("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: runtime });
          expect(existsSync(join(runtime, "node_modules", "typescript"))).toBe(false);
          cpSync(join(BACKEND_DIR, "dist"), join(runtime, "dist"), { recursive: true });

          const replica = await startBackendApp({
            databaseUrl: deps.databaseUrl,
            redisUrl: deps.redisUrl,
            colour: "green",
            drainMs: 0,
            appDir: runtime,
            user: { uid: 1000, gid: 1000 },
          });
          try {
            expect(runOk("ps", ["-o", "uid=", "-p", String(replica.process.pid)]).stdout.trim()).toBe("1000");
            const write = run("setpriv", [
              "--reuid=1000",
              "--regid=1000",
              "--clear-groups",
              "touch",
              join(runtime, "dist", "x"),
            ]);
            expect(write.status, "uid 1000 must not be able to change the app's code").not.toBe(0);
            const healthcheck = healthcheckCommand(dockerfile);
            const probe = (port: number) =>
              run(healthcheck[0], healthcheck.slice(1), {
                env: { PATH: process.env.PATH ?? "", PORT: String(port) },
                timeout: 10_000,
              }).status;
            expect(probe(replica.port)).toBe(0);
            expect(probe(await freePort())).toBe(1);
          } finally {
            expect(await replica.stop()).toEqual({ code: 0, signal: null });
          }
        } finally {
          removeDir(runtime);
        }
      },
    );

    it("on SIGTERM: /health 503 (status error) during the drain, other requests still served, then exit 0", async () => {
      // A request still in flight when the drain ends must be answered before the server closes.
      const slowMs = drainMs + 700;
      const slow = fetch(`${app.url}/ping?delay_ms=${slowMs}`).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as unknown,
      }));
      slow.catch(() => undefined); // awaited below; a failure before that must not go unhandled
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = Date.now();
      app.process.kill("SIGTERM");
      const draining = await waitForHealth(app.url, 503, drainMs, 20);
      expect(draining.body.status).toBe("error");
      expect(draining.body.error?.lifecycle).toEqual({ status: "down", message: "shutting down" });

      // Still draining: normal requests are answered, and keep-alive clients are told to reconnect.
      const ping = await fetch(`${app.url}/ping`);
      expect(ping.status).toBe(200);
      expect(ping.headers.get("connection")).toBe("close");
      await ping.arrayBuffer();
      const order = await postOrder(app.url, JSON.stringify({ item: "during-drain", quantity: 1 }));
      expect(order.status).toBe(201);
      expect(Date.now() - started).toBeLessThan(drainMs);

      const exit = await app.exited;
      const elapsed = Date.now() - started;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(elapsed).toBeGreaterThanOrEqual(slowMs - 100);
      expect(await slow).toEqual({ status: 200, body: { colour: "blue" } });
      const output = app.output();
      expect(output).toContain("shutdown: draining");
      expect(output).toContain("postgres: pool closed");
      expect(output).toContain("redis: connection closed");
      // Still one JSON object per line after failed health checks, reconnects and the stop.
      const lines = output.trim().split("\n");
      expect(lines.filter((line) => !line.startsWith("{"))).toEqual([]);
      expect(
        lines.some((line) => line.includes('"level":"error"') && line.includes("Health Check has failed")),
      ).toBe(true);
      expect(deps.pg.sql("SELECT count(*) FROM app.orders WHERE item = 'during-drain'", "app")).toBe("1");
    });

    it("refuses to start without DATABASE_URL: exit status non-zero and a message naming it", async () => {
      const result = runAppToExit({ REDIS_URL: deps.redisUrl, PORT: String(await freePort()) });
      expect(result.status).not.toBe(0);
      expect(result.stdout + result.stderr).toMatch(/DATABASE_URL is required .*postgres:\/\//);
    });

    it("refuses bad settings, naming each one", async () => {
      const result = runAppToExit({
        PORT: String(await freePort()),
        DATABASE_URL: "mysql://u:p@127.0.0.1/db",
        REDIS_URL: deps.redisUrl,
        APP_COLOUR: "purple",
        SHUTDOWN_DRAIN_MS: "soon",
      });
      expect(result.status).toBe(1);
      const output = result.stdout + result.stderr;
      expect(output).toContain("DATABASE_URL must start with postgres:// or postgresql://");
      expect(output).toContain('APP_COLOUR must be \\"blue\\" or \\"green\\", got \\"purple\\"');
      expect(output).toContain("SHUTDOWN_DRAIN_MS must be an integer");
    });

    it("exits 1 with a clear message when Postgres stays unreachable at start-up", async () => {
      const closedPort = await freePort();
      const result = runAppToExit({
        DATABASE_URL: `postgres://app:secret-pw@127.0.0.1:${closedPort}/app`,
        REDIS_URL: deps.redisUrl,
        PORT: String(await freePort()),
        STARTUP_DB_TIMEOUT_MS: "1000",
      });
      expect(result.status).toBe(1);
      const output = result.stdout + result.stderr;
      expect(output).toMatch(/cannot start: postgres: cannot prepare the schema after \d+ attempts/);
      expect(output).toContain(`127.0.0.1:${closedPort}`);
      expect(output).not.toContain("secret-pw");
    });
  },
);

describe("examples/backend/Dockerfile", () => {
  const dockerfile = readFileSync(join(BACKEND_DIR, "Dockerfile"), "utf8");
  const instructions = dockerfile
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .filter((line) => line.trim() && !line.startsWith("#"));

  it("is multi-stage on a pinned node 20 slim image and runs as the non-root node user", () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20\.18\.0-bookworm-slim$/m);
    expect(instructions.filter((line) => line.startsWith("FROM ")).length).toBeGreaterThanOrEqual(3);
    expect(dockerfile).not.toMatch(/:latest\b/);
    const runtime = instructions.slice(instructions.findIndex((line) => / AS runtime$/.test(line)));
    expect(runtime).toContain("USER node");
    expect(runtime).toContain("EXPOSE 4000");
    expect(runtime).toContain("STOPSIGNAL SIGTERM");
    expect(runtime.at(-1)).toBe('CMD ["node", "dist/main.js"]');
    // Only production dependencies reach the runtime stage.
    expect(runtime.join("\n")).toContain("COPY --from=prod-deps /app/node_modules ./node_modules");
    expect(runtime.join("\n")).not.toMatch(/COPY --from=build \/app\/node_modules/);
    expect(healthcheckCommand(dockerfile)[0]).toBe("node");
  });

  it("keeps node_modules and dist out of the build context", () => {
    const ignore = readFileSync(join(BACKEND_DIR, ".dockerignore"), "utf8").split("\n");
    expect(ignore).toContain("node_modules");
    expect(ignore).toContain("dist");
  });
});
