/**
 * tools/deploy-local.sh (`npm run deploy:local`) checks its prerequisites before it builds: a
 * missing Pulumi CLI or Docker engine is one line naming it, not a minute of tsc first.
 * The script runs for real with a PATH of stand-ins that record whether they were called.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../harness/stack-file";
import { removeDir, tempDir, which } from "../support/tools";

const SCRIPT = join(REPO_ROOT, "tools", "deploy-local.sh");
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach(removeDir));

/** A bin directory with bash and dirname, plus `tools`: name -> exit status (each logs its call). */
function bin(tools: Record<string, number>): { dir: string; calls: () => string[] } {
  const dir = tempDir("deploy-local");
  dirs.push(dir);
  for (const real of ["bash", "dirname"]) symlinkSync(which(real) ?? real, join(dir, real));
  const log = join(dir, "calls.log");
  for (const [name, status] of Object.entries(tools)) {
    writeFileSync(join(dir, name), `#!${which("bash")}\necho "${name} $*" >> ${log}\nexit ${status}\n`, {
      mode: 0o755,
    });
  }
  return { dir, calls: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []) };
}

function deploy(path: string) {
  const result = spawnSync(which("bash") ?? "bash", [SCRIPT], {
    cwd: REPO_ROOT,
    env: { PATH: path, HOME: process.env.HOME },
    encoding: "utf8",
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("npm run deploy:local checks its prerequisites before it builds", () => {
  it("is the script alone: no build ahead of its checks", () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts["deploy:local"]).toBe("./tools/deploy-local.sh");
  });

  it("names a missing Pulumi CLI in one line, and points at the offline plan", () => {
    const { dir, calls } = bin({ node: 0, docker: 0 });
    const result = deploy(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      "deploy:local: the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/). Without it, 'npm run plan -- local' shows the offline plan.\n",
    );
    expect(calls()).toEqual([]); // neither docker nor the build ran
  });

  it("names a missing docker CLI", () => {
    const { dir, calls } = bin({ node: 0, pulumi: 0 });
    const result = deploy(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^deploy:local: the docker CLI is not installed .*\n$/);
    expect(calls()).toEqual([]);
  });

  it("names a Docker engine that does not answer, before building", () => {
    const { dir, calls } = bin({ node: 0, pulumi: 0, docker: 1 });
    const result = deploy(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^deploy:local: no Docker engine answers at .*\n$/);
    expect(calls()).toEqual(["docker info"]);
  });

  it("builds only once every prerequisite is there, and stops before pulumi when the build fails", () => {
    const { dir, calls } = bin({ node: 1, pulumi: 0, docker: 0 });
    const result = deploy(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("deploy:local: the build failed");
    expect(calls()).toEqual(["docker info", "node tools/build.mjs --if-stale"]);
  });
});
