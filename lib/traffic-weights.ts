/**
 * Pure weight math of the blue/green traffic switch.
 *
 * The edge has ONE backend (`app`) that holds the servers of both colours; HAProxy's
 * weighted round robin then splits requests by the sum of the weights of each colour's
 * servers. Two numbers decide everything: the active colour and the canary percentage that
 * goes to the other colour.
 *
 * Two levels of weight:
 * - colour weights (0-256): the share of each colour, scaled so the larger one is 256.
 *   These are what the stack exports as `traffic.weights` and they do not depend on how many
 *   replicas run, so they are known at preview time.
 * - server weights (0-256): what the runtime API sets on each server. A colour's weight is
 *   divided over its servers that have an address, so a canary with 1 replica against 3 active
 *   replicas still gets its share (not a third of it).
 */
import type { Colour } from "../config/keys";

/** HAProxy's largest server weight. */
export const MAX_WEIGHT = 256;
export const COLOUR_NAMES: readonly Colour[] = ["blue", "green"];

export interface TrafficTarget {
  /** Colour that serves production traffic. */
  active: Colour;
  /** Percent (0-100, whole number) of requests sent to the other colour. */
  canaryPercent: number;
}

export type PerColour<T> = Record<Colour, T>;

export function otherColour(colour: Colour): Colour {
  return colour === "blue" ? "green" : "blue";
}

export function isColour(value: unknown): value is Colour {
  return value === "blue" || value === "green";
}

/** Throws an Error naming the bad field when the target is not valid. */
export function validateTarget(target: TrafficTarget): void {
  if (!isColour(target.active)) {
    throw new Error(`traffic.active: expected blue or green, got ${JSON.stringify(target.active)}`);
  }
  const pct = target.canaryPercent;
  if (!Number.isInteger(pct) || pct < 0 || pct > 100) {
    throw new Error(`traffic.canaryPercent: expected a whole number from 0 to 100, got ${String(pct)}`);
  }
}

/**
 * Colour weights for a target: the active colour gets 100 - canaryPercent percent, the other
 * colour canaryPercent percent, scaled so the larger weight is 256 (the most precision HAProxy
 * offers). A colour with a non-zero share never rounds down to 0.
 */
export function colourWeights(target: TrafficTarget): PerColour<number> {
  validateTarget(target);
  const other = otherColour(target.active);
  const activeShare = 100 - target.canaryPercent;
  const otherShare = target.canaryPercent;
  const scale = MAX_WEIGHT / Math.max(activeShare, otherShare);
  const weight = (share: number) => (share === 0 ? 0 : Math.max(1, Math.round(share * scale)));
  return { [target.active]: weight(activeShare), [other]: weight(otherShare) } as PerColour<number>;
}

/**
 * Per-server weights: each colour's weight divided over `counts[colour]` servers, scaled so
 * the largest server weight is 256. A colour with weight but no servers gets its nominal weight
 * (nothing receives it until a server appears; the health gate refuses that case anyway).
 */
export function serverWeights(colour: PerColour<number>, counts: PerColour<number>): PerColour<number> {
  for (const c of COLOUR_NAMES) {
    if (!Number.isInteger(counts[c]) || counts[c] < 0) {
      throw new Error(`server count of ${c}: expected a whole number >= 0, got ${String(counts[c])}`);
    }
    if (!Number.isInteger(colour[c]) || colour[c] < 0 || colour[c] > MAX_WEIGHT) {
      throw new Error(`weight of ${c}: expected a whole number from 0 to ${MAX_WEIGHT}, got ${colour[c]}`);
    }
  }
  const perServer = (c: Colour) => (counts[c] === 0 ? colour[c] : colour[c] / counts[c]);
  const largest = Math.max(...COLOUR_NAMES.map(perServer));
  if (largest === 0) return { blue: 0, green: 0 };
  const scale = MAX_WEIGHT / largest;
  const result = {} as PerColour<number>;
  for (const c of COLOUR_NAMES) {
    result[c] = colour[c] === 0 ? 0 : Math.min(MAX_WEIGHT, Math.max(1, Math.round(perServer(c) * scale)));
  }
  return result;
}

/**
 * Percent of requests each colour receives with these per-server weights and server counts
 * (weighted round robin: share = sum of the colour's weights / sum of all weights).
 */
export function effectiveShare(perServer: PerColour<number>, counts: PerColour<number>): PerColour<number> {
  const total = COLOUR_NAMES.reduce((sum, c) => sum + perServer[c] * counts[c], 0);
  if (total === 0) return { blue: 0, green: 0 };
  return {
    blue: (100 * perServer.blue * counts.blue) / total,
    green: (100 * perServer.green * counts.green) / total,
  };
}

/** Colours that receive traffic under a target (those the health gate must find healthy). */
export function receivingColours(target: TrafficTarget): Colour[] {
  const weights = colourWeights(target);
  return COLOUR_NAMES.filter((c) => weights[c] > 0);
}
