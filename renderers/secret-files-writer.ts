/**
 * The one-shot `docker run` that writes a slot's secret files into its Docker volume (see
 * components/secret-files.ts). Pure: the command line and its stdin, nothing runs here.
 *
 * The secrets travel on stdin as JSON, never on the command line (`ps` shows that). The writer
 * is the image's own `node` (a Node.js backend has it; no other image is needed), as root with
 * only CHOWN, DAC_OVERRIDE and FOWNER, no network, a read-only root filesystem. Each file is
 * written to a fresh temporary name (O_EXCL: a planted symlink is not followed), fsynced,
 * chowned to the reader, mode 0400, then renamed into place; files no longer declared are
 * removed; the directory ends owned by the reader, mode 0500.
 */
import { shellQuote } from "../lib/shell-quote";

/** Where the writer mounts the volume. */
export const WRITER_MOUNT = "/secrets";

const FILE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const OWNER = /^\d{1,10}:\d{1,10}$/;

/** The script `node -e` runs: argv[1] is the directory, argv[2] the owner `uid:gid`. */
export const WRITER_SCRIPT = [
  'const fs = require("fs"), path = require("path");',
  "const dir = process.argv[1];",
  'const [uid, gid] = process.argv[2].split(":").map(Number);',
  'let input = "";',
  'process.stdin.setEncoding("utf8");',
  'process.stdin.on("data", (chunk) => (input += chunk));',
  'process.stdin.on("end", () => {',
  "  const files = JSON.parse(input);",
  `  const names = Object.keys(files);`,
  `  for (const name of names) if (!${FILE_NAME.toString()}.test(name)) throw new Error("not a file name: " + name);`,
  "  for (const name of names) {",
  '    const tmp = path.join(dir, "." + name + ".tmp");',
  "    fs.rmSync(tmp, { force: true });",
  '    const fd = fs.openSync(tmp, "wx", 0o400);',
  "    fs.writeSync(fd, files[name]);",
  "    fs.fsyncSync(fd);",
  "    fs.closeSync(fd);",
  "    fs.chownSync(tmp, uid, gid);",
  "    fs.renameSync(tmp, path.join(dir, name));",
  "  }",
  "  for (const entry of fs.readdirSync(dir)) {",
  "    if (!names.includes(entry)) fs.rmSync(path.join(dir, entry), { force: true, recursive: true });",
  "  }",
  "  fs.chownSync(dir, uid, gid);",
  "  fs.chmodSync(dir, 0o500);",
  '  process.stdout.write("wrote " + names.sort().join(", ") + "\\n");',
  "});",
].join("\n");

export interface SecretFilesWriterArgs {
  /** Docker volume that receives the files. */
  volume: string;
  /** Image (ID or reference, already on the host) with `node` on its PATH. */
  image: string;
  /** `uid:gid` of the process that reads the files. */
  owner: string;
}

/** Checks what the writer would refuse, here, where the message can name the argument. */
export function validateSecretFiles(what: string, owner: string, names: string[]): void {
  if (!OWNER.test(owner)) throw new Error(`${what}: owner must be uid:gid (e.g. 1000:1000), got "${owner}"`);
  if (names.length === 0) throw new Error(`${what}: files must name at least one file`);
  for (const name of names) {
    if (!FILE_NAME.test(name)) {
      throw new Error(
        `${what}: file name "${name}" must match ${FILE_NAME.toString()} (no path, no leading dot)`,
      );
    }
  }
}

/** `docker run ...` for the host's shell; it reads `secretFilesInput(...)` on stdin. */
export function secretFilesCommand(args: SecretFilesWriterArgs): string {
  validateSecretFiles("secretFilesCommand", args.owner, ["x"]);
  return [
    "docker run --rm -i --pull never",
    "--network none --read-only --user 0:0",
    "--cap-drop ALL --cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add FOWNER",
    "--security-opt no-new-privileges --log-driver none --memory 128m --pids-limit 64",
    `--mount ${shellQuote(`type=volume,source=${args.volume},target=${WRITER_MOUNT}`)}`,
    `--entrypoint node ${shellQuote(args.image)}`,
    `-e ${shellQuote(WRITER_SCRIPT)} ${WRITER_MOUNT} ${shellQuote(args.owner)}`,
  ].join(" ");
}

/** The writer's stdin: file name -> content, as JSON. */
export function secretFilesInput(files: Record<string, string>): string {
  validateSecretFiles("secretFilesInput", "0:0", Object.keys(files));
  return JSON.stringify(files);
}
