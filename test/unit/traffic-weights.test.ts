import { describe, expect, it } from "vitest";
import {
  MAX_WEIGHT,
  colourWeights,
  effectiveShare,
  otherColour,
  receivingColours,
  serverWeights,
  validateTarget,
} from "../../lib/traffic-weights";

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

describe("serverWeights", () => {
  it("equals the colour weights when both colours run the same number of servers", () => {
    expect(serverWeights({ blue: 256, green: 28 }, { blue: 3, green: 3 })).toEqual({ blue: 256, green: 28 });
  });

  it("divides a colour's weight over its servers so the share holds with unequal replica counts", () => {
    const colour = colourWeights({ active: "blue", canaryPercent: 10 });
    const counts = { blue: 3, green: 1 };
    const per = serverWeights(colour, counts);
    expect(per).toEqual({ blue: 256, green: 84 });
    expect(effectiveShare(per, counts).green).toBeCloseTo(9.86, 1);
    const reversed = serverWeights(colour, { blue: 1, green: 4 });
    expect(effectiveShare(reversed, { blue: 1, green: 4 }).green).toBeGreaterThan(9);
    expect(effectiveShare(reversed, { blue: 1, green: 4 }).green).toBeLessThan(11);
  });

  it("keeps weights within 1..256 for a colour with weight and 0 for one without", () => {
    const per = serverWeights({ blue: 256, green: 3 }, { blue: 1, green: 20 });
    expect(per.blue).toBe(256);
    expect(per.green).toBe(1);
    expect(serverWeights({ blue: 0, green: 256 }, { blue: 3, green: 0 })).toEqual({ blue: 0, green: 256 });
    expect(serverWeights({ blue: 0, green: 0 }, { blue: 1, green: 1 })).toEqual({ blue: 0, green: 0 });
  });

  it("rejects invalid counts and weights", () => {
    expect(() => serverWeights({ blue: 256, green: 0 }, { blue: -1, green: 0 })).toThrow(/count of blue/);
    expect(() => serverWeights({ blue: 300, green: 0 }, { blue: 1, green: 0 })).toThrow(/weight of blue/);
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

  it("effectiveShare is 0/0 when nothing has weight", () => {
    expect(effectiveShare({ blue: 0, green: 0 }, { blue: 2, green: 2 })).toEqual({ blue: 0, green: 0 });
  });
});
