import { spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../harness/stack-file";
import { assertBuildIsFresh, BUILD_STAMP, staleBuild } from "../../lib/stale-build";
import { tempDir } from "../support/tools";

const roots: string[] = [];
afterEach(() => roots.splice(0).forEach((r) => rmSync(r, { recursive: true, force: true })));

const past = new Date(Date.now() - 60_000);
const future = () => new Date(Date.now() + 60_000);

/** Writes `files` under `root`, each dated a minute ago. */
function write(root: string, files: Record<string, string>): void {
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), text);
    utimesSync(join(root, file), past, past);
  }
}

/** A project whose dist/ holds the stamped build of its sources. */
function project(): string {
  const root = tempDir("stale");
  roots.push(root);
  write(root, {
    "tsconfig.build.json": JSON.stringify({ include: ["index.ts", "components"] }),
    "index.ts": "",
    "components/a.ts": "",
    "dist/index.js": "",
    "dist/components/a.js": "",
  });
  writeFileSync(join(root, "dist", BUILD_STAMP), "");
  return root;
}

const touch = (path: string) => utimesSync(path, future(), future());

describe("assertBuildIsFresh (what pulumi up runs from dist/)", () => {
  it("accepts a build newer than every source", () => {
    expect(() => assertBuildIsFresh(join(project(), "dist"))).not.toThrow();
  });

  it("refuses a build older than a component source, naming the file", () => {
    const root = project();
    touch(join(root, "components", "a.ts"));
    expect(() => assertBuildIsFresh(join(root, "dist"))).toThrowError(
      /older than components\/a\.ts: run `npm run build`/,
    );
  });

  it("does nothing when the program runs from its sources", () => {
    expect(() => assertBuildIsFresh(project())).not.toThrow();
  });

  it("refuses a build older than a tool the up runs (the traffic switch, config reloads)", () => {
    const root = project();
    write(root, { "tools/traffic-switch.ts": "", "dist/tools/traffic-switch.js": "" });
    touch(join(root, "tools", "traffic-switch.ts"));
    expect(() => assertBuildIsFresh(join(root, "dist"))).toThrowError(/older than tools\/traffic-switch\.ts/);
  });

  it("dates the build by its stamp: an incremental build leaves unchanged outputs as old as they were", () => {
    const root = project();
    utimesSync(join(root, "dist", "index.js"), new Date(0), new Date(0));
    expect(() => assertBuildIsFresh(join(root, "dist"))).not.toThrow();
  });

  it("refuses a source that has no output, however old it is", () => {
    const root = project();
    write(root, { "components/b.ts": "" });
    expect(() => assertBuildIsFresh(join(root, "dist"))).toThrowError(/no output for components\/b\.ts/);
  });
});

describe("staleBuild over everything npm run build compiles", () => {
  it("is undefined for a stamped build of every source", () => {
    expect(staleBuild(project())).toBeUndefined();
  });

  it("sees sources outside the include list that an included one imported", () => {
    const root = project();
    write(root, { "test/support/tools.ts": "", "dist/test/support/tools.js": "" });
    expect(staleBuild(root)).toBeUndefined();
    touch(join(root, "test", "support", "tools.ts"));
    expect(staleBuild(root)).toEqual({ reason: "dist/ is older than test/support/tools.ts", full: false });
  });

  it("asks for a full build without a stamp, or after a change of the compiler options", () => {
    const root = project();
    touch(join(root, "tsconfig.build.json"));
    expect(staleBuild(root)).toEqual({ reason: "dist/ is older than tsconfig.build.json", full: true });
    rmSync(join(root, "dist", BUILD_STAMP));
    expect(staleBuild(root)?.full).toBe(true);
    rmSync(join(root, "dist"), { recursive: true });
    expect(staleBuild(root)).toEqual({ reason: "dist/ is not built", full: true });
  });
});

/**
 * tools/build.mjs for real, on a small project of its own: tools/build.mjs and lib/stale-build.ts
 * copied from this one, and this one's TypeScript.
 */
describe("tools/build.mjs", { timeout: 300_000 }, () => {
  function scratch(): string {
    const root = tempDir("build");
    roots.push(root);
    mkdirSync(join(root, "tools"));
    mkdirSync(join(root, "lib"));
    copyFileSync(join(REPO_ROOT, "tools", "build.mjs"), join(root, "tools", "build.mjs"));
    copyFileSync(join(REPO_ROOT, "lib", "stale-build.ts"), join(root, "lib", "stale-build.ts"));
    symlinkSync(join(REPO_ROOT, "node_modules"), join(root, "node_modules"));
    write(root, {
      "tsconfig.json": JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "node16",
          moduleResolution: "node16",
          outDir: "dist",
          rootDir: ".",
          types: [], // noCheck: emitting needs no types, and @types/node costs seconds to parse
        },
      }),
      "tsconfig.build.json": JSON.stringify({
        extends: "./tsconfig.json",
        compilerOptions: { noCheck: true, incremental: true, tsBuildInfoFile: "dist/.tsbuildinfo" },
        include: ["index.ts", "lib"],
      }),
      "index.ts": 'export const version = "one";\n',
    });
    return root;
  }

  const build = (root: string, ...args: string[]) => {
    const result = spawnSync(process.execPath, [join(root, "tools", "build.mjs"), ...args], {
      cwd: root,
      encoding: "utf8",
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it("builds a stale dist/ once, then starts nothing while no source changes", () => {
    const root = scratch();
    const first = build(root, "--if-stale");
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe(""); // stdout stays the program's (plan --json)
    expect(first.stderr).toMatch(/^build: dist\/ is not built: building \(tsc -p tsconfig\.build\.json\)\n/);
    expect(readFileSync(join(root, "dist", "index.js"), "utf8")).toContain('"one"');
    expect(existsSync(join(root, "dist", BUILD_STAMP))).toBe(true);

    const again = build(root, "--if-stale");
    expect(again).toEqual({ status: 0, stdout: "", stderr: "" });

    writeFileSync(join(root, "index.ts"), 'export const version = "two";\n');
    touch(join(root, "index.ts"));
    const edited = build(root, "--if-stale");
    expect(edited.status, edited.stderr).toBe(0);
    expect(edited.stderr).toMatch(/^build: dist\/ is older than index\.ts: building \(.*incremental\)/);
    expect(readFileSync(join(root, "dist", "index.js"), "utf8")).toContain('"two"');
  });

  it("rebuilds in full when an output is missing, and refuses unknown arguments", () => {
    const root = scratch();
    expect(build(root).status).toBe(0);
    rmSync(join(root, "dist", "index.js"));
    const rebuilt = build(root, "--if-stale");
    expect(rebuilt.stderr).toMatch(/no output for index\.ts: building \(tsc -p tsconfig\.build\.json\)\n/);
    expect(existsSync(join(root, "dist", "index.js"))).toBe(true);
    expect(build(root, "--force")).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/unknown argument --force/),
    });
  });

  it("keeps dist/ stale when tsc fails, and says so", () => {
    const root = scratch();
    writeFileSync(join(root, "index.ts"), "export const = ;\n");
    const failed = build(root, "--if-stale");
    expect(failed.status).not.toBe(0);
    expect(failed.stdout).toBe("");
    expect(failed.stderr).toMatch(/index\.ts\(1,\d+\): error TS/); // tsc's own message, on stderr
    expect(failed.stderr).toContain("build: tsc failed");
    expect(existsSync(join(root, "dist", BUILD_STAMP))).toBe(false);
    expect(build(root, "--if-stale").stderr).toMatch(/^build: dist\/ .*: building/);
  });

  it("two at once on a stale dist/: one builds, the other uses that build", async () => {
    const root = scratch();
    const runs = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<{ status: number | null; stderr: string }>((done) => {
            const child = spawn(process.execPath, [join(root, "tools", "build.mjs"), "--if-stale"], {
              cwd: root,
            });
            let stderr = "";
            child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
            child.on("close", (status) => done({ status, stderr }));
          }),
      ),
    );
    expect(runs.map((r) => r.status)).toEqual([0, 0]);
    const builds = runs.filter((r) => r.stderr.includes(": building ("));
    expect(builds, runs.map((r) => r.stderr).join("\n---\n")).toHaveLength(1);
    expect(existsSync(join(root, "dist", ".build-lock"))).toBe(false);
    expect(statSync(join(root, "dist", BUILD_STAMP)).isFile()).toBe(true);
  });
});
