import { describe, expect, it } from "vitest";
import {
  DEFAULT_TIMEOUTS,
  EDGE_METRICS_PORT,
  HSTS_MAX_AGE_SECONDS,
  maxConnectionsFor,
  renderHaproxyConfig,
  type HaproxyConfigInput,
} from "../../renderers/haproxy-config";

const dnsInput: HaproxyConfigInput = {
  bindAddress: "0.0.0.0",
  httpPort: 8080,
  httpsPort: 8443,
  publicHttpsPort: 443,
  certificatePath: "/usr/local/etc/haproxy/certs/edge.pem",
  adminSocketPath: "/var/run/haproxy/admin.sock",
  adminTcpPort: 9999,
  serverStateFile: "/var/lib/haproxy/server-state",
  metrics: { bindAddress: "0.0.0.0", port: EDGE_METRICS_PORT },
  rateLimitPer10s: 200,
  upstreams: {
    kind: "dns",
    nameserver: "127.0.0.11:53",
    hosts: { blue: "backend-blue", green: "backend-green" },
    port: 4000,
    slotsPerColour: 20,
  },
};

const staticInput: HaproxyConfigInput = {
  ...dnsInput,
  bindAddress: "127.0.0.1",
  httpPort: 18080,
  httpsPort: 18443,
  publicHttpsPort: undefined,
  upstreams: {
    kind: "static",
    servers: {
      blue: [
        { address: "127.0.0.1", port: 14001 },
        { address: "127.0.0.1", port: 14002 },
      ],
      green: [{ address: "127.0.0.1", port: 14003 }],
    },
  },
};

const section = (cfg: string, name: string) => {
  const start = cfg.indexOf(`\n${name}\n`);
  expect(start, `section ${name}`).toBeGreaterThanOrEqual(0);
  const rest = cfg.slice(start + name.length + 2);
  const end = rest.search(/\n(?=\S)/);
  return end < 0 ? rest : rest.slice(0, end);
};

describe("renderHaproxyConfig", () => {
  const cfg = renderHaproxyConfig(dnsInput);

  it("has an admin socket with expose-fd and a server-state file loaded at start", () => {
    const global = section(cfg, "global");
    expect(global).toContain(
      "stats socket /var/run/haproxy/admin.sock mode 600 level admin expose-fd listeners",
    );
    expect(global).toContain("stats socket ipv4@127.0.0.1:9999 level admin");
    expect(global).toContain("server-state-file /var/lib/haproxy/server-state");
    expect(section(cfg, "defaults")).toContain("load-server-state-from-file global");
  });

  it("uses Mozilla intermediate TLS: TLS 1.2+, ECDHE AEAD ciphers, TLS 1.3 suites, no tickets", () => {
    const global = section(cfg, "global");
    expect(global).toMatch(/ssl-default-bind-options .*ssl-min-ver TLSv1.2/);
    expect(global).toMatch(/ssl-default-bind-options .*no-tls-tickets/);
    const ciphers = /ssl-default-bind-ciphers (\S+)/.exec(global)?.[1].split(":") ?? [];
    expect(ciphers.length).toBeGreaterThan(0);
    for (const c of ciphers) expect(c).toMatch(/^ECDHE-(ECDSA|RSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
    expect(global).toContain(
      "ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
    );
  });

  it("redirects HTTP to HTTPS with 301 and serves TLS with h2 + http/1.1", () => {
    expect(section(cfg, "frontend http")).toContain("http-request redirect scheme https code 301");
    expect(section(cfg, "frontend https")).toContain(
      "bind 0.0.0.0:8443 ssl crt /usr/local/etc/haproxy/certs/edge.pem alpn h2,http/1.1",
    );
  });

  it("keeps a non-standard public HTTPS port in the redirect", () => {
    const local = renderHaproxyConfig(staticInput);
    expect(section(local, "frontend http")).toContain(
      "http-request redirect location https://%[req.hdr(host),field(1,:)]:18443%[capture.req.uri] code 301",
    );
  });

  it("sets HSTS for two years and the other security headers on every response", () => {
    const https = section(cfg, "frontend https");
    expect(HSTS_MAX_AGE_SECONDS).toBe(2 * 365 * 24 * 3600);
    expect(https).toContain(
      `http-after-response set-header Strict-Transport-Security "max-age=63072000; includeSubDomains"`,
    );
    for (const h of [
      "X-Content-Type-Options nosniff",
      "X-Frame-Options DENY",
      "Referrer-Policy no-referrer",
    ]) {
      expect(https).toContain(`http-after-response set-header ${h}`);
    }
    expect(https).toContain("http-after-response del-header Server");
  });

  it("rate-limits per client IP with a stick table and answers 429", () => {
    const https = section(cfg, "frontend https");
    expect(https).toContain("stick-table type ipv6 size 100k expire 30s store http_req_rate(10s)");
    expect(https).toContain("http-request track-sc0 src");
    expect(https).toMatch(/http-request return status 429 .* if \{ sc_http_req_rate\(0\) gt 200 \}/);
  });

  it("has an internal Prometheus exporter frontend on the exported port", () => {
    const metrics = section(cfg, "frontend metrics");
    expect(metrics).toContain(`bind 0.0.0.0:${EDGE_METRICS_PORT}`);
    expect(metrics).toContain("http-request use-service prometheus-exporter if { path /metrics }");
  });

  it("has one backend with both colours found by Docker DNS and checked on /health", () => {
    expect(section(cfg, "resolvers docker")).toContain("nameserver dns1 127.0.0.11:53");
    const app = section(cfg, "backend app");
    expect(app).toContain("option httpchk");
    expect(app).toContain("http-check send meth GET uri /health");
    expect(app).toContain("http-check expect status 200");
    expect(app).toContain("option redispatch");
    expect(app).toContain("retries 3");
    expect(app).toContain(
      "server-template blue 20 backend-blue:4000 resolvers docker init-addr none resolve-prefer ipv4",
    );
    expect(app).toContain(
      "server-template green 20 backend-green:4000 resolvers docker init-addr none resolve-prefer ipv4",
    );
    expect(app).toMatch(/default-server check inter 2000ms .* weight 1$/m);
  });

  it("buffers whole requests, so `timeout http-request` bounds a slow body too (issue 18.1)", () => {
    const defaults = section(cfg, "defaults");
    expect(defaults).toContain("option http-buffer-request");
    expect(defaults).toContain("timeout http-request 10000ms");
  });

  it("retries only what cannot have reached the application (issue 18.2)", () => {
    const app = section(cfg, "backend app");
    // No response-timeout: a request that timed out ran, and runs at most once.
    expect(app).toMatch(/^ {4}retry-on conn-failure empty-response$/m);
    expect(app).not.toMatch(/retry-on .*(response-timeout|junk-response|all-retryable-errors|\b5\d\d\b)/);
    // A closed connection without an answer is retried for the safe methods only (no PUT,
    // DELETE, POST): disable-l7-retry leaves connection failures, where nothing was sent.
    expect(app).toMatch(
      /^ {4}http-request disable-l7-retry unless METH_GET \|\| METH_HEAD \|\| METH_OPTIONS$/m,
    );
    expect(app).not.toMatch(/disable-l7-retry.*(PUT|DELETE|POST)/);
  });

  it("gives every server a maxconn, so overload queues at the edge and is shed after timeout queue (issue 18.4)", () => {
    expect(section(cfg, "backend app")).toMatch(/^ {4}default-server check .* maxconn 64 weight 1$/m);
    expect(section(cfg, "defaults")).toContain("timeout queue 10000ms");
    const limited = renderHaproxyConfig({
      ...staticInput,
      serverMaxConnections: 2,
      timeouts: { queue: 1500 },
    });
    expect(section(limited, "backend app")).toMatch(/ maxconn 2 weight 1$/m);
    expect(section(limited, "defaults")).toContain("timeout queue 1500ms");
    // the global limit stays separate
    expect(section(limited, "global")).toMatch(/^ {4}maxconn 20000$/m);
  });

  it("bounds a connection before its first request: client 10 s (TLS handshake), http-request, keep-alive (issue 18.6)", () => {
    const defaults = section(cfg, "defaults");
    expect(DEFAULT_TIMEOUTS.client).toBe(10000);
    expect(defaults).toContain("timeout client 10000ms");
    expect(defaults).toContain("timeout http-keep-alive 10000ms");
    // HAProxy 2.6 has no `timeout client-hs` (2.8): rendering it would fail `haproxy -c`.
    expect(cfg).not.toContain("client-hs");
  });

  it("renders static servers without resolvers for tests", () => {
    const local = renderHaproxyConfig(staticInput);
    expect(local).not.toContain("resolvers");
    const app = section(local, "backend app");
    expect(app).toContain("server blue1 127.0.0.1:14001");
    expect(app).toContain("server blue2 127.0.0.1:14002");
    expect(app).toContain("server green1 127.0.0.1:14003");
  });

  it("does not depend on the traffic target (so a switch never changes the config)", () => {
    expect(cfg).not.toMatch(/weight (?!1$)\d+/m);
  });

  it("can turn logging off", () => {
    expect(renderHaproxyConfig({ ...dnsInput, logging: "none" })).not.toContain("log stdout");
    expect(cfg).toContain("log stdout format raw local0 info");
  });

  it("rejects bad input naming the field", () => {
    expect(() => renderHaproxyConfig({ ...dnsInput, httpPort: 0 })).toThrow(/httpPort/);
    expect(() => renderHaproxyConfig({ ...dnsInput, httpsPort: 8080 })).toThrow(/must differ/);
    expect(() => renderHaproxyConfig({ ...dnsInput, certificatePath: "/a b.pem" })).toThrow(
      /certificatePath/,
    );
    expect(() => renderHaproxyConfig({ ...dnsInput, rateLimitPer10s: 0 })).toThrow(/rateLimitPer10s/);
    expect(() => renderHaproxyConfig({ ...dnsInput, initialWeight: 300 })).toThrow(/initialWeight/);
    expect(() => renderHaproxyConfig({ ...dnsInput, serverMaxConnections: 0 })).toThrow(
      "haproxy config: serverMaxConnections must be a whole number 1-10000, got 0",
    );
    expect(() => renderHaproxyConfig({ ...dnsInput, serverMaxConnections: 2.5 })).toThrow(
      /serverMaxConnections/,
    );
    expect(() => renderHaproxyConfig({ ...dnsInput, timeouts: { queue: 0 } })).toThrow(
      "haproxy config: timeouts.queue must be a whole number of milliseconds 1-3600000, got 0",
    );
    expect(() =>
      renderHaproxyConfig({
        ...staticInput,
        upstreams: { kind: "static", servers: { blue: [], green: [] } },
      }),
    ).toThrow(/at least one/);
    expect(() =>
      renderHaproxyConfig({
        ...dnsInput,
        upstreams: {
          ...(dnsInput.upstreams as Extract<HaproxyConfigInput["upstreams"], { kind: "dns" }>),
          nameserver: "dns",
        },
      }),
    ).toThrow(/nameserver must be host:port/);
  });
});

describe("maxConnectionsFor", () => {
  it("leaves two descriptors per connection and a reserve, capped at 20000", () => {
    expect(maxConnectionsFor(65536)).toBe(20000);
    expect(maxConnectionsFor(41000)).toBe(20000);
    expect(maxConnectionsFor(20000)).toBe(9500);
    expect(maxConnectionsFor(4096)).toBe(1548);
  });

  it("refuses a limit that leaves almost no connections, saying what it expects", () => {
    expect(() => maxConnectionsFor(1200)).toThrow(/open-files limit of 1200 .* at least 1512/);
  });
});
