/**
 * The blue/green runbooks (deploy, canary, rollback, status): argument handling, --dry-run
 * output, the order of pulumi commands, and stopping at the first failed check. pulumi and the
 * switch CLI are replaced by recording fakes (PULUMI / SWITCH_CLI seams); containers are reached
 * through the runbooks' local seam, and a real HTTP server plays the smoke-tested slot.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { colourWeights } from "../../lib/traffic-weights";
import { runProgram } from "../harness/run-program";
import {
  freePort,
  removeDir,
  run,
  skipReason,
  startDaemon,
  tempDir,
  waitFor,
  type Daemon,
} from "../support/tools";

const RUNBOOKS = resolve(__dirname, "..", "..", "runbooks");
const REPO = resolve(RUNBOOKS, "..");
/** The flags of every runbook `pulumi up`, as in .github/workflows/deploy.yml, with absolute paths. */
const policyFlags = (env: string, root = REPO) =>
  `--policy-pack ${root}/policies --policy-pack-config ${root}/policies/config/${env}.json`;
const DIGEST = "sha256:" + "a".repeat(64);
const IMAGE = `ghcr.io/acme/backend:1.4.2@${DIGEST}`;

describe.skipIf(skipReason("jq", "bash"))("traffic runbooks", () => {
  let dir: string;
  let server: Daemon;
  let port: number;
  /** The colour the fake slot answers /ping with (read per request from this file). */
  const setPingColour = (colour: string) => writeFileSync(join(dir, "ping-colour"), colour);

  const envOutputs = (active: string, canaryPercent = 0) => ({
    environment: "prod",
    dockerHost: "ssh://deploy@docker-prod-1.example.com",
    edge: {
      container: "backend-infra-prod-edge",
      url: "https://api.example.com",
      adminSocket: "/run/haproxy/admin.sock",
      adminTcp: "127.0.0.1:9999",
    },
    traffic: {
      active,
      canaryPercent,
      weights: colourWeights({ active: active as "blue" | "green", canaryPercent }),
    },
  });
  const slotOutputs = (slot: string) => ({
    environment: "prod",
    slot,
    image: `ghcr.io/acme/backend@sha256:${(slot === "blue" ? "b" : "c").repeat(64)}`,
    containers: [
      `backend-infra-prod-backend-${slot}-1-abcd1234`,
      `backend-infra-prod-backend-${slot}-2-abcd1234`,
    ],
    upstream: `backend-${slot}:${port}`,
  });

  const files = () => ({
    env: join(dir, "env.json"),
    blue: join(dir, "blue.json"),
    green: join(dir, "green.json"),
    pulumiLog: join(dir, "pulumi.log"),
    after: join(dir, "env-after.json"),
  });

  const runbook = (name: string, args: string[], env: Record<string, string> = {}) => {
    const f = files();
    writeFileSync(f.pulumiLog, "");
    const result = run(join(RUNBOOKS, name), args, {
      timeout: 60_000,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        BI_LOG_DIR: join(dir, "logs"),
        PULUMI: `bash ${join(dir, "fake-pulumi")}`,
        SWITCH_CLI: `bash ${join(dir, "fake-switch")}`,
        PULUMI_LOG: f.pulumiLog,
        ENV_AFTER: f.after,
        BI_SEAM: "local",
        BI_LOCAL_ROOT: join(dir, "containers"),
        BI_POLL_SECONDS: "0.1",
        BI_HEALTH_TIMEOUT: "3",
        ...env,
      },
      input: "",
    });
    const pulumiCalls = readFileSync(f.pulumiLog, "utf8").trim().split("\n").filter(Boolean);
    return { ...result, pulumiCalls };
  };

  beforeAll(async () => {
    dir = tempDir("traffic-runbooks");
    port = await freePort();
    // The idle slot's backend, as the smoke test sees it inside the container. A separate process:
    // the runbooks run synchronously and would block a server in this one.
    setPingColour("green");
    server = startDaemon(process.execPath, [
      "-e",
      `const fs = require("node:fs");
       require("node:http").createServer((req, res) => {
         const colour = req.url === "/ping" ? fs.readFileSync(process.argv[2], "utf8") : "green";
         res.setHeader("x-backend-colour", colour);
         res.end("{}");
       }).listen(Number(process.argv[1]), "127.0.0.1", () => console.log("listening"));`,
      String(port),
      join(dir, "ping-colour"),
    ]);
    await waitFor("the fake slot backend", () => server.output().includes("listening"));

    const f = files();
    writeFileSync(f.env, JSON.stringify(envOutputs("blue")));
    writeFileSync(f.blue, JSON.stringify(slotOutputs("blue")));
    writeFileSync(f.green, JSON.stringify(slotOutputs("green")));
    writeFileSync(f.after, JSON.stringify(envOutputs("green")));
    writeFileSync(
      join(dir, "fake-pulumi"),
      [
        "#!/usr/bin/env bash",
        "set -euo pipefail",
        'printf "%s\\n" "$*" >> "$PULUMI_LOG"',
        'if [[ -n "${FAIL_UP:-}" && "$*" == *" up "*"-s $FAIL_UP" ]]; then echo "error: update failed" >&2; exit 1; fi',
        'if [[ -n "${FAIL_CONFIG:-}" && "$*" == *"config set $FAIL_CONFIG "* ]]; then echo "error: config set failed" >&2; exit 1; fi',
        'if [[ "$*" == *"stack output --json --show-secrets -s "* ]]; then',
        '  case "${*: -1}" in',
        '    *-blue) cat "$SLOT_BLUE" ;;',
        '    *-green) cat "$SLOT_GREEN" ;;',
        '    *) cat "$ENV_AFTER" ;;',
        "  esac",
        "fi",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(dir, "fake-switch"),
      [
        "#!/usr/bin/env bash",
        'printf "switch %s\\n" "$*" >> "$PULUMI_LOG"',
        // FAKE_APPLIED=1: a dry-run apply finds nothing to change (the edge serves that target).
        'if [[ "$1" == apply && "${FAKE_APPLIED:-}" == 1 ]]; then echo \'{"action":"dry-run","commands":[]}\'; exit 0; fi',
        '[[ "$1" == status ]] || exit 64',
        // What the edge serves: blue 100 % unless LIVE_ACTIVE / LIVE_GREEN_SHARE say otherwise;
        // LIVE_RECEIVES (e.g. "blue,green") overrides which colours the weights give traffic.
        "g=${LIVE_GREEN_SHARE:-0}; rb=$((g < 100)); rg=$((g > 0))",
        'if [[ -n "${LIVE_RECEIVES:-}" ]]; then rb=0; rg=0; [[ $LIVE_RECEIVES == *blue* ]] && rb=1; [[ $LIVE_RECEIVES == *green* ]] && rg=1; fi',
        "tf() { if (($1)); then echo true; else echo false; fi; }",
        // LIVE_REPLICA_GREEN: green's share once every replica is up (status --replicas-from-docker)
        'rs=""; if [[ -n "${LIVE_REPLICA_GREEN:-}" ]]; then rs=\',"replicaShare":{"blue":\'$((100 - LIVE_REPLICA_GREEN))\',"green":\'$LIVE_REPLICA_GREEN\'}\'; fi',
        `echo '{"active":"'"\${LIVE_ACTIVE:-blue}"'","share":{"blue":'"$((100 - g))"',"green":'"$g"'},"receives":{"blue":'"$(tf $rb)"',"green":'"$(tf $rg)"'}'"$rs"',"servers":[{"name":"blue1","status":"UP","check":"L7OK","weight":256,"requests":10},{"name":"green1","status":"'"\${GREEN_STATUS:-UP}"'","check":"L7OK","weight":0,"requests":0}]}'`,
        "",
      ].join("\n"),
    );
    for (const colour of ["blue", "green"]) {
      for (const name of slotOutputs(colour).containers) {
        mkdirSync(join(dir, "containers", name), { recursive: true });
        writeFileSync(join(dir, "containers", name, "health"), "#!/usr/bin/env bash\nexit 0\n");
        chmodSync(join(dir, "containers", name, "health"), 0o755);
      }
    }
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) removeDir(dir);
  });

  const slotArgs = () => ["--slot-outputs", files().blue, "--slot-outputs", files().green];

  describe("deploy", () => {
    it("--dry-run prints every step for the idle slot and changes nothing", () => {
      const r = runbook("deploy", ["--outputs", files().env, ...slotArgs(), "--image", IMAGE, "--dry-run"]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.pulumiCalls.filter((c) => !c.startsWith("switch status "))).toEqual([]);
      const lines = r.stdout.split("\n").filter((l) => l.startsWith("[dry-run]"));
      expect(lines[0]).toMatch(/would ask to confirm|pulumi/);
      // the --outputs check only reads, so it runs in a dry run too
      expect(r.stderr).toMatch(/the edge serves what .* says \(blue active, canary 0%\)/);
      const text = lines.join("\n");
      const order = [
        "stack select --create prod-green",
        `config set backendImage ${IMAGE.replace(/[@:]/g, (c) => c)} -s prod-green`,
        `up --yes --skip-preview ${policyFlags("prod")} -s prod-green`,
        "smoke test every container of slot green",
        "config set trafficActive green -s prod",
        "config set trafficCanaryPercent 0 -s prod",
        `up --yes --skip-preview ${policyFlags("prod")} -s prod\n`,
        "check that stack prod reports traffic.active=green",
      ];
      let at = -1;
      for (const piece of order) {
        const next = text.indexOf(piece, at + 1);
        expect(next, `"${piece}" after position ${at} in:\n${text}`).toBeGreaterThan(at);
        at = next;
      }
      expect(text).toContain("bash");
      expect(r.stderr).toMatch(/blue serves traffic; deploying .* to the idle slot green/);
    });

    it("rejects bad arguments with exit 2 naming the argument", () => {
      const cases: [string[], RegExp][] = [
        [[], /--image is required/],
        [["--image", "backend"], /has no tag or digest/],
        [["--image", "backend:latest"], /latest tag/],
        [["--image", "Back End:1"], /is not an image reference/],
        [["--image", IMAGE, "--slot", "red"], /--slot 'red' is not blue or green/],
        [["--image", IMAGE, "--bogus"], /unknown argument '--bogus'/],
      ];
      for (const [args, message] of cases) {
        const r = runbook("deploy", ["--outputs", files().env, ...args, "--dry-run"]);
        expect(r.status, args.join(" ")).toBe(2);
        expect(r.stderr).toMatch(message);
      }
    });

    it("refuses to deploy over the active slot, and tag-only images in prod", () => {
      const active = runbook("deploy", [
        "--outputs",
        files().env,
        "--image",
        IMAGE,
        "--slot",
        "blue",
        "--dry-run",
      ]);
      expect(active.status).toBe(1);
      expect(active.stderr).toMatch(/slot blue serves production traffic now/);
      const tagOnly = runbook("deploy", [
        "--outputs",
        files().env,
        "--image",
        "ghcr.io/acme/backend:1.4.2",
        "--dry-run",
      ]);
      expect(tagOnly.status).toBe(1);
      expect(tagOnly.stderr).toMatch(/prod deploys need an image pinned by digest/);
    });

    it("refuses to deploy over the idle slot while a canary sends it traffic", () => {
      writeFileSync(join(dir, "env-blue-canary.json"), JSON.stringify(envOutputs("blue", 10)));
      const r = runbook(
        "deploy",
        ["--outputs", join(dir, "env-blue-canary.json"), "--image", IMAGE, "--dry-run"],
        { LIVE_GREEN_SHARE: "10" },
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/a canary sends 10% of prod to slot green; end it before deploying over it/);
      expect(r.pulumiCalls.filter((c) => !c.startsWith("switch status "))).toEqual([]);
    });

    it("runs the steps in order, smoke-tests the slot, switches, and verifies", () => {
      setPingColour("green");
      const r = runbook("deploy", ["--outputs", files().env, ...slotArgs(), "--image", IMAGE, "--yes"], {
        SLOT_BLUE: files().blue,
        SLOT_GREEN: files().green,
      });
      expect(r.status, r.stderr).toBe(0);
      const cwd = REPO;
      expect(r.pulumiCalls).toEqual([
        // --outputs: the edge is asked whether the file is still what it serves
        expect.stringMatching(/^switch status --docker-container backend-infra-prod-edge /),
        `--cwd ${cwd} stack select --create prod-green`,
        `--cwd ${cwd} config set backendImage ${IMAGE} -s prod-green`,
        // A slot stack applies its environment's policy config: prod-green -> policies/config/prod.json.
        `--cwd ${cwd} up --yes --skip-preview --policy-pack ${cwd}/policies --policy-pack-config ${cwd}/policies/config/prod.json -s prod-green`,
        expect.stringMatching(/^switch status --docker-container backend-infra-prod-edge --docker-host ssh:/),
        `--cwd ${cwd} config set trafficActive green -s prod`,
        `--cwd ${cwd} config set trafficCanaryPercent 0 -s prod`,
        `--cwd ${cwd} up --yes --skip-preview --policy-pack ${cwd}/policies --policy-pack-config ${cwd}/policies/config/prod.json -s prod`,
        `--cwd ${cwd} stack output --json --show-secrets -s prod`,
      ]);
      expect(r.stdout + r.stderr).toMatch(/health 200 ping 200 colour green/);
      expect(r.stdout).toMatch(/ok\s+smoke test slot green/);
      expect(r.stderr).toMatch(/done: green serves traffic; blue keeps running for rollback/);
    });

    it("stops at the first failed check: a failed slot deploy never switches", () => {
      const r = runbook("deploy", ["--outputs", files().env, ...slotArgs(), "--image", IMAGE, "--yes"], {
        FAIL_UP: "prod-green",
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/pulumi up of slot green failed; traffic stays on blue/);
      expect(r.pulumiCalls.some((c) => c.includes("trafficActive"))).toBe(false);
      expect(r.stdout).toMatch(/FAIL\s+deploy slot green/);
    });

    it("a failed config set of the switch never runs the env stack's up", () => {
      const r = runbook("deploy", ["--outputs", files().env, ...slotArgs(), "--image", IMAGE, "--yes"], {
        FAIL_CONFIG: "trafficCanaryPercent",
      });
      expect(r.status).toBe(1);
      expect(r.pulumiCalls.some((c) => c.includes("config set trafficCanaryPercent"))).toBe(true);
      expect(r.pulumiCalls.some((c) => / up .*-s prod$/.test(c))).toBe(false);
      expect(r.stderr).toMatch(/the switch to green failed/);
      // The config goes back to what prod runs; the failing key cannot, and the operator is told.
      expect(r.pulumiCalls.filter((c) => c.includes("config set")).slice(-2)).toEqual([
        expect.stringMatching(/config set trafficActive blue -s prod$/),
        expect.stringMatching(/config set trafficCanaryPercent 0 -s prod$/),
      ]);
      expect(r.stderr).toContain(
        "could not restore the config of prod: set trafficActive=blue and trafficCanaryPercent=0 before the next pulumi up",
      );
    });

    it("a failed env stack up puts the traffic config back to what the stack runs", () => {
      const r = runbook("deploy", ["--outputs", files().env, ...slotArgs(), "--image", IMAGE, "--yes"], {
        FAIL_UP: "prod",
      });
      expect(r.status).toBe(1);
      const tail = r.pulumiCalls.filter((c) => !c.startsWith("switch ")).slice(-5);
      expect(tail).toEqual([
        expect.stringMatching(/config set trafficActive green -s prod$/),
        expect.stringMatching(/config set trafficCanaryPercent 0 -s prod$/),
        expect.stringMatching(/ up --yes --skip-preview .* -s prod$/),
        expect.stringMatching(/config set trafficActive blue -s prod$/),
        expect.stringMatching(/config set trafficCanaryPercent 0 -s prod$/),
      ]);
      expect(r.stderr).toContain(
        "the switch failed; setting the config of prod back to trafficActive=blue trafficCanaryPercent=0",
      );
      expect(r.stderr).not.toContain("could not restore");
      // Not "traffic stays on blue": the edge is asked what it serves after the failed switch.
      expect(r.stderr).toMatch(
        /the switch to green failed \(the traffic switch refuses unhealthy slots\); the edge now serves: blue active, blue 100% \/ green 0%/,
      );
      expect(r.pulumiCalls.filter((c) => c.startsWith("switch status")).length).toBeGreaterThan(0);
    });

    it("stops before any pulumi command when the environment has no policy pack config", () => {
      // A project directory whose policies/config has another environment's file only.
      const root = join(dir, "project-without-prod-policy-config");
      mkdirSync(join(root, "policies", "config"), { recursive: true });
      writeFileSync(join(root, "policies", "config", "staging.json"), "{}");
      const missing = join(root, "policies", "config", "prod.json");
      const env = { BI_PULUMI_CWD: root, SLOT_BLUE: files().blue, SLOT_GREEN: files().green };

      for (const extra of ["--yes", "--dry-run"]) {
        const r = runbook("deploy", ["--outputs", files().env, ...slotArgs(), "--image", IMAGE, extra], env);
        expect(r.status, extra).toBe(1);
        expect(r.stderr).toContain(
          `stack 'prod-green' (environment 'prod') has no policy pack config: ${missing} does not exist`,
        );
        // Only the read of what the edge serves (the --outputs check) ran.
        expect(
          r.pulumiCalls.filter((c) => !c.startsWith("switch status ")),
          extra,
        ).toEqual([]);
        expect(r.stdout, extra).not.toMatch(/\[dry-run\] (?!check that the edge serves)/);
      }
      // The env stack: refused before `config set`, so no traffic config is left unapplied;
      // first without the config file, then with it but without the pack's dependencies.
      const refusedCanary = (message: string) => {
        const canary = runbook(
          "canary",
          ["--outputs", files().env, ...slotArgs(), "--traffic-percentage", "10", "--yes"],
          env,
        );
        expect(canary.status).toBe(1);
        expect(canary.stderr).toContain(message);
        expect(canary.pulumiCalls.filter((c) => !c.startsWith("switch "))).toEqual([]);
      };
      refusedCanary(`stack 'prod' (environment 'prod') has no policy pack config: ${missing} does not exist`);
      writeFileSync(missing, "{}");
      refusedCanary(
        `the policy pack's dependencies are not installed: @pulumi/policy does not resolve from ${root}/policies; run 'npm ci' in ${root}`,
      );

      // Installed (a package Node resolves from policies/): the same project directory is used for both paths.
      const policyPackage = join(root, "policies", "node_modules", "@pulumi", "policy");
      mkdirSync(policyPackage, { recursive: true });
      writeFileSync(join(policyPackage, "package.json"), '{"name":"@pulumi/policy","main":"index.js"}');
      writeFileSync(join(policyPackage, "index.js"), "");
      const ok = runbook(
        "canary",
        ["--outputs", files().env, ...slotArgs(), "--traffic-percentage", "10", "--dry-run"],
        env,
      );
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout).toContain(
        `--cwd ${root} up --yes --skip-preview ${policyFlags("prod", root)} -s prod`,
      );
    });

    it("stops when the smoke test finds the wrong build answering", () => {
      setPingColour("blue");
      const r = runbook("deploy", ["--outputs", files().env, ...slotArgs(), "--image", IMAGE, "--yes"]);
      setPingColour("green");
      expect(r.status).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/health 200 ping 200 colour blue/);
      expect(r.stderr).toMatch(/smoke test of slot green failed; traffic stays on blue/);
      expect(r.pulumiCalls.some((c) => c.includes("trafficActive"))).toBe(false);
    });

    it("stops when the edge does not see the new slot healthy", () => {
      const r = runbook("deploy", ["--outputs", files().env, ...slotArgs(), "--image", IMAGE, "--yes"], {
        GREEN_STATUS: "DOWN",
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/edge: no healthy green server after 3s/);
      expect(r.pulumiCalls.some((c) => c.includes("trafficActive"))).toBe(false);
    });
  });

  describe("canary", () => {
    it("--dry-run sets the percentage on the env stack and keeps the active colour", () => {
      const r = runbook("canary", [
        "--outputs",
        files().env,
        ...slotArgs(),
        "--traffic-percentage",
        "10",
        "--dry-run",
      ]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/\[dry-run\] .*config set trafficActive blue -s prod/);
      expect(r.stdout).toMatch(/\[dry-run\] .*config set trafficCanaryPercent 10 -s prod/);
      const ups = r.stdout.split("\n").filter((l) => l.startsWith("[dry-run] ") && / up /.test(l));
      expect(ups).toEqual([
        `[dry-run] bash ${join(dir, "fake-pulumi")} --cwd ${REPO} up --yes --skip-preview ${policyFlags("prod")} -s prod`,
      ]);
      expect(r.pulumiCalls.filter((c) => !c.startsWith("switch status "))).toEqual([]);
    });

    it("validates --traffic-percentage", () => {
      for (const bad of ["101", "-1", "ten", "", "5.5"]) {
        const r = runbook("canary", ["--outputs", files().env, "--traffic-percentage", bad, "--dry-run"]);
        expect(r.status, bad).toBe(2);
        expect(r.stderr).toMatch(/--traffic-percentage/);
      }
      expect(runbook("canary", ["--outputs", files().env, "--dry-run"]).stderr).toMatch(
        /--traffic-percentage is required/,
      );
      expect(
        runbook("canary", ["--outputs", files().env, "--traffic-percentage=0", "--dry-run"]).status,
      ).toBe(0);
    });

    it("refuses a canary to a slot the edge sees unhealthy, without touching the env stack", () => {
      const r = runbook(
        "canary",
        ["--outputs", files().env, ...slotArgs(), "--traffic-percentage", "10", "--yes"],
        {
          GREEN_STATUS: "DOWN",
        },
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/slot green is not healthy at the edge; the traffic split was not changed/);
      expect(r.pulumiCalls.filter((c) => !c.startsWith("switch "))).toEqual([]);
    });
  });

  describe("rollback", () => {
    it("--dry-run switches back to the other slot", () => {
      writeFileSync(join(dir, "env-green.json"), JSON.stringify(envOutputs("green")));
      const r = runbook("rollback", ["--outputs", join(dir, "env-green.json"), ...slotArgs(), "--dry-run"], {
        LIVE_ACTIVE: "green",
        LIVE_GREEN_SHARE: "100",
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/config set trafficActive blue -s prod/);
      expect(r.stdout).toMatch(/config set trafficCanaryPercent 0 -s prod/);
      expect(r.stderr).toMatch(/green active \(canary 0%\); rolling back to blue/);
    });

    it("during a canary rolls back the canary: all traffic stays on the active slot", () => {
      writeFileSync(join(dir, "env-canary.json"), JSON.stringify(envOutputs("green", 10)));
      const live = { LIVE_ACTIVE: "green", LIVE_GREEN_SHARE: "90" };
      const r = runbook(
        "rollback",
        ["--outputs", join(dir, "env-canary.json"), ...slotArgs(), "--dry-run"],
        live,
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/config set trafficActive green -s prod/);
      expect(r.stdout).toMatch(/config set trafficCanaryPercent 0 -s prod/);
      expect(r.stderr).toMatch(/green active \(canary 10%\); rolling back to green/);
      // --to still picks the canary's slot when that is what the operator wants.
      const promote = runbook(
        "rollback",
        ["--outputs", join(dir, "env-canary.json"), ...slotArgs(), "--to", "blue", "--dry-run"],
        live,
      );
      expect(promote.stdout).toMatch(/config set trafficActive blue -s prod/);
    });

    it("an up that fails after the switch ran keeps the new config: the next up must not switch back", () => {
      writeFileSync(join(dir, "env-green.json"), JSON.stringify(envOutputs("green")));
      const r = runbook("rollback", ["--outputs", join(dir, "env-green.json"), ...slotArgs(), "--yes"], {
        LIVE_ACTIVE: "green",
        LIVE_GREEN_SHARE: "100",
        FAIL_UP: "prod",
        FAKE_APPLIED: "1",
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(
        /pulumi up of prod failed, but the edge already serves blue with a 0% canary: the config stays trafficActive=blue/,
      );
      const sets = r.pulumiCalls.filter((c) => c.includes("config set trafficActive"));
      expect(sets).toEqual([`--cwd ${REPO} config set trafficActive blue -s prod`]); // not set back
    });

    it("a failed switch reports what the edge serves, or that it could not ask", () => {
      writeFileSync(join(dir, "env-canary.json"), JSON.stringify(envOutputs("green", 10)));
      const r = runbook("rollback", ["--outputs", join(dir, "env-canary.json"), ...slotArgs(), "--yes"], {
        FAIL_UP: "prod",
        SWITCH_CLI: "false",
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(
        /pulumi up of prod failed; the edge now serves: unknown \(traffic-switch status failed; check with runbooks\/status --live\)/,
      );
    });

    it("refuses an --outputs file the edge contradicts, and warns when the edge cannot be asked", () => {
      // The file predates a switch to green: rolling "back" from it would pick the wrong slot.
      const switched = runbook("rollback", ["--outputs", files().env, ...slotArgs(), "--yes"], {
        LIVE_ACTIVE: "green",
        LIVE_GREEN_SHARE: "100",
      });
      expect(switched.status).toBe(1);
      expect(switched.stderr).toMatch(
        /is out of date \(blue active, canary 0%\): blue gets traffic in the file, none at the edge, green gets none in the file, traffic at the edge\. Save the outputs again/,
      );
      expect(switched.pulumiCalls.filter((c) => !c.startsWith("switch status "))).toEqual([]);
      // A canary started since the file was saved.
      const canary = runbook("deploy", ["--outputs", files().env, ...slotArgs(), "--image", IMAGE, "--yes"], {
        LIVE_GREEN_SHARE: "10",
      });
      expect(canary.status).toBe(1);
      expect(canary.stderr).toMatch(/is out of date .*: green gets none in the file, traffic at the edge\./);
      // A canary ended since (a 50 % canary too: which colour is "active" does not matter).
      for (const percent of [10, 50]) {
        writeFileSync(join(dir, "env-canary.json"), JSON.stringify(envOutputs("green", percent)));
        const ended = runbook(
          "canary",
          ["--outputs", join(dir, "env-canary.json"), "--traffic-percentage", "20", "--yes"],
          { LIVE_ACTIVE: "green", LIVE_GREEN_SHARE: "100" },
        );
        expect(ended.status).toBe(1);
        expect(ended.stderr).toMatch(
          new RegExp(
            `\\(green active, canary ${percent}%\\): blue gets traffic in the file, none at the edge\\.`,
          ),
        );
      }
      // The canary was promoted since: both still get traffic, but the other colour gets most.
      writeFileSync(join(dir, "env-blue-canary.json"), JSON.stringify(envOutputs("blue", 10)));
      const flipped = runbook(
        "canary",
        ["--outputs", join(dir, "env-blue-canary.json"), "--traffic-percentage", "0", "--dry-run"],
        {
          LIVE_GREEN_SHARE: "90",
          LIVE_REPLICA_GREEN: "90",
        },
      );
      expect(flipped.status).toBe(1);
      expect(flipped.stderr).toMatch(
        /\(blue active, canary 10%\): the edge gives most traffic to green, the file to blue\./,
      );
      const same = runbook(
        "canary",
        ["--outputs", join(dir, "env-blue-canary.json"), "--traffic-percentage", "0", "--dry-run"],
        {
          LIVE_GREEN_SHARE: "10",
          LIVE_REPLICA_GREEN: "10",
        },
      );
      expect(same.status, same.stderr).toBe(0);
      // The canary slot crashed: DNS dropped its servers, so the edge's share for it is 0, but its
      // weights still give it traffic. The file is current and the rollback goes on.
      writeFileSync(join(dir, "env-canary.json"), JSON.stringify(envOutputs("green", 10)));
      const crashed = runbook(
        "rollback",
        ["--outputs", join(dir, "env-canary.json"), ...slotArgs(), "--dry-run"],
        {
          LIVE_ACTIVE: "green",
          LIVE_GREEN_SHARE: "100",
          LIVE_RECEIVES: "blue,green",
        },
      );
      expect(crashed.status, crashed.stderr).toBe(0);
      expect(crashed.stderr).toMatch(/the edge serves what .* says \(green active, canary 10%\)/);
      // The edge cannot be asked: a warning, and the runbook goes on.
      const unknown = runbook(
        "canary",
        ["--outputs", files().env, ...slotArgs(), "--traffic-percentage", "10", "--yes"],
        {
          SWITCH_CLI: "false",
          FAIL_UP: "prod",
        },
      );
      expect(unknown.stderr).toMatch(
        /cannot ask the edge what it serves; trusting .* \(blue active, canary 0%\)/,
      );
      expect(unknown.stderr).toMatch(/blue active, canary now 0%; setting 10% to green/); // went on
    });

    it("--only-traffic limits the env stack's up to the switch command the program registers", async () => {
      const live = { LIVE_ACTIVE: "green", LIVE_GREEN_SHARE: "100" };
      writeFileSync(join(dir, "env-green.json"), JSON.stringify(envOutputs("green")));
      const r = runbook(
        "rollback",
        ["--outputs", join(dir, "env-green.json"), ...slotArgs(), "--only-traffic", "--dry-run"],
        live,
      );
      expect(r.status, r.stderr).toBe(0);
      const up = r.stdout.split("\n").find((l) => / up /.test(l) && l.endsWith("-s prod")) ?? "";
      const urn = /--target (\S+) -s prod$/.exec(up)?.[1];
      expect(urn, up).toBeDefined();
      expect(r.stderr).toMatch(/--only-traffic: only the traffic switch of prod is updated/);
      // The URN is the one the program gives the TrafficSwitch's command.
      const plan = await runProgram("prod");
      const command = plan.resources.find(
        (res) => res.type === "command:local:Command" && res.name === "traffic-apply",
      );
      // The mock's URN carries only the immediate parent's type: right while the TrafficSwitch is
      // a top-level component, which this pins.
      const component = plan.resources.find((res) => res.urn === command?.parent);
      expect(component?.type).toBe("backend-infra:edge:TrafficSwitch");
      expect(component?.parent).toBeUndefined(); // top level (the mocks register no Stack resource)
      expect(urn?.replace(/\\\$/g, "$")).toBe(command?.urn); // the dry run prints it shell-quoted
      // The real run passes the URN as one argument, `$` and all.
      const run = runbook(
        "rollback",
        ["--outputs", join(dir, "env-green.json"), ...slotArgs(), "--only-traffic", "--yes"],
        { ...live, ENV_AFTER: files().env },
      );
      expect(run.status, run.stderr).toBe(0);
      expect(run.pulumiCalls).toContain(
        `--cwd ${REPO} up --yes --skip-preview ${policyFlags("prod")} --target ${command?.urn} -s prod`,
      );
      // Without the flag the up is the whole stack, and a leftover variable does not turn it on.
      const full = runbook(
        "rollback",
        ["--outputs", join(dir, "env-green.json"), ...slotArgs(), "--dry-run"],
        {
          ...live,
          BI_ONLY_TRAFFIC: "1",
        },
      );
      expect(full.stdout).not.toMatch(/--target/);
    });

    it("has nothing to do when the target already serves everything", () => {
      const r = runbook("rollback", ["--outputs", files().env, "--to", "blue", "--dry-run"]);
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(/blue already serves all traffic of prod; nothing to roll back/);
    });

    it("rejects a bad --to", () => {
      const r = runbook("rollback", ["--outputs", files().env, "--to", "purple"]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/--to 'purple' is not blue or green/);
    });
  });

  describe("sync-config", () => {
    it("sets the traffic split and the digest-pinned slot images to what the stacks run", () => {
      writeFileSync(join(dir, "env-canary.json"), JSON.stringify(envOutputs("green", 10)));
      const r = runbook("sync-config", ["--outputs", join(dir, "env-canary.json"), ...slotArgs()]);
      expect(r.status, r.stderr).toBe(0);
      const cwd = `--cwd ${REPO}`;
      expect(r.pulumiCalls).toEqual([
        `${cwd} config set trafficActive green -s prod`,
        `${cwd} config set trafficCanaryPercent 10 -s prod`,
        `${cwd} config set backendImage ${slotOutputs("blue").image} -s prod-blue`,
        `${cwd} config set backendImage ${slotOutputs("green").image} -s prod-green`,
      ]);
    });

    it("leaves a slot without outputs alone, and changes nothing with --dry-run", () => {
      const r = runbook("sync-config", ["--outputs", files().env, "--slot-outputs", files().blue]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.pulumiCalls.map((c) => c.replace(/^--cwd \S+ /, ""))).toEqual([
        "config set trafficActive blue -s prod",
        "config set trafficCanaryPercent 0 -s prod",
        `config set backendImage ${slotOutputs("blue").image} -s prod-blue`,
      ]);
      expect(r.stderr).toMatch(/slot green: no stack outputs; its backendImage stays as configured/);
      const dry = runbook("sync-config", ["--outputs", files().env, ...slotArgs(), "--dry-run"]);
      expect(dry.status, dry.stderr).toBe(0);
      expect(dry.pulumiCalls).toEqual([]);
      expect(dry.stdout).toMatch(/\[dry-run\] .*config set trafficActive blue -s prod/);
    });
  });

  describe("status", () => {
    it("prints the traffic split and both slots from the outputs", () => {
      const r = runbook("status", ["--outputs", files().env, ...slotArgs()]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/traffic\s+active blue, canary 0% to green, weights \{"blue":256,"green":0\}/);
      expect(r.stdout).toMatch(/slot green\s+image ghcr.io\/acme\/backend@sha256:c{64}/);
      expect(r.stdout).toContain(
        "backend-infra-prod-backend-blue-1-abcd1234 backend-infra-prod-backend-blue-2-abcd1234",
      );
    });

    it("--live shows the edge's servers and fails when the edge disagrees with the outputs", () => {
      const live = runbook("status", ["--outputs", files().env, "--live"]);
      expect(live.status, live.stderr).toBe(0);
      expect(live.stdout).toMatch(/green1\s+UP\s+L7OK\s+weight 0/);
      const disagree = runbook("status", ["--outputs", join(dir, "env-green.json"), "--live"]);
      expect(disagree.status).toBe(1);
      expect(disagree.stderr).toMatch(/the edge sends most traffic to blue but the stack says green/);
    });

    it("fails naming the missing output field", () => {
      writeFileSync(join(dir, "broken.json"), JSON.stringify({ environment: "prod" }));
      const r = runbook("status", ["--outputs", join(dir, "broken.json")]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/'\.traffic\.active' is missing/);
    });
  });

  describe.skipIf(skipReason("shellcheck"))("shellcheck", () => {
    it("is clean on the runbooks and their library (all severities)", () => {
      const scripts = ["deploy", "canary", "rollback", "status", "lib/traffic.sh"].map((s) =>
        join(RUNBOOKS, s),
      );
      for (const s of scripts) expect(existsSync(s), s).toBe(true);
      const result = run("shellcheck", ["-x", "--severity=style", ...scripts], {
        cwd: resolve(RUNBOOKS, ".."),
      });
      expect(result.stdout + result.stderr).toBe("");
      expect(result.status).toBe(0);
    });
  });
});
