/**
 * Counts the running backend replicas of each colour on a Docker engine: the containers labelled
 * as backend slots (lib/slot-labels.ts) on the environment's app network. That is the slots'
 * steady state, which the traffic switch divides each colour's weight over, whatever the edge's
 * DNS view holds at that moment.
 */
import { runWithInput } from "../lib/run-with-input";
import { BACKEND_ROLE, ROLE_LABEL, SLOT_LABEL } from "../lib/slot-labels";
import { isColour, type PerColour } from "../lib/traffic-weights";

/** The `docker ps` arguments: one line per running backend container, its colour. */
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
    `{{.Label "${SLOT_LABEL}"}}`,
  ];
}

/** Counts the colours in `docker ps` output; a line that is no colour is an error, not a skip. */
export function countColours(output: string, network: string): PerColour<number> {
  const counts: PerColour<number> = { blue: 0, green: 0 };
  for (const line of output.split("\n").map((l) => l.trim())) {
    if (line === "") continue;
    if (!isColour(line)) {
      throw new Error(
        `a running backend container on network ${network} has ${SLOT_LABEL}=${JSON.stringify(line)}, expected blue or green`,
      );
    }
    counts[line]++;
  }
  return counts;
}

export async function dockerReplicas(network: string, dockerHost?: string): Promise<PerColour<number>> {
  const output = await runWithInput("docker", dockerPsArgs(network, dockerHost), {
    timeoutMs: 30_000,
    what: `docker ps (backend replicas on network ${network})`,
  });
  return countColours(output, network);
}
