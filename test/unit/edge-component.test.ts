import { describe, expect, it } from "vitest";
import { renderHaproxyConfig } from "../../renderers/haproxy-config";
import { runProgram, type PlannedResource } from "../harness/run-program";
import { imageRunBy } from "../harness/images";

const containers = (resources: PlannedResource[]) =>
  resources.filter((r) => r.type === "docker:index/container:Container");

describe("Edge component (env stack prod)", async () => {
  const plan = await runProgram("prod");
  const edge = containers(plan.resources).find((c) => c.inputs.name === "backend-infra-prod-edge");

  it("runs the pinned official HAProxy image by digest as the haproxy user", () => {
    expect(edge).toBeDefined();
    const pull = plan.resources.find(
      (r) => r.type === "docker:index/remoteImage:RemoteImage" && r.inputs.name === "haproxy:2.6.18-bookworm",
    );
    expect(pull).toBeDefined();
    expect(imageRunBy(plan.resources, edge!)).toEqual({
      name: "haproxy:2.6.18-bookworm",
      repoDigest: expect.stringMatching(/^haproxy@sha256:[a-f0-9]{64}$/),
    });
    expect(edge?.inputs.user).toBe("99:99");
    expect(edge?.inputs.stopSignal).toBe("SIGUSR1");
  });

  it("is the only container that publishes ports, 80 and 443 to unprivileged container ports", () => {
    expect(edge?.inputs.ports).toEqual([
      { internal: 8080, external: 80, protocol: "tcp" },
      { internal: 8443, external: 443, protocol: "tcp" },
    ]);
    const others = containers(plan.resources).filter((c) => c !== edge);
    for (const c of others) {
      for (const p of (c.inputs.ports as { ip?: string }[] | undefined) ?? []) {
        expect(p.ip, `${String(c.inputs.name)} publishes a public port`).toBe("127.0.0.1");
      }
    }
  });

  it("joins the edge, app and monitoring networks", () => {
    const nets = (edge?.inputs.networksAdvanced as { name: string }[]).map((n) => n.name);
    expect(nets).toEqual([
      "backend-infra-prod-edge",
      "backend-infra-prod-app",
      "backend-infra-prod-monitoring",
    ]);
  });

  it("uploads exactly the rendered haproxy.cfg and a secret certificate bundle", () => {
    const uploads = edge?.inputs.uploads as { file: string; content: string }[];
    const cfg = uploads.find((u) => u.file === "/usr/local/etc/haproxy/haproxy.cfg");
    expect(cfg?.content).toBe(
      renderHaproxyConfig({
        bindAddress: "0.0.0.0",
        httpPort: 8080,
        httpsPort: 8443,
        publicHttpsPort: 443,
        certificatePath: "/usr/local/etc/haproxy/certs/edge.pem",
        adminSocketPath: "/run/haproxy/admin.sock",
        adminTcpPort: 9999,
        serverStateFile: "/var/lib/haproxy/server-state",
        metrics: { bindAddress: "0.0.0.0", port: 8405 },
        rateLimitPer10s: 200,
        upstreams: {
          kind: "dns",
          nameserver: "127.0.0.11:53",
          hosts: { blue: "backend-blue", green: "backend-green" },
          port: 4000,
          slotsPerColour: 40,
        },
        logging: "stdout",
      }),
    );
    const cert = uploads.find((u) => u.file === "/usr/local/etc/haproxy/certs/edge.pem");
    expect(cert?.content).toMatch(/BEGIN CERTIFICATE[\s\S]*PRIVATE KEY/);
    expect(edge?.secretInputs).toContain("uploads");
    // prod uses the provided certificate: no generated one
    expect(plan.resources.some((r) => r.type === "tls:index/selfSignedCert:SelfSignedCert")).toBe(false);
  });

  it("keeps the server-state file on a named volume and the admin socket on a tmpfs", () => {
    expect(edge?.inputs.volumes).toEqual([
      { volumeName: "backend-infra-prod-edge-state", containerPath: "/var/lib/haproxy" },
    ]);
    expect(edge?.inputs.tmpfs).toMatchObject({ "/run/haproxy": expect.stringContaining("mode=1777") });
    // uploads need a writable root filesystem (the provider copies to "/"); the reason is recorded
    expect(edge?.inputs.readOnly).toBe(false);
    expect(edge?.inputs.labels).toContainEqual({
      label: "backend-infra.writable-rootfs",
      value: "uploads the rendered haproxy.cfg and TLS certificate",
    });
    const healthcheck = edge?.inputs.healthcheck as { tests: string[] };
    expect(healthcheck.tests.join(" ")).toContain("/dev/tcp/127.0.0.1/8405");
  });

  it("applies config and certificate changes to the running edge instead of replacing it", () => {
    expect(edge?.options.ignoreChanges).toEqual(["uploads"]);
    expect(edge?.inputs.labels).not.toContainEqual(
      expect.objectContaining({ label: "backend-infra.config-sha256" }),
    );
    // Only the containers with an in-place reload keep their uploads; the others are replaced.
    const inPlace = containers(plan.resources)
      .filter((c) => c.options.ignoreChanges.includes("uploads"))
      .map((c) => c.inputs.name);
    expect(inPlace.sort()).toEqual([
      "backend-infra-prod-alertmanager",
      "backend-infra-prod-edge",
      "backend-infra-prod-prometheus",
    ]);

    const reload = plan.resources.find((r) => r.type === "command:local:Command" && r.name === "edge-config");
    const component = plan.resources.find((r) => r.type === "backend-infra:edge:Edge");
    expect(reload?.parent).toBe(component?.urn);
    const cli =
      "node dist/tools/config-reload.js --service haproxy --docker-container 'backend-infra-prod-edge'";
    expect(reload?.inputs).toMatchObject({
      create: cli,
      update: cli,
      environment: { DOCKER_HOST: plan.config.dockerHost },
    });
    expect(reload?.secretInputs).toContain("stdin");
    const uploads = edge?.inputs.uploads as { file: string; content: string }[];
    expect(JSON.parse(String(reload?.inputs.stdin))).toEqual({
      files: uploads.map((u) => ({ path: u.file, content: u.content })),
    });
    expect(uploads.map((u) => u.file)).toEqual([
      "/usr/local/etc/haproxy/haproxy.cfg",
      "/usr/local/etc/haproxy/certs/edge.pem",
    ]);
    // A re-created container runs it again; the traffic switch waits for it.
    expect(reload?.inputs.triggers).toEqual([edge?.outputs.id ?? expect.any(String)]);
    expect(reload?.propertyDependencies.triggers).toContain(edge?.urn);
    const apply = plan.resources.find(
      (r) => r.type === "command:local:Command" && r.name === "traffic-apply",
    );
    expect(apply?.propertyDependencies.triggers).toContain(reload?.urn);
  });

  it("exports the edge and traffic outputs of the contract", () => {
    expect(plan.outputs.edge).toMatchObject({
      container: "backend-infra-prod-edge",
      url: "https://api.example.com",
      adminSocket: "/run/haproxy/admin.sock",
      metricsPort: 8405,
    });
    expect(plan.outputs.traffic).toMatchObject({ active: "blue", weights: { blue: 256, green: 0 } });
    // a provided certificate is trusted by the system's CAs: nothing to pin
    expect((plan.outputs.edge as Record<string, unknown>).caCertPem).toBeUndefined();
  });
});

describe("Edge component (env stack local)", async () => {
  const plan = await runProgram("local");
  const edge = containers(plan.resources).find((c) => c.inputs.name === "backend-infra-local-edge");

  it("generates a self-signed certificate for the public host name", () => {
    const cert = plan.resources.find((r) => r.type === "tls:index/selfSignedCert:SelfSignedCert");
    expect(cert?.inputs).toMatchObject({ dnsNames: ["localhost"], subject: { commonName: "localhost" } });
    expect(cert?.parent).toBe(plan.resources.find((r) => r.type === "backend-infra:edge:Edge")?.urn);
    expect(plan.resources.find((r) => r.type === "tls:index/privateKey:PrivateKey")?.inputs).toMatchObject({
      algorithm: "ECDSA",
    });
  });

  it("exports the self-signed certificate, and only the certificate, for clients that must trust it", () => {
    const ca = (plan.outputs.edge as Record<string, unknown>).caCertPem;
    const cert = plan.resources.find((r) => r.type === "tls:index/selfSignedCert:SelfSignedCert");
    expect(ca).toBe(cert?.outputs.certPem);
    expect(ca).toMatch(/BEGIN CERTIFICATE/);
    expect(ca).not.toMatch(/PRIVATE KEY/);
  });

  it("publishes the local ports and says so in the url; no monitoring network when monitoring is off", () => {
    expect((edge?.inputs.ports as { external: number }[]).map((p) => p.external)).toEqual([8080, 8443]);
    expect(plan.outputs.edge).toMatchObject({ url: "https://localhost:8443" });
    const nets = (edge?.inputs.networksAdvanced as { name: string }[]).map((n) => n.name);
    expect(nets).toEqual(["backend-infra-local-edge", "backend-infra-local-app"]);
    const cfg = (edge?.inputs.uploads as { file: string; content: string }[])[0].content;
    expect(cfg).toContain(":8443%[capture.req.uri] code 301");
  });
});

describe("Edge component: maxconn fits the containers' open-files limit", () => {
  const haproxyCfg = (resources: PlannedResource[]) => {
    const edge = containers(resources).find((c) => c.inputs.name === "backend-infra-local-edge");
    return (edge?.inputs.uploads as { file: string; content: string }[])[0].content;
  };

  it("keeps maxconn 20000 with the default 65536 open files", async () => {
    expect(haproxyCfg((await runProgram("local")).resources)).toMatch(/^ {4}maxconn 20000$/m);
  });

  it("lowers maxconn so two descriptors per connection fit a lower limit (HAProxy would not start)", async () => {
    const plan = await runProgram("local", { overrides: { containerOpenFilesLimit: "20000" } });
    expect(haproxyCfg(plan.resources)).toMatch(/^ {4}maxconn 9500$/m);
  });

  it("applies edgeServerMaxConn to every server and edgeQueueTimeoutSeconds to the queue", async () => {
    const defaults = haproxyCfg((await runProgram("local")).resources);
    expect(defaults).toMatch(/^ {4}timeout queue 10000ms$/m);
    expect(defaults).toMatch(/^ {4}default-server .* maxconn 64 /m);
    const plan = await runProgram("local", {
      overrides: { edgeServerMaxConn: "7", edgeQueueTimeoutSeconds: "3" },
    });
    const cfg = haproxyCfg(plan.resources);
    // default-server sets it for every server of each backend
    const defaultsLines = cfg.split("\n").filter((l) => /^\s+default-server /.test(l));
    expect(defaultsLines.length).toBeGreaterThan(0);
    for (const line of defaultsLines) expect(line).toMatch(/ maxconn 7 /);
    expect(cfg).toMatch(/^ {4}timeout queue 3000ms$/m);
  });
});
