/**
 * The stack-output contract runbooks rely on (architecture section 4): every env stack
 * exports every contract path, passwords only as secrets; every slot stack likewise.
 */
import { describe, expect, it } from "vitest";
import { ENV_OUTPUT_CONTRACT, SECRET_OUTPUTS, SLOT_OUTPUT_CONTRACT } from "../../components/outputs";
import { parseConfig } from "../../config/schema";
import { resolveStackConfig, runProgram } from "../harness/run-program";
import { listStacks } from "../harness/stack-file";

const get = (value: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value);

const envStacks = listStacks().filter((s) => !/-(blue|green)$/.test(s));
const slotStacks = listStacks().filter((s) => /-(blue|green)$/.test(s));

describe.each(envStacks)("env stack %s outputs", (stack) => {
  it("exports every contract path, secrets as secrets", async () => {
    const plan = await runProgram(stack);
    const missing = ENV_OUTPUT_CONTRACT.filter((path) => get(plan.outputs, path) === undefined);
    expect(missing, `missing outputs: ${missing.join(", ")}`).toEqual([]);
    for (const path of SECRET_OUTPUTS) {
      if (get(plan.outputs, path) === undefined) continue; // monitoring is off in local
      expect(plan.secretOutputs, `${path} must be a secret`).toContain(path);
    }
  });

  // The two optional shapes runbooks branch on: no replica bucket without a replica region, and
  // monitoring either complete or exactly {enabled: false} (health-check reads .monitoring.enabled).
  it("exports backups.replicaBucket exactly when a replica region is set, monitoring whole or off", async () => {
    const config = parseConfig({ stack, ...resolveStackConfig(stack) });
    const plan = await runProgram(stack);
    expect(get(plan.outputs, "backups.replicaBucket") !== undefined, "backups.replicaBucket").toBe(
      config.backups.replicaRegion !== undefined,
    );
    if (config.monitoring.enabled) {
      for (const path of [
        "prometheusUrl",
        "grafanaUrl",
        "alertmanagerUrl",
        "grafanaAdminPassword",
        "operatorUser",
        "operatorPassword",
      ]) {
        expect(get(plan.outputs, `monitoring.${path}`), `monitoring.${path}`).toEqual(expect.any(String));
      }
    } else {
      expect(plan.outputs.monitoring).toEqual({ enabled: false });
    }
  });

  // The paths runbooks act on (issue 17: they read them instead of restating them) are where the
  // containers really mount the volumes: Postgres and Redis data in their own container and, at the
  // same path, in the backup runner (restores run there); the runner's dumps and metrics.
  it("exports the data directories and runner paths where the containers mount them", async () => {
    const plan = await runProgram(stack);
    const out = (path: string) => get(plan.outputs, path);
    const mounts = (container: string) => {
      const resource = plan.resources.find(
        (r) => r.type === "docker:index/container:Container" && r.inputs.name === out(container),
      );
      expect(resource, `the container of ${container}`).toBeDefined();
      const volumes = (resource?.inputs.volumes ?? []) as { volumeName?: string; containerPath?: string }[];
      return Object.fromEntries(volumes.map((v) => [v.containerPath, v.volumeName]));
    };
    const cases: [string, string, string][] = [
      ["postgres.container", "postgres.dataDir", "postgres.dataVolume"],
      ["backups.runnerContainer", "postgres.dataDir", "postgres.dataVolume"],
      ["redis.container", "redis.dataDir", "redis.dataVolume"],
      ["backups.runnerContainer", "redis.dataDir", "redis.dataVolume"],
      ["backups.runnerContainer", "backups.dumpsDir", "backups.dumpsVolume"],
      ["backups.runnerContainer", "backups.textfileDir", "backups.textfileVolume"],
    ];
    for (const [container, dir, volume] of cases) {
      expect(out(dir), dir).toMatch(/^\/[A-Za-z0-9._/-]+$/);
      expect(mounts(container)[out(dir) as string], `${container} mounts ${volume} at ${dir}`).toBe(
        out(volume),
      );
    }
  });

  // Staging only: prod refuses monitoring off and local refuses AWS (local stacks stay free);
  // the shapes are the same program's.
  if (stack === "staging")
    it("the same program with monitoring off and a replica region on flips both shapes", async () => {
      const overrides = {
        monitoringEnabled: "false",
        backupReplicaRegion: "eu-central-1",
      };
      const plan = await runProgram(stack, { overrides });
      expect(plan.outputs.monitoring).toEqual({ enabled: false });
      expect(get(plan.outputs, "backups.replicaBucket")).toEqual(expect.any(String));
    });
});

describe.each(slotStacks)("slot stack %s outputs", (stack) => {
  it("exports every contract path", async () => {
    const plan = await runProgram(stack);
    const missing = SLOT_OUTPUT_CONTRACT.filter((path) => get(plan.outputs, path) === undefined);
    expect(missing, `missing outputs: ${missing.join(", ")}`).toEqual([]);
    expect(plan.outputs.slot).toBe(stack.split("-").pop());
  });
});
