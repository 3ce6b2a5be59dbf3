/**
 * What the Docker engine says about the deployed containers, through the docker CLI
 * (`docker inspect`), and the hardening rules the acceptance checks hold them to.
 */
import { runQuick } from "./proc";

export interface ContainerFacts {
  name: string;
  running: boolean;
  health?: string;
  user: string;
  readOnlyRootfs: boolean;
  writableReason?: string;
  capDrop: string[];
  capAdd: string[];
  securityOpt: string[];
  memory: number;
  nanoCpus: number;
  nprocLimit?: number;
  privileged: boolean;
  /** Published ports as `hostIp:hostPort->containerPort`. */
  published: { hostIp: string; hostPort: number; containerPort: string }[];
  networks: string[];
  healthLog: string[];
}

interface InspectJson {
  Name: string;
  State: { Running: boolean; Health?: { Status: string; Log?: { Output: string; ExitCode: number }[] } };
  Config: { User: string; Labels: Record<string, string> | null };
  HostConfig: {
    ReadonlyRootfs: boolean;
    CapDrop: string[] | null;
    CapAdd: string[] | null;
    SecurityOpt: string[] | null;
    Memory: number;
    NanoCpus: number;
    Privileged: boolean;
    Ulimits: { Name: string; Soft: number; Hard: number }[] | null;
  };
  NetworkSettings: {
    Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null;
    Networks: Record<string, unknown>;
  };
}

/** Names of the containers the stacks of this environment created (`backend-infra.component` label). */
export function deployedContainers(namePrefix: string): string[] {
  const r = runQuick("docker", [
    "ps",
    "-a",
    "--filter",
    "label=backend-infra.component",
    "--filter",
    `name=^${namePrefix}-`,
    "--format",
    "{{.Names}}",
  ]);
  if (r.status !== 0) throw new Error(`docker ps failed: ${r.stderr.trim()}`);
  return r.stdout.split("\n").filter(Boolean).sort();
}

export function inspect(name: string): ContainerFacts {
  const r = runQuick("docker", ["inspect", name]);
  if (r.status !== 0) throw new Error(`docker inspect ${name} failed: ${r.stderr.trim()}`);
  const [c] = JSON.parse(r.stdout) as InspectJson[];
  const nproc = (c.HostConfig.Ulimits ?? []).find((u) => u.Name === "nproc");
  return {
    name: c.Name.replace(/^\//, ""),
    running: c.State.Running,
    health: c.State.Health?.Status,
    user: c.Config.User,
    readOnlyRootfs: c.HostConfig.ReadonlyRootfs,
    writableReason: c.Config.Labels?.["backend-infra.writable-rootfs"],
    capDrop: c.HostConfig.CapDrop ?? [],
    capAdd: c.HostConfig.CapAdd ?? [],
    securityOpt: c.HostConfig.SecurityOpt ?? [],
    memory: c.HostConfig.Memory,
    nanoCpus: c.HostConfig.NanoCpus,
    nprocLimit: nproc?.Hard,
    privileged: c.HostConfig.Privileged,
    published: Object.entries(c.NetworkSettings.Ports ?? {}).flatMap(([containerPort, bindings]) =>
      (bindings ?? []).map((b) => ({ hostIp: b.HostIp, hostPort: Number(b.HostPort), containerPort })),
    ),
    networks: Object.keys(c.NetworkSettings.Networks ?? {}),
    healthLog: (c.State.Health?.Log ?? []).slice(-3).map((l) => `exit ${l.ExitCode}: ${l.Output.trim()}`),
  };
}

/** Problems with a container's hardening (empty when it holds every rule). */
export function hardeningProblems(c: ContainerFacts): string[] {
  const problems: string[] = [];
  const user = c.user.split(":")[0];
  if (user === "" || user === "0" || user === "root") problems.push(`runs as root (user "${c.user}")`);
  if (!c.readOnlyRootfs && !c.writableReason)
    problems.push("writable root filesystem without a declared reason");
  if (!c.capDrop.includes("ALL"))
    problems.push(`capabilities not dropped (CapDrop ${JSON.stringify(c.capDrop)})`);
  if (!c.securityOpt.some((o) => /^no-new-privileges(:true)?$/.test(o)))
    problems.push(`no no-new-privileges (SecurityOpt ${JSON.stringify(c.securityOpt)})`);
  if (c.privileged) problems.push("privileged");
  if (!(c.memory > 0)) problems.push("no memory limit");
  if (!(c.nanoCpus > 0)) problems.push("no CPU limit");
  if (!(c.nprocLimit && c.nprocLimit > 0)) problems.push("no process limit (ulimit nproc)");
  return problems;
}

/**
 * Published ports that break the rule "only the edge publishes, admin UIs on 127.0.0.1":
 * anything not on loopback, except the edge's public ports.
 */
export function exposureProblems(c: ContainerFacts, edgeContainer: string, publicPorts: number[]): string[] {
  return c.published
    .filter(
      (p) => !(p.hostIp === "127.0.0.1" || (c.name === edgeContainer && publicPorts.includes(p.hostPort))),
    )
    .map((p) => `publishes ${p.containerPort} on ${p.hostIp || "0.0.0.0"}:${p.hostPort}`);
}

/** Last log lines of a container, for failure reports. */
export function logTail(name: string, lines = 30): string {
  const r = runQuick("docker", ["logs", "--tail", String(lines), name]);
  return (r.stdout + r.stderr).trimEnd();
}

/** Whether a Docker network is internal (no route off the host). */
export function networkInternal(name: string): boolean {
  const r = runQuick("docker", ["network", "inspect", "--format", "{{.Internal}}", name]);
  if (r.status !== 0) throw new Error(`docker network inspect ${name} failed: ${r.stderr.trim()}`);
  return r.stdout.trim() === "true";
}
