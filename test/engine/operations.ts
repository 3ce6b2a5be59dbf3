/**
 * Operations on the deployed containers (issue "Operations on the deployed containers"): the
 * runbooks, unchanged, against the local stack's containers, with `.engine/outputs.json` and
 * `.engine/slot-outputs.json` standing in for `pulumi stack output`. Each scenario prints one
 * line `scenario <name>: ok|FAIL <figures>`.
 *
 * Scenarios here: backup (every job through runbooks/backup-now, listed by runbooks/backup-list
 * in both repositories, with checksum manifests) and pitr (runbooks/disaster-recovery restore --to
 * T restores exactly the rows up to T; a restore to the latest point loses at most 60 s).
 */
import { join } from "node:path";
import type { Checks } from "./checks";
import { mustRun, runQuick } from "./proc";
import type { PulumiSession } from "./pulumi-session";

interface EnvOutputs {
  postgres: { container: string; port: number; database: string };
  backups: { runnerContainer: string };
}

/** A runbook of the checkout against the deployed stack, through the docker seam (a subcommand goes first). */
async function runbook(session: PulumiSession, name: string, args: string[], timeoutMs = 20 * 60_000) {
  const engineDir = session.paths.engineDir;
  return mustRun(
    join(session.paths.root, "runbooks", name),
    [...args, "--outputs", join(engineDir, "outputs.json")],
    {
      timeoutMs,
      env: { ...process.env, BI_SEAM: "docker", BI_LOG_DIR: join(engineDir, "runbook-logs") },
    },
  );
}

/** psql as the postgres OS user in the PostgreSQL container (peer authentication), one value per row. */
function sql(out: EnvOutputs, query: string): string[] {
  const r = runQuick("docker", [
    "exec",
    "-u",
    "postgres",
    out.postgres.container,
    "psql",
    "-X",
    "-qAt",
    "-v",
    "ON_ERROR_STOP=1",
    "-p",
    String(out.postgres.port),
    "-d",
    out.postgres.database,
    "-c",
    query,
  ]);
  if (r.status !== 0) throw new Error(`psql ${query}: ${r.stderr.trim()}`);
  return r.stdout.split("\n").filter(Boolean);
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

export async function operationsScenarios(
  session: PulumiSession,
  checks: Checks,
  slot: string,
): Promise<void> {
  const out = (await session.outputs("local")) as unknown as EnvOutputs;
  const slotOutputs = ["--slot-outputs", join(session.paths.engineDir, "slot-outputs.json")];

  await checks.scenario("backup", async () => {
    const times: string[] = [];
    for (const [what, type] of [
      ["all", "full"],
      ["pg", "diff"],
    ] as const) {
      const started = Date.now();
      await runbook(session, "backup-now", ["--yes", "--what", what, "--type", type]);
      times.push(`${what}/${type} ${seconds(Date.now() - started)} s`);
    }
    const listed = JSON.parse((await runbook(session, "backup-list", ["--json"], 5 * 60_000)).stdout) as {
      postgres: { backup: { type: string; database: { "repo-key": number } }[] }[];
      redis: Record<"local" | "s3", { location: string; manifest: boolean }[]>;
      logical: Record<"local" | "s3", { location: string; manifest: boolean }[]>;
    };
    const kinds = new Set(listed.postgres[0].backup.map((b) => `${b.type}@repo${b.database["repo-key"]}`));
    for (const want of ["full@repo1", "full@repo2", "diff@repo1", "diff@repo2"])
      if (!kinds.has(want)) throw new Error(`backup-list shows no ${want} (has ${[...kinds].join(", ")})`);
    for (const kind of ["redis", "logical"] as const)
      for (const where of ["local", "s3"] as const) {
        const files = listed[kind][where];
        if (!Array.isArray(files) || !files.length)
          throw new Error(`backup-list shows no ${kind} file in ${where}`);
        if (!files[files.length - 1].manifest)
          throw new Error(`the newest ${kind} file in ${where} has no checksum manifest`);
      }
    return `${times.join(", ")}; listed ${[...kinds].length} pgBackRest backup kinds, RDB and dump in local and S3 with manifests`;
  });

  await checks.scenario("pitr", async () => {
    sql(
      out,
      "CREATE TABLE IF NOT EXISTS public.pitr_probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())",
    );
    // A base backup the restore can start from, then 2 minutes of rows, one per second.
    await runbook(session, "backup-now", ["--yes", "--what", "pg", "--type", "diff", "--repo", "1"]);
    const writeUntil = Date.now() + 125_000;
    let target = "";
    while (Date.now() < writeUntil) {
      sql(out, "INSERT INTO public.pitr_probe DEFAULT VALUES");
      if (!target && Date.now() > writeUntil - 65_000) {
        target = sql(
          out,
          "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
        )[0];
        await new Promise((r) => setTimeout(r, 1000));
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    const upToTarget = sql(out, `SELECT count(*) FROM public.pitr_probe WHERE at <= '${target}+00'`)[0];
    const newestBefore = sql(out, "SELECT extract(epoch FROM max(at)) FROM public.pitr_probe")[0];

    // The latest point first (a restore --to T afterwards still reaches T: T lies before the
    // timeline this one starts). What is lost is at most the last archive window.
    /** disaster-recovery restore of PostgreSQL from repo1 to `point`; returns the seconds it took. */
    const restore = async (...point: string[]) => {
      const started = Date.now();
      await runbook(session, "disaster-recovery", [
        "restore",
        "--only",
        "postgres",
        "--from",
        "local",
        ...point,
        "--yes",
        ...slotOutputs,
      ]);
      return seconds(Date.now() - started);
    };
    const latestSeconds = await restore("--latest");
    const newestAfter = sql(out, "SELECT extract(epoch FROM max(at)) FROM public.pitr_probe")[0];
    const rpo = Number(newestBefore) - Number(newestAfter);
    if (!Number.isFinite(rpo) || rpo > 60)
      throw new Error(`restore --latest lost ${rpo} s of rows (at most 60 s)`);

    const restoreSeconds = await restore("--to", `${target}+00`);
    const [count, after] = sql(
      out,
      `SELECT count(*) FROM public.pitr_probe UNION ALL SELECT count(*) FROM public.pitr_probe WHERE at > '${target}+00'`,
    );
    if (count !== upToTarget || after !== "0")
      throw new Error(
        `after restore --to ${target}: ${count} rows (${after} after T), expected ${upToTarget} and 0`,
      );
    sql(out, "DROP TABLE public.pitr_probe");
    return `rpo ${rpo.toFixed(1)} s (restore --latest in ${latestSeconds} s); restore --to T: ${count} rows, exactly those up to T, in ${restoreSeconds} s (slot ${slot} stopped and started)`;
  });
}
