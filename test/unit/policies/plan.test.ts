/**
 * The whole offline plan of every stack through the policy pack (architecture L3): zero
 * mandatory violations, and deliberately insecure plans fail with the right rule names.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import {
  formatViolations,
  loadPolicyConfig,
  mandatory,
  runPolicies,
  runPoliciesWithCoverage,
  type PlanResourceLike,
  type Violation,
} from "../../../lib/policy-runner";
import { ALL_POLICIES } from "../../../policies/rules";
import { main } from "../../../tools/plan";
import { runProgram, type PlanResult } from "../../harness/run-program";
import { REPO_ROOT, listStacks } from "../../harness/stack-file";

const plans = new Map<string, Promise<PlanResult>>();
const planOf = (stack: string) => {
  if (!plans.has(stack)) plans.set(stack, runProgram(stack));
  return plans.get(stack) as Promise<PlanResult>;
};

/** Mandatory violations of `plan` that the unmodified prod plan does not have (the effect of a change). */
async function addedViolations(plan: PlanResult) {
  const config = loadPolicyConfig("prod").config;
  const key = (v: Violation) => `${v.policy}|${v.urn}|${v.message}`;
  const baseline = new Set(
    mandatory(await runPolicies(await planOf("prod"), { environment: "prod", config })).map(key),
  );
  return mandatory(await runPolicies(plan, { environment: "prod", config })).filter(
    (v) => !baseline.has(key(v)),
  );
}

describe("offline plan through the policy pack", () => {
  const stacks = listStacks();
  it("covers prod, staging, local and their slot stacks", () => {
    for (const s of [
      "prod",
      "staging",
      "local",
      "prod-blue",
      "prod-green",
      "staging-blue",
      "staging-green",
    ]) {
      expect(stacks).toContain(s);
    }
  });

  for (const stack of stacks) {
    it(`${stack}: zero mandatory violations`, async () => {
      const plan = await planOf(stack);
      const { config } = loadPolicyConfig(plan.config.environment);
      const violations = await runPolicies(plan, { environment: plan.config.environment, config });
      const blocking = mandatory(violations);
      expect(blocking, formatViolations(blocking)).toEqual([]);
    });
  }
});

const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

function stringLeaves(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => stringLeaves(v, out));
  else if (value !== null && typeof value === "object")
    Object.values(value).forEach((v) => stringLeaves(v, out));
  return out;
}

/**
 * The plan as a first `pulumi preview` sees it: every value a provider computes (outputs that
 * are not inputs: digests, ARNs, generated passwords and names, the mocks' resource ids) is
 * unknown, and so is every input built from one. Like the engine, each input property records
 * the resources its value came from (property dependencies). StackReference outputs stay known.
 */
function firstPreview(plan: PlanResult): PlanResult & { resources: PlanResourceLike[] } {
  const computedBy = new Map<string, Set<string>>();
  const note = (value: string, urn: string) =>
    computedBy.set(value, (computedBy.get(value) ?? new Set()).add(urn));
  for (const r of plan.resources) {
    if (r.type === "pulumi:pulumi:StackReference") continue;
    const inputs = new Set(stringLeaves(r.inputs));
    for (const v of stringLeaves(r.outputs)) if (v.length >= 8 && !inputs.has(v)) note(v, r.urn);
  }
  const sources = (value: string): string[] => {
    const found = new Set<string>();
    for (const r of plan.resources)
      if (new RegExp(`^${r.name.replace(/[^\w-]/g, "\\$&")}-[0-9a-f]{8}$`).test(value)) found.add(r.urn);
    for (const [computed, urns] of computedBy)
      if (value.includes(computed)) urns.forEach((u) => found.add(u));
    return [...found];
  };
  const unknown = (value: unknown, deps: Set<string>): unknown => {
    if (typeof value === "string") {
      const from = sources(value);
      from.forEach((u) => deps.add(u));
      return from.length > 0 ? UNKNOWN_STRING : value;
    }
    if (Array.isArray(value)) return value.map((v) => unknown(v, deps));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unknown(v, deps)]));
    }
    return value;
  };
  const resources = plan.resources.map((r) => {
    if (r.type === "pulumi:pulumi:StackReference") return r;
    const propertyDependencies: Record<string, string[]> = {};
    const inputs: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(r.inputs)) {
      const deps = new Set<string>();
      inputs[key] = unknown(value, deps);
      if (deps.size > 0) propertyDependencies[key] = [...deps];
    }
    const outputs = unknown(r.outputs, new Set()) as Record<string, unknown>;
    return { ...r, inputs, outputs, propertyDependencies };
  });
  return { ...plan, resources };
}

describe("a first preview (computed values unknown) adds no mandatory violation", () => {
  for (const stack of ["prod", "staging", "local", "prod-blue"]) {
    it(stack, async () => {
      const plan = await planOf(stack);
      const options = {
        environment: plan.config.environment,
        config: loadPolicyConfig(plan.config.environment).config,
      };
      const key = (v: Violation) => `${v.policy}|${v.urn}`;
      const known = new Set(mandatory(await runPolicies(plan, options)).map(key));
      const preview = firstPreview(plan);
      const unknowns = stringLeaves(preview.resources.map((r) => r.inputs)).filter(
        (v) => v === UNKNOWN_STRING,
      );
      expect(unknowns.length, "the simulation made some inputs unknown").toBeGreaterThan(0);
      const added = mandatory(await runPolicies(preview, options)).filter((v) => !known.has(key(v)));
      expect(added, formatViolations(added)).toEqual([]);
    });
  }
});

describe("the rules check the real program, not nothing", () => {
  // A rule whose patterns never match this program's resources would pass vacuously.
  it("every rule applies to at least one resource of the prod, local or prod-blue plan", async () => {
    const totals = new Map<string, number>(ALL_POLICIES.map((p) => [p.name, 0]));
    for (const stack of ["prod", "local", "prod-blue"]) {
      const plan = await planOf(stack);
      const { applied } = await runPoliciesWithCoverage(plan, { environment: plan.config.environment });
      for (const [name, count] of applied) totals.set(name, (totals.get(name) ?? 0) + count);
    }
    const unused = [...totals].filter(([, count]) => count === 0).map(([name]) => name);
    expect(unused).toEqual([]);
  });

  it("the data-tier rules recognise the real Postgres and Redis containers", async () => {
    const plan = await planOf("prod");
    const { applied } = await runPoliciesWithCoverage(plan, { environment: "prod" });
    expect(applied.get("redis-aof-enabled")).toBe(1);
    expect(applied.get("postgres-wal-archiving")).toBe(1);
    expect(applied.get("stateful-service-volumes")).toBe(2);
    expect(applied.get("network-data-internal")).toBe(1);
  });
});

describe("deliberately insecure plans fail with the right rule names", () => {
  it("a real prod plan with the edge as root and a public backup bucket", async () => {
    const original = await planOf("prod");
    const plan = {
      ...original,
      resources: JSON.parse(JSON.stringify(original.resources)) as PlanResult["resources"],
    };
    const edge = plan.resources.find(
      (r) => r.type === "docker:index/container:Container" && r.name === "edge",
    );
    expect(edge, "the prod plan has an edge container").toBeDefined();
    if (!edge) return;
    edge.inputs = { ...edge.inputs, user: "root" };
    // "Public bucket": drop its public access block and allow everyone in its policy.
    const bucket = plan.resources.find((r) => r.type === "aws:s3/bucket:Bucket");
    expect(bucket, "the prod plan has a backup bucket").toBeDefined();
    if (!bucket) return;
    plan.resources = plan.resources.filter(
      (r) =>
        !(
          r.type === "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock" &&
          r.dependencies.includes(bucket.urn)
        ),
    );
    const policyResource = plan.resources.find(
      (r) => r.type === "aws:s3/bucketPolicy:BucketPolicy" && r.dependencies.includes(bucket.urn),
    );
    expect(policyResource, "the bucket has a bucket policy").toBeDefined();
    if (!policyResource) return;
    const publicRead = JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: "*",
          Action: "s3:GetObject",
          Resource: `${String(bucket.outputs.arn)}/*`,
        },
      ],
    });
    policyResource.inputs = { ...policyResource.inputs, policy: publicRead };
    policyResource.outputs = { ...policyResource.outputs, policy: publicRead };

    const violations = await addedViolations(plan);
    const byRule = (rule: string) => violations.filter((v) => v.policy === rule);
    expect(byRule("container-non-root-user")).toEqual([
      expect.objectContaining({ name: "edge", message: expect.stringMatching(/runs as root/) }),
    ]);
    expect(byRule("s3-bucket-public-access-block")).toEqual([
      expect.objectContaining({
        name: bucket.name,
        message: expect.stringMatching(/no public access block/),
      }),
    ]);
    expect(byRule("s3-bucket-policy-no-public-principal")).toHaveLength(1);
    expect(byRule("s3-bucket-tls-only")).toHaveLength(1); // the TLS deny went with the replaced policy
    expect(new Set(violations.map((v) => v.policy))).toEqual(
      new Set([
        "container-non-root-user",
        "s3-bucket-public-access-block",
        "s3-bucket-policy-no-public-principal",
        "s3-bucket-tls-only",
      ]),
    );
  });

  it("an insecure prod config: no replica region and the edge's HTTPS on a non-public port", async () => {
    const plan = await runProgram("prod", {
      overrides: { backupReplicaRegion: undefined, edgeHttpsPort: "8443" },
    });
    const violations = await addedViolations(plan);
    expect(violations.map((v) => v.policy).sort()).toEqual([
      "container-published-ports",
      "s3-bucket-replication",
    ]);
    expect(violations.find((v) => v.policy === "container-published-ports")?.message).toMatch(
      /0\.0\.0\.0:8443->8443; only ports 80, 443/,
    );
  });

  it("`npm run plan` exits 3 and prints resource, rule and remediation for a mandatory violation", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bi-policy-plan-"));
    try {
      copyFileSync(join(REPO_ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
      const prod = readFileSync(join(REPO_ROOT, "Pulumi.prod.yaml"), "utf8");
      expect(prod).toMatch(/backupReplicaRegion/);
      const cli = async (stackFile: string) => {
        writeFileSync(join(dir, "Pulumi.prod.yaml"), stackFile);
        const out: string[] = [];
        const log = vi
          .spyOn(console, "log")
          .mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
        const err = vi.spyOn(console, "error").mockImplementation(() => undefined);
        try {
          return { code: await main(["prod", "--dir", dir]), text: out.join("\n") };
        } finally {
          log.mockRestore();
          err.mockRestore();
        }
      };
      const baseline = await cli(prod);
      expect(baseline.text).not.toMatch(/s3-bucket-replication/);
      const insecure = await cli(prod.replace(/^.*backupReplicaRegion.*$/m, ""));
      expect(insecure.code).toBe(3);
      expect(insecure.text).toMatch(/\[mandatory\] s3-bucket-replication \(medium\): aws:s3\/bucket:Bucket /);
      expect(insecure.text).toMatch(/has no replication configuration in prod/);
      expect(insecure.text).toMatch(/remediation: Add a BucketReplicationConfig/);
      expect(insecure.text).toMatch(/policy pack: \d+ mandatory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
