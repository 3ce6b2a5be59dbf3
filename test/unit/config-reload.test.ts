/**
 * tools/config-reload.ts without a daemon: stdin and argument checks, the metric parser, and the
 * file steps (the real POSIX sh scripts) against a stand-in service whose "check" and "reload"
 * are shell commands. The real HAProxy, Prometheus and Alertmanager runs are in L5
 * (edge-traffic-switch, monitoring-stack).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  metricValue,
  parseCli,
  parseFiles,
  reloadService,
  CLEANUP_SCRIPT,
  FETCH_SCRIPT,
  ROLLBACK_SCRIPT,
  STAGE_SCRIPT,
  SWAP_SCRIPT,
  type ServiceHost,
} from "../../tools/config-reload";
import { run } from "../support/tools";

const sh = (body: string, args: string[], input?: string) =>
  run("sh", ["-c", body, "test", ...args], { input });

describe("config-reload: input checks", () => {
  it("accepts files with absolute plain paths, main config first", () => {
    expect(parseFiles('{"files":[{"path":"/etc/prometheus/prometheus.yml","content":"a: 1"}]}')).toEqual([
      { path: "/etc/prometheus/prometheus.yml", content: "a: 1" },
    ]);
  });

  it.each([
    ["not json", /stdin: expected JSON/],
    ['{"files":[]}', /"files" must be a list of 1 to 16/],
    ['{"files":[{"path":"etc/x.yml","content":"a"}]}', /files\[0\]\.path must be an absolute path/],
    ['{"files":[{"path":"/etc/../x.yml","content":"a"}]}', /files\[0\]\.path must be an absolute path/],
    ['{"files":[{"path":"/etc/x y.yml","content":"a"}]}', /files\[0\]\.path must be an absolute path/],
    [
      '{"files":[{"path":"/etc/x.yml","content":" "}]}',
      /files\[0\]\.content \(\/etc\/x\.yml\) must be a non-empty string/,
    ],
  ])("refuses %s", (input, message) => {
    expect(() => parseFiles(input)).toThrow(message);
  });

  it("names the argument that is wrong", () => {
    expect(() => parseCli(["--service", "nginx", "--pid", "1"])).toThrow(
      /--service: expected one of haproxy/,
    );
    expect(() => parseCli(["--service", "prometheus"])).toThrow(
      /exactly one of --docker-container NAME or --pid PID/,
    );
    expect(() => parseCli(["--service", "prometheus", "--pid", "1", "--socket", "/run/a.sock"])).toThrow(
      /--socket, --tcp, --admin-tcp and --state-file are for --service haproxy/,
    );
    expect(() => parseCli(["--service", "haproxy", "--pid", "1"])).toThrow(
      /exactly one of --socket PATH or --tcp/,
    );
    expect(() => parseCli(["--service", "alertmanager", "--pid", "1", "--wait-seconds", "0"])).toThrow(
      /--wait-seconds: expected whole seconds from 1 to 600, got "0"/,
    );
    expect(() =>
      parseCli(["--service", "alertmanager", "--pid", "1", "--metrics-url", "file:///etc/passwd"]),
    ).toThrow(/--metrics-url: expected an http\(s\) URL/);
    expect(
      parseCli(["--service", "prometheus", "--docker-container", "p", "--docker-host", "ssh://h"]),
    ).toMatchObject({
      service: "prometheus",
      waitSeconds: 30,
      docker: { container: "p", dockerHost: "ssh://h" },
    });
  });

  it("--auth-header-file: an absolute path in the container, for prometheus and alertmanager only", () => {
    expect(
      parseCli([
        "--service",
        "alertmanager",
        "--docker-container",
        "am",
        "--auth-header-file",
        "/etc/alertmanager/web-probe-header",
      ]),
    ).toMatchObject({ authHeaderFile: "/etc/alertmanager/web-probe-header", docker: { container: "am" } });
    expect(() =>
      parseCli(["--service", "prometheus", "--pid", "1", "--auth-header-file", "web-probe-header"]),
    ).toThrow(/--auth-header-file: expected an absolute path/);
    expect(() =>
      parseCli(["--service", "haproxy", "--pid", "1", "--socket", "/s", "--auth-header-file", "/h"]),
    ).toThrow(/--metrics-url and --auth-header-file are for prometheus and alertmanager/);
  });

  it("reads one sample of a metric page", () => {
    const page = "# HELP x\nprometheus_config_last_reload_successful 1\nfoo_total 3\n";
    expect(metricValue(page, "prometheus_config_last_reload_successful")).toBe(1);
    expect(metricValue(page, "prometheus_config_last_reload_success_timestamp_seconds")).toBeNaN();
  });
});

describe("config-reload: the file steps (POSIX sh) and the reload sequence", () => {
  let dir: string;
  let cfg: string;
  let extra: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "bi-config-reload-"));
    cfg = join(dir, "service.yml");
    extra = join(dir, "rules.yml");
    writeFileSync(cfg, "version: 1\n");
    writeFileSync(extra, "rules: old\n");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const stage = (path: string, content: string) =>
    expect(sh(STAGE_SCRIPT, [`${path}.next`], content).status).toBe(0);

  it("swap: unchanged files are reported and the staged copies removed", () => {
    stage(cfg, "version: 1\n");
    stage(extra, "rules: old\n");
    const out = sh(SWAP_SCRIPT, ["true", cfg, extra]);
    expect(out.stdout.trim()).toBe("unchanged");
    expect(existsSync(`${cfg}.next`) || existsSync(`${extra}.next`)).toBe(false);
  });

  it("swap: changed files go live after the check, the old ones stay as .prev; rollback restores them", () => {
    stage(cfg, "version: 2\n");
    stage(extra, "rules: old\n");
    // The check runs against the new files, all of them in place.
    const out = sh(SWAP_SCRIPT, [`grep -q 'version: 2' ${cfg}`, cfg, extra]);
    expect(out.stdout.trim(), out.stderr).toBe("swapped");
    expect(readFileSync(cfg, "utf8")).toBe("version: 2\n");
    expect(readFileSync(`${cfg}.prev`, "utf8")).toBe("version: 1\n");
    expect(sh(ROLLBACK_SCRIPT, [cfg, extra]).status).toBe(0);
    expect(readFileSync(cfg, "utf8")).toBe("version: 1\n");
    expect(readFileSync(extra, "utf8")).toBe("rules: old\n");
  });

  it("swap: a failing check puts every file back and exits 65 with the check's output", () => {
    stage(cfg, "version: 3\n");
    stage(extra, "rules: new\n");
    const out = sh(SWAP_SCRIPT, ["echo 'line 1: bad key' >&2; false", cfg, extra]);
    expect(out.status).toBe(65);
    expect(out.stderr).toContain("line 1: bad key");
    expect(readFileSync(cfg, "utf8")).toBe("version: 1\n");
    expect(readFileSync(extra, "utf8")).toBe("rules: old\n");
  });

  it("swap: a file that did not exist is removed again on a failed check or a rollback, not left empty", () => {
    const added = join(dir, "new.pem");
    stage(cfg, "version: 5\n");
    stage(added, "key\n");
    expect(sh(SWAP_SCRIPT, ["false", cfg, added]).status).toBe(65);
    expect(existsSync(added)).toBe(false);
    expect(existsSync(`${added}.absent`) || existsSync(`${cfg}.prev`)).toBe(false);

    stage(cfg, "version: 5\n");
    stage(added, "key\n");
    expect(sh(SWAP_SCRIPT, ["true", cfg, added]).stdout.trim()).toBe("swapped");
    expect(readFileSync(added, "utf8")).toBe("key\n");
    expect(sh(ROLLBACK_SCRIPT, [cfg, added]).status).toBe(0);
    expect(existsSync(added)).toBe(false);
    expect(readFileSync(cfg, "utf8")).toBe("version: 1\n");
  });

  it("swap: files left from an unfinished swap (.prev) make unchanged files go through the check again", () => {
    writeFileSync(`${cfg}.prev`, "version: 0\n");
    stage(cfg, "version: 1\n");
    stage(extra, "rules: old\n");
    expect(sh(SWAP_SCRIPT, ["true", cfg, extra]).stdout.trim()).toBe("swapped");
    expect(readFileSync(`${cfg}.prev`, "utf8")).toBe("version: 1\n"); // the live file, not the stale copy
    expect(sh(CLEANUP_SCRIPT, [cfg, extra]).status).toBe(0);
    expect(existsSync(`${cfg}.prev`) || existsSync(`${extra}.prev`)).toBe(false);
  });

  /**
   * A stand-in Alertmanager: its /metrics page is a file, `onSignal` plays the process's
   * reaction to HUP, and an `amtool` on PATH accepts every file.
   */
  const metrics = (timestamp: number, successful: 0 | 1) =>
    writeFileSync(
      join(dir, "metrics"),
      `alertmanager_config_last_reload_success_timestamp_seconds ${timestamp}\n` +
        `alertmanager_config_last_reload_successful ${successful}\n`,
    );
  const reload = async (onSignal: () => void, waitSeconds = 1) => {
    const signals: string[] = [];
    const host: ServiceHost = {
      description: "fake alertmanager",
      script: (body, args, input) => {
        if (body.includes("wget")) return Promise.resolve(readFileSync(join(dir, "metrics"), "utf8"));
        const out = sh(body, args, input);
        return out.status === 0 ? Promise.resolve(out.stdout) : Promise.reject(new Error(out.stderr));
      },
      signal: (name) => {
        signals.push(name);
        onSignal();
        return Promise.resolve();
      },
    };
    const bin = join(dir, "bin");
    run("mkdir", ["-p", bin]);
    writeFileSync(join(bin, "amtool"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    try {
      const result = await reloadService(
        { service: "alertmanager", host, metricsUrl: "http://127.0.0.1:9093/metrics" },
        [{ path: cfg, content: "version: 4\n" }],
        { waitSeconds },
      ).catch((error: Error) => error);
      return { result, signals };
    } finally {
      process.env.PATH = saved;
    }
  };

  it("a reload that shows in the metrics: reloaded, the new file stays", async () => {
    metrics(100, 1);
    const { result, signals } = await reload(() => metrics(200, 1));
    expect(result).toEqual(
      expect.objectContaining({ action: "reloaded", marker: "200", previousMarker: "100" }),
    );
    expect(signals).toEqual(["HUP"]);
    expect(readFileSync(cfg, "utf8")).toBe("version: 4\n");
    expect(existsSync(`${cfg}.prev`)).toBe(false); // cleaned up: no swap pending
  });

  it("a reload the service reports as failed: the previous file comes back and the service reloads it", async () => {
    metrics(100, 1);
    const { result, signals } = await reload(() => metrics(100, 0));
    expect(String(result)).toMatch(
      /previous files are back in place: alertmanager reports the reload as failed/,
    );
    expect(signals).toEqual(["HUP", "HUP"]);
    expect(readFileSync(cfg, "utf8")).toBe("version: 1\n");
  });

  it("a service that does not react: rolled back after --wait-seconds", async () => {
    metrics(100, 1);
    const { result } = await reload(() => undefined);
    expect(String(result)).toMatch(/no reload within 1 s of the HUP signal/);
    expect(readFileSync(cfg, "utf8")).toBe("version: 1\n");
  });

  it("a rollback that fails says so, naming the files that now hold the new content", async () => {
    metrics(100, 1);
    // Something removes the saved copy while the service ignores the signal.
    const { result } = await reload(() => rmSync(`${cfg}.prev`, { force: true }));
    expect(String(result)).toMatch(
      /reload failed \(no reload within 1 s of the HUP signal\) and the previous files could not be put back/,
    );
    expect(readFileSync(cfg, "utf8")).toBe("version: 4\n");
  });

  it("an earlier failed reload does not read as this one's failure", async () => {
    metrics(100, 0);
    let calls = 0;
    // The process takes a moment: the first poll still sees the old failure.
    // 10 s to see it: the 300 ms must not race the deadline on a loaded machine.
    const { result } = await reload(() => {
      calls++;
      setTimeout(() => metrics(300, 1), 300);
    }, 10);
    expect(result).toEqual(expect.objectContaining({ action: "reloaded", marker: "300" }));
    expect(calls).toBe(1);
  });
});

describe("config-reload: the metric page behind a web config", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "bi-config-reload-fetch-"));
    // A wget that prints its arguments, one per line.
    writeFileSync(join(dir, "wget"), '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const fetch = (args: string[]) =>
    run("sh", ["-c", FETCH_SCRIPT, "config-reload", ...args], {
      env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ""}` },
    });

  it("sends the header read from the file (not from an argument), or none without a file", () => {
    writeFileSync(join(dir, "header"), "Authorization: Basic cHJvbWV0aGV1czpwdw==");
    const withAuth = fetch(["http://127.0.0.1:9090/metrics", join(dir, "header")]);
    expect(withAuth.stdout.split("\n")).toEqual([
      "-q",
      "-O",
      "-",
      "--header",
      "Authorization: Basic cHJvbWV0aGV1czpwdw==",
      "http://127.0.0.1:9090/metrics",
      "",
    ]);
    expect(fetch(["http://127.0.0.1:9093/metrics", ""]).stdout).toBe(
      "-q\n-O\n-\nhttp://127.0.0.1:9093/metrics\n",
    );
    // A header file that is not there fails the fetch before wget runs.
    const missing = fetch(["http://127.0.0.1:9090/metrics", join(dir, "nope")]);
    expect(missing.status).not.toBe(0);
    expect(missing.stdout).toBe("");
  });

  it("reloadService passes the target's header file to every metric read", async () => {
    const calls: string[][] = [];
    let timestamp = 100;
    const host: ServiceHost = {
      description: "fake prometheus",
      script: (body, args) => {
        if (body !== FETCH_SCRIPT) return Promise.resolve(body === SWAP_SCRIPT ? "swapped\n" : "");
        calls.push(args);
        return Promise.resolve(`prometheus_config_last_reload_success_timestamp_seconds ${timestamp}\n`);
      },
      signal: () => {
        timestamp = 200;
        return Promise.resolve();
      },
    };
    const result = await reloadService(
      { service: "prometheus", host, authHeaderFile: "/etc/prometheus/web-probe-header" },
      [{ path: "/etc/prometheus/prometheus.yml", content: "global: {}\n" }],
      { waitSeconds: 1 },
    );
    expect(result).toMatchObject({ action: "reloaded", marker: "200", previousMarker: "100" });
    // Before the swap, the failure check before the signal, after the signal: each with the file.
    expect(calls.length).toBeGreaterThanOrEqual(3);
    for (const args of calls)
      expect(args).toEqual(["http://127.0.0.1:9090/metrics", "/etc/prometheus/web-probe-header"]);
  });
});

describe("config-reload CLI arguments", () => {
  it("refuses --pid 0, which would signal the CLI's own process group", () => {
    expect(() => parseCli(["--service", "prometheus", "--pid", "0"])).toThrow(
      '--pid: expected a process id (1 or more), got "0"',
    );
    expect(() => parseCli(["--service", "prometheus", "--pid", "-1"])).toThrow(/--pid/);
    expect(parseCli(["--service", "prometheus", "--pid", "4242"])).toBeDefined();
  });
});
