import { unknownCheckingProxy } from "@pulumi/policy";
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { describe, expect, it } from "vitest";
import * as rules from "../../../policies/rules/containers";
import { CONTAINER, DIGEST, checkResource, hardenedContainer } from "./support";

const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const UNKNOWN_ARRAY = "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2";

interface Case {
  policy: ResourceValidationPolicy;
  /** Overrides of the hardened container that must each be reported, with the expected message. */
  failing: [string, Record<string, unknown>, RegExp][];
  /** Overrides that must pass (besides the hardened container itself). */
  passing?: [string, Record<string, unknown>][];
  config?: Record<string, unknown>;
}

const cases: Case[] = [
  {
    policy: rules.containerNonRootUser,
    failing: [
      ["no user", { user: undefined }, /sets no user/],
      ["root", { user: "root" }, /runs as root/],
      ["uid 0 with group", { user: "0:1000" }, /runs as root/],
      ["empty", { user: " " }, /sets no user/],
    ],
    passing: [
      ["named user", { user: "postgres" }],
      ["uid:gid", { user: "999:999" }],
    ],
  },
  {
    policy: rules.containerNotPrivileged,
    failing: [["privileged", { privileged: true }, /is privileged/]],
    passing: [["unset", { privileged: undefined }]],
  },
  {
    policy: rules.containerCapabilitiesDropped,
    failing: [
      ["no drops", { capabilities: undefined }, /does not drop ALL/],
      ["drops some", { capabilities: { drops: ["NET_RAW"] } }, /does not drop ALL/],
      [
        "adds SYS_ADMIN",
        { capabilities: { drops: ["ALL"], adds: ["SYS_ADMIN"] } },
        /outside the allow-list.*SYS_ADMIN/,
      ],
    ],
    passing: [["adds allowed cap", { capabilities: { drops: ["all"], adds: ["CAP_NET_BIND_SERVICE"] } }]],
  },
  {
    policy: rules.containerNoNewPrivileges,
    failing: [
      ["missing", { securityOpts: [] }, /no-new-privileges/],
      ["false", { securityOpts: ["no-new-privileges:false"] }, /no-new-privileges/],
    ],
    passing: [["bare flag", { securityOpts: ["no-new-privileges"] }]],
  },
  {
    policy: rules.containerMemoryLimit,
    failing: [
      ["unset", { memory: undefined }, /no memory limit/],
      ["zero", { memory: 0 }, /no memory limit/],
    ],
  },
  {
    policy: rules.containerCpuLimit,
    failing: [
      ["unset", { cpus: undefined }, /no CPU limit/],
      ["zero", { cpus: "0" }, /no CPU limit/],
    ],
    passing: [["quota", { cpus: undefined, cpuQuota: 50000 }]],
  },
  {
    policy: rules.containerPidsLimit,
    failing: [
      ["no ulimits", { ulimits: undefined }, /no nproc ulimit/],
      ["only nofile", { ulimits: [{ name: "nofile", soft: 1, hard: 1 }] }, /no nproc ulimit/],
      [
        "too high",
        { ulimits: [{ name: "nproc", soft: 100000, hard: 100000 }] },
        /expected 0 < soft <= hard <= 4096/,
      ],
      ["soft above hard", { ulimits: [{ name: "nproc", soft: 600, hard: 500 }] }, /soft=600 hard=500/],
    ],
  },
  {
    policy: rules.containerRestartPolicy,
    failing: [
      ["unset", { restart: undefined }, /no restart policy/],
      ["no", { restart: "no" }, /no restart policy/],
      ["too many retries", { restart: "on-failure", maxRetryCount: 10 }, /at most 5/],
    ],
    passing: [
      ["on-failure 5", { restart: "on-failure", maxRetryCount: 5 }],
      ["always", { restart: "always" }],
    ],
  },
  {
    policy: rules.containerHealthcheck,
    failing: [
      ["unset", { healthcheck: undefined }, /no healthcheck/],
      ["NONE", { healthcheck: { tests: ["NONE"] } }, /no healthcheck/],
      ["bare CMD", { healthcheck: { tests: ["CMD"] } }, /no healthcheck/],
    ],
  },
  {
    policy: rules.containerLogRotation,
    failing: [
      ["no max-size", { logOpts: { "max-file": "5" } }, /without max-size/],
      ["default driver, no opts", { logDriver: undefined, logOpts: undefined }, /without max-size/],
      ["none driver", { logDriver: "none" }, /discards its logs/],
    ],
    passing: [["local driver", { logDriver: "local", logOpts: undefined }]],
  },
  {
    policy: rules.containerReadOnlyRootfs,
    failing: [
      ["writable", { readOnly: false }, /writable root filesystem/],
      ["unset", { readOnly: undefined }, /writable root filesystem/],
    ],
  },
  {
    policy: rules.containerNoDockerSocket,
    failing: [
      [
        "volume",
        { volumes: [{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }] },
        /runtime socket/,
      ],
      [
        "bind mount",
        { mounts: [{ type: "bind", source: "/run/docker.sock", target: "/d.sock" }] },
        /runtime socket/,
      ],
      [
        "parent dir",
        { volumes: [{ hostPath: "/var/run/", containerPath: "/host-run" }] },
        /holds the Docker socket/,
      ],
      ["host root", { volumes: [{ hostPath: "/", containerPath: "/host" }] }, /holds the Docker socket/],
      [
        "socket behind // and .",
        { volumes: [{ hostPath: "//var/run/./docker.sock", containerPath: "/d.sock" }] },
        /runtime socket/,
      ],
      [
        "parent dir through ..",
        { volumes: [{ hostPath: "/opt/data/../../var/run", containerPath: "/host-run" }] },
        /holds the Docker socket/,
      ],
    ],
    passing: [
      ["data volume", { volumes: [{ volumeName: "pgdata", containerPath: "/var/lib/postgresql/data" }] }],
      [
        "host data dir",
        { volumes: [{ hostPath: "/opt/data/postgres", containerPath: "/var/lib/postgresql/data" }] },
      ],
    ],
  },
  {
    policy: rules.containerHostPathAllowlist,
    failing: [
      [
        "host root",
        { volumes: [{ hostPath: "/", containerPath: "/host" }] },
        /"\/" .*refused: the host's root/,
      ],
      [
        "/etc",
        { volumes: [{ hostPath: "/etc", containerPath: "/host-etc", readOnly: true }] },
        /refused: the host's configuration/,
      ],
      [
        "a file under /etc",
        { volumes: [{ hostPath: "/etc/shadow", containerPath: "/s" }] },
        /refused: the host's configuration/,
      ],
      ["/root/.ssh", { volumes: [{ hostPath: "/root/.ssh", containerPath: "/k" }] }, /refused: root's home/],
      ["/home", { mounts: [{ type: "bind", source: "/home/deploy", target: "/h" }] }, /refused: users' home/],
      [
        "/boot",
        { volumes: [{ hostPath: "/boot", containerPath: "/b", readOnly: true }] },
        /refused: the kernel/,
      ],
      [
        "/proc without an exception",
        { volumes: [{ hostPath: "/proc", containerPath: "/p", readOnly: true }] },
        /host's process table.*not under allowedHostPaths/,
      ],
      [
        "/sys subpath",
        { volumes: [{ hostPath: "/sys/fs/cgroup", containerPath: "/c" }] },
        /"\/sys\/fs\/cgroup".*kernel and device settings/,
      ],
      [
        "a device",
        { devices: [{ hostPath: "/dev/sda", containerPath: "/dev/sda" }] },
        /"\/dev\/sda" \(devices\[\]\.hostPath\).*devices/,
      ],
      ["/dev", { volumes: [{ hostPath: "/dev", containerPath: "/dev" }] }, /host's devices/],
      [
        "Docker data directory",
        { volumes: [{ hostPath: "/var/lib/docker", containerPath: "/d" }] },
        /refused: the Docker data directory/,
      ],
      [
        "inside the Docker data directory",
        { volumes: [{ hostPath: "/var/lib/docker/volumes/x/_data", containerPath: "/d" }] },
        /Docker data directory/,
      ],
      [
        "/var (contains the Docker data)",
        { volumes: [{ hostPath: "/var", containerPath: "/v" }] },
        /it contains \/var\/lib\/docker/,
      ],
      [
        "docker.sock",
        { volumes: [{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }] },
        /refused: a socket \(a container with the Docker socket is root/,
      ],
      [
        "any socket",
        { mounts: [{ type: "bind", source: "/srv/app/agent.sock", target: "/a.sock" }] },
        /refused: a socket/,
      ],
      [
        "trailing slash",
        { volumes: [{ hostPath: "/etc/", containerPath: "/e" }] },
        /"\/etc\/" \(\/etc\).*refused/,
      ],
      [
        "..",
        { volumes: [{ hostPath: "/opt/data/../../etc", containerPath: "/e" }] },
        /"\/opt\/data\/\.\.\/\.\.\/etc" \(\/etc\).*refused/,
      ],
      ["//", { volumes: [{ hostPath: "//etc//ssh", containerPath: "/e" }] }, /\(\/etc\/ssh\).*refused/],
      [
        "a sibling with the same prefix",
        { volumes: [{ hostPath: "/opt/database", containerPath: "/d" }] },
        /not under allowedHostPaths \(\/opt\/data\)/,
      ],
      [
        "escaping the allowed directory",
        { volumes: [{ hostPath: "/opt/data/../secrets", containerPath: "/s" }] },
        /\(\/opt\/secrets\).*not under allowedHostPaths/,
      ],
      [
        "outside the allow-list",
        { volumes: [{ hostPath: "/usr/local/bin", containerPath: "/b" }] },
        /not under allowedHostPaths/,
      ],
      [
        "not absolute",
        { volumes: [{ hostPath: "data/pg", containerPath: "/d" }] },
        /"data\/pg".*not absolute/,
      ],
      [
        "a volume-driver bind in a mount",
        {
          mounts: [
            {
              type: "volume",
              target: "/e",
              volumeOptions: { driverOptions: { type: "none", o: "bind", device: "/etc" } },
            },
          ],
        },
        /driverOptions\.device.*refused/,
      ],
    ],
    passing: [
      ["named volume", { volumes: [{ volumeName: "pgdata", containerPath: "/var/lib/postgresql/data" }] }],
      [
        "data directory",
        { volumes: [{ hostPath: "/opt/data/postgres", containerPath: "/var/lib/postgresql/data" }] },
      ],
      [
        "data directory, trailing slash and //",
        { mounts: [{ type: "bind", source: "/opt/data//redis/", target: "/data" }] },
      ],
      ["tmpfs", { tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" } }],
      [
        "nfs volume options",
        {
          mounts: [
            {
              type: "volume",
              target: "/n",
              volumeOptions: { driverOptions: { type: "nfs", device: ":/exports/x" } },
            },
          ],
        },
      ],
    ],
  },
  {
    policy: rules.containerNoHostNamespaces,
    failing: [
      ["host network", { networkMode: "host" }, /networkMode: host/],
      ["host pid", { pidMode: "host" }, /pidMode: host/],
      ["host ipc", { ipcMode: "host" }, /ipcMode: host/],
      ["host userns", { usernsMode: "host" }, /usernsMode: host/],
    ],
    passing: [["bridge", { networkMode: "bridge" }]],
  },
  {
    policy: rules.containerPublishedPorts,
    failing: [
      ["backend publishes", { ports: [{ internal: 4000, external: 4000 }] }, /only the edge may publish/],
      [
        "backend on 0.0.0.0",
        { ports: [{ internal: 4000, external: 4000, ip: "0.0.0.0" }] },
        /0\.0\.0\.0:4000->4000/,
      ],
      ["publish all", { publishAllPorts: true }, /publishAllPorts/],
      [
        "edge admin port public",
        {
          labels: [{ label: "backend-infra.component", value: "edge" }],
          ports: [{ internal: 8404, external: 8404 }],
        },
        /only ports 80, 443 may be public/,
      ],
    ],
    passing: [
      ["loopback admin UI", { ports: [{ internal: 3000, external: 3001, ip: "127.0.0.1" }] }],
      [
        "edge public 443 and loopback stats",
        {
          name: "backend-infra-prod-edge",
          labels: [{ label: "backend-infra.component", value: "edge" }],
          ports: [
            { internal: 8443, external: 443 },
            { internal: 8080, external: 80, ip: "0.0.0.0" },
            { internal: 8404, external: 8404, ip: "127.0.0.1" },
          ],
        },
      ],
    ],
  },
  {
    policy: rules.containerImagePinned,
    failing: [
      ["latest", { image: "redis:latest" }, /latest tag/],
      ["untagged", { image: "redis" }, /no tag or digest/],
      ["garbage", { image: "Not An Image!" }, /not an image reference/],
      ["missing", { image: undefined }, /has no image/],
    ],
    passing: [
      ["tag", { image: "redis:7.2.6-bookworm" }],
      ["image id", { image: DIGEST }],
    ],
  },
  {
    policy: rules.containerImageDigest,
    failing: [["tag only in prod", { image: "redis:7.2.6" }, /by tag in prod; a digest is required/]],
    passing: [["tag and digest", { image: `redis:7.2.6@${DIGEST}` }]],
  },
];

describe("container policies", () => {
  for (const c of cases) {
    describe(c.policy.name, () => {
      it("passes the hardened container (as ServiceContainer builds it)", async () => {
        const outcome = await checkResource(c.policy, CONTAINER, hardenedContainer(), { config: c.config });
        expect(outcome).toEqual({ violations: [], notApplicable: undefined });
      });
      for (const [label, overrides] of c.passing ?? []) {
        it(`passes: ${label}`, async () => {
          const outcome = await checkResource(c.policy, CONTAINER, hardenedContainer(overrides), {
            config: c.config,
          });
          expect(outcome.violations).toEqual([]);
        });
      }
      for (const [label, overrides, message] of c.failing) {
        it(`fails: ${label}`, async () => {
          const outcome = await checkResource(c.policy, CONTAINER, hardenedContainer(overrides), {
            config: c.config,
          });
          expect(outcome.violations).toHaveLength(1);
          expect(outcome.violations[0]).toMatch(message);
        });
      }
      it("is not applicable to other resource types", async () => {
        const outcome = await checkResource(c.policy, "docker:index/network:Network", {
          name: "n",
          internal: true,
        });
        expect(outcome.notApplicable).toMatch(/applies to docker:index\/container:Container/);
        expect(outcome.violations).toEqual([]);
      });
    });
  }

  it("container-image-digest applies only in the configured environments", async () => {
    const tagged = hardenedContainer({ image: "redis:7.2.6" });
    const staging = await checkResource(rules.containerImageDigest, CONTAINER, tagged, {
      stack: "staging-blue",
    });
    expect(staging.notApplicable).toMatch(/only in prod/);
    const slot = await checkResource(rules.containerImageDigest, CONTAINER, tagged, { stack: "prod-green" });
    expect(slot.violations).toHaveLength(1);
    const configured = await checkResource(rules.containerImageDigest, CONTAINER, tagged, {
      stack: "staging",
      config: { environments: ["prod", "staging"] },
    });
    expect(configured.violations[0]).toMatch(/by tag in staging/);
  });

  it("capability allow-list and read-only allow-list come from policy config", async () => {
    const adds = hardenedContainer({ capabilities: { drops: ["ALL"], adds: ["CHOWN"] } });
    expect(
      (await checkResource(rules.containerCapabilitiesDropped, CONTAINER, adds)).violations,
    ).toHaveLength(1);
    const allowed = await checkResource(rules.containerCapabilitiesDropped, CONTAINER, adds, {
      config: { allowedCapabilities: ["CHOWN"] },
    });
    expect(allowed.violations).toEqual([]);
    const writable = hardenedContainer({
      readOnly: false,
      labels: [{ label: "backend-infra.component", value: "grafana" }],
    });
    expect((await checkResource(rules.containerReadOnlyRootfs, CONTAINER, writable)).violations).toHaveLength(
      1,
    );
    const listed = await checkResource(rules.containerReadOnlyRootfs, CONTAINER, writable, {
      config: { writableRootfs: ["grafana"] },
    });
    expect(listed.violations).toEqual([]);
  });

  it("host namespace and host path exceptions are per container (and per mode) in policy config", async () => {
    const exporter = hardenedContainer({
      name: "backend-infra-prod-node-exporter",
      labels: [{ label: "backend-infra.component", value: "node-exporter" }],
      pidMode: "host",
      networkMode: "host",
      volumes: [{ hostPath: "/", containerPath: "/host", readOnly: true }],
    });
    const config = { exemptContainers: ["node-exporter:pidMode"] };
    const namespaces = await checkResource(rules.containerNoHostNamespaces, CONTAINER, exporter, { config });
    expect(namespaces.violations).toEqual([expect.stringMatching(/networkMode: host/)]);
    const socket = await checkResource(rules.containerNoDockerSocket, CONTAINER, exporter);
    expect(socket.violations).toEqual([expect.stringMatching(/host path \/, which holds the Docker socket/)]);
    const exempt = await checkResource(rules.containerNoDockerSocket, CONTAINER, exporter, {
      config: { exemptContainers: ["node-exporter"] },
    });
    expect(exempt.notApplicable).toMatch(/exempted/);
  });

  it("container-host-path-allowlist: node-exporter's read-only /proc and /sys are reviewed exceptions from policy config", async () => {
    const policy = rules.containerHostPathAllowlist;
    const exporter = (readOnly: boolean, extra: object[] = []) =>
      hardenedContainer({
        name: "backend-infra-prod-node-exporter",
        labels: [{ label: "backend-infra.component", value: "monitoring-node-exporter" }],
        volumes: [
          { hostPath: "/proc", containerPath: "/host/proc", readOnly },
          { hostPath: "/sys", containerPath: "/host/sys", readOnly },
          ...extra,
        ],
      });
    // The committed policy config of every environment carries the same exception.
    const config = {
      readOnlyExceptions: ["monitoring-node-exporter:/proc", "monitoring-node-exporter:/sys"],
    };
    expect((await checkResource(policy, CONTAINER, exporter(true), { config })).violations).toEqual([]);
    expect((await checkResource(policy, CONTAINER, exporter(true))).violations).toHaveLength(2);
    expect((await checkResource(policy, CONTAINER, exporter(false), { config })).violations).toEqual([
      expect.stringMatching(
        /"\/proc" \(volumes\[\]\.hostPath\) read-write; its readOnlyExceptions entry allows it read-only only/,
      ),
      expect.stringMatching(/"\/sys" .*read-write/),
    ]);
    // The exception is for that container and those exact paths only.
    const other = hardenedContainer({
      volumes: [{ hostPath: "/proc", containerPath: "/p", readOnly: true }],
    });
    expect((await checkResource(policy, CONTAINER, other, { config })).violations).toHaveLength(1);
    const deeper = exporter(true, [{ hostPath: "/proc/1/root", containerPath: "/r", readOnly: true }]);
    expect((await checkResource(policy, CONTAINER, deeper, { config })).violations).toEqual([
      expect.stringMatching(/"\/proc\/1\/root"/),
    ]);
    // Refused paths stay refused whatever the config says.
    const root = exporter(true, [{ hostPath: "/", containerPath: "/rootfs", readOnly: true }]);
    const generous = {
      allowedHostPaths: ["/", "/var", "/etc/app", "/opt/data"],
      readOnlyExceptions: [
        ...config.readOnlyExceptions,
        "monitoring-node-exporter:/",
        "monitoring-node-exporter:/var/run/docker.sock",
      ],
    };
    const sock = exporter(true, [{ hostPath: "/var/run/docker.sock", containerPath: "/d", readOnly: true }]);
    expect((await checkResource(policy, CONTAINER, root, { config: generous })).violations).toEqual([
      expect.stringMatching(/refused: the host's root filesystem/),
    ]);
    expect((await checkResource(policy, CONTAINER, sock, { config: generous })).violations).toHaveLength(1);
    const etc = exporter(true, [{ hostPath: "/etc/app", containerPath: "/a", readOnly: true }]);
    expect((await checkResource(policy, CONTAINER, etc, { config: generous })).violations).toHaveLength(1);
    // An allow-list entry that is or contains a refused path ("/", "/var") allows nothing.
    const usr = hardenedContainer({ volumes: [{ hostPath: "/usr/share/x", containerPath: "/x" }] });
    expect((await checkResource(policy, CONTAINER, usr, { config: generous })).violations[0]).toMatch(
      /not under allowedHostPaths \(\/opt\/data\)/,
    );
    // Other directories are tuned per environment.
    const srv = hardenedContainer({ volumes: [{ hostPath: "/srv/backups/x", containerPath: "/x" }] });
    expect(
      (await checkResource(policy, CONTAINER, srv, { config: { allowedHostPaths: ["/srv/backups"] } }))
        .violations,
    ).toEqual([]);
  });

  it("container-host-path-allowlist checks bind volumes (Postgres/Redis dataPath) like components/postgres.ts declares them", async () => {
    const policy = rules.containerHostPathAllowlist;
    const volume = (device: string, o = "bind") => ({
      name: "backend-infra-prod-postgres-data",
      driver: "local",
      driverOpts: { type: "none", o, device },
    });
    expect((await checkResource(policy, rules.VOLUME, volume("/opt/data/postgres"))).violations).toEqual([]);
    expect((await checkResource(policy, rules.VOLUME, volume("/etc"))).violations).toEqual([
      expect.stringMatching(
        /^volume "backend-infra-prod-postgres-data" \(subject\) binds host path "\/etc" \(driverOpts\.device\), which is refused/,
      ),
    ]);
    expect(
      (await checkResource(policy, rules.VOLUME, volume("/opt/data/../../var/lib/docker", "bind,ro")))
        .violations[0],
    ).toMatch(/\(\/var\/lib\/docker\).*Docker data directory/);
    expect((await checkResource(policy, rules.VOLUME, volume("/home/x", "rbind"))).violations).toHaveLength(
      1,
    );
    const named = await checkResource(policy, rules.VOLUME, { name: "v", driver: "local" });
    expect(named.notApplicable).toMatch(/not a bind volume/);
    const nfs = await checkResource(policy, rules.VOLUME, {
      name: "v",
      driverOpts: { type: "nfs", o: "addr=1.2.3.4", device: ":/x" },
    });
    expect(nfs.notApplicable).toMatch(/not a bind volume/);
    const unknown = unknownCheckingProxy({
      name: "v",
      driverOpts: { type: "none", o: "bind", device: UNKNOWN_STRING },
    }) as Record<string, unknown>;
    expect((await checkResource(policy, rules.VOLUME, unknown)).violations).toEqual([]);
  });

  it("edge identity and public ports come from policy config", async () => {
    const proxy = hardenedContainer({
      name: "front-proxy",
      labels: [{ label: "backend-infra.component", value: "front-proxy" }],
      ports: [{ internal: 8443, external: 8443 }],
    });
    expect((await checkResource(rules.containerPublishedPorts, CONTAINER, proxy)).violations[0]).toMatch(
      /only the edge may publish/,
    );
    const configured = await checkResource(rules.containerPublishedPorts, CONTAINER, proxy, {
      config: { edgePatterns: ["^front-proxy$"], publicPorts: [8443] },
    });
    expect(configured.violations).toEqual([]);
  });

  it("values unknown during preview are not checkable and never throw (engine's proxy)", async () => {
    const props = unknownCheckingProxy(
      hardenedContainer({
        image: UNKNOWN_STRING,
        user: UNKNOWN_STRING,
        ports: UNKNOWN_ARRAY,
        securityOpts: [UNKNOWN_STRING],
        ulimits: UNKNOWN_ARRAY,
      }),
    ) as Record<string, unknown>;
    for (const policy of rules.containerPolicies) {
      const outcome = await checkResource(policy, CONTAINER, props);
      expect(outcome.violations, policy.name).toEqual([]);
    }
    const image = await checkResource(rules.containerImagePinned, CONTAINER, props);
    expect(image.violations).toEqual([]);
  });

  it("remote-image-pinned checks the pulled name", async () => {
    const type = "docker:index/remoteImage:RemoteImage";
    expect(
      (await checkResource(rules.remoteImagePinned, type, { name: "redis:7.2.6-bookworm" })).violations,
    ).toEqual([]);
    expect(
      (await checkResource(rules.remoteImagePinned, type, { name: `redis@${DIGEST}` })).violations,
    ).toEqual([]);
    expect(
      (await checkResource(rules.remoteImagePinned, type, { name: "redis:latest" })).violations[0],
    ).toMatch(/latest/);
    expect((await checkResource(rules.remoteImagePinned, type, { name: "redis" })).violations[0]).toMatch(
      /no tag/,
    );
    expect((await checkResource(rules.remoteImagePinned, type, { name: UNKNOWN_STRING })).violations).toEqual(
      [],
    );
    expect(
      (await checkResource(rules.remoteImagePinned, CONTAINER, hardenedContainer())).notApplicable,
    ).toBeDefined();
  });
});
