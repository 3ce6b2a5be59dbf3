import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { dockerCpus, ServiceContainer } from "../../components/service-container";
import { goDurationFromSeconds } from "../../lib/go-duration";
import { runProgram, waitForRegistrations } from "../harness/run-program";

const registered: { type: string; name: string; inputs: Record<string, unknown> }[] = [];

async function build(args: Partial<ConstructorParameters<typeof ServiceContainer>[1]> = {}) {
  registered.length = 0;
  await pulumi.runtime.setMocks(
    {
      newResource: (a) => {
        registered.push({ type: a.type, name: a.name, inputs: a.inputs });
        const state =
          a.type === "docker:index/remoteImage:RemoteImage"
            ? {
                ...a.inputs,
                repoDigest: `redis@sha256:${"b".repeat(64)}`,
                imageId: `sha256:${"c".repeat(64)}`,
              }
            : a.inputs;
        return { id: `${a.name}-id`, state };
      },
      call: () => ({}),
    },
    "backend-infra",
    "test",
    false,
    "organization",
  );
  const service = new ServiceContainer("cache", {
    containerName: "bi-test-cache",
    image: "redis:7.2.6-bookworm",
    user: "999:999",
    memoryMb: 256,
    cpus: 0.5,
    healthcheck: { test: ["CMD", "redis-cli", "ping"] },
    networks: [{ name: "bi-test-data", aliases: ["redis"] }],
    ...args,
  });
  await new Promise<void>((resolve) => service.container.id.apply(() => resolve()));
  // The component's own outputs register after that; the next test's mocks must not see them.
  await waitForRegistrations();
  const container = registered.find((r) => r.type === "docker:index/container:Container");
  if (!container) throw new Error("no container registered");
  return container.inputs;
}

describe("ServiceContainer hardening defaults", () => {
  it("applies limits, non-root user, dropped capabilities, no-new-privileges, log rotation, healthcheck", async () => {
    const inputs = await build();
    expect(inputs).toMatchObject({
      name: "bi-test-cache",
      user: "999:999",
      memory: 256,
      memorySwap: 256,
      cpus: "0.5",
      restart: "unless-stopped",
      readOnly: true,
      privileged: false,
      capabilities: { drops: ["ALL"], adds: [] },
      securityOpts: ["no-new-privileges:true"],
      logDriver: "json-file",
      logOpts: { "max-size": "10m", "max-file": "5" },
      healthcheck: { tests: ["CMD", "redis-cli", "ping"], interval: "10s", timeout: "5s", retries: 3 },
      ports: [],
    });
    expect(inputs.ulimits).toContainEqual({ name: "nproc", soft: 512, hard: 512 });
    expect(inputs.ulimits).toContainEqual({ name: "nofile", soft: 65536, hard: 65536 });
    expect(inputs.tmpfs).toHaveProperty("/tmp");
  });

  it("takes the open-files limit from its argument (config containerOpenFilesLimit)", async () => {
    const inputs = await build({ openFilesLimit: 20000 });
    expect(inputs.ulimits).toContainEqual({ name: "nofile", soft: 20000, hard: 20000 });
  });

  it("pulls a pinned tag through RemoteImage and runs its image ID (what the provider reads back)", async () => {
    const inputs = await build();
    expect(registered.find((r) => r.type === "docker:index/remoteImage:RemoteImage")?.inputs.name).toBe(
      "redis:7.2.6-bookworm",
    );
    expect(inputs.image).toBe(`sha256:${"c".repeat(64)}`);
  });

  it("stops the container with its own grace period before a replace or delete removes it", async () => {
    expect((await build()).destroyGraceSeconds).toBe(10);
    expect((await build({ stopTimeoutSeconds: 120 })).destroyGraceSeconds).toBe(120);
  });

  it("refuses a root user", async () => {
    await expect(build({ user: "0:0" })).rejects.toThrowError(/non-root user/);
    await expect(build({ user: "root" })).rejects.toThrowError(/non-root user/);
  });

  it("refuses uploads into a read-only root filesystem, and labels the exception when allowed", async () => {
    await expect(build({ uploads: [{ file: "/etc/app.conf", content: "x" }] })).rejects.toThrowError(
      /writableRootfsReason/,
    );
    const inputs = await build({
      uploads: [{ file: "/etc/app.conf", content: "x" }],
      writableRootfsReason: "uploads app.conf",
    });
    expect(inputs.readOnly).toBe(false);
    expect(inputs.labels).toContainEqual({
      label: "backend-infra.writable-rootfs",
      value: "uploads app.conf",
    });
  });
});

describe("container replacement in the real plans", () => {
  it("replaces fixed-name containers delete-first and slot replicas create-first", async () => {
    const { runProgram } = await import("../harness/run-program.js");
    for (const stack of ["prod", "prod-blue"]) {
      const plan = await runProgram(stack);
      const containers = plan.resources.filter((r) => r.type === "docker:index/container:Container");
      expect(containers.length).toBeGreaterThan(0);
      for (const c of containers) {
        const isReplica =
          c.inputs.labels &&
          JSON.stringify(c.inputs.labels).includes('"backend-infra.role","value":"backend"');
        expect(c.options.deleteBeforeReplace, `${stack} ${c.name}`).toBe(!isReplica);
      }
    }
  });
});

describe("containerOpenFilesLimit", () => {
  it("reaches every container of the env stack (monitoring on) and of a slot stack", async () => {
    for (const stack of ["staging", "staging-blue"]) {
      const plan = await runProgram(stack, { overrides: { containerOpenFilesLimit: "20000" } });
      const containers = plan.resources.filter((r) => r.type === "docker:index/container:Container");
      expect(containers.length, stack).toBeGreaterThan(0);
      for (const c of containers) {
        // The Docker provider refuses an empty command or entrypoint argument at apply time.
        const argv = [
          ...((c.inputs.command as string[]) ?? []),
          ...((c.inputs.entrypoints as string[]) ?? []),
        ];
        expect(argv, `${stack} ${c.name}`).not.toContain("");
        expect(c.inputs.ulimits, `${stack} ${c.name}`).toContainEqual({
          name: "nofile",
          soft: 20000,
          hard: 20000,
        });
      }
    }
  });

  it("refuses a limit Docker containers cannot sensibly run with, naming the key", async () => {
    await expect(runProgram("local", { overrides: { containerOpenFilesLimit: "100" } })).rejects.toThrow(
      /containerOpenFilesLimit.*2048/,
    );
  });
});

describe("dockerCpus", () => {
  it("writes the CPU limit the way the Docker provider reads it back (no diff on the next preview)", () => {
    expect(dockerCpus(1)).toBe("1.0");
    expect(dockerCpus(2)).toBe("2.0");
    expect(dockerCpus(0.25)).toBe("0.25");
    expect(dockerCpus(1.5)).toBe("1.5");
    expect(dockerCpus(0.05)).toBe("0.05");
    expect(() => dockerCpus(0)).toThrow(/cpus must be a positive number/);
  });
});

describe("goDurationFromSeconds", () => {
  it("writes healthcheck durations the way the Docker provider reads them back (no diff on the next preview)", () => {
    expect(goDurationFromSeconds(0)).toBe("0s");
    expect(goDurationFromSeconds(10)).toBe("10s");
    expect(goDurationFromSeconds(59)).toBe("59s");
    expect(goDurationFromSeconds(60)).toBe("1m0s");
    expect(goDurationFromSeconds(120)).toBe("2m0s");
    expect(goDurationFromSeconds(330)).toBe("5m30s");
    expect(goDurationFromSeconds(3600)).toBe("1h0m0s");
    expect(goDurationFromSeconds(3725)).toBe("1h2m5s");
    expect(() => goDurationFromSeconds(1.5)).toThrow(/whole number of seconds/);
  });

  it("is what a container with a long start period declares", async () => {
    const inputs = await build({ healthcheck: { test: ["CMD", "true"], startPeriodSeconds: 330 } });
    expect(inputs.healthcheck).toMatchObject({ startPeriod: "5m30s", interval: "10s" });
  });
});
