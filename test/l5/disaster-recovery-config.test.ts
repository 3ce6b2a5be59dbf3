/**
 * L5: runbooks/backup-config (the seed's configuration backup) against a real S3 endpoint
 * (s3rver over TLS) with the real AWS CLI, and a fake `pulumi` on PATH that records its calls.
 * Secrets must stay encrypted: the runbook never asks for --show-secrets on export, refuses to
 * upload an export that holds a plaintext secret, and checks every upload by its size.
 */
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Server, type S3Server } from "../support/s3";
import { removeDir, run, skipReason, tempDir, type RunResult } from "../support/tools";

const REPO = resolve(__dirname, "..", "..");
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const PG_PASSWORD = "pg-secret-value-123";
/** A secret that only the masked outputs reveal as one (not a field the runbook knows by name). */
const NESTED_SECRET = "restore-key-secret-789";

describe.skipIf(skipReason("aws", "jq"))("runbooks/backup-config with a fake pulumi and s3rver (L5)", () => {
  let root: string;
  let s3: S3Server;
  let calls: string;

  const FAKE_PULUMI = `#!/usr/bin/env bash
set -euo pipefail
echo "$*" >>"$FAKE_PULUMI_CALLS"
[[ "$1" == --cwd ]] && shift 2
stack="" file="" show=0
args=("$@")
for ((i = 0; i < \${#args[@]}; i++)); do
  case "\${args[i]}" in
    -s) stack=\${args[i+1]} ;;
    --file) file=\${args[i+1]} ;;
    --show-secrets) show=1 ;;
  esac
done
if [[ "$1 $2" == "stack output" ]]; then
  if [[ $show == 1 ]]; then cat "$FAKE_PULUMI_OUTPUTS"; else cat "$FAKE_PULUMI_OUTPUTS_MASKED"; fi
  exit 0
fi
if [[ "$1 $2" == "stack export" ]]; then
  if [[ "$stack" == *-green ]]; then echo "error: no stack named '$stack' found" >&2; exit 255; fi
  if [[ $show == 1 || "$stack" == "$FAKE_PULUMI_LEAKY" ]]; then
    secret='{"${SECRET_SIG}": "1b47061264138c4ac30d75fd1eb44270", "plaintext": "\\"${PG_PASSWORD}\\""}'
  elif [[ "$stack" == "$FAKE_PULUMI_LEAKY_AS_TEXT" ]]; then
    # Not marked as a secret at all, but the value is the (nested) secret output of the env stack.
    secret='"${NESTED_SECRET}"'
  else
    secret='{"${SECRET_SIG}": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:AAAAencrypted=="}'
  fi
  printf '{"version": 3, "deployment": {"manifest": {}, "resources": [{"urn": "urn:pulumi:%s::backend-infra::x", "outputs": {"password": %s}}]}}\\n' "$stack" "$secret" >"$file"
  exit 0
fi
echo "fake pulumi: unexpected arguments: $*" >&2
exit 64
`;

  function backupConfig(args: string[], env: Record<string, string> = {}): RunResult {
    const result = run(join(REPO, "runbooks", "backup-config"), args, {
      cwd: REPO,
      input: "",
      env: {
        ...process.env,
        PATH: `${join(root, "bin")}:${process.env.PATH ?? ""}`,
        FAKE_PULUMI_CALLS: calls,
        FAKE_PULUMI_OUTPUTS: join(root, "outputs.json"),
        FAKE_PULUMI_LEAKY: "",
        FAKE_PULUMI_LEAKY_AS_TEXT: "",
        FAKE_PULUMI_OUTPUTS_MASKED: join(root, "outputs-masked.json"),
        BI_LOG_DIR: join(root, "logs"),
        AWS_ACCESS_KEY_ID: s3.accessKey,
        AWS_SECRET_ACCESS_KEY: s3.secretKey,
        AWS_REQUEST_CHECKSUM_CALCULATION: "when_required",
        AWS_RESPONSE_CHECKSUM_VALIDATION: "when_required",
        ...env,
      },
      timeout: 120_000,
    });
    console.log(`$ backup-config ${args.join(" ")} -> ${result.status}\n${result.stdout}${result.stderr}`);
    return result;
  }

  const s3Args = () => ["--endpoint-url", s3.url, "--ca-bundle", s3.certFile];

  beforeAll(async () => {
    root = tempDir("drcfg");
    s3 = await createS3Server("config-backups");
    calls = join(root, "calls.log");
    writeFileSync(calls, "");
    run("mkdir", ["-p", join(root, "bin")]);
    writeFileSync(join(root, "bin", "pulumi"), FAKE_PULUMI);
    chmodSync(join(root, "bin", "pulumi"), 0o755);
    writeFileSync(
      join(root, "outputs.json"),
      JSON.stringify({
        environment: "prod",
        dockerHost: "ssh://deploy@prod-host",
        postgres: { container: "pg", password: PG_PASSWORD },
        redis: { container: "redis", password: "redis-secret-value-456" },
        backups: { bucket: s3.bucket, region: "us-east-1", extra: { token: NESTED_SECRET } },
      }),
    );
    // What `pulumi stack output --json` prints without --show-secrets.
    writeFileSync(
      join(root, "outputs-masked.json"),
      JSON.stringify({
        environment: "prod",
        dockerHost: "ssh://deploy@prod-host",
        postgres: { container: "pg", password: "[secret]" },
        redis: { container: "redis", password: "[secret]" },
        backups: { bucket: s3.bucket, region: "us-east-1", extra: "[secret]" },
      }),
    );
  });

  afterAll(async () => {
    await s3?.destroy();
    if (root) removeDir(root);
  });

  it("prod without --yes in a non-interactive shell is refused before anything runs", () => {
    const result = backupConfig(["--stack", "prod", ...s3Args()]);
    expect(result.status).toBe(3);
    expect(result.stderr).toContain("refusing to export");
    expect(result.stderr).toContain("against prod");
    expect(readFileSync(calls, "utf8")).not.toMatch(/stack export/);
    expect(s3.keys()).toEqual([]);
  });

  it("--dry-run prints the export and upload commands and uploads nothing", () => {
    const result = backupConfig(["--stack", "prod", "--dry-run", ...s3Args()]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/\[dry-run\] pulumi --cwd \S+ stack export -s prod --file /);
    expect(result.stdout).toMatch(/\[dry-run\] aws --endpoint-url https:\/\/127\.0\.0\.1:\d+ .* s3 cp /);
    expect(s3.keys()).toEqual([]);
    const kms = backupConfig([
      "--stack",
      "prod",
      "--dry-run",
      "--kms-key-id",
      "arn:aws:kms:eu-west-1:1:key/k",
      ...s3Args(),
    ]);
    expect(kms.status, kms.stderr).toBe(0);
    expect(kms.stdout).toContain("--sse aws:kms --sse-kms-key-id arn:aws:kms:eu-west-1:1:key/k --");
  });

  it("exports every existing stack with secrets encrypted and uploads them, checked by size", () => {
    writeFileSync(calls, "");
    const result = backupConfig(["--stack", "prod", "--yes", ...s3Args()]);
    expect(result.status, result.stderr).toBe(0);
    const recorded = readFileSync(calls, "utf8");
    expect(recorded).toMatch(/stack export -s prod --file/);
    expect(recorded).toMatch(/stack export -s prod-blue --file/);
    // never --show-secrets on export (outputs are read with it, exports never)
    for (const line of recorded.split("\n").filter((l) => l.includes("stack export"))) {
      expect(line).not.toContain("--show-secrets");
    }
    const keys = s3.keys("config/prod/");
    const names = keys.map((k) => k.split("/").pop());
    expect(names).toEqual(expect.arrayContaining(["prod.json", "prod-blue.json", "Pulumi.yaml"]));
    expect(names).not.toContain("prod-green.json"); // a slot stack that does not exist is skipped
    expect(new Set(keys.map((k) => k.split("/")[2])).size).toBe(1); // one timestamped folder
    expect(result.stdout).toMatch(
      /uploaded s3:\/\/config-backups\/config\/prod\/\d{8}T\d{6}Z\/prod\.json \(\d+ bytes\)/,
    );
    // the stored object is the encrypted export
    const stored = readFileSync(
      join(s3.dataDir, s3.bucket, `${keys.find((k) => k.endsWith("/prod.json"))}._S3rver_object`),
      "utf8",
    );
    expect(stored).toContain("ciphertext");
    expect(stored).not.toContain(PG_PASSWORD);
  });

  it("an export with a plaintext secret is refused and nothing is uploaded", () => {
    const before = s3.keys();
    const result = backupConfig(["--stack", "prod", "--yes", ...s3Args()], {
      FAKE_PULUMI_LEAKY: "prod-blue",
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("the export of prod-blue holds a secret in plain text");
    expect(result.stderr).toContain("nothing was uploaded");
    expect(s3.keys()).toEqual(before);
  });

  it("a secret that is not marked as one in the export is found through the masked outputs", () => {
    const before = s3.keys();
    const result = backupConfig(["--stack", "prod", "--yes", ...s3Args()], {
      FAKE_PULUMI_LEAKY_AS_TEXT: "prod",
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("the export of prod holds a secret in plain text");
    expect(s3.keys()).toEqual(before);
  });

  it("bad arguments name the argument", () => {
    const outputs = backupConfig(["--outputs", join(root, "outputs.json"), "--yes"]);
    expect(outputs.status).toBe(2);
    // it takes no --outputs file (it runs pulumi itself), and says what it takes instead
    expect(outputs.stderr).toContain(
      "backup-config reads the stacks with pulumi itself: use --stack ENV, not --outputs",
    );
    const none = backupConfig(["--yes"]);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain("backup-config needs --stack ENV");
    const sse = backupConfig(["--stack", "prod", "--sse", "rot13"]);
    expect(sse.status).toBe(2);
    expect(sse.stderr).toContain("--sse needs aws:kms, AES256 or none");
  });
});
