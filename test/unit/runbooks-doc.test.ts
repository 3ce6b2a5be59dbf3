/**
 * docs/RUNBOOK.md is complete and runnable: every alert the monitoring stack can fire
 * (renderers/alert-rules.ts, for either active colour) has a row with a meaning and a command,
 * every `runbooks/<name>` it mentions exists, and every option it shows is one that runbook
 * documents in its --help.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { alertDefinitions } from "../../renderers/alert-rules";
import { run } from "../support/tools";

const REPO = resolve(__dirname, "..", "..");
const doc = readFileSync(join(REPO, "docs", "RUNBOOK.md"), "utf8");

describe("docs/RUNBOOK.md", () => {
  const alerts = [
    ...new Set(
      [
        ...alertDefinitions({ traffic: { active: "blue", canaryPercent: 0 } }),
        ...alertDefinitions({ traffic: { active: "green", canaryPercent: 10 } }),
      ].map((a) => a.alert),
    ),
  ].sort();

  it("has a table row (meaning + command) for every alert in the rules", () => {
    expect(alerts.length).toBeGreaterThan(20);
    const missing = alerts.filter((name) => {
      const row = doc.split("\n").find((line) => line.startsWith(`| \`${name}\` |`));
      if (!row) return true;
      const cells = row.split(" | ");
      return cells.length < 3 || cells.slice(1).some((c) => c.replace(/\|/g, "").trim().length < 5);
    });
    expect(missing).toEqual([]);
  });

  it("lists no alert that the rules do not define", () => {
    const documented = [...doc.matchAll(/^\| `([A-Z][A-Za-z0-9]+)` \|/gm)].map((m) => m[1]);
    expect(documented.filter((name) => !alerts.includes(name))).toEqual([]);
  });

  it("states the seed's escalation levels", () => {
    expect(doc).toMatch(/\*\*Level 1\*\* \| automated recovery[^\n]*\| 5 minutes/);
    expect(doc).toMatch(/\*\*Level 2\*\* \| manual intervention[^\n]*\| 15 minutes/);
    expect(doc).toMatch(/\*\*Level 3\*\* \| external support[^\n]*\| 30 minutes/);
  });

  it("every runbook it names exists and documents every option it is shown with", () => {
    const uses = [...doc.matchAll(/runbooks\/([a-z-]+)((?: [^`|\n]*)?)/g)];
    expect(uses.length).toBeGreaterThan(30);
    const helps = new Map<string, string>();
    for (const [, name, rest] of uses) {
      const path = join(REPO, "runbooks", name);
      expect(existsSync(path), `runbooks/${name}`).toBe(true);
      if (!helps.has(name)) helps.set(name, run(path, ["--help"], { cwd: REPO }).stdout);
      for (const [option] of rest.matchAll(/--[a-z][a-z-]*/g)) {
        expect(helps.get(name), `runbooks/${name} ${option}`).toContain(option);
      }
    }
  });
});
