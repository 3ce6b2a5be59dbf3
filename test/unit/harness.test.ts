import { describe, expect, it } from "vitest";
import { runProgram } from "../harness/run-program";

describe("mock harness", () => {
  it("runs the env stack and records the network layout with parents", async () => {
    const plan = await runProgram("prod");
    const networks = plan.resources.filter((r) => r.type === "docker:index/network:Network");
    expect(networks.map((n) => n.inputs.name).sort()).toEqual([
      "backend-infra-prod-app",
      "backend-infra-prod-backup",
      "backend-infra-prod-data",
      "backend-infra-prod-edge",
      "backend-infra-prod-monitoring",
    ]);
    const internal = networks.filter((n) => n.inputs.internal === true).map((n) => n.inputs.name);
    expect(internal).toEqual(["backend-infra-prod-data"]);
    const parent = plan.resources.find((r) => r.urn === networks[0].parent);
    expect(parent?.type).toBe("backend-infra:network:Networks");
    expect(plan.outputs.networks).toMatchObject({ data: "backend-infra-prod-data" });
    expect(plan.placeholderSecrets.sort()).toEqual([
      "backend-infra:alertSmtpPassword",
      "backend-infra:edgeTlsCert",
      "backend-infra:edgeTlsKey",
      "backend-infra:registryPassword",
    ]);
  });

  it("runs a slot stack against the env stack's outputs", async () => {
    const plan = await runProgram("prod-blue");
    expect(plan.outputs).toMatchObject({ environment: "prod", slot: "blue" });
    const ref = plan.resources.find((r) => r.type === "pulumi:pulumi:StackReference");
    expect(ref?.inputs.name).toBe("organization/backend-infra/prod");
  });
});
