/**
 * No EBADENGINE: every package `npm ci` installs accepts the Node.js versions this project says it
 * supports (package.json `engines.node`), and the Node.js running the tests is one of them. A
 * dependency bump that needs a newer Node.js (as @pulumi/pulumi 3.249+ needs Node 22) fails here,
 * naming the package, instead of warning on every `npm ci`.
 *
 * Each project with its own lockfile is checked: the program, the policy pack and the example
 * backend. Two sources, because they answer different questions: the lockfile holds the engines
 * of every package npm may install on any machine (platform-specific optional ones included),
 * node_modules what was installed here.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import semver from "semver";
import { afterEach, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../harness/stack-file";
import { removeDir, tempDir } from "../support/tools";

const PROJECTS = [".", "policies", "examples/backend"];

interface Manifest {
  name?: string;
  version?: string;
  engines?: { node?: unknown };
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, "utf8")) as T;

/** The engines.node range a project declares (undefined when it declares none). */
function declared(project: string): string | undefined {
  const range = readJson<Manifest>(join(project, "package.json")).engines?.node;
  return typeof range === "string" ? range : undefined;
}

/**
 * Packages of `project`'s lockfile whose engines.node does not accept every version `supported`
 * names: "<path>@<version> needs node <range>".
 */
function lockfileConflicts(project: string, supported: string): string[] {
  const lock = readJson<{ packages: Record<string, Manifest> }>(join(project, "package-lock.json"));
  return Object.entries(lock.packages)
    .filter(([path]) => path !== "")
    .flatMap(([path, entry]) => {
      const range = entry.engines?.node;
      if (typeof range !== "string") return [];
      const ok = semver.validRange(range) !== null && semver.subset(supported, range);
      return ok ? [] : [`${path}@${entry.version} needs node ${range}`];
    });
}

/** Every package.json under `dir`/node_modules (scoped and nested ones too). */
function installed(dir: string, into: { path: string; manifest: Manifest }[] = []) {
  const modules = join(dir, "node_modules");
  if (!existsSync(modules)) return into;
  for (const name of readdirSync(modules)) {
    if (name.startsWith(".")) continue; // .bin, .package-lock.json, caches
    const dirs = name.startsWith("@")
      ? readdirSync(join(modules, name)).map((scoped) => join(modules, name, scoped))
      : [join(modules, name)];
    for (const pkg of dirs) {
      const manifest = join(pkg, "package.json");
      if (!existsSync(manifest)) continue;
      into.push({ path: pkg, manifest: readJson<Manifest>(manifest) });
      installed(pkg, into);
    }
  }
  return into;
}

/** Installed packages under `project` whose engines.node rejects `nodeVersion` (what npm calls EBADENGINE). */
function installedConflicts(project: string, nodeVersion: string): string[] {
  return installed(project).flatMap(({ path, manifest }) => {
    const range = manifest.engines?.node;
    if (typeof range !== "string" || semver.satisfies(nodeVersion, range)) return [];
    return [`${path.slice(project.length + 1)} (${manifest.name}@${manifest.version}) needs node ${range}`];
  });
}

describe("Node.js engines agree with every dependency (no EBADENGINE)", () => {
  it.each(PROJECTS)("%s declares the Node.js versions it supports, and this Node.js is one", (dir) => {
    const range = declared(join(REPO_ROOT, dir));
    expect(range, `${dir}/package.json needs engines.node`).toBeDefined();
    expect(semver.validRange(range ?? "")).not.toBeNull();
    expect(semver.satisfies(process.version, range ?? ""), `${process.version} vs ${range}`).toBe(true);
  });

  it.each(PROJECTS)("every package in %s/package-lock.json accepts all of them", (dir) => {
    const project = join(REPO_ROOT, dir);
    expect(lockfileConflicts(project, declared(project) ?? "*")).toEqual([]);
  });

  for (const dir of PROJECTS) {
    const project = join(REPO_ROOT, dir);
    // policies/ and examples/backend are installed on their own (npm ci --prefix ...); their
    // lockfiles are checked above either way.
    const notInstalled =
      !existsSync(join(project, "node_modules")) &&
      `skipped: ${dir}/node_modules is not installed (its lockfile is checked instead)`;
    if (notInstalled) console.warn(notInstalled);
    it.skipIf(notInstalled)(`every package installed in ${dir}/node_modules accepts this Node.js`, () => {
      expect(installed(project).length).toBeGreaterThan(10);
      expect(installedConflicts(project, process.version)).toEqual([]);
    });
  }

  describe("the checks themselves", () => {
    const dirs: string[] = [];
    afterEach(() => dirs.splice(0).forEach(removeDir));

    it("name a package that needs a newer Node.js, in the lockfile and installed", () => {
      const dir = tempDir("engines");
      dirs.push(dir);
      writeFileSync(
        join(dir, "package-lock.json"),
        JSON.stringify({
          lockfileVersion: 3,
          packages: {
            "": { engines: { node: ">=20.19" } },
            "node_modules/ok": { version: "1.0.0", engines: { node: ">=18" } },
            "node_modules/new": { version: "3.270.0", engines: { node: ">=22" } },
            "node_modules/gap": { version: "1.0.0", engines: { node: "^20.19.0 || >=22.12.0" } },
          },
        }),
      );
      expect(lockfileConflicts(dir, ">=20.19")).toEqual([
        "node_modules/new@3.270.0 needs node >=22",
        "node_modules/gap@1.0.0 needs node ^20.19.0 || >=22.12.0",
      ]);
      expect(lockfileConflicts(dir, "^20.19.0 || ^22.13.0 || >=24")).toEqual([
        "node_modules/new@3.270.0 needs node >=22",
      ]);

      for (const [path, engines] of [
        ["node_modules/ok", ">=18"],
        ["node_modules/@scope/new", ">=22"],
        ["node_modules/ok/node_modules/nested", ">=21"],
      ]) {
        mkdirSync(join(dir, path), { recursive: true });
        writeFileSync(
          join(dir, path, "package.json"),
          JSON.stringify({
            name: path.split("node_modules/").pop(),
            version: "1.0.0",
            engines: { node: engines },
          }),
        );
      }
      expect(installedConflicts(dir, "v20.20.2").sort()).toEqual([
        "node_modules/@scope/new (@scope/new@1.0.0) needs node >=22",
        "node_modules/ok/node_modules/nested (nested@1.0.0) needs node >=21",
      ]);
      expect(installedConflicts(dir, "v22.13.0")).toEqual([]);
    });
  });
});
