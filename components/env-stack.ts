/**
 * The env stack (`prod`, `staging`, `local`): everything that must survive a deploy.
 * Each tier is one component; this function only wires their inputs and outputs.
 */
import * as docker from "@pulumi/docker";
import type { InfraConfig } from "../config/schema";
import { Networks } from "./networks";
import type { EnvStackOutputs } from "./outputs";

export function buildEnvStack(config: InfraConfig): EnvStackOutputs {
  const dockerProvider = new docker.Provider("docker", { host: config.dockerHost });
  const opts = { providers: [dockerProvider] };
  const networks = new Networks("networks", { namePrefix: config.namePrefix }, opts);

  const outputs: EnvStackOutputs = {
    environment: config.environment,
    dockerHost: config.dockerHost,
    networks: networks.names,
  };

  // ---- backups: storage (issue 5) ----

  // ---- data tier: postgres, redis (issue 3) ----

  // ---- backups: runner (issue 5) ----

  // ---- edge and traffic switch (issue 4) ----

  // ---- monitoring (issue 6) ----

  return outputs;
}
