/**
 * haproxy.cfg of the edge, as a pure function of typed input.
 *
 * The same renderer serves the deployed edge (slot replicas found through Docker DNS with
 * `server-template` + `resolvers`) and the real-daemon tests (static loopback servers): only
 * the `upstreams` input differs. Kept valid for HAProxy 2.6 (the pinned image and Debian 12).
 *
 * Design choice, ONE backend `app` holding both colours' servers (instead of a `blue` and a
 * `green` backend): the blue/green split and the canary are then nothing but server weights,
 * which the runtime API changes without a reload and the server-state file keeps across
 * restarts. With two backends the split would live in `use_backend` rules (a config change and
 * a reload per switch, or map tricks), and a canary request could not be redispatched to the
 * other colour when its server fails. Server names carry the colour (`blue1`, `green3`), which
 * is how the traffic switch and the metrics (`server` label) tell the colours apart.
 */
import type { Colour } from "../config/keys";

/** Internal port of the Prometheus exporter (`/metrics`); not published, scraped over the monitoring network. */
export const EDGE_METRICS_PORT = 8405;
/** Ports HAProxy listens on inside the container (unprivileged: the image runs as user haproxy). */
export const EDGE_CONTAINER_HTTP_PORT = 8080;
export const EDGE_CONTAINER_HTTPS_PORT = 8443;
/** Admin runtime API on the container's own loopback, for `docker exec` clients (bash /dev/tcp). */
export const EDGE_ADMIN_TCP_PORT = 9999;
export const EDGE_ADMIN_SOCKET = "/run/haproxy/admin.sock";
export const EDGE_STATE_DIR = "/var/lib/haproxy";
export const EDGE_STATE_FILE = `${EDGE_STATE_DIR}/server-state`;
export const EDGE_CONFIG_DIR = "/usr/local/etc/haproxy";
export const EDGE_CERT_PATH = `${EDGE_CONFIG_DIR}/certs/edge.pem`;
/** Backend paths the public frontend answers 404 (the backend's Prometheus endpoint). */
export const PRIVATE_PATHS_REGEX = "^/+metrics([/;.]|$)";

/** Path the Docker healthcheck probes on the metrics frontend. */
export const EDGE_HEALTH_PATH = "/healthz";
/** Name of the one application backend (both colours). */
export const EDGE_BACKEND = "app";

/**
 * Mozilla "intermediate" server-side TLS for HAProxy with OpenSSL 3: TLS 1.2 + 1.3, AEAD
 * ECDHE ciphers only. The DHE-RSA suites of the guideline are left out: they need a dhparam
 * file, and every client that supports TLS 1.2 also offers ECDHE.
 */
export const TLS_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");
export const TLS_CIPHERSUITES = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
].join(":");
/** HSTS: two years, as the Mozilla guideline recommends. */
export const HSTS_MAX_AGE_SECONDS = 63072000;

export interface StaticServer {
  address: string;
  port: number;
}

export type HaproxyUpstreams =
  | {
      /** Deployed: slot replicas found by DNS (the slot containers' network alias). */
      kind: "dns";
      /** Docker's embedded DNS, `127.0.0.11:53`. */
      nameserver: string;
      /** DNS name per colour, e.g. `backend-blue`. */
      hosts: Record<Colour, string>;
      /** Port the backend listens on. */
      port: number;
      /** Server slots per colour (`server-template` count): the most replicas a slot may run. */
      slotsPerColour: number;
    }
  | {
      /** Tests: fixed addresses. */
      kind: "static";
      servers: Record<Colour, StaticServer[]>;
    };

export interface HaproxyConfigInput {
  /** Address the public frontends bind to (`0.0.0.0` in the container, `127.0.0.1` in tests). */
  bindAddress: string;
  /** Port of the HTTP frontend (redirects to HTTPS). */
  httpPort: number;
  /** Port of the HTTPS frontend. */
  httpsPort: number;
  /** HTTPS port clients use (the published one); the redirect omits it when it is 443. Default httpsPort. */
  publicHttpsPort?: number;
  /** PEM file with certificate chain and private key. */
  certificatePath: string;
  /** Unix admin socket (`level admin`, `expose-fd listeners` for seamless reloads). */
  adminSocketPath: string;
  /** Optional second admin socket on TCP 127.0.0.1:<port> (reachable only inside the container). */
  adminTcpPort?: number;
  /** File the traffic switch dumps `show servers state` to; loaded at start so weights survive restarts. */
  serverStateFile: string;
  /** Internal frontend with `/metrics` (Prometheus exporter) and `/healthz`. */
  metrics: { bindAddress: string; port: number };
  /** Requests one client IP may make per 10 s before it gets 429. */
  rateLimitPer10s: number;
  upstreams: HaproxyUpstreams;
  /** Health check of each server. Defaults: `/health`, every 2000 ms, 3 failures down, 2 successes up. */
  healthCheck?: { path?: string; intervalMs?: number; fall?: number; rise?: number };
  /**
   * Weight every server starts with before the traffic switch sets its own (and the weight the
   * server-state file is matched against: HAProxy only restores a saved weight when the
   * configured one is unchanged, so this must not depend on the active colour). Default 1.
   */
  initialWeight?: number;
  /** Global connection limit. Default 20000 (see `maxConnectionsFor` for a lower open-files limit). */
  maxConnections?: number;
  /**
   * Requests one backend server (replica) is given at a time (per-server `maxconn`); more wait
   * in the edge's queue for a free slot on any server and get 503 after `timeouts.queue`.
   * Default `DEFAULT_SERVER_MAX_CONNECTIONS` (config `edgeServerMaxConn`).
   */
  serverMaxConnections?: number;
  /** `stdout`: access + event logs to stdout (the container log). `none`: no logging (benchmarks). */
  logging?: "stdout" | "none";
  /**
   * Timeouts in milliseconds (defaults in `DEFAULT_TIMEOUTS`). `client` also bounds a connection
   * before its first request (idle TCP, the TLS handshake: HAProxy 2.6 has no `timeout client-hs`);
   * `httpRequest` bounds a whole request, headers and body (`option http-buffer-request`).
   */
  timeouts?: Partial<
    Record<"connect" | "client" | "server" | "httpRequest" | "httpKeepAlive" | "queue" | "check", number>
  >;
}

export const DEFAULT_TIMEOUTS = {
  connect: 5000,
  /**
   * Client inactivity, and in HAProxy 2.6 the only bound on a connection's TLS handshake (and on
   * a connection that sends nothing, not even a ClientHello). Not a bound on a slow response:
   * while the server works, the client is not expected to send anything (checked on 2.6).
   */
  client: 10000,
  server: 30000,
  /** The whole request, headers and body (`option http-buffer-request`); a client that trickles gets 408. */
  httpRequest: 10000,
  httpKeepAlive: 10000,
  /** How long a request waits for a free server slot (per-server maxconn) before its 503. */
  queue: 10000,
  check: 3000,
};

/** Default per-server `maxconn` (config `edgeServerMaxConn`); see `HaproxyConfigInput.serverMaxConnections`. */
export const DEFAULT_SERVER_MAX_CONNECTIONS = 64;
/** Largest per-server `maxconn` the renderer accepts (and the config key). */
export const MAX_SERVER_MAX_CONNECTIONS = 10000;

function assertPort(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new Error(`haproxy config: ${name} must be a TCP port 1-65535, got ${String(value)}`);
  }
}

function assertToken(value: string, name: string): void {
  if (value === "" || /[\s"'#\\]/.test(value)) {
    throw new Error(
      `haproxy config: ${name} must be a non-empty word without spaces or quotes, got ${JSON.stringify(value)}`,
    );
  }
}

function validate(input: HaproxyConfigInput): void {
  assertPort(input.httpPort, "httpPort");
  assertPort(input.httpsPort, "httpsPort");
  assertPort(input.metrics.port, "metrics.port");
  if (input.publicHttpsPort !== undefined) assertPort(input.publicHttpsPort, "publicHttpsPort");
  if (input.adminTcpPort !== undefined) assertPort(input.adminTcpPort, "adminTcpPort");
  const ports = [input.httpPort, input.httpsPort, input.metrics.port, input.adminTcpPort].filter(
    (p) => p !== undefined,
  );
  if (new Set(ports).size !== ports.length) {
    throw new Error(
      `haproxy config: httpPort, httpsPort, metrics.port and adminTcpPort must differ, got ${ports.join(", ")}`,
    );
  }
  for (const [name, value] of [
    ["bindAddress", input.bindAddress],
    ["metrics.bindAddress", input.metrics.bindAddress],
    ["certificatePath", input.certificatePath],
    ["adminSocketPath", input.adminSocketPath],
    ["serverStateFile", input.serverStateFile],
  ] as const) {
    assertToken(value, name);
  }
  if (!Number.isInteger(input.rateLimitPer10s) || input.rateLimitPer10s < 1) {
    throw new Error(
      `haproxy config: rateLimitPer10s must be a whole number >= 1, got ${String(input.rateLimitPer10s)}`,
    );
  }
  const weight = input.initialWeight ?? 1;
  if (!Number.isInteger(weight) || weight < 0 || weight > 256) {
    throw new Error(`haproxy config: initialWeight must be a whole number 0-256, got ${String(weight)}`);
  }
  const serverMax = input.serverMaxConnections ?? DEFAULT_SERVER_MAX_CONNECTIONS;
  if (!Number.isInteger(serverMax) || serverMax < 1 || serverMax > MAX_SERVER_MAX_CONNECTIONS) {
    throw new Error(
      `haproxy config: serverMaxConnections must be a whole number 1-${MAX_SERVER_MAX_CONNECTIONS}, got ${String(serverMax)}`,
    );
  }
  for (const [name, value] of Object.entries(input.timeouts ?? {})) {
    if (!Number.isInteger(value) || value < 1 || value > 3_600_000) {
      throw new Error(
        `haproxy config: timeouts.${name} must be a whole number of milliseconds 1-3600000, got ${String(value)}`,
      );
    }
  }
  const up = input.upstreams;
  if (up.kind === "dns") {
    assertToken(up.nameserver, "upstreams.nameserver");
    if (!/^[^:\s]+:\d+$/.test(up.nameserver)) {
      throw new Error(
        `haproxy config: upstreams.nameserver must be host:port, got ${JSON.stringify(up.nameserver)}`,
      );
    }
    assertPort(up.port, "upstreams.port");
    if (!Number.isInteger(up.slotsPerColour) || up.slotsPerColour < 1 || up.slotsPerColour > 100) {
      throw new Error(
        `haproxy config: upstreams.slotsPerColour must be 1-100, got ${String(up.slotsPerColour)}`,
      );
    }
    assertToken(up.hosts.blue, "upstreams.hosts.blue");
    assertToken(up.hosts.green, "upstreams.hosts.green");
  } else {
    for (const colour of ["blue", "green"] as const) {
      up.servers[colour].forEach((s, i) => {
        assertToken(s.address, `upstreams.servers.${colour}[${i}].address`);
        assertPort(s.port, `upstreams.servers.${colour}[${i}].port`);
      });
    }
    if (up.servers.blue.length + up.servers.green.length === 0) {
      throw new Error("haproxy config: upstreams.servers needs at least one blue or green server");
    }
  }
}

/** Renders haproxy.cfg. Throws an Error naming the bad field on invalid input. */
export function renderHaproxyConfig(input: HaproxyConfigInput): string {
  validate(input);
  const t = { ...DEFAULT_TIMEOUTS, ...(input.timeouts ?? {}) };
  const hc = { path: "/health", intervalMs: 2000, fall: 3, rise: 2, ...(input.healthCheck ?? {}) };
  assertToken(hc.path, "healthCheck.path");
  const weight = input.initialWeight ?? 1;
  const serverMax = input.serverMaxConnections ?? DEFAULT_SERVER_MAX_CONNECTIONS;
  const logging = input.logging ?? "stdout";
  const publicHttps = input.publicHttpsPort ?? input.httpsPort;
  const up = input.upstreams;

  const lines: string[] = [];
  const add = (...l: string[]) => lines.push(...l);

  add(
    "# Rendered by backend-infra renderers/haproxy-config.ts - do not edit by hand.",
    "global",
    logging === "stdout" ? "    log stdout format raw local0 info" : "    # logging off",
    `    maxconn ${input.maxConnections ?? DEFAULT_MAX_CONNECTIONS}`,
    // Admin API: the traffic switch sets weights here; expose-fd lets a reload take over the listeners.
    `    stats socket ${input.adminSocketPath} mode 600 level admin expose-fd listeners`,
  );
  if (input.adminTcpPort !== undefined) {
    add(`    stats socket ipv4@127.0.0.1:${input.adminTcpPort} level admin`);
  }
  add(
    "    stats timeout 30s",
    // After a reload the old worker finishes its requests; this bounds how long it may linger.
    "    hard-stop-after 2m",
    // Weights set at runtime are dumped here by the switch and loaded on start/reload.
    `    server-state-file ${input.serverStateFile}`,
    `    ssl-default-bind-ciphers ${TLS_CIPHERS}`,
    `    ssl-default-bind-ciphersuites ${TLS_CIPHERSUITES}`,
    "    ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets",
    "    tune.ssl.default-dh-param 2048",
    "",
  );

  if (up.kind === "dns") {
    add(
      "resolvers docker",
      `    nameserver dns1 ${up.nameserver}`,
      "    resolve_retries 3",
      "    timeout resolve 1s",
      "    timeout retry   1s",
      "    hold valid    10s",
      "    hold other    10s",
      "    hold refused  10s",
      "    hold nx       10s",
      "    hold timeout  10s",
      "    hold obsolete 10s",
      "    accepted_payload_size 8192",
      "",
    );
  }

  add(
    "defaults",
    "    mode http",
    ...(logging === "stdout" ? ["    log global", "    option httplog", "    option dontlognull"] : []),
    "    option forwardfor",
    "    option http-keep-alive",
    // Wait for the whole request body before a server is chosen (or the buffer, tune.bufsize, is
    // full), so `timeout http-request` covers the body too: a client trickling its body gets 408
    // from the edge and never holds a backend connection.
    "    option http-buffer-request",
    // On a reload (soft stop) an idle keep-alive connection is not closed under a client that
    // may be sending on it: the old worker answers its next request with "Connection: close".
    "    option idle-close-on-response",
    // Restore weights and states saved by the traffic switch (see server-state-file above).
    "    load-server-state-from-file global",
    `    timeout connect ${t.connect}ms`,
    `    timeout client ${t.client}ms`,
    `    timeout server ${t.server}ms`,
    `    timeout http-request ${t.httpRequest}ms`,
    `    timeout http-keep-alive ${t.httpKeepAlive}ms`,
    `    timeout queue ${t.queue}ms`,
    `    timeout check ${t.check}ms`,
    "    timeout tunnel 1h",
    "",
    "frontend http",
    `    bind ${input.bindAddress}:${input.httpPort}`,
    publicHttps === 443
      ? "    http-request redirect scheme https code 301"
      : `    http-request redirect location https://%[req.hdr(host),field(1,:)]:${publicHttps}%[capture.req.uri] code 301`,
    "",
    "frontend https",
    `    bind ${input.bindAddress}:${input.httpsPort} ssl crt ${input.certificatePath} alpn h2,http/1.1`,
    // Per-client-IP request rate over 10 s; above the limit the client gets 429 with Retry-After.
    "    stick-table type ipv6 size 100k expire 30s store http_req_rate(10s)",
    "    http-request track-sc0 src",
    `    http-request return status 429 content-type text/plain string "Too Many Requests" hdr Retry-After 10 if { sc_http_req_rate(0) gt ${input.rateLimitPer10s} }`,
    // The backend's /metrics is for Prometheus on the monitoring network, not for the internet:
    // decoded, any case, any number of leading slashes (Express routes case-insensitively).
    `    http-request deny deny_status 404 if { path,url_dec -m reg -i ${PRIVATE_PATHS_REGEX} }`,
    "    http-request set-header X-Forwarded-Proto https",
    // Clients must not choose the X-Forwarded-For the backend sees: option forwardfor adds the real one.
    "    http-request del-header X-Forwarded-For",
    "    unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid",
    "    http-request set-header X-Request-ID %[unique-id] unless { req.hdr(X-Request-ID) -m found }",
    // http-after-response also covers responses HAProxy makes itself (429, 503).
    `    http-after-response set-header Strict-Transport-Security "max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains"`,
    "    http-after-response set-header X-Content-Type-Options nosniff",
    "    http-after-response set-header X-Frame-Options DENY",
    "    http-after-response set-header Referrer-Policy no-referrer",
    `    http-after-response set-header Content-Security-Policy "default-src 'none'; frame-ancestors 'none'"`,
    "    http-after-response del-header Server",
    "    http-after-response del-header X-Powered-By",
    `    default_backend ${EDGE_BACKEND}`,
    "",
    "frontend metrics",
    `    bind ${input.metrics.bindAddress}:${input.metrics.port}`,
    "    http-request set-log-level silent",
    "    http-request use-service prometheus-exporter if { path /metrics }",
    `    http-request return status 200 content-type text/plain string ok if { path ${EDGE_HEALTH_PATH} }`,
    "    http-request deny deny_status 404",
    "",
    `backend ${EDGE_BACKEND}`,
    "    balance roundrobin",
    "    option httpchk",
    `    http-check send meth GET uri ${hc.path} ver HTTP/1.1 hdr Host edge-healthcheck`,
    "    http-check expect status 200",
    // A request is retried (3 times, each on another server: redispatch) only when it cannot
    // have reached the application: the connection failed, so nothing was sent (any method); or,
    // for the safe methods GET, HEAD and OPTIONS, the server closed without a byte of answer (a
    // replica that crashed or stopped). Never on a response timeout: the request ran and may
    // still run, and a replay multiplies the wait and the load. Never a PUT, DELETE or POST that
    // was sent: the edge cannot know that the application applied it at most once. Clients
    // retry those themselves, with an Idempotency-Key (docs/idempotency.md).
    "    option redispatch 1",
    "    retries 3",
    "    retry-on conn-failure empty-response",
    "    http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS",
    "    http-reuse safe",
    // maxconn: at most this many requests on one replica at a time; the rest queue here, where
    // any server that frees a slot takes the next one, and get 503 after `timeout queue`.
    `    default-server check inter ${hc.intervalMs}ms fastinter ${Math.max(250, Math.round(hc.intervalMs / 4))}ms fall ${hc.fall} rise ${hc.rise} maxconn ${serverMax} weight ${weight}`,
  );
  if (up.kind === "dns") {
    for (const colour of ["blue", "green"] as const) {
      add(
        `    server-template ${colour} ${up.slotsPerColour} ${up.hosts[colour]}:${up.port} resolvers docker init-addr none resolve-prefer ipv4`,
      );
    }
  } else {
    for (const colour of ["blue", "green"] as const) {
      up.servers[colour].forEach((s, i) => add(`    server ${colour}${i + 1} ${s.address}:${s.port}`));
    }
  }
  add("");
  return lines.join("\n");
}

/** HAProxy's global maxconn unless the container's open-files limit calls for less. */
export const DEFAULT_MAX_CONNECTIONS = 20000;
/** File descriptors kept for listeners, server checks, the resolver and the admin socket. */
const RESERVED_FDS = 1000;

/**
 * The largest global `maxconn` that fits an open-files limit: HAProxy needs two descriptors per
 * proxied connection and refuses to start when it cannot raise its limit to that (it cannot inside
 * a container whose `ulimit nofile` is lower). Capped at the default 20000.
 */
export function maxConnectionsFor(openFilesLimit: number): number {
  const fitting = Math.floor((openFilesLimit - RESERVED_FDS) / 2);
  if (!Number.isInteger(openFilesLimit) || fitting < 256) {
    throw new Error(
      `haproxy config: an open-files limit of ${openFilesLimit} leaves fewer than 256 connections; expected at least ${RESERVED_FDS + 512}`,
    );
  }
  return Math.min(DEFAULT_MAX_CONNECTIONS, fitting);
}
