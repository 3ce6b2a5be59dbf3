/**
 * L4: pgBackRest 2.45 reads the rendered pgbackrest.conf as rendered: `help <command> <option>`
 * prints the value it parsed ("current:"), so a value that pgBackRest would split or trim differently
 * from the renderer shows up here. `help` shows the first repository's values only, so repo2's
 * are read from a copy without the repo1 lines.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderPgBackRestConf, type PgBackRestConfInput } from "../../renderers/pgbackrest-conf";
import { PGBACKREST_BASE_INPUT } from "../support/pgbackrest-input";
import { removeDir, runOk, skipReason, tempDir } from "../support/tools";

describe.skipIf(skipReason("pgbackrest"))("pgBackRest reads the rendered pgbackrest.conf", () => {
  let dir: string;
  let conf: string;
  let repo2Only: string;
  const base = PGBACKREST_BASE_INPUT;
  const input: PgBackRestConfInput = {
    ...base,
    repo2: {
      ...base.repo2!,
      credentials: { type: "inline", key: "AKIA=EXAMPLE", secret: "c2VjcmV0==" },
      // '=' inside a value: pgBackRest splits a line at its first '='.
      kmsKeyId: "alias/backups=prod==",
    },
    cipher: { inlinePass: "cGFzcw==" },
  };

  beforeAll(() => {
    dir = tempDir("pgbackrest-conf-l4");
    conf = join(dir, "pgbackrest.conf");
    const text = renderPgBackRestConf(input);
    writeFileSync(conf, text);
    repo2Only = join(dir, "repo2-only.conf");
    writeFileSync(repo2Only, text.replace(/^repo1-.*\n/gm, ""));
  });
  afterAll(() => removeDir(dir));

  const current = (command: string, option: string, file = conf) =>
    /current: (.*)/.exec(
      runOk("pgbackrest", [`--config=${file}`, "--stanza=main", "help", command, option]).stdout,
    )?.[1];

  it("parses every rendered value back unchanged, '=' included", () => {
    expect(current("backup", "repo-path")).toBe("/var/lib/pgbackrest");
    expect(current("backup", "repo-retention-full")).toBe("30");
    expect(current("backup", "repo-s3-kms-key-id", repo2Only)).toBe("alias/backups=prod==");
    expect(current("backup", "repo-s3-bucket", repo2Only)).toBe("backend-infra-prod-backups");
    expect(current("backup", "repo-retention-full", repo2Only)).toBe("90");
    expect(current("backup", "process-max")).toBe("2");
    expect(current("backup", "compress-type")).toBe("lz4");
    expect(current("restore", "pg-path")).toBe("/var/lib/postgresql/data");
    // Secrets are parsed (pgBackRest redacts them in help) rather than refused.
    expect(current("backup", "repo-cipher-pass")).toBe("<redacted>");
    expect(current("backup", "repo-s3-key", repo2Only)).toBe("<redacted>");
    expect(current("backup", "repo-s3-key-secret", repo2Only)).toBe("<redacted>");
  });
});
