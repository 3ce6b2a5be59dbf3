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
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  removeDir,
  run,
  runInBackground,
  which,
  skipReason,
  startDaemon,
  tempDir,
  waitFor,
  type RunResult,
} from "../support/tools";

const REPO = resolve(__dirname, "..", "..");
const RUNBOOK_NAMES = ["disaster-recovery", "backup-now", "backup-list", "backup-config", "env-lock"];

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
      dataDir: "/var/lib/postgresql/data",
    },
    redis: {
      container: "redis",
      host: "redis",
      port: 6379,
      password: "redis-password-not-in-logs",
      dataDir: "/data",
    },
    backups: {
      runnerContainer: "runner",
      dumpsDir: "/backups",
      textfileDir: "/var/lib/node_exporter/textfile",
      bucket: "acme-backups",
      region: "eu-west-1",
      replicaBucket: "acme-backups-replica",
      localVolume: "pgbackrest-repo",
      schedule: {},
      restoreAccessKeyId: "AKIARESTOREONLY",
      restoreSecretAccessKey: "restore-secret-not-in-logs",
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

  /**
   * A fresh fake local-seam tree; `unhealthy` containers never pass their health check. Each
   * container's `state` file is what one inspect would say ("RUNNING PID STATUS"): start makes it
   * running, stop makes it `afterStop[name]` (default "false 0 exited", as docker stop leaves it).
   */
  function fakeContainers(
    names: string[],
    unhealthy: string[] = [],
    afterStop: Record<string, string> = {},
  ): string {
    const dir = join(root, `containers-${n++}`);
    writeFileSync(calls, "");
    // The runner's commands run as postgres (run_in -u postgres) when the tests run as root.
    chmodSync(calls, 0o666);
    for (const name of names) {
      mkdirSync(join(dir, name), { recursive: true });
      const states = { start: `true ${100 + n} running`, stop: afterStop[name] ?? "false 0 exited" };
      for (const action of ["start", "stop"] as const) {
        writeFileSync(
          join(dir, name, action),
          `#!/usr/bin/env bash\necho "${action} ${name}" >>"${calls}"\n` +
            `printf '%s\\n' '${states[action]}' >"$(dirname "$0")/state"\n`,
        );
        chmodSync(join(dir, name, action), 0o755);
      }
      writeFileSync(join(dir, name, "state"), `true ${100 + n} running\n`);
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
      [
        "backup-list",
        ["--lock-wait", "5"],
        "--lock-wait: backup-list changes nothing, it takes no environment lock",
      ],
      ["backup-now", ["--lock-wait", "soon"], "--lock-wait needs whole seconds from 0 to 86400"],
      ["env-lock", ["run"], "run needs a command after --"],
      ["env-lock", ["status", "--", "true"], "only run takes a command after --"],
      ["env-lock", ["release", "--owner", "me"], "--owner needs the token acquire printed"],
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
      // the data directories: read from the env stack, never guessed (no fallback path)
      [".postgres.dataDir", (o: Outputs) => delete (o.postgres as Outputs).dataDir],
      [".redis.dataDir", (o: Outputs) => delete (o.redis as Outputs).dataDir],
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

    it("backup-config asks only for what it takes: --stack, never --outputs", () => {
      const help = runbook("backup-config", ["--help"]);
      expect(help.status).toBe(0);
      // not offered as an option; the text says why it takes none
      expect(help.stdout).not.toMatch(/^\s+--outputs\b/m);
      expect(help.stdout).toContain("so it takes no --outputs file");
      const refused = runbook("backup-config", ["--outputs", writeJson("o.json", baseOutputs())]);
      expect(refused.status).toBe(2);
      expect(refused.stderr).toContain(
        "backup-config reads the stacks with pulumi itself: use --stack ENV, not --outputs",
      );
      // without pulumi it says to install it, not to pass the --outputs it refuses
      const noPulumi = runbook("backup-config", ["--stack", "staging"], { PULUMI: "/nonexistent/pulumi" });
      expect(noPulumi.status).toBe(2);
      expect(noPulumi.stderr).toContain("the pulumi CLI ('/nonexistent/pulumi') is not on PATH; install it");
      expect(noPulumi.stderr).not.toContain("--outputs");
    });
  });

  describe("an unreachable Docker host is named once, before anything runs", () => {
    /** A docker CLI whose host is down: `version` fails as over SSH; every call is recorded. */
    function downDocker(): string {
      const bin = join(root, `bin-${n++}`);
      mkdirSync(bin);
      writeFileSync(
        join(bin, "docker"),
        `#!/usr/bin/env bash\necho "docker $*" >>"${calls}"\n` +
          `echo 'error during connect: Get "http://docker.example.com/v1.45/version": ssh: connect to host staging-host port 22: No route to host' >&2\nexit 1\n`,
      );
      chmodSync(join(bin, "docker"), 0o755);
      writeFileSync(calls, "");
      return bin;
    }

    it.each([
      ["disaster-recovery", ["restart", "--yes"]],
      ["disaster-recovery", ["restore", "--latest", "--yes"]],
      ["backup-now", ["--yes"]],
      ["env-lock", ["status"]],
      ["env-lock", ["run", "--", "true"]],
      ["status", ["--live"]],
      ["deploy", ["--image", "backend:1.2.3", "--yes"]],
      ["canary", ["--traffic-percentage", "10", "--yes"]],
      ["rollback", ["--yes"]],
    ])("%s %s", (name, args) => {
      const bin = downDocker();
      const end = args.includes("--") ? args.indexOf("--") : args.length;
      const given = [
        ...args.slice(0, end),
        "--outputs",
        writeJson("o.json", baseOutputs()),
        ...(name === "disaster-recovery" ? ["--slot-outputs", writeJson("s.json", SLOT)] : []),
        ...args.slice(end),
      ];
      const result = runbook(name, given, { PATH: `${bin}:${process.env.PATH ?? ""}` });
      expect(result.status).toBe(1);
      const named = result.stderr.match(/cannot reach the Docker host ssh:\/\/deploy@staging-host/g) ?? [];
      expect(named, result.stderr).toHaveLength(1);
      expect(result.stderr.match(/No route to host/g) ?? []).toHaveLength(1);
      expect(result.stderr).not.toMatch(/environment lock|backup runner|FAIL|missing/);
      // one question and nothing else: no lock, no container touched
      expect(recorded()).toEqual([
        "docker -H ssh://deploy@staging-host version --format {{.Server.Version}}",
      ]);
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
      // Where pgBackRest restores and where the old cluster goes carry this restore's UTC stamp.
      const lines = result.stdout
        .split("\n")
        .filter((l) => l.startsWith("[dry-run]"))
        .map((l) => l.replace(/\.(restore|before-restore)-\d{8}T\d{6}Z/g, ".$1-STAMP"));
      const data = "/var/lib/postgresql/data";
      expect(lines).toEqual([
        "[dry-run] docker -H ssh://deploy@staging-host version --format '{{.Server.Version}}' (the Docker host must answer within 20s)",
        `[dry-run] in runner: pgbackrest info --output=json: repo1 (local) has a backup and 2026-11-28 09:14:00+00 lies in its window (end of its earliest backup .. now); df: ${data} has room for the restored copy`,
        "[dry-run] docker -H ssh://deploy@staging-host stop blue-1",
        "[dry-run] docker -H ssh://deploy@staging-host stop blue-2",
        "[dry-run] docker -H ssh://deploy@staging-host stop pg",
        "[dry-run] docker -H ssh://deploy@staging-host inspect --type container --format '{{.State.Running}} {{.State.Pid}} {{.State.Status}}' pg (must say: false 0 exited|created)",
        `[dry-run] in runner: create ${data} (mode 700) if it is missing; ${data}/.restore-STAMP must not exist`,
        `[dry-run] docker -H ssh://deploy@staging-host exec -u postgres -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e PGBACKREST_REPO2_S3_KEY -e PGBACKREST_REPO2_S3_KEY_SECRET runner restore-postgres --target-dir ${data}/.restore-STAMP --from local --to 2026-11-28\\ 09:14:00+00`,
        `[dry-run] in runner: move the old cluster in ${data} aside into ${data}/.before-restore-STAMP, then the restored one from ${data}/.restore-STAMP into ${data} (renames in the volume; restore_command pointed at ${data})`,
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
        backups: { ...(baseOutputs().backups as Record<string, unknown>), runnerContainer: "runner" },
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
      const restorePg = indexOf(
        /restore-postgres --target-dir \S+\/\.restore-\d{8}T\d{6}Z --from s3 --latest$/,
      );
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

  /** A shell script for a fake; `body` is bash. */
  function fake(path: string, body: string): void {
    writeFileSync(path, `#!/usr/bin/env bash\n${body}\n`, { mode: 0o755 });
  }

  /** "2026-11-28 09:14:00+00" for an epoch second, as the runbook prints times. */
  const utc = (seconds: number) =>
    `${new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ")}+00`;
  /** The same time as --to takes it: 2026-11-28T09:14:00Z. */
  const iso = (seconds: number) => `${new Date(seconds * 1000).toISOString().slice(0, 19)}Z`;

  /**
   * A restore that can run to its end through the local seam. The runner's commands (pgbackrest,
   * restore-postgres, restore-redis), psql and curl are recording fakes on PATH; the data volume is
   * a directory with an old cluster that crashed (its postmaster.pid left behind). pgbackrest info
   * lists two backups in repo1 (the earliest ended two days ago) and one in repo2 (ten minutes ago).
   */
  function restoreFixture(afterStop: Record<string, string> = {}) {
    // The runner's commands run as postgres when the tests run as root: everything is reachable.
    chmodSync(root, 0o755);
    const dir = fakeContainers(["pg", "redis", "runner", "blue-1", "blue-2", "edge"], [], afterStop);
    writeFileSync(join(dir, "pg", "env"), "VERIFY_DB_USER=verify\n");
    const data = join(root, `pgdata-${n++}`);
    mkdirSync(join(data, "base"), { recursive: true });
    writeFileSync(join(data, "PG_VERSION"), "old cluster\n");
    writeFileSync(join(data, "postmaster.pid"), "4242\n");
    writeFileSync(join(data, "base", "1"), "old rows\n");
    for (const d of [data, join(data, "base")]) chmodSync(d, 0o777);
    const bin = join(root, `bin-${n++}`);
    mkdirSync(bin);
    chmodSync(bin, 0o755);
    const now = Math.floor(Date.now() / 1000);
    const earliestStop = now - 2 * 86400;
    const backup = (label: string, stop: number, repo: number, size: number) => ({
      label,
      type: "full",
      timestamp: { start: stop - 60, stop },
      database: { id: 1, "repo-key": repo },
      info: { size },
    });
    const info = join(root, `info-${n++}.json`);
    writeFileSync(
      info,
      JSON.stringify([
        {
          name: "main",
          status: { code: 0, message: "ok" },
          backup: [
            backup("F1", earliestStop, 1, 1048576),
            backup("F2", now - 3600, 1, 2097152),
            backup("F3", now - 600, 2, 2097152),
          ],
        },
      ]),
    );
    chmodSync(info, 0o644);
    fake(
      join(bin, "pgbackrest"),
      `echo "pgbackrest $*" >>"${calls}"\nif [[ "$*" == *"info --output=json"* ]]; then cat "${info}"; fi`,
    );
    // Like pgBackRest: refuses a target that exists, writes restore_command with --pg1-path.
    fake(
      join(bin, "restore-postgres"),
      `echo "restore-postgres $*" >>"${calls}"
while [[ $# -gt 0 ]]; do if [[ $1 == --target-dir ]]; then target=$2; fi; shift; done
[[ ! -e $target ]] || { echo "$target exists" >&2; exit 1; }
mkdir -p "$target"
echo restored >"$target/PG_VERSION"
echo "restore_command = 'pgbackrest --pg1-path=$target --stanza=main archive-get %f \\"%p\\"'" >"$target/postgresql.auto.conf"
[[ -z "\${FAIL_RESTORE:-}" ]] || { echo "pgbackrest restore failed" >&2; exit 1; }`,
    );
    fake(join(bin, "restore-redis"), `echo "restore-redis $*" >>"${calls}"`);
    fake(join(bin, "psql"), `if [[ "$*" == *pg_is_in_recovery* ]]; then echo f; exit 0; fi\ncat >/dev/null`);
    fake(join(bin, "curl"), "echo 200");
    const outputs = baseOutputs();
    (outputs.postgres as Outputs).dataDir = data;
    return {
      dir,
      data,
      now,
      earliestStop,
      args: ["--outputs", writeJson("o.json", outputs), "--slot-outputs", writeJson("s.json", SLOT)],
      env: { BI_SEAM: "local", BI_LOCAL_ROOT: dir, PATH: `${bin}:${process.env.PATH ?? ""}` },
    };
  }

  const asides = (data: string) => readdirSync(data).filter((f) => f.startsWith(".before-restore-"));

  describe("restores never touch a live database", () => {
    it("restores into a new directory, then moves the old cluster aside (postmaster.pid and all) and the restored one in", () => {
      const f = restoreFixture();
      const to = f.now - 1800;
      const result = runbook(
        "disaster-recovery",
        ["restore", "--to", iso(to), "--only", "postgres", "--yes", ...f.args],
        f.env,
      );
      expect(result.status, result.stderr).toBe(0);
      const calls = recorded();
      const at = (re: RegExp) => calls.findIndex((l) => re.test(l));
      // The window was read before anything stopped; the restore ran only after postgres stopped.
      expect(at(/^pgbackrest info --output=json$/)).toBeGreaterThanOrEqual(0);
      expect(at(/^pgbackrest info/)).toBeLessThan(at(/^stop blue-1$/));
      expect(at(/^stop pg$/)).toBeLessThan(at(/^restore-postgres /));
      expect(at(/^restore-postgres /)).toBeLessThan(at(/^start pg$/));
      const restore = calls[at(/^restore-postgres /)];
      // Into a new directory of the data volume, never --delta over the old cluster.
      const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      expect(restore).toMatch(
        new RegExp(
          `^restore-postgres --target-dir ${escape(f.data)}/\\.restore-\\d{8}T\\d{6}Z --from local --to ${escape(utc(to))}$`,
        ),
      );
      expect(restore).not.toContain("--delta");
      // The old cluster, its stale postmaster.pid included, is kept whole beside the new one.
      const [aside] = asides(f.data);
      expect(aside).toMatch(/^\.before-restore-\d{8}T\d{6}Z$/);
      expect(readFileSync(join(f.data, aside, "PG_VERSION"), "utf8")).toBe("old cluster\n");
      expect(readFileSync(join(f.data, aside, "postmaster.pid"), "utf8")).toBe("4242\n");
      expect(readFileSync(join(f.data, aside, "base", "1"), "utf8")).toBe("old rows\n");
      expect(readFileSync(join(f.data, "PG_VERSION"), "utf8")).toBe("restored\n");
      expect(existsSync(join(f.data, "postmaster.pid"))).toBe(false);
      expect(readdirSync(f.data).filter((e) => e.startsWith(".restore-"))).toEqual([]);
      // restore_command names the data directory the cluster now lives in.
      const conf = readFileSync(join(f.data, "postgresql.auto.conf"), "utf8");
      expect(conf).toContain(`--pg1-path=${f.data} --stanza=main`);
      expect(conf).not.toContain(".restore-");
      expect(result.stdout).toContain(
        `old postgres data: ${f.data}/${aside}; once the restore is verified, drop it: ` +
          `docker -H ssh://deploy@staging-host exec -u postgres runner rm -rf -- ${f.data}/${aside}`,
      );
      expect(existsSync(join(f.dir, ".env-lock"))).toBe(false);
    });

    it.each([
      ["still running", "true 321 running", "pg is not stopped (running=true, pid 321, status running)"],
      [
        "exited with a pid left",
        "false 4242 exited",
        "pg is not stopped (running=false, pid 4242, status exited)",
      ],
      ["paused", "true 321 paused", "pg is not stopped (running=true, pid 321, status paused)"],
      [
        "an answer of another shape",
        "false 0 exited $(touch /tmp/x)",
        "the state of pg is not 'RUNNING PID STATUS'",
      ],
      ["no answer", "", "the state of pg is not 'RUNNING PID STATUS'"],
    ])("refuses when the inspect after the stop says %s, and changes nothing", (_name, state, message) => {
      const f = restoreFixture({ pg: state });
      const result = runbook(
        "disaster-recovery",
        ["restore", "--only", "postgres", "--yes", ...f.args],
        f.env,
      );
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(message);
      expect(result.stdout).toMatch(/FAIL\s+postgres stopped \(one inspect: not running, pid 0\)/);
      expect(result.stderr).toContain(`PostgreSQL: ${f.data} was not changed`);
      expect(recorded()).toContain("stop pg");
      expect(recorded().filter((l) => /^(restore-postgres|start pg)/.test(l))).toEqual([]);
      expect(readFileSync(join(f.data, "PG_VERSION"), "utf8")).toBe("old cluster\n");
      expect(readFileSync(join(f.data, "postmaster.pid"), "utf8")).toBe("4242\n");
      expect(readdirSync(f.data).filter((e) => e.startsWith("."))).toEqual([]);
      expect(existsSync(join(f.dir, ".env-lock"))).toBe(false);
    });

    it("refuses a Redis restore while Redis still runs", () => {
      const f = restoreFixture({ redis: "true 77 running" });
      const result = runbook("disaster-recovery", ["restore", "--only", "redis", "--yes", ...f.args], f.env);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain("redis is not stopped (running=true, pid 77, status running)");
      expect(recorded().filter((l) => l.startsWith("restore-redis"))).toEqual([]);
    });

    it("a failed pgBackRest restore leaves the data directory as it was and removes its incomplete copy", () => {
      const f = restoreFixture();
      const result = runbook("disaster-recovery", ["restore", "--only", "postgres", "--yes", ...f.args], {
        ...f.env,
        FAIL_RESTORE: "1",
      });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/removing the incomplete restore \S+\/\.restore-\d{8}T\d{6}Z/);
      expect(result.stderr).toContain(`PostgreSQL: ${f.data} was not changed`);
      expect(readdirSync(f.data).sort()).toEqual(["PG_VERSION", "base", "postmaster.pid"]);
      expect(readFileSync(join(f.data, "PG_VERSION"), "utf8")).toBe("old cluster\n");
      expect(existsSync(join(f.dir, ".env-lock"))).toBe(false);
    });

    it("--to outside the backup window exits 2 naming --to and the window, before anything stops", () => {
      const f = restoreFixture();
      const cases: [number, string[], string][] = [
        // before the end of the earliest backup (inside it: not a consistent point yet)
        [
          f.earliestStop - 30,
          [],
          `is outside the backup window of repo1 (local): ${utc(f.earliestStop)} (end of its earliest backup) .. now (`,
        ],
        [f.earliestStop - 86400, [], `is outside the backup window of repo1 (local): ${utc(f.earliestStop)}`],
        // repo2 starts ten minutes ago
        [f.now - 3600, ["--from", "s3"], `is outside the backup window of repo2 (s3): ${utc(f.now - 600)}`],
        [f.now + 86400, [], `is in the future (now `],
      ];
      for (const [to, extra, message] of cases) {
        const result = runbook(
          "disaster-recovery",
          ["restore", "--to", iso(to), "--only", "postgres", ...extra, "--yes", ...f.args],
          f.env,
        );
        expect(result.status, result.stderr).toBe(2);
        expect(result.stderr).toContain(`--to ${utc(to)} ${message}`);
        expect(result.stderr).toContain("nothing was stopped");
        expect(recorded().filter((l) => /^(stop|restore)/.test(l))).toEqual([]);
        expect(existsSync(join(f.dir, ".env-lock"))).toBe(false);
      }
      // The end of the earliest backup itself is inside.
      const edge = runbook(
        "disaster-recovery",
        ["restore", "--to", iso(f.earliestStop), "--only", "postgres", "--yes", ...f.args],
        f.env,
      );
      expect(edge.status, edge.stderr).toBe(0);
    });

    it("a repository without a backup, or a data volume without room, is refused before anything stops", () => {
      const f = restoreFixture();
      const bin = join(root, `bin-${n++}`);
      mkdirSync(bin);
      chmodSync(bin, 0o755);
      fake(join(bin, "pgbackrest"), `echo '[{"name":"main","backup":[]}]'`);
      const empty = runbook("disaster-recovery", ["restore", "--only", "postgres", "--yes", ...f.args], {
        ...f.env,
        PATH: `${bin}:${f.env.PATH}`,
      });
      expect(empty.status).toBe(1);
      expect(empty.stderr).toContain("repo1 (local) has no backup of stanza main: nothing to restore from");
      fake(
        join(bin, "df"),
        `printf 'Filesystem 1024-blocks Used Available Capacity Mounted on\\nx 100 99 1 99%% /\\n'`,
      );
      removeDir(join(bin, "pgbackrest"));
      const full = runbook("disaster-recovery", ["restore", "--only", "postgres", "--yes", ...f.args], {
        ...f.env,
        PATH: `${bin}:${f.env.PATH}`,
      });
      expect(full.status).toBe(1);
      expect(full.stderr).toContain(`${f.data} has 0 MiB free, and the backup to restore holds 2 MiB`);
      expect(recorded().filter((l) => /^(stop|restore)/.test(l))).toEqual([]);
    });

    it("no runbook deletes postmaster.pid", () => {
      const files = [
        ...readdirSync(join(REPO, "runbooks"))
          .filter((f) => f !== "lib")
          .map((f) => join(REPO, "runbooks", f)),
        ...readdirSync(join(REPO, "runbooks", "lib")).map((f) => join(REPO, "runbooks", "lib", f)),
      ];
      const deletes = files.flatMap((file) =>
        readFileSync(file, "utf8")
          .split("\n")
          .filter((l) => /postmaster\.pid/.test(l) && /\b(rm|unlink|shred|truncate)\b|-delete\b/.test(l))
          .map((l) => `${file}: ${l.trim()}`),
      );
      expect(deletes).toEqual([]);
    });
  });

  describe("the environment lock", () => {
    const ALL = ["pg", "redis", "runner", "blue-1", "blue-2", "edge", "prometheus", "alertmanager"];
    const lockDir = (dir: string) => join(dir, ".env-lock");
    const restartArgs = () => [
      "restart",
      "--yes",
      "--timeout",
      "5",
      "--outputs",
      writeJson("o.json", baseOutputs()),
      "--slot-outputs",
      writeJson("s.json", SLOT),
    ];
    const TOKEN = "0123456789abcdef01234567";

    /** Fake containers whose postgres stop waits until the file `release` exists. */
    function blockingContainers(): { dir: string; release: string } {
      const dir = fakeContainers(ALL);
      const release = join(dir, "release");
      fake(
        join(dir, "pg", "stop"),
        `while [[ ! -e "${release}" ]]; do sleep 0.05; done\necho "stop pg" >>"${calls}"\necho 'false 0 exited' >"$(dirname "$0")/state"`,
      );
      return { dir, release };
    }

    function lockEnv(dir: string): NodeJS.ProcessEnv {
      return {
        ...process.env,
        BI_SEAM: "local",
        BI_LOCAL_ROOT: dir,
        BI_LOG_DIR: join(root, "logs"),
        BI_POLL_SECONDS: "0.1",
        BI_LOCK_POLL_SECONDS: "0.2",
      };
    }

    it("a second state-changing runbook is refused naming the holder, waits with --lock-wait, gets it once the first ends; --dry-run takes none", async () => {
      const { dir, release } = blockingContainers();
      const first = runInBackground(join(REPO, "runbooks", "disaster-recovery"), restartArgs(), {
        cwd: REPO,
        env: lockEnv(dir),
      });
      await waitFor(
        "the first runbook to hold the lock",
        () =>
          existsSync(join(lockDir(dir), "owner")) &&
          readFileSync(join(lockDir(dir), "owner"), "utf8").includes("restart"),
      );
      const outputs = writeJson("o.json", baseOutputs());
      const env = { BI_SEAM: "local", BI_LOCAL_ROOT: dir, BI_LOCK_POLL_SECONDS: "0.2" };
      const holder =
        /environment staging is locked by [^@\s]+@\S+, runbook disaster-recovery restart, pid \d+, since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(last refreshed \d+s ago; lock local seam: \S+\/\.env-lock\); waited /;
      const refused = runbook("backup-now", ["--yes", "--outputs", outputs], env);
      expect(refused.status).toBe(4);
      expect(refused.stderr).toMatch(holder);
      expect(refused.stderr).toContain("waited 0s");
      const started = Date.now();
      const waited = runbook(
        "disaster-recovery",
        ["restore", "--yes", "--lock-wait", "1", ...restartArgs().slice(4)],
        env,
      );
      expect(waited.status).toBe(4);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(waited.stderr).toMatch(
        /waiting up to 1s for the environment lock of staging, held by \S+@\S+, runbook disaster-recovery restart/,
      );
      expect(waited.stderr).toMatch(holder);
      const dry = runbook("backup-now", ["--dry-run", "--outputs", outputs], env);
      expect(dry.status, dry.stderr).toBe(0);
      expect(dry.stderr).toContain("dry run: would take the environment lock of staging");
      expect(recorded().filter((l) => l.startsWith("stop"))).toEqual([]); // the first is still stopping pg
      writeFileSync(release, "");
      const done = await first.done;
      expect(done.status, done.stderr).toBe(0);
      expect(done.stderr).toContain("environment lock released");
      expect(existsSync(lockDir(dir))).toBe(false);
      const next = runbook("env-lock", ["run", "--outputs", outputs, "--", "true"], env);
      expect(next.status, next.stderr).toBe(0);
    });

    it("is released when the runbook ends, when it fails, and when it is interrupted", async () => {
      const ok = fakeContainers(ALL);
      expect(
        runbook("disaster-recovery", restartArgs(), { BI_SEAM: "local", BI_LOCAL_ROOT: ok }).status,
      ).toBe(0);
      expect(existsSync(lockDir(ok))).toBe(false);
      const failing = fakeContainers(ALL, ["blue-1"]);
      const failed = runbook("disaster-recovery", [...restartArgs(), "--timeout", "1"], {
        BI_SEAM: "local",
        BI_LOCAL_ROOT: failing,
      });
      expect(failed.status).toBe(1);
      expect(failed.stderr).toContain("environment lock released");
      expect(existsSync(lockDir(failing))).toBe(false);
      const { dir, release } = blockingContainers();
      const daemon = startDaemon(join(REPO, "runbooks", "disaster-recovery"), restartArgs(), {
        cwd: REPO,
        env: lockEnv(dir),
      });
      await waitFor("the runbook to hold the lock", () =>
        daemon.output().includes("environment lock of staging taken"),
      );
      daemon.process.kill("SIGTERM");
      // bash runs the trap once the stop it waits for returns.
      writeFileSync(release, "");
      await waitFor(
        "the runbook to exit",
        () => daemon.process.exitCode !== null || daemon.process.signalCode !== null,
      );
      expect(daemon.process.exitCode).toBe(143);
      expect(daemon.output()).toContain("environment lock released");
      expect(existsSync(lockDir(dir))).toBe(false);
    });

    it("a stale lock is taken over and its holder named; a fresh one is not, and what it holds is shown as text", () => {
      const dir = fakeContainers(["runner"]);
      const outputs = writeJson("o.json", baseOutputs());
      const marker = join(root, `pwned-${n++}`);
      mkdirSync(lockDir(dir));
      writeFileSync(
        join(lockDir(dir), "owner"),
        `${TOKEN}\nbob@gone-host, runbook deploy x:1, pid 99, since 2026-01-01T00:00:00Z \u001b[31m$(touch ${marker})\n`,
      );
      const env = { BI_SEAM: "local", BI_LOCAL_ROOT: dir };
      const fresh = runbook("env-lock", ["run", "--outputs", outputs, "--", "true"], env);
      expect(fresh.status).toBe(4);
      expect(fresh.stderr).toContain(
        `environment staging is locked by bob@gone-host, runbook deploy x:1, pid 99, since 2026-01-01T00:00:00Z [31m$(touch ${marker})`,
      );
      expect(fresh.stderr).not.toContain("\u001b");
      expect(existsSync(marker)).toBe(false);
      const hourAgo = new Date(Date.now() - 3600_000);
      utimesSync(lockDir(dir), hourAgo, hourAgo);
      const stale = runbook("env-lock", ["run", "--outputs", outputs, "--", "true"], env);
      expect(stale.status, stale.stderr).toBe(0);
      expect(stale.stderr).toMatch(
        /took over a stale environment lock of staging: not refreshed for 36\d\ds \(more than 120s\); it was held by bob@gone-host, runbook deploy x:1, pid 99/,
      );
      expect(existsSync(lockDir(dir))).toBe(false);
      expect(existsSync(marker)).toBe(false);
    });

    it("env-lock: runbooks under `run` or with the token of `acquire` run under that lock; release and status", () => {
      const dir = fakeContainers(ALL);
      const outputs = writeJson("o.json", baseOutputs());
      const env = { BI_SEAM: "local", BI_LOCAL_ROOT: dir, BI_LOCK_REFRESH_SECONDS: "1" };
      const restart = join(REPO, "runbooks", "disaster-recovery");
      const nested = runbook("env-lock", ["run", "--outputs", outputs, "--", restart, ...restartArgs()], env);
      expect(nested.status, nested.stderr).toBe(0);
      expect(nested.stderr).toMatch(
        /held by the caller \(\S+@\S+, runbook env-lock run: disaster-recovery restart, pid \d+/,
      );
      expect(existsSync(lockDir(dir))).toBe(false);

      const acquired = runbook("env-lock", ["acquire", "--outputs", outputs], env);
      expect(acquired.status, acquired.stderr).toBe(0);
      const token = /^BI_ENV_LOCK_OWNER=([0-9a-f]{24})$/.exec(acquired.stdout.trim())?.[1] ?? "";
      expect(token).toMatch(/^[0-9a-f]{24}$/);
      expect(runbook("env-lock", ["status", "--outputs", outputs], env).stdout).toMatch(
        /^environment staging: locked by \S+@\S+, runbook env-lock acquire, pid \d+, since \S+; last refreshed \d+s ago/,
      );
      expect(runbook("disaster-recovery", restartArgs(), env).status).toBe(4);
      const under = runbook("disaster-recovery", restartArgs(), { ...env, BI_ENV_LOCK_OWNER: token });
      expect(under.status, under.stderr).toBe(0);
      expect(under.stderr).toContain("held by the caller");
      expect(existsSync(lockDir(dir))).toBe(true); // a nested runbook does not release its caller's lock
      const wrong = runbook("env-lock", ["release", "--outputs", outputs, "--owner", TOKEN], env);
      expect(wrong.status).toBe(4);
      expect(wrong.stderr).toMatch(/it is held by \S+@\S+, runbook env-lock acquire/);
      const released = runbook("env-lock", ["release", "--outputs", outputs], {
        ...env,
        BI_ENV_LOCK_OWNER: token,
      });
      expect(released.status, released.stderr).toBe(0);
      expect(released.stderr).toContain("environment lock released");
      expect(existsSync(lockDir(dir))).toBe(false);
      expect(runbook("env-lock", ["status", "--outputs", outputs], env).stdout).toMatch(/the lock is free/);
      // break removes a lock whoever holds it, after the confirmation.
      runbook("env-lock", ["acquire", "--outputs", outputs], env);
      const broken = runbook("env-lock", ["break", "--yes", "--outputs", outputs], env);
      expect(broken.status, broken.stderr).toBe(0);
      expect(broken.stderr).toMatch(/broke the environment lock held by \S+@\S+, runbook env-lock acquire/);
      expect(existsSync(lockDir(dir))).toBe(false);
    });

    it("the docker seam: a directory in the backup runner, reached with docker exec -u postgres; its answers are checked", () => {
      const bin = join(root, `bin-${n++}`);
      const home = join(root, `runner-backups-${n++}`);
      mkdirSync(bin);
      mkdirSync(home);
      // `docker -H HOST exec -u postgres RUNNER sh -c SNIPPET ARGS...` runs SNIPPET here, with the
      // runner's BACKUP_DIR; HOSTILE=1 answers like a compromised runner would.
      fake(
        join(bin, "docker"),
        `echo "docker $1 $2 $3 $4 $5 $6 $7 $8" >>"${calls}"
[[ $3 == version ]] && { echo 24.0.5; exit 0; }
[[ $3 == exec && $7 == sh && $8 == -c ]] || exit 64
echo "Warning: Permanently added 'staging-host' (ED25519) to the list of known hosts." >&2
if [[ -n "\${HOSTILE:-}" ]]; then printf 'busy 1+a[$(touch %s)] 5\\n${TOKEN}\\nx\\n' "${home}/pwned"; exit 0; fi
shift 8
BACKUP_DIR="${home}" exec sh -c "$@"`,
      );
      writeFileSync(calls, "");
      const outputs = writeJson("o.json", baseOutputs());
      const env = { PATH: `${bin}:${process.env.PATH ?? ""}` };
      const ok = runbook(
        "env-lock",
        ["run", "--outputs", outputs, "--", "test", "-d", join(home, ".env-lock")],
        env,
      );
      expect(ok.status, ok.stderr).toBe(0);
      // One question to the Docker host first, then the lock.
      expect(recorded().slice(0, 2)).toEqual([
        "docker -H ssh://deploy@staging-host version --format {{.Server.Version}}   ",
        "docker -H ssh://deploy@staging-host exec -u postgres runner sh -c",
      ]);
      expect(ok.stderr).toContain("runner:/backups/.env-lock on ssh://deploy@staging-host");
      // What ssh says on stderr is logged, never taken for the lock's answer.
      expect(ok.stderr).toContain(
        "Warning: Permanently added 'staging-host' (ED25519) to the list of known hosts.",
      );
      expect(existsSync(join(home, ".env-lock"))).toBe(false);
      const hostile = runbook("env-lock", ["run", "--outputs", outputs, "--", "true"], {
        ...env,
        HOSTILE: "1",
      });
      expect(hostile.status).toBe(1);
      expect(hostile.stderr).toContain(
        "the lock's refresh time from the environment lock (busy) is not a whole number",
      );
      expect(existsSync(join(home, "pwned"))).toBe(false);
    });

    it("the docker seam: one inspect decides whether a container is stopped", () => {
      const bin = join(root, `bin-${n++}`);
      mkdirSync(bin);
      fake(
        join(bin, "docker"),
        `echo "docker $*" >>"${calls}"\n[[ -n "\${INSPECT_FAILS:-}" ]] && { echo "error during connect: ssh: handshake failed" >&2; exit 1; }\nprintf '%s\\n' "$STATE"`,
      );
      const outputs = writeJson("o.json", baseOutputs());
      const stopped = (state: string, extra: Record<string, string> = {}) => {
        writeFileSync(calls, "");
        return run(
          "bash",
          [
            "-c",
            `set -euo pipefail; . runbooks/lib/common.sh; outputs_load --outputs '${outputs}'; container_stopped pg`,
          ],
          {
            cwd: REPO,
            env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, STATE: state, ...extra },
          },
        );
      };
      expect(stopped("false 0 exited").status).toBe(0);
      expect(recorded()).toEqual([
        "docker -H ssh://deploy@staging-host inspect --type container --format {{.State.Running}} {{.State.Pid}} {{.State.Status}} pg",
      ]);
      expect(stopped("false 0 created").status).toBe(0);
      for (const state of [
        "true 1234 running",
        "false 1234 exited",
        "true 1234 restarting",
        "false 0 dead",
        "false 0 exited\nfalse 0 exited",
        "false 00 exited",
        "stopped",
      ]) {
        const r = stopped(state);
        expect(r.status, state).toBe(1);
        expect(r.stderr, state).toMatch(/pg is not stopped|the state of pg is not/);
      }
      const flaky = stopped("false 0 exited", { INSPECT_FAILS: "1" });
      expect(flaky.status).toBe(1);
      expect(flaky.stderr).toContain("docker inspect of pg failed");
      expect(flaky.stderr).toContain("cannot tell whether pg is stopped: not touching its data");
    });
  });

  describe("lib/outputs.sh: the outputs are parsed once; values arrive whole and never run", () => {
    it("one jq per load however many fields are read; secrets with newlines, tabs and $(...) intact", () => {
      const marker = join(root, `pwned-${n++}`);
      const tricky = `line one\nline\ttwo $(touch ${marker}) \`touch ${marker}\` "double" 'single' \\ end`;
      const outputs = baseOutputs();
      (outputs.postgres as Outputs).password = tricky;
      outputs.extra = { list: ["a b", "c\td", 3, { x: 1 }], nested: { "odd key": 7 } };
      const file = writeJson("tricky.json", outputs);
      const bin = join(root, `bin-${n++}`);
      const count = join(root, `jq-count-${n++}`);
      mkdirSync(bin);
      writeFileSync(
        join(bin, "jq"),
        `#!/usr/bin/env bash\necho x >>"${count}"\nexec "${which("jq")}" "$@"\n`,
        {
          mode: 0o755,
        },
      );
      const script = `set -euo pipefail; . runbooks/lib/common.sh; outputs_load --outputs '${file}'
        printf '%s' "$(output_field .postgres.password)" >'${file}.password'
        for i in $(seq 1 40); do output_field .postgres.container >/dev/null; output_field_or .nope.x d >/dev/null; done
        echo "weights=$(output_field .traffic.weights) port=$(output_field .postgres.port) or=$(output_field_or .postgres.nope dflt)"
        output_has .edge.url && echo has-url; output_has .postgres.nope || echo no-nope
        output_list .extra.list; output_strings .monitoring.containers; echo "jq-count=$(wc -l <'${count}')"`;
      const r = run("bash", ["-c", script], {
        cwd: REPO,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
      });
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(`${file}.password`, "utf8")).toBe(tricky);
      expect(existsSync(marker)).toBe(false);
      expect(r.stdout).toBe(
        [
          'weights={"blue":100,"green":0} port=5432 or=dflt',
          "has-url",
          "no-nope",
          "a b",
          "c\td",
          "3",
          '{"x":1}',
          "prometheus",
          "alertmanager",
          // 80 field reads and the lists: the one jq of the load
          "jq-count=1",
          "",
        ].join("\n"),
      );
    });

    it("a missing field, a parent of another type, and jq expressions behave as before", () => {
      const outputs = { ...baseOutputs(), extra: { nested: { "odd key": 7 } } };
      const file = writeJson("o.json", outputs);
      const lib = (body: string) =>
        run(
          "bash",
          ["-c", `set -euo pipefail; . runbooks/lib/common.sh; outputs_load --outputs '${file}'; ${body}`],
          {
            cwd: REPO,
          },
        );
      const missing = lib("output_field .postgres.nope");
      expect(missing.status).toBe(2);
      expect(missing.stderr).toContain(
        `stack output field '.postgres.nope' is missing (or null) in outputs file '${file}'; the runbooks need it`,
      );
      const parent = lib("output_field .environment.name");
      expect(parent.status).toBe(2);
      expect(parent.stderr).toContain(
        `stack output field '.environment.name' cannot be read in outputs file '${file}' (a parent field has another type)`,
      );
      expect(lib("output_list .environment").stderr).toContain(
        `stack output field '.environment' in outputs file '${file}' is not an array`,
      );
      expect(
        lib(`output_field '.extra.nested."odd key"'; output_field '.monitoring.containers | keys | length'`)
          .stdout,
      ).toBe("7\n2\n");
      expect(lib("output_field '.broken ||'").stderr).toContain(
        "output path '.broken ||' is not a valid jq path",
      );
      // a reload (after a lock, a switch) answers from the new document, not what an earlier load left
      const prod = writeJson("prod.json", { ...outputs, environment: "prod" });
      expect(
        lib(
          `echo "$(output_field .environment)"; OUTPUTS_JSON=""; outputs_load --outputs '${prod}'; output_field .environment`,
        ).stdout,
      ).toBe("staging\nprod\n");
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
    const at = (iso: string) => new Date(iso).getTime() / 1000;
    const backupLib = (dir: string, outputs: string, body: string, path = process.env.PATH ?? "") =>
      run(
        "bash",
        [
          "-c",
          `set -euo pipefail; . runbooks/lib/common.sh; . runbooks/lib/backups.sh; outputs_load --outputs '${outputs}'; ${body}`,
        ],
        { cwd: REPO, env: { ...process.env, PATH: path, BI_SEAM: "local", BI_LOCAL_ROOT: dir } },
      );

    it("orders local files by modification time, not by the stamp in their name, and picks only manifested ones", () => {
      const dir = fakeContainers(["runner"]);
      const backupDir = join(root, `backup-dir-${n++}`);
      const redisDir = join(backupDir, "redis");
      mkdirSync(redisDir, { recursive: true });
      const put = (name: string, written: string, manifest = true) => {
        const file = join(redisDir, name);
        writeFileSync(file, "REDIS0011");
        utimesSync(file, at(written), at(written));
        if (manifest) writeFileSync(`${file}.manifest.json`, "{}");
      };
      // A name stamped in the future, written first: it must not become "the newest".
      put("redis-20991231T000000Z.rdb", "2026-11-28T07:30:00Z");
      put("redis-20261128T080000Z.rdb", "2026-11-28T08:00:00Z");
      put("redis-20261128T090000Z.rdb", "2026-11-28T09:00:00Z");
      put("redis-20261128T100000Z.rdb", "2026-11-28T10:00:00Z");
      // Newest of all, but no manifest (an interrupted job, or a file dropped in by hand).
      put("redis-20261128T103000Z.rdb", "2026-11-28T10:30:00Z", false);
      writeFileSync(join(redisDir, "notes.txt"), "not a backup");
      writeFileSync(join(redisDir, "redis-latest.rdb"), "no stamp: ignored");
      chmodSync(root, 0o755);
      for (const d of [backupDir, redisDir]) chmodSync(d, 0o755);
      writeFileSync(join(dir, "runner", "env"), `BACKUP_DIR=${backupDir}\n`);
      const outputs = writeJson("o.json", {
        ...baseOutputs(),
        backups: { ...(baseOutputs().backups as Record<string, unknown>), runnerContainer: "runner" },
      });
      const lib = (body: string) => backupLib(dir, outputs, body);
      const all = lib("backup_files redis local");
      expect(all.status, all.stderr).toBe(0);
      expect(all.stdout.trim().split("\n")).toEqual([
        `20261128T073000Z ${join(redisDir, "redis-20991231T000000Z.rdb")} manifest`,
        `20261128T080000Z ${join(redisDir, "redis-20261128T080000Z.rdb")} manifest`,
        `20261128T090000Z ${join(redisDir, "redis-20261128T090000Z.rdb")} manifest`,
        `20261128T100000Z ${join(redisDir, "redis-20261128T100000Z.rdb")} manifest`,
        `20261128T103000Z ${join(redisDir, "redis-20261128T103000Z.rdb")} none`,
      ]);
      const cases: [string, string][] = [
        ["", "redis-20261128T100000Z.rdb"],
        ["$(stamp_of_time '2026-11-28 09:30:00+00')", "redis-20261128T090000Z.rdb"],
        ["$(stamp_of_time '2026-11-28 09:00:00+00')", "redis-20261128T090000Z.rdb"],
        ["$(stamp_of_time '2026-11-28 11:59:59+02')", "redis-20261128T090000Z.rdb"],
        ["$(stamp_of_time '2026-11-28 07:45:00+00')", "redis-20991231T000000Z.rdb"],
      ];
      for (const [max, expected] of cases) {
        const picked = lib(`newest_backup_file redis local ${max}`);
        expect(picked.status, picked.stderr).toBe(0);
        expect(picked.stdout.trim(), max).toBe(join(redisDir, expected));
      }
      const none = lib(`newest_backup_file redis local "$(stamp_of_time '2026-11-28 07:00:00+00')"`);
      expect(none.status).toBe(0);
      expect(none.stdout.trim()).toBe("");
    });

    it("lists S3 by LastModified with the read-only restore identity, not the runner's writer key", () => {
      const dir = fakeContainers(["runner"]);
      // A runner whose backup-pg sits beside a lib/backup-common.sh with a recording aws_s3.
      const image = join(root, `image-${n++}`);
      mkdirSync(join(image, "bin"), { recursive: true });
      mkdirSync(join(image, "lib"));
      const listing = join(image, "listing.json");
      const seen = join(image, "seen");
      const key = (name: string, modified: string) => ({ Key: `redis/${name}`, LastModified: modified });
      writeFileSync(
        listing,
        JSON.stringify({
          Contents: [
            key("redis-20991231T000000Z.rdb", "2026-11-28T07:30:00.000Z"),
            key("redis-20991231T000000Z.rdb.manifest.json", "2026-11-28T07:30:01.000Z"),
            key("redis-20261128T090000Z.rdb", "2026-11-28T09:00:04+00:00"),
            key("redis-20261128T090000Z.rdb.manifest.json", "2026-11-28T09:00:05+00:00"),
            key("redis-20261128T100000Z.rdb", "2026-11-28T10:00:04.512Z"),
            key("redis 20261128T110000Z.rdb", "2026-11-28T11:00:00.000Z"),
            key("redis-20261128T110000Z.rdb\nx", "2026-11-28T11:00:00.000Z"),
          ],
        }),
      );
      writeFileSync(join(image, "bin", "backup-pg"), "#!/bin/sh\n", { mode: 0o755 });
      // The listing runs as postgres (run_in -u postgres): it must reach the files and write `seen`.
      writeFileSync(seen, "");
      chmodSync(seen, 0o666);
      for (const d of [root, image, join(image, "bin"), join(image, "lib")]) chmodSync(d, 0o755);
      writeFileSync(
        join(image, "lib", "backup-common.sh"),
        `aws_s3() { printf '%s %s\\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >${seen}; cat ${listing}; }\n`,
      );
      writeFileSync(
        join(dir, "runner", "env"),
        "S3_BUCKET=acme-backups\nAWS_ACCESS_KEY_ID=AKIAWRITER\nAWS_SECRET_ACCESS_KEY=writer-secret\n",
      );
      const outputs = writeJson("o.json", {
        ...baseOutputs(),
        backups: { ...(baseOutputs().backups as Record<string, unknown>), runnerContainer: "runner" },
      });
      const path = `${join(image, "bin")}:${process.env.PATH ?? ""}`;
      const all = backupLib(dir, outputs, "backup_files redis s3", path);
      expect(all.status, all.stderr).toBe(0);
      expect(all.stdout.trim().split("\n")).toEqual([
        "20261128T073000Z s3://acme-backups/redis/redis-20991231T000000Z.rdb manifest",
        "20261128T090004Z s3://acme-backups/redis/redis-20261128T090000Z.rdb manifest",
        "20261128T100004Z s3://acme-backups/redis/redis-20261128T100000Z.rdb none",
      ]);
      expect(readFileSync(seen, "utf8")).toBe("AKIARESTOREONLY restore-secret-not-in-logs\n");
      const picked = backupLib(dir, outputs, "newest_backup_file redis s3", path);
      expect(picked.stdout.trim()).toBe("s3://acme-backups/redis/redis-20261128T090000Z.rdb");

      const hidden = writeJson("hidden.json", {
        ...baseOutputs(),
        backups: {
          ...(baseOutputs().backups as Record<string, unknown>),
          restoreSecretAccessKey: "[secret]",
        },
      });
      const refused = backupLib(dir, hidden, "backup_files redis s3", path);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain("--show-secrets");
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

    it("the log keeps every line: printing a report or timeline into it does not cut it", () => {
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
      const log = join(root, `restart-${n++}.log`);
      const r = runbook(
        "disaster-recovery",
        [
          "restart",
          "--yes",
          "--log-file",
          log,
          "--outputs",
          writeJson("o.json", baseOutputs()),
          "--slot-outputs",
          writeJson("s.json", SLOT),
        ],
        { BI_SEAM: "local", BI_LOCAL_ROOT: dir },
      );
      expect(r.status, r.stderr).toBe(0);
      const text = readFileSync(log, "utf8");
      const order = [
        "log file: ",
        "environment lock of staging taken",
        "confirmed by --yes",
        "restart report",
        "restart complete",
      ];
      const at = order.map((line) => text.indexOf(line));
      expect(
        at.every((i) => i >= 0),
        text,
      ).toBe(true);
      expect([...at].sort((a, b) => a - b)).toEqual(at);
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
