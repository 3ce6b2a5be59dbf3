/**
 * Reads the stack's configuration from the Pulumi runtime and parses it once.
 * Only `index.ts` calls this; components receive the typed result.
 */
import * as pulumi from "@pulumi/pulumi";
import { parseConfig, type InfraConfig } from "./schema";

// `isConfigSecret` is internal to the SDK (not in its typings) but is the only way to know,
// before any resource exists, whether a key was set with --secret.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };

export function loadConfig(): InfraConfig {
  const values = pulumi.runtime.allConfig();
  const secretKeys = new Set(Object.keys(values).filter((key) => runtimeConfig.isConfigSecret(key)));
  return parseConfig({
    stack: pulumi.getStack(),
    organization: pulumi.getOrganization(),
    values,
    secretKeys,
    // The engine merges Pulumi.yaml's declared defaults into the stack's config.
    includesDeclaredDefaults: true,
  });
}
