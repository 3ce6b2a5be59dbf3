/**
 * The stack-output contract runbooks read (architecture section 4). Fields may be added,
 * never renamed. `*` fields in the architecture are Pulumi secrets here.
 */
import type * as pulumi from "@pulumi/pulumi";

type Out<T> = pulumi.Input<T>;

export interface EnvStackOutputs {
  environment: string;
  dockerHost: Out<string>;
  networks: {
    edge: Out<string>;
    app: Out<string>;
    data: Out<string>;
    monitoring: Out<string>;
    backup: Out<string>;
  };
  edge?: { container: Out<string>; url: Out<string>; adminSocket: Out<string>; [extra: string]: unknown };
  traffic?: { active: Out<string>; weights: Out<{ blue: number; green: number }>; [extra: string]: unknown };
  postgres?: {
    container: Out<string>;
    host: Out<string>;
    port: Out<number>;
    database: Out<string>;
    user: Out<string>;
    password: Out<string>;
    stanza: Out<string>;
    /** PGDATA in the Postgres container, the same path in the backup runner (runbooks restore there). */
    dataDir: Out<string>;
    [extra: string]: unknown;
  };
  redis?: {
    container: Out<string>;
    host: Out<string>;
    port: Out<number>;
    password: Out<string>;
    /** The data directory in the Redis container, the same path in the backup runner. */
    dataDir: Out<string>;
    [extra: string]: unknown;
  };
  backups?: {
    bucket: Out<string>;
    region: Out<string>;
    replicaBucket: Out<string | undefined>;
    localVolume: Out<string>;
    schedule: Out<Record<string, string>>;
    /** The backup runner container (runbooks run its jobs; the environment lock lives in it). */
    runnerContainer: Out<string>;
    /** Paths in the runner: the dumps volume (BACKUP_DIR) and the metrics (TEXTFILE_DIR). */
    dumpsDir: Out<string>;
    textfileDir: Out<string>;
    [extra: string]: unknown;
  };
  monitoring?:
    | {
        prometheusUrl: Out<string>;
        grafanaUrl: Out<string>;
        alertmanagerUrl: Out<string>;
        grafanaAdminPassword: Out<string>;
        /** Basic auth user and password for Prometheus and Alertmanager (both require a login). */
        operatorUser: Out<string>;
        operatorPassword: Out<string>;
        [extra: string]: unknown;
      }
    | { enabled: false };
}

export interface SlotStackOutputs {
  environment: string;
  slot: string;
  image?: Out<string>;
  containers?: Out<string[]>;
  upstream?: Out<string>;
  [extra: string]: unknown;
}

/** Output paths (dot-separated) every env stack must export; checked by the contract test. */
export const ENV_OUTPUT_CONTRACT = [
  "environment",
  "dockerHost",
  "networks.edge",
  "networks.app",
  "networks.data",
  "networks.monitoring",
  "edge.container",
  "edge.url",
  "edge.adminSocket",
  "traffic.active",
  "traffic.weights.blue",
  "traffic.weights.green",
  "postgres.container",
  "postgres.host",
  "postgres.port",
  "postgres.database",
  "postgres.user",
  "postgres.password",
  "postgres.stanza",
  "postgres.dataDir",
  "redis.container",
  "redis.host",
  "redis.port",
  "redis.password",
  "redis.dataDir",
  "backups.bucket",
  "backups.region",
  "backups.localVolume",
  "backups.schedule",
  "backups.runnerContainer",
  "backups.dumpsDir",
  "backups.textfileDir",
] as const;

/** Output paths that must be Pulumi secrets. */
export const SECRET_OUTPUTS = [
  "postgres.password",
  "postgres.monitorPassword",
  "redis.password",
  "monitoring.grafanaAdminPassword",
  "monitoring.operatorPassword",
] as const;

export const SLOT_OUTPUT_CONTRACT = ["environment", "slot", "image", "containers", "upstream"] as const;
