/**
 * A slot stack's share of the traffic switch: after the slot's replicas are up, it re-applies the
 * env stack's current target (`traffic.active`, `traffic.canaryPercent`) with this slot's replica
 * count, so the per-server weights match the replicas that now run. Without it, scaling a slot
 * during a canary (3 -> 6 green replicas) would double green's share until the next switch.
 *
 * The count of this colour is the slot's config (`--replicas`): during the update the replaced
 * containers still run until Pulumi deletes them at its end, so counting them would be wrong.
 * The other colour is counted from Docker (`--replicas-from-docker`). Re-applying the current
 * target is idempotent: when the weights already match, the CLI changes nothing ("unchanged").
 * Nothing runs on delete. It runs when the slot's containers or the env's recorded target
 * change, so it also re-applies that recorded target over a switch made outside Pulumi.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { Colour } from "../config/keys";
import { validateTarget, type TrafficTarget } from "../lib/traffic-weights";
import { switchCommand } from "./traffic-switch";
import { PROJECT_ROOT } from "../lib/project-root";

export interface SlotRebalanceArgs {
  /** This slot's colour. */
  colour: Colour;
  /** This slot's replica count (config `backendReplicas`). */
  replicas: number;
  /** The env stack's current target: its `traffic.active` and `traffic.canaryPercent` outputs. */
  target: pulumi.Input<TrafficTarget>;
  /** The env stack's edge: container name, admin API inside it, server-state file. */
  edge: { container: pulumi.Input<string>; adminTcp: pulumi.Input<string>; stateFile: pulumi.Input<string> };
  /** The env stack's app network, where the other colour's replicas are counted. */
  appNetwork: pulumi.Input<string>;
  /** Docker engine of the env (DOCKER_HOST for the CLI). */
  dockerHost: pulumi.Input<string>;
  /** The slot's container names: when they change (new revision, scaling) the target is re-applied. */
  containers: pulumi.Input<string[]>;
  /** Seconds the CLI waits for a receiving colour to be healthy. Default 60. */
  waitHealthySeconds?: number;
  /** Command that runs the CLI. Default `node dist/tools/traffic-switch.js`. */
  cli?: string;
}

/** The CLI invocation once the env stack's outputs are known; throws on a target that is not one. */
export function slotRebalanceCommand(
  args: Pick<SlotRebalanceArgs, "colour" | "replicas" | "waitHealthySeconds" | "cli"> & {
    target: TrafficTarget;
    edge: { container: string; adminTcp: string; stateFile: string };
    appNetwork: string;
  },
): string {
  try {
    validateTarget(args.target);
  } catch (error) {
    throw new Error(`the env stack's traffic output is not a valid target: ${(error as Error).message}`);
  }
  return switchCommand({
    cli: args.cli,
    active: args.target.active,
    canaryPercent: args.target.canaryPercent,
    edgeContainer: args.edge.container,
    adminTcp: args.edge.adminTcp,
    stateFile: args.edge.stateFile,
    waitHealthySeconds: args.waitHealthySeconds,
    replicas: { [args.colour]: args.replicas },
    appNetwork: args.appNetwork,
    // The target is the one the edge already serves: a colour that gets traffic now keeps it
    // even when unhealthy (a broken canary must not block the active slot's deploy); only a
    // colour that would newly get traffic must be healthy.
    healthGate: "new",
  });
}

export class SlotRebalance extends pulumi.ComponentResource {
  /** The CLI's JSON result (action, weights, shares, replicas). */
  readonly result: pulumi.Output<string>;

  constructor(name: string, args: SlotRebalanceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("backend-infra:edge:SlotRebalance", name, {}, opts);
    if (!Number.isInteger(args.replicas) || args.replicas < 1) {
      throw new Error(`SlotRebalance ${name}: replicas: expected a whole number >= 1, got ${args.replicas}`);
    }

    const cmd = pulumi
      .all([args.target, args.edge.container, args.edge.adminTcp, args.edge.stateFile, args.appNetwork])
      .apply(([target, container, adminTcp, stateFile, appNetwork]) =>
        slotRebalanceCommand({ ...args, target, edge: { container, adminTcp, stateFile }, appNetwork }),
      );

    const run = new command.local.Command(
      `${name}-apply`,
      {
        create: cmd,
        update: cmd,
        environment: { DOCKER_HOST: args.dockerHost },
        // The CLI path is relative to the project; Pulumi runs commands from dist/ (main: dist/).
        dir: PROJECT_ROOT,
        triggers: [args.containers],
        logging: "stdoutAndStderr",
      },
      { parent: this },
    );

    this.result = run.stdout;
    this.registerOutputs({ result: this.result });
  }
}
