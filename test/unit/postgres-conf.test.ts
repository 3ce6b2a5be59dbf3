import { describe, expect, it } from "vitest";
import {
  confValue,
  formatKb,
  formatSeconds,
  pgbackrestArchiveCommand,
  postgresServerArgs,
  postgresSettings,
  renderPostgresqlConf,
  tunePostgres,
} from "../../renderers/postgresql-conf";

const ARCHIVE = pgbackrestArchiveCommand("main");
const setting = (memoryMb: number, cpus: number, name: string, extra = {}) =>
  postgresSettings({ memoryMb, cpus }, { archiveCommand: ARCHIVE, ...extra }).find((s) => s.name === name)
    ?.value;

describe("tunePostgres: PGTune web-profile arithmetic from container limits", () => {
  // Expected values computed by hand from the documented formulas (see the renderer's header).
  it.each([
    // memoryMb, cpus, max_conn, shared_buffers, effective_cache_size, maintenance_work_mem, work_mem,
    // max_worker_processes, max_parallel_workers, per_gather, maintenance workers, min_wal, max_wal
    [256, 0.5, 25, "64MB", "192MB", "16MB", "1985kB", 8, 1, 0, 0, "256MB", "1GB"],
    [1024, 1, 100, "256MB", "768MB", "64MB", "2427kB", 8, 1, 0, 0, "256MB", "1GB"],
    [4096, 2, 200, "1GB", "3GB", "256MB", "5041kB", 8, 2, 1, 1, "1GB", "4GB"],
    [16384, 8, 200, "4GB", "12GB", "1GB", "20164kB", 8, 8, 4, 4, "1GB", "4GB"],
    [65536, 16, 200, "16GB", "48GB", "2GB", "77672kB", 16, 16, 4, 4, "1GB", "4GB"],
  ] as const)(
    "%i MB / %s CPUs",
    (memoryMb, cpus, maxConn, shared, cache, maint, work, mwp, mpw, gather, maintWorkers, minWal, maxWal) => {
      const get = (name: string) => setting(memoryMb, cpus, name);
      expect(get("max_connections")).toBe(maxConn);
      expect(get("shared_buffers")).toBe(shared);
      expect(get("effective_cache_size")).toBe(cache);
      expect(get("maintenance_work_mem")).toBe(maint);
      expect(get("work_mem")).toBe(work);
      expect(get("max_worker_processes")).toBe(mwp);
      expect(get("max_parallel_workers")).toBe(mpw);
      expect(get("max_parallel_workers_per_gather")).toBe(gather);
      expect(get("max_parallel_maintenance_workers")).toBe(maintWorkers);
      expect(get("min_wal_size")).toBe(minWal);
      expect(get("max_wal_size")).toBe(maxWal);
    },
  );

  it("work_mem follows an explicit max_connections", () => {
    // (4096 - 1024) MB = 3145728 kB / ((50 + 8) * 3) = 18078.9
    const t = tunePostgres({ memoryMb: 4096, cpus: 2 }, 50);
    expect(t.maxConnections).toBe(50);
    expect(t.workMemKb).toBe(18078);
    expect(setting(4096, 2, "max_connections", { maxConnections: 50 })).toBe(50);
  });

  it("a fractional CPU limit rounds up to whole cores for the worker settings", () => {
    expect(tunePostgres({ memoryMb: 1024, cpus: 1.5 }).cores).toBe(2);
    expect(tunePostgres({ memoryMb: 1024, cpus: 1.5 }).maxParallelWorkersPerGather).toBe(1);
    expect(tunePostgres({ memoryMb: 1024, cpus: 0.25 }).cores).toBe(1);
  });

  it("shared_buffers and effective_cache_size are whole 8 kB pages at any size", () => {
    for (const memoryMb of [256, 257, 300, 1000, 1023, 3333]) {
      const t = tunePostgres({ memoryMb, cpus: 1 });
      expect(t.sharedBuffersKb % 8).toBe(0);
      expect(t.effectiveCacheSizeKb % 8).toBe(0);
      expect(t.sharedBuffersKb + t.effectiveCacheSizeKb).toBe(memoryMb * 1024);
    }
  });

  it("rejects memory below 256 MB, naming the argument", () => {
    expect(() => tunePostgres({ memoryMb: 255, cpus: 1 })).toThrow(
      /postgres memoryMb: expected .* >= 256, got 255/,
    );
    expect(() => tunePostgres({ memoryMb: 512.5, cpus: 1 })).toThrow(/memoryMb/);
    expect(() => tunePostgres({ memoryMb: 512, cpus: 0 })).toThrow(/postgres cpus/);
  });

  it("rejects more connections than the memory can give 1 MB of work_mem", () => {
    expect(() => tunePostgres({ memoryMb: 256, cpus: 1 }, 5000)).toThrow(
      /postgres maxConnections: 5000 connections leave work_mem at 13kB with 256MB/,
    );
    expect(() => tunePostgres({ memoryMb: 1024, cpus: 1 }, 5)).toThrow(/from 10 to 5000, got 5/);
  });
});

describe("WAL archiving settings", () => {
  it("archives through pgBackRest with the stanza and config path given", () => {
    expect(pgbackrestArchiveCommand("main")).toBe("pgbackrest --stanza=main archive-push %p");
    expect(pgbackrestArchiveCommand("prod-db", "/etc/pgbackrest/pgbackrest.conf")).toBe(
      "pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=prod-db archive-push %p",
    );
    expect(() => pgbackrestArchiveCommand("bad stanza")).toThrow(/stanza/);
    expect(() => pgbackrestArchiveCommand("main", "relative/path.conf")).toThrow(/configPath/);
  });

  it("wal_level replica, archive_mode on, archive_timeout default 60 s", () => {
    expect(setting(1024, 1, "wal_level")).toBe("replica");
    expect(setting(1024, 1, "archive_mode")).toBe("on");
    expect(setting(1024, 1, "archive_command")).toBe(ARCHIVE);
    expect(setting(1024, 1, "archive_timeout")).toBe("1min");
    expect(setting(1024, 1, "archive_timeout", { archiveTimeoutSeconds: 90 })).toBe("90s");
    expect(setting(1024, 1, "archive_timeout", { archiveTimeoutSeconds: 300 })).toBe("5min");
    expect(setting(1024, 1, "checkpoint_completion_target")).toBe("0.9");
    expect(setting(1024, 1, "recovery_init_sync_method")).toBe("syncfs");
  });

  it("rejects an archive command without %p, a multi-line one, and a bad timeout", () => {
    const limits = { memoryMb: 1024, cpus: 1 };
    expect(() => postgresSettings(limits, { archiveCommand: "true" })).toThrow(/must contain %p/);
    expect(() => postgresSettings(limits, { archiveCommand: "cp %p /x\nrm -rf /" })).toThrow(/single line/);
    expect(() => postgresSettings(limits, { archiveCommand: ARCHIVE, archiveTimeoutSeconds: 0 })).toThrow(
      /archiveTimeoutSeconds: expected 1 to 3600, got 0/,
    );
  });
});

describe("renderings", () => {
  const limits = { memoryMb: 1024, cpus: 1 };
  const options = { archiveCommand: "cp %p '/var/lib/archive/%f'" };

  it("formats sizes and durations the way SHOW prints them", () => {
    expect(formatKb(1985)).toBe("1985kB");
    expect(formatKb(65536)).toBe("64MB");
    expect(formatKb(1048576)).toBe("1GB");
    expect(formatKb(1024 ** 3 * 2)).toBe("2TB");
    expect(formatKb(1536 * 1024)).toBe("1536MB");
    expect(formatSeconds(60)).toBe("1min");
    expect(formatSeconds(3600)).toBe("1h");
    expect(formatSeconds(45)).toBe("45s");
  });

  it("quotes strings in postgresql.conf and doubles embedded quotes", () => {
    expect(confValue(200)).toBe("200");
    expect(confValue("256MB")).toBe("256MB");
    expect(confValue("0.9")).toBe("0.9");
    expect(confValue("on")).toBe("on");
    expect(confValue("replica")).toBe("'replica'");
    expect(confValue("cp %p '/a/%f'")).toBe("'cp %p ''/a/%f'''");
  });

  it("the conf fragment has every setting exactly once, with its comment", () => {
    const conf = renderPostgresqlConf(limits, options);
    const settings = postgresSettings(limits, options);
    const lines = conf.split("\n").filter((l) => /^[a-z_]+ = /.test(l));
    expect(lines.map((l) => l.split(" = ")[0])).toEqual(settings.map((s) => s.name));
    expect(conf).toContain("shared_buffers = 256MB\t# 25 % of the memory limit\n");
    expect(conf).toContain("archive_command = 'cp %p ''/var/lib/archive/%f'''\t#");
    expect(conf).toContain("password_encryption = 'scram-sha-256'");
    expect(conf).toContain("listen_addresses = '*'");
    expect(conf).not.toContain("shared_preload_libraries");
  });

  it("the server arguments carry the same settings, unquoted", () => {
    const args = postgresServerArgs(limits, options);
    const settings = postgresSettings(limits, options);
    expect(args).toHaveLength(settings.length * 2);
    expect(args.filter((_, i) => i % 2 === 0).every((a) => a === "-c")).toBe(true);
    expect(args).toContain("archive_command=cp %p '/var/lib/archive/%f'");
    expect(args).toContain("log_line_prefix=%m [%p] %q%u@%d ");
    expect(args).toContain("shared_buffers=256MB");
  });
});
