/**
 * Invalid config must fail inside the real program before any resource is registered.
 * This runs index.ts directly under setMocks (not through the harness, which pre-parses).
 */
import * as pulumi from "@pulumi/pulumi";
import { expect, it } from "vitest";

it("registers zero resources when config is invalid, and names every bad key", async () => {
  const registered: string[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push(`${args.type}::${args.name}`);
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: () => ({}),
    },
    "backend-infra",
    "prod",
    false,
    "organization",
  );
  pulumi.runtime.setAllConfig({
    "backend-infra:postgresMemory": "lots",
    "backend-infra:backupStorage": "minio",
    "backend-infra:trafficCanaryPercent": "250",
  });
  const program = (await import("../../index.js")).default as unknown as () => Promise<unknown>;
  await expect(program()).rejects.toThrowError(
    /backend-infra:postgresMemory[\s\S]*backend-infra:trafficCanaryPercent[\s\S]*backend-infra:backupStorage/,
  );
  expect(registered).toEqual([]);
});
