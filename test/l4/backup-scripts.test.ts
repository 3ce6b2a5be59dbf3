/**
 * L4: the backup runner's scripts checked by shellcheck, and the published command contract
 * (images/backup/README.md) matched against the scripts that exist.
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { run, skipReason } from "../support/tools";

const IMAGE = join(__dirname, "../../images/backup");
const BIN = join(IMAGE, "bin");
const scripts = readdirSync(BIN).map((f) => join(BIN, f));

describe.skipIf(skipReason("shellcheck"))("backup runner scripts", () => {
  it("are shellcheck-clean (all severities), following the sourced library", () => {
    const result = run(
      "shellcheck",
      ["-x", "--severity=style", ...scripts, join(IMAGE, "lib/backup-common.sh")],
      {
        cwd: "/",
      },
    );
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("are executable bash with set -euo pipefail", () => {
    for (const script of scripts) {
      const text = readFileSync(script, "utf8");
      expect(text.startsWith("#!/usr/bin/env bash\n"), script).toBe(true);
      expect(text, script).toMatch(/^set -euo pipefail$/m);
      expect(statSync(script).mode & 0o111, script).not.toBe(0);
    }
  });

  it("every command of the README contract exists, and every script is documented", () => {
    const readme = readFileSync(join(IMAGE, "README.md"), "utf8");
    const documented = new Set([...readme.matchAll(/^\| `([a-z-]+)[ `]/gm)].map((m) => m[1]));
    const existing = readdirSync(BIN);
    for (const name of documented) expect(existing, `README documents ${name}`).toContain(name);
    for (const name of existing) expect([...documented], `${name} is not in the README`).toContain(name);
  });
});
