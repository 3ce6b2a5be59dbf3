import { describe, expect, it } from "vitest";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { registryHost } from "../../components/docker-provider";
import { slotRebalanceCommand } from "../../components/slot-rebalance";
import { imageRunBy } from "../harness/images";
import { runProgram, type PlannedResource } from "../harness/run-program";

const DIGEST = `sha256:${"d".repeat(64)}`;
const containersOf = (resources: PlannedResource[]) =>
  resources.filter((r) => r.type === "docker:index/container:Container");

describe("slot stack prod-blue", async () => {
  const plan = await runProgram("prod-blue");
  const env = await runProgram("prod");
  const containers = containersOf(plan.resources);
  const envPostgres = env.outputs.postgres as Record<string, unknown>;
  const envRedis = env.outputs.redis as Record<string, unknown>;

  it("reads the env stack through a StackReference and registers only backend resources", () => {
    expect(plan.resources.find((r) => r.type === "pulumi:pulumi:StackReference")?.inputs.name).toBe(
      "organization/backend-infra/prod",
    );
    const types = new Set(plan.resources.map((r) => r.type));
    expect(types.has("docker:index/network:Network")).toBe(false);
    const provider = plan.resources.find((r) => r.type === "pulumi:providers:docker");
    expect(provider?.inputs.host).toBe(env.outputs.dockerHost);
    // A private backendImage is pulled with the registry's credentials (the password stays secret).
    // Provider inputs reach the engine JSON-encoded.
    expect(JSON.parse(String(provider?.inputs.registryAuth))).toEqual([
      { address: "ghcr.io", username: "deploy-bot", password: expect.any(String) },
    ]);
    expect(provider?.secretInputs).toContain("registryAuth");
  });

  it("names the registry host for the credentials, and sends none without a registry", async () => {
    expect(registryHost("ghcr.io/example/backend-infra")).toBe("ghcr.io");
    expect(registryHost("https://registry.example.com:5000/team")).toBe("registry.example.com:5000");
    const local = await runProgram("local-blue");
    const provider = local.resources.find((r) => r.type === "pulumi:providers:docker");
    expect(provider?.inputs.registryAuth).toBeUndefined();
  });

  it("runs backendReplicas (3) hardened containers with the slot alias on the app network", () => {
    expect(containers).toHaveLength(3);
    containers.forEach((c, i) => {
      expect(String(c.inputs.name)).toMatch(
        new RegExp(`^backend-infra-prod-backend-blue-${i + 1}-[a-f0-9]{8}$`),
      );
      expect(c.inputs.user).toBe("1000:1000");
      expect(c.inputs.memory).toBe(512);
      expect(c.inputs.stopTimeout).toBe(30);
      expect(c.inputs.stopSignal).toBe("SIGTERM");
      expect(c.inputs.readOnly).toBe(true);
      expect(c.inputs.ports).toEqual([]);
      const nets = c.inputs.networksAdvanced as { name: string; aliases?: string[] }[];
      expect(nets).toEqual([
        { name: "backend-infra-prod-app", aliases: ["backend-blue"] },
        { name: "backend-infra-prod-data" },
        { name: "backend-infra-prod-monitoring", aliases: ["backend-blue"] },
      ]);
      const health = c.inputs.healthcheck as { tests: string[] };
      expect(health.tests.join(" ")).toContain("http://127.0.0.1:4000/health");
    });
  });

  it("hands the database and Redis URLs to the replicas as files, never as env values", () => {
    const envs = containers[0].inputs.envs as string[];
    expect(envs).toContain("APP_COLOUR=blue");
    expect(envs).toContain("PORT=4000");
    expect(envs).toContain("DATABASE_URL_FILE=/run/secrets/database-url");
    expect(envs).toContain("REDIS_URL_FILE=/run/secrets/redis-url");
    // No password in any container's spec (docker inspect shows env and labels).
    for (const c of containers) {
      const spec = JSON.stringify(c.inputs);
      expect(spec).not.toContain(encodeURIComponent(String(envPostgres.password)));
      expect(spec).not.toContain(encodeURIComponent(String(envRedis.appPassword)));
      expect(c.inputs.volumes).toEqual([
        {
          volumeName: "backend-infra-prod-backend-blue-secrets",
          containerPath: "/run/secrets",
          readOnly: true,
        },
      ]);
    }
    // drain shorter than the stop timeout, so SIGTERM -> 503 -> edge stops sending -> exit
    expect(envs).toContain("SHUTDOWN_DRAIN_MS=5000");
  });

  it("writes the URL files once per change, from stdin (a secret), into the slot's volume", () => {
    const volume = plan.resources.find((r) => r.type === "docker:index/volume:Volume");
    expect(volume?.inputs.name).toBe("backend-infra-prod-backend-blue-secrets");
    const write = plan.resources.find((r) => r.type === "command:local:Command" && r.name.endsWith("-write"));
    expect(write?.secretInputs).toContain("stdin");
    expect(JSON.parse(String(write?.inputs.stdin))).toEqual({
      "database-url":
        `postgres://${String(envPostgres.user)}:${encodeURIComponent(String(envPostgres.password))}@` +
        `${String(envPostgres.host)}:${String(envPostgres.port)}/${String(envPostgres.database)}`,
      // The app's ACL user, never the administrator's password.
      "redis-url": `redis://${String(envRedis.appUser)}:${encodeURIComponent(String(envRedis.appPassword))}@${String(envRedis.host)}:${String(envRedis.port)}`,
    });
    const create = String(write?.inputs.create);
    expect(create).toMatch(/^docker run --rm -i --pull never --network none --read-only /);
    expect(create).toContain("type=volume,source=backend-infra-prod-backend-blue-secrets,target=/secrets");
    expect(create).not.toContain(String(envPostgres.password));
    expect(write?.inputs.environment).toEqual({ DOCKER_HOST: env.outputs.dockerHost });
    // A replica's spec names the secrets' revision, so new URLs replace the replicas.
    expect(containers[0].inputs.labels).toContainEqual({
      label: "backend-infra.secrets-revision",
      value: expect.stringMatching(/^[a-f0-9]{16}$/),
    });
  });

  it("replaces replicas one at a time: each container waits for the one before", () => {
    expect(containers[0].dependencies.some((d) => d.includes("Container::"))).toBe(false);
    expect(containers[1].dependencies).toContain(containers[0].urn);
    expect(containers[2].dependencies).toContain(containers[1].urn);
    expect(containers[1].inputs.labels).toContainEqual({
      label: "backend-infra.started-after",
      value: containers[0].inputs.name,
    });
  });

  it("builds examples/backend with a content-hash tag, pushes it and runs it by digest (prod)", () => {
    const image = plan.resources.find(
      (r) => r.type === "docker:index/remoteImage:RemoteImage" && r.inputs.build,
    );
    expect(image?.inputs).toMatchObject({
      // Absolute: the provider runs from dist/, where a relative context does not resolve.
      build: { context: resolve(__dirname, "../../examples/backend"), dockerfile: "Dockerfile" },
      keepLocally: true,
    });
    expect(String(image?.inputs.name)).toMatch(
      /^ghcr\.io\/example\/backend-infra\/backend:src-[a-f0-9]{12}$/,
    );
    expect(image?.inputs.triggers).toEqual({ sources: expect.stringMatching(/^[a-f0-9]{64}$/) });
    // Pushed under that tag; the stack reports the pushed digest, the containers run the build's ID.
    const push = plan.resources.find((r) => r.type === "docker:index/registryImage:RegistryImage");
    expect(push?.inputs).toMatchObject({ name: image?.inputs.name, keepRemotely: true });
    expect(imageRunBy(plan.resources, containers[0]).name).toBe(image?.inputs.name);
    expect(plan.outputs.image).toMatch(/^ghcr\.io\/example\/backend-infra\/backend@sha256:[a-f0-9]{64}$/);
  });

  it("exports the slot contract", () => {
    expect(plan.outputs).toEqual({
      environment: "prod",
      slot: "blue",
      // What runs, by the digest the push returned.
      image: expect.stringMatching(/^ghcr\.io\/example\/backend-infra\/backend@sha256:[a-f0-9]{64}$/),
      containers: containers.map((c) => c.inputs.name),
      upstream: "backend-blue:4000",
    });
  });
});

describe("slot stacks re-apply the env's traffic target for their replica count", () => {
  const rebalanceOf = (resources: PlannedResource[]) =>
    resources.find((r) => r.type === "command:local:Command" && r.name.endsWith("-traffic-apply"));

  it("runs the switch CLI with the env's target, this slot's replicas and the other colour counted", async () => {
    const plan = await runProgram("prod-green", { overrides: { backendReplicas: "5" } });
    const env = await runProgram("prod");
    const run = rebalanceOf(plan.resources);
    expect(run?.name).toBe("backend-green-traffic-apply");
    expect(run?.inputs.create).toBe(
      "node dist/tools/traffic-switch.js apply --active blue --canary-percent 0 " +
        "--docker-container 'backend-infra-prod-edge' --admin-tcp '127.0.0.1:9999' " +
        "--state-file '/var/lib/haproxy/server-state' --wait-healthy 60 " +
        "--replicas green=5 --replicas-from-docker 'backend-infra-prod-app' --health-gate new",
    );
    expect(run?.inputs.update).toBe(run?.inputs.create);
    expect(run?.inputs.delete).toBeUndefined();
    expect(run?.inputs.environment).toEqual({ DOCKER_HOST: env.outputs.dockerHost });
    // re-runs when the slot's containers change (new revision or a different count)
    const names = containersOf(plan.resources).map((c) => c.inputs.name);
    expect(names).toHaveLength(5);
    expect(run?.inputs.triggers).toEqual([names]);
    // after every replica exists: the command's own inputs depend on each container
    for (const container of containersOf(plan.resources)) {
      expect(run?.dependencies).toContain(container.urn);
    }
  });

  it("follows the env's canary, and says so when the env's traffic output is not a target", async () => {
    const canary = await runProgram("prod-green", {
      envOverrides: { trafficActive: "green", trafficCanaryPercent: "10" },
    });
    expect(rebalanceOf(canary.resources)?.inputs.create).toContain(
      "apply --active green --canary-percent 10 ",
    );
    const resolved = {
      colour: "green" as const,
      replicas: 2,
      edge: { container: "edge", adminTcp: "127.0.0.1:9999", stateFile: "/s" },
      appNetwork: "app",
    };
    expect(() =>
      slotRebalanceCommand({ ...resolved, target: { active: "green", canaryPercent: 150 } }),
    ).toThrow(/the env stack's traffic output is not a valid target: .*canaryPercent/);
    expect(() =>
      slotRebalanceCommand({ ...resolved, target: { active: "purple" as never, canaryPercent: 0 } }),
    ).toThrow(/not a valid target: .*active/);
  });
});

describe("slot stacks: colours, pinned images and rolling replacement", () => {
  it("prod-green uses the green alias and colour", async () => {
    const plan = await runProgram("prod-green");
    const [first] = containersOf(plan.resources);
    expect((first.inputs.networksAdvanced as { aliases?: string[] }[])[0].aliases).toEqual(["backend-green"]);
    expect(first.inputs.envs).toContain("APP_COLOUR=green");
    expect(plan.outputs).toMatchObject({ slot: "green", upstream: "backend-green:4000" });
  });

  it("runs a configured image by the digest its pull resolves", async () => {
    const image = `ghcr.io/acme/backend:1.4.2@${DIGEST}`;
    const plan = await runProgram("prod-blue", { overrides: { backendImage: image } });
    const pull = plan.resources.find((r) => r.type === "docker:index/remoteImage:RemoteImage");
    expect(pull?.inputs.name).toBe(image);
    expect(plan.resources.some((r) => r.inputs.build !== undefined)).toBe(false);
    expect(plan.resources.some((r) => r.type === "docker:index/registryImage:RegistryImage")).toBe(false);
    for (const c of containersOf(plan.resources))
      expect(imageRunBy(plan.resources, c)).toEqual({
        name: image,
        repoDigest: `ghcr.io/acme/backend@${DIGEST}`,
      });
    expect(plan.outputs.image).toBe(`ghcr.io/acme/backend@${DIGEST}`);
  });

  it("gives replacement containers new names (create-before-delete needs no name clash)", async () => {
    const names = async (overrides: Record<string, string>) =>
      containersOf((await runProgram("prod-blue", { overrides })).resources).map((c) =>
        String(c.inputs.name),
      );
    const a = await names({ backendImage: `ghcr.io/acme/backend:1.4.2@${DIGEST}` });
    const b = await names({ backendImage: `ghcr.io/acme/backend:1.4.3@sha256:${"e".repeat(64)}` });
    const c = await names({ backendImage: `ghcr.io/acme/backend:1.4.2@${DIGEST}`, backendMemory: "1g" });
    const d = await names({
      backendImage: `ghcr.io/acme/backend:1.4.2@${DIGEST}`,
      backendStopTimeoutSeconds: "45",
    });
    const again = await names({ backendImage: `ghcr.io/acme/backend:1.4.2@${DIGEST}` });
    expect(again).toEqual(a); // stable when nothing changes: no spurious replacement
    for (let i = 0; i < a.length; i++) {
      expect(b[i]).not.toBe(a[i]);
      expect(c[i]).not.toBe(a[i]);
      expect(d[i]).not.toBe(a[i]);
      expect(b[i].replace(/-[a-f0-9]{8}$/, "")).toBe(a[i].replace(/-[a-f0-9]{8}$/, ""));
    }
  });

  it("local-blue runs one replica of a local build (no registry: the content-hash tag is the pin)", async () => {
    const plan = await runProgram("local-blue");
    expect(containersOf(plan.resources)).toHaveLength(1);
    const image = plan.resources.find(
      (r) => r.type === "docker:index/remoteImage:RemoteImage" && r.inputs.build,
    );
    expect(image?.inputs).toMatchObject({ keepLocally: true });
    expect(plan.resources.some((r) => r.type === "docker:index/registryImage:RegistryImage")).toBe(false);
    expect(String(image?.inputs.name)).toMatch(/^backend-infra-local\/backend:src-[a-f0-9]{12}$/);
    expect(imageRunBy(plan.resources, containersOf(plan.resources)[0]).name).toBe(image?.inputs.name);
    expect(plan.outputs).toMatchObject({ environment: "local", slot: "blue" });
  });
});

describe("built images do not depend on the working directory", () => {
  it("hashes the build context from the project, as `pulumi up` runs the program from dist/", async () => {
    const imageName = async () =>
      (await runProgram("local-blue")).resources.find(
        (r) => r.type === "docker:index/remoteImage:RemoteImage" && r.inputs.build,
      )?.inputs.name;
    const fromRoot = await imageName();
    const cwd = process.cwd();
    process.chdir(tmpdir());
    try {
      expect(await imageName()).toBe(fromRoot);
    } finally {
      process.chdir(cwd);
    }
    expect(fromRoot).toMatch(/^backend-infra-local\/backend:src-[a-f0-9]{12}$/);
  });
});
