/**
 * The data tier in the real program under mocks (L2): prod, staging and local plans each hold
 * exactly one Postgres and one Redis container with the hardening, limits, networks, volumes,
 * healthchecks and settings issue 3 asks for; no published ports; passwords secret everywhere.
 */
import { describe, expect, it } from "vitest";
import { aclPasswordHash } from "../../renderers/redis-conf";
import { runProgram, type PlannedResource, type PlanResult } from "../harness/run-program";
import { imageRunBy } from "../harness/images";

const CONTAINER = "docker:index/container:Container";
const plans = new Map<string, Promise<PlanResult>>();
const plan = (stack: string) => {
  if (!plans.has(stack)) plans.set(stack, runProgram(stack));
  return plans.get(stack) as Promise<PlanResult>;
};

function only(resources: PlannedResource[], predicate: (r: PlannedResource) => boolean, what: string) {
  const found = resources.filter(predicate);
  expect(
    found.map((r) => r.urn),
    what,
  ).toHaveLength(1);
  return found[0];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- plan inputs are untyped provider JSON
type Inputs = Record<string, any>;
const get = (obj: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);

describe.each(["prod", "staging", "local"])("data tier in the %s plan", (stack) => {
  it("exactly one Postgres and one Redis component, each with one container", async () => {
    const { resources, config } = await plan(stack);
    only(resources, (r) => r.type === "backend-infra:data:Postgres", "Postgres components");
    only(resources, (r) => r.type === "backend-infra:data:Redis", "Redis components");
    only(resources, (r) => r.type === CONTAINER && r.inputs.name === `${config.namePrefix}-postgres`, "pg");
    only(resources, (r) => r.type === CONTAINER && r.inputs.name === `${config.namePrefix}-redis`, "redis");
  });

  it("Postgres: hardened, limited, data + backup networks only, healthcheck, tuned settings", async () => {
    const { resources, config } = await plan(stack);
    const p = config.namePrefix;
    const pg = only(resources, (r) => r.type === CONTAINER && r.inputs.name === `${p}-postgres`, "pg");
    const i = pg.inputs as Inputs;
    expect(i.user).toBe("999:999");
    expect(i.memory).toBe(config.postgres.memoryMb);
    expect(i.memorySwap).toBe(config.postgres.memoryMb);
    expect(Number(i.cpus)).toBe(config.postgres.cpus);
    expect(i.cpus).toMatch(/^\d+\.\d+$/); // as the provider reads it back (1.0, not 1)
    expect(i.ports ?? []).toEqual([]);
    expect(i.readOnly).toBe(true);
    expect(i.privileged).toBe(false);
    expect(i.securityOpts).toContain("no-new-privileges:true");
    expect(i.capabilities.drops).toEqual(["ALL"]);
    expect(i.restart).toBe("unless-stopped");
    expect(i.logDriver).toBe("json-file");
    expect(i.logOpts).toMatchObject({ "max-size": "10m", "max-file": "5" });
    expect(i.ulimits.find((u: Inputs) => u.name === "nproc").hard).toBeGreaterThanOrEqual(512);
    // Docker mounts a tmpfs owned by root; the start script writes these as 999.
    for (const dir of ["/etc/pgbackrest", "/docker-entrypoint-initdb.d"]) {
      expect(i.tmpfs[dir], dir).toMatch(/(^|,)uid=999,gid=999,mode=0750(,|$)/);
    }
    expect(i.healthcheck.tests).toEqual([
      "CMD",
      "pg_isready",
      "-h",
      "127.0.0.1",
      "-p",
      "5432",
      "-U",
      config.postgres.user,
      "-d",
      config.postgres.database,
    ]);
    expect(i.networksAdvanced.map((n: Inputs) => n.name).sort()).toEqual([`${p}-backup`, `${p}-data`]);
    const dataNet = only(
      resources,
      (r) => r.type === "docker:index/network:Network" && r.inputs.name === `${p}-data`,
      "data network",
    );
    expect(dataNet.inputs.internal).toBe(true);
    expect(i.volumes).toContainEqual({
      volumeName: `${p}-postgres-data`,
      containerPath: "/var/lib/postgresql/data",
    });
    // settings: tuned from the memory limit, archiving through pgBackRest
    const expectedShared = { prod: "1GB", staging: "512MB", local: "256MB" }[stack];
    expect(i.command).toContain(`shared_buffers=${expectedShared}`);
    expect(i.command).toContain("wal_level=replica");
    expect(i.command).toContain("archive_mode=on");
    expect(i.command).toContain(`archive_timeout=1min`);
    expect(i.command).toContain(
      "archive_command=pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=main archive-push %p",
    );
    // passwords travel only as secret env values
    expect(pg.secretInputs).toContain("envs");
    const env = (i.envs as string[]).join("\n");
    expect(env).toContain("POSTGRES_USER=postgres");
    expect(env).toContain(`APP_DB_USER=${config.postgres.user}`);
    const { outputs } = await plan(stack);
    const monitorPassword = String(get(outputs, "postgres.monitorPassword"));
    expect(i.envs).toContain("MONITOR_DB_USER=monitor");
    expect(i.envs).toContain(`MONITOR_DB_PASSWORD=${monitorPassword}`);
    expect(i.command.join(" ")).not.toContain(String(get(outputs, "postgres.password")));
    expect(i.command.join(" ")).not.toContain(monitorPassword);
  });

  it("Postgres image: built from images/postgres; prod runs it by registry digest", async () => {
    const { resources, config } = await plan(stack);
    const image = only(
      resources,
      (r) =>
        r.type === "docker:index/remoteImage:RemoteImage" &&
        String((r.inputs.build as Inputs)?.context).endsWith("/images/postgres"),
      "postgres image",
    );
    const build = image.inputs.build as Inputs;
    expect(build.dockerfile).toBe("Dockerfile");
    expect(build.buildArgs.POSTGRES_BASE_IMAGE).toBe(config.postgres.baseImage);
    const pg = only(
      resources,
      (r) => r.type === CONTAINER && r.inputs.name === `${config.namePrefix}-postgres`,
      "pg",
    );
    // The container runs the build's image ID; with a registry the build is pushed too.
    expect(imageRunBy(resources, pg).name).toBe(image.inputs.name);
    const pushes = resources.filter(
      (r) => r.type === "docker:index/registryImage:RegistryImage" && r.inputs.name === image.inputs.name,
    );
    expect(pushes).toHaveLength(config.registry ? 1 : 0);
    if (stack === "prod") expect(config.registry).toBeDefined();
  });

  it("Redis: hardened, data network only, AOF everysec, maxmemory 75 %, hashed passwords only", async () => {
    const { resources, config, outputs } = await plan(stack);
    const p = config.namePrefix;
    const redis = only(resources, (r) => r.type === CONTAINER && r.inputs.name === `${p}-redis`, "redis");
    const i = redis.inputs as Inputs;
    expect(i.user).toBe("999:999");
    expect(i.memory).toBe(config.redis.memoryMb);
    expect(i.ports ?? []).toEqual([]);
    expect(i.readOnly).toBe(true);
    expect(i.securityOpts).toContain("no-new-privileges:true");
    expect(i.capabilities.drops).toEqual(["ALL"]);
    expect(i.networksAdvanced.map((n: Inputs) => n.name)).toEqual([`${p}-data`]);
    expect(i.volumes).toContainEqual({ volumeName: `${p}-redis-data`, containerPath: "/data" });
    expect(imageRunBy(resources, redis)).toEqual({
      name: config.redis.image,
      repoDigest: expect.stringMatching(/^redis@sha256:[a-f0-9]{64}$/),
    });
    const cmd = (i.command as string[]).join(" ");
    expect(cmd).toContain("--appendonly yes");
    expect(cmd).toContain("--appendfsync everysec");
    expect(cmd).toContain("--save 3600 1 300 100 60 10000");
    expect(cmd).toContain(`--maxmemory ${Math.floor(config.redis.memoryMb * 0.75)}mb`);
    expect(cmd).toContain(`--maxmemory-policy ${config.redis.maxmemoryPolicy}`);
    const admin = String(get(outputs, "redis.password"));
    const app = String(get(outputs, "redis.appPassword"));
    expect(admin.length).toBeGreaterThanOrEqual(32);
    expect(cmd).not.toContain(admin);
    expect(cmd).not.toContain(app);
    expect(cmd).toContain(`--user default on ${aclPasswordHash(admin)} ~* &* +@all`);
    expect(cmd).toContain(`--user app on ${aclPasswordHash(app)} ~* &* +@all -@admin -flushall -flushdb`);
    expect(i.healthcheck.tests).toEqual(["CMD-SHELL", "redis-cli -p 6379 ping | grep -q PONG"]);
    expect(redis.secretInputs).toContain("envs");
    expect(JSON.stringify(i.healthcheck)).not.toContain(admin);
    expect(i.envs).toEqual([`REDISCLI_AUTH=${admin}`]);
  });

  it("outputs: contract fields, passwords and URLs secret", async () => {
    const { outputs, secretOutputs, config } = await plan(stack);
    const p = config.namePrefix;
    for (const secret of [
      "postgres.password",
      "postgres.superuserPassword",
      "postgres.monitorPassword",
      "postgres.url",
      "redis.password",
      "redis.appPassword",
      "redis.url",
    ]) {
      expect(secretOutputs, secret).toContain(secret);
    }
    expect(get(outputs, "postgres.container")).toBe(`${p}-postgres`);
    expect(get(outputs, "postgres.host")).toBe(`${p}-postgres`);
    expect(get(outputs, "postgres.port")).toBe(5432);
    expect(get(outputs, "postgres.database")).toBe(config.postgres.database);
    expect(get(outputs, "postgres.user")).toBe(config.postgres.user);
    expect(get(outputs, "postgres.stanza")).toBe("main");
    const pgPassword = String(get(outputs, "postgres.password"));
    expect(pgPassword).toMatch(/^[A-Za-z0-9_-]{40}$/);
    expect(pgPassword).not.toBe(get(outputs, "postgres.superuserPassword"));
    expect(get(outputs, "postgres.monitorUser")).toBe("monitor");
    const monitorPassword = String(get(outputs, "postgres.monitorPassword"));
    expect(monitorPassword).toMatch(/^[A-Za-z0-9_-]{40}$/);
    expect([pgPassword, get(outputs, "postgres.superuserPassword")]).not.toContain(monitorPassword);
    expect(get(outputs, "postgres.url")).toBe(
      `postgresql://${config.postgres.user}:${pgPassword}@${p}-postgres:5432/${config.postgres.database}`,
    );
    expect(get(outputs, "redis.container")).toBe(`${p}-redis`);
    expect(get(outputs, "redis.port")).toBe(6379);
    expect(get(outputs, "redis.url")).toBe(
      `redis://app:${String(get(outputs, "redis.appPassword"))}@${p}-redis:6379/0`,
    );
  });
});

describe("data tier options", () => {
  it("postgresDataPath / redisDataPath become bind-mounted local volumes (the seed's /opt/data layout)", async () => {
    const { resources } = await runProgram("local", {
      overrides: { postgresDataPath: "/opt/data/postgres", redisDataPath: "/opt/data/redis" },
    });
    const volume = (name: string) =>
      only(resources, (r) => r.type === "docker:index/volume:Volume" && r.inputs.name === name, name);
    expect(volume("backend-infra-local-postgres-data").inputs.driverOpts).toEqual({
      type: "none",
      o: "bind",
      device: "/opt/data/postgres",
    });
    expect(volume("backend-infra-local-redis-data").inputs.driverOpts).toEqual({
      type: "none",
      o: "bind",
      device: "/opt/data/redis",
    });
  });

  it("postgresUser may not take the monitoring role's name", async () => {
    await expect(runProgram("local", { overrides: { postgresUser: "monitor" } })).rejects.toThrow(
      /postgresUser "monitor" is reserved for the monitoring role/,
    );
  });

  it("postgresUser may not be the superuser, the verify role or a pg_ name: the application runs unprivileged", async () => {
    await expect(runProgram("local", { overrides: { postgresUser: "postgres" } })).rejects.toThrow(
      /postgresUser "postgres" is the superuser: the application must run as its own unprivileged role/,
    );
    await expect(runProgram("local", { overrides: { postgresUser: "verify" } })).rejects.toThrow(
      /postgresUser "verify" is reserved for the read-only verify role/,
    );
    await expect(runProgram("local", { overrides: { postgresUser: "pg_app" } })).rejects.toThrow(
      /postgresUser may not start with pg_/,
    );
  });

  it("the Postgres container gets the app, monitoring and verify roles; the runner logs the drill in as verify", async () => {
    const { resources } = await runProgram("local");
    const envNames = (name: string) =>
      (
        only(resources, (r) => r.type === CONTAINER && r.inputs.name === name, name).inputs.envs as string[]
      ).map((e) => e.split("=")[0]);
    expect(envNames("backend-infra-local-postgres")).toEqual(
      expect.arrayContaining([
        "APP_DB_USER",
        "APP_DB_PASSWORD",
        "MONITOR_DB_USER",
        "MONITOR_DB_PASSWORD",
        "VERIFY_DB_USER",
        "VERIFY_DB_PASSWORD",
      ]),
    );
    expect(envNames("backend-infra-local-backup-runner")).toEqual(
      expect.arrayContaining(["VERIFY_DB_HOST", "VERIFY_DB_USER", "VERIFY_DB_PASSWORD"]),
    );
  });

  it("prod without a registry is refused: the Postgres image must run by digest", async () => {
    await expect(
      runProgram("prod", { overrides: { registryServer: undefined, registryUsername: undefined } }),
    ).rejects.toThrow(/registryServer/);
  });
});
