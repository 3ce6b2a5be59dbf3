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
  isUnknown,
  list,
  matchesAny,
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
      const path = source.replace(/\/+$/, "") || (source ? "/" : "");
      if (DOCKER_SOCKET.test(path)) report(`${who} mounts the container runtime socket ${source}`);
      else if (DANGEROUS_HOST_PATHS.has(path))
        report(`${who} mounts host path ${source}, which holds the Docker socket`);
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
  containerNoHostNamespaces,
  containerPublishedPorts,
  containerImagePinned,
  containerImageDigest,
  remoteImagePinned,
];
