/**
 * `pulumi up` runs the prebuilt JavaScript in dist/ (Pulumi.yaml: typescript false), which
 * saves the seconds Pulumi's runner spends type-checking. The cost is that a forgotten
 * `npm run build` would deploy old code; this check refuses that.
 */
import { readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";

// tools/: the traffic switch and the config reloads run from dist/tools during an up.
const SOURCE_DIRS = ["components", "config", "lib", "renderers", "tools"];

function newestSource(root: string, dir: string): { file: string; mtimeMs: number } | undefined {
  let newest: { file: string; mtimeMs: number } | undefined;
  let entries: string[];
  try {
    entries = readdirSync(join(root, dir));
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    const path = join(root, dir, entry);
    const stats = statSync(path);
    const candidate = stats.isDirectory()
      ? newestSource(root, join(dir, entry))
      : entry.endsWith(".ts") && !entry.endsWith(".d.ts") && !entry.endsWith(".test.ts")
        ? { file: path, mtimeMs: stats.mtimeMs }
        : undefined;
    if (candidate && (!newest || candidate.mtimeMs > newest.mtimeMs)) newest = candidate;
  }
  return newest;
}

/**
 * Throws when running from `<root>/dist` and a TypeScript source is newer than the build.
 * Does nothing when the sources run directly (tests, ts-node).
 */
export function assertBuildIsFresh(programDir: string): void {
  if (!programDir.endsWith(`${sep}dist`)) return;
  const root = join(programDir, "..");
  const built = statSync(join(programDir, "index.js")).mtimeMs;
  for (const dir of [".", ...SOURCE_DIRS]) {
    const source =
      dir === "."
        ? { file: join(root, "index.ts"), mtimeMs: statSync(join(root, "index.ts")).mtimeMs }
        : newestSource(root, dir);
    if (source && source.mtimeMs > built) {
      throw new Error(
        `dist/ is older than ${relative(root, source.file)}: run \`npm run build\` before pulumi (or use npm run preview / npm run up)`,
      );
    }
  }
}
