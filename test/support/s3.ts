/**
 * A throw-away S3 endpoint for real-daemon tests: npm `s3rver` served over TLS with a
 * self-signed certificate made by openssl (pgBackRest 2.45 only speaks HTTPS to S3).
 *
 * s3rver runs in a child process, not in the test process: the tests drive pgBackRest and the
 * backup scripts with synchronous spawns, which would block an in-process server.
 * `stop()` + `start()` simulate an outage and recovery on the same port and data directory.
 */
import { chmodSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { freePort, startDaemon, tempDir, removeDir, waitFor, type Daemon } from "./tools";
import { selfSignedCert } from "./tls";
import { connect } from "node:tls";

export interface S3Server {
  /** `https://127.0.0.1:<port>` */
  url: string;
  host: string;
  port: number;
  bucket: string;
  accessKey: string;
  secretKey: string;
  /** Self-signed certificate (PEM) with SAN IP:127.0.0.1; usable as a CA bundle. */
  certFile: string;
  /** Directory s3rver stores objects in. */
  dataDir: string;
  /** Keys of the stored objects under `prefix` (read from s3rver's store), sorted. */
  keys(prefix?: string): string[];
  /** Starts the server again after `stop()` (same port, same data). */
  start(): Promise<void>;
  /** Stops the server (an S3 outage). */
  stop(): Promise<void>;
  /** Stops the server and deletes its files. */
  destroy(): Promise<void>;
  /** Every request served since the start (or the last `clearRequests()`), in order. */
  requests(): S3Request[];
  clearRequests(): void;
}

export interface S3Request {
  method: string;
  /** `/bucket/key` (decoded). */
  path: string;
  /** Raw query string, e.g. `list-type=2&prefix=pgbackrest%2Farchive%2F`. */
  query: string;
  status: number;
}

const SUFFIX = "._S3rver_object";

/** Starts s3rver over TLS on a free loopback port with one bucket. */
export async function createS3Server(bucket = "backups"): Promise<S3Server> {
  const root = tempDir("s3");
  const dataDir = join(root, "data");
  const certFile = join(root, "cert.pem");
  const keyFile = join(root, "key.pem");
  selfSignedCert(root, {
    commonName: "127.0.0.1",
    subjectAltName: "IP:127.0.0.1,DNS:localhost",
    days: 2,
    certFile,
    keyFile,
  });
  const port = await freePort();
  // The certificate is read by tools that run as the postgres user.
  chmodSync(root, 0o755);
  chmodSync(certFile, 0o644);
  const requestLog = join(root, "requests.jsonl");
  const s3rverModule = createRequire(join(process.cwd(), "package.json")).resolve("s3rver");
  const script = `
    const fs = require("fs");
    const S3rver = require(${JSON.stringify(s3rverModule)});
    const app = new S3rver({
      address: "127.0.0.1",
      port: ${port},
      silent: true,
      directory: ${JSON.stringify(dataDir)},
      key: fs.readFileSync(${JSON.stringify(keyFile)}),
      cert: fs.readFileSync(${JSON.stringify(certFile)}),
      vhostBuckets: false,
      configureBuckets: [{ name: ${JSON.stringify(bucket)} }],
    });
    // First in the chain: records what each request was and how it was answered.
    app.middleware.unshift(async (ctx, next) => {
      try {
        await next();
      } finally {
        const line = { method: ctx.method, path: ctx.path, query: ctx.querystring, status: ctx.status };
        fs.appendFileSync(${JSON.stringify(requestLog)}, JSON.stringify(line) + "\\n");
      }
    });
    app.run().then(() => console.log("s3rver ready"), (e) => { console.error(e); process.exit(1); });
  `;
  let daemon: Daemon | undefined;

  const reachable = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
        socket.end();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });

  const server: S3Server = {
    url: `https://127.0.0.1:${port}`,
    host: "127.0.0.1",
    port,
    bucket,
    accessKey: "S3RVER",
    secretKey: "S3RVER",
    certFile,
    dataDir,
    keys(prefix = "") {
      const base = join(dataDir, bucket);
      const found: string[] = [];
      const walk = (dir: string) => {
        if (!existsSync(dir)) return;
        for (const entry of readdirSync(dir)) {
          const path = join(dir, entry);
          if (statSync(path).isDirectory()) walk(path);
          else if (entry.endsWith(SUFFIX)) found.push(relative(base, path).slice(0, -SUFFIX.length));
        }
      };
      walk(base);
      return found.filter((k) => k.startsWith(prefix)).sort();
    },
    async start() {
      if (daemon && daemon.process.exitCode === null) return;
      const started = startDaemon(process.execPath, ["-e", script]);
      daemon = started;
      await waitFor(`s3rver on port ${port}`, async () => {
        if (started.process.exitCode !== null) throw new Error(`s3rver exited: ${started.output()}`);
        return started.output().includes("s3rver ready") && (await reachable());
      });
    },
    async stop() {
      await daemon?.stop();
      daemon = undefined;
      await waitFor("s3rver to stop listening", async () => !(await reachable()), { timeoutMs: 10_000 });
    },
    requests() {
      if (!existsSync(requestLog)) return [];
      return readFileSync(requestLog, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as S3Request);
    },
    clearRequests() {
      writeFileSync(requestLog, "");
    },
    async destroy() {
      await daemon?.stop("SIGKILL");
      daemon = undefined;
      removeDir(root);
    },
  };
  await server.start();
  return server;
}
