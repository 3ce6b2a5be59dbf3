import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { renderPulumiYaml, withConfigReference } from "../../config/docs";
import { KEYS, KEY_NAMES } from "../../config/keys";
import { REPO_ROOT } from "../harness/stack-file";

describe("config documentation is generated from config/keys.ts", () => {
  it("Pulumi.yaml is up to date (run npm run gen:config)", () => {
    expect(readFileSync(join(REPO_ROOT, "Pulumi.yaml"), "utf8")).toBe(renderPulumiYaml());
  });

  it("README config reference is up to date (run npm run gen:config)", () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    expect(withConfigReference(readme)).toBe(readme);
  });

  it("declares only keys with fixed defaults, each with type, description and a default of that type", () => {
    const project = parse(renderPulumiYaml()) as {
      config: Record<string, { type: string; description: string; default: unknown }>;
    };
    for (const [name, declaration] of Object.entries(project.config)) {
      const spec = KEYS[name as keyof typeof KEYS];
      expect(spec.default, name).toBeDefined();
      expect(declaration.type).toBe(spec.pulumiType);
      expect(declaration.description).toBe(spec.description);
      const expectedJsType = { string: "string", integer: "number", boolean: "boolean", array: "object" }[
        spec.pulumiType
      ];
      expect(typeof declaration.default, name).toBe(expectedJsType);
      // The default Pulumi would pass must be valid for the schema.
      expect(
        (spec.schema as { safeParse(v: unknown): { success: boolean } }).safeParse(
          String(declaration.default),
        ).success,
        name,
      ).toBe(true);
    }
    const text = renderPulumiYaml();
    for (const name of KEY_NAMES) expect(text, `${name} documented`).toContain(`${name}`);
  });
});
