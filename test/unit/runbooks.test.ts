/**
 * The runbooks' behaviour without daemons: argument errors, missing or broken stack outputs,
 * confirmation and the prod guard, --dry-run rendering of the docker seam, restart ordering and
 * its timeout, and full-recovery's plan with a fake `pulumi`. The containers are fakes of the
 * local seam (BI_SEAM=local) whose start/stop/health scripts record every call, so the tests
 * see exactly what the runbook did — and that nothing ran when it must not.
 * The real-daemon drill is test/l5/disaster-recovery.test.ts.
 */
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, run, skipReason, tempDir, type RunResult } from "../support/tools";

const REPO = resolve(__dirname, "..", "..");
const RUNBOOK_NAMES = ["disaster-recovery", "backup-now", "backup-list", "backup-config"];

interface Outputs {
  [key: string]: unknown;
}

function baseOutputs(environment = "staging"): Outputs {
  return {
    environment,
    dockerHost: "ssh://deploy@staging-host",
    networks: { edge: "e", app: "a", data: "d", monitoring: "m" },
    edge: { container: "edge", url: "http://127.0.0.1:9", adminSocket: "/run/haproxy/admin.sock" },
    traffic: { active: "blue", weights: { blue: 100, green: 0 } },
    postgres: {
      container: "pg",
      host: "postgres",
      port: 5432,
      database: "app",
      user: "app",
      password: "pg-password-not-in-logs",
      stanza: "main",
    },
    redis: { container: "redis", host: "redis", port: 6379, password: "redis-password-not-in-logs" },
    backups: {
      runnerContainer: "runner",
      bucket: "acme-backups",
      region: "eu-west-1",
      replicaBucket: "acme-backups-replica",
      localVolume: "pgbackrest-repo",
      schedule: {},
    },
    monitoring: {
      prometheusUrl: "http://127.0.0.1:9090",
      grafanaUrl: "http://127.0.0.1:3001",
      alertmanagerUrl: "http://127.0.0.1:9093",
      grafanaAdminPassword: "grafana-password-not-in-logs",
      containers: { prometheus: "prometheus", alertmanager: "alertmanager" },
    },
  };
}

const SLOT = {
  environment: "staging",
  slot: "blue",
  image: "backend:1",
  containers: ["blue-1", "blue-2"],
  upstream: "x",
};

describe.skipIf(skipReason("jq", "script"))("runbooks (no daemons)", () => {
  let root: string;
  let calls: string;
  let n = 0;

  beforeAll(() => {
    root = tempDir("runbooks");
    calls = join(root, "calls.log");
  });
  afterAll(() => removeDir(root));

  /** A fresh fake local-seam tree; `unhealthy` containers never pass their health check. */
  function fakeContainers(names: string[], unhealthy: string[] = []): string {
    const dir = join(root, `containers-${n++}`);
    writeFileSync(calls, "");
    for (const name of names) {
      mkdirSync(join(dir, name), { recursive: true });
      for (const action of ["start", "stop"]) {
        writeFileSync(
          join(dir, name, action),
          `#!/usr/bin/env bash\necho "${action} ${name}" >>"${calls}"\n`,
        );
        chmodSync(join(dir, name, action), 0o755);
      }
      writeFileSync(
        join(dir, name, "health"),
        `#!/usr/bin/env bash\necho "health ${name}" >>"${calls}"\n${unhealthy.includes(name) ? "exit 1" : "exit 0"}\n`,
      );
      chmodSync(join(dir, name, "health"), 0o755);
    }
    return dir;
  }

  function writeJson(name: string, value: unknown): string {
    const file = join(root, `${n++}-${name}`);
    // As `pulumi stack output --show-secrets > file` should leave it under umask 077.
    writeFileSync(file, typeof value === "string" ? value : JSON.stringify(value), { mode: 0o600 });
    return file;
  }

  function runbook(name: string, args: string[], env: Record<string, string> = {}, input = ""): RunResult {
    return run(join(REPO, "runbooks", name), args, {
      cwd: REPO,
      input,
      env: { ...process.env, BI_LOG_DIR: join(root, "logs"), BI_POLL_SECONDS: "0.1", ...env },
      timeout: 60_000,
    });
  }

  const recorded = () => readFileSync(calls, "utf8").split("\n").filter(Boolean);

  describe("bad arguments exit 2 and name the argument", () => {
    const outputs = () => writeJson("outputs.json", baseOutputs());
    const cases: [string, string[], string][] = [
      ["no subcommand", [], "Usage: runbooks/disaster-recovery"],
      [
        "unknown subcommand",
        ["restroe"],
        "unknown subcommand 'restroe' (expected restart, restore or full-recovery)",
      ],
      ["a word as --to", ["restore", "--to", "yesterday"], "--to 'yesterday' is not a timestamp"],
      [
        "an impossible date",
        ["restore", "--to", "2026-13-45 10:00:00"],
        "--to '2026-13-45 10:00:00' is not a valid date",
      ],
      [
        "--latest with --to",
        ["restore", "--latest", "--to", "2026-11-28 09:14:00"],
        "either --latest or --to",
      ],
      ["--to without a value", ["restore", "--to"], "--to needs a timestamp"],
      ["an unknown repository", ["restore", "--from", "tape"], "--from 'tape' is not local or s3"],
      ["an unknown --only", ["restore", "--only", "mysql"], "--only 'mysql' is not postgres or redis"],
      ["--only on restart", ["restart", "--only", "redis"], "--only is a restore option"],
      ["--to on restart", ["restart", "--to", "2026-11-28 09:14:00"], "restart takes no --to"],
      ["a zero timeout", ["restart", "--timeout", "0"], "--timeout needs whole seconds from 1 to 86400"],
      ["an unknown flag", ["restore", "--force"], "unknown argument '--force' for restore"],
      ["--stack without a name", ["restore", "--stack"], "--stack needs a stack name"],
    ];
    it.each(cases)("%s", (_name, args, message) => {
      const result = runbook("disaster-recovery", args.length ? [...args, "--outputs", outputs()] : []);
      expect(result.status).toBe(2);
      expect(result.stderr).toContain(message);
    });

    it("full-recovery needs --stack (it runs pulumi up), not --outputs", () => {
      const result = runbook("disaster-recovery", ["full-recovery", "--outputs", outputs()]);
      expect(result.status).toBe(2);
      expect(result.stderr).toContain("full-recovery runs pulumi up: it needs --stack ENV");
    });

    it("--stack and --outputs together are refused", () => {
      const result = runbook("disaster-recovery", ["restart", "--stack", "prod", "--outputs", outputs()]);
      expect(result.status).toBe(2);
      expect(result.stderr).toContain("give either --stack or --outputs, not both");
    });

    it.each([
      ["backup-now", ["--what", "pg,mysql"], "--what: 'mysql' is not pg, redis or logical"],
      ["backup-now", ["--type", "weekly"], "--type 'weekly' is not full, diff or incr"],
      ["backup-now", ["--repo", "3"], "--repo '3' is not 1, 2 or all"],
      ["backup-list", ["--table"], "unknown argument '--table'"],
    ])("%s %s", (name, args, message) => {
      const result = runbook(name, [...args, "--outputs", outputs()]);
      expect(result.status).toBe(2);
      expect(result.stderr).toContain(message);
    });

    it("every runbook has --help", () => {
      for (const name of RUNBOOK_NAMES) {
        const result = runbook(name, ["--help"]);
        expect(result.status, name).toBe(0);
        expect(result.stdout, name).toContain(`Usage: runbooks/${name}`);
      }
    });
  });

  describe("missing or broken stack outputs fail before anything runs", () => {
    it("no --stack and no --outputs", () => {
      const dir = fakeContainers(["pg"]);
      const result = runbook("disaster-recovery", ["restart", "--yes"], {
        BI_SEAM: "local",
        BI_LOCAL_ROOT: dir,
      });
      expect(result.status).toBe(2);
      expect(result.stderr).toContain(
        "no stack outputs: pass --stack <env stack, e.g. prod> or --outputs FILE",
      );
      expect(recorded()).toEqual([]);
    });

    it("an outputs file that does not exist", () => {
      const result = runbook("disaster-recovery", ["restore", "--outputs", "/nonexistent/outputs.json"]);
      expect(result.status).toBe(2);
      expect(result.stderr).toContain("outputs file '/nonexistent/outputs.json' does not exist");
    });

    it("an outputs file that is not JSON, or not an object", () => {
      const notJson = runbook("backup-now", ["--outputs", writeJson("broken.json", "{not json")]);
      expect(notJson.status).toBe(2);
      expect(notJson.stderr).toMatch(/outputs file '.*broken\.json' is not valid JSON/);
      const array = runbook("backup-list", ["--outputs", writeJson("array.json", [1, 2])]);
      expect(array.status).toBe(2);
      expect(array.stderr).toContain("holds a JSON array, expected an object of stack outputs");
    });

    it.each([
      [".backups.runnerContainer", (o: Outputs) => delete (o.backups as Outputs).runnerContainer],
      [".postgres.stanza", (o: Outputs) => delete (o.postgres as Outputs).stanza],
      [".traffic.active", (o: Outputs) => delete o.traffic],
      [".edge.url", (o: Outputs) => ((o.edge as Outputs).url = null)],
    ])("a missing %s is named, and no container is touched", (field, mutate) => {
      const outputs = baseOutputs();
      mutate(outputs);
      const dir = fakeContainers(["pg", "redis", "runner", "blue-1", "blue-2", "edge"]);
      const result = runbook(
        "disaster-recovery",
        [
          "restore",
          "--yes",
          "--outputs",
          writeJson("o.json", outputs),
          "--slot-outputs",
          writeJson("s.json", SLOT),
        ],
        { BI_SEAM: "local", BI_LOCAL_ROOT: dir },
      );
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(`stack output field '${field}' is missing (or null)`);
      expect(recorded()).toEqual([]);
    });

    it("slot outputs for the active colour are required", () => {
      const result = runbook("disaster-recovery", [
        "restart",
        "--outputs",
        writeJson("o.json", baseOutputs()),
        "--slot-outputs",
        writeJson("green.json", { ...SLOT, slot: "green" }),
      ]);
      expect(result.status).toBe(2);
      expect(result.stderr).toContain("none of the --slot-outputs files is for slot 'blue'");
    });

    it("--stack without a pulumi CLI says how to proceed", () => {
      const result = runbook("disaster-recovery", ["restart", "--stack", "staging"], {
        PULUMI: "/nonexistent/pulumi",
      });
      expect(result.status).toBe(2);
      expect(result.stderr).toContain("the pulumi CLI ('/nonexistent/pulumi') is not on PATH");
      expect(result.stderr).toContain("or pass --outputs FILE");
    });
  });

  describe("confirmation and the prod guard", () => {
    const args = (environment: string) => [
      "restart",
      "--timeout",
      "5",
      "--outputs",
      writeJson("o.json", baseOutputs(environment)),
      "--slot-outputs",
      writeJson("s.json", SLOT),
    ];
    const ALL = ["pg", "redis", "runner", "blue-1", "blue-2", "edge", "prometheus", "alertmanager"];

    it("prod in a non-interactive shell without --yes is refused, even with 'yes' on stdin", () => {
      const dir = fakeContainers(ALL);
      const result = runbook(
        "disaster-recovery",
        args("prod"),
        { BI_SEAM: "local", BI_LOCAL_ROOT: dir },
        "yes\n",
      );
      expect(result.status).toBe(3);
      expect(result.stderr).toContain("against prod: not an interactive shell and no --yes");
      expect(recorded()).toEqual([]);
    });

    it("prod in an interactive shell needs the word prod typed", () => {
      const dir = fakeContainers(ALL);
      const command = [join(REPO, "runbooks", "disaster-recovery"), ...args("prod")]
        .map((a) => `'${a}'`)
        .join(" ");
      const env = { ...process.env, BI_SEAM: "local", BI_LOCAL_ROOT: dir, BI_LOG_DIR: join(root, "logs") };
      const refused = run("script", ["-qec", command, "/dev/null"], { input: "yes\n", env, timeout: 60_000 });
      expect(refused.status).toBe(3);
      expect(refused.stdout).toContain('Type "prod" to continue');
      expect(refused.stdout).toContain('not confirmed (expected "prod")');
      expect(recorded()).toEqual([]);
      const accepted = run("script", ["-qec", command, "/dev/null"], {
        input: "prod\n",
        env,
        timeout: 60_000,
      });
      expect(accepted.status, accepted.stdout).toBe(0);
      expect(recorded()).toContain("stop pg");
    });

    it("non-prod reads one answer from stdin: no answer or 'no' refuses, 'y' proceeds", () => {
      const dir = fakeContainers(ALL);
      const env = { BI_SEAM: "local", BI_LOCAL_ROOT: dir };
      const none = runbook("disaster-recovery", args("staging"), env, "");
      expect(none.status).toBe(3);
      expect(none.stderr).toContain("stdin has no answer and no --yes was given");
      const no = runbook("disaster-recovery", args("staging"), env, "no\n");
      expect(no.status).toBe(3);
      expect(no.stderr).toContain("not confirmed: restart every service");
      expect(recorded()).toEqual([]);
      const yes = runbook("disaster-recovery", args("staging"), env, "y\n");
      expect(yes.status, yes.stderr).toBe(0);
    });
  });

  describe("restart", () => {
    const args = () => [
      "restart",
      "--yes",
      "--timeout",
      "1",
      "--outputs",
      writeJson("o.json", baseOutputs()),
      "--slot-outputs",
      writeJson("s.json", SLOT),
    ];

    it("goes data -> slots -> edge -> monitoring, each container healthy before the next", () => {
      const dir = fakeContainers([
        "pg",
        "redis",
        "runner",
        "blue-1",
        "blue-2",
        "edge",
        "prometheus",
        "alertmanager",
      ]);
      const result = runbook("disaster-recovery", args(), { BI_SEAM: "local", BI_LOCAL_ROOT: dir });
      expect(result.status, result.stderr).toBe(0);
      const sequence = recorded()
        .filter((l) => l.startsWith("stop") || l.startsWith("health"))
        .map((l) => l.split(" ").reverse().join(":"));
      expect(sequence).toEqual(
        ["pg", "redis", "runner", "blue-1", "blue-2", "edge", "prometheus", "alertmanager"].flatMap((c) => [
          `${c}:stop`,
          `${c}:health`,
        ]),
      );
      expect(result.stdout).toMatch(
        /restart report[\s\S]*data\s+pg\s+\S+\s+ok[\s\S]*monitoring\s+alertmanager\s+\S+\s+ok/,
      );
    });

    it("stops at the first container that does not become healthy, and says which", () => {
      const dir = fakeContainers(
        ["pg", "redis", "runner", "blue-1", "blue-2", "edge", "prometheus", "alertmanager"],
        ["blue-1"],
      );
      const result = runbook("disaster-recovery", args(), { BI_SEAM: "local", BI_LOCAL_ROOT: dir });
      expect(result.status).toBe(1);
      expect(result.stdout).toMatch(/slot\s+blue-1\s+\S+\s+not healthy after 1s/);
      expect(result.stderr).toContain("restart stopped at slot: blue-1; later tiers were not restarted");
      expect(recorded()).not.toContain("stop edge");
      expect(recorded()).not.toContain("stop blue-2");
    });
  });

  describe("--dry-run renders the docker seam and runs nothing", () => {
    const outputs = () => writeJson("o.json", baseOutputs());
    const slot = () => writeJson("s.json", SLOT);

    it("restore --to: every command, with the docker host from the outputs", () => {
      const result = runbook("disaster-recovery", [
        "restore",
        "--to",
        "2026-11-28T09:14:00Z",
        "--only",
        "postgres",
        "--dry-run",
        "--outputs",
        outputs(),
        "--slot-outputs",
        slot(),
      ]);
      expect(result.status, result.stderr).toBe(0);
      const lines = result.stdout.split("\n").filter((l) => l.startsWith("[dry-run]"));
      expect(lines).toEqual([
        "[dry-run] docker -H ssh://deploy@staging-host stop blue-1",
        "[dry-run] docker -H ssh://deploy@staging-host stop blue-2",
        "[dry-run] docker -H ssh://deploy@staging-host stop pg",
        "[dry-run] docker -H ssh://deploy@staging-host exec -u postgres runner rm -f -- /var/lib/postgresql/data/postmaster.pid",
        "[dry-run] docker -H ssh://deploy@staging-host exec -u postgres runner restore-postgres --target-dir /var/lib/postgresql/data --from local --delta --to 2026-11-28\\ 09:14:00+00",
        "[dry-run] docker -H ssh://deploy@staging-host start pg",
        "[dry-run] wait until pg is healthy (at most 180s)",
        "[dry-run] wait until pg has replayed WAL and been promoted (select pg_is_in_recovery() = f, at most 180s)",
        "[dry-run] docker -H ssh://deploy@staging-host start blue-1",
        "[dry-run] docker -H ssh://deploy@staging-host start blue-2",
        "[dry-run] wait until blue-1 is healthy (at most 180s)",
        "[dry-run] wait until blue-2 is healthy (at most 180s)",
        "[dry-run] in pg: 30-verify-role.sql as the superuser; psql as the verify role: row count and md5 of every user table; pgbackrest check in runner",
        "[dry-run] curl -fsS http://127.0.0.1:9/health (until 200, at most 180s)",
      ]);
    });

    it("timestamps in other forms are normalised to UTC for pgBackRest", () => {
      const cases: [string, string][] = [
        ["2026-11-28 09:14:00", "2026-11-28\\ 09:14:00+00"],
        ["2026-11-28T11:14:00+02:00", "2026-11-28\\ 09:14:00+00"],
        ["2026-11-28 09:14:00.25+00", "2026-11-28\\ 09:14:00.250000+00"],
      ];
      for (const [input, expected] of cases) {
        const result = runbook("disaster-recovery", [
          "restore",
          "--to",
          input,
          "--only",
          "postgres",
          "--dry-run",
          "--outputs",
          outputs(),
          "--slot-outputs",
          slot(),
        ]);
        expect(result.status, result.stderr).toBe(0);
        expect(result.stdout).toContain(`--to ${expected}\n`);
      }
    });

    it("backup-now and backup-list", () => {
      const now = runbook("backup-now", [
        "--what",
        "all",
        "--type",
        "diff",
        "--dry-run",
        "--outputs",
        outputs(),
      ]);
      expect(now.status, now.stderr).toBe(0);
      expect(now.stdout).toContain(
        "[dry-run] docker -H ssh://deploy@staging-host exec -u postgres runner backup-pg diff --repo all",
      );
      expect(now.stdout).toContain(
        "[dry-run] docker -H ssh://deploy@staging-host exec -u postgres runner backup-redis",
      );
      expect(now.stdout).toContain(
        "[dry-run] docker -H ssh://deploy@staging-host exec -u postgres runner backup-logical",
      );
      const list = runbook("backup-list", ["--dry-run", "--outputs", outputs()]);
      expect(list.status, list.stderr).toBe(0);
      expect(list.stdout).toContain(
        "[dry-run] docker -H ssh://deploy@staging-host exec -u postgres runner pgbackrest info --output=json",
      );
    });

    it("backup-list: a location it cannot list makes it exit 1, and log lines are not rows", () => {
      const dir = fakeContainers(["runner"]);
      const backupDir = join(root, `backup-dir-${n++}`);
      const bin = join(root, `bin-${n++}`);
      for (const d of [join(backupDir, "redis"), join(backupDir, "logical"), bin])
        mkdirSync(d, { recursive: true });
      for (const d of [root, backupDir, join(backupDir, "redis"), join(backupDir, "logical"), bin])
        chmodSync(d, 0o755);
      writeFileSync(join(bin, "pgbackrest"), "#!/usr/bin/env bash\necho '[]'\n", { mode: 0o755 });
      // A runner without its S3 tools: the S3 locations cannot be listed.
      writeFileSync(join(dir, "runner", "env"), `BACKUP_DIR=${backupDir}\n`);
      const listOutputs = writeJson("list.json", {
        ...baseOutputs(),
        backups: { runnerContainer: "runner" },
      });
      const env = { PATH: `${bin}:${process.env.PATH ?? ""}`, BI_SEAM: "local", BI_LOCAL_ROOT: dir };
      const table = runbook("backup-list", ["--outputs", listOutputs], env);
      expect(table.status).toBe(1);
      expect(table.stdout).toMatch(/^ {4}local \(none\)$/m);
      expect(table.stdout).toMatch(/^ {4}s3 {4}\(cannot list: \S/m);
      expect(table.stdout).not.toContain("in runner:");
      const json = runbook("backup-list", ["--outputs", listOutputs, "--json"], env);
      expect(json.status).toBe(1);
      expect(JSON.parse(json.stdout).redis.s3).toEqual({ error: "cannot list redis backups in s3" });
    });

    it("full-recovery: pulumi up env, restore from s3, pulumi up slot, switch, verify, with a timeline", () => {
      const bin = join(root, `bin-${n++}`);
      mkdirSync(bin);
      const outputsFile = outputs();
      const slotFile = slot();
      writeFileSync(
        join(bin, "pulumi"),
        `#!/usr/bin/env bash\necho "pulumi $*" >>"${calls}"\n` +
          `case "$*" in *"stack output"*"-s staging-blue"*) cat "${slotFile}" ;; *"stack output"*) cat "${outputsFile}" ;; *) exit 64 ;; esac\n`,
      );
      chmodSync(join(bin, "pulumi"), 0o755);
      writeFileSync(calls, "");
      const result = runbook("disaster-recovery", ["full-recovery", "--stack", "staging", "--dry-run"], {
        PATH: `${bin}:${process.env.PATH ?? ""}`,
      });
      expect(result.status, result.stderr).toBe(0);
      const dry = result.stdout.split("\n").filter((l) => l.startsWith("[dry-run]"));
      const indexOf = (re: RegExp) => dry.findIndex((l) => re.test(l));
      // Every pulumi up applies the policy pack with the environment's config (absolute paths),
      // the slot stack staging-blue included: policies/config/staging.json.
      const up = (stack: string) =>
        `[dry-run] pulumi --cwd ${REPO} up --yes --skip-preview --policy-pack ${REPO}/policies ` +
        `--policy-pack-config ${REPO}/policies/config/staging.json -s ${stack}`;
      expect(dry.filter((l) => / up /.test(l))).toEqual([up("staging"), up("staging-blue"), up("staging")]);
      const upEnv = dry.indexOf(up("staging"));
      const restorePg = indexOf(/restore-postgres .* --from s3 --delta --latest$/);
      const restoreRedis = indexOf(/restore-redis /);
      const upSlot = dry.indexOf(up("staging-blue"));
      const switchUp = dry.lastIndexOf(up("staging"));
      expect([upEnv, restorePg, restoreRedis, upSlot].every((i) => i >= 0)).toBe(true);
      // The checkout's stack files are set to what ran before anything is brought up.
      const sync = indexOf(/config set trafficActive \w+ -s staging$/);
      expect(sync).toBeGreaterThanOrEqual(0);
      expect(sync).toBeLessThan(upEnv);
      expect(upEnv).toBeLessThan(restorePg);
      expect(restorePg).toBeLessThan(restoreRedis);
      expect(restoreRedis).toBeLessThan(upSlot);
      expect(upSlot).toBeLessThan(switchUp);
      expect(result.stdout).toMatch(/full-recovery timeline \(total [\d.]+s\)/);
      for (const step of [
        "pulumi up env stack staging",
        "restore postgres",
        "pulumi up slot stack staging-blue",
        "switch traffic to blue",
        "verify edge /health",
      ]) {
        expect(result.stdout).toContain(step);
      }
      // Only reads went to pulumi in a dry run.
      expect(recorded().every((l) => l.includes("stack output"))).toBe(true);
    });

    it("full-recovery stops before the first pulumi up when policies/config/<env>.json is missing", () => {
      const bin = join(root, `bin-${n++}`);
      mkdirSync(bin);
      const outputsFile = outputs();
      writeFileSync(
        join(bin, "pulumi"),
        `#!/usr/bin/env bash\necho "pulumi $*" >>"${calls}"\n` +
          `case "$*" in *"stack output"*) cat "${outputsFile}" ;; *) exit 64 ;; esac\n`,
      );
      chmodSync(join(bin, "pulumi"), 0o755);
      const project = join(root, `project-${n++}`);
      mkdirSync(join(project, "policies", "config"), { recursive: true });
      writeFileSync(join(project, "policies", "config", "prod.json"), "{}");
      writeFileSync(calls, "");
      const result = runbook("disaster-recovery", ["full-recovery", "--stack", "staging", "--yes"], {
        PATH: `${bin}:${process.env.PATH ?? ""}`,
        BI_PULUMI_CWD: project,
      });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(
        `stack 'staging' (environment 'staging') has no policy pack config: ${project}/policies/config/staging.json does not exist`,
      );
      expect(result.stdout).not.toContain("pulumi up env stack");
      expect(recorded()).toEqual([`pulumi --cwd ${project} stack output --json --show-secrets -s staging`]);
    });
  });

  describe("lib/common.sh: present_containers", () => {
    it("drops containers the docker host does not have (a new host after a full recovery)", () => {
      const bin = join(root, `bin-${n++}`);
      mkdirSync(bin);
      // `docker inspect` knows only `here`.
      writeFileSync(
        join(bin, "docker"),
        '#!/usr/bin/env bash\n[[ "$*" == *inspect* && "${*: -1}" == here ]] && { echo running; exit 0; }\nexit 1\n',
      );
      chmodSync(join(bin, "docker"), 0o755);
      const outputs = writeJson("present.json", baseOutputs());
      const lib = (seam: string) =>
        run(
          "bash",
          [
            "-c",
            `set -euo pipefail; . runbooks/lib/common.sh; outputs_load --outputs '${outputs}'; present_containers here gone`,
          ],
          { cwd: REPO, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, BI_SEAM: seam } },
        );
      const docker = lib("docker");
      expect(docker.status, docker.stderr).toBe(0);
      expect(docker.stdout).toBe("here\n");
      expect(docker.stderr).toContain("container gone does not exist on this host");
      expect(lib("local").stdout).toBe("here\ngone\n"); // the local seam has no such notion
    });
  });

  describe("lib/backups.sh: which RDB a restore picks", () => {
    it("lists the runner's files by their UTC stamp and picks the newest at or before a time", () => {
      const dir = fakeContainers(["runner"]);
      const backupDir = join(root, `backup-dir-${n++}`);
      mkdirSync(join(backupDir, "redis"), { recursive: true });
      for (const stamp of ["20261128T080000Z", "20261128T090000Z", "20261128T100000Z"]) {
        writeFileSync(join(backupDir, "redis", `redis-${stamp}.rdb`), "REDIS0011");
      }
      writeFileSync(join(backupDir, "redis", "notes.txt"), "not a backup");
      writeFileSync(join(backupDir, "redis", "redis-latest.rdb"), "no stamp: ignored");
      chmodSync(root, 0o755);
      for (const d of [backupDir, join(backupDir, "redis")]) chmodSync(d, 0o755);
      writeFileSync(join(dir, "runner", "env"), `BACKUP_DIR=${backupDir}\n`);
      const outputs = writeJson("o.json", { ...baseOutputs(), backups: { runnerContainer: "runner" } });
      const lib = (body: string) =>
        run(
          "bash",
          [
            "-c",
            `set -euo pipefail; . runbooks/lib/common.sh; . runbooks/lib/backups.sh; outputs_load --outputs '${outputs}'; ${body}`,
          ],
          { cwd: REPO, env: { ...process.env, BI_SEAM: "local", BI_LOCAL_ROOT: dir } },
        );
      const all = lib("backup_files redis local");
      expect(all.status, all.stderr).toBe(0);
      expect(
        all.stdout
          .trim()
          .split("\n")
          .map((l) => l.split(" ")[0]),
      ).toEqual(["20261128T080000Z", "20261128T090000Z", "20261128T100000Z"]);
      const cases: [string, string][] = [
        ["", "redis-20261128T100000Z.rdb"],
        ["$(stamp_of_time '2026-11-28 09:30:00+00')", "redis-20261128T090000Z.rdb"],
        ["$(stamp_of_time '2026-11-28 09:00:00+00')", "redis-20261128T090000Z.rdb"],
        ["$(stamp_of_time '2026-11-28 11:59:59+02')", "redis-20261128T090000Z.rdb"],
      ];
      for (const [max, expected] of cases) {
        const picked = lib(`newest_backup_file redis local ${max}`);
        expect(picked.status, picked.stderr).toBe(0);
        expect(picked.stdout.trim()).toBe(join(backupDir, "redis", expected));
      }
      const none = lib(`newest_backup_file redis local "$(stamp_of_time '2026-11-28 07:00:00+00')"`);
      expect(none.status).toBe(0);
      expect(none.stdout.trim()).toBe("");
    });
  });

  describe("log files and outputs files: they hold what was done and secrets", () => {
    const list = () => ["--dry-run", "--outputs", writeJson("o.json", baseOutputs())];

    it("the default log directory is made 700 and the log file 600 under umask 022", () => {
      const dir = join(root, "private-logs", "nested");
      const r = run(
        "bash",
        ["-c", `umask 022; exec "$@"`, "bash", join(REPO, "runbooks", "backup-list"), ...list()],
        {
          cwd: REPO,
          env: { ...process.env, BI_LOG_DIR: dir },
        },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(lstatSync(dir).mode & 0o777).toBe(0o700);
      const [file] = readdirSync(dir);
      expect(lstatSync(join(dir, file)).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(dir, file), "utf8")).toContain("backup-list info: log file:");
    });

    it("--log-file that is a symbolic link is refused; its target is untouched", () => {
      const target = join(root, "victim.txt");
      writeFileSync(target, "keep\n");
      const link = join(root, "link.log");
      symlinkSync(target, link);
      const r = runbook("backup-list", [...list(), "--log-file", link]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`--log-file '${link}' is a symbolic link`);
      expect(readFileSync(target, "utf8")).toBe("keep\n");
    });

    it("--log-file that is a directory is refused, naming it", () => {
      const r = runbook("backup-list", [...list(), "--log-file", root]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`--log-file '${root}' exists and is not a regular file of yours`);
    });

    it("warns when an outputs file is open to group or others, and proceeds", () => {
      const file = writeJson("shared.json", baseOutputs());
      chmodSync(file, 0o644);
      const shared = runbook("backup-list", ["--dry-run", "--outputs", file]);
      expect(shared.status, shared.stderr).toBe(0);
      expect(shared.stderr).toContain(
        `outputs file '${file}' holds secrets and group or others have access to it (mode 644): chmod 600 '${file}'`,
      );
      chmodSync(file, 0o600);
      expect(runbook("backup-list", ["--dry-run", "--outputs", file]).stderr).not.toContain("holds secrets");
    });
  });

  it("secrets from the outputs never reach a log file", () => {
    const logs = join(root, "logs");
    const text = readdirSync(logs)
      .map((f) => readFileSync(join(logs, f), "utf8"))
      .join("\n");
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain("pg-password-not-in-logs");
    expect(text).not.toContain("redis-password-not-in-logs");
    expect(text).not.toContain("grafana-password-not-in-logs");
  });

  it("every runbook and library is shellcheck-clean", () => {
    if (skipReason("shellcheck")) return;
    const files = [
      ...RUNBOOK_NAMES.map((r) => join("runbooks", r)),
      ...readdirSync(join(REPO, "runbooks", "lib")).map((f) => join("runbooks", "lib", f)),
    ];
    const result = run("shellcheck", ["-x", ...files], { cwd: REPO });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });
});
