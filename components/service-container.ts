/**
 * One long-running service container with this project's hardening applied by default
 * (architecture section 6, CIS Docker Benchmark 5.x). Every component builds its
 * containers through this class, so the policy pack and the hardening agree by construction.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { goDurationFromSeconds } from "../lib/go-duration";
import { parseImageRef } from "../lib/image-ref";
import { pullImage, type ResolvedImage } from "./pulled-image";

export interface ServiceHealthcheck {
  /** Docker healthcheck test, e.g. `["CMD", "pg_isready", "-U", "app"]`. */
  test: pulumi.Input<string>[];
  /** Seconds between checks. Default 10. */
  intervalSeconds?: number;
  /** Seconds before one check counts as failed. Default 5. */
  timeoutSeconds?: number;
  /** Seconds of grace after start in which failures do not count. Default 30. */
  startPeriodSeconds?: number;
  /** Consecutive failures before the container is unhealthy. Default 3. */
  retries?: number;
}

export interface ServiceNetwork {
  name: pulumi.Input<string>;
  /** DNS aliases on this network, e.g. `backend-blue`. */
  aliases?: pulumi.Input<string>[];
}

export interface ServiceContainerArgs {
  /** Docker container name. */
  containerName: pulumi.Input<string>;
  /**
   * Image to run. A plain pinned reference (`redis:7.2.6-bookworm`) is pulled through a
   * `docker.RemoteImage` (see `pullImage`); a `ResolvedImage` (built, or shared by replicas) is
   * used as given. Either way the container runs the image ID, which is what the provider
   * compares with on the next preview.
   */
  image: string | ResolvedImage;
  /** `uid:gid` (or a user name the image defines). Never root. */
  user: string;
  /** Memory limit in MB; swap is disabled (memory-swap = memory). */
  memoryMb: number;
  /** CPU limit (fractional CPUs). */
  cpus: number;
  /** Process limit through `ulimit nproc` (the provider has no pids-limit). Default 512. */
  pidsLimit?: number;
  /**
   * Open-files limit (`ulimit nofile`, soft = hard). Default 65536. Docker cannot give a
   * container more than the engine itself may open (dockerd's LimitNOFILE): such a container
   * does not start ("error setting rlimit type 7").
   */
  openFilesLimit?: number;
  healthcheck: ServiceHealthcheck;
  networks: ServiceNetwork[];
  command?: pulumi.Input<string>[];
  entrypoint?: pulumi.Input<string>[];
  /** `KEY=value` strings; pass secrets as Outputs so they stay secret in state. */
  envs?: pulumi.Input<string>[];
  volumes?: docker.types.input.ContainerVolume[];
  /**
   * Files written into the container before it starts (rendered configs). The provider copies
   * them to "/", which Docker refuses for a read-only root filesystem, so uploads require
   * `writableRootfsReason`.
   */
  uploads?: docker.types.input.ContainerUpload[];
  /**
   * The uploads are only the files a new container starts with: later changes to them do not
   * replace the container, because the caller applies them to the running one (the edge's
   * in-place reload). Default false: an upload change replaces the container.
   */
  uploadsAppliedInPlace?: boolean;
  /** Published ports. Only the edge publishes public ports; admin UIs bind 127.0.0.1. */
  ports?: docker.types.input.ContainerPort[];
  /**
   * Why this container needs a writable root filesystem (CIS 5.13 exception), e.g. "uploads
   * rendered haproxy.cfg". Unset: the root filesystem is read-only and writable paths come from
   * volumes and `tmpfs`. Recorded in the label `backend-infra.writable-rootfs`.
   */
  writableRootfsReason?: string;
  /** tmpfs mounts: path -> mount options. Default `/tmp` and `/run` when read-only. */
  tmpfs?: Record<string, string>;
  /** Capabilities to add back after dropping ALL. Default none. */
  capAdds?: string[];
  /** Seconds the container has to stop after its stop signal. Default 10. */
  stopTimeoutSeconds?: number;
  /** Stop signal. Default the image's (SIGTERM for most). */
  stopSignal?: string;
  /** Run an init process (tini) as PID 1 to reap zombies and forward signals. Default true. */
  init?: boolean;
  /** Wait for the container to be healthy before the resource counts as created. Default true. */
  waitHealthy?: boolean;
  /**
   * How Pulumi replaces the container. `delete-first` (default): a container name is unique
   * on a Docker host, so the new container cannot exist beside the old one; stateful services
   * must not run twice on one volume anyway. `create-first` keeps capacity during a replace and
   * needs a name that changes with every revision (BackendSlot's replicas).
   */
  replacement?: "delete-first" | "create-first";
  /** Extra labels; `backend-infra.*` labels are added for every container. */
  labels?: Record<string, pulumi.Input<string>>;
}

/** Log rotation for every container: 5 files of 10 MB. */
export const LOG_OPTS = { "max-size": "10m", "max-file": "5" } as const;
export const DEFAULT_PIDS_LIMIT = 512;
/** Open files per container unless `openFilesLimit` says otherwise. */
export const DEFAULT_OPEN_FILES_LIMIT = 65536;

export class ServiceContainer extends pulumi.ComponentResource {
  readonly container: docker.Container;
  /** The container name other containers reach it by. */
  readonly containerName: pulumi.Output<string>;
  /** The image reference the container runs (a digest when pulled). */
  readonly imageRef: pulumi.Output<string>;

  constructor(name: string, args: ServiceContainerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("backend-infra:docker:ServiceContainer", name, {}, opts);

    if (args.user === "" || /^(root|0)(:|$)/.test(args.user)) {
      throw new Error(`ServiceContainer ${name}: user must be a non-root user, got "${args.user}"`);
    }

    let image: ResolvedImage;
    if (typeof args.image === "string") {
      if (!parseImageRef(args.image))
        throw new Error(`ServiceContainer ${name}: invalid image "${args.image}"`);
      image = pullImage(name, args.image, this);
    } else {
      image = args.image;
    }

    const readOnly = args.writableRootfsReason === undefined;
    if (readOnly && (args.uploads?.length ?? 0) > 0) {
      throw new Error(
        `ServiceContainer ${name}: uploads need a writable root filesystem (the Docker provider copies them to "/", ` +
          `which Docker refuses on a read-only one); set writableRootfsReason or pass the files another way`,
      );
    }
    const health = args.healthcheck;
    const pids = args.pidsLimit ?? DEFAULT_PIDS_LIMIT;
    const openFiles = args.openFilesLimit ?? DEFAULT_OPEN_FILES_LIMIT;
    const labels: Record<string, pulumi.Input<string>> = {
      "backend-infra.component": name,
      ...(readOnly ? {} : { "backend-infra.writable-rootfs": args.writableRootfsReason as string }),
      ...(args.labels ?? {}),
    };

    this.container = new docker.Container(
      name,
      {
        name: args.containerName,
        image: image.id,
        user: args.user,
        command: args.command,
        entrypoints: args.entrypoint,
        envs: args.envs,
        memory: args.memoryMb,
        memorySwap: args.memoryMb,
        cpus: dockerCpus(args.cpus),
        ulimits: [
          { name: "nproc", soft: pids, hard: pids },
          { name: "nofile", soft: openFiles, hard: openFiles },
        ],
        restart: "unless-stopped",
        healthcheck: {
          tests: health.test,
          interval: goDurationFromSeconds(health.intervalSeconds ?? 10),
          timeout: goDurationFromSeconds(health.timeoutSeconds ?? 5),
          startPeriod: goDurationFromSeconds(health.startPeriodSeconds ?? 30),
          retries: health.retries ?? 3,
        },
        networksAdvanced: args.networks.map((n) => ({ name: n.name, aliases: n.aliases })),
        volumes: args.volumes,
        uploads: args.uploads,
        ports: args.ports ?? [],
        readOnly,
        tmpfs:
          args.tmpfs ??
          (readOnly
            ? { "/tmp": "rw,noexec,nosuid,size=64m", "/run": "rw,noexec,nosuid,size=16m" }
            : undefined),
        capabilities: { drops: ["ALL"], adds: args.capAdds ?? [] },
        securityOpts: ["no-new-privileges:true"],
        privileged: false,
        logDriver: "json-file",
        logOpts: { ...LOG_OPTS },
        init: args.init ?? true,
        stopTimeout: args.stopTimeoutSeconds ?? 10,
        // Without it the provider removes a replaced or deleted container with force (SIGKILL),
        // skipping the stop signal and drain above.
        destroyGraceSeconds: args.stopTimeoutSeconds ?? 10,
        stopSignal: args.stopSignal,
        wait: args.waitHealthy ?? true,
        waitTimeout: (health.startPeriodSeconds ?? 30) + 120,
        mustRun: true,
        labels: Object.entries(labels).map(([label, value]) => ({ label, value })),
      },
      {
        parent: this,
        deleteBeforeReplace: (args.replacement ?? "delete-first") === "delete-first",
        ignoreChanges: args.uploadsAppliedInPlace ? ["uploads"] : undefined,
      },
    );

    this.containerName = this.container.name;
    this.imageRef = image.ref;
    this.registerOutputs({ containerName: this.containerName, imageRef: this.imageRef });
  }
}

/**
 * A CPU limit as the Docker provider reads it back from the engine (`1.0`, `0.25`, `1.5`), so
 * that a second preview compares equal: `cpus` forces a new container, and `1` against the `1.0`
 * the provider reads made every `pulumi up` replace every container.
 */
export function dockerCpus(cpus: number): string {
  if (!Number.isFinite(cpus) || cpus <= 0)
    throw new Error(`ServiceContainer: cpus must be a positive number, got ${cpus}`);
  const nano = Math.round(cpus * 1e9);
  if (nano % 1e9 === 0) return (nano / 1e9).toFixed(1);
  return (nano / 1e9).toFixed(9).replace(/0+$/, "");
}
