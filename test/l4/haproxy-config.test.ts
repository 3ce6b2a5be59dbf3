/**
 * L4: the rendered haproxy.cfg is accepted by HAProxy 2.6 itself (`haproxy -c`), with zero
 * warnings (`-dW`), for the deployed (Docker DNS) and the test (static servers) variants.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EDGE_METRICS_PORT,
  renderHaproxyConfig,
  type HaproxyConfigInput,
} from "../../renderers/haproxy-config";
import { removeDir, run, skipReason, tempDir } from "../support/tools";
import { selfSignedCert } from "../support/tls";

describe.skipIf(skipReason("haproxy", "openssl"))("haproxy -c on the rendered edge config", () => {
  let dir: string;
  let base: HaproxyConfigInput;

  beforeAll(() => {
    dir = tempDir("haproxy-l4");
    writeFileSync(join(dir, "edge.pem"), selfSignedCert(dir).combinedPem);
    // An empty but valid server-state file (version line + header), as the switch writes it.
    writeFileSync(
      join(dir, "server-state"),
      "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight " +
        "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state " +
        "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl " +
        "srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n",
    );
    base = {
      bindAddress: "0.0.0.0",
      httpPort: 8080,
      httpsPort: 8443,
      publicHttpsPort: 443,
      certificatePath: join(dir, "edge.pem"),
      adminSocketPath: join(dir, "admin.sock"),
      adminTcpPort: 9999,
      serverStateFile: join(dir, "server-state"),
      metrics: { bindAddress: "0.0.0.0", port: EDGE_METRICS_PORT },
      rateLimitPer10s: 200,
      maxConnections: 2000,
      upstreams: {
        kind: "dns",
        nameserver: "127.0.0.11:53",
        hosts: { blue: "backend-blue", green: "backend-green" },
        port: 4000,
        slotsPerColour: 20,
      },
    };
  });

  afterAll(() => removeDir(dir));

  const check = (input: HaproxyConfigInput, name: string) => {
    const file = join(dir, `${name}.cfg`);
    writeFileSync(file, renderHaproxyConfig(input));
    return run("haproxy", ["-c", "-dW", "-f", file]);
  };

  it("accepts the deployed config (server-template + Docker resolvers) without warnings", () => {
    const result = check(base, "dns");
    expect(result.stderr + result.stdout).toContain("Configuration file is valid");
    expect(result.status, result.stderr).toBe(0);
  });

  it("accepts the test config (static loopback servers, logging off) without warnings", () => {
    const result = check(
      {
        ...base,
        bindAddress: "127.0.0.1",
        httpPort: 18080,
        httpsPort: 18443,
        publicHttpsPort: undefined,
        logging: "none",
        upstreams: {
          kind: "static",
          servers: {
            blue: [{ address: "127.0.0.1", port: 14001 }],
            green: [{ address: "127.0.0.1", port: 14002 }],
          },
        },
      },
      "static",
    );
    expect(result.status, result.stderr).toBe(0);
  });

  it("accepts the hardened edge (buffered requests, safe-method retries, per-server maxconn, short timeouts) without warnings", () => {
    const input: HaproxyConfigInput = {
      ...base,
      serverMaxConnections: 2,
      timeouts: { client: 1500, httpRequest: 1500, httpKeepAlive: 1000, queue: 1000, server: 2000 },
    };
    const result = check(input, "hardened");
    expect(result.stderr + result.stdout).toContain("Configuration file is valid");
    expect(result.status, result.stderr).toBe(0);
    const cfg = renderHaproxyConfig(input);
    for (const line of [
      "option http-buffer-request",
      "retry-on conn-failure empty-response",
      "http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS",
      "timeout client 1500ms",
      "timeout queue 1000ms",
    ])
      expect(cfg).toContain(line);
    expect(cfg).toMatch(/ maxconn 2 weight 1$/m);
  });

  it("HAProxy 2.6 has no `timeout client-hs`: the TLS handshake is bounded by `timeout client`", () => {
    // Why the renderer bounds the pre-request phase with timeout client: the 2.8 keyword is refused.
    const file = join(dir, "client-hs.cfg");
    writeFileSync(
      file,
      renderHaproxyConfig(base).replace(/^( {4}timeout client \d+ms)$/m, "$1\n    timeout client-hs 5s"),
    );
    const result = run("haproxy", ["-c", "-f", file]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/'timeout' supports .*got 'client-hs'/);
  });

  it("is a check that can fail: HAProxy rejects a broken certificate path", () => {
    const result = check({ ...base, certificatePath: join(dir, "missing.pem") }, "broken");
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/missing\.pem/);
  });
});
