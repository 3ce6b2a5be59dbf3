import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WRITER_SCRIPT, secretFilesCommand, secretFilesInput } from "../../renderers/secret-files-writer";
import { skipUnlessRoot } from "../support/tools";

/** Runs the writer's script the way the container does (`node -e SCRIPT DIR OWNER`), on a local dir. */
function runWriter(dir: string, owner: string, files: Record<string, string>) {
  return spawnSync(process.execPath, ["-e", WRITER_SCRIPT, dir, owner], {
    input: secretFilesInput(files),
    encoding: "utf8",
  });
}

const asRoot = process.getuid?.() === 0;
/** The tests that chown or check symlinks as the container does: root only, and they say so. */
const needsRoot = skipUnlessRoot("chowning the secret files");

describe("secret files writer: the script", () => {
  it("writes each file mode 0400, replaces changed ones, removes undeclared ones, leaves the directory 0500", () => {
    const dir = mkdtempSync(join(tmpdir(), "bi-secrets-"));
    const owner = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
    const first = runWriter(dir, owner, {
      "database-url": "postgres://a:b@h/d",
      "redis-url": "redis://u:p@h",
    });
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe("wrote database-url, redis-url\n");
    expect(readFileSync(join(dir, "database-url"), "utf8")).toBe("postgres://a:b@h/d");
    expect(lstatSync(join(dir, "database-url")).mode & 0o777).toBe(0o400);
    expect(lstatSync(dir).mode & 0o777).toBe(0o500);

    if (!asRoot) return; // a 0500 directory is writable again only with DAC_OVERRIDE, as in the container
    const second = runWriter(dir, owner, { "database-url": "postgres://a:c@h/d" });
    expect(second.status, second.stderr).toBe(0);
    expect(readFileSync(join(dir, "database-url"), "utf8")).toBe("postgres://a:c@h/d");
    expect(readdirSync(dir)).toEqual(["database-url"]);
  });

  it.skipIf(needsRoot)("chowns the files and the directory to the reader", () => {
    const dir = mkdtempSync(join(tmpdir(), "bi-secrets-"));
    const result = runWriter(dir, "1000:1000", { "database-url": "x" });
    expect(result.status, result.stderr).toBe(0);
    expect(lstatSync(join(dir, "database-url"))).toMatchObject({ uid: 1000, gid: 1000 });
    expect(lstatSync(dir)).toMatchObject({ uid: 1000, gid: 1000 });
  });

  it.skipIf(needsRoot)("does not follow a symlink planted at its temporary name", () => {
    const dir = mkdtempSync(join(tmpdir(), "bi-secrets-"));
    const target = join(mkdtempSync(join(tmpdir(), "bi-secrets-target-")), "victim");
    writeFileSync(target, "keep");
    symlinkSync(target, join(dir, ".database-url.tmp"));
    const result = runWriter(dir, "0:0", { "database-url": "secret" });
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(target, "utf8")).toBe("keep");
    expect(lstatSync(join(dir, "database-url")).isSymbolicLink()).toBe(false);
  });
});

describe("secret files writer: the docker command", () => {
  it("runs the image's node once, without network, read-only, as root with three capabilities", () => {
    const command = secretFilesCommand({
      volume: "bi-prod-backend-blue-secrets",
      image: "sha256:abc",
      owner: "1000:1000",
    });
    expect(command).toMatch(/^docker run --rm -i --pull never --network none --read-only --user 0:0 /);
    expect(command).toContain("--cap-drop ALL --cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add FOWNER");
    expect(command).toContain("--security-opt no-new-privileges");
    expect(command).toContain("--mount 'type=volume,source=bi-prod-backend-blue-secrets,target=/secrets'");
    expect(command).toContain("--entrypoint node 'sha256:abc' -e '");
    expect(command).toMatch(/ \/secrets '1000:1000'$/);
  });

  it("the shell hands the script to node unchanged", () => {
    const command = secretFilesCommand({ volume: "v", image: "i", owner: "1:2" });
    // Replace `docker run ... node 'i'` by a shell function that prints its arguments.
    const printed = spawnSync("sh", ["-c", `docker() { printf '%s\\n' "$@"; }; ${command}`], {
      encoding: "utf8",
    });
    expect(printed.status).toBe(0);
    const args = printed.stdout.split("\n");
    expect(args[args.indexOf("-e") + 1]).toBe(WRITER_SCRIPT.split("\n")[0]);
    expect(printed.stdout).toContain(WRITER_SCRIPT);
  });

  it("refuses names the writer could not write, naming the argument", () => {
    expect(() => secretFilesInput({ "../etc/passwd": "x" })).toThrow(
      /file name "\.\.\/etc\/passwd" must match/,
    );
    expect(() => secretFilesInput({ ".hidden": "x" })).toThrow(/no leading dot/);
    expect(() => secretFilesInput({})).toThrow(/at least one file/);
    expect(() => secretFilesCommand({ volume: "v", image: "i", owner: "node" })).toThrow(
      /owner must be uid:gid .*got "node"/,
    );
  });
});
