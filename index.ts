/**
 * Entry point. Pulumi calls the exported function and exports what it returns.
 * Config is parsed once, before any resource is registered, so invalid config
 * registers nothing.
 */
import { buildEnvStack } from "./components/env-stack";
import { buildSlotStack } from "./components/slot-stack";
import { loadConfig } from "./config/load";
import { assertBuildIsFresh } from "./lib/stale-build";

export = async () => {
  assertBuildIsFresh(__dirname);
  const config = loadConfig();
  return config.role === "env" ? buildEnvStack(config) : buildSlotStack(config);
};
