/**
 * Redis 7 for sessions and cache: AOF (`appendfsync everysec`) + RDB snapshots on a data volume,
 * `maxmemory` = 75 % of the memory limit, ACL users with generated passwords
 * (renderers/redis-conf.ts), on the internal data network only.
 *
 * The configuration is passed as `redis-server --name args` arguments (the root filesystem is
 * read-only and Docker refuses uploads into such a container). Passwords appear there only as
 * SHA-256 hashes. The `default` user is the administrator: its password is `REDISCLI_AUTH` in the
 * container environment, so the healthcheck and `docker exec ... redis-cli` authenticate without
 * a password on any command line. The backend connects as the `app` user through `url`; the
 * exporter as `monitor`, the backup runner as `backup` (see renderers/redis-conf.ts).
 *
 * The official image's entrypoint chowns /data and drops to the `redis` user (uid 999) only when
 * started as root; started as `999:999` it runs redis-server directly. A new named volume is
 * populated from the image's /data (owned by redis); a bind mount (`dataPath`) must be owned by
 * 999:999 on the host (`install -d -o 999 -g 999 -m 700 /opt/data/redis`).
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { InfraConfig } from "../config/schema";
import {
  aclPasswordHash,
  REDIS_BACKUP_USER,
  REDIS_MONITOR_USER,
  redisServerArgs,
  renderRedisConf,
  type EvictionPolicy,
} from "../renderers/redis-conf";
import { ServiceContainer } from "./service-container";

export const REDIS_PORT = 6379;
export const REDIS_UID = 999;
export const REDIS_DATA_PATH = "/data";
export const REDIS_APP_USER = "app";

export interface RedisArgs {
  /** Open-files limit (`ulimit nofile`) of its containers (config `containerOpenFilesLimit`). Default 65536. */
  openFilesLimit?: number;
  /** Prefix of container and volume names, e.g. `backend-infra-prod`. */
  namePrefix: string;
  /** The typed `redis` config (image, limits, eviction policy, data path). */
  config: InfraConfig["redis"];
  /** Docker network name of the internal data network. */
  networks: { data: pulumi.Input<string> };
}

export class Redis extends pulumi.ComponentResource {
  readonly container: pulumi.Output<string>;
  /** Host name on the data network (the container name). */
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  /** Password of the `default` (administrator) user (secret): backups, restores, exporter, operators. */
  readonly password: pulumi.Output<string>;
  /** The application user. */
  readonly appUser: pulumi.Output<string>;
  /** Password of the application user (secret). */
  readonly appPassword: pulumi.Output<string>;
  /** The exporter's ACL user (server statistics only) and its password (secret). */
  readonly monitorUser = REDIS_MONITOR_USER;
  readonly monitorPassword: pulumi.Output<string>;
  /** The backup runner's ACL user (`redis-cli --rdb` only) and its password (secret). */
  readonly backupUser = REDIS_BACKUP_USER;
  readonly backupPassword: pulumi.Output<string>;
  /** `redis://app:password@host:6379/0` for the backend slots (secret). */
  readonly url: pulumi.Output<string>;
  readonly dataVolume: pulumi.Output<string>;
  /**
   * The data directory (AOF, RDB) inside the container; the backup runner mounts the data volume
   * at the same path (`redis.dataDir` stack output: where runbooks restore and measure disk use).
   */
  readonly dataDir: string = REDIS_DATA_PATH;
  readonly service: ServiceContainer;

  constructor(name: string, args: RedisArgs, opts?: pulumi.ComponentResourceOptions) {
    super("backend-infra:data:Redis", name, {}, opts);
    const cfg = args.config;
    const prefix = args.namePrefix;

    const passwordArgs = {
      length: 40,
      special: true,
      overrideSpecial: "-_",
      minUpper: 2,
      minLower: 2,
      minNumeric: 2,
    };
    const admin = new random.RandomPassword(`${name}-admin-password`, passwordArgs, { parent: this });
    const app = new random.RandomPassword(`${name}-app-password`, passwordArgs, { parent: this });
    const monitor = new random.RandomPassword(`${name}-monitor-password`, passwordArgs, { parent: this });
    const backup = new random.RandomPassword(`${name}-backup-password`, passwordArgs, { parent: this });
    this.password = pulumi.secret(admin.result);
    this.appPassword = pulumi.secret(app.result);
    this.monitorPassword = pulumi.secret(monitor.result);
    this.backupPassword = pulumi.secret(backup.result);
    this.appUser = pulumi.output(REDIS_APP_USER);

    const data = new docker.Volume(
      `${name}-data`,
      {
        name: `${prefix}-redis-data`,
        driver: "local",
        driverOpts: cfg.dataPath ? { type: "none", o: "bind", device: cfg.dataPath } : undefined,
        labels: [{ label: "backend-infra.volume", value: "redis-data" }],
      },
      { parent: this, retainOnDelete: true },
    );
    this.dataVolume = data.name;

    // Rendered once with stand-in passwords for the structure, then each stand-in hash is
    // replaced by the hash of the generated password. The arguments carry only hashes, so they
    // are shown in plans (not secret).
    const standIn = {
      admin: "stand-in-admin-password-0123456789abcdef",
      app: "stand-in-app-password-0123456789abcdef",
      monitor: "stand-in-monitor-password-0123456789abcdef",
      backup: "stand-in-backup-password-0123456789abcdef",
    };
    const hashOf = (password: pulumi.Output<string>) => pulumi.unsecret(password.apply(aclPasswordHash));
    const hashes = new Map<string, pulumi.Input<string>>([
      [aclPasswordHash(standIn.admin), hashOf(admin.result)],
      [aclPasswordHash(standIn.app), hashOf(app.result)],
      [aclPasswordHash(standIn.monitor), hashOf(monitor.result)],
      [aclPasswordHash(standIn.backup), hashOf(backup.result)],
    ]);
    const serverArgs: pulumi.Input<string>[] = redisServerArgs(
      renderRedisConf(
        { memoryMb: cfg.memoryMb },
        {
          adminPassword: standIn.admin,
          appPassword: standIn.app,
          monitorPassword: standIn.monitor,
          backupPassword: standIn.backup,
          appUser: REDIS_APP_USER,
          maxmemoryPolicy: cfg.maxmemoryPolicy as EvictionPolicy,
          dir: REDIS_DATA_PATH,
          port: REDIS_PORT,
        },
      ),
    ).map((arg) => hashes.get(arg) ?? arg);

    this.service = new ServiceContainer(
      `${name}-container`,
      {
        openFilesLimit: args.openFilesLimit,
        containerName: `${prefix}-redis`,
        image: cfg.image,
        user: `${REDIS_UID}:${REDIS_UID}`,
        memoryMb: cfg.memoryMb,
        cpus: cfg.cpus,
        command: ["redis-server", ...serverArgs],
        envs: [pulumi.interpolate`REDISCLI_AUTH=${this.password}`],
        volumes: [{ volumeName: data.name, containerPath: REDIS_DATA_PATH }],
        tmpfs: { "/tmp": "rw,noexec,nosuid,nodev,size=16m" },
        healthcheck: {
          test: ["CMD-SHELL", `redis-cli -p ${REDIS_PORT} ping | grep -q PONG`],
          intervalSeconds: 10,
          timeoutSeconds: 5,
          startPeriodSeconds: 60,
          retries: 3,
        },
        networks: [{ name: args.networks.data, aliases: ["redis"] }],
        ports: [],
        // SIGTERM: Redis fsyncs the AOF and writes a final RDB before exiting; give it time.
        stopTimeoutSeconds: 60,
        labels: { "backend-infra.tier": "data" },
      },
      { parent: this },
    );

    this.container = this.service.containerName;
    this.host = this.service.containerName;
    this.port = pulumi.output(REDIS_PORT);
    this.url = pulumi.secret(
      pulumi.interpolate`redis://${REDIS_APP_USER}:${this.appPassword}@${this.host}:${REDIS_PORT}/0`,
    );

    this.registerOutputs({
      container: this.container,
      host: this.host,
      port: this.port,
      password: this.password,
      appUser: this.appUser,
      appPassword: this.appPassword,
      monitorUser: this.monitorUser,
      monitorPassword: this.monitorPassword,
      backupUser: this.backupUser,
      backupPassword: this.backupPassword,
      url: this.url,
      dataVolume: this.dataVolume,
      dataDir: this.dataDir,
    });
  }
}
