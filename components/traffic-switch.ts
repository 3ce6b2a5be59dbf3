/**
 * The traffic switch as a resource of the env stack. From `traffic.active` and
 * `traffic.canaryPercent` it computes the colour weights (lib/traffic-weights.ts) and runs the
 * switch CLI (tools/traffic-switch.ts) through @pulumi/command. The CLI talks to the edge's
 * runtime API with `docker exec` (DOCKER_HOST = the stack's docker host), refuses when the
 * target slot has no healthy server (the command fails, so `pulumi up` fails with the CLI's
 * message and every weight stays as it was), sets the weights without a reload and persists them
 * in the server-state file.
 *
 * Each colour's weight is divided over its running replicas, counted by the CLI from the slot
 * containers on the app network (`--replicas-from-docker`), not over the servers the edge's DNS
 * view holds at that moment. A slot stack re-applies the target when its replicas change
 * (components/slot-rebalance.ts).
 *
 * When it runs: the target (active colour, canary percent, weights) is part of the command, so
 * a change runs the update; the edge container id and config hash are triggers, so a re-created
 * edge gets the weights again. Nothing runs on delete: removing the switch leaves traffic as is.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { Colour } from "../config/keys";
import { COLOUR_NAMES, colourWeights, type PerColour } from "../lib/traffic-weights";
import { PROJECT_ROOT } from "../lib/project-root";
import { shellQuote } from "../lib/shell-quote";

/** The CLI as run from the project directory (Pulumi runs the built program from there). */
export const TRAFFIC_SWITCH_CLI = "node dist/tools/traffic-switch.js";

export interface TrafficSwitchArgs {
  /** Colour that serves production traffic (config `trafficActive`). */
  active: Colour;
  /** Percent (0-100) of requests for the other colour (config `trafficCanaryPercent`). */
  canaryPercent: number;
  /** Name of the edge container to `docker exec` into. */
  edgeContainer: pulumi.Input<string>;
  /** Docker network of the backend slots: the CLI counts each colour's running replicas on it. */
  appNetwork: pulumi.Input<string>;
  /** Id of the edge container: when it changes (re-created edge) the switch runs again. */
  edgeContainerId: pulumi.Input<string>;
  /** Hash of the edge's haproxy.cfg: a config change re-applies the weights too. */
  edgeConfigHash: pulumi.Input<string>;
  /** Admin API inside the edge container, `127.0.0.1:9999`. */
  adminTcp: string;
  /** Server-state file inside the edge container. */
  stateFile: string;
  /** Docker engine (`unix://`, `ssh://`, `tcp://`), passed to the CLI as DOCKER_HOST. */
  dockerHost: string;
  /** Seconds the switch waits for the target slot to pass its health check. Default 60. */
  waitHealthySeconds?: number;
  /** Command that runs the CLI. Default `node dist/tools/traffic-switch.js`. */
  cli?: string;
}

/** The exact CLI invocation for a target; exported for tests and runbooks' dry runs. */
export function switchCommand(args: {
  cli?: string;
  active: Colour;
  canaryPercent: number;
  edgeContainer: string;
  adminTcp: string;
  stateFile: string;
  waitHealthySeconds?: number;
  /** Replica counts to divide the weights over (`--replicas`); they win over the Docker count. */
  replicas?: Partial<PerColour<number>>;
  /** Network to count running replicas on (`--replicas-from-docker`). */
  appNetwork?: string;
  /** `new`: only a colour that gets no traffic now must be healthy (`--health-gate`). */
  healthGate?: "receiving" | "new";
}): string {
  return [
    args.cli ?? TRAFFIC_SWITCH_CLI,
    "apply",
    `--active ${args.active}`,
    `--canary-percent ${args.canaryPercent}`,
    `--docker-container ${shellQuote(args.edgeContainer)}`,
    `--admin-tcp ${shellQuote(args.adminTcp)}`,
    `--state-file ${shellQuote(args.stateFile)}`,
    `--wait-healthy ${args.waitHealthySeconds ?? 60}`,
    ...COLOUR_NAMES.filter((c) => args.replicas?.[c] !== undefined).map(
      (c) => `--replicas ${c}=${args.replicas?.[c]}`,
    ),
    ...(args.appNetwork !== undefined ? [`--replicas-from-docker ${shellQuote(args.appNetwork)}`] : []),
    ...(args.healthGate === "new" ? ["--health-gate new"] : []),
  ].join(" ");
}

export class TrafficSwitch extends pulumi.ComponentResource {
  readonly active: pulumi.Output<Colour>;
  readonly canaryPercent: pulumi.Output<number>;
  /** Colour weights (0-256); resolved only after the switch command succeeded. */
  readonly weights: pulumi.Output<PerColour<number>>;
  /** The CLI's JSON result (action, weights, shares, healthy servers). */
  readonly result: pulumi.Output<string>;

  constructor(name: string, args: TrafficSwitchArgs, opts?: pulumi.ComponentResourceOptions) {
    super("backend-infra:edge:TrafficSwitch", name, {}, opts);

    // Validates the target too (throws naming traffic.active / traffic.canaryPercent).
    const weights = colourWeights({ active: args.active, canaryPercent: args.canaryPercent });
    const cmd = pulumi
      .all([args.edgeContainer, args.appNetwork])
      .apply(([edgeContainer, appNetwork]) => switchCommand({ ...args, edgeContainer, appNetwork }));

    const run = new command.local.Command(
      `${name}-apply`,
      {
        create: cmd,
        update: cmd,
        environment: { DOCKER_HOST: args.dockerHost },
        // The CLI path is relative to the project; Pulumi runs commands from dist/ (main: dist/).
        dir: PROJECT_ROOT,
        triggers: [args.edgeContainerId, args.edgeConfigHash],
        logging: "stdoutAndStderr",
      },
      { parent: this },
    );

    this.result = run.stdout;
    this.active = run.stdout.apply(() => args.active);
    this.canaryPercent = run.stdout.apply(() => args.canaryPercent);
    this.weights = run.stdout.apply(() => weights);
    this.registerOutputs({ active: this.active, weights: this.weights, result: this.result });
  }
}
