/**
 * Each stack needs only the secrets its own stack file documents: a slot stack (`prod-blue`,
 * `staging-green`) validates without the env stack's edge TLS pair or pager receiver, and the
 * offline plan says which placeholders it filled, per stack role.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../config/schema";
import { resolveStackConfig, runProgram } from "../harness/run-program";
import { listStacks, REPO_ROOT } from "../harness/stack-file";
import { renderPlaceholders } from "../../tools/plan";

/** The secrets a stack file tells the operator to set (`pulumi config set --secret KEY`). */
function documentedSecrets(stack: string): string[] {
  const text = readFileSync(join(REPO_ROOT, `Pulumi.${stack}.yaml`), "utf8");
  return [...new Set([...text.matchAll(/pulumi config set --secret (\w+)/g)].map((m) => m[1]))].sort();
}

/** The required secrets parseConfig reports for a stack file as committed (no placeholders). */
function requiredSecrets(stack: string, dir?: string): string[] {
  const { values, secretKeys, file } = resolveStackConfig(stack, { dir, fillMissingSecrets: false });
  try {
    parseConfig({ stack, values, secretKeys, file });
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const other = error.issues.filter((i) => !i.missingSecret);
    expect(other, `${stack}: problems other than missing secrets`).toEqual([]);
    return error.issues.map((i) => i.key.replace("backend-infra:", "")).sort();
  }
}

const dir = mkdtempSync(join(tmpdir(), "bi-slot-secrets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the stack file with `secure:` values for `secrets` added (as `pulumi config set --secret` would). */
function withSecrets(stack: string, secrets: string[]): void {
  const text = readFileSync(join(REPO_ROOT, `Pulumi.${stack}.yaml`), "utf8");
  const lines = secrets.map(
    (key) => `  backend-infra:${key}:\n    secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBB`,
  );
  writeFileSync(join(dir, `Pulumi.${stack}.yaml`), `${text.trimEnd()}\n${lines.join("\n")}\n`);
}

describe("every stack needs exactly the secrets its stack file documents", () => {
  it.each(listStacks())("Pulumi.%s.yaml requires no undocumented secret", (stack) => {
    expect(documentedSecrets(stack)).toEqual(expect.arrayContaining(requiredSecrets(stack)));
  });

  it.each(listStacks())("Pulumi.%s.yaml with only its documented secrets validates", (stack) => {
    withSecrets(stack, documentedSecrets(stack));
    expect(requiredSecrets(stack, dir)).toEqual([]);
  });
});

describe("slot stacks need only their own secrets", () => {
  it.each([
    ["prod-blue", ["registryPassword"]],
    ["prod-green", ["registryPassword"]],
    ["staging-blue", []],
    ["staging-green", []],
    ["local-blue", []],
    ["local-green", []],
  ])("%s requires %j and nothing of the env stack's", (stack, secrets) => {
    expect(requiredSecrets(stack)).toEqual(secrets);
  });

  it("documents the registry token in the prod slot files, and no env secret", () => {
    for (const stack of ["prod-blue", "prod-green"])
      expect(documentedSecrets(stack)).toEqual(["registryPassword"]);
    for (const stack of ["staging-blue", "staging-green", "local-blue", "local-green"])
      expect(documentedSecrets(stack)).toEqual([]);
  });

  it("a slot stack file holding only its registry token validates with no placeholder", () => {
    writeFileSync(
      join(dir, "Pulumi.prod-green.yaml"),
      [
        "config:",
        "  backend-infra:registryServer: ghcr.io/example/backend-infra",
        "  backend-infra:registryUsername: deploy-bot",
        "  backend-infra:registryPassword:",
        "    secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBB",
        "",
      ].join("\n"),
    );
    expect(requiredSecrets("prod-green", dir)).toEqual([]);
  });

  it("the env stack still needs its own (the slot's placeholders hid them before)", () => {
    expect(requiredSecrets("prod")).toEqual([
      "alertSmtpPassword",
      "edgeTlsCert",
      "edgeTlsKey",
      "registryPassword",
    ]);
    expect(requiredSecrets("staging")).toEqual(["edgeTlsCert", "edgeTlsKey"]);
    expect(requiredSecrets("local")).toEqual([]);
  });
});

describe("the offline plan reports its placeholders per stack role", () => {
  it("a prod slot: its own registry token, and the env stack's TLS pair and token", async () => {
    const plan = await runProgram("prod-blue");
    expect(plan.placeholders).toEqual([
      {
        stack: "prod-blue",
        role: "slot",
        file: "Pulumi.prod-blue.yaml",
        secure: [],
        required: ["backend-infra:registryPassword"],
      },
      {
        stack: "prod",
        role: "env",
        file: "Pulumi.prod.yaml",
        secure: [],
        required: [
          "backend-infra:alertSmtpPassword",
          "backend-infra:edgeTlsCert",
          "backend-infra:edgeTlsKey",
          "backend-infra:registryPassword",
        ],
      },
    ]);
    expect(renderPlaceholders(plan.placeholders)).toEqual([
      expect.stringMatching(/^Placeholders filled in/),
      "  slot stack prod-blue: registryPassword (required, not set in Pulumi.prod-blue.yaml)",
      "  env stack prod, read through the StackReference: alertSmtpPassword (required, not set in Pulumi.prod.yaml), edgeTlsCert (required, not set in Pulumi.prod.yaml), edgeTlsKey (required, not set in Pulumi.prod.yaml), registryPassword (required, not set in Pulumi.prod.yaml)",
    ]);
  });

  it("a staging slot fills none of its own", async () => {
    const plan = await runProgram("staging-green");
    expect(plan.placeholders.map((p) => [p.stack, p.role, [...p.secure, ...p.required]])).toEqual([
      ["staging-green", "slot", []],
      ["staging", "env", ["backend-infra:edgeTlsCert", "backend-infra:edgeTlsKey"]],
    ]);
    expect(renderPlaceholders(plan.placeholders)[1]).toBe("  slot stack staging-green: none");
  });

  it("tells secure values in the file from secrets the file lacks", async () => {
    withSecrets("prod-blue", ["registryPassword"]);
    withSecrets("prod", ["edgeTlsCert"]);
    const plan = await runProgram("prod-blue", { dir });
    expect(plan.placeholders.map((p) => [p.stack, p.secure, p.required])).toEqual([
      ["prod-blue", ["backend-infra:registryPassword"], []],
      [
        "prod",
        ["backend-infra:edgeTlsCert"],
        ["backend-infra:alertSmtpPassword", "backend-infra:edgeTlsKey", "backend-infra:registryPassword"],
      ],
    ]);
    expect(renderPlaceholders(plan.placeholders)[1]).toBe(
      `  slot stack prod-blue: registryPassword (secure: in ${join(dir, "Pulumi.prod-blue.yaml")}, not decryptable offline)`,
    );
  });
});
