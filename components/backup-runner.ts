/**
 * The backup tier's Docker side (issue 5):
 *
 * - `BackupRepository`: pgBackRest's wiring shared by Postgres and the runner: the rendered
 *   pgbackrest.conf (renderers/pgbackrest-conf.ts; repo1 = posix volume, repo2 = the S3 bucket),
 *   the repo1 and archive-async spool volumes, the generated repository cipher passphrase and the
 *   `PGBACKREST_*` secret environment. Built before Postgres, which archives WAL with it.
 * - `BackupRunner`: the runner container (images/backup) that runs the rendered crontab with
 *   supercronic: full/diff pgBackRest backups, logical dumps, Redis RDB snapshots, verification
 *   and the restore drill, writing node_exporter textfile metrics. Contract: images/backup/README.md.
 *
 * The runner reads the Postgres data directory and socket through Postgres's volumes (pgBackRest
 * backs up from the data files; both containers run as uid 999 and mount them at the same paths,
 * which pgBackRest requires). Like Postgres, its root filesystem is read-only: the rendered
 * pgbackrest.conf and crontab arrive base64-encoded in the environment and `backup-runner-start`
 * writes them into tmpfs mounts.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { Environment, InfraConfig } from "../config/schema";
import { parseImageRef } from "../lib/image-ref";
import { renderBackupCrontab } from "../renderers/backup-crontab";
import {
  processMaxForCpus,
  renderPgBackRestConf,
  type PgBackRestConfInput,
} from "../renderers/pgbackrest-conf";
import {
  DEFAULT_STANZA,
  POSTGRES_PATHS,
  POSTGRES_PORT,
  POSTGRES_SUPERUSER,
  POSTGRES_TMPFS_OWNER,
  POSTGRES_UID,
} from "./postgres";
import { REDIS_DATA_PATH } from "./redis";
import { buildImage } from "./built-image";
import { ServiceContainer } from "./service-container";

/** Paths inside the runner container (see images/backup/README.md, "Container layout"). */
export const RUNNER_PATHS = {
  crontab: "/etc/backup/crontab",
  dumps: "/backups",
  textfile: "/var/lib/node_exporter/textfile",
  scratch: "/scratch",
  bin: "/usr/local/bin",
} as const;

/** The S3 side the backup tier writes to: `BackupStorage` satisfies this shape. */
export interface BackupS3Target {
  storage: "aws" | "minio";
  bucket: pulumi.Input<string>;
  region: string;
  /** Endpoint URL as containers reach it, e.g. `https://minio:9000`. */
  endpoint: string;
  /** Host of `endpoint` (pgBackRest `repo2-s3-endpoint`). */
  endpointHost: string;
  /** Port of `endpoint` (pgBackRest `repo2-storage-port`). */
  endpointPort: number;
  uriStyle: "host" | "path";
  /** Encryption uploads ask for: `aws:kms` (with `kmsKeyArn`) on AWS. */
  sse: "aws:kms" | "AES256";
  kmsKeyArn?: pulumi.Input<string>;
  /** Writer credentials (pgBackRest repo2 and dump uploads). */
  writerAccessKeyId: pulumi.Input<string>;
  writerSecretAccessKey: pulumi.Input<string>;
  /** PostgreSQL's archive_command credentials (add WAL, delete nothing). */
  archiveAccessKeyId: pulumi.Input<string>;
  archiveSecretAccessKey: pulumi.Input<string>;
}

export interface BackupRepositoryArgs {
  /** Prefix of volume names, e.g. `backend-infra-prod`. */
  namePrefix: string;
  /** The typed `backups` config (retention days, compression, repository encryption). */
  backups: InfraConfig["backups"];
  /** CPU limit of the Postgres container; pgBackRest's process-max follows it (1-8). */
  postgresCpus: number;
  /** The S3 bucket and writer identity for repo2. */
  s3: BackupS3Target;
  /** pgBackRest stanza. Default `main`. */
  stanza?: string;
}

/** What the Postgres component needs from the backup tier (its `pgbackrest` argument). */
export interface PgBackRestWiring {
  config: pulumi.Output<string>;
  stanza: string;
  env: pulumi.Input<string>[];
  repoVolume: pulumi.Output<string>;
  spoolVolume: pulumi.Output<string>;
}

export class BackupRepository extends pulumi.ComponentResource {
  /** Rendered pgbackrest.conf (no secrets in it). */
  readonly config: pulumi.Output<string>;
  readonly stanza: string;
  /** `PGBACKREST_*=value` secrets of the runner: S3 writer keys, cipher passphrases. */
  readonly env: pulumi.Output<string>[];
  /** repo1 volume (local posix repository). */
  readonly repoVolume: pulumi.Output<string>;
  /** archive-async spool volume (Postgres container). */
  readonly spoolVolume: pulumi.Output<string>;
  /** The `pgbackrest` argument of `Postgres`. */
  readonly postgresWiring: PgBackRestWiring;

  constructor(name: string, args: BackupRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("backend-infra:backup:BackupRepository", name, {}, opts);
    const b = args.backups;
    this.stanza = args.stanza ?? DEFAULT_STANZA;
    const volume = (suffix: string, label: string) =>
      new docker.Volume(
        `${name}-${suffix}`,
        {
          name: `${args.namePrefix}-${suffix}`,
          driver: "local",
          labels: [{ label: "backend-infra.volume", value: label }],
        },
        // Backups outlive the stack's resources.
        { parent: this, retainOnDelete: true },
      );
    this.repoVolume = volume("pgbackrest-repo", "pgbackrest-repo1").name;
    this.spoolVolume = volume("pgbackrest-spool", "pgbackrest-spool").name;

    const s3Keys = (id: pulumi.Input<string>, secret: pulumi.Input<string>) => [
      pulumi.secret(pulumi.interpolate`PGBACKREST_REPO2_S3_KEY=${id}`),
      pulumi.secret(pulumi.interpolate`PGBACKREST_REPO2_S3_KEY_SECRET=${secret}`),
    ];
    const cipherEnv: pulumi.Output<string>[] = [];
    if (b.repoEncryption) {
      // The passphrase lives in the Pulumi state (secret): losing the state means losing the
      // ability to decrypt the repositories, so `pulumi stack export` backups matter.
      const cipher = new random.RandomPassword(
        `${name}-cipher-pass`,
        { length: 64, special: false },
        { parent: this, additionalSecretOutputs: ["result"] },
      );
      cipherEnv.push(
        pulumi.secret(pulumi.interpolate`PGBACKREST_REPO1_CIPHER_PASS=${cipher.result}`),
        pulumi.secret(pulumi.interpolate`PGBACKREST_REPO2_CIPHER_PASS=${cipher.result}`),
      );
    }
    this.env = [...s3Keys(args.s3.writerAccessKeyId, args.s3.writerSecretAccessKey), ...cipherEnv];
    // PostgreSQL only pushes (and, recovering, gets) WAL: the archive identity, not the writer.
    const postgresEnv = [...s3Keys(args.s3.archiveAccessKeyId, args.s3.archiveSecretAccessKey), ...cipherEnv];

    const s3 = args.s3;
    this.config = pulumi
      .all([pulumi.output(s3.bucket), pulumi.output(s3.kmsKeyArn)])
      .apply(([bucket, kmsKeyArn]) => {
        const input: PgBackRestConfInput = {
          stanza: this.stanza,
          pg: {
            path: POSTGRES_PATHS.data,
            port: POSTGRES_PORT,
            socketPath: POSTGRES_PATHS.socket,
            user: POSTGRES_SUPERUSER,
          },
          repo1: { path: POSTGRES_PATHS.repo, retentionDays: b.localRetentionDays },
          repo2: {
            bucket,
            endpoint: s3.endpointHost,
            port: s3.endpointPort === 443 ? undefined : s3.endpointPort,
            region: s3.region,
            uriStyle: s3.uriStyle,
            retentionDays: b.cloudRetentionDays,
            credentials: { type: "env" },
            kmsKeyId: s3.storage === "aws" ? kmsKeyArn : undefined,
            // MinIO (local stack only) serves a self-signed certificate on the internal backup
            // network; the file-less Postgres container has no place for its CA.
            verifyTls: s3.storage === "minio" ? false : undefined,
          },
          compression: b.compression,
          processMax: processMaxForCpus(args.postgresCpus),
          cipher: b.repoEncryption ? {} : undefined,
          spoolPath: POSTGRES_PATHS.spool,
          logLevel: "info",
        };
        return renderPgBackRestConf(input);
      });

    this.postgresWiring = {
      config: this.config,
      stanza: this.stanza,
      env: postgresEnv,
      repoVolume: this.repoVolume,
      spoolVolume: this.spoolVolume,
    };
    this.registerOutputs({
      config: this.config,
      stanza: this.stanza,
      repoVolume: this.repoVolume,
      spoolVolume: this.spoolVolume,
    });
  }
}

export interface BackupRunnerArgs {
  /** Open-files limit (`ulimit nofile`) of its containers (config `containerOpenFilesLimit`). Default 65536. */
  openFilesLimit?: number;
  /** Prefix of container and volume names, e.g. `backend-infra-prod`. */
  namePrefix: string;
  environment: Environment;
  /** The typed `backups` config (schedules, local retention). */
  backups: InfraConfig["backups"];
  /** Registry to push the built image to. Unset: build on the Docker host only (not allowed in prod). */
  registry?: InfraConfig["registry"];
  /** Official PostgreSQL image the runner is built FROM (same as the Postgres image's base). */
  postgresBaseImage: string;
  /** Redis image whose binaries the runner copies (same as the Redis container's). */
  redisImage: string;
  /** pgBackRest wiring (config, secrets, repo1 volume). */
  repository: BackupRepository;
  /** The S3 bucket for dump uploads. */
  s3: BackupS3Target;
  postgres: {
    /** Data volume, mounted at the same path as in Postgres (pgBackRest requires it). */
    dataVolume: pulumi.Input<string>;
    /** Socket volume: pgBackRest and pg_dump connect as `postgres` over the socket (peer auth, uid 999). */
    socketVolume: pulumi.Input<string>;
    /** Database the logical dump and the drill cover. */
    database: string;
    /** Host name of PostgreSQL on the data network: the drill's verify role logs in over TCP. */
    host: pulumi.Input<string>;
    /** Read-only role the restore drill reads both databases as (Postgres.verifyUser). */
    verifyUser: pulumi.Input<string>;
    /** Its password (secret). */
    verifyPassword: pulumi.Input<string>;
  };
  redis: {
    host: pulumi.Input<string>;
    port: pulumi.Input<number>;
    /** The `backup` ACL user (replication handshake only: `redis-cli --rdb`). */
    user: pulumi.Input<string>;
    /** Its password (secret). */
    password: pulumi.Input<string>;
    /** Redis data volume, mounted at /data (as in Redis) so `restore-redis --data-dir /data` works from the runner. */
    dataVolume: pulumi.Input<string>;
  };
  /** `data` (Postgres, Redis) and `backup` (egress to S3). */
  networks: { data: pulumi.Input<string>; backup: pulumi.Input<string> };
  /** Memory limit in MB (the restore drill runs a private PostgreSQL). Default 1024. */
  memoryMb?: number;
  /** CPU limit. Default 1. */
  cpus?: number;
  /** Build context. Default `images/backup` (relative to the project directory). */
  imageContext?: string;
  /** Restore drill compares per-table checksums (`--exact`). Default false (busy databases differ). */
  drillExact?: boolean;
}

export class BackupRunner extends pulumi.ComponentResource {
  readonly containerName: pulumi.Output<string>;
  /** repo1 volume (`backups.localVolume` stack output). */
  readonly localVolume: pulumi.Output<string>;
  /** Logical dumps and RDB files. */
  readonly dumpsVolume: pulumi.Output<string>;
  /** node_exporter textfile collector directory; mount it in node_exporter (`--collector.textfile.directory`). */
  readonly textfileVolume: pulumi.Output<string>;
  readonly scratchVolume: pulumi.Output<string>;
  /** Where the dumps volume is mounted in the runner (BACKUP_DIR; the environment lock lives there). */
  readonly dumpsDir: string = RUNNER_PATHS.dumps;
  /** Where the textfile volume is mounted in the runner (TEXTFILE_DIR: the backup metrics). */
  readonly textfileDir: string = RUNNER_PATHS.textfile;
  readonly image: pulumi.Output<string>;
  /** The crontab supercronic runs (rendered from the config schedules). */
  readonly crontab: string;
  readonly service: ServiceContainer;

  constructor(name: string, args: BackupRunnerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("backend-infra:backup:BackupRunner", name, {}, opts);
    const prefix = args.namePrefix;
    // ---- image
    const base = parseImageRef(args.postgresBaseImage);
    if (!base?.tag)
      throw new Error(`BackupRunner: postgresBaseImage needs a tag, got "${args.postgresBaseImage}"`);
    const built = buildImage(
      name,
      {
        repository: "backup-runner",
        tagPrefix: base.tag,
        context: args.imageContext ?? "images/backup",
        buildArgs: { POSTGRES_BASE_IMAGE: args.postgresBaseImage, REDIS_IMAGE: args.redisImage },
        registry: args.registry,
        namePrefix: prefix,
        environment: args.environment,
      },
      this,
    );
    this.image = built.ref;

    // ---- volumes
    const volume = (suffix: string, label: string, retain: boolean) =>
      new docker.Volume(
        `${name}-${suffix}`,
        {
          name: `${prefix}-${suffix}`,
          driver: "local",
          labels: [{ label: "backend-infra.volume", value: label }],
        },
        { parent: this, retainOnDelete: retain },
      ).name;
    this.dumpsVolume = volume("backups", "backup-dumps", true);
    this.textfileVolume = volume("node-exporter-textfile", "node-exporter-textfile", false);
    this.scratchVolume = volume("backup-scratch", "backup-scratch", false);
    const runnerSpool = volume("backup-runner-spool", "backup-runner-spool", false);
    this.localVolume = args.repository.repoVolume;

    // ---- rendered files
    this.crontab = renderBackupCrontab({
      schedules: args.backups.schedules,
      binDir: RUNNER_PATHS.bin,
      drillExact: args.drillExact,
    });
    const b64 = (text: string) => Buffer.from(text).toString("base64");

    const s3 = args.s3;
    const envs: pulumi.Input<string>[] = [
      `PGHOST=${POSTGRES_PATHS.socket}`,
      `PGPORT=${POSTGRES_PORT}`,
      `PGUSER=${POSTGRES_SUPERUSER}`,
      `PGDATABASE=${args.postgres.database}`,
      // The restore drill reads application data as the read-only verify role, over TCP with
      // its password (the socket's peer authentication only lets uid 999 in as the superuser).
      pulumi.interpolate`VERIFY_DB_HOST=${args.postgres.host}`,
      pulumi.interpolate`VERIFY_DB_USER=${args.postgres.verifyUser}`,
      pulumi.secret(pulumi.interpolate`VERIFY_DB_PASSWORD=${args.postgres.verifyPassword}`),
      `PGBACKREST_CONFIG=${POSTGRES_PATHS.pgbackrestConfig}`,
      `PGBACKREST_STANZA=${args.repository.stanza}`,
      args.repository.config.apply((text) => `PGBACKREST_CONF_B64=${b64(text)}`),
      `BACKUP_CRONTAB=${RUNNER_PATHS.crontab}`,
      `BACKUP_CRONTAB_B64=${b64(this.crontab)}`,
      `BACKUP_DIR=${RUNNER_PATHS.dumps}`,
      `TEXTFILE_DIR=${RUNNER_PATHS.textfile}`,
      `SCRATCH_DIR=${RUNNER_PATHS.scratch}`,
      // Downloads (restore from S3) can be large: keep them off the small /tmp tmpfs.
      `TMPDIR=${RUNNER_PATHS.scratch}`,
      `RETENTION_DAYS=${args.backups.localRetentionDays}`,
      pulumi.interpolate`REDIS_HOST=${args.redis.host}`,
      pulumi.interpolate`REDIS_PORT=${args.redis.port}`,
      pulumi.interpolate`REDIS_USER=${args.redis.user}`,
      pulumi.secret(pulumi.interpolate`REDIS_PASSWORD=${args.redis.password}`),
      pulumi.interpolate`S3_BUCKET=${s3.bucket}`,
      `S3_REGION=${s3.region}`,
      // MinIO has no KMS: send no encryption header there (the bucket default applies).
      `S3_SSE=${s3.storage === "aws" ? s3.sse : "none"}`,
      pulumi.secret(pulumi.interpolate`AWS_ACCESS_KEY_ID=${s3.writerAccessKeyId}`),
      pulumi.secret(pulumi.interpolate`AWS_SECRET_ACCESS_KEY=${s3.writerSecretAccessKey}`),
      ...args.repository.env,
    ];
    if (s3.storage === "minio") envs.push(`S3_ENDPOINT=${s3.endpoint}`, "S3_VERIFY_TLS=false");
    if (s3.storage === "aws" && s3.kmsKeyArn) envs.push(pulumi.interpolate`S3_KMS_KEY_ID=${s3.kmsKeyArn}`);

    this.service = new ServiceContainer(
      `${name}-container`,
      {
        openFilesLimit: args.openFilesLimit,
        containerName: `${prefix}-backup-runner`,
        image: built,
        user: `${POSTGRES_UID}:${POSTGRES_UID}`,
        memoryMb: args.memoryMb ?? 1024,
        cpus: args.cpus ?? 1,
        envs,
        volumes: [
          { volumeName: args.postgres.dataVolume, containerPath: POSTGRES_PATHS.data },
          { volumeName: args.postgres.socketVolume, containerPath: POSTGRES_PATHS.socket },
          { volumeName: args.repository.repoVolume, containerPath: POSTGRES_PATHS.repo },
          { volumeName: runnerSpool, containerPath: POSTGRES_PATHS.spool },
          { volumeName: this.dumpsVolume, containerPath: RUNNER_PATHS.dumps },
          { volumeName: this.textfileVolume, containerPath: RUNNER_PATHS.textfile },
          { volumeName: this.scratchVolume, containerPath: RUNNER_PATHS.scratch },
          { volumeName: args.redis.dataVolume, containerPath: REDIS_DATA_PATH },
        ],
        tmpfs: {
          "/tmp": "rw,noexec,nosuid,nodev,size=64m",
          // Written at start by the runner (uid 999); Docker mounts a tmpfs owned by root.
          "/etc/pgbackrest": `rw,noexec,nosuid,nodev,size=1m,${POSTGRES_TMPFS_OWNER}`,
          "/etc/backup": `rw,noexec,nosuid,nodev,size=1m,${POSTGRES_TMPFS_OWNER}`,
          // The drill's private PostgreSQL needs POSIX shared memory.
          "/dev/shm": "rw,noexec,nosuid,nodev,size=256m",
        },
        healthcheck: {
          // supercronic runs the schedule and the config is in place; whether backups succeed is
          // the job of the freshness alerts on backup_last_success_timestamp_seconds.
          test: [
            "CMD-SHELL",
            'pgrep -x supercronic >/dev/null && test -r "$PGBACKREST_CONFIG" && test -r "$BACKUP_CRONTAB"',
          ],
          intervalSeconds: 30,
          timeoutSeconds: 5,
          // backup-init waits up to 300 s for PostgreSQL before supercronic starts.
          startPeriodSeconds: 330,
          retries: 3,
        },
        networks: [{ name: args.networks.data }, { name: args.networks.backup }],
        ports: [],
        // A running backup gets time to finish its current file; pgBackRest resumes next time.
        stopTimeoutSeconds: 60,
        labels: { "backend-infra.tier": "backup" },
      },
      { parent: this },
    );
    this.containerName = this.service.containerName;

    this.registerOutputs({
      containerName: this.containerName,
      localVolume: this.localVolume,
      dumpsVolume: this.dumpsVolume,
      textfileVolume: this.textfileVolume,
      scratchVolume: this.scratchVolume,
      dumpsDir: this.dumpsDir,
      textfileDir: this.textfileDir,
      image: this.image,
      crontab: this.crontab,
    });
  }
}
