/**
 * docs/RUNBOOK.md is complete and runnable: every alert the monitoring stack can fire
 * (renderers/alert-rules.ts, for either active colour) has a row with a meaning and a command,
 * every `runbooks/<name>` it mentions exists, and every option it shows is one that runbook
 * documents in its --help.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { alertDefinitions } from "../../renderers/alert-rules";
import { run } from "../support/tools";

const REPO = resolve(__dirname, "..", "..");
const doc = readFileSync(join(REPO, "docs", "RUNBOOK.md"), "utf8");

describe("docs/RUNBOOK.md", () => {
  const alerts = [
    ...new Set(
      [
        ...alertDefinitions({ traffic: { active: "blue", canaryPercent: 0 } }),
        ...alertDefinitions({ traffic: { active: "green", canaryPercent: 10 } }),
      ].map((a) => a.alert),
    ),
  ].sort();

  it("has a table row (meaning + command) for every alert in the rules", () => {
    expect(alerts.length).toBeGreaterThan(20);
    const missing = alerts.filter((name) => {
      const row = doc.split("\n").find((line) => line.startsWith(`| \`${name}\` |`));
      if (!row) return true;
      const cells = row.split(" | ");
      return cells.length < 3 || cells.slice(1).some((c) => c.replace(/\|/g, "").trim().length < 5);
    });
    expect(missing).toEqual([]);
  });

  it("lists no alert that the rules do not define", () => {
    const documented = [...doc.matchAll(/^\| `([A-Z][A-Za-z0-9]+)` \|/gm)].map((m) => m[1]);
    expect(documented.filter((name) => !alerts.includes(name))).toEqual([]);
  });

  it("states the seed's escalation levels", () => {
    expect(doc).toMatch(/\*\*Level 1\*\* \| automated recovery[^\n]*\| 5 minutes/);
    expect(doc).toMatch(/\*\*Level 2\*\* \| manual intervention[^\n]*\| 15 minutes/);
    expect(doc).toMatch(/\*\*Level 3\*\* \| external support[^\n]*\| 30 minutes/);
  });

  it("every runbook it names exists and documents every option it is shown with", () => {
    const uses = [...doc.matchAll(/runbooks\/([a-z-]+)((?: [^`|\n]*)?)/g)];
    expect(uses.length).toBeGreaterThan(30);
    const helps = new Map<string, string>();
    for (const [, name, rest] of uses) {
      const path = join(REPO, "runbooks", name);
      expect(existsSync(path), `runbooks/${name}`).toBe(true);
      if (!helps.has(name)) helps.set(name, run(path, ["--help"], { cwd: REPO }).stdout);
      for (const [option] of rest.matchAll(/--[a-z][a-z-]*/g)) {
        expect(helps.get(name), `runbooks/${name} ${option}`).toContain(option);
      }
    }
  });
});

/**
 * Every runbook's --help lists every flag its argument parser accepts and every stack output it
 * reads (issue 17). Read from the scripts themselves: the flags are the `case` labels of the
 * runbook and of the shared parsers it uses (bi_parse_common, parse_only_traffic); the outputs
 * are the paths it reads (output_field / output_field_or / output_has / output_list /
 * output_strings / slot_field / slot_list, and paths it hands to them, e.g. in a `for` list),
 * in its own code and in every library function it calls, directly or through another.
 */
describe("runbooks --help", () => {
  const RUNBOOKS = [
    "backup-config",
    "backup-list",
    "backup-now",
    "canary",
    "deploy",
    "disaster-recovery",
    "env-lock",
    "health-check",
    "rollback",
    "status",
    "sync-config",
  ];
  /** Runbooks whose help is known to be incomplete, with why; their test is expected to fail. */
  const PENDING: Record<string, string> = {};
  const ENV_ROOTS = "environment|dockerHost|networks|edge|traffic|postgres|redis|backups|monitoring";
  const PATH_TOKEN = new RegExp(
    `(?<![\\w\\])"'.$])\\.(?:${ENV_ROOTS})(?:\\.[A-Za-z_]\\w*)*(?![\\w(\\[])`,
    "g",
  );

  /** Code without the usage text (quoted here-documents) and without whole-line comments. */
  const code = (text: string) =>
    text
      .replace(/<<-?'(\w+)'\n[\s\S]*?\n\1\n/g, "\n")
      .split("\n")
      .filter((line) => !/^\s*#/.test(line))
      .join("\n");

  /** The shell functions of runbooks/lib/*.sh: name -> body. */
  const libFunctions = new Map<string, string>();
  for (const file of readdirSync(join(REPO, "runbooks", "lib"))) {
    const text = code(readFileSync(join(REPO, "runbooks", "lib", file), "utf8"));
    for (const m of text.matchAll(/^([A-Za-z_]\w*)\(\) \{\n([\s\S]*?)^\}$/gm)) libFunctions.set(m[1], m[2]);
    for (const m of text.matchAll(/^([A-Za-z_]\w*)\(\) \{ (.*) \}$/gm)) libFunctions.set(m[1], m[2]);
  }

  /** The library functions a script calls, directly or through other library functions. */
  function reachable(script: string): Map<string, string> {
    const found = new Map<string, string>();
    const queue = [script];
    while (queue.length > 0) {
      const text = queue.pop() ?? "";
      for (const [name, body] of libFunctions) {
        if (!found.has(name) && new RegExp(`(^|[^\\w-])${name}($|[^\\w-])`, "m").test(text)) {
          found.set(name, body);
          queue.push(body);
        }
      }
    }
    return found;
  }

  /** The flags the `case` labels of some code accept: `--a | -b)`, `--c=*)`. */
  const caseFlags = (text: string) =>
    [...text.matchAll(/^\s*((?:--?[a-z][a-z-]*(?:=\*)?)(?:\s*\|\s*--?[a-z][a-z-]*(?:=\*)?)*)\)/gm)].flatMap(
      (m) => m[1].split("|").map((f) => f.trim().replace(/=\*$/, "")),
    );

  function analyse(name: string) {
    const script = code(readFileSync(join(REPO, "runbooks", name), "utf8"));
    const libs = reachable(script);
    const all = [script, ...libs.values()].join("\n");
    const flags = new Set(caseFlags(script));
    for (const f of caseFlags(libFunctions.get("bi_parse_common") ?? "")) flags.add(f);
    if (libs.has("parse_only_traffic")) flags.add("--only-traffic");
    // bi_parse_common refuses these where the runbook says so
    if (!/^bi_uses_env_lock$/m.test(script)) flags.delete("--lock-wait");
    if (/^BI_OUTPUTS_PULUMI_ONLY=1$/m.test(script)) flags.delete("--outputs");
    const env = new Set<string>();
    for (const m of all.matchAll(PATH_TOKEN)) env.add(m[0].slice(1));
    const slot = new Set<string>();
    for (const m of all.matchAll(/\bslot_(?:field|field_or|list)\s+\S+\s+['"]?\.([A-Za-z_]\w*)/g))
      slot.add(m[1]);
    return { flags: [...flags].sort(), env: [...env].sort(), slot: [...slot].sort() };
  }

  /** The paragraph after `Stack outputs read...:` (or `Slot stack outputs read...:`), to its final period. */
  const section = (help: string, start: RegExp) => {
    const m = new RegExp(`^${start.source}[^:\\n]*:([\\s\\S]*?)\\.(?:\\n|$)`, "m").exec(help);
    return m ? m[1] : "";
  };
  const mentions = (text: string, word: string) =>
    new RegExp(`(^|[^\\w.-])${word.replace(/[.]/g, "\\.")}(?![\\w-]|\\.\\w)`).test(text);

  function check(name: string) {
    const help = run(join(REPO, "runbooks", name), ["--help"], { cwd: REPO }).stdout;
    expect(help, name).toContain(`Usage: runbooks/${name}`);
    const { flags, env, slot } = analyse(name);
    expect(
      flags.filter((f) => !mentions(help, f)),
      `${name}: flags its parser accepts, missing from --help`,
    ).toEqual([]);
    const envSection = section(help, /Stack outputs read/);
    expect(
      env.filter((k) => !mentions(envSection, k)),
      `${name}: stack outputs it reads, missing from --help`,
    ).toEqual([]);
    const slotSection = section(help, /Slot stack outputs read/);
    expect(
      slot.filter((k) => !mentions(slotSection, k)),
      `${name}: slot stack outputs it reads, missing from --help`,
    ).toEqual([]);
  }

  it("the analysis finds what the runbooks read and accept", () => {
    // A guard on the test itself: it sees the common flags, a runbook's own, the reads of the
    // libraries a runbook calls (confirm: environment; _docker: dockerHost), and slot reads.
    const dr = analyse("disaster-recovery");
    expect(dr.flags).toEqual(
      expect.arrayContaining(["--stack", "-s", "--outputs", "--slot-outputs", "--yes", "-y", "--dry-run"]),
    );
    expect(dr.flags).toEqual(
      expect.arrayContaining(["--log-file", "--lock-wait", "--timeout", "--only", "-h"]),
    );
    expect(dr.env).toEqual(
      expect.arrayContaining(["environment", "dockerHost", "postgres.dataDir", "redis.dataDir"]),
    );
    expect(dr.slot).toEqual(expect.arrayContaining(["containers"]));
    expect(analyse("canary").flags).toContain("--only-traffic");
    expect(analyse("health-check").flags).not.toContain("--lock-wait");
    expect(analyse("backup-config").flags).not.toContain("--outputs");
    expect(analyse("health-check").env).toEqual(
      expect.arrayContaining([
        "edge.container",
        "postgres.dataDir",
        "backups.textfileDir",
        "monitoring.containers",
      ]),
    );
  });

  for (const name of RUNBOOKS) {
    if (PENDING[name]) it.fails(`${name} (pending: ${PENDING[name]})`, () => check(name));
    else it(name, () => check(name));
  }
});
