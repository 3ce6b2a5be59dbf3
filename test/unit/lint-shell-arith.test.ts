/**
 * tools/lint-shell-arith.mjs: passes on this checkout's bash, fails on a fixture with the pattern
 * of issue 27 (values from commands, `read` and arguments in bash arithmetic without the
 * validator), reporting exactly the marked lines. And the premise it rests on: bash really runs a
 * command substitution found in a value it evaluates arithmetically.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { removeDir, run, tempDir } from "../support/tools";

const REPO = resolve(__dirname, "..", "..");
const LINT = join(REPO, "tools", "lint-shell-arith.mjs");
const FIXTURE = join(__dirname, "fixtures", "lint-shell-arith", "bad.sh");

describe("tools/lint-shell-arith.mjs", () => {
  it("passes on every bash file of the checkout (the line .ci/run runs)", () => {
    const result = run("node", [LINT], { cwd: REPO });
    expect(result.stdout, result.stderr).toBe("");
    expect(result.stderr).toMatch(/lint-shell-arith: \d+ bash file\(s\), 0 finding\(s\)/);
    expect(Number(/(\d+) bash file/.exec(result.stderr)?.[1])).toBeGreaterThanOrEqual(25);
    expect(result.status).toBe(0);
  });

  it("fails on the fixture, reporting exactly the lines marked BAD", () => {
    const result = run("node", [LINT, FIXTURE], { cwd: REPO });
    expect(result.status).toBe(1);
    const reported = [...new Set([...result.stdout.matchAll(/^[^:\n]+bad\.sh:(\d+): /gm)].map((m) => m[1]))];
    const marked = readFileSync(FIXTURE, "utf8")
      .split("\n")
      .flatMap((line, i) => (/# BAD:/.test(line) ? [String(i + 1)] : []));
    expect(marked.length).toBeGreaterThanOrEqual(9);
    expect(reported).toEqual(marked);
    expect(result.stdout).toContain("(from read, line 7)");
    expect(result.stdout).toContain("(from a function argument, line 18)");
  });

  it("the fixture's first finding is real: bash runs the command inside a value it evaluates", () => {
    const dir = tempDir("arith");
    try {
      const marker = join(dir, "pwned");
      // what `count=$(wc -l ...)`, `read` or a psql row can carry (a set array: runs under set -u too)
      const value = `BASH_VERSINFO[$(touch ${marker})0]`;
      const naive = run("bash", ["-c", "set -euo pipefail; count=$1; echo $((count + 1))", "_", value]);
      expect(naive.status).toBe(0);
      expect(existsSync(marker)).toBe(true);
      removeDir(marker);
      // the same value through the validator of runbooks/lib/common.sh never gets there
      const checked = run("bash", [
        "-c",
        `set -euo pipefail; source ${JSON.stringify(join(REPO, "runbooks/lib/common.sh"))}; count=$1; require_uint count "$count" test; echo $((count + 1))`,
        "_",
        value,
      ]);
      expect(checked.status).toBe(1);
      expect(checked.stderr).toContain("count from test is not a whole number");
      expect(existsSync(marker)).toBe(false);
    } finally {
      removeDir(dir);
    }
  });
});
