/**
 * The project directory (where Pulumi.yaml is), found from this file's own location: lib/ in the
 * sources, dist/lib/ in the build. Pulumi runs the built program with dist/ as the working
 * directory (Pulumi.yaml `main: dist/`), so paths of the project's own files (build contexts,
 * the policy pack) are resolved against this, never against the working directory.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

export const PROJECT_ROOT = ((): string => {
  let dir = __dirname;
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, "Pulumi.yaml"))) return dir;
    dir = dirname(dir);
  }
  return resolve(__dirname, "..");
})();
