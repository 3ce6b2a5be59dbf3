/**
 * One colour of backend containers (a slot stack `<env>-blue` / `<env>-green`).
 *
 * - N replicas of the backend image, each with the network alias `backend-<colour>` on the app
 *   network, where the edge's `server-template` finds them through Docker DNS: deploying a slot
 *   needs no change in the env stack.
 * - Rolling replacement that keeps capacity: a replica's container name carries a hash of
 *   everything it is made of (`revisionNamed`), so a change creates the new container next to the
 *   old one (create-before-delete, Pulumi's default), waits until Docker reports it healthy, and
 *   only then goes on to the next replica (each replica's inputs wait for the previous one). Pulumi deletes the old containers after
 *   their replacements are up; each old one gets SIGTERM, drains (/health 503, so the edge
 *   stops sending it requests) and exits within `stopTimeoutSeconds`.
 * - The connection URLs (with the env stack's generated passwords) are files in a per-slot volume,
 *   mounted read-only at /run/secrets (`DATABASE_URL_FILE`, `REDIS_URL_FILE`), never env values.
 * - The image is `backend.image` (pinned) or, when unset, examples/backend built on the docker
 *   host and tagged with a hash of its sources (never `latest`).
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import type { Colour, Environment } from "../config/keys";
import { BACKEND_ROLE, REPLICA_LABEL, ROLE_LABEL, SLOT_LABEL } from "../lib/slot-labels";
import { slotAlias } from "./edge";
import { buildImage } from "./built-image";
import { pullImage, type ResolvedImage } from "./pulled-image";
import { SecretFiles } from "./secret-files";
import { ServiceContainer } from "./service-container";

/** uid:gid of the `node` user in the official Node image the backend runs on. */
export const BACKEND_USER = "1000:1000";

export interface SlotDatabase {
  host: pulumi.Input<string>;
  port: pulumi.Input<number>;
  database: pulumi.Input<string>;
  user: pulumi.Input<string>;
  /** Secret. */
  password: pulumi.Input<string>;
}

export interface SlotRedis {
  host: pulumi.Input<string>;
  port: pulumi.Input<number>;
  /** The application's ACL user (not the administrator `default`). */
  user: pulumi.Input<string>;
  /** Secret. */
  password: pulumi.Input<string>;
}

export interface BackendSlotArgs {
  /** Open-files limit (`ulimit nofile`) of its containers (config `containerOpenFilesLimit`). Default 65536. */
  openFilesLimit?: number;
  /** Prefix of container names, e.g. `backend-infra-prod`. */
  namePrefix: string;
  /** Environment; prod refuses to build the image without a registry (it must run by digest). */
  environment: Environment;
  /** Slot colour. */
  colour: Colour;
  /** Number of backend containers. */
  replicas: number;
  /** Pinned image reference. Unset: build `buildContext`. */
  image?: string;
  /** Directory with the backend's Dockerfile, relative to the project. Default `examples/backend`. */
  buildContext?: string;
  /** Registry to push a built image to; unset: the image stays on the docker host. */
  registry?: { server: string; username?: string; password?: pulumi.Input<string> };
  /** Memory limit per container, MB. */
  memoryMb: number;
  /** CPU limit per container. */
  cpus: number;
  /** Seconds a container has after SIGTERM to drain and exit. */
  stopTimeoutSeconds: number;
  /** Port the backend listens on (4000). */
  port: number;
  /** Docker networks from the env stack: app (edge -> backend), data (Postgres, Redis), monitoring. */
  networks: { app: pulumi.Input<string>; data: pulumi.Input<string>; monitoring?: pulumi.Input<string> };
  postgres: SlotDatabase;
  redis: SlotRedis;
  /** Docker engine (DOCKER_HOST for the CLI) that writes the connection-URL files. */
  dockerHost: pulumi.Input<string>;
}

/** Where a replica finds its connection URLs (`DATABASE_URL_FILE`, `REDIS_URL_FILE`). */
export const SLOT_SECRETS_DIR = "/run/secrets";

/**
 * Resource transformation for the slot's containers: appends to the container name a hash of
 * every other property the container is created from (image digest, env, limits, healthcheck,
 * labels, ...). Docker re-creates a container for almost any change, and Pulumi replaces
 * create-before-delete; with the hash in the name the new container never clashes with the old
 * one, and an unchanged container keeps its name (no spurious replacement). The spec holds no
 * secret (the connection URLs are files; their revision label is a hash).
 */
export function revisionNamed(
  args: pulumi.ResourceTransformationArgs,
): pulumi.ResourceTransformationResult | undefined {
  if (args.type !== "docker:index/container:Container") return undefined;
  const { name, ...rest } = args.props as Record<string, unknown> & { name: pulumi.Input<string> };
  const revision = pulumi.unsecret(
    pulumi
      .output(rest)
      .apply((spec) => createHash("sha256").update(JSON.stringify(spec)).digest("hex").slice(0, 8)),
  );
  return { props: { ...args.props, name: pulumi.interpolate`${name}-${revision}` }, opts: args.opts };
}

export class BackendSlot extends pulumi.ComponentResource {
  /** The image reference the containers run. */
  readonly image: pulumi.Output<string>;
  readonly containers: pulumi.Output<string[]>;
  /** What the edge resolves: `backend-<colour>:<port>`. */
  readonly upstream: string;

  constructor(name: string, args: BackendSlotArgs, opts?: pulumi.ComponentResourceOptions) {
    super("backend-infra:app:BackendSlot", name, {}, opts);
    if (!Number.isInteger(args.replicas) || args.replicas < 1) {
      throw new Error(
        `BackendSlot ${name}: backendReplicas must be a whole number >= 1, got ${args.replicas}`,
      );
    }

    // One pull (or build) for all replicas.
    const image = args.image !== undefined ? pullImage(name, args.image, this) : this.buildImage(name, args);
    const databaseUrl = pulumi
      .all([
        args.postgres.user,
        args.postgres.password,
        args.postgres.host,
        args.postgres.port,
        args.postgres.database,
      ])
      .apply(
        ([user, password, host, port, database]) =>
          `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${database}`,
      );
    const redisUrl = pulumi
      .all([args.redis.user, args.redis.password, args.redis.host, args.redis.port])
      .apply(
        ([user, password, host, port]) =>
          `redis://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}`,
      );
    const envs = [
      pulumi.output("NODE_ENV=production"),
      pulumi.output(`PORT=${args.port}`),
      pulumi.output(`APP_COLOUR=${args.colour}`),
      pulumi.output("LOG_REQUESTS=false"),
      // The app drains for this long after SIGTERM (/health 503) before closing; the edge's health
      // check (inter 2 s, fastinter 500 ms, fall 3) notices within ~3 s. Keep it below stopTimeout.
      pulumi.output(
        `SHUTDOWN_DRAIN_MS=${Math.min(5000, Math.max(0, args.stopTimeoutSeconds * 1000 - 5000))}`,
      ),
      // Files, not env values: see components/secret-files.ts.
      pulumi.output(`DATABASE_URL_FILE=${SLOT_SECRETS_DIR}/database-url`),
      pulumi.output(`REDIS_URL_FILE=${SLOT_SECRETS_DIR}/redis-url`),
    ];
    const secrets = new SecretFiles(
      `${name}-secrets`,
      {
        volumeName: `${args.namePrefix}-backend-${args.colour}-secrets`,
        image: image.id,
        owner: BACKEND_USER,
        files: { "database-url": databaseUrl, "redis-url": redisUrl },
        dockerHost: args.dockerHost,
      },
      { parent: this },
    );

    const alias = slotAlias(args.colour);
    const containers: ServiceContainer[] = [];
    for (let i = 1; i <= args.replicas; i++) {
      const previous = containers[containers.length - 1];
      containers.push(
        new ServiceContainer(
          `${name}-${i}`,
          {
            openFilesLimit: args.openFilesLimit,
            // revisionNamed (below) appends the hash of everything else the container is made of.
            containerName: `${args.namePrefix}-backend-${args.colour}-${i}`,
            image,
            user: BACKEND_USER,
            memoryMb: args.memoryMb,
            cpus: args.cpus,
            envs,
            volumes: [{ volumeName: secrets.volumeName, containerPath: SLOT_SECRETS_DIR, readOnly: true }],
            networks: [
              { name: args.networks.app, aliases: [alias] },
              { name: args.networks.data },
              ...(args.networks.monitoring ? [{ name: args.networks.monitoring, aliases: [alias] }] : []),
            ],
            healthcheck: {
              test: [
                "CMD",
                "node",
                "-e",
                `fetch('http://127.0.0.1:${args.port}/health',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))`,
              ],
              intervalSeconds: 10,
              timeoutSeconds: 3,
              startPeriodSeconds: 30,
              retries: 3,
            },
            stopSignal: "SIGTERM",
            stopTimeoutSeconds: args.stopTimeoutSeconds,
            // Names change with every revision (revisionNamed), so a replica can be replaced
            // create-first and the slot keeps its capacity.
            replacement: "create-first",
            labels: {
              [ROLE_LABEL]: BACKEND_ROLE,
              [SLOT_LABEL]: args.colour,
              [REPLICA_LABEL]: String(i),
              // New connection URLs (a rotated password) replace the replicas, one at a time.
              "backend-infra.secrets-revision": secrets.revision,
              // One replica at a time: this container's inputs wait for the previous replica's name,
              // which resolves only once that container is created and healthy (wait: true). A
              // component's dependsOn does not reach its children, an input dependency does. That
              // name changes only when the previous replica is replaced, which a change to the slot
              // does to every replica anyway.
              ...(previous ? { "backend-infra.started-after": previous.containerName } : {}),
            },
          },
          { parent: this, dependsOn: previous ? [previous] : [], transformations: [revisionNamed] },
        ),
      );
    }

    this.image = image.ref;
    this.containers = pulumi.all(containers.map((c) => c.containerName));
    this.upstream = `${alias}:${args.port}`;
    this.registerOutputs({ image: this.image, containers: this.containers, upstream: this.upstream });
  }

  private buildImage(name: string, args: BackendSlotArgs): ResolvedImage {
    // Pushed: run by digest. Local build: the content-hash tag is the pin.
    return buildImage(
      name,
      {
        repository: "backend",
        context: args.buildContext ?? "examples/backend",
        registry: args.registry,
        namePrefix: args.namePrefix,
        environment: args.environment,
      },
      this,
    );
  }
}
