/**
 * Acceptance on the deployed containers (real-engine issue, item 4): health, the edge over TLS,
 * the hardening Docker reports, network isolation, Prometheus' targets, and the backup runner's
 * first jobs with their metrics in Prometheus.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Checks } from "./checks";
import {
  deployedContainers,
  exposureProblems,
  hardeningProblems,
  inspect,
  logTail,
  networkInternal,
} from "./docker-facts";
import { httpsGet, waitFor } from "./http";
import { EDGE_HTTPS } from "./lifecycle";
import { mustRun, run, runQuick } from "./proc";
import type { PulumiSession } from "./pulumi-session";
import { NAME_PREFIX } from "./stacks";

const PROMETHEUS = "http://127.0.0.1:9090";
const ALERTMANAGER = "http://127.0.0.1:9093";
const EDGE_PUBLIC_PORTS = [8080, 8443];

interface EnvOutputs {
  networks: Record<string, string>;
  edge: { container: string };
  traffic: { active: string };
  postgres: { container: string; image: string; password: string };
  redis: { container: string; appPassword: string };
  backups: { runnerContainer: string };
  monitoring: { operatorUser: string; operatorPassword: string; containers: Record<string, string> };
}

/** The operator's login (basic auth) for Prometheus and Alertmanager, from the stack outputs. */
let operatorAuth: Record<string, string> = {};
const basicAuth = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});

/** Whether `host:port` accepts a TCP connection from a fresh container on `network`. */
async function reachable(network: string, image: string, host: string, port: number): Promise<boolean> {
  const r = await run("docker", [
    "run",
    "--rm",
    "--network",
    network,
    "--user",
    "999:999",
    "--entrypoint",
    "bash",
    image,
    "-c",
    'timeout 3 bash -c "</dev/tcp/$0/$1"',
    host,
    String(port),
  ]);
  return r.status === 0;
}

function ipOn(container: string, network: string): string {
  const r = runQuick("docker", [
    "inspect",
    "--format",
    `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
    container,
  ]);
  const ip = r.stdout.trim();
  if (r.status !== 0 || !ip) throw new Error(`${container} has no address on ${network}: ${r.stderr.trim()}`);
  return ip;
}

async function prometheus(path: string): Promise<unknown> {
  const r = await httpsGet(`${PROMETHEUS}${path}`, 5000, operatorAuth);
  if (r.status !== 200) throw new Error(`Prometheus ${path}: ${r.status} ${r.body.slice(0, 200)}`);
  return (JSON.parse(r.body) as { data: unknown }).data;
}

export async function acceptanceChecks(session: PulumiSession, checks: Checks): Promise<void> {
  const out = JSON.parse(readFileSync(join(session.paths.engineDir, "outputs.json"), "utf8")) as EnvOutputs;
  const containers = deployedContainers(NAME_PREFIX);
  operatorAuth = basicAuth(out.monitoring.operatorUser, out.monitoring.operatorPassword);

  await checks.check(`every container is healthy (${containers.length})`, async () => {
    const unhealthy = () => containers.map(inspect).filter((c) => !c.running || c.health !== "healthy");
    try {
      await waitFor("all healthy", 180, async () => unhealthy().length === 0);
    } catch {
      throw new Error(
        unhealthy()
          .map(
            (c) =>
              `${c.name}: ${c.running ? c.health : "not running"}\n  health: ${c.healthLog.join(" | ")}\n${logTail(c.name, 15)}`,
          )
          .join("\n"),
      );
    }
    return containers.join(", ");
  });

  await checks.check(
    "the edge serves the backend over TLS: /health 200, /ping in the active colour",
    async () => {
      const health = await httpsGet(`${EDGE_HTTPS}/health`);
      if (health.status !== 200) throw new Error(`/health: ${health.status} ${health.body.slice(0, 200)}`);
      const ping = await httpsGet(`${EDGE_HTTPS}/ping`);
      const colour = (JSON.parse(ping.body) as { colour?: string }).colour;
      if (ping.status !== 200 || colour !== out.traffic.active)
        throw new Error(`/ping: ${ping.status} ${ping.body} (active is ${out.traffic.active})`);
      return `/ping -> ${colour}`;
    },
  );

  await checks.check(
    "docker inspect: non-root, read-only or declared, caps dropped, no-new-privileges, limits",
    () => {
      const problems = containers.flatMap((name) =>
        hardeningProblems(inspect(name)).map((p) => `${name}: ${p}`),
      );
      if (problems.length) throw new Error(problems.join("\n"));
      const writable = containers.map(inspect).filter((c) => !c.readOnlyRootfs);
      return `${containers.length} containers; writable root filesystems with reasons: ${writable.map((c) => c.name).join(", ") || "none"}`;
    },
  );

  await checks.check(
    "backend replicas read their connection URLs from 0400 files: no password in docker inspect",
    () => {
      const replicas = containers.filter((n) => n.startsWith(`${NAME_PREFIX}-backend-`));
      if (replicas.length === 0) throw new Error("no backend replica deployed");
      const secrets = [out.postgres.password, out.redis.appPassword].flatMap((p) => [
        p,
        encodeURIComponent(p),
      ]);
      const problems: string[] = [];
      for (const name of replicas) {
        const raw = runQuick("docker", ["inspect", name]).stdout;
        if (secrets.some((secret) => raw.includes(secret)))
          problems.push(`${name}: a password in docker inspect`);
        for (const file of ["/run/secrets/database-url", "/run/secrets/redis-url"]) {
          const stat = runQuick("docker", ["exec", name, "stat", "-c", "%a %u", file]);
          if (stat.stdout.trim() !== "400 1000")
            problems.push(
              `${name}: ${file}: ${(stat.stdout + stat.stderr).trim()} (expected mode 400, owner 1000)`,
            );
        }
      }
      if (problems.length) throw new Error(problems.join("\n"));
      return replicas.join(", ");
    },
  );

  await checks.check("only the edge publishes ports; everything else on 127.0.0.1", () => {
    const problems = containers.flatMap((name) =>
      exposureProblems(inspect(name), out.edge.container, EDGE_PUBLIC_PORTS).map((p) => `${name}: ${p}`),
    );
    if (problems.length) throw new Error(problems.join("\n"));
  });

  await checks.check(
    "isolation: Postgres and Redis from the data network only; data network internal",
    async () => {
      const { data, edge, app } = out.networks;
      if (!networkInternal(data)) throw new Error(`${data} is not internal`);
      const image = out.postgres.image;
      const targets = [
        {
          name: "postgres",
          host: out.postgres.container,
          ip: ipOn(out.postgres.container, data),
          port: 5432,
        },
        { name: "redis", host: out.redis.container, ip: ipOn(out.redis.container, data), port: 6379 },
      ];
      const wrong: string[] = [];
      for (const t of targets) {
        if (!(await reachable(data, image, t.host, t.port)))
          wrong.push(`${t.name} not reachable from ${data}`);
        for (const net of [edge, app]) {
          for (const host of [t.host, t.ip]) {
            if (await reachable(net, image, host, t.port))
              wrong.push(`${t.name} (${host}) reachable from ${net}`);
          }
        }
      }
      if (wrong.length) throw new Error(wrong.join("; "));
      return "reachable from data; not from edge or app, by name or address";
    },
  );

  await checks.check(
    "Prometheus and Alertmanager: 401 without a login or with a wrong one, 200 as the operator; no password in docker inspect",
    async () => {
      const problems: string[] = [];
      const paths: [string, string[]][] = [
        [PROMETHEUS, ["/-/healthy", "/-/ready", "/metrics", "/api/v1/alerts"]],
        [ALERTMANAGER, ["/-/healthy", "/-/ready", "/metrics", "/api/v2/status"]],
      ];
      for (const [base, list] of paths) {
        for (const path of list) {
          const none = await httpsGet(`${base}${path}`);
          const wrong = await httpsGet(
            `${base}${path}`,
            5000,
            basicAuth(out.monitoring.operatorUser, "wrong"),
          );
          const right = await httpsGet(`${base}${path}`, 5000, operatorAuth);
          const got = [none.status, wrong.status, right.status].join("/");
          if (got !== "401/401/200") problems.push(`${base}${path}: ${got} (expected 401/401/200)`);
        }
      }
      // The healthchecks read a header file in the container: neither a password nor its
      // base64 in what docker inspect shows (config, healthcheck, env, labels).
      const secrets = [out.monitoring.operatorPassword, operatorAuth.authorization.slice("Basic ".length)];
      for (const service of ["prometheus", "alertmanager", "grafana"]) {
        const name = out.monitoring.containers[service];
        const raw = runQuick("docker", ["inspect", name]).stdout;
        if (secrets.some((secret) => raw.includes(secret)))
          problems.push(`${name}: the operator's login in docker inspect`);
        if (/Authorization: Basic [A-Za-z0-9+/=]{8,}/.test(raw))
          problems.push(`${name}: a basic auth header in docker inspect`);
      }
      if (problems.length) throw new Error(problems.join("\n"));
      return "every path asks for a login; healthchecks healthy without a password in their spec";
    },
  );

  await checks.check("every Prometheus scrape target is up", async () => {
    type Target = { health: string; labels: { job: string; instance: string }; lastError: string };
    let down: Target[] = [];
    let all: Target[] = [];
    try {
      await waitFor("targets up", 120, async () => {
        all = ((await prometheus("/api/v1/targets?state=active")) as { activeTargets: Target[] })
          .activeTargets;
        down = all.filter((t) => t.health !== "up");
        return all.length > 0 && down.length === 0;
      });
    } catch (error) {
      if (!all.length) throw error;
      throw new Error(
        down.map((t) => `${t.labels.job} ${t.labels.instance}: ${t.health} ${t.lastError}`).join("\n"),
      );
    }
    return `${all.length} targets: ${[...new Set(all.map((t) => t.labels.job))].join(", ")}`;
  });

  await checks.check("backup runner: stanza created, a first full backup in both repositories", async () => {
    const runner = out.backups.runnerContainer;
    await mustRun("docker", ["exec", runner, "backup-pg", "full"], { timeoutMs: 15 * 60_000 });
    const info = await mustRun("docker", ["exec", runner, "pgbackrest", "info", "--output=json"]);
    const stanza = (
      JSON.parse(info.stdout) as {
        backup: { type: string; database: { "repo-key": number } }[];
        status: { code: number };
      }[]
    )[0];
    const repos = new Set(stanza.backup.filter((b) => b.type === "full").map((b) => b.database["repo-key"]));
    if (!repos.has(1) || !repos.has(2))
      throw new Error(`full backups in repositories ${[...repos].join(",") || "none"}, expected 1 and 2`);
    return "full backup in repo1 (local volume) and repo2 (S3 stand-in)";
  });

  await checks.check("backup-redis snapshots Redis as the backup ACL user", async () => {
    const runner = out.backups.runnerContainer;
    await mustRun("docker", ["exec", runner, "backup-redis"], { timeoutMs: 5 * 60_000 });
    const user = runQuick("docker", ["exec", runner, "printenv", "REDIS_USER"]).stdout.trim();
    if (user !== "backup") throw new Error(`the runner's REDIS_USER is "${user}", expected backup`);
    return "an RDB snapshot taken as user backup";
  });

  await checks.check("the exporters log in as their monitoring users: pg_up and redis_up are 1", async () => {
    const values: Record<string, string> = {};
    await waitFor("pg_up and redis_up", 90, async () => {
      for (const metric of ["pg_up", "redis_up"]) {
        const data = (await prometheus(`/api/v1/query?query=${metric}`)) as {
          result: { value: [number, string] }[];
        };
        values[metric] = data.result[0]?.value[1] ?? "absent";
      }
      return values.pg_up === "1" && values.redis_up === "1";
    });
    return `pg_up = ${values.pg_up}, redis_up = ${values.redis_up}`;
  });

  await checks.check("the backup metrics reach Prometheus", async () => {
    let value = "";
    await waitFor("backup_last_status{kind=pg_full}", 90, async () => {
      const data = (await prometheus(
        `/api/v1/query?query=${encodeURIComponent('backup_last_status{kind="pg_full"}')}`,
      )) as {
        result: { value: [number, string] }[];
      };
      value = data.result[0]?.value[1] ?? "";
      return value === "1";
    });
    return `backup_last_status{kind="pg_full"} = ${value}`;
  });
}
