/**
 * Dry runs tell the truth (issue 17): `--dry-run` prints what a runbook would do and never a
 * result it did not observe. For every runbook and subcommand, run against recording fakes of
 * docker, pulumi and aws: it exits 0, prints [dry-run] lines, runs nothing that acts (docker not
 * at all, pulumi only to read outputs, aws not at all), and no line outside the [dry-run] lines
 * claims an outcome: no step or container reported "ok", no "healthy", "complete", "done",
 * "synced", "uploaded", no check result (OK, PONG, "accepting connections"), no lock "taken".
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, run, skipReason, tempDir } from "../support/tools";

const REPO = resolve(__dirname, "..", "..");

const ENV_OUTPUTS = {
  environment: "staging",
  dockerHost: "ssh://deploy@staging-host",
  networks: { edge: "e", app: "a", data: "d", monitoring: "m" },
  edge: { container: "edge", url: "http://127.0.0.1:9", adminSocket: "/run/haproxy/admin.sock" },
  traffic: { active: "blue", canaryPercent: 0, weights: { blue: 100, green: 0 } },
  postgres: {
    container: "pg",
    port: 5432,
    database: "app",
    password: "pg-password-long-enough",
    stanza: "main",
    dataDir: "/var/lib/postgresql/data",
  },
  redis: { container: "redis", port: 6379, password: "redis-password-long-enough", dataDir: "/data" },
  backups: {
    runnerContainer: "runner",
    bucket: "acme-backups",
    region: "eu-west-1",
    dumpsDir: "/backups",
    textfileDir: "/var/lib/node_exporter/textfile",
    restoreAccessKeyId: "AKIARESTOREONLY",
    restoreSecretAccessKey: "restore-secret-long-enough",
  },
  monitoring: { containers: { prometheus: "prometheus", alertmanager: "alertmanager" } },
};
const slot = (colour: string) => ({
  environment: "staging",
  slot: colour,
  image: `ghcr.io/acme/backend@sha256:${(colour === "blue" ? "b" : "c").repeat(64)}`,
  containers: [`${colour}-1`, `${colour}-2`],
  upstream: `backend-${colour}:3000`,
});

/** Outcomes a dry run must never claim (it observed none of them). */
const CLAIMS: [string, RegExp][] = [
  ["a step reported ok", /^\s*\+\S+\s+\S+\s+ok\s/m],
  ["a container reported restarted ok", /^\s+(data|slot|edge|monitoring)\s+\S+\s+\S+\s+ok$/m],
  ["every service healthy", /every service healthy/],
  ["healthy after a wait", /healthy after \d/],
  ["deployed and healthy", /deployed and healthy/],
  ["a completion", /\b(restart|restore|full recovery) complete\b/],
  ["a done line", /\b(backups done|backup done|done:)/],
  ["synced config", /synced to what runs/],
  ["an upload", /^uploaded /m],
  ["a measured RTO", /^RTO /m],
  ["a verification", /^verify (postgres|redis|edge) /m],
  ["a check result", /accepting connections|\bPONG\b|none firing|^\S.*\s(OK|FAIL|WARN)\s/m],
  ["a health table", /^CHECK\s+STATUS/m],
  ["a lock taken or released", /lock of \S+ taken|lock released|^BI_ENV_LOCK_OWNER=[0-9a-f]/m],
];

describe.skipIf(skipReason("jq", "bash"))("--dry-run claims no result", () => {
  let root: string;
  let calls: string;
  let envFile: string;
  let slotFiles: string[];
  let bin: string;
  let lockRoot: string;

  beforeAll(() => {
    root = tempDir("dry-runs");
    calls = join(root, "calls.log");
    bin = join(root, "bin");
    lockRoot = join(root, "local-host");
    mkdirSync(bin);
    mkdirSync(lockRoot);
    const write = (name: string, value: unknown) => {
      const file = join(root, name);
      writeFileSync(file, JSON.stringify(value), { mode: 0o600 });
      return file;
    };
    envFile = write("staging.json", ENV_OUTPUTS);
    slotFiles = [write("staging-blue.json", slot("blue")), write("staging-green.json", slot("green"))];
    write("staging-masked.json", {
      ...ENV_OUTPUTS,
      postgres: { ...ENV_OUTPUTS.postgres, password: "[secret]" },
      redis: { ...ENV_OUTPUTS.redis, password: "[secret]" },
    });
    const fake = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/usr/bin/env bash\necho "${name} $*" >>"${calls}"\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    // pulumi answers reads of the outputs; anything else it would do is a failure here.
    fake(
      "pulumi",
      `case "$*" in
  *"stack output --json --show-secrets -s staging-blue") cat "${slotFiles[0]}" ;;
  *"stack output --json --show-secrets -s staging-green") cat "${slotFiles[1]}" ;;
  *"stack output --json --show-secrets -s staging") cat "${envFile}" ;;
  *"stack output --json -s staging") cat "${join(root, "staging-masked.json")}" ;;
  *) echo "fake pulumi: a dry run must not run: $*" >&2; exit 64 ;;
esac`,
    );
    fake("docker", 'echo "fake docker: a dry run must not run: $*" >&2; exit 64');
    fake("aws", 'echo "fake aws: a dry run must not run: $*" >&2; exit 64');
  });
  afterAll(() => removeDir(root));

  const withOutputs = () => ["--outputs", envFile, ...slotFiles.flatMap((f) => ["--slot-outputs", f])];
  // [runbook, its arguments (files exist once beforeAll ran), extra environment]
  const CASES: [string, () => string[], Record<string, string>?][] = [
    ["health-check", withOutputs],
    ["status", withOutputs],
    ["backup-now", () => ["--what", "all", "--outputs", envFile]],
    ["backup-list", () => ["--outputs", envFile]],
    ["backup-config", () => ["--stack", "staging"]],
    ["sync-config", withOutputs],
    ["deploy", () => ["--stack", "staging", "--image", `ghcr.io/acme/backend@sha256:${"d".repeat(64)}`]],
    ["deploy", () => ["--stack", "staging", "--image", "backend:1.2.3", "--no-switch"]],
    ["canary", () => ["--stack", "staging", "--traffic-percentage", "10"]],
    ["rollback", () => ["--stack", "staging"]],
    ["disaster-recovery", () => ["restart", ...withOutputs()]],
    ["disaster-recovery", () => ["restore", "--latest", "--from", "s3", ...withOutputs()]],
    [
      "disaster-recovery",
      () => ["restore", "--to", "2026-11-28 09:14:00", "--only", "postgres", ...withOutputs()],
    ],
    ["disaster-recovery", () => ["full-recovery", "--stack", "staging"]],
    ["env-lock", () => ["run", "--outputs", envFile, "--", "true"], { BI_SEAM: "local" }],
    ["env-lock", () => ["acquire", "--outputs", envFile], { BI_SEAM: "local" }],
    [
      "env-lock",
      () => ["release", "--outputs", envFile],
      { BI_SEAM: "local", BI_ENV_LOCK_OWNER: "a".repeat(24) },
    ],
    ["env-lock", () => ["break", "--outputs", envFile], { BI_SEAM: "local" }],
  ];

  it.each(CASES.map(([name, args, env], i) => ({ label: `${name} #${i}`, name, args, env })))(
    "$label",
    ({ name, args, env: extraEnv = {} }) => {
      writeFileSync(calls, "");
      // --dry-run before a `--` (env-lock run: what follows is the command)
      const given = args();
      const end = given.includes("--") ? given.indexOf("--") : given.length;
      const result = run(
        join(REPO, "runbooks", name),
        [...given.slice(0, end), "--dry-run", ...given.slice(end)],
        {
          cwd: REPO,
          input: "",
          timeout: 60_000,
          env: {
            ...process.env,
            PATH: `${bin}:${process.env.PATH ?? ""}`,
            BI_LOG_DIR: join(root, "logs"),
            BI_LOCAL_ROOT: lockRoot,
            ...extraEnv,
          },
        },
      );
      expect(result.status, result.stderr).toBe(0);
      const lines = `${result.stdout}\n${result.stderr}`.split("\n");
      const dry = lines.filter((l) => l.startsWith("[dry-run] "));
      // status only reads: its dry run is its run (every value printed comes from the outputs).
      if (name !== "status") expect(dry.length, result.stdout).toBeGreaterThan(0);
      const said = lines.filter((l) => !l.startsWith("[dry-run] ")).join("\n");
      for (const [what, claim] of CLAIMS) {
        expect(said, `${what}:\n${said}`).not.toMatch(claim);
      }
      // Nothing acted: no docker, no aws, pulumi only to read outputs.
      const ran = readFileSync(calls, "utf8").split("\n").filter(Boolean);
      expect(ran.filter((c) => !/^pulumi --cwd \S+ stack output --json/.test(c))).toEqual([]);
    },
  );

  it("a runbook that changed something says so; its dry run says nothing changed (restart)", () => {
    const result = run(
      join(REPO, "runbooks", "disaster-recovery"),
      ["restart", ...withOutputs(), "--dry-run"],
      {
        cwd: REPO,
        input: "",
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, BI_LOG_DIR: join(root, "logs") },
      },
    );
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^restart plan \(dry run: the \[dry-run\] lines above, nothing was restarted\)$/m,
    );
    expect(result.stdout).toMatch(/^\s+data\s+pg\s+-\s+not run \(dry run\)$/m);
    expect(result.stderr).toContain("dry run: nothing was changed, started or checked");
    expect(result.stderr).not.toContain("healthy");
  });

  it("a dry run's timeline marks its steps dry, not ok", () => {
    const result = run(join(REPO, "runbooks", "backup-now"), ["--outputs", envFile, "--dry-run"], {
      cwd: REPO,
      input: "",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, BI_LOG_DIR: join(root, "logs") },
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^\s+\+\S+\s+\S+\s+dry\s+backup pg$/m);
    expect(result.stdout).toMatch(/^\s+\+\S+\s+\S+\s+dry\s+backup redis$/m);
    expect(result.stdout).toContain("dry run: the steps marked dry were printed ([dry-run] lines), not run");
  });
});
