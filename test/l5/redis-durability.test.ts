/**
 * L5: Redis 7 started with the rendered configuration, in the container's form (the conf as
 * `redis-server --name args` arguments). Writes keys continuously, `kill -9`s the server,
 * restarts it on the same directory and counts what survived: with `appendfsync everysec`
 * every key acknowledged more than 1 s before the kill must be there. (A killed process loses
 * nothing Redis already wrote to the kernel, and Redis writes the AOF buffer before it replies,
 * so the measured loss is normally 0; the ~1 s window of everysec is what a host crash or power
 * loss can cost, which a test on a live kernel cannot produce.) Also checks the ACL
 * split (the app user cannot FLUSHALL or CONFIG; the admin can) and maxmemory.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisServerArgs, renderRedisConf } from "../../renderers/redis-conf";
import {
  freePort,
  removeDir,
  run,
  skipReason,
  startDaemon,
  tempDir,
  waitFor,
  type Daemon,
} from "../support/tools";

type Reply = string | number | null | Error | Reply[];

/** A minimal RESP2 client: enough for AUTH, SET, EXISTS, CONFIG GET and error replies. */
class Resp {
  private buffer = Buffer.alloc(0);
  private waiting: ((reply: Reply) => void)[] = [];
  private constructor(private socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const parsed = Resp.parse(this.buffer, 0);
        if (!parsed) break;
        this.buffer = this.buffer.subarray(parsed.end);
        this.waiting.shift()?.(parsed.reply);
      }
    });
    socket.on("error", () => undefined);
  }
  static open(port: number): Promise<Resp> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => resolve(new Resp(socket)));
      socket.once("error", reject);
    });
  }
  private static parse(buf: Buffer, at: number): { reply: Reply; end: number } | undefined {
    const eol = buf.indexOf("\r\n", at);
    if (eol < 0) return undefined;
    const head = buf.toString("utf8", at + 1, eol);
    switch (String.fromCharCode(buf[at])) {
      case "+":
        return { reply: head, end: eol + 2 };
      case "-":
        return { reply: new Error(head), end: eol + 2 };
      case ":":
        return { reply: Number(head), end: eol + 2 };
      case "$": {
        const len = Number(head);
        if (len < 0) return { reply: null, end: eol + 2 };
        if (buf.length < eol + 2 + len + 2) return undefined;
        return { reply: buf.toString("utf8", eol + 2, eol + 2 + len), end: eol + 2 + len + 2 };
      }
      case "*": {
        const n = Number(head);
        const items: Reply[] = [];
        let end = eol + 2;
        for (let i = 0; i < n; i++) {
          const item = Resp.parse(buf, end);
          if (!item) return undefined;
          items.push(item.reply);
          end = item.end;
        }
        return { reply: items, end };
      }
      default:
        throw new Error(`unexpected RESP byte ${buf[at]}`);
    }
  }
  send(...args: string[]): Promise<Reply> {
    const wire = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.socket.write(wire);
    });
  }
  close() {
    this.socket.destroy();
  }
}

const adminPassword = randomBytes(24).toString("base64url");
const appPassword = randomBytes(24).toString("base64url");
const monitorPassword = randomBytes(24).toString("base64url");
const backupPassword = randomBytes(24).toString("base64url");
const passwords = { adminPassword, appPassword, monitorPassword, backupPassword };

describe.skipIf(skipReason("redis-server", "redis-cli"))(
  "redis.conf on Redis 7: AOF everysec survives kill -9 (L5)",
  () => {
    let dir: string;
    let port: number;
    let args: string[];
    let server: Daemon | undefined;

    async function start(): Promise<void> {
      server = startDaemon("redis-server", args, { cwd: dir });
      await waitFor(
        "redis to answer PING",
        () => {
          const ping = run("redis-cli", ["-p", String(port), "ping"], {
            env: { ...process.env, REDISCLI_AUTH: adminPassword },
          });
          return ping.stdout.trim() === "PONG";
        },
        { timeoutMs: 20_000 },
      );
      // Wait until the AOF (and any data) is loaded.
      await waitFor("redis to finish loading", async () => {
        const c = await Resp.open(port);
        await c.send("AUTH", "default", adminPassword);
        const info = (await c.send("INFO", "persistence")) as string;
        c.close();
        return /loading:0/.test(info);
      });
    }

    beforeAll(async () => {
      dir = tempDir("redis");
      port = await freePort();
      const conf = renderRedisConf(
        { memoryMb: 256 },
        { ...passwords, dir, port, bind: ["127.0.0.1"], maxmemoryPolicy: "noeviction" },
      );
      args = redisServerArgs(conf);
      await start();
    });

    afterAll(async () => {
      await server?.stop("SIGKILL");
      if (dir) removeDir(dir);
    });

    it("runs with the rendered settings: AOF everysec, maxmemory 75 % of 256 MB, noeviction", async () => {
      const c = await Resp.open(port);
      expect(await c.send("AUTH", "default", adminPassword)).toBe("OK");
      const get = async (name: string) => ((await c.send("CONFIG", "GET", name)) as string[])[1];
      expect(await get("appendonly")).toBe("yes");
      expect(await get("appendfsync")).toBe("everysec");
      expect(await get("maxmemory")).toBe(String(192 * 1024 * 1024));
      expect(await get("maxmemory-policy")).toBe("noeviction");
      expect(await get("save")).toBe("3600 1 300 100 60 10000");
      expect(await get("protected-mode")).toBe("yes");
      c.close();
    });

    it("the app user cannot FLUSHALL, FLUSHDB or CONFIG; wrong passwords and no password are refused", async () => {
      const c = await Resp.open(port);
      expect(await c.send("SET", "unauthenticated", "x")).toBeInstanceOf(Error);
      expect(String(await c.send("AUTH", "app", "wrong-password"))).toMatch(/WRONGPASS/);
      expect(await c.send("AUTH", "app", appPassword)).toBe("OK");
      expect(await c.send("SET", "session:1", "data")).toBe("OK");
      for (const command of [
        ["FLUSHALL"],
        ["FLUSHDB"],
        ["CONFIG", "SET", "appendonly", "no"],
        ["SHUTDOWN"],
        ["ACL", "SETUSER", "x"],
      ]) {
        expect(String(await c.send(...command)), command.join(" ")).toMatch(/NOPERM/);
      }
      // DEBUG is off for everyone (Redis 7's enable-debug-command defaults to no).
      expect(String(await c.send("DEBUG", "SLEEP", "0"))).toMatch(/DEBUG command not allowed/);
      expect(await c.send("GET", "session:1")).toBe("data");
      c.close();
    });

    /** ACL LOG entries (denied commands or keys) of one user, as "reason object" strings. */
    async function deniedFor(user: string): Promise<string[]> {
      const c = await Resp.open(port);
      await c.send("AUTH", "default", adminPassword);
      const log = (await c.send("ACL", "LOG")) as Reply[][];
      c.close();
      return log
        .map((entry) => {
          const fields = new Map<string, Reply>();
          for (let k = 0; k < entry.length; k += 2) fields.set(String(entry[k]), entry[k + 1]);
          return fields;
        })
        .filter((f) => f.get("username") === user)
        .map((f) => `${String(f.get("reason"))} ${String(f.get("object"))}`);
    }

    it("the backup user takes a full RDB with redis-cli --rdb and can do nothing else", async () => {
      const c = await Resp.open(port);
      expect(await c.send("AUTH", "backup", backupPassword)).toBe("OK");
      for (const command of [
        ["GET", "session:1"],
        ["SET", "x", "y"],
        ["KEYS", "*"],
        ["SCAN", "0"],
        ["CONFIG", "GET", "*"],
        ["FLUSHALL"],
        ["DUMP", "session:1"],
        ["SUBSCRIBE", "x"],
      ]) {
        expect(String(await c.send(...command)), command.join(" ")).toMatch(/NOPERM/);
      }
      c.close();
      const rdb = join(dir, "..", `backup-user-${port}.rdb`);
      const pulled = run(
        "redis-cli",
        ["-p", String(port), "--user", "backup", "--no-auth-warning", "--rdb", rdb],
        { env: { ...process.env, REDISCLI_AUTH: backupPassword } },
      );
      expect(pulled.status, pulled.stderr).toBe(0);
      expect(run("redis-check-rdb", [rdb]).stdout).toMatch(/RDB looks OK/);
      removeDir(rdb);
    });

    it.skipIf(skipReason("prometheus-redis-exporter"))(
      "the monitor user gives redis_exporter its metrics with no command denied, and can read no key",
      async () => {
        const c = await Resp.open(port);
        expect(await c.send("AUTH", "monitor", monitorPassword)).toBe("OK");
        for (const command of [
          ["GET", "session:1"],
          ["SET", "x", "y"],
          ["KEYS", "*"],
          ["CONFIG", "SET", "maxmemory", "1"],
          ["CLIENT", "KILL", "ID", "1"],
          ["FLUSHALL"],
          ["MONITOR"],
        ]) {
          expect(String(await c.send(...command)), command.join(" ")).toMatch(/NOPERM/);
        }
        c.close();
        const admin = await Resp.open(port);
        await admin.send("AUTH", "default", adminPassword);
        expect(await admin.send("ACL", "LOG", "RESET")).toBe("OK");
        admin.close();
        const metricsPort = await freePort();
        const exporter = startDaemon(
          "prometheus-redis-exporter",
          [`-redis.addr=redis://127.0.0.1:${port}`, `-web.listen-address=127.0.0.1:${metricsPort}`],
          { env: { ...process.env, REDIS_USER: "monitor", REDIS_PASSWORD: monitorPassword } },
        );
        try {
          let body = "";
          await waitFor("redis_exporter to answer /metrics", async () => {
            const r = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined);
            body = r?.ok ? await r.text() : "";
            return body.includes("redis_up");
          });
          expect(body).toMatch(/^redis_up 1$/m);
          for (const metric of [
            "redis_memory_used_bytes",
            "redis_memory_max_bytes",
            "redis_connected_clients",
            "redis_config_maxclients",
            "redis_slowlog_length",
            "redis_aof_enabled",
            "redis_rdb_last_save_timestamp_seconds",
          ]) {
            expect(body, metric).toMatch(new RegExp(`^${metric}(\\{[^}]*\\})? `, "m"));
          }
          // Redis logs every command an ACL refused: the exporter met none.
          expect(await deniedFor("monitor")).toEqual([]);
        } finally {
          await exporter.stop("SIGTERM");
        }
      },
    );

    it("keys acknowledged more than 1 s before kill -9 survive the restart", async () => {
      const writer = await Resp.open(port);
      expect(await writer.send("AUTH", "app", appPassword)).toBe("OK");
      const acked: { key: string; at: number }[] = [];
      const runFor = 3000;
      const started = Date.now();
      let i = 0;
      // Write continuously (a few commands in flight at a time) for ~3 s, recording when each
      // write was acknowledged.
      while (Date.now() - started < runFor && i < 2_000_000) {
        const batch: Promise<void>[] = [];
        for (let j = 0; j < 16; j++, i++) {
          const key = `k:${i}`;
          batch.push(
            writer.send("SET", key, String(Date.now())).then((reply) => {
              if (reply === "OK") acked.push({ key, at: Date.now() });
            }),
          );
        }
        await Promise.all(batch);
      }
      const killedAt = Date.now();
      server?.process.kill("SIGKILL");
      await server?.stop("SIGKILL");
      writer.close();
      expect(acked.length).toBeGreaterThan(1000);
      expect(existsSync(join(dir, "appendonlydir"))).toBe(true);
      expect(readdirSync(join(dir, "appendonlydir")).some((f) => f.endsWith(".manifest"))).toBe(true);

      await start();
      const reader = await Resp.open(port);
      expect(await reader.send("AUTH", "app", appPassword)).toBe("OK");
      const survived = new Set<string>();
      for (let from = 0; from < acked.length; from += 1000) {
        const slice = acked.slice(from, from + 1000);
        const replies = await Promise.all(slice.map((a) => reader.send("EXISTS", a.key)));
        replies.forEach((r, n) => r === 1 && survived.add(slice[n].key));
      }
      reader.close();

      const old = acked.filter((a) => killedAt - a.at > 1000);
      const recent = acked.filter((a) => killedAt - a.at <= 1000);
      const lostOld = old.filter((a) => !survived.has(a.key));
      const lostRecent = recent.filter((a) => !survived.has(a.key));
      console.log(
        `redis kill -9: ${acked.length} writes acknowledged in ${runFor} ms; ` +
          `${old.length} older than 1 s: ${lostOld.length} lost; ` +
          `${recent.length} in the last 1 s: ${lostRecent.length} lost`,
      );
      expect(old.length).toBeGreaterThan(0);
      expect(lostOld.map((a) => a.key)).toEqual([]);
    });

    it("the same rendered text as a redis.conf file gives the same configuration as the arguments", async () => {
      const fileDir = tempDir("redis-file");
      const filePort = await freePort();
      const conf = renderRedisConf(
        { memoryMb: 256 },
        { ...passwords, dir: fileDir, port: filePort, bind: ["127.0.0.1"] },
      );
      writeFileSync(join(fileDir, "redis.conf"), conf, { mode: 0o600 });
      const fromFile = startDaemon("redis-server", [join(fileDir, "redis.conf")], { cwd: fileDir });
      try {
        await waitFor(
          "file-configured redis to answer",
          () =>
            run("redis-cli", ["-p", String(filePort), "ping"], {
              env: { ...process.env, REDISCLI_AUTH: adminPassword },
            }).stdout.trim() === "PONG",
        );
        const configOf = async (p: number) => {
          const c = await Resp.open(p);
          await c.send("AUTH", "default", adminPassword);
          const all = (await c.send("CONFIG", "GET", "*")) as string[];
          const acl = (await c.send("ACL", "LIST")) as string[];
          c.close();
          const map = new Map<string, string>();
          for (let k = 0; k < all.length; k += 2) map.set(all[k], all[k + 1]);
          // port and dir differ by construction
          map.delete("port");
          map.delete("dir");
          return { config: Object.fromEntries(map), acl };
        };
        const a = await configOf(port);
        const b = await configOf(filePort);
        // ACL LIST orders command rules by the command table's (per-process) hash order: compare rule sets.
        const rules = (acl: string[]) => acl.map((line) => line.split(" ").sort().join(" ")).sort();
        expect(rules(b.acl)).toEqual(rules(a.acl));
        expect(a.acl).toHaveLength(4);
        expect(b.config).toEqual(a.config);
      } finally {
        await fromFile.stop("SIGKILL");
        removeDir(fileDir);
      }
    });
  },
);
