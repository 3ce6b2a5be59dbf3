/**
 * The env stack (`prod`, `staging`, `local`): everything that must survive a deploy.
 * Each tier is one component; this function only wires their inputs and outputs.
 */
import type { InfraConfig } from "../config/schema";
import { BackupStorage } from "./backup-storage";
import { dockerProvider } from "./docker-provider";
import { BackupRepository, BackupRunner } from "./backup-runner";
import { Edge, EDGE_SLOTS_PER_COLOUR } from "./edge";
import { Monitoring } from "./monitoring";
import { Networks } from "./networks";
import type { EnvStackOutputs } from "./outputs";
import { Postgres } from "./postgres";
import { Redis } from "./redis";
import { TrafficSwitch } from "./traffic-switch";

export function buildEnvStack(config: InfraConfig): EnvStackOutputs {
  const provider = dockerProvider("docker", config.dockerHost, config.registry);
  const opts = { providers: [provider] };
  const networks = new Networks("networks", { namePrefix: config.namePrefix }, opts);

  const outputs: EnvStackOutputs = {
    environment: config.environment,
    dockerHost: config.dockerHost,
    networks: networks.names,
  };

  // ---- backups: S3 (or MinIO) storage ----
  const backupStorage = new BackupStorage(
    "backup-storage",
    {
      openFilesLimit: config.containerOpenFilesLimit,
      namePrefix: config.namePrefix,
      environment: config.environment,
      backups: config.backups,
      backupNetwork: networks.names.backup,
      dockerHost: config.dockerHost,
    },
    opts,
  );
  /** Storage half of the `backups` outputs; the runner section adds its volumes. */
  const backupOutputs = {
    bucket: backupStorage.bucket,
    region: backupStorage.region,
    replicaBucket: backupStorage.replicaBucket,
    replicaRegion: backupStorage.replicaRegion,
    endpoint: backupStorage.endpoint,
    uriStyle: backupStorage.uriStyle,
    kmsKeyArn: backupStorage.kmsKeyArn,
    restoreAccessKeyId: backupStorage.restoreAccessKeyId,
    restoreSecretAccessKey: backupStorage.restoreSecretAccessKey,
    schedule: { ...config.backups.schedules },
  };

  // ---- data tier: postgres, redis ----
  // pgBackRest's config, PGBACKREST_* secrets and repo1 + spool volumes are shared by Postgres
  // (archive_command) and the backup runner, so they are made once, before both.
  const backupRepository = new BackupRepository(
    "backup-repository",
    {
      namePrefix: config.namePrefix,
      backups: config.backups,
      postgresCpus: config.postgres.cpus,
      s3: backupStorage,
    },
    opts,
  );
  const postgres = new Postgres(
    "postgres",
    {
      openFilesLimit: config.containerOpenFilesLimit,
      pgbackrest: backupRepository.postgresWiring,
      namePrefix: config.namePrefix,
      environment: config.environment,
      config: config.postgres,
      registry: config.registry,
      networks: { data: networks.names.data, backup: networks.names.backup },
    },
    opts,
  );
  const redis = new Redis(
    "redis",
    {
      openFilesLimit: config.containerOpenFilesLimit,
      namePrefix: config.namePrefix,
      config: config.redis,
      networks: { data: networks.names.data },
    },
    opts,
  );
  outputs.postgres = {
    container: postgres.container,
    host: postgres.host,
    port: postgres.port,
    database: postgres.database,
    user: postgres.user,
    password: postgres.password,
    monitorUser: postgres.monitorUser,
    monitorPassword: postgres.monitorPassword,
    superuserPassword: postgres.superuserPassword,
    url: postgres.url,
    stanza: postgres.stanza,
    dataVolume: postgres.dataVolume,
    socketVolume: postgres.socketVolume,
    dataDir: postgres.dataDir,
    image: postgres.image,
  };
  outputs.redis = {
    container: redis.container,
    host: redis.host,
    port: redis.port,
    password: redis.password,
    appUser: redis.appUser,
    appPassword: redis.appPassword,
    url: redis.url,
    dataVolume: redis.dataVolume,
    dataDir: redis.dataDir,
  };

  // ---- backups: runner ----
  const backupRunner = new BackupRunner(
    "backup-runner",
    {
      openFilesLimit: config.containerOpenFilesLimit,
      namePrefix: config.namePrefix,
      environment: config.environment,
      backups: config.backups,
      registry: config.registry,
      postgresBaseImage: config.postgres.baseImage,
      redisImage: config.redis.image,
      repository: backupRepository,
      s3: backupStorage,
      postgres: {
        dataVolume: postgres.dataVolume,
        socketVolume: postgres.socketVolume,
        database: config.postgres.database,
        host: postgres.host,
        verifyUser: postgres.verifyUser,
        verifyPassword: postgres.verifyPassword,
      },
      redis: {
        host: redis.host,
        port: redis.port,
        user: redis.backupUser,
        password: redis.backupPassword,
        dataVolume: redis.dataVolume,
      },
      networks: { data: networks.names.data, backup: networks.names.backup },
    },
    { ...opts, dependsOn: [postgres, redis] },
  );
  outputs.backups = {
    ...backupOutputs,
    localVolume: backupRunner.localVolume,
    dumpsVolume: backupRunner.dumpsVolume,
    textfileVolume: backupRunner.textfileVolume,
    runnerContainer: backupRunner.containerName,
    // paths inside the runner, so runbooks never restate them
    dumpsDir: backupRunner.dumpsDir,
    textfileDir: backupRunner.textfileDir,
  };

  // ---- edge and traffic switch ----
  const edge = new Edge(
    "edge",
    {
      openFilesLimit: config.containerOpenFilesLimit,
      namePrefix: config.namePrefix,
      image: config.edge.image,
      memoryMb: config.edge.memoryMb,
      cpus: config.edge.cpus,
      httpPort: config.edge.httpPort,
      httpsPort: config.edge.httpsPort,
      publicHostname: config.publicHostname,
      tls: config.edge.tls,
      rateLimitPer10s: config.edge.rateLimitPer10s,
      serverMaxConn: config.edge.serverMaxConn,
      queueTimeoutSeconds: config.edge.queueTimeoutSeconds,
      backendPort: config.backend.port,
      slotsPerColour: EDGE_SLOTS_PER_COLOUR,
      dockerHost: config.dockerHost,
      networks: {
        edge: networks.names.edge,
        app: networks.names.app,
        monitoring: config.monitoring.enabled ? networks.names.monitoring : undefined,
      },
    },
    opts,
  );
  const traffic = new TrafficSwitch(
    "traffic",
    {
      active: config.traffic.active,
      canaryPercent: config.traffic.canaryPercent,
      edgeContainer: edge.containerName,
      edgeContainerId: edge.containerId,
      edgeConfigHash: edge.appliedConfigHash,
      appNetwork: networks.names.app,
      adminTcp: edge.adminTcp,
      stateFile: edge.stateFile,
      dockerHost: config.dockerHost,
    },
    { ...opts, dependsOn: [edge] },
  );
  outputs.edge = {
    container: edge.containerName,
    url: edge.url,
    // a self-signed certificate (local): runbooks that GET the url trust exactly this one
    caCertPem: edge.caCertPem,
    adminSocket: edge.adminSocket,
    adminTcp: edge.adminTcp,
    stateFile: edge.stateFile,
    metricsPort: edge.metricsPort,
  };
  outputs.traffic = {
    active: traffic.active,
    weights: traffic.weights,
    canaryPercent: traffic.canaryPercent,
  };

  // ---- monitoring ----
  if (config.monitoring.enabled) {
    const monitoring = new Monitoring(
      "monitoring",
      {
        openFilesLimit: config.containerOpenFilesLimit,
        namePrefix: config.namePrefix,
        environment: config.environment,
        config: config.monitoring,
        alerting: config.alerting,
        dockerHost: config.dockerHost,
        traffic: { active: traffic.active, canaryPercent: traffic.canaryPercent },
        backendPort: config.backend.port,
        publicUrl: `${edge.url}/health`,
        networks: {
          monitoring: networks.names.monitoring,
          app: networks.names.app,
          data: networks.names.data,
        },
        textfileVolume: backupRunner.textfileVolume,
        edge: { host: edge.containerName, metricsPort: edge.metricsPort },
        postgres: {
          host: postgres.host,
          port: postgres.port,
          database: postgres.database,
          // the monitoring role (pg_monitor only): the exporter holds no application credential
          user: postgres.monitorUser,
          password: postgres.monitorPassword,
        },
        // the monitor user (server statistics only), not the administrator
        redis: {
          host: redis.host,
          port: redis.port,
          user: redis.monitorUser,
          password: redis.monitorPassword,
        },
      },
      { ...opts, dependsOn: [postgres, redis, edge] },
    );
    outputs.monitoring = {
      prometheusUrl: monitoring.prometheusUrl,
      grafanaUrl: monitoring.grafanaUrl,
      alertmanagerUrl: monitoring.alertmanagerUrl,
      grafanaAdminUser: monitoring.grafanaAdminUser,
      grafanaAdminPassword: monitoring.grafanaAdminPassword,
      // basic auth for Prometheus and Alertmanager (every endpoint needs it)
      operatorUser: monitoring.operatorUser,
      operatorPassword: monitoring.operatorPassword,
      containers: monitoring.containers,
    };
  } else {
    outputs.monitoring = { enabled: false };
  }

  return outputs;
}
