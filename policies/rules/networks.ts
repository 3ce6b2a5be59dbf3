/**
 * Network isolation (seed "Network Isolation: Dedicated networks for services"). The data
 * network has no route off the host; PostgreSQL and Redis live only on internal networks,
 * plus, for PostgreSQL, the dedicated egress-only backup network pgBackRest pushes WAL through.
 */
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { resourcePolicy, stackPolicy, stringList } from "./metadata";
import {
  CONTAINER,
  DEFAULT_POSTGRES_PATTERNS,
  DEFAULT_REDIS_PATTERNS,
  NETWORK,
  configOf,
  dataServiceOf,
  describeContainer,
  isUnknown,
  labelsOf,
  list,
  materialize,
  record,
  reveal,
  str,
} from "./values";

const NETWORK_ROLE_LABEL = "backend-infra.network-role";
const DATA_NETWORK_PATTERNS = ["-data$"];
const BACKUP_NETWORK_PATTERNS = ["-backup$"];

function networkRole(props: Record<string, unknown>, patterns: { data: string[]; backup: string[] }) {
  const label = labelsOf(props).get(NETWORK_ROLE_LABEL);
  if (label) return label;
  const name = str(props.name) ?? "";
  if (patterns.data.some((p) => new RegExp(p).test(name))) return "data";
  if (patterns.backup.some((p) => new RegExp(p).test(name))) return "backup";
  return undefined;
}

export const networkDataInternal = resourcePolicy(
  {
    name: "network-data-internal",
    description: "The data network is internal (no route off the host).",
    severity: "high",
    remediation: "Create the data network with `internal: true` (components/networks.ts INTERNAL_NETWORKS).",
    benchmarks: ["project rule (seed: network isolation; CIS Docker 5.x has no per-network control)"],
    configSchema: {
      properties: {
        dataNetworkPatterns: stringList(
          "Regular expressions on the network name that mark a data network (besides the network-role label).",
          DATA_NETWORK_PATTERNS,
        ),
      },
    },
  },
  [NETWORK],
  (props, args, report) => {
    const { dataNetworkPatterns } = configOf(args, { dataNetworkPatterns: DATA_NETWORK_PATTERNS });
    if (networkRole(props, { data: dataNetworkPatterns, backup: [] }) !== "data") {
      args.notApplicable("not the data network");
    }
    const internal = reveal(props.internal);
    if (isUnknown(internal)) return;
    if (internal !== true) report(`data network "${str(props.name) ?? args.name}" is not internal`);
  },
);

interface DataNetworkConfig {
  postgresPatterns: string[];
  redisPatterns: string[];
  backupNetworkPatterns: string[];
}

export const dataServicesInternalNetworks: StackValidationPolicy = stackPolicy(
  {
    name: "data-services-internal-networks",
    description:
      "PostgreSQL and Redis are attached only to internal networks (PostgreSQL also to the egress-only backup network).",
    severity: "high",
    remediation:
      "Attach Postgres/Redis only to the data network; reach them from other tiers by attaching those containers (backend, exporters, backup runner) to the data network.",
    benchmarks: ["project rule (seed: network isolation)"],
    configSchema: {
      properties: {
        postgresPatterns: stringList(
          "Regular expressions identifying PostgreSQL containers.",
          DEFAULT_POSTGRES_PATTERNS,
        ),
        redisPatterns: stringList(
          "Regular expressions identifying Redis containers.",
          DEFAULT_REDIS_PATTERNS,
        ),
        backupNetworkPatterns: stringList(
          "Regular expressions on the backup network's name.",
          BACKUP_NETWORK_PATTERNS,
        ),
      },
    },
  },
  (args, report) => {
    const cfg = configOf<DataNetworkConfig>(args, {
      postgresPatterns: DEFAULT_POSTGRES_PATTERNS,
      redisPatterns: DEFAULT_REDIS_PATTERNS,
      backupNetworkPatterns: BACKUP_NETWORK_PATTERNS,
    });
    const networks = new Map<string, { props: Record<string, unknown>; resource: PolicyResource }>();
    for (const r of args.resources) {
      if (r.type !== NETWORK) continue;
      const props = materialize(r.props) as Record<string, unknown>;
      const name = str(props.name);
      if (name) networks.set(name, { props, resource: r });
    }
    let checked = 0;
    for (const r of args.resources) {
      if (r.type !== CONTAINER) continue;
      const props = materialize(r.props) as Record<string, unknown>;
      const service = dataServiceOf(
        props,
        { postgres: cfg.postgresPatterns, redis: cfg.redisPatterns },
        r.name,
      );
      if (!service) continue;
      checked++;
      const who = describeContainer(props, r.name);
      const mode = str(props.networkMode);
      const attached = list(props.networksAdvanced);
      if (isUnknown(attached)) continue;
      if (attached.length === 0 && (mode === undefined || mode === "bridge" || mode === "default")) {
        report(`${who} is on Docker's default bridge network, which is not internal`, r.urn);
        continue;
      }
      for (const item of attached) {
        const entry = record(item);
        if (!entry || isUnknown(entry)) continue;
        const nameValue = reveal(entry.name);
        if (isUnknown(nameValue) || typeof nameValue !== "string") continue;
        const network = networks.get(nameValue) ?? dependencyNetwork(r, nameValue);
        if (!network) {
          report(`${who} is attached to network "${nameValue}", which this stack does not define`, r.urn);
          continue;
        }
        const internal = reveal(network.props.internal);
        if (isUnknown(internal) || internal === true) continue;
        const role = networkRole(network.props, { data: [], backup: cfg.backupNetworkPatterns });
        if (service === "postgres" && role === "backup") continue;
        report(`${service} ${who} is attached to network "${nameValue}", which is not internal`, r.urn);
      }
    }
    if (checked === 0) args.notApplicable("the stack has no PostgreSQL or Redis container");
  },
);

/** The real engine links a container's networksAdvanced to Network resources through property dependencies. */
function dependencyNetwork(r: PolicyResource, name: string) {
  for (const dep of r.propertyDependencies?.networksAdvanced ?? []) {
    if (dep.type !== NETWORK) continue;
    const props = materialize(dep.props) as Record<string, unknown>;
    if (str(props.name) === name) return { props, resource: dep };
  }
  return undefined;
}

export const networkPolicies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  networkDataInternal,
  dataServicesInternalNetworks,
];
