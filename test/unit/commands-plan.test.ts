/**
 * The local commands the stacks run (traffic switch, config reloads, slot rebalance) call the
 * project's built CLIs by a path relative to the project: they must run from the project
 * directory, not from Pulumi's working directory (dist/, Pulumi.yaml `main`).
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { runProgram } from "../harness/run-program";

const root = resolve(__dirname, "../..");

describe("command:local:Command resources", () => {
  it.each(["staging", "staging-blue"])(
    "in %s run the project's CLIs from the project directory",
    async (stack) => {
      const plan = await runProgram(stack);
      const commands = plan.resources.filter(
        (r) => r.type === "command:local:Command" && String(r.inputs.create).startsWith("node "),
      );
      expect(commands.length).toBeGreaterThan(0);
      for (const c of commands) {
        expect(c.inputs.dir, c.name).toBe(root);
        const script = String(c.inputs.create).split(" ")[1];
        expect(script, c.name).toMatch(/^dist\/tools\/[a-z-]+\.js$/);
        expect(existsSync(join(root, script.replace(/^dist\//, "").replace(/\.js$/, ".ts"))), c.name).toBe(
          true,
        );
      }
    },
  );
});
