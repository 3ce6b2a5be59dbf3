/**
 * The Docker provider of a stack: the host, and credentials for the project's registry, with
 * which it pulls a private image (the backend a slot stack runs) and pushes a built one
 * (`docker.RegistryImage`, components/built-image.ts).
 */
import * as docker from "@pulumi/docker";
import type { InfraConfig } from "../config/schema";

/** The registry host of `registryServer` (`ghcr.io/acme/infra` -> `ghcr.io`). */
export function registryHost(server: string): string {
  return server.replace(/^[a-z]+:\/\//, "").split("/")[0];
}

export function dockerProvider(
  name: string,
  host: docker.ProviderArgs["host"],
  registry: InfraConfig["registry"],
): docker.Provider {
  const registryAuth =
    registry?.username && registry.password
      ? [{ address: registryHost(registry.server), username: registry.username, password: registry.password }]
      : undefined;
  return new docker.Provider(name, { host, registryAuth });
}
