/**
 * The real Pulumi CLI, as the engine level runs it: the toolchain's binaries (tools/toolchain),
 * a file backend and a passphrase under `.engine/`, update checks and plugin downloads off, and a
 * copy of the project (`.engine/project`) so that `pulumi config set` during the tests never
 * touches the checkout's stack files.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { mustRun, run, type RunResult } from "./proc";

export interface PulumiSessionPaths {
  /** The checkout (project root). */
  root: string;
  /** `.engine/` under the root. */
  engineDir: string;
}

/**
 * Environment lines `tools/toolchain/build.sh --print-env` prints: `export NAME=value`, the value
 * shell-quoted, where `"$PATH"` stands for the current PATH.
 */
export function parseExports(text: string, currentPath = process.env.PATH ?? ""): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^export ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2].replace(/"\$PATH"|\$PATH/g, () => currentPath);
    if (/^'.*'$/.test(value)) value = value.slice(1, -1).replace(/'\\''/g, "'");
    else if (/^".*"$/.test(value)) value = value.slice(1, -1);
    env[m[1]] = value.replace(/\\(.)/g, "$1");
  }
  return env;
}

export class PulumiSession {
  readonly project: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly paths: PulumiSessionPaths,
    toolchainEnv: Record<string, string>,
  ) {
    this.project = join(paths.engineDir, "project");
    const state = join(paths.engineDir, "state");
    mkdirSync(state, { recursive: true });
    const passphraseFile = join(paths.engineDir, "passphrase");
    if (!existsSync(passphraseFile))
      writeFileSync(passphraseFile, randomBytes(24).toString("hex"), { mode: 0o600 });
    // A PULUMI_HOME of the engine level's own (workspace files, no credentials: a file backend),
    // whose plugins are the toolchain's.
    const home = join(paths.engineDir, "pulumi-home");
    mkdirSync(home, { recursive: true });
    const plugins = join(home, "plugins");
    if (toolchainEnv.PULUMI_HOME) {
      rmSync(plugins, { recursive: true, force: true });
      symlinkSync(join(toolchainEnv.PULUMI_HOME, "plugins"), plugins);
    }
    this.env = {
      ...process.env,
      ...toolchainEnv,
      PULUMI_HOME: home,
      PULUMI_BACKEND_URL: `file://${state}`,
      PULUMI_CONFIG_PASSPHRASE_FILE: passphraseFile,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_SKIP_CONFIRMATIONS: "true",
      PULUMI_COPILOT: "false",
      NO_COLOR: "1",
    };
    delete this.env.PULUMI_CONFIG_PASSPHRASE;
  }

  /**
   * Copies the checkout (tracked and untracked, not ignored files, and the built dist/) to
   * `.engine/project`, keeping modification times so the stale-build check sees the real build.
   * Stack files are the checkout's, with the salt of the stack file already there (its secrets
   * are encrypted with it).
   */
  async syncProject(): Promise<void> {
    const { root } = this.paths;
    const files = (
      await mustRun("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: root })
    ).stdout
      .split("\0")
      .filter((f) => f && !f.startsWith(".engine/") && existsSync(join(root, f)));
    mkdirSync(this.project, { recursive: true });
    for (const file of files) {
      const target = join(this.project, file);
      if (/^Pulumi\.[^/]+\.yaml$/.test(file) && existsSync(target)) {
        // The checkout's config, every run (an earlier run's `config set` must not leak into
        // this one), with the stack's own encryption salt, which its secrets need.
        const salt = /^encryptionsalt: .*$/m.exec(readFileSync(target, "utf8"))?.[0];
        const text = readFileSync(join(root, file), "utf8");
        writeFileSync(
          target,
          salt && !/^encryptionsalt:/m.test(text) ? `${text.trimEnd()}\n${salt}\n` : text,
        );
        continue;
      }
      cpSync(join(root, file), target, { preserveTimestamps: true, force: true });
    }
    rmSync(join(this.project, "dist"), { recursive: true, force: true });
    cpSync(join(root, "dist"), join(this.project, "dist"), { recursive: true, preserveTimestamps: true });
    for (const dir of ["node_modules", "policies/node_modules"]) {
      const link = join(this.project, dir);
      if (existsSync(join(root, dir)) && !existsSync(link)) symlinkSync(join(root, dir), link);
    }
  }

  run(
    args: readonly string[],
    opts: { live?: boolean; timeoutMs?: number; input?: string } = {},
  ): Promise<RunResult> {
    return run("pulumi", ["--non-interactive", ...args], { cwd: this.project, env: this.env, ...opts });
  }

  must(
    args: readonly string[],
    opts: { live?: boolean; timeoutMs?: number; input?: string } = {},
  ): Promise<RunResult> {
    return mustRun("pulumi", ["--non-interactive", ...args], { cwd: this.project, env: this.env, ...opts });
  }

  /** Selects the stack, creating it with the passphrase secrets provider when it is new. */
  async selectStack(stack: string): Promise<void> {
    await this.must(["stack", "select", "--create", "--secrets-provider", "passphrase", stack]);
  }

  /** `pulumi stack output --json --show-secrets`: what the runbooks read. */
  async outputs(stack: string): Promise<Record<string, unknown>> {
    const r = await this.must(["stack", "output", "--json", "--show-secrets", "-s", stack]);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  /** The stack's config file in the project copy (what `pulumi config set` edits). */
  stackFile(stack: string): string {
    return join(this.project, `Pulumi.${stack}.yaml`);
  }

  readStackFile(stack: string): string {
    return readFileSync(this.stackFile(stack), "utf8");
  }

  /**
   * Lines for `.engine/env`: sourced from the project root, `pulumi` then runs against the
   * engine's stacks (project copy, backend, passphrase) with the toolchain's binaries.
   */
  envFile(): string {
    const keep = [
      "PULUMI_HOME",
      "PULUMI_BACKEND_URL",
      "PULUMI_CONFIG_PASSPHRASE_FILE",
      "PULUMI_SKIP_UPDATE_CHECK",
      "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
    ];
    const quote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
    return [
      "# Written by npm run test:engine -- --keep. Source it from the project root:",
      "#   source .engine/env && pulumi stack ls && pulumi stack output --stack local --json",
      // The toolchain's bin directory first, then the shell's own PATH.
      `export PATH=${quote(String(this.env.PATH).split(":")[0])}:"$PATH"`,
      ...keep
        .filter((k) => this.env[k] !== undefined)
        .map((k) => `export ${k}=${quote(String(this.env[k]))}`),
      `export ENGINE_PROJECT=${quote(this.project)}`,
      "# The stacks' config lives in the engine's copy of the project: run pulumi there.",
      'pulumi() { command pulumi --cwd "$ENGINE_PROJECT" "$@"; }',
      "",
    ].join("\n");
  }
}
