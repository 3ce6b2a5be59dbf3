/**
 * The policy pack as the Pulumi CLI runs it: started by @pulumi/pulumi's run-policy-pack
 * (TypeScript compiled and type-checked by ts-node, PolicyPack serving gRPC on a port it
 * prints), then driven over the engine's Analyzer protocol. This proves `policies/` loads
 * and serves every rule, that the engine's wire format (secrets, unknowns) reaches the rules
 * as expected, and that policy config changes levels. What it cannot prove: which resources
 * and properties the real engine sends (that is the offline plan's job, and L6's).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALL_POLICIES } from "../../../policies/rules";
import { REPO_ROOT } from "../../harness/stack-file";
import { CONTAINER, hardenedContainer, urnOf } from "./support";

/* eslint-disable @typescript-eslint/no-require-imports */
const grpc = require("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
const analyzerGrpc =
  require("@pulumi/pulumi/proto/analyzer_grpc_pb") as typeof import("@pulumi/pulumi/proto/analyzer_grpc_pb");
const pb = require("@pulumi/pulumi/proto/analyzer_pb") as typeof import("@pulumi/pulumi/proto/analyzer_pb");
const emptyPb = require("google-protobuf/google/protobuf/empty_pb") as { Empty: new () => unknown };
const structPb = require("google-protobuf/google/protobuf/struct_pb") as {
  Struct: { fromJavaScript(v: Record<string, unknown>): unknown };
};
/* eslint-enable @typescript-eslint/no-require-imports */

const SIG = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const secret = (value: unknown) => ({ [SIG]: SECRET_SIG, value });

type Client = InstanceType<typeof analyzerGrpc.AnalyzerClient>;
let pack: ChildProcess | undefined;
let client: Client;
let stderr = "";

type AnalyzeResponse = InstanceType<typeof pb.AnalyzeResponse>;
type AnalyzerInfo = InstanceType<typeof pb.AnalyzerInfo>;
type Callback = (err: unknown, res: unknown) => void;

/** One unary call on the Analyzer service. */
function call<Res>(
  method: "analyze" | "analyzeStack" | "getAnalyzerInfo" | "configure",
  req: unknown,
): Promise<Res> {
  const fn = (client as unknown as Record<string, (req: unknown, cb: Callback) => unknown>)[method];
  return new Promise((resolve, reject) =>
    fn.call(client, req, (err, res) => (err ? reject(err) : resolve(res as Res))),
  );
}

function options() {
  const opts = new pb.AnalyzerResourceOptions();
  opts.setCustomtimeouts(new pb.AnalyzerResourceOptions.CustomTimeouts());
  return opts;
}

function analyzeRequest(type: string, name: string, props: Record<string, unknown>, stack = "prod") {
  const req = new pb.AnalyzeRequest();
  req.setType(type);
  req.setName(name);
  req.setUrn(urnOf(stack, type, name));
  req.setProperties(structPb.Struct.fromJavaScript(props) as never);
  req.setOptions(options());
  return req;
}

function stackResource(
  type: string,
  name: string,
  props: Record<string, unknown>,
  dependencies: string[] = [],
) {
  const r = new pb.AnalyzerResource();
  r.setType(type);
  r.setName(name);
  r.setUrn(urnOf("prod", type, name));
  r.setProperties(structPb.Struct.fromJavaScript(props) as never);
  r.setOptions(options());
  r.setDependenciesList(dependencies);
  return r;
}

const diagnostics = (res: AnalyzeResponse) =>
  res.getDiagnosticsList().map((d) => ({
    policy: d.getPolicyname(),
    level: d.getEnforcementlevel(),
    message: d.getMessage(),
    urn: d.getUrn(),
  }));

describe("policy pack served by Pulumi's run-policy-pack", () => {
  beforeAll(async () => {
    const runner = join(REPO_ROOT, "node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack");
    pack = spawn(process.execPath, [runner, "127.0.0.1:1", "."], {
      cwd: join(REPO_ROOT, "policies"),
      stdio: "pipe",
    });
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(
        () => reject(new Error(`policy pack did not print a port in 150 s:\n${stderr}`)),
        150_000,
      );
      pack?.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const match = /^(\d+)\s*$/m.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      pack?.stderr?.on("data", (chunk: Buffer) => void (stderr += chunk.toString()));
      pack?.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`policy pack exited with ${code}:\n${stderr}`));
      });
    });
    client = new analyzerGrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  }, 180_000);

  afterAll(() => {
    client?.close();
    pack?.kill("SIGTERM");
  });

  it("announces every rule, mandatory by default, with its config schema", async () => {
    const info = await call<AnalyzerInfo>("getAnalyzerInfo", new emptyPb.Empty() as never);
    expect(info.getName()).toBe("backend-infra");
    const policies = info.getPoliciesList();
    expect(policies.map((p) => p.getName()).sort()).toEqual(ALL_POLICIES.map((p) => p.name).sort());
    for (const p of policies)
      expect(p.getEnforcementlevel(), p.getName()).toBe(pb.EnforcementLevel.MANDATORY);
    const ports = policies.find((p) => p.getName() === "container-published-ports");
    expect(ports?.getConfigschema()?.getProperties()?.toJavaScript()).toHaveProperty("publicPorts");
  });

  it("reports a root container as mandatory and passes the hardened one", async () => {
    const bad = await call<AnalyzeResponse>(
      "analyze",
      analyzeRequest(CONTAINER, "backend", hardenedContainer({ user: "0" })),
    );
    expect(diagnostics(bad)).toEqual([
      expect.objectContaining({
        policy: "container-non-root-user",
        level: pb.EnforcementLevel.MANDATORY,
        message: expect.stringMatching(/runs as root/),
      }),
    ]);
    const good = await call<AnalyzeResponse>(
      "analyze",
      analyzeRequest(CONTAINER, "backend", hardenedContainer()),
    );
    expect(diagnostics(good)).toEqual([]);
  });

  it("tolerates values unknown during preview and unwraps secrets like the engine", async () => {
    const props = hardenedContainer({
      image: UNKNOWN_STRING,
      user: secret("1000:1000"),
      envs: [secret("POSTGRES_PASSWORD=x")],
    });
    const res = await call<AnalyzeResponse>("analyze", analyzeRequest(CONTAINER, "backend", props));
    expect(diagnostics(res)).toEqual([]);
    const tagged = await call<AnalyzeResponse>(
      "analyze",
      analyzeRequest(CONTAINER, "backend", hardenedContainer({ image: "node:20.18.1-bookworm" })),
    );
    expect(diagnostics(tagged), JSON.stringify(diagnostics(tagged))).toEqual([
      expect.objectContaining({ policy: "container-image-digest" }),
    ]);
    const staging = await call<AnalyzeResponse>(
      "analyze",
      analyzeRequest(CONTAINER, "backend", hardenedContainer({ image: "node:20.18.1-bookworm" }), "staging"),
    );
    expect(diagnostics(staging)).toEqual([]);
  });

  it("checks the stack: a bucket without versioning, an env literal next to a generated password", async () => {
    const bucket = stackResource("aws:s3/bucket:Bucket", "backups", {
      bucket: "bi-prod-backups",
      arn: "arn:aws:s3:::bi-prod-backups",
    });
    const versioning = stackResource(
      "aws:s3/bucketVersioning:BucketVersioning",
      "backups-versioning",
      { bucket: "bi-prod-backups", versioningConfiguration: { status: "Suspended" } },
      [bucket.getUrn()],
    );
    const password = stackResource("random:index/randomPassword:RandomPassword", "pw", {
      length: 32,
      result: secret("Zq3xY8vW2tR6nM1kP9sL4hJ7"),
    });
    const app = stackResource(
      CONTAINER,
      "backend",
      hardenedContainer({ envs: ["DB_PASSWORD=Zq3xY8vW2tR6nM1kP9sL4hJ7", "API_TOKEN=literal-token"] }),
    );
    const req = new pb.AnalyzeStackRequest();
    req.setResourcesList([bucket, versioning, password, app]);
    const res = await call<AnalyzeResponse>("analyzeStack", req);
    const found = diagnostics(res);
    expect(found).toContainEqual(
      expect.objectContaining({
        policy: "s3-bucket-versioning",
        urn: bucket.getUrn(),
        message: expect.stringMatching(/Suspended/),
      }),
    );
    const env = found.filter((d) => d.policy === "container-env-no-plaintext-secrets");
    expect(env).toEqual([
      expect.objectContaining({
        urn: app.getUrn(),
        message: expect.stringMatching(/sets API_TOKEN to a literal/),
      }),
    ]);
    // Under the engine secrets arrive unwrapped: the stack-output rule declares itself not applicable.
    expect(found.map((d) => d.policy)).not.toContain("stack-outputs-sensitive-secret");
    expect(res.getNotApplicableList().map((n) => n.getPolicyName())).toContain(
      "stack-outputs-sensitive-secret",
    );
  });

  it("policy config lowers levels per stack (all: advisory)", async () => {
    const req = new pb.ConfigureAnalyzerRequest();
    const all = new pb.PolicyConfig();
    all.setEnforcementlevel(pb.EnforcementLevel.ADVISORY);
    all.setProperties(structPb.Struct.fromJavaScript({}) as never);
    for (const p of ALL_POLICIES) req.getPolicyconfigMap().set(p.name, all);
    await call("configure", req);
    const res = await call<AnalyzeResponse>(
      "analyze",
      analyzeRequest(CONTAINER, "backend", hardenedContainer({ user: "root" }), "staging"),
    );
    expect(diagnostics(res)).toEqual([
      expect.objectContaining({ policy: "container-non-root-user", level: pb.EnforcementLevel.ADVISORY }),
    ]);
  });
});
