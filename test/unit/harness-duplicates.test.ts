/**
 * Pulumi's mocks accept two resources with the same URN; the real engine rejects them.
 * The harness must reject them too.
 */
import { mkdtempSync, copyFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as docker from "@pulumi/docker";
import { expect, it, vi } from "vitest";
import { REPO_ROOT } from "../harness/stack-file";

vi.mock("../../components/env-stack", () => ({
  buildEnvStack: () => {
    new docker.Network("same", { name: "a" });
    new docker.Network("same", { name: "b" });
    return { environment: "local" };
  },
}));

it("rejects two resources with the same type and name", async () => {
  const { runProgram } = await import("../harness/run-program.js");
  const dir = mkdtempSync(join(tmpdir(), "bi-dup-"));
  try {
    copyFileSync(join(REPO_ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
    writeFileSync(join(dir, "Pulumi.local.yaml"), "config: {}\n");
    await expect(runProgram("local", { dir })).rejects.toThrowError(
      /duplicate URN .*docker:index\/network:Network::same/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
