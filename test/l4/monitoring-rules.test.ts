/**
 * L4: the rendered alert rules and prometheus.yml checked by promtool 2.42 (the version the
 * Prometheus image runs), and every alert's promtool unit tests (fires / stays silent).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { COLOURS } from "../../config/keys";
import {
  alertDefinitions,
  renderAlertRuleTests,
  renderAlertRules,
  type TrafficSplit,
} from "../../renderers/alert-rules";
import { renderBlackboxConfig } from "../../renderers/prometheus-blackbox";
import { renderPrometheusConfig } from "../../renderers/prometheus-config";
import { renderWebConfig } from "../../renderers/web-config";
import { removeDir, run, skipReason, tempDir } from "../support/tools";

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

function workDir(): string {
  const dir = tempDir("promtool");
  dirs.push(dir);
  return dir;
}

describe.skipIf(skipReason("promtool"))("promtool on the rendered rules and config", () => {
  const splits: TrafficSplit[] = [
    ...COLOURS.map((active) => ({ active, canaryPercent: 0 })),
    { active: "green", canaryPercent: 10 },
  ];
  for (const traffic of splits) {
    it(`check rules + test rules: every alert fires and stays silent (${traffic.active} active, canary ${traffic.canaryPercent}%)`, () => {
      const dir = workDir();
      writeFileSync(join(dir, "alert-rules.yml"), renderAlertRules({ traffic }));
      writeFileSync(join(dir, "alert-rules.test.yml"), renderAlertRuleTests({ traffic }, "alert-rules.yml"));

      const check = run("promtool", ["check", "rules", join(dir, "alert-rules.yml")]);
      expect(check.stderr + check.stdout).toMatch(/SUCCESS: \d+ rules found/);
      expect(check.status).toBe(0);

      const tests = run("promtool", ["test", "rules", "alert-rules.test.yml"], { cwd: dir });
      if (tests.status !== 0) console.error(tests.stdout, tests.stderr);
      expect(tests.stdout + tests.stderr).toContain("SUCCESS");
      expect(tests.status).toBe(0);
      // promtool evaluates every alert's test series: about a minute alone on 2 cores, more than
      // the default 120 s when other suites run beside it.
    }, 360_000);
  }

  it("a broken expectation makes promtool test rules fail (the tests can fail)", () => {
    const dir = workDir();
    writeFileSync(join(dir, "alert-rules.yml"), renderAlertRules({}));
    // Keep BackupTooOld's two tests and flip the firing one to expect silence: promtool must
    // report the mismatch.
    const file = parse(renderAlertRuleTests({})) as {
      tests: { name: string; alert_rule_test: { exp_alerts: unknown[] }[] }[];
    };
    file.tests = file.tests.filter((t) => t.name.startsWith("BackupTooOld"));
    expect(file.tests).toHaveLength(2);
    const good = stringify(file);
    file.tests[0].alert_rule_test[0].exp_alerts = [];
    const tests = stringify(file);
    writeFileSync(join(dir, "good.test.yml"), good);
    expect(run("promtool", ["test", "rules", "good.test.yml"], { cwd: dir }).status).toBe(0);
    writeFileSync(join(dir, "broken.test.yml"), tests);
    const result = run("promtool", ["test", "rules", "broken.test.yml"], { cwd: dir });
    expect(result.status).not.toBe(0);
    expect(result.stdout + result.stderr).toContain("BackupTooOld");
  });

  it("check config: the rendered prometheus.yml with its rule file and basic auth", () => {
    const dir = workDir();
    const rules = join(dir, "alert-rules.yml");
    writeFileSync(join(dir, "web-password"), "pw");
    writeFileSync(rules, renderAlertRules({ traffic: { active: "green", canaryPercent: 0 } }));
    const config = renderPrometheusConfig({
      environment: "prod",
      scrapeIntervalSeconds: 15,
      ruleFiles: [rules],
      alertmanagers: ["alertmanager:9093"],
      targets: {
        prometheus: "localhost:9090",
        alertmanager: "alertmanager:9093",
        node: "node-exporter:9100",
        postgres: "postgres-exporter:9187",
        redis: "redis-exporter:9121",
        edge: "edge:8405",
        blackbox: "blackbox:9115",
      },
      backendSlots: COLOURS.map((colour) => ({
        colour,
        discovery: { kind: "dns" as const, name: `backend-${colour}`, port: 4000 },
        healthUrl: `http://backend-${colour}:4000/health`,
      })),
      publicUrl: "https://api.example.com/health",
      auth: { username: "prometheus", passwordFile: join(dir, "web-password") },
    });
    expect(config).toContain("password_file:");
    writeFileSync(join(dir, "prometheus.yml"), config);
    const result = run("promtool", ["check", "config", join(dir, "prometheus.yml")]);
    expect(result.stdout + result.stderr).toContain("SUCCESS");
    expect(result.stdout).toMatch(/SUCCESS: \d+ rules found/);
    expect(result.status).toBe(0);
  });

  it("check web-config: the rendered web config (the random provider's $2a$ hashes, htpasswd's $2y$)", () => {
    const dir = workDir();
    writeFileSync(
      join(dir, "web.yml"),
      renderWebConfig({
        users: {
          // bcrypt of "pw" with cost 4, as $2a$ (Go, the random provider) and $2y$ (htpasswd)
          prometheus: "$2a$04$MfwjwKJ4fXebRdzoLeHjKeft/naVKZzHGpGpgp1XuKppL9fGtSanS",
          operator: "$2y$04$ZnQ8NCEIIKFRP7cdwCSiOuzkg9vBbtutuLoVaFboLWGNCDNbuDroG",
        },
      }),
    );
    const result = run("promtool", ["check", "web-config", join(dir, "web.yml")]);
    expect(result.stdout + result.stderr).toContain("SUCCESS");
    expect(result.status).toBe(0);
    // promtool does check the hashes: a shortened one fails (the check can fail).
    writeFileSync(join(dir, "bad.yml"), "basic_auth_users:\n  prometheus: $2a$04$MfwjwKJ4fXebRd\n");
    const bad = run("promtool", ["check", "web-config", join(dir, "bad.yml")]);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/bcrypt/);
  });

  it("promtool rejects a config whose rule file is broken (the check can fail)", () => {
    const dir = workDir();
    const rules = join(dir, "alert-rules.yml");
    writeFileSync(rules, renderAlertRules({}).replace("expr: vector(1)", "expr: vector(1"));
    const config = renderPrometheusConfig({
      environment: "prod",
      scrapeIntervalSeconds: 15,
      ruleFiles: [rules],
      alertmanagers: [],
      targets: { prometheus: "localhost:9090" },
      backendSlots: [],
    });
    writeFileSync(join(dir, "prometheus.yml"), config);
    expect(run("promtool", ["check", "config", join(dir, "prometheus.yml")]).status).not.toBe(0);
  });

  it("every alert name in the table has a test in the rendered test file", () => {
    const tests = renderAlertRuleTests({});
    for (const def of alertDefinitions({})) {
      expect(tests).toContain(`name: ${def.alert} (${def.severity}) fires`);
      if (def.alert !== "Watchdog")
        expect(tests).toContain(`name: ${def.alert} (${def.severity}) stays silent`);
    }
  });
});

describe.skipIf(skipReason("prometheus-blackbox-exporter"))(
  "blackbox_exporter 0.23 on the rendered blackbox.yml",
  () => {
    it("--config.check accepts it", () => {
      const dir = workDir();
      writeFileSync(join(dir, "blackbox.yml"), renderBlackboxConfig());
      const result = run("prometheus-blackbox-exporter", [
        "--config.check",
        `--config.file=${join(dir, "blackbox.yml")}`,
      ]);
      expect(result.stderr).toContain("Config file is ok");
      expect(result.status).toBe(0);
    });

    it("--config.check rejects an unknown prober (the check can fail)", () => {
      const dir = workDir();
      writeFileSync(
        join(dir, "blackbox.yml"),
        renderBlackboxConfig().replace("valid_status_codes", "valid_status_code"),
      );
      expect(
        run("prometheus-blackbox-exporter", ["--config.check", `--config.file=${join(dir, "blackbox.yml")}`])
          .status,
      ).not.toBe(0);
    });
  },
);
