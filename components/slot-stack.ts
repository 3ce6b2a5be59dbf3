/**
 * A slot stack (`<env>-blue`, `<env>-green`): the backend containers of one colour.
 * It reads the env stack through a StackReference; references go one way (slot -> env).
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { InfraConfig } from "../config/schema";
import type { SlotStackOutputs } from "./outputs";

export function buildSlotStack(config: InfraConfig): SlotStackOutputs {
  if (!config.slot) throw new Error(`stack ${config.stack}: a slot stack needs a colour`);
  const envStack = new pulumi.StackReference("env", { name: config.slot.envStack });
  const dockerHost = envStack.requireOutput("dockerHost") as pulumi.Output<string>;
  const dockerProvider = new docker.Provider("docker", { host: dockerHost });
  const opts = { providers: [dockerProvider] };
  void opts;

  const outputs: SlotStackOutputs = {
    environment: config.environment,
    slot: config.slot.colour,
  };

  // ---- backend slot (issue 4) ----

  return outputs;
}
