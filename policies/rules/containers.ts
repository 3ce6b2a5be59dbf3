/**
 * Container hardening (seed "Container Security"; CIS Docker Benchmark 1.6 section 5).
 * Resource policies over the inputs of `docker.Container` and `docker.RemoteImage`.
 * `components/service-container.ts` applies every one of these by default; these rules make
 * sure nothing bypasses it.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { hasDigest, imagePinError } from "../../lib/image-ref";
import { environmentsOption, resourcePolicy, stringList } from "./metadata";
import {
  CONTAINER,
  REMOTE_IMAGE,
  appliesIn,
  configOf,
  describeContainer,
  environmentOfUrn,
  identitiesOf,
  isUnderPath,
  isUnknown,
  list,
  matchesAny,
  normalizeHostPath,
  record,
  reveal,
  str,
} from "./values";

const ROOT_USER = /^(root|0)(:|$)/;
const IMAGE_ID = /^sha256:[a-f0-9]{64}$/;

export const containerNonRootUser = resourcePolicy(
  {
    name: "container-non-root-user",
    description: "Containers run as a non-root user.",
    severity: "high",
    remediation:
      'Set `user` to a non-root uid:gid the image owns its data as (ServiceContainer `user`, e.g. "999:999"); never root or 0.',
    benchmarks: ["CIS Docker 4.1", "Checkov CKV_DOCKER_3", "Trivy DS002"],
  },
  [CONTAINER],
  (props, args, report) => {
    const who = describeContainer(props, args.name);
    if (isUnknown(props.user)) return;
    const user = str(props.user);
    if (user === undefined || user.trim() === "") {
      report(`${who} sets no user and runs as the image's default user, which is root for most images`);
    } else if (ROOT_USER.test(user.trim())) {
      report(`${who} runs as root (user "${user}")`);
    }
  },
);

export const containerNotPrivileged = resourcePolicy(
  {
    name: "container-not-privileged",
    description: "Containers are not privileged.",
    severity: "critical",
    remediation: "Remove `privileged: true`; add back only the single capability the process needs.",
    benchmarks: ["CIS Docker 5.5", "Trivy KSV017 (Kubernetes equivalent)"],
  },
  [CONTAINER],
  (props, args, report) => {
    if (reveal(props.privileged) === true) report(`${describeContainer(props, args.name)} is privileged`);
  },
);

const normCap = (cap: string) => cap.toUpperCase().replace(/^CAP_/, "");

export const containerCapabilitiesDropped = resourcePolicy(
  {
    name: "container-capabilities-dropped",
    description: "Containers drop ALL Linux capabilities and add back only allow-listed ones.",
    severity: "high",
    remediation:
      'Set `capabilities: { drops: ["ALL"], adds: [...] }` with adds only from the allowedCapabilities policy config (ServiceContainer `capAdds`).',
    benchmarks: ["CIS Docker 5.4", "Trivy KSV003 (Kubernetes equivalent)"],
    configSchema: {
      properties: {
        allowedCapabilities: stringList("Capabilities a container may add back after dropping ALL.", [
          "NET_BIND_SERVICE",
        ]),
      },
    },
  },
  [CONTAINER],
  (props, args, report) => {
    const { allowedCapabilities } = configOf(args, { allowedCapabilities: ["NET_BIND_SERVICE"] });
    const who = describeContainer(props, args.name);
    const caps = record(props.capabilities);
    if (isUnknown(caps)) return;
    const drops = caps ? list(caps.drops) : [];
    const adds = caps ? list(caps.adds) : [];
    if (isUnknown(drops) || drops.some(isUnknown)) return;
    if (!drops.some((d) => typeof str(d) === "string" && normCap(str(d) as string) === "ALL")) {
      report(`${who} does not drop ALL capabilities (drops: ${JSON.stringify(drops)})`);
    }
    if (isUnknown(adds) || adds.some(isUnknown)) return;
    const allowed = new Set(allowedCapabilities.map(normCap));
    const extra = adds
      .map((a) => str(a))
      .filter((a): a is string => a !== undefined && !allowed.has(normCap(a)));
    if (extra.length > 0) {
      report(
        `${who} adds capabilities outside the allow-list [${[...allowed].join(", ")}]: ${extra.join(", ")}`,
      );
    }
  },
);

export const containerNoNewPrivileges = resourcePolicy(
  {
    name: "container-no-new-privileges",
    description: "Containers set the no-new-privileges security option.",
    severity: "high",
    remediation: 'Add "no-new-privileges:true" to `securityOpts`.',
    benchmarks: ["CIS Docker 5.25"],
  },
  [CONTAINER],
  (props, args, report) => {
    const opts = list(props.securityOpts);
    if (isUnknown(opts) || opts.some(isUnknown)) return;
    const ok = opts.some((o) => /^no-new-privileges([:=]true)?$/i.test(str(o) ?? ""));
    if (!ok) report(`${describeContainer(props, args.name)} does not set no-new-privileges in securityOpts`);
  },
);

export const containerMemoryLimit = resourcePolicy(
  {
    name: "container-memory-limit",
    description: "Containers have a memory limit.",
    severity: "medium",
    remediation: "Set `memory` (MB) from the service's memory config key (ServiceContainer `memoryMb`).",
    benchmarks: ["CIS Docker 5.11"],
  },
  [CONTAINER],
  (props, args, report) => {
    const memory = reveal(props.memory);
    if (isUnknown(memory)) return;
    if (typeof memory !== "number" || memory <= 0) {
      report(`${describeContainer(props, args.name)} has no memory limit`);
    }
  },
);

export const containerCpuLimit = resourcePolicy(
  {
    name: "container-cpu-limit",
    description: "Containers have a CPU limit.",
    severity: "medium",
    remediation: "Set `cpus` (fractional CPUs) from the service's cpus config key (ServiceContainer `cpus`).",
    benchmarks: ["CIS Docker 5.12"],
  },
  [CONTAINER],
  (props, args, report) => {
    const cpus = reveal(props.cpus);
    const quota = reveal(props.cpuQuota);
    if (isUnknown(cpus) || isUnknown(quota)) return;
    const cpuCount = typeof cpus === "string" || typeof cpus === "number" ? Number(cpus) : NaN;
    const limited = (Number.isFinite(cpuCount) && cpuCount > 0) || (typeof quota === "number" && quota > 0);
    if (!limited) report(`${describeContainer(props, args.name)} has no CPU limit (cpus or cpuQuota)`);
  },
);

export const containerPidsLimit = resourcePolicy(
  {
    name: "container-pids-limit",
    description: "Containers limit their number of processes (nproc ulimit; the provider has no pids-limit).",
    severity: "medium",
    remediation:
      'Set `ulimits: [{ name: "nproc", soft: N, hard: N }]` with N at most maxPids (ServiceContainer `pidsLimit`).',
    benchmarks: ["CIS Docker 5.29"],
    configSchema: {
      properties: {
        maxPids: { type: "integer", minimum: 1, default: 4096, description: "Largest allowed nproc limit." },
      },
    },
  },
  [CONTAINER],
  (props, args, report) => {
    const { maxPids } = configOf(args, { maxPids: 4096 });
    const who = describeContainer(props, args.name);
    const ulimits = list(props.ulimits);
    if (isUnknown(ulimits) || ulimits.some(isUnknown)) return;
    const nproc = ulimits.map(record).find((u) => u && !isUnknown(u) && str(u.name) === "nproc");
    if (!nproc || isUnknown(nproc)) {
      report(`${who} has no nproc ulimit, so a fork bomb can exhaust the host's process table`);
      return;
    }
    const hard = reveal(nproc.hard);
    const soft = reveal(nproc.soft);
    if (isUnknown(hard) || isUnknown(soft)) return;
    if (typeof hard !== "number" || hard <= 0 || hard > maxPids || typeof soft !== "number" || soft > hard) {
      report(
        `${who} has nproc ulimit soft=${String(soft)} hard=${String(hard)}; expected 0 < soft <= hard <= ${maxPids}`,
      );
    }
  },
);

export const containerRestartPolicy = resourcePolicy(
  {
    name: "container-restart-policy",
    description: "Containers have a restart policy (not `no`).",
    severity: "low",
    remediation: 'Set `restart: "unless-stopped"` (or "on-failure" with maxRetryCount <= 5).',
    benchmarks: ["CIS Docker 5.15"],
  },
  [CONTAINER],
  (props, args, report) => {
    const restart = reveal(props.restart);
    if (isUnknown(restart)) return;
    const who = describeContainer(props, args.name);
    if (restart === undefined || restart === "no" || restart === "") {
      report(`${who} has no restart policy; it stays down after a crash or host reboot`);
      return;
    }
    const retries = reveal(props.maxRetryCount);
    if (restart === "on-failure" && typeof retries === "number" && retries > 5) {
      report(`${who} restarts on-failure up to ${retries} times; CIS 5.15 recommends at most 5`);
    }
  },
);

export const containerHealthcheck = resourcePolicy(
  {
    name: "container-healthcheck",
    description: "Containers define a healthcheck.",
    severity: "medium",
    remediation:
      'Set `healthcheck.tests` to a real probe (e.g. ["CMD", "pg_isready"]) with interval, timeout and retries.',
    benchmarks: ["CIS Docker 5.27", "Checkov CKV_DOCKER_2"],
  },
  [CONTAINER],
  (props, args, report) => {
    const hc = record(props.healthcheck);
    if (isUnknown(hc)) return;
    const tests = hc ? list(hc.tests) : [];
    if (isUnknown(tests)) return;
    const first = str(tests[0]);
    if (
      tests.length === 0 ||
      first === "NONE" ||
      (tests.length === 1 && (first === "CMD" || first === "CMD-SHELL"))
    ) {
      report(`${describeContainer(props, args.name)} has no healthcheck test`);
    }
  },
);

export const containerLogRotation = resourcePolicy(
  {
    name: "container-log-rotation",
    description: "Container logs are rotated (json-file with max-size, or the local driver).",
    severity: "low",
    remediation: 'Set `logDriver: "json-file"` and `logOpts: { "max-size": "10m", "max-file": "5" }`.',
    benchmarks: ["project rule (Docker json-file logs grow without bound; no CIS 5.x control)"],
  },
  [CONTAINER],
  (props, args, report) => {
    const driver = reveal(props.logDriver);
    const opts = record(props.logOpts);
    if (isUnknown(driver) || isUnknown(opts)) return;
    const who = describeContainer(props, args.name);
    if (driver === "none") {
      report(`${who} discards its logs (logDriver none)`);
    } else if (driver === undefined || driver === "json-file") {
      const maxSize = opts ? str(opts["max-size"]) : undefined;
      if (!maxSize)
        report(`${who} logs to json-file without max-size; its log file grows until the disk is full`);
    }
  },
);

export const containerReadOnlyRootfs = resourcePolicy(
  {
    name: "container-read-only-rootfs",
    description: "Containers run with a read-only root filesystem unless allow-listed.",
    severity: "medium",
    remediation:
      "Set `readOnly: true` and give writable paths as volumes or tmpfs; if the image cannot run read-only, add the container name or component label to the writableRootfs policy config.",
    benchmarks: ["CIS Docker 5.13"],
    configSchema: {
      properties: {
        writableRootfs: stringList(
          "Container names or backend-infra.component labels allowed a writable root fs.",
          [],
        ),
      },
    },
  },
  [CONTAINER],
  (props, args, report) => {
    const { writableRootfs } = configOf(args, { writableRootfs: [] as string[] });
    const readOnly = reveal(props.readOnly);
    if (isUnknown(readOnly) || readOnly === true) return;
    const ids = identitiesOf(props, args.name);
    if (ids.some((id) => writableRootfs.includes(id))) return;
    report(
      `${describeContainer(props, args.name)} has a writable root filesystem and is not in writableRootfs`,
    );
  },
);

const DOCKER_SOCKET = /(docker|containerd|podman)\.sock$/;
const DANGEROUS_HOST_PATHS = new Set([
  "/",
  "/run",
  "/var/run",
  "/var/lib/docker",
  "/run/containerd",
  "/var/run/docker",
]);

export const containerNoDockerSocket = resourcePolicy(
  {
    name: "container-no-docker-socket",
    description: "No container mounts the Docker socket (or a directory holding it).",
    severity: "critical",
    remediation:
      "Remove the docker.sock volume/mount; a container with the socket is root on the host. Use the host's own tooling instead.",
    benchmarks: ["CIS Docker 5.31"],
    configSchema: {
      properties: {
        exemptContainers: stringList(
          "Container names or component labels allowed to mount these host paths (a reviewed exception, e.g. node-exporter's read-only /).",
          [],
        ),
      },
    },
  },
  [CONTAINER],
  (props, args, report) => {
    const { exemptContainers } = configOf(args, { exemptContainers: [] as string[] });
    if (identitiesOf(props, args.name).some((id) => exemptContainers.includes(id))) {
      args.notApplicable("exempted by policy config");
    }
    const who = describeContainer(props, args.name);
    const sources: string[] = [];
    const volumes = list(props.volumes);
    if (!isUnknown(volumes)) {
      for (const v of volumes) {
        const vol = record(v);
        if (vol && !isUnknown(vol)) sources.push(str(vol.hostPath) ?? "");
      }
    }
    const mounts = list(props.mounts);
    if (!isUnknown(mounts)) {
      for (const m of mounts) {
        const mount = record(m);
        if (mount && !isUnknown(mount) && str(mount.type) === "bind") sources.push(str(mount.source) ?? "");
      }
    }
    for (const source of sources) {
      // Normalized, so `//var/run/./docker.sock` or `/opt/../var/run/` cannot slip past.
      const path = normalizeHostPath(source) ?? source;
      if (DOCKER_SOCKET.test(path)) report(`${who} mounts the container runtime socket ${source}`);
      else if (DANGEROUS_HOST_PATHS.has(path))
        report(`${who} mounts host path ${source}, which holds the Docker socket`);
    }
  },
);

export const VOLUME = "docker:index/volume:Volume";

/**
 * Host paths no container may bind, whatever the config says: the host's root, its
 * configuration and credentials, home directories, the boot files, Docker's and containerd's
 * data and the directories holding their sockets. Each covers its subpaths, and a path that
 * contains one (`/var` contains /var/lib/docker) is refused too.
 */
const REFUSED_HOST_PATHS: [string, string][] = [
  ["/etc", "the host's configuration (users, sudoers, ssh, cron)"],
  ["/root", "root's home directory (keys, shell history)"],
  ["/home", "users' home directories (ssh keys, credentials)"],
  ["/boot", "the kernel and boot loader"],
  ["/var/lib/docker", "the Docker data directory (every container's filesystem and volumes)"],
  ["/var/lib/containerd", "containerd's data directory"],
  ["/run", "runtime sockets (docker.sock, containerd.sock)"],
  ["/var/run", "runtime sockets (docker.sock)"],
];
/**
 * Kernel interfaces: refused unless a reviewed read-only exception names the container and the
 * exact path (node_exporter reads /proc and /sys read-only).
 */
const KERNEL_HOST_PATHS: [string, string][] = [
  ["/proc", "the host's process table and kernel settings"],
  ["/sys", "the host's kernel and device settings"],
  ["/dev", "the host's devices"],
];
const SOCKET_FILE = /\.sock$/i;

interface HostSource {
  raw: string;
  readOnly: boolean;
  /** The property it comes from, for messages (`volumes[].hostPath`, `driverOpts.device`, ...). */
  via: string;
}

/** Host paths a container binds: volumes[].hostPath, bind mounts, volume-driver binds, devices. */
function containerHostSources(props: Record<string, unknown>): HostSource[] {
  const out: HostSource[] = [];
  const volumes = list(props.volumes);
  if (!isUnknown(volumes)) {
    for (const v of volumes) {
      const vol = record(v);
      const raw = vol && !isUnknown(vol) ? str(vol.hostPath) : undefined;
      if (vol && !isUnknown(vol) && raw !== undefined && raw !== "") {
        out.push({ raw, readOnly: reveal(vol.readOnly) === true, via: "volumes[].hostPath" });
      }
    }
  }
  const mounts = list(props.mounts);
  if (!isUnknown(mounts)) {
    for (const m of mounts) {
      const mount = record(m);
      if (!mount || isUnknown(mount)) continue;
      const readOnly = reveal(mount.readOnly) === true;
      const type = str(mount.type);
      const source = str(mount.source);
      if (type === "bind" && source !== undefined) out.push({ raw: source, readOnly, via: "mounts[] bind" });
      const options = record(mount.volumeOptions);
      const driver = options && !isUnknown(options) ? record(options.driverOptions) : undefined;
      const device = driver && !isUnknown(driver) ? bindDevice(driver) : undefined;
      if (type === "volume" && device !== undefined) {
        out.push({ raw: device, readOnly, via: "mounts[].volumeOptions.driverOptions.device" });
      }
    }
  }
  const devices = list(props.devices);
  if (!isUnknown(devices)) {
    for (const d of devices) {
      const device = record(d);
      const raw = device && !isUnknown(device) ? str(device.hostPath) : undefined;
      if (!device || isUnknown(device) || raw === undefined) continue;
      const permissions = str(device.permissions) ?? "rwm";
      out.push({ raw, readOnly: !/[wm]/.test(permissions), via: "devices[].hostPath" });
    }
  }
  return out;
}

/** The host directory a local-driver volume binds (`type: none, o: bind, device: /path`). */
function bindDevice(driverOpts: Record<string, unknown>): string | undefined {
  const device = str(driverOpts.device);
  if (device === undefined) return undefined;
  const options = (str(driverOpts.o) ?? "").split(",").map((o) => o.trim());
  const type = str(driverOpts.type);
  // `type: none` with a device is a bind even without `o: bind`; nfs/cifs devices are not host paths.
  return options.includes("bind") || options.includes("rbind") || type === "none" ? device : undefined;
}

/** Why a normalized host path can never be bound, or undefined. */
function refusedReason(path: string): string | undefined {
  if (path === "/") return "the host's root filesystem";
  if (SOCKET_FILE.test(path)) return "a socket (a container with the Docker socket is root on the host)";
  for (const [base, why] of REFUSED_HOST_PATHS) {
    if (isUnderPath(path, base)) return why;
    if (isUnderPath(base, path)) return `it contains ${base}: ${why}`;
  }
  return undefined;
}

function kernelReason(path: string): string | undefined {
  return KERNEL_HOST_PATHS.find(([base]) => isUnderPath(path, base))?.[1];
}

export const containerHostPathAllowlist = resourcePolicy(
  {
    name: "container-host-path-allowlist",
    description:
      "Containers and volumes bind only host directories under allowedHostPaths; /, /etc, /root, /home, /boot, /run, the Docker data directory and sockets never; /proc, /sys and /dev only as reviewed read-only exceptions.",
    severity: "critical",
    remediation:
      'Use a named volume, or keep host data under an allowedHostPaths directory (e.g. /opt/data/postgres, config postgresDataPath). A reviewed read-only need (node-exporter reading /proc) goes in readOnlyExceptions as "<container name or component label>:<host path>" with readOnly: true.',
    benchmarks: ["CIS Docker 5.6", "CIS Docker 5.18", "Trivy KSV023 (Kubernetes equivalent)"],
    configSchema: {
      properties: {
        allowedHostPaths: stringList(
          "Host directories (and their subdirectories) containers and bind volumes may use. Entries that are or contain a refused path are ignored.",
          ["/opt/data"],
        ),
        readOnlyExceptions: stringList(
          'Reviewed read-only binds of other paths (kernel interfaces included) as "<container or volume name, component label or resource name>:<exact host path>".',
          [],
        ),
      },
    },
  },
  [CONTAINER, VOLUME],
  (props, args, report) => {
    const cfg = configOf(args, { allowedHostPaths: ["/opt/data"], readOnlyExceptions: [] as string[] });
    const allowed = cfg.allowedHostPaths
      .map((p) => normalizeHostPath(p))
      .filter((p): p is string => p !== undefined && refusedReason(p) === undefined && !kernelReason(p));
    let sources: HostSource[];
    let who: string;
    if (args.type === VOLUME) {
      const driverOpts = record(props.driverOpts);
      if (isUnknown(driverOpts) || (driverOpts && isUnknown(reveal(driverOpts.device)))) return;
      const device = driverOpts ? bindDevice(driverOpts) : undefined;
      if (!driverOpts || device === undefined) return args.notApplicable("not a bind volume");
      const options = (str(driverOpts.o) ?? "").split(",").map((o) => o.trim());
      sources = [{ raw: device, readOnly: options.includes("ro"), via: "driverOpts.device" }];
      const name = str(props.name);
      who = name && name !== args.name ? `volume "${name}" (${args.name})` : `volume "${args.name}"`;
    } else {
      sources = containerHostSources(props);
      who = describeContainer(props, args.name);
    }
    const ids = identitiesOf(props, args.name);
    for (const source of sources) {
      const path = normalizeHostPath(source.raw);
      const shown =
        path !== undefined && path !== source.raw ? `"${source.raw}" (${path})` : `"${source.raw}"`;
      if (path === undefined) {
        report(
          `${who} binds host path ${shown} (${source.via}), which is not absolute; expected a directory under ${allowed.join(", ") || "allowedHostPaths"}`,
        );
        continue;
      }
      const refused = refusedReason(path);
      if (refused) {
        report(`${who} binds host path ${shown} (${source.via}), which is refused: ${refused}`);
        continue;
      }
      if (allowed.some((base) => isUnderPath(path, base))) continue;
      const excepted = ids.some((id) =>
        cfg.readOnlyExceptions.some((entry) => {
          const colon = entry.indexOf(":");
          return (
            colon > 0 && entry.slice(0, colon) === id && normalizeHostPath(entry.slice(colon + 1)) === path
          );
        }),
      );
      const kernel = kernelReason(path);
      if (excepted && source.readOnly) continue;
      if (excepted) {
        report(
          `${who} binds host path ${shown} (${source.via}) read-write; its readOnlyExceptions entry allows it read-only only`,
        );
      } else {
        report(
          `${who} binds host path ${shown} (${source.via}), ${kernel ? `${kernel}, ` : ""}which is not under allowedHostPaths (${allowed.join(", ") || "none"}) nor a readOnlyExceptions entry`,
        );
      }
    }
  },
);

export const containerNoHostNamespaces = resourcePolicy(
  {
    name: "container-no-host-namespaces",
    description: "Containers do not share the host's network, PID, IPC, user or cgroup namespace.",
    severity: "high",
    remediation:
      "Remove networkMode/pidMode/ipcMode/usernsMode/cgroupnsMode `host`; attach to the project networks instead.",
    benchmarks: ["CIS Docker 5.10", "CIS Docker 5.16", "CIS Docker 5.17", "CIS Docker 5.21"],
    configSchema: {
      properties: {
        exemptContainers: stringList(
          'Reviewed exceptions as "<container name or component label>:<mode>", e.g. "node-exporter:pidMode".',
          [],
        ),
      },
    },
  },
  [CONTAINER],
  (props, args, report) => {
    const { exemptContainers } = configOf(args, { exemptContainers: [] as string[] });
    const ids = identitiesOf(props, args.name);
    const who = describeContainer(props, args.name);
    for (const key of ["networkMode", "pidMode", "ipcMode", "usernsMode", "cgroupnsMode"]) {
      if (str(props[key]) !== "host") continue;
      if (ids.some((id) => exemptContainers.includes(`${id}:${key}`))) continue;
      report(`${who} uses the host's namespace (${key}: host)`);
    }
  },
);

const isLoopback = (ip: string) => /^127\./.test(ip) || ip === "::1" || ip === "localhost";

export const containerPublishedPorts = resourcePolicy(
  {
    name: "container-published-ports",
    description:
      "Only the edge publishes ports on public interfaces; every other published port is bound to 127.0.0.1.",
    severity: "high",
    remediation:
      'Remove the port, or bind it to loopback with `ip: "127.0.0.1"` (admin UIs are reached through an SSH tunnel). Public traffic enters only through the edge on publicPorts.',
    benchmarks: ["CIS Docker 5.14", "CIS Docker 5.8"],
    configSchema: {
      properties: {
        edgePatterns: stringList(
          "Regular expressions matched against container name, component and role labels that identify the edge.",
          ["(^|[-_])edge$"],
        ),
        publicPorts: {
          type: "array",
          items: { type: "integer" },
          default: [80, 443],
          description: "Host ports the edge may publish on public interfaces.",
        },
      },
    },
  },
  [CONTAINER],
  (props, args, report) => {
    const { edgePatterns, publicPorts } = configOf(args, {
      edgePatterns: ["(^|[-_])edge$"],
      publicPorts: [80, 443],
    });
    const who = describeContainer(props, args.name);
    if (reveal(props.publishAllPorts) === true)
      report(`${who} publishes all exposed ports (publishAllPorts)`);
    const ports = list(props.ports);
    if (isUnknown(ports)) return;
    const isEdge = matchesAny(identitiesOf(props, args.name), edgePatterns);
    for (const p of ports) {
      const port = record(p);
      if (!port || isUnknown(port)) continue;
      const ipValue = reveal(port.ip);
      if (isUnknown(ipValue)) continue;
      const ip = typeof ipValue === "string" && ipValue !== "" ? ipValue : "0.0.0.0";
      if (isLoopback(ip)) continue;
      const internal = reveal(port.internal);
      const externalValue = reveal(port.external);
      const external = typeof externalValue === "number" ? externalValue : internal;
      const label = `${ip}:${String(external ?? "?")}->${String(internal)}`;
      if (!isEdge) {
        report(`${who} publishes ${label}; only the edge may publish ports, bind others to 127.0.0.1`);
      } else if (typeof external !== "number" || !publicPorts.includes(external)) {
        report(
          `edge ${who} publishes ${label}; only ports ${publicPorts.join(", ")} may be public, bind admin ports to 127.0.0.1`,
        );
      }
    }
  },
);

export const containerImagePinned = resourcePolicy(
  {
    name: "container-image-pinned",
    description: "Container images are pinned: a version tag or a digest, never `latest` or untagged.",
    severity: "high",
    remediation:
      "Pin the image config key to a version (postgres:15.8-bookworm); ServiceContainer pulls it through a RemoteImage and runs its image ID.",
    benchmarks: ["Trivy DS001", "Checkov CKV_DOCKER_7"],
  },
  [CONTAINER],
  (props, args, report) => {
    const image = reveal(props.image);
    if (isUnknown(image)) return; // a built or pulled image's digest is known only after apply
    const who = describeContainer(props, args.name);
    if (typeof image !== "string" || image === "") {
      report(`${who} has no image`);
      return;
    }
    if (IMAGE_ID.test(image)) return;
    const problem = imagePinError(image);
    if (problem) report(`${who}: ${problem}`);
  },
);

export const containerImageDigest = resourcePolicy(
  {
    name: "container-image-digest",
    description:
      "In the listed environments containers run an image by digest (name@sha256:...) or by the image ID a RemoteImage resolved.",
    severity: "medium",
    remediation:
      "Run the RemoteImage's imageId (ServiceContainer does this). For an image the program builds, configure a registry (registryServer) so it is pushed and looked up by its repoDigest, or pin the image config key to name@sha256:....",
    benchmarks: ["Trivy DS001", "Checkov CKV_DOCKER_7"],
    configSchema: { properties: { environments: environmentsOption(["prod"]) } },
  },
  [CONTAINER],
  (props, args, report) => {
    const { environments } = configOf(args, { environments: ["prod"] });
    const env = environmentOfUrn(args.urn);
    if (!appliesIn(env, environments))
      args.notApplicable(`digests are required only in ${environments.join(", ")}`);
    const image = reveal(props.image);
    if (isUnknown(image) || typeof image !== "string") return;
    if (!IMAGE_ID.test(image) && !hasDigest(image)) {
      report(
        `${describeContainer(props, args.name)} runs "${image}" by tag in ${env ?? "an unnamed environment"}; a digest is required`,
      );
    }
  },
);

export const remoteImagePinned = resourcePolicy(
  {
    name: "remote-image-pinned",
    description: "Pulled images name a version tag or digest, never `latest` or untagged.",
    severity: "high",
    remediation:
      "Set the image config key to a pinned reference like redis:7.2.6-bookworm (optionally @sha256:...).",
    benchmarks: ["Trivy DS001", "Checkov CKV_DOCKER_7"],
  },
  [REMOTE_IMAGE],
  (props, args, report) => {
    const name = reveal(props.name);
    if (isUnknown(name)) return;
    if (typeof name !== "string") {
      report(`RemoteImage "${args.name}" has no name`);
      return;
    }
    const problem = imagePinError(name);
    if (problem) report(`RemoteImage "${args.name}": ${problem}`);
  },
);

export const containerPolicies: ResourceValidationPolicy[] = [
  containerNonRootUser,
  containerNotPrivileged,
  containerCapabilitiesDropped,
  containerNoNewPrivileges,
  containerMemoryLimit,
  containerCpuLimit,
  containerPidsLimit,
  containerRestartPolicy,
  containerHealthcheck,
  containerLogRotation,
  containerReadOnlyRootfs,
  containerNoDockerSocket,
  containerHostPathAllowlist,
  containerNoHostNamespaces,
  containerPublishedPorts,
  containerImagePinned,
  containerImageDigest,
  remoteImagePinned,
];
