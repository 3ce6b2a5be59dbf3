/**
 * L4: the rendered alertmanager.yml checked by amtool 0.25 (`check-config`) and its routing
 * tree by `amtool config routes test`: each severity reaches the right receiver, with all
 * receivers configured and with none (the null receiver).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { alertDefinitions } from "../../renderers/alert-rules";
import {
  RECEIVERS,
  renderAlertmanagerConfig,
  type AlertmanagerConfigInput,
} from "../../renderers/alertmanager-config";
import { removeDir, run, skipReason, tempDir } from "../support/tools";

const dir = tempDir("amtool");
afterAll(() => removeDir(dir));

const FULL: AlertmanagerConfigInput = {
  environment: "prod",
  pagerWebhookUrl: "https://pager.example.com/hook/abc",
  slackWebhookUrl: "https://hooks.slack.example.com/services/T/B/X",
  teamsWebhookUrl: "https://teams-proxy.example.com/alertmanager",
  email: {
    to: ["oncall@example.com", "ops@example.com"],
    from: "alertmanager@example.com",
    smarthost: "smtp.example.com:587",
    username: "am",
    password: "not-a-real-password",
  },
  deadMansSwitchUrl: "https://heartbeat.example.com/ping/123",
};

function write(name: string, input: AlertmanagerConfigInput): string {
  const file = join(dir, name);
  writeFileSync(file, renderAlertmanagerConfig(input));
  return file;
}

function route(file: string, ...labels: string[]): string {
  const result = run("amtool", ["config", "routes", "test", `--config.file=${file}`, ...labels]);
  expect(result.status, result.stderr).toBe(0);
  return result.stdout.trim();
}

describe.skipIf(skipReason("amtool"))("amtool on the rendered alertmanager.yml", () => {
  it("check-config accepts the config with every receiver set", () => {
    const result = run("amtool", ["check-config", write("full.yml", FULL)]);
    expect(result.stdout).toContain("SUCCESS");
    expect(result.stdout).toMatch(/ 4 receivers/);
    expect(result.stdout).toMatch(/ 3 inhibit rules/);
    expect(result.status).toBe(0);
  });

  it("check-config accepts the config with no receiver set (all routes to null)", () => {
    const result = run("amtool", ["check-config", write("none.yml", { environment: "staging" })]);
    expect(result.stdout).toContain("SUCCESS");
    expect(result.stdout).toMatch(/ 1 receivers/);
    expect(result.status).toBe(0);
  });

  it("check-config fails on a broken file (the check can fail)", () => {
    const file = join(dir, "broken.yml");
    writeFileSync(
      file,
      renderAlertmanagerConfig(FULL).replace(`receiver: ${RECEIVERS.warning}`, "receiver: nobody"),
    );
    expect(run("amtool", ["check-config", file]).status).not.toBe(0);
  });

  it("routes: critical -> pager+email, warning -> chat, Watchdog -> dead man's switch, unknown -> chat", () => {
    const file = write("full.yml", FULL);
    expect(route(file, "alertname=PostgresDown", "severity=critical")).toBe(RECEIVERS.critical);
    expect(route(file, "alertname=HostMemoryLow", "severity=warning")).toBe(RECEIVERS.warning);
    expect(route(file, "alertname=Watchdog", "severity=none")).toBe(RECEIVERS.deadMansSwitch);
    expect(route(file, "alertname=Something", "severity=info")).toBe(RECEIVERS.warning);
    // --verify.receivers makes amtool itself fail on a wrong receiver.
    const wrong = run("amtool", [
      "config",
      "routes",
      "test",
      `--config.file=${file}`,
      `--verify.receivers=${RECEIVERS.warning}`,
      "severity=critical",
    ]);
    expect(wrong.status).not.toBe(0);
  });

  it("every alert in the rule table reaches the receiver of its severity", () => {
    const file = write("full.yml", FULL);
    const expected = {
      critical: RECEIVERS.critical,
      warning: RECEIVERS.warning,
      none: RECEIVERS.deadMansSwitch,
    };
    for (const def of alertDefinitions({ traffic: { active: "green", canaryPercent: 10 } })) {
      const result = run("amtool", [
        "config",
        "routes",
        "test",
        `--config.file=${file}`,
        `--verify.receivers=${expected[def.severity]}`,
        `alertname=${def.alert}`,
        `severity=${def.severity}`,
      ]);
      expect(result.status, `${def.alert}: ${result.stdout} ${result.stderr}`).toBe(0);
    }
  });

  it("with no receivers configured every severity goes to the null receiver", () => {
    const file = write("none.yml", { environment: "staging" });
    for (const severity of ["critical", "warning"]) {
      expect(route(file, "alertname=X", `severity=${severity}`)).toBe(RECEIVERS.none);
    }
    expect(route(file, "alertname=Watchdog", "severity=none")).toBe(RECEIVERS.none);
  });

  it("only Slack set: critical has no receiver (null), warning goes to chat", () => {
    const file = write("slack.yml", { environment: "staging", slackWebhookUrl: FULL.slackWebhookUrl });
    expect(route(file, "alertname=X", "severity=critical")).toBe(RECEIVERS.none);
    expect(route(file, "alertname=X", "severity=warning")).toBe(RECEIVERS.warning);
  });
});
