/**
 * The Docker networks of one environment. Each tier gets its own bridge so a container
 * reaches only what it must (seed: "Network Isolation: Dedicated networks for services").
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

/** Network roles, in the order they are created. */
export const NETWORK_ROLES = ["edge", "app", "data", "monitoring", "backup"] as const;
export type NetworkRole = (typeof NETWORK_ROLES)[number];

/**
 * `internal` networks have no route off the host. Only the data network is internal:
 * the backend may call external APIs (app), Alertmanager must reach its webhooks
 * (monitoring), and pgBackRest pushes WAL to S3 (backup, an egress-only network that
 * holds just Postgres and the backup runners).
 */
export const INTERNAL_NETWORKS: ReadonlySet<NetworkRole> = new Set(["data"]);

export interface NetworksArgs {
  /** Prefix of every network name, e.g. `backend-infra-prod` -> `backend-infra-prod-data`. */
  namePrefix: string;
}

export class Networks extends pulumi.ComponentResource {
  /** Docker network names by role. */
  readonly names: Record<NetworkRole, pulumi.Output<string>>;
  readonly networks: Record<NetworkRole, docker.Network>;

  constructor(name: string, args: NetworksArgs, opts?: pulumi.ComponentResourceOptions) {
    super("backend-infra:network:Networks", name, {}, opts);
    const networks = {} as Record<NetworkRole, docker.Network>;
    for (const role of NETWORK_ROLES) {
      networks[role] = new docker.Network(
        `${name}-${role}`,
        {
          name: `${args.namePrefix}-${role}`,
          driver: "bridge",
          internal: INTERNAL_NETWORKS.has(role),
          attachable: false,
          labels: [
            { label: "backend-infra.network-role", value: role },
            { label: "backend-infra.internal", value: String(INTERNAL_NETWORKS.has(role)) },
          ],
        },
        { parent: this },
      );
    }
    this.networks = networks;
    this.names = Object.fromEntries(NETWORK_ROLES.map((role) => [role, networks[role].name])) as Record<
      NetworkRole,
      pulumi.Output<string>
    >;
    this.registerOutputs({ names: this.names });
  }
}
