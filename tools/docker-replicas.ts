/**
 * Counts the running backend replicas of each colour on a Docker engine: the containers labelled
 * as backend slots (lib/slot-labels.ts) on the environment's app network. That is the slots'
 * steady state, which the traffic switch divides each colour's weight over, whatever the edge's
 * DNS view holds at that moment.
 */
import { runWithInput } from "../lib/run-with-input";
import type { Colour } from "../config/keys";
import { BACKEND_ROLE, REPLICA_LABEL, ROLE_LABEL, SLOT_LABEL } from "../lib/slot-labels";
import type { PerColour } from "../lib/traffic-weights";

/** The `docker ps` arguments: one line per running backend container, `<colour>/<replica>`. */
export function dockerPsArgs(network: string, dockerHost?: string): string[] {
  return [
    ...(dockerHost ? ["-H", dockerHost] : []),
    "ps",
    "--filter",
    `label=${ROLE_LABEL}=${BACKEND_ROLE}`,
    "--filter",
    `network=${network}`,
    "--filter",
    "status=running",
    "--format",
    `{{.Label "${SLOT_LABEL}"}}/{{.Label "${REPLICA_LABEL}"}}`,
  ];
}

/**
 * Counts each colour's replicas in `docker ps` output: distinct replica numbers, so a replaced
 * container that still runs (its delete pending after a failed update) is not counted twice. A
 * line that is not `<colour>/<replica>` is an error, not a skip.
 */
export function countColours(output: string, network: string): PerColour<number> {
  const seen: PerColour<Set<string>> = { blue: new Set(), green: new Set() };
  for (const line of output.split("\n").map((l) => l.trim())) {
    if (line === "") continue;
    const match = /^(blue|green)\/(\d+)$/.exec(line);
    if (!match) {
      throw new Error(
        `a running backend container on network ${network} has labels ${SLOT_LABEL}/${REPLICA_LABEL} = ${JSON.stringify(line)}, expected blue or green and a replica number`,
      );
    }
    seen[match[1] as Colour].add(match[2]);
  }
  return { blue: seen.blue.size, green: seen.green.size };
}

export async function dockerReplicas(network: string, dockerHost?: string): Promise<PerColour<number>> {
  const output = await runWithInput("docker", dockerPsArgs(network, dockerHost), {
    timeoutMs: 30_000,
    what: `docker ps (backend replicas on network ${network})`,
  });
  return countColours(output, network);
}
