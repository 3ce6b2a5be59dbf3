/** Writes Pulumi.yaml and the README config reference from config/keys.ts. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderPulumiYaml, withConfigReference } from "../config/docs";
import { REPO_ROOT } from "../test/harness/stack-file";

writeFileSync(join(REPO_ROOT, "Pulumi.yaml"), renderPulumiYaml());
const readmePath = join(REPO_ROOT, "README.md");
writeFileSync(readmePath, withConfigReference(readFileSync(readmePath, "utf8")));
console.log("wrote Pulumi.yaml and the README config reference");
