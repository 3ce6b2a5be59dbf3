import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { assertBuildIsFresh } from "../../lib/stale-build";

const roots: string[] = [];
afterEach(() => roots.splice(0).forEach((r) => rmSync(r, { recursive: true, force: true })));

function project(): string {
  const root = mkdtempSync(join(tmpdir(), "bi-stale-"));
  roots.push(root);
  mkdirSync(join(root, "dist"));
  mkdirSync(join(root, "components"));
  writeFileSync(join(root, "index.ts"), "");
  writeFileSync(join(root, "components", "a.ts"), "");
  writeFileSync(join(root, "dist", "index.js"), "");
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(root, "index.ts"), past, past);
  utimesSync(join(root, "components", "a.ts"), past, past);
  return root;
}

it("accepts a build newer than every source", () => {
  expect(() => assertBuildIsFresh(join(project(), "dist"))).not.toThrow();
});

it("refuses a build older than a component source, naming the file", () => {
  const root = project();
  const future = new Date(Date.now() + 60_000);
  utimesSync(join(root, "components", "a.ts"), future, future);
  expect(() => assertBuildIsFresh(join(root, "dist"))).toThrowError(
    /older than components\/a\.ts: run `npm run build`/,
  );
});

it("does nothing when the program runs from its sources", () => {
  expect(() => assertBuildIsFresh(project())).not.toThrow();
});

it("refuses a build older than a tool the up runs (the traffic switch, config reloads)", () => {
  const root = project();
  mkdirSync(join(root, "tools"));
  writeFileSync(join(root, "tools", "traffic-switch.ts"), "");
  const future = new Date(Date.now() + 60_000);
  utimesSync(join(root, "tools", "traffic-switch.ts"), future, future);
  expect(() => assertBuildIsFresh(join(root, "dist"))).toThrowError(/older than tools\/traffic-switch\.ts/);
});
