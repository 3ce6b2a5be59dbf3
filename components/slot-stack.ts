/**
 * A slot stack (`<env>-blue`, `<env>-green`): the backend containers of one colour.
 * It reads the env stack through a StackReference; references go one way (slot -> env).
 */
import * as pulumi from "@pulumi/pulumi";
import type { InfraConfig } from "../config/schema";
import type { Colour } from "../config/keys";
import { BackendSlot } from "./backend-slot";
import { dockerProvider } from "./docker-provider";
import type { SlotStackOutputs } from "./outputs";
import { SlotRebalance } from "./slot-rebalance";

export function buildSlotStack(config: InfraConfig): SlotStackOutputs {
  if (!config.slot) throw new Error(`stack ${config.stack}: a slot stack needs a colour`);
  const envStack = new pulumi.StackReference("env", { name: config.slot.envStack });
  const dockerHost = envStack.requireOutput("dockerHost") as pulumi.Output<string>;
  const opts = { providers: [dockerProvider("docker", dockerHost, config.registry)] };

  const outputs: SlotStackOutputs = {
    environment: config.environment,
    slot: config.slot.colour,
  };

  // ---- backend slot ----
  // The env stack's outputs (architecture section 4), each checked with a message that says what to do.
  const envName = config.slot.envStack;
  const field = <T>(output: string, key: string): pulumi.Output<T> =>
    envStack.requireOutput(output).apply((value: Record<string, unknown> | undefined) => {
      if (value?.[key] === undefined || value[key] === null) {
        throw new Error(
          `env stack ${envName} has no output ${output}.${key}: run \`pulumi up -s ${config.environment}\` first ` +
            "(the slot stack reads networks, postgres and redis from it)",
        );
      }
      return value[key] as T;
    });
  const slot = new BackendSlot(
    `backend-${config.slot.colour}`,
    {
      openFilesLimit: config.containerOpenFilesLimit,
      namePrefix: config.namePrefix,
      environment: config.environment,
      colour: config.slot.colour,
      replicas: config.backend.replicas,
      image: config.backend.image,
      registry: config.registry,
      memoryMb: config.backend.memoryMb,
      cpus: config.backend.cpus,
      stopTimeoutSeconds: config.backend.stopTimeoutSeconds,
      port: config.backend.port,
      dockerHost,
      networks: {
        app: field<string>("networks", "app"),
        data: field<string>("networks", "data"),
        monitoring: field<string>("networks", "monitoring"),
      },
      postgres: {
        host: field<string>("postgres", "host"),
        port: field<number>("postgres", "port"),
        database: field<string>("postgres", "database"),
        user: field<string>("postgres", "user"),
        password: pulumi.secret(field<string>("postgres", "password")),
      },
      redis: {
        host: field<string>("redis", "host"),
        port: field<number>("redis", "port"),
        // The app ACL user: `redis.password` is the administrator's.
        user: field<string>("redis", "appUser"),
        password: pulumi.secret(field<string>("redis", "appPassword")),
      },
    },
    opts,
  );
  outputs.image = slot.image;
  outputs.containers = slot.containers;
  outputs.upstream = slot.upstream;

  // ---- traffic weights for this slot's replica count ----
  new SlotRebalance(
    `backend-${config.slot.colour}-traffic`,
    {
      colour: config.slot.colour,
      replicas: config.backend.replicas,
      target: pulumi
        .all([field<Colour>("traffic", "active"), field<number>("traffic", "canaryPercent")])
        .apply(([active, canaryPercent]) => ({ active, canaryPercent })),
      edge: {
        container: field<string>("edge", "container"),
        adminTcp: field<string>("edge", "adminTcp"),
        stateFile: field<string>("edge", "stateFile"),
      },
      appNetwork: field<string>("networks", "app"),
      dockerHost,
      containers: slot.containers,
    },
    { dependsOn: [slot] },
  );

  return outputs;
}
