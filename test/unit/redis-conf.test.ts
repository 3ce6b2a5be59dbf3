import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  aclPasswordHash,
  REDIS_BACKUP_RULES,
  REDIS_MONITOR_RULES,
  redisMaxmemoryMb,
  redisServerArgs,
  renderRedisConf,
} from "../../renderers/redis-conf";

const admin = "A".repeat(20) + "dminPassword1234567890";
const app = "b".repeat(20) + "appPassword-_12345678";
const monitor = "c".repeat(20) + "monitorPassword-_1234";
const backup = "d".repeat(20) + "backupPassword-_12345";
const passwords = {
  adminPassword: admin,
  appPassword: app,
  monitorPassword: monitor,
  backupPassword: backup,
};
const render = (memoryMb = 256, extra = {}) => renderRedisConf({ memoryMb }, { ...passwords, ...extra });
const lines = (conf: string) => conf.split("\n").filter((l) => l && !l.startsWith("#"));

describe("redis.conf renderer", () => {
  it.each([
    [32, 24],
    [256, 192],
    [512, 384],
    [1024, 768],
    [1000, 750],
    [333, 249],
  ])("maxmemory for a %i MB limit is %i MB (75 %%)", (memoryMb, expected) => {
    expect(redisMaxmemoryMb({ memoryMb })).toBe(expected);
    expect(lines(render(memoryMb))).toContain(`maxmemory ${expected}mb`);
  });

  it("AOF everysec + RDB save rules + noeviction by default", () => {
    const l = lines(render());
    for (const expected of [
      "appendonly yes",
      "appendfsync everysec",
      "appenddirname appendonlydir",
      "aof-use-rdb-preamble yes",
      "save 3600 1 300 100 60 10000",
      "dir /data",
      "maxmemory-policy noeviction",
      "protected-mode yes",
      "tcp-keepalive 60",
      "timeout 300",
      "port 6379",
      "bind * -::*",
    ]) {
      expect(l).toContain(expected);
    }
  });

  it("takes the eviction policy and rejects an unknown one by name", () => {
    expect(lines(render(256, { maxmemoryPolicy: "allkeys-lru" }))).toContain("maxmemory-policy allkeys-lru");
    expect(() => render(256, { maxmemoryPolicy: "lru" })).toThrow(
      /redis maxmemoryPolicy: expected one of noeviction, .* got "lru"/,
    );
  });

  it("users: passwords only as SHA-256 hashes; app user without @admin and FLUSH*", () => {
    const conf = render();
    expect(conf).not.toContain(admin);
    expect(conf).not.toContain(app);
    expect(conf).not.toMatch(/requirepass/);
    const adminHash = `#${createHash("sha256").update(admin).digest("hex")}`;
    expect(aclPasswordHash(admin)).toBe(adminHash);
    expect(lines(conf)).toContain(`user default on ${adminHash} ~* &* +@all`);
    expect(lines(conf)).toContain(
      `user app on ${aclPasswordHash(app)} ~* &* +@all -@admin -flushall -flushdb`,
    );
    expect(lines(render(256, { appUser: "sessions" })).some((l) => l.startsWith("user sessions on #"))).toBe(
      true,
    );
  });

  it("users: monitor reads server statistics, backup takes a full sync; neither touches a key", () => {
    const conf = render();
    expect(conf).not.toContain(monitor);
    expect(conf).not.toContain(backup);
    const monitorLine = lines(conf).find((l) => l.startsWith("user monitor "));
    const backupLine = lines(conf).find((l) => l.startsWith("user backup "));
    expect(monitorLine).toBe(`user monitor on ${aclPasswordHash(monitor)} ${REDIS_MONITOR_RULES}`);
    expect(backupLine).toBe(`user backup on ${aclPasswordHash(backup)} ${REDIS_BACKUP_RULES}`);
    for (const line of [monitorLine, backupLine]) {
      expect(line).toContain("resetkeys resetchannels -@all");
      expect(line).not.toMatch(/~|&\*|\+@/);
    }
  });

  it("rejects weak or equal passwords, bad users, tiny memory", () => {
    expect(() => render(256, { adminPassword: "short" })).toThrow(
      /redis adminPassword: expected at least 32 characters/,
    );
    expect(() => render(256, { appPassword: admin })).toThrow(
      /redis appPassword: must differ from adminPassword/,
    );
    expect(() => render(256, { backupPassword: monitor })).toThrow(
      /redis backupPassword: must differ from monitorPassword/,
    );
    expect(() => render(256, { monitorPassword: "x" })).toThrow(
      /redis monitorPassword: expected at least 32/,
    );
    for (const taken of ["default", "monitor", "backup"]) {
      expect(() => render(256, { appUser: taken })).toThrow(/appUser: expected a lower-case name other than/);
    }
    expect(() => render(16)).toThrow(/redis memoryMb: expected a whole number of MB >= 32, got 16/);
    expect(() => render(256, { dir: "data" })).toThrow(/redis dir/);
  });

  it("server arguments carry every directive of the file, in order", () => {
    const conf = render();
    const args = redisServerArgs(conf);
    const names = args.filter((a) => a.startsWith("--")).map((a) => a.slice(2));
    // All but `logfile ""`: Redis' default, and the Docker provider refuses an empty argument.
    expect(names).toEqual(
      lines(conf)
        .map((l) => l.split(" ")[0])
        .filter((n) => n !== "logfile"),
    );
    expect(args).not.toContain("");
    const at = (name: string) => args.indexOf(`--${name}`);
    expect(args.slice(at("save"), at("save") + 7)).toEqual([
      "--save",
      "3600",
      "1",
      "300",
      "100",
      "60",
      "10000",
    ]);
    expect(() => redisServerArgs('save ""')).toThrow(/"save """ has an empty value/);
    expect(args.slice(at("bind"), at("bind") + 3)).toEqual(["--bind", "*", "-::*"]);
    expect(args.join(" ")).not.toContain(app);
  });
});
