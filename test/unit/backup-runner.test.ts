/**
 * The backup runner and pgBackRest wiring in the real program under mocks (L2), for every env
 * stack: the configured schedules render into the runner container, Postgres and the runner get
 * the same pgbackrest.conf and secrets, the runner shares Postgres's data/socket/repo1 volumes
 * at the same paths, sits on the data + backup networks only, and is hardened like every service.
 */
import { describe, expect, it } from "vitest";
import { renderBackupCrontab } from "../../renderers/backup-crontab";
import { redisAclUserOf } from "../harness/redis-acl";
import { runProgram, type PlannedResource, type PlanResult } from "../harness/run-program";

const CONTAINER = "docker:index/container:Container";
const plans = new Map<string, Promise<PlanResult>>();
const plan = (stack: string, values?: Record<string, string>) => {
  const key = `${stack}:${JSON.stringify(values ?? {})}`;
  if (!plans.has(key)) plans.set(key, runProgram(stack, values ? { overrides: values } : {}));
  return plans.get(key) as Promise<PlanResult>;
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- plan inputs are untyped provider JSON
type Inputs = Record<string, any>;

function container(resources: PlannedResource[], name: string): Inputs {
  const found = resources.filter((r) => r.type === CONTAINER && r.inputs.name === name);
  expect(found, name).toHaveLength(1);
  return found[0].inputs as Inputs;
}

/** KEY=value environment of a container as a map. */
function envOf(inputs: Inputs): Record<string, string> {
  return Object.fromEntries(
    (inputs.envs as string[]).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]),
  );
}
const decode = (b64: string) => Buffer.from(b64, "base64").toString("utf8");

describe.each(["prod", "staging", "local"])("backup runner in the %s plan", (stack) => {
  it("runs the configured schedules: the crontab in the container is the rendered one", async () => {
    const { resources, config } = await plan(stack);
    const env = envOf(container(resources, `${config.namePrefix}-backup-runner`));
    const crontab = decode(env.BACKUP_CRONTAB_B64);
    expect(crontab).toBe(
      renderBackupCrontab({ schedules: config.backups.schedules, binDir: "/usr/local/bin" }),
    );
    expect(crontab).toContain(`${config.backups.schedules.diff} /usr/local/bin/backup-pg diff`);
    expect(crontab).toContain(`${config.backups.schedules.full} /usr/local/bin/backup-pg full`);
    expect(env.RETENTION_DAYS).toBe(String(config.backups.localRetentionDays));
  });

  it("gives Postgres and the runner the same pgbackrest.conf, with repo1 and repo2 and no secrets in it", async () => {
    const { resources, config } = await plan(stack);
    const pgEnv = envOf(container(resources, `${config.namePrefix}-postgres`));
    const runnerEnv = envOf(container(resources, `${config.namePrefix}-backup-runner`));
    const conf = decode(runnerEnv.PGBACKREST_CONF_B64);
    expect(decode(pgEnv.PGBACKREST_CONF_B64)).toBe(conf);
    expect(conf).toContain("repo1-path=/var/lib/pgbackrest");
    expect(conf).toContain(`repo1-retention-full=${config.backups.localRetentionDays}`);
    expect(conf).toContain(`repo2-retention-full=${config.backups.cloudRetentionDays}`);
    expect(conf).toContain(`compress-type=${config.backups.compression}`);
    expect(conf).toContain("archive-async=y");
    expect(conf).toContain("spool-path=/var/spool/pgbackrest");
    expect(conf).toContain("pg1-path=/var/lib/postgresql/data");
    expect(conf).toContain(`repo2-s3-uri-style=${config.backups.storage === "minio" ? "path" : "host"}`);
    expect(conf).not.toMatch(/cipher-pass=|s3-key=|s3-key-secret=/);
    for (const name of ["PGBACKREST_REPO2_S3_KEY", "PGBACKREST_REPO2_S3_KEY_SECRET"]) {
      expect(pgEnv[name], name).toBeTruthy();
      expect(runnerEnv[name], name).toBeTruthy();
    }
    // PostgreSQL archives with the archive identity (adds WAL, deletes nothing), the runner
    // backs up and expires with the writer; MinIO (local) has one identity for both.
    if (config.backups.storage === "aws") {
      expect(pgEnv.PGBACKREST_REPO2_S3_KEY).toMatch(/^backup-storage-archive-/);
      expect(runnerEnv.PGBACKREST_REPO2_S3_KEY).toMatch(/^backup-storage-writer-/);
      expect(pgEnv.PGBACKREST_REPO2_S3_KEY_SECRET).not.toBe(runnerEnv.PGBACKREST_REPO2_S3_KEY_SECRET);
    } else {
      expect(pgEnv.PGBACKREST_REPO2_S3_KEY).toBe(runnerEnv.PGBACKREST_REPO2_S3_KEY);
    }
    if (config.backups.repoEncryption) {
      expect(conf).toContain("repo1-cipher-type=aes-256-cbc");
      expect(runnerEnv.PGBACKREST_REPO1_CIPHER_PASS).toBe(pgEnv.PGBACKREST_REPO1_CIPHER_PASS);
      expect(runnerEnv.PGBACKREST_REPO1_CIPHER_PASS.length).toBeGreaterThanOrEqual(32);
    }
  });

  it("keeps every credential secret in the plan", async () => {
    const { resources, config } = await plan(stack);
    for (const name of [`${config.namePrefix}-backup-runner`, `${config.namePrefix}-postgres`]) {
      const r = resources.find((x) => x.type === CONTAINER && x.inputs.name === name) as PlannedResource;
      expect(r.secretInputs, name).toContain("envs");
    }
  });

  it("snapshots Redis as the `backup` ACL user (full sync only), not the administrator", async () => {
    const { resources, config, outputs } = await plan(stack);
    const env = envOf(container(resources, `${config.namePrefix}-backup-runner`));
    const redis = outputs.redis as { password: string; appPassword: string };
    expect(env.REDIS_USER).toBe("backup");
    expect([redis.password, redis.appPassword]).not.toContain(env.REDIS_PASSWORD);
    expect(redisAclUserOf(resources, `${config.namePrefix}-redis`, env.REDIS_PASSWORD)).toBe("backup");
  });

  it("shares the data, socket and repo1 volumes with Postgres at the same paths", async () => {
    const { resources, config } = await plan(stack);
    const pg = container(resources, `${config.namePrefix}-postgres`);
    const runner = container(resources, `${config.namePrefix}-backup-runner`);
    const mounts = (i: Inputs) =>
      Object.fromEntries((i.volumes as Inputs[]).map((v) => [v.containerPath, v.volumeName]));
    const pgMounts = mounts(pg);
    const runnerMounts = mounts(runner);
    for (const path of ["/var/lib/postgresql/data", "/var/run/postgresql", "/var/lib/pgbackrest"]) {
      expect(runnerMounts[path], path).toBeDefined();
      expect(runnerMounts[path]).toBe(pgMounts[path]);
    }
    expect(runnerMounts["/backups"]).toBe(`${config.namePrefix}-backups`);
    expect(runnerMounts["/var/lib/node_exporter/textfile"]).toBe(
      `${config.namePrefix}-node-exporter-textfile`,
    );
    expect(runnerMounts["/scratch"]).toBeDefined();
    // restore-redis --data-dir /data (disaster-recovery runbook) works on Redis's own volume.
    const redisMounts = mounts(container(resources, `${config.namePrefix}-redis`));
    expect(runnerMounts["/data"]).toBe(redisMounts["/data"]);
    // The spool of the Postgres container is its own (archive-push state), not the runner's.
    expect(runnerMounts["/var/spool/pgbackrest"]).not.toBe(pgMounts["/var/spool/pgbackrest"]);
  });

  it("is hardened: uid 999, limits, read-only root, caps dropped, data + backup networks, no ports", async () => {
    const { resources, config } = await plan(stack);
    const i = container(resources, `${config.namePrefix}-backup-runner`);
    expect(i.user).toBe("999:999");
    expect(i.memory).toBeGreaterThanOrEqual(512);
    expect(i.readOnly).toBe(true);
    expect(i.capabilities.drops).toEqual(["ALL"]);
    expect(i.securityOpts).toContain("no-new-privileges:true");
    expect(i.ports ?? []).toEqual([]);
    expect(Object.keys(i.tmpfs)).toEqual(expect.arrayContaining(["/tmp", "/etc/pgbackrest", "/etc/backup"]));
    // Docker mounts a tmpfs owned by root: the runner (999) writes these at start.
    for (const dir of ["/etc/pgbackrest", "/etc/backup"]) {
      expect(i.tmpfs[dir], dir).toMatch(/(^|,)uid=999,gid=999,mode=0750(,|$)/);
    }
    expect(i.healthcheck.tests.join(" ")).toContain("pgrep -x supercronic");
    const networks = (i.networksAdvanced as Inputs[]).map((n) => n.name).sort();
    expect(networks).toEqual([`${config.namePrefix}-backup`, `${config.namePrefix}-data`].sort());
  });

  it("exports backups.localVolume (repo1) and the runner's volumes", async () => {
    const { outputs, config } = await plan(stack);
    const backups = outputs.backups as Record<string, unknown>;
    expect(backups.localVolume).toBe(`${config.namePrefix}-pgbackrest-repo`);
    expect(backups.dumpsVolume).toBe(`${config.namePrefix}-backups`);
    expect(backups.textfileVolume).toBe(`${config.namePrefix}-node-exporter-textfile`);
    expect(backups.runnerContainer).toBe(`${config.namePrefix}-backup-runner`);
  });
});

describe("backup runner follows config", () => {
  it("custom schedules and compression reach the crontab and the config", async () => {
    // local: prod and staging keep repository encryption on (config refuses it off there).
    const { resources, config } = await plan("local", {
      "backend-infra:backupDiffSchedule": "0 */6 * * *",
      "backend-infra:backupDrillSchedule": "30 4 * * 1",
      "backend-infra:backupCompression": "zst",
      "backend-infra:backupRepoEncryption": "false",
    });
    const env = envOf(container(resources, `${config.namePrefix}-backup-runner`));
    const crontab = decode(env.BACKUP_CRONTAB_B64);
    expect(crontab).toContain("0 */6 * * * /usr/local/bin/backup-pg diff");
    expect(crontab).toContain("30 4 * * 1 /usr/local/bin/restore-drill");
    const conf = decode(env.PGBACKREST_CONF_B64);
    expect(conf).toContain("compress-type=zst");
    expect(conf).not.toContain("cipher");
    expect(env.PGBACKREST_REPO1_CIPHER_PASS).toBeUndefined();
  });
});
