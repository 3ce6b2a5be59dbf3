/**
 * Pure weight math of the blue/green traffic switch.
 *
 * The edge has ONE backend (`app`) that holds the servers of both colours; HAProxy's
 * weighted round robin then splits requests by the sum of the weights of each colour's
 * servers. Two numbers decide everything: the active colour and the canary percentage that
 * goes to the other colour.
 *
 * Two kinds of weight:
 * - colour weights (0-256): the share of each colour, scaled so the larger one is 256.
 *   These are what the stack exports as `traffic.weights` and they do not depend on how many
 *   replicas run, so they are known at preview time. They are a summary for people: nothing
 *   is computed from them.
 * - replica weights (0-256): what the runtime API sets on each server, computed straight from
 *   the percentage and each colour's replica count (`replicaWeights`), rounded once. A colour's
 *   weight is spread over its replicas, so a canary with 1 replica against 3 active replicas
 *   still gets its share (not a third of it). Rounding the colour weight first and dividing it
 *   again served 1.54 % for a 1 % canary on 2 replicas next to 1 active replica; computed once,
 *   every percentage 1-99 with 1-8 replicas per colour is exact.
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
 * offers). A colour with a non-zero share never rounds down to 0. For display and the stack
 * outputs only: the servers' weights come from `replicaWeights`.
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

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function checkCounts(counts: PerColour<number>): void {
  for (const c of COLOUR_NAMES) {
    if (!Number.isInteger(counts[c]) || counts[c] < 0) {
      throw new Error(`server count of ${c}: expected a whole number >= 0, got ${String(counts[c])}`);
    }
  }
}

/** `total` spread over `n` servers as evenly as whole numbers allow: largest first, at most 1 apart. */
function spread(total: number, n: number): number[] {
  const base = Math.floor(total / n);
  const extra = total % n;
  return Array.from({ length: n }, (_, i) => (i < extra ? base + 1 : base));
}

/**
 * Weights of every replica of each colour, largest first, computed from the percentage in ONE
 * step (no colour weight rounded first and divided again): the requested share as a fraction
 * `canary : active` in lowest terms, scaled by the largest whole factor `k` with which each
 * colour's total (`k x its part`) fits its replicas at HAProxy's 256 per server, then spread over
 * the colour's replicas. So every colour gets exactly its percentage of the weight (0 pp off for
 * every percentage and replica count; lib's table test checks 1-99 % x 1-8 replicas).
 *
 * Each colour's replicas get the same weight whenever an exact split allows it (the largest
 * such `k`); otherwise (a tiny share over many replicas, e.g. 1 % over 8 canary replicas next
 * to 1 active one, where 8 equal weights cannot be small enough) the total is spread with
 * weights 1 apart, and some replicas may get 0.
 *
 * A colour that gets traffic but has no replica counted is weighted as one replica (nothing
 * receives it until a server appears; the health gate refuses that case anyway). A colour that
 * gets no traffic gets 0 on every replica.
 */
export function replicaWeights(target: TrafficTarget, counts: PerColour<number>): PerColour<number[]> {
  validateTarget(target);
  checkCounts(counts);
  const other = otherColour(target.active);
  const parts: PerColour<number> = { blue: 0, green: 0 };
  parts[target.active] = 100 - target.canaryPercent;
  parts[other] = target.canaryPercent;
  const divisor = gcd(parts.blue, parts.green);
  const receiving = COLOUR_NAMES.filter((c) => parts[c] > 0);
  const n = (c: Colour) => Math.max(1, counts[c]);
  const reduced = (c: Colour) => parts[c] / divisor;
  // The largest factor with which every receiving colour fits 256 per replica (>= 2: a part is <= 99).
  const kMax = Math.min(...receiving.map((c) => Math.floor((MAX_WEIGHT * n(c)) / reduced(c))));
  // The smallest factor that divides every colour's total evenly over its replicas.
  const kEven = receiving.map((c) => n(c) / gcd(reduced(c), n(c))).reduce((a, b) => (a * b) / gcd(a, b), 1);
  const k = kEven <= kMax ? kEven * Math.floor(kMax / kEven) : kMax;
  const result = {} as PerColour<number[]>;
  for (const c of COLOUR_NAMES) {
    result[c] = parts[c] === 0 ? new Array<number>(counts[c]).fill(0) : spread(k * reduced(c), n(c));
  }
  return result;
}

/**
 * Percent of requests each colour receives when its servers have these weights (weighted round
 * robin: a colour's share is the sum of its weights over the sum of all weights).
 */
export function shareOf(weights: PerColour<readonly number[]>): PerColour<number> {
  const sums = {
    blue: weights.blue.reduce((a, b) => a + b, 0),
    green: weights.green.reduce((a, b) => a + b, 0),
  };
  const total = sums.blue + sums.green;
  if (total === 0) return { blue: 0, green: 0 };
  return { blue: (100 * sums.blue) / total, green: (100 * sums.green) / total };
}

/** Colours that receive traffic under a target (those the health gate must find healthy). */
export function receivingColours(target: TrafficTarget): Colour[] {
  const weights = colourWeights(target);
  return COLOUR_NAMES.filter((c) => weights[c] > 0);
}
