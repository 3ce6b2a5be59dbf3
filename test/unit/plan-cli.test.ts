import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main, maskSecrets, renderTree } from "../../tools/plan";
import { REPO_ROOT } from "../harness/stack-file";

/** Runs the plan CLI in-process and captures what it prints. */
async function plan(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  const error = vi
    .spyOn(console, "error")
    .mockImplementation((...a: unknown[]) => void err.push(a.join(" ")));
  try {
    const code = await main(args);
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe("offline plan CLI", () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it.each(["prod", "staging", "local", "prod-blue"])("prints a plan for %s", async (stack) => {
    const result = await plan(stack);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`OFFLINE PLAN for stack "${stack}"`);
    expect(result.stdout).toContain("not `pulumi preview`");
    expect(result.stdout).toMatch(/Resources by type:[\s\S]*\d+ {2}total/);
    expect(result.stdout).toContain("+ pulumi:providers:docker  docker");
  });

  it("exits 2 on a broken config, listing every bad key, with no resource tree", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bi-plan-"));
    dirs.push(dir);
    copyFileSync(join(REPO_ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
    writeFileSync(
      join(dir, "Pulumi.staging.yaml"),
      "config:\n  backend-infra:postgresMemory: lots\n  backend-infra:trafficCanaryPercent: 140\n  backend-infra:redisImage: redis:latest\n",
    );
    const result = await plan("staging", "--dir", dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("backend-infra:postgresMemory");
    expect(result.stderr).toContain("backend-infra:trafficCanaryPercent");
    expect(result.stderr).toContain("backend-infra:redisImage");
    expect(result.stderr).toContain("No resources were registered.");
    expect(result.stdout).toBe("");
  });

  it("says which stacks exist when none is given, and exits 2", async () => {
    const result = await plan();
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/usage: npm run -s plan -- <stack>[\s\S]*prod-blue/);
  });

  it("names the missing stack file", async () => {
    const result = await plan("nosuch");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Pulumi.nosuch.yaml");
  });

  /** A directory with Pulumi.yaml and the given stack files. */
  function stackDir(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), "bi-plan-"));
    dirs.push(dir);
    copyFileSync(join(REPO_ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  }

  // Bad input to the plan itself: one line on stderr naming the problem, exit 2, no stack trace.
  const badInput: [string, () => string[], RegExp][] = [
    [
      "an unknown stack",
      () => ["nosuch"],
      /unknown stack "nosuch": no stack file Pulumi\.nosuch\.yaml; stacks here: .*prod-blue/,
    ],
    ["an unknown colour of a known environment", () => ["prod-purple"], /unknown stack "prod-purple"/],
    ["a stack name that climbs out of the directory", () => ["../../etc/passwd"], /invalid stack name/],
    ["a stack name with a slash", () => ["org/prod"], /invalid stack name/],
    ["an unknown option", () => ["prod", "--jsn"], /unknown option --jsn/],
    ["two stacks", () => ["prod", "staging"], /one stack at a time/],
    ["--dir without a directory", () => ["prod", "--dir"], /--dir needs a directory/],
    ["--dir that does not exist", () => ["prod", "--dir", "/nonexistent/stacks"], /no such directory/],
    [
      "a YAML syntax error",
      () => [
        "staging",
        "--dir",
        stackDir({
          "Pulumi.staging.yaml": "config:\n  backend-infra:postgresMemory: [1g\n  backend-infra:x: 1\n",
        }),
      ],
      /Pulumi\.staging\.yaml: not valid YAML: .*line \d+/,
    ],
    [
      "a tab-indented stack file",
      () => [
        "local",
        "--dir",
        stackDir({ "Pulumi.local.yaml": "config:\n\tbackend-infra:postgresMemory: 1g\n" }),
      ],
      /Pulumi\.local\.yaml: not valid YAML/,
    ],
    [
      "a key set twice",
      () => [
        "local",
        "--dir",
        stackDir({
          "Pulumi.local.yaml": "config:\n  backend-infra:redisCpus: 1\n  backend-infra:redisCpus: 2\n",
        }),
      ],
      /Pulumi\.local\.yaml: not valid YAML: .*unique/,
    ],
    [
      "a key set bare and with its namespace",
      () => [
        "local",
        "--dir",
        stackDir({ "Pulumi.local.yaml": "config:\n  redisCpus: 1\n  backend-infra:redisCpus: 2\n" }),
      ],
      /backend-infra:redisCpus is set twice/,
    ],
    [
      "a misspelt config: section",
      () => ["local", "--dir", stackDir({ "Pulumi.local.yaml": "confg:\n  backend-infra:redisCpus: 1\n" })],
      /unknown top-level key "confg"/,
    ],
    [
      "a config: list",
      () => ["local", "--dir", stackDir({ "Pulumi.local.yaml": "config:\n  - backend-infra:redisCpus\n" })],
      /"config" must be a map/,
    ],
    [
      "a stack file that is a list",
      () => ["local", "--dir", stackDir({ "Pulumi.local.yaml": "- config\n" })],
      /expected a map with a config: key/,
    ],
  ];

  it.each(badInput)("refuses %s in one line, exit 2, no stack trace", async (_what, args, message) => {
    const result = await plan(...args());
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr.split("\n"), result.stderr).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at |Error:/);
    expect(result.stdout).toBe("");
  });

  it("lists every bad key with the stack file, before any resource, for each class of problem", async () => {
    const dir = stackDir({
      "Pulumi.prod.yaml": [
        "config:",
        "  backend-infra:environment: staging",
        "  backend-infra:dockerHost: tcp://docker-prod-1.example.com:2375",
        "  backend-infra:publicHostname: api.example.com",
        "  backend-infra:backupCloudRetentionDays: 30",
        "  backend-infr:postgresMemory: 8g",
        "  backend-infra:postgresMemroy: 8g",
        "  backend-infra:backendReplicas: 3",
        "  backend-infra:backupRegion: eu-west-9",
        "  backend-infra:backupFullSchedule: 0 3 30 2 *",
        "  backend-infra:alertEmailTo: []",
        "  backend-infra:alertEmailFrom: am@example.com",
        "  backend-infra:alertSmtpSmarthost: smtp.example.com:70000",
        "  aws:region: eu-west-1",
        "",
      ].join("\n"),
    });
    const result = await plan("prod", "--dir", dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`in ${join(dir, "Pulumi.prod.yaml")}`);
    for (const key of [
      "backend-infra:environment",
      "backend-infra:dockerHost",
      "backend-infra:backupCloudRetentionDays",
      "backend-infr:postgresMemory",
      "backend-infra:postgresMemroy",
      "backend-infra:backendReplicas",
      "backend-infra:backupRegion",
      "backend-infra:backupFullSchedule",
      "backend-infra:alertEmailTo",
      "backend-infra:alertSmtpSmarthost",
      "backend-infra:registryServer",
    ])
      expect(result.stderr).toContain(`  - ${key}: `);
    expect(result.stderr).not.toContain("aws:region");
    expect(result.stderr).toContain("No resources were registered.");
    expect(result.stdout).toBe("");
  });

  it("exits 2 on an invalid env stack behind a slot stack", async () => {
    const dir = stackDir({
      "Pulumi.staging-blue.yaml": "config: {}\n",
      "Pulumi.staging.yaml": "config:\n  backend-infra:backupRepoEncryption: false\n",
    });
    const result = await plan("staging-blue", "--dir", dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /stack "staging" in .*Pulumi\.staging\.yaml[\s\S]*backend-infra:backupRepoEncryption: expected true/,
    );
  });

  it("reports the placeholders it filled, per stack role", async () => {
    const result = await plan("prod-blue");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      "  slot stack prod-blue: registryPassword (required, not set in Pulumi.prod-blue.yaml)",
    );
    expect(result.stdout).toMatch(
      / {2}env stack prod, read through the StackReference: alertSmtpPassword .*edgeTlsCert .*edgeTlsKey .*registryPassword/,
    );
    const json = await plan("staging-green", "--json");
    expect(JSON.parse(json.stdout).placeholders).toEqual([
      { stack: "staging-green", role: "slot", file: "Pulumi.staging-green.yaml", secure: [], required: [] },
      {
        stack: "staging",
        role: "env",
        file: "Pulumi.staging.yaml",
        secure: [],
        required: ["backend-infra:edgeTlsCert", "backend-infra:edgeTlsKey"],
      },
    ]);
  });

  it("masks secret outputs and nested paths", () => {
    const masked = maskSecrets({ a: { password: "p", user: "u" }, list: ["x", "y"] }, [
      "a.password",
      "list[1]",
    ]);
    expect(masked).toEqual({ a: { password: "[secret]", user: "u" }, list: ["x", "[secret]"] });
  });

  it("prints children under their parent", () => {
    const lines = renderTree([
      {
        urn: "p",
        type: "t:c:Parent",
        name: "parent",
        custom: false,
        inputs: {},
        secretInputs: [],
        outputs: {},
        dependencies: [],
        propertyDependencies: {},
        options: { deleteBeforeReplace: false, ignoreChanges: [], protect: false },
      },
      {
        urn: "c",
        parent: "p",
        type: "docker:index/network:Network",
        name: "child",
        custom: true,
        inputs: { name: "n", internal: true },
        secretInputs: [],
        outputs: {},
        dependencies: [],
        propertyDependencies: {},
        options: { deleteBeforeReplace: false, ignoreChanges: [], protect: false },
      },
    ]);
    expect(lines).toEqual([
      "+ t:c:Parent  parent",
      "  + docker:index/network:Network  child  (name=n internal=true)",
    ]);
  });
});

/** Reads a stream one chunk at a time with a pause after each: a reader slower than the writer. */
async function readSlowly(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** `npm <args>` from the project root, stdout and stderr through pipes. */
function npm(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn("npm", args, {
    cwd: REPO_ROOT,
    env: { ...process.env, npm_config_loglevel: undefined, npm_lifecycle_event: undefined, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((done) => child.once("close", (code) => done(code)));
  return { child, exited };
}

// The real command a user pipes: `npm run -s plan -- prod --json | jq`. It builds dist/ first when
// it is stale (a cold build takes a minute on two busy cores), so these tests have time for that.
describe("npm run -s plan -- prod --json through a pipe", { timeout: 600_000 }, () => {
  it("writes one complete JSON document and nothing else to a slow reader, and exits 0", async () => {
    const { child, exited } = npm(["run", "-s", "plan", "--", "prod", "--json"]);
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const stdout = await readSlowly(child.stdout);
    expect(await exited, stderr).toBe(0);
    // Far past the 64 KiB a pipe holds: process.exit() used to cut it there.
    expect(stdout.length).toBeGreaterThan(4 * 65_536);
    const plan = JSON.parse(stdout) as {
      stack: string;
      resources: unknown[];
      policy: { violations: unknown[] };
    };
    expect(plan.stack).toBe("prod");
    expect(plan.resources.length).toBeGreaterThan(50);
    expect(plan.policy.violations).toBeInstanceOf(Array);
    expect(stderr).not.toMatch(/EPIPE|Error/);
  });

  it("a reader that stops early ends the plan quietly, with no EPIPE trace", async () => {
    const { child, exited } = npm(["run", "-s", "plan", "--", "prod", "--json"]);
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    // The first chunk, or "" when the command ends without one (a failed build, say).
    const first = await new Promise<string>((done) => {
      child.stdout.once("data", (c: Buffer) => done(String(c)));
      child.stdout.once("close", () => done(""));
    });
    child.stdout.destroy(); // like `| head -c 100`
    expect(first.startsWith("{"), stderr).toBe(true);
    expect(await exited, stderr).toBe(0);
    expect(stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
  });

  it("without -s, says on stderr that npm's banner went to stdout first", async () => {
    const { child, exited } = npm(["run", "plan", "--", "nosuch", "--json"]);
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const stdout = await readSlowly(child.stdout);
    expect(await exited).toBe(2);
    expect(stdout).toMatch(/^\s*> backend-infra@.* plan\n/);
    expect(stderr).toContain("npm printed its banner on stdout");
    expect(stderr).toContain("npm run -s plan -- <stack> --json");
  });
});
