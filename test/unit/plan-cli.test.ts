import { mkdtempSync, writeFileSync, copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main, maskSecrets, renderTree } from "../../tools/plan";
import { REPO_ROOT } from "../harness/stack-file";

/** Runs the plan CLI in-process and captures what it prints. */
async function plan(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  const error = vi
    .spyOn(console, "error")
    .mockImplementation((...a: unknown[]) => void err.push(a.join(" ")));
  try {
    const code = await main(args);
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe("offline plan CLI", () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it.each(["prod", "staging", "local", "prod-blue"])("prints a plan for %s", async (stack) => {
    const result = await plan(stack);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`OFFLINE PLAN for stack "${stack}"`);
    expect(result.stdout).toContain("not `pulumi preview`");
    expect(result.stdout).toMatch(/Resources by type:[\s\S]*\d+ {2}total/);
    expect(result.stdout).toContain("+ pulumi:providers:docker  docker");
  });

  it("exits 2 on a broken config, listing every bad key, with no resource tree", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bi-plan-"));
    dirs.push(dir);
    copyFileSync(join(REPO_ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
    writeFileSync(
      join(dir, "Pulumi.staging.yaml"),
      "config:\n  backend-infra:postgresMemory: lots\n  backend-infra:trafficCanaryPercent: 140\n  backend-infra:redisImage: redis:latest\n",
    );
    const result = await plan("staging", "--dir", dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("backend-infra:postgresMemory");
    expect(result.stderr).toContain("backend-infra:trafficCanaryPercent");
    expect(result.stderr).toContain("backend-infra:redisImage");
    expect(result.stderr).toContain("No resources were registered.");
    expect(result.stdout).toBe("");
  });

  it("says which stacks exist when none is given, and exits 2", async () => {
    const result = await plan();
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/usage: npm run plan -- <stack>[\s\S]*prod-blue/);
  });

  it("names the missing stack file", async () => {
    const result = await plan("nosuch");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Pulumi.nosuch.yaml");
  });

  it("masks secret outputs and nested paths", () => {
    const masked = maskSecrets({ a: { password: "p", user: "u" }, list: ["x", "y"] }, [
      "a.password",
      "list[1]",
    ]);
    expect(masked).toEqual({ a: { password: "[secret]", user: "u" }, list: ["x", "[secret]"] });
  });

  it("prints children under their parent", () => {
    const lines = renderTree([
      {
        urn: "p",
        type: "t:c:Parent",
        name: "parent",
        custom: false,
        inputs: {},
        secretInputs: [],
        outputs: {},
        dependencies: [],
        propertyDependencies: {},
        options: { deleteBeforeReplace: false, ignoreChanges: [], protect: false },
      },
      {
        urn: "c",
        parent: "p",
        type: "docker:index/network:Network",
        name: "child",
        custom: true,
        inputs: { name: "n", internal: true },
        secretInputs: [],
        outputs: {},
        dependencies: [],
        propertyDependencies: {},
        options: { deleteBeforeReplace: false, ignoreChanges: [], protect: false },
      },
    ]);
    expect(lines).toEqual([
      "+ t:c:Parent  parent",
      "  + docker:index/network:Network  child  (name=n internal=true)",
    ]);
  });
});
