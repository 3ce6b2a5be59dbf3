/**
 * The stack-output contract runbooks rely on (architecture section 4): every env stack
 * exports every contract path, passwords only as secrets; every slot stack likewise.
 */
import { describe, expect, it } from "vitest";
import { ENV_OUTPUT_CONTRACT, SECRET_OUTPUTS, SLOT_OUTPUT_CONTRACT } from "../../components/outputs";
import { runProgram } from "../harness/run-program";
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
});

describe.each(slotStacks)("slot stack %s outputs", (stack) => {
  it("exports every contract path", async () => {
    const plan = await runProgram(stack);
    const missing = SLOT_OUTPUT_CONTRACT.filter((path) => get(plan.outputs, path) === undefined);
    expect(missing, `missing outputs: ${missing.join(", ")}`).toEqual([]);
    expect(plan.outputs.slot).toBe(stack.split("-").pop());
  });
});
