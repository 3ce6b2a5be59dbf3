import { describe, expect, it } from "vitest";
import * as data from "../../../policies/rules/data";
import * as networks from "../../../policies/rules/networks";
import { CONTAINER, checkResource, checkStack, hardenedContainer, type StackResource } from "./support";

const NETWORK = "docker:index/network:Network";
const net = (role: string, internal: boolean): StackResource => ({
  type: NETWORK,
  name: `networks-${role}`,
  props: {
    name: `backend-infra-prod-${role}`,
    internal,
    labels: [{ label: "backend-infra.network-role", value: role }],
  },
});
const allNetworks = () => [
  net("edge", false),
  net("app", false),
  net("data", true),
  net("monitoring", false),
  net("backup", false),
];

const postgres = (overrides: Record<string, unknown> = {}) =>
  hardenedContainer({
    name: "backend-infra-prod-postgres",
    labels: [{ label: "backend-infra.component", value: "postgres" }],
    networksAdvanced: [{ name: "backend-infra-prod-data" }, { name: "backend-infra-prod-backup" }],
    volumes: [{ volumeName: "backend-infra-prod-pgdata", containerPath: "/var/lib/postgresql/data" }],
    command: ["postgres", "-c", "config_file=/etc/postgresql/postgresql.conf"],
    uploads: [
      {
        file: "/etc/postgresql/postgresql.conf",
        content:
          "listen_addresses = '*'\narchive_mode = on\narchive_command = 'pgbackrest --stanza=main archive-push %p'\n",
      },
    ],
    ...overrides,
  });
const redis = (overrides: Record<string, unknown> = {}) =>
  hardenedContainer({
    name: "backend-infra-prod-redis",
    labels: [{ label: "backend-infra.component", value: "redis" }],
    networksAdvanced: [{ name: "backend-infra-prod-data" }],
    volumes: [{ volumeName: "backend-infra-prod-redis", containerPath: "/data" }],
    command: ["redis-server", "/usr/local/etc/redis/redis.conf"],
    uploads: [{ file: "/usr/local/etc/redis/redis.conf", content: "appendonly yes\nappendfsync everysec\n" }],
    ...overrides,
  });
const exporter = () =>
  hardenedContainer({
    name: "backend-infra-prod-postgres-exporter",
    labels: [{ label: "backend-infra.component", value: "postgres-exporter" }],
    networksAdvanced: [{ name: "backend-infra-prod-data" }, { name: "backend-infra-prod-monitoring" }],
  });
const container = (name: string, props: Record<string, unknown>): StackResource => ({
  type: CONTAINER,
  name,
  props,
});

describe("network-data-internal", () => {
  const policy = networks.networkDataInternal;
  it("passes an internal data network", async () => {
    expect(await checkResource(policy, NETWORK, net("data", true).props)).toEqual({
      violations: [],
      notApplicable: undefined,
    });
  });
  it("fails a data network that is not internal (by label or by name)", async () => {
    expect((await checkResource(policy, NETWORK, net("data", false).props)).violations[0]).toMatch(
      /is not internal/,
    );
    const byName = await checkResource(policy, NETWORK, { name: "backend-infra-staging-data" });
    expect(byName.violations[0]).toMatch(/"backend-infra-staging-data" is not internal/);
  });
  it("is not applicable to other networks and types", async () => {
    expect((await checkResource(policy, NETWORK, net("app", false).props)).notApplicable).toMatch(
      /not the data network/,
    );
    expect((await checkResource(policy, CONTAINER, hardenedContainer())).notApplicable).toBeDefined();
  });
});

describe("data-services-internal-networks", () => {
  const policy = networks.dataServicesInternalNetworks;
  it("passes postgres on data+backup, redis on data, an exporter on data+monitoring", async () => {
    const outcome = await checkStack(policy, [
      ...allNetworks(),
      container("postgres", postgres()),
      container("redis", redis()),
      container("pg-exporter", exporter()),
    ]);
    expect(outcome).toEqual({ violations: [], urns: [], notApplicable: undefined });
  });
  it("fails redis on the monitoring network and on the backup network", async () => {
    const outcome = await checkStack(policy, [
      ...allNetworks(),
      container(
        "redis",
        redis({
          networksAdvanced: [
            { name: "backend-infra-prod-data" },
            { name: "backend-infra-prod-monitoring" },
            { name: "backend-infra-prod-backup" },
          ],
        }),
      ),
    ]);
    expect(outcome.violations).toEqual([
      expect.stringMatching(/redis .* "backend-infra-prod-monitoring", which is not internal/),
      expect.stringMatching(/redis .* "backend-infra-prod-backup", which is not internal/),
    ]);
    expect(outcome.urns[0]).toMatch(/::redis$/);
  });
  it("fails postgres on the app network, on an unknown network, and on the default bridge", async () => {
    const outcome = await checkStack(policy, [
      ...allNetworks(),
      container(
        "postgres",
        postgres({ networksAdvanced: [{ name: "backend-infra-prod-app" }, { name: "elsewhere" }] }),
      ),
      container("pg2", postgres({ name: "x-postgres", networksAdvanced: [] })),
    ]);
    expect(outcome.violations).toEqual([
      expect.stringMatching(/"backend-infra-prod-app", which is not internal/),
      expect.stringMatching(/"elsewhere", which this stack does not define/),
      expect.stringMatching(/default bridge/),
    ]);
  });
  it("follows property dependencies to networks the engine links", async () => {
    const outcome = await checkStack(policy, [
      { ...net("data", true), name: "data-net" },
      {
        type: CONTAINER,
        name: "redis",
        props: redis(),
        propertyDependencies: { networksAdvanced: ["data-net"] },
      },
    ]);
    expect(outcome.violations).toEqual([]);
  });
  it("is not applicable without postgres or redis", async () => {
    const outcome = await checkStack(policy, [...allNetworks(), container("pg-exporter", exporter())]);
    expect(outcome.notApplicable).toMatch(/no PostgreSQL or Redis/);
  });
});

describe("redis-aof-enabled", () => {
  const policy = data.redisAofEnabled;
  it("passes appendonly yes from a loaded config file or the command line", async () => {
    expect((await checkResource(policy, CONTAINER, redis())).violations).toEqual([]);
    const flags = redis({
      uploads: [],
      command: ["redis-server", "--appendonly", "yes", "--appendfsync", "everysec"],
    });
    expect((await checkResource(policy, CONTAINER, flags)).violations).toEqual([]);
    const b64 = redis({
      uploads: [
        {
          file: "/usr/local/etc/redis/redis.conf",
          contentBase64: Buffer.from("appendonly yes\n").toString("base64"),
        },
      ],
    });
    expect((await checkResource(policy, CONTAINER, b64)).violations).toEqual([]);
  });
  it("fails without AOF, with appendonly no, and with a config file that is not loaded", async () => {
    const none = redis({ uploads: [], command: ["redis-server"] });
    expect((await checkResource(policy, CONTAINER, none)).violations[0]).toMatch(
      /does not enable appendonly/,
    );
    const off = redis({ command: ["redis-server", "/usr/local/etc/redis/redis.conf", "--appendonly", "no"] });
    expect((await checkResource(policy, CONTAINER, off)).violations[0]).toMatch(/--appendonly no/);
    const fileOff = redis({
      uploads: [{ file: "/usr/local/etc/redis/redis.conf", content: "appendonly yes\nappendonly no\n" }],
    });
    expect((await checkResource(policy, CONTAINER, fileOff)).violations[0]).toMatch(/appendonly no/);
    const notLoaded = redis({ command: ["redis-server"] });
    expect((await checkResource(policy, CONTAINER, notLoaded)).violations[0]).toMatch(
      /does not enable appendonly/,
    );
  });
  it("is not applicable to other containers and types", async () => {
    expect((await checkResource(policy, CONTAINER, postgres())).notApplicable).toMatch(
      /not a Redis container/,
    );
    expect((await checkResource(policy, NETWORK, {})).notApplicable).toBeDefined();
  });
});

describe("postgres-wal-archiving", () => {
  const policy = data.postgresWalArchiving;
  it("passes archive settings from postgresql.conf or -c flags in prod", async () => {
    expect((await checkResource(policy, CONTAINER, postgres())).violations).toEqual([]);
    const flags = postgres({
      uploads: [],
      command: [
        "postgres",
        "-c",
        "archive_mode=on",
        "-c",
        "archive_command=pgbackrest --stanza=main archive-push %p",
      ],
    });
    expect((await checkResource(policy, CONTAINER, flags)).violations).toEqual([]);
  });
  it("fails in prod without archiving, or with a placeholder archive_command", async () => {
    const none = postgres({ uploads: [], command: ["postgres"] });
    expect((await checkResource(policy, CONTAINER, none)).violations[0]).toMatch(
      /does not set archive_mode = on in prod/,
    );
    const off = postgres({
      command: ["postgres", "-c", "config_file=/etc/postgresql/postgresql.conf", "-c", "archive_mode=off"],
    });
    expect((await checkResource(policy, CONTAINER, off)).violations[0]).toMatch(/archive_mode/);
    const placeholder = postgres({
      uploads: [
        {
          file: "/etc/postgresql/postgresql.conf",
          content: "archive_mode = on\narchive_command = '/bin/true'\n",
        },
      ],
    });
    expect((await checkResource(policy, CONTAINER, placeholder)).violations[0]).toMatch(
      /no real archive_command/,
    );
  });
  it("is not applicable outside prod (configurable), nor to other containers", async () => {
    const none = postgres({ uploads: [], command: ["postgres"] });
    expect((await checkResource(policy, CONTAINER, none, { stack: "staging" })).notApplicable).toMatch(
      /only in prod/,
    );
    const strict = await checkResource(policy, CONTAINER, none, {
      stack: "staging",
      config: { environments: ["staging"] },
    });
    expect(strict.violations).toHaveLength(1);
    expect((await checkResource(policy, CONTAINER, redis())).notApplicable).toMatch(/not a PostgreSQL/);
    expect((await checkResource(policy, CONTAINER, exporter())).notApplicable).toMatch(/not a PostgreSQL/);
  });
});

describe("stateful-service-volumes", () => {
  const policy = data.statefulServiceVolumes;
  it("passes postgres and redis with writable volumes", async () => {
    expect((await checkResource(policy, CONTAINER, postgres())).violations).toEqual([]);
    expect(
      (
        await checkResource(
          policy,
          CONTAINER,
          redis({ volumes: [], mounts: [{ type: "volume", source: "r", target: "/data" }] }),
        )
      ).violations,
    ).toEqual([]);
  });
  it("fails without a volume, or with only a read-only one", async () => {
    expect((await checkResource(policy, CONTAINER, redis({ volumes: [] }))).violations[0]).toMatch(
      /has no writable volume/,
    );
    const ro = postgres({ volumes: [{ hostPath: "/opt/conf", containerPath: "/conf", readOnly: true }] });
    expect((await checkResource(policy, CONTAINER, ro)).violations[0]).toMatch(
      /postgres .* no writable volume/,
    );
  });
  it("covers extra stateful services from config, and is not applicable to stateless ones", async () => {
    const prometheus = hardenedContainer({ name: "backend-infra-prod-prometheus", labels: [] });
    expect((await checkResource(policy, CONTAINER, prometheus)).notApplicable).toMatch(
      /not a stateful service/,
    );
    const configured = await checkResource(policy, CONTAINER, prometheus, {
      config: { extraStatefulPatterns: ["prometheus$"] },
    });
    expect(configured.violations[0]).toMatch(/stateful .* no writable volume/);
    expect((await checkResource(policy, NETWORK, {})).notApplicable).toBeDefined();
  });
});
