import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  effectiveLevel,
  formatViolations,
  loadPolicyConfig,
  mandatory,
  markSecrets,
  runPolicies,
  validatePolicyConfig,
  type PlanLike,
  type PlanResourceLike,
} from "../../../lib/policy-runner";
import { ALL_POLICIES, RULES } from "../../../policies/rules";
import { SecretValue } from "../../../policies/rules/values";
import { CONTAINER, hardenedContainer, urnOf } from "./support";

const resource = (
  stack: string,
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  extra: Partial<PlanResourceLike> = {},
) => ({
  urn: urnOf(stack, type, name),
  type,
  name,
  custom: true,
  inputs,
  outputs: inputs,
  ...extra,
});

function fakePlan(
  stack: string,
  containerOverrides: Record<string, unknown> = {},
  outputs: Record<string, unknown> = {},
): PlanLike {
  return {
    resources: [
      resource(stack, "docker:index/network:Network", "networks-app", {
        name: `backend-infra-${stack}-app`,
        internal: false,
      }),
      resource(stack, CONTAINER, "backend", hardenedContainer(containerOverrides)),
    ],
    outputs: { environment: stack, ...outputs },
    secretOutputs: [],
  };
}

describe("the pack's rules", () => {
  it("every policy has a unique name, severity, remediation, benchmark ids and a mandatory default", () => {
    const names = ALL_POLICIES.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBe(RULES.size);
    for (const p of ALL_POLICIES) {
      const meta = RULES.get(p.name);
      expect(meta, p.name).toBeDefined();
      expect(p.enforcementLevel, p.name).toBe("mandatory");
      expect(["low", "medium", "high", "critical"], p.name).toContain(p.severity);
      expect(p.remediationSteps?.length, p.name).toBeGreaterThan(20);
      expect(p.tags?.length, p.name).toBeGreaterThan(0);
      expect(p.description, p.name).toMatch(/\[.+\]$/);
      expect(p.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(p.configSchema?.properties?.enforcementLevel, p.name).toBeUndefined();
    }
  });
});

describe("runPolicies", () => {
  it("a hardened container passes every rule", async () => {
    expect(await runPolicies(fakePlan("staging"))).toEqual([]);
  });

  it("reports a root, privileged container with resource, rule, level, remediation and benchmarks", async () => {
    const violations = await runPolicies(fakePlan("staging", { user: "root", privileged: true }));
    expect(violations.map((v) => v.policy).sort()).toEqual([
      "container-non-root-user",
      "container-not-privileged",
    ]);
    const root = violations.find((v) => v.policy === "container-non-root-user");
    expect(root).toMatchObject({
      level: "mandatory",
      severity: "high",
      name: "backend",
      type: CONTAINER,
      urn: urnOf("staging", CONTAINER, "backend"),
      message: expect.stringMatching(/runs as root/),
      remediation: expect.stringMatching(/non-root uid:gid/),
      benchmarks: expect.arrayContaining(["CIS Docker 4.1"]),
    });
    const text = formatViolations(violations);
    expect(text).toMatch(
      /\[mandatory\] container-non-root-user \(high\): docker:index\/container:Container backend/,
    );
    expect(text).toMatch(/remediation: Set `user`/);
    expect(text).toMatch(/policy pack: 2 mandatory, 0 advisory violation\(s\)/);
  });

  it("applies policy config: per-rule level over `all` over the default; disabled rules do not run", async () => {
    const plan = fakePlan("staging", { user: "root", privileged: true });
    const all = await runPolicies(plan, { config: { all: "advisory" } });
    expect(all.map((v) => v.level)).toEqual(["advisory", "advisory"]);
    expect(mandatory(all)).toEqual([]);
    const mixed = await runPolicies(plan, {
      config: {
        all: { enforcementLevel: "advisory" },
        "container-not-privileged": "mandatory",
        "container-non-root-user": "disabled",
      },
    });
    expect(mixed.map((v) => `${v.policy}:${v.level}`)).toEqual(["container-not-privileged:mandatory"]);
    expect(
      effectiveLevel({ enforcementLevel: "mandatory" }, "x", {
        all: "advisory",
        x: { enforcementLevel: "disabled" },
      }),
    ).toBe("disabled");
  });

  it("passes per-rule options to getConfig", async () => {
    const plan = fakePlan("staging", { ports: [{ internal: 4000, external: 4000 }], name: "gateway" });
    expect((await runPolicies(plan)).map((v) => v.policy)).toEqual(["container-published-ports"]);
    const configured = await runPolicies(plan, {
      config: { "container-published-ports": { edgePatterns: ["^gateway$"], publicPorts: [4000] } },
    });
    expect(configured).toEqual([]);
  });

  it("refuses to lower a mandatory rule in prod, and rejects bad config naming the key", async () => {
    await expect(runPolicies(fakePlan("prod"), { config: { all: "advisory" } })).rejects.toThrow(
      /"container-non-root-user" is mandatory in prod and cannot be set to advisory/,
    );
    await expect(
      runPolicies(fakePlan("prod-blue"), { config: { "s3-bucket-versioning": "disabled" } }),
    ).rejects.toThrow(/mandatory in prod/);
    // Options may still be tuned in prod.
    await expect(
      runPolicies(fakePlan("prod"), { config: { "container-pids-limit": { maxPids: 1024 } } }),
    ).resolves.toEqual([]);
    expect(() => validatePolicyConfig({ "container-non-rot-user": "advisory" })).toThrow(
      /"container-non-rot-user": no such policy/,
    );
    expect(() => validatePolicyConfig({ "container-pids-limit": { maxPid: 3 } })).toThrow(
      /"container-pids-limit.maxPid": unknown option \(options: maxPids\)/,
    );
    expect(() => validatePolicyConfig({ "container-pids-limit": { maxPids: "many" } })).toThrow(
      /expected an integer/,
    );
    expect(() => validatePolicyConfig({ "container-published-ports": { publicPorts: ["443"] } })).toThrow(
      /expected an array of integer/,
    );
    expect(() => validatePolicyConfig({ all: "strict" as never })).toThrow(
      /"all": enforcement level "strict"/,
    );
  });

  it("marks secret stack outputs so the stack-output rule can tell them apart", async () => {
    const plan = fakePlan(
      "staging",
      {},
      { postgres: { password: "p1", user: "app" }, redis: { password: "p2" } },
    );
    plan.secretOutputs = ["postgres.password"];
    const violations = await runPolicies(plan);
    expect(violations).toEqual([
      expect.objectContaining({
        policy: "stack-outputs-sensitive-secret",
        message: "stack output redis.password is not a secret",
        type: "pulumi:pulumi:Stack",
        urn: "urn:pulumi:staging::backend-infra::pulumi:pulumi:Stack::backend-infra-staging",
      }),
    ]);
    const marked = markSecrets({ a: [{ b: "x" }, "y"], c: "z" }, ["a[0].b", "c"]);
    expect(marked).toEqual({ a: [{ b: new SecretValue("x") }, "y"], c: new SecretValue("z") });
  });

  it("stack policies see outputs and dependencies (a bucket's side resources linked by dependency)", async () => {
    const stack = "staging";
    const bucket = resource(stack, "aws:s3/bucket:Bucket", "b", { bucket: "bkt" });
    const versioning = resource(
      stack,
      "aws:s3/bucketVersioning:BucketVersioning",
      "b-versioning",
      { bucket: "b-0123abcd", versioningConfiguration: { status: "Suspended" } },
      { dependencies: [bucket.urn] },
    );
    const violations = await runPolicies(
      { resources: [bucket, versioning], outputs: {} },
      {
        config: { all: "disabled", "s3-bucket-versioning": "mandatory" },
      },
    );
    expect(violations).toEqual([
      expect.objectContaining({
        policy: "s3-bucket-versioning",
        name: "b",
        message: 'bucket "bkt": versioning status is ["Suspended"], not Enabled',
      }),
    ]);
  });

  it("reports an unknown value that a rule dereferences like the engine: advisory, can't run during preview", async () => {
    const throwing = {
      name: "reads-unknown",
      description: "test",
      enforcementLevel: "mandatory" as const,
      validateResource: (args: { type: string; props: Record<string, unknown> }) => {
        if (args.type === CONTAINER) void (args.props.image as string).length;
      },
    };
    const plan = fakePlan("staging", { image: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" });
    const violations = await runPolicies(plan, { policies: [throwing] });
    expect(violations).toEqual([
      expect.objectContaining({
        policy: "reads-unknown",
        level: "advisory",
        message: expect.stringMatching(/can't run policy during preview/),
      }),
    ]);
  });
});

describe("policies/config", () => {
  it("every committed environment config is valid, and prod's only tunes options", () => {
    for (const env of ["prod", "staging", "local"]) {
      const { file, config } = loadPolicyConfig(env);
      expect(file, env).toMatch(new RegExp(`policies/config/${env}\\.json$`));
      validatePolicyConfig(config);
    }
    const prod = loadPolicyConfig("prod").config;
    for (const [name, entry] of Object.entries(prod)) {
      expect(typeof entry, name).toBe("object");
      expect((entry as { enforcementLevel?: string }).enforcementLevel, name).toBeUndefined();
    }
    expect(loadPolicyConfig("nosuch")).toEqual({ config: {} });
  });
});

describe("policies/README.md", () => {
  it("lists every rule with its kind, severity and options", () => {
    const readme = readFileSync(join(__dirname, "..", "..", "..", "policies", "README.md"), "utf8");
    for (const p of ALL_POLICIES) {
      const row = readme.split("\n").find((line) => line.startsWith(`| \`${p.name}\` |`));
      const options = Object.keys(p.configSchema?.properties ?? {}).join(", ") || "—";
      expect(row?.trim().split("|").at(-2)?.trim(), p.name).toBe(options);
      expect(readme, p.name).toMatch(
        new RegExp(`^\\| \`${p.name}\` \\| (resource|stack) \\| ${p.severity} \\|`, "m"),
      );
    }
  });
});
