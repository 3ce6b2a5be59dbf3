/**
 * The Edge component renders the overload limits it is given (per-server maxconn, queue
 * timeout) into the haproxy.cfg its container starts with, and the defaults without them.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { Edge, type EdgeArgs } from "../../components/edge";
import { waitForRegistrations } from "../harness/run-program";

const registered: { type: string; inputs: Record<string, unknown> }[] = [];

async function haproxyCfgOf(extra: Partial<EdgeArgs>): Promise<{ config: string; uploaded: string }> {
  registered.length = 0;
  await pulumi.runtime.setMocks(
    {
      newResource: (a) => {
        registered.push({ type: a.type, inputs: a.inputs });
        const state =
          a.type === "docker:index/remoteImage:RemoteImage"
            ? {
                ...a.inputs,
                repoDigest: `haproxy@sha256:${"a".repeat(64)}`,
                imageId: `sha256:${"b".repeat(64)}`,
              }
            : a.type === "command:local:Command"
              ? { ...a.inputs, stdout: "{}" }
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
  const edge = new Edge("edge", {
    namePrefix: "bi-test",
    image: "haproxy:2.6.18-bookworm",
    memoryMb: 256,
    cpus: 1,
    httpPort: 80,
    httpsPort: 443,
    publicHostname: "api.example.com",
    tls: {
      mode: "provided",
      cert: pulumi.secret("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"),
      key: pulumi.secret("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"),
    },
    rateLimitPer10s: 200,
    backendPort: 4000,
    slotsPerColour: 4,
    dockerHost: "unix:///var/run/docker.sock",
    networks: { edge: "bi-test-edge", app: "bi-test-app" },
    ...extra,
  });
  await new Promise<void>((resolve) => edge.containerId.apply(() => resolve()));
  await waitForRegistrations();
  const container = registered.find((r) => r.type === "docker:index/container:Container");
  // The certificate makes the uploads a secret: the mocks see Pulumi's secret wrapper.
  const raw = container?.inputs.uploads as { value?: unknown } | undefined;
  const uploads = (Array.isArray(raw) ? raw : raw?.value) as { file: string; content: string }[];
  const uploaded = uploads.find((u) => u.file.endsWith("/haproxy.cfg"))?.content ?? "";
  return { config: edge.config, uploaded };
}

describe("Edge: overload limits in the rendered haproxy.cfg", () => {
  it("gives every server slot the configured maxconn and the queue the configured timeout", async () => {
    const { config, uploaded } = await haproxyCfgOf({ serverMaxConn: 8, queueTimeoutSeconds: 3 });
    expect(uploaded).toBe(config);
    expect(config).toMatch(/^ {4}default-server check .* maxconn 8 weight 1$/m);
    expect(config).toMatch(/^ {4}timeout queue 3000ms$/m);
  });

  it("defaults to 64 requests per replica and a 10 s queue", async () => {
    const { config } = await haproxyCfgOf({});
    expect(config).toMatch(/^ {4}default-server check .* maxconn 64 weight 1$/m);
    expect(config).toMatch(/^ {4}timeout queue 10000ms$/m);
  });
});
