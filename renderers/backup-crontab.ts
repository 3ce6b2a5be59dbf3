/**
 * The backup runner's crontab (supercronic dialect: five fields + command), rendered from
 * `InfraConfig.backups.schedules`. Pure: the same text is uploaded into the runner container
 * and checked by the unit tests.
 */
import { cronError } from "../lib/cron";

/** Schedules of the backup jobs, five-field cron expressions (times are UTC in the runner). */
export interface BackupCrontabSchedules {
  /** Full pgBackRest backup to both repositories. */
  full: string;
  /** Differential pgBackRest backup to both repositories. */
  diff: string;
  /** Logical `pg_dump -Fc`. */
  logical: string;
  /** Redis RDB snapshot. */
  redis: string;
  /** `pgbackrest verify` + dump checks. */
  verify: string;
  /** Restore drill into the scratch directory. */
  drill: string;
}

export interface BackupCrontabInput {
  schedules: BackupCrontabSchedules;
  /** Directory of the runner's commands. Default `/usr/local/bin` (where the image installs them). */
  binDir?: string;
  /** Restore drill compares with checksums (`--exact`): only for quiet databases. Default false. */
  drillExact?: boolean;
}

/** One scheduled job: what the crontab line runs. */
export interface BackupJob {
  name: keyof BackupCrontabSchedules;
  schedule: string;
  command: string;
}

export function backupJobs(input: BackupCrontabInput): BackupJob[] {
  const bin = input.binDir ?? "/usr/local/bin";
  if (!bin.startsWith("/") || /\s/.test(bin)) {
    throw new Error(`backup crontab: binDir: expected an absolute path without spaces, got "${bin}"`);
  }
  const s = input.schedules;
  const jobs: BackupJob[] = [
    { name: "full", schedule: s.full, command: `${bin}/backup-pg full` },
    { name: "diff", schedule: s.diff, command: `${bin}/backup-pg diff` },
    { name: "logical", schedule: s.logical, command: `${bin}/backup-logical` },
    { name: "redis", schedule: s.redis, command: `${bin}/backup-redis` },
    { name: "verify", schedule: s.verify, command: `${bin}/backup-verify` },
    {
      name: "drill",
      schedule: s.drill,
      command: `${bin}/restore-drill${input.drillExact ? " --exact" : ""}`,
    },
  ];
  const problems = jobs
    .map((job) => {
      const problem = typeof job.schedule === "string" ? cronError(job.schedule) : "not a string";
      return problem ? `schedules.${job.name} "${String(job.schedule)}": ${problem}` : undefined;
    })
    .filter((p): p is string => p !== undefined);
  if (problems.length > 0)
    throw new Error(`backup crontab: invalid schedule(s):\n  ${problems.join("\n  ")}`);
  return jobs.map((job) => ({ ...job, schedule: job.schedule.trim().split(/\s+/).join(" ") }));
}

export function renderBackupCrontab(input: BackupCrontabInput): string {
  const lines = [
    "# Rendered by renderers/backup-crontab.ts: do not edit by hand.",
    "# Run by supercronic in the backup runner (UTC). Every job writes backup_<kind>.prom metrics.",
  ];
  for (const job of backupJobs(input)) {
    lines.push(`# ${job.name}`, `${job.schedule} ${job.command}`);
  }
  return `${lines.join("\n")}\n`;
}
