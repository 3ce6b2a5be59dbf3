/**
 * `pulumi up` runs the prebuilt JavaScript in dist/ (Pulumi.yaml: typescript false), which
 * saves the seconds Pulumi's runner spends type-checking. The cost is that a forgotten
 * `npm run build` would deploy old code; this check refuses that.
 *
 * The same check lets `npm run plan` (and the other scripts that run dist/) skip the build when
 * nothing changed: tools/build.mjs asks `staleBuild` before it runs tsc, and writes the stamp
 * (dist/.build-stamp, dated when that build started) after tsc succeeded. The build is
 * incremental (tsconfig.build.json), so tsc does not rewrite the outputs of unchanged sources:
 * the stamp, not any one output, says when dist/ was last brought up to date.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";

/** Written by tools/build.mjs after a successful build, with the time that build started. */
export const BUILD_STAMP = ".build-stamp";

/** What `pulumi up` runs: index.ts and these directories (tools/: the traffic switch and the config reloads). */
const PROGRAM_SOURCES = ["index.ts", "components", "config", "lib", "renderers", "tools"];

/** Files that change what tsc emits for every source. */
const BUILD_INPUTS = ["tsconfig.json", "tsconfig.build.json", "node_modules/typescript/package.json"];

interface Source {
  /** Relative to the project root, with "/". */
  file: string;
  mtimeMs: number;
}

const isSource = (name: string) =>
  name.endsWith(".ts") && !name.endsWith(".d.ts") && !name.endsWith(".test.ts");

/** Every TypeScript source of `entry` (a .ts file or a directory), relative to `root`. */
function sources(root: string, entry: string, into: Source[] = []): Source[] {
  let stats;
  try {
    stats = statSync(join(root, entry));
  } catch {
    return into; // an entry of the include list that this checkout does not have
  }
  if (stats.isFile()) {
    if (isSource(entry)) into.push({ file: entry.split(sep).join("/"), mtimeMs: stats.mtimeMs });
    return into;
  }
  for (const name of readdirSync(join(root, entry))) {
    if (name === "node_modules") continue;
    sources(root, join(entry, name), into);
  }
  return into;
}

/**
 * The sources of what dist/ holds: tsc also compiles files outside the include list that an
 * included one imports (test/support/, policies/), and those must not go stale unseen either.
 */
function compiledSources(root: string, dir = "dist", into: Source[] = []): Source[] {
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) compiledSources(root, path, into);
    else if (entry.name.endsWith(".js")) {
      const source = relative("dist", path).replace(/\.js$/, ".ts");
      try {
        into.push({ file: source.split(sep).join("/"), mtimeMs: statSync(join(root, source)).mtimeMs });
      } catch {
        // an output whose source is gone: harmless, nothing imports it any more
      }
    }
  }
  return into;
}

/** The `include` list of tsconfig.build.json: every source `npm run build` compiles. */
export function buildIncludes(root: string): string[] {
  const config = JSON.parse(readFileSync(join(root, "tsconfig.build.json"), "utf8")) as {
    include?: string[];
  };
  if (!Array.isArray(config.include)) throw new Error("tsconfig.build.json has no include list");
  return config.include;
}

export interface StaleBuild {
  /** One line, e.g. "dist/ is older than components/edge.ts". */
  reason: string;
  /**
   * An output is missing, or dist/ was never stamped: an incremental tsc would not emit what it
   * believes is there, so build from scratch.
   */
  full: boolean;
}

/**
 * Why dist/ under `root` does not hold the build of the current sources, or undefined when it
 * does. `scope` "all" checks every source of tsconfig.build.json (what `npm run plan`, `bench`
 * and the engine tests run); "program" only what `pulumi up` runs.
 */
export function staleBuild(root: string, scope: "all" | "program" = "all"): StaleBuild | undefined {
  const dist = join(root, "dist");
  let built: number;
  try {
    built = statSync(join(dist, BUILD_STAMP)).mtimeMs;
  } catch {
    if (!existsSync(join(dist, "index.js"))) return { reason: "dist/ is not built", full: true };
    // Built by a plain tsc (no stamp): as old as its entry point.
    built = statSync(join(dist, "index.js")).mtimeMs;
    if (scope === "all")
      return { reason: "dist/ has no build stamp (not built by npm run build)", full: true };
  }
  const entries = scope === "all" ? buildIncludes(root) : PROGRAM_SOURCES;
  const all = entries.flatMap((entry) => sources(root, entry));
  if (scope === "all") all.push(...compiledSources(root));
  const missing = all.find((source) => !existsSync(join(dist, source.file.replace(/\.ts$/, ".js"))));
  if (missing) return { reason: `dist/ has no output for ${missing.file}`, full: true };
  const newest = all.reduce<Source | undefined>(
    (best, source) => (!best || source.mtimeMs > best.mtimeMs ? source : best),
    undefined,
  );
  if (newest && newest.mtimeMs > built) {
    return { reason: `dist/ is older than ${newest.file}`, full: false };
  }
  if (scope === "all") {
    for (const input of BUILD_INPUTS) {
      const path = join(root, input);
      if (existsSync(path) && statSync(path).mtimeMs > built) {
        return { reason: `dist/ is older than ${relative(root, path)}`, full: true };
      }
    }
  }
  return undefined;
}

/**
 * Throws when running from `<root>/dist` and a TypeScript source of the program is newer than
 * the build. Does nothing when the sources run directly (tests, ts-node).
 */
export function assertBuildIsFresh(programDir: string): void {
  if (!programDir.endsWith(`${sep}dist`)) return;
  const stale = staleBuild(join(programDir, ".."), "program");
  if (stale) {
    throw new Error(
      `${stale.reason}: run \`npm run build\` before pulumi (or use npm run preview / npm run up)`,
    );
  }
}
