import { describe, expect, it } from "vitest";
import {
  COLOUR_NAMES,
  MAX_WEIGHT,
  colourWeights,
  otherColour,
  receivingColours,
  replicaWeights,
  shareOf,
  validateTarget,
} from "../../lib/traffic-weights";
import type { Colour } from "../../config/keys";

describe("colourWeights", () => {
  it("gives the active colour everything when there is no canary", () => {
    expect(colourWeights({ active: "blue", canaryPercent: 0 })).toEqual({ blue: 256, green: 0 });
    expect(colourWeights({ active: "green", canaryPercent: 0 })).toEqual({ blue: 0, green: 256 });
  });

  it("splits a 10% canary as 256 : 28 (9.86%)", () => {
    const w = colourWeights({ active: "blue", canaryPercent: 10 });
    expect(w).toEqual({ blue: 256, green: 28 });
    expect((100 * w.green) / (w.blue + w.green)).toBeCloseTo(9.86, 1);
  });

  it("keeps every percentage within 0.5 points of the request", () => {
    for (let pct = 0; pct <= 100; pct++) {
      const w = colourWeights({ active: "green", canaryPercent: pct });
      expect(Math.max(w.blue, w.green)).toBe(MAX_WEIGHT);
      const share = (100 * w.blue) / (w.blue + w.green);
      expect(Math.abs(share - pct)).toBeLessThanOrEqual(0.5);
      if (pct > 0) expect(w.blue).toBeGreaterThanOrEqual(1);
    }
  });

  it("100% canary moves everything to the other colour, 50% is even", () => {
    expect(colourWeights({ active: "blue", canaryPercent: 100 })).toEqual({ blue: 0, green: 256 });
    expect(colourWeights({ active: "blue", canaryPercent: 50 })).toEqual({ blue: 256, green: 256 });
  });

  it("never rounds a 1% canary to zero", () => {
    expect(colourWeights({ active: "blue", canaryPercent: 1 }).green).toBe(3);
  });

  it("rejects bad targets with the field name", () => {
    expect(() => validateTarget({ active: "red" as "blue", canaryPercent: 0 })).toThrow(/traffic.active/);
    expect(() => colourWeights({ active: "blue", canaryPercent: 101 })).toThrow(/canaryPercent.*0 to 100/);
    expect(() => colourWeights({ active: "blue", canaryPercent: 2.5 })).toThrow(/whole number/);
    expect(() => colourWeights({ active: "blue", canaryPercent: -1 })).toThrow(/canaryPercent/);
  });
});

describe("replicaWeights: the share is rounded once, from the percentage", () => {
  /** Every percentage 1-99, 1-8 replicas per colour, either colour active. */
  const grid: [Colour, number, number, number][] = [];
  for (const active of COLOUR_NAMES)
    for (let pct = 1; pct <= 99; pct++)
      for (let activeReplicas = 1; activeReplicas <= 8; activeReplicas++)
        for (let canaryReplicas = 1; canaryReplicas <= 8; canaryReplicas++)
          grid.push([active, pct, activeReplicas, canaryReplicas]);

  it(`serves every requested share within 0.2 points over the whole grid (${99 * 8 * 8 * 2} cases)`, () => {
    const off: string[] = [];
    let worst = 0;
    for (const [active, pct, activeReplicas, canaryReplicas] of grid) {
      const canary = otherColour(active);
      const counts = { [active]: activeReplicas, [canary]: canaryReplicas } as Record<Colour, number>;
      const weights = replicaWeights({ active, canaryPercent: pct }, counts);
      const share = shareOf(weights)[canary];
      worst = Math.max(worst, Math.abs(share - pct));
      const where = `${active} ${pct}% ${activeReplicas}:${canaryReplicas}`;
      if (Math.abs(share - pct) > 0.2) off.push(`${where}: ${share}`);
      for (const c of COLOUR_NAMES) {
        const list = weights[c];
        if (list.length !== counts[c]) off.push(`${where}: ${c} has ${list.length} weights`);
        if (list.some((w) => !Number.isInteger(w) || w < 0 || w > MAX_WEIGHT))
          off.push(`${where}: ${c} weights ${list.join(",")} outside 0-${MAX_WEIGHT}`);
        // Replicas of a colour share its load evenly: weights at most 1 apart, largest first.
        if (list[0] - list[list.length - 1] > 1 || list.some((w, i) => i > 0 && w > list[i - 1]))
          off.push(`${where}: ${c} weights ${list.join(",")} not even`);
      }
    }
    expect(off, off.slice(0, 10).join("\n")).toEqual([]);
    // Not just within the bound: computed from the percentage in one step, every split is exact.
    expect(worst).toBeLessThan(1e-9);
  });

  it("fixes the double rounding the load review measured (1 % canary, 1 active and 2 canary replicas)", () => {
    // Rounded twice this was 256 : 2 x 2 = 1.54 %.
    const weights = replicaWeights({ active: "green", canaryPercent: 1 }, { green: 1, blue: 2 });
    expect(weights).toEqual({ green: [198], blue: [1, 1] });
    expect(shareOf(weights).blue).toBe(1);
  });

  it("gives every replica of a colour the same weight when an exact split allows it", () => {
    expect(replicaWeights({ active: "blue", canaryPercent: 10 }, { blue: 3, green: 1 })).toEqual({
      blue: [255, 255, 255],
      green: [85],
    });
    expect(replicaWeights({ active: "blue", canaryPercent: 10 }, { blue: 2, green: 1 })).toEqual({
      blue: [252, 252],
      green: [56],
    });
    expect(replicaWeights({ active: "blue", canaryPercent: 50 }, { blue: 3, green: 1 })).toEqual({
      blue: [85, 85, 85],
      green: [255],
    });
  });

  it("spreads a share too small for equal weights 1 apart (1 % over 8 canary replicas next to 1 active)", () => {
    const weights = replicaWeights({ active: "blue", canaryPercent: 1 }, { blue: 1, green: 8 });
    expect(weights).toEqual({ blue: [198], green: [1, 1, 0, 0, 0, 0, 0, 0] });
    expect(shareOf(weights).green).toBe(1);
  });

  it("gives everything to one colour at 0 % and 100 %, and 0 to a colour without traffic", () => {
    expect(replicaWeights({ active: "blue", canaryPercent: 0 }, { blue: 3, green: 2 })).toEqual({
      blue: [256, 256, 256],
      green: [0, 0],
    });
    expect(replicaWeights({ active: "blue", canaryPercent: 100 }, { blue: 3, green: 2 })).toEqual({
      blue: [0, 0, 0],
      green: [256, 256],
    });
  });

  it("weighs a receiving colour without a counted replica as one replica", () => {
    expect(replicaWeights({ active: "green", canaryPercent: 0 }, { blue: 3, green: 0 })).toEqual({
      blue: [0, 0, 0],
      green: [256],
    });
  });

  it("rejects invalid counts and targets", () => {
    expect(() => replicaWeights({ active: "blue", canaryPercent: 10 }, { blue: -1, green: 0 })).toThrow(
      /count of blue/,
    );
    expect(() => replicaWeights({ active: "blue", canaryPercent: 10 }, { blue: 1.5, green: 1 })).toThrow(
      /count of blue/,
    );
    expect(() => replicaWeights({ active: "blue", canaryPercent: 101 }, { blue: 1, green: 1 })).toThrow(
      /canaryPercent/,
    );
  });
});

describe("helpers", () => {
  it("otherColour and receivingColours", () => {
    expect(otherColour("blue")).toBe("green");
    expect(otherColour("green")).toBe("blue");
    expect(receivingColours({ active: "green", canaryPercent: 0 })).toEqual(["green"]);
    expect(receivingColours({ active: "green", canaryPercent: 10 })).toEqual(["blue", "green"]);
    expect(receivingColours({ active: "green", canaryPercent: 100 })).toEqual(["blue"]);
  });

  it("shareOf is 0/0 when nothing has weight", () => {
    expect(shareOf({ blue: [0, 0], green: [0, 0] })).toEqual({ blue: 0, green: 0 });
    expect(shareOf({ blue: [3, 1], green: [] })).toEqual({ blue: 100, green: 0 });
  });
});
