import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { switchCommand } from "../../components/traffic-switch";
import { runProgram } from "../harness/run-program";

const switchOf = async (overrides: Record<string, string> = {}) => {
  const plan = await runProgram("prod", { overrides });
  const command = plan.resources.find(
    (r) => r.type === "command:local:Command" && r.name === "traffic-apply",
  );
  return { plan, command };
};

describe("TrafficSwitch resource", () => {
  it("runs the switch CLI against the edge container on the stack's docker host", async () => {
    const { plan, command } = await switchOf();
    expect(command).toBeDefined();
    expect(command?.inputs.create).toBe(
      "node dist/tools/traffic-switch.js apply --active blue --canary-percent 0 " +
        "--docker-container 'backend-infra-prod-edge' --admin-tcp '127.0.0.1:9999' " +
        "--state-file '/var/lib/haproxy/server-state' --wait-healthy 60 " +
        // weights are divided over the running replicas, not over the edge's DNS view
        "--replicas-from-docker 'backend-infra-prod-app'",
    );
    expect(command?.inputs.update).toBe(command?.inputs.create);
    expect(command?.inputs.delete).toBeUndefined();
    expect(command?.inputs.environment).toEqual({ DOCKER_HOST: "ssh://deploy@docker-prod-1.example.com" });
    const edgeContainer = plan.resources.find(
      (r) => r.type === "docker:index/container:Container" && r.inputs.name === "backend-infra-prod-edge",
    );
    const cfg = (edgeContainer?.inputs.uploads as { file: string; content: string }[]).find((u) =>
      u.file.endsWith("haproxy.cfg"),
    )?.content as string;
    // re-runs when the edge container is re-created (new id) or its config changes
    expect(command?.inputs.triggers).toEqual([
      edgeContainer?.outputs.id ?? expect.any(String),
      createHash("sha256").update(cfg).digest("hex"),
    ]);
    // dependsOn the Edge component expands to its children: the container must exist first
    const component = plan.resources.find((r) => r.type === "backend-infra:edge:TrafficSwitch");
    expect(component?.dependencies).toContain(edgeContainer?.urn);
  });

  it("puts the target in the command, so a change of active colour or canary runs the update", async () => {
    const { plan, command } = await switchOf({ trafficActive: "green", trafficCanaryPercent: "10" });
    expect(command?.inputs.create).toContain("--active green --canary-percent 10 ");
    expect(plan.outputs.traffic).toMatchObject({
      active: "green",
      canaryPercent: 10,
      weights: { blue: 28, green: 256 },
    });
  });

  it("rejects an out-of-range canary before anything is registered", async () => {
    await expect(runProgram("prod", { overrides: { trafficCanaryPercent: "150" } })).rejects.toThrow(
      /trafficCanaryPercent/,
    );
  });

  it("quotes the container name for the shell", () => {
    expect(
      switchCommand({
        active: "blue",
        canaryPercent: 0,
        edgeContainer: "it's",
        adminTcp: "127.0.0.1:9999",
        stateFile: "/x",
      }),
    ).toContain(`--docker-container 'it'\\''s'`);
  });
});
