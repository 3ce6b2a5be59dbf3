/**
 * The edge: one HAProxy container (official image, pinned) in front of both slots. It is the
 * only container that publishes public ports. TLS terminates here with a provided certificate
 * (config secrets) or, for local stacks, a self-signed one generated with @pulumi/tls.
 *
 * The rendered haproxy.cfg does not depend on the traffic target: the split is set at runtime
 * by the TrafficSwitch (components/traffic-switch.ts) and persisted in the server-state file,
 * which lives on a named volume so it survives container re-creation.
 *
 * A changed haproxy.cfg or certificate (a renewal) does not replace the container: the uploads
 * are only what a new container starts with, and the `<name>-config` command runs
 * tools/config-reload.ts, which validates the files in the running edge and reloads HAProxy in
 * place (master-worker, listeners handed over), so no request fails.
 */
import { createHash } from "node:crypto";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { InfraConfig } from "../config/schema";
import {
  EDGE_ADMIN_SOCKET,
  EDGE_ADMIN_TCP_PORT,
  EDGE_CERT_PATH,
  EDGE_CONFIG_DIR,
  EDGE_CONTAINER_HTTP_PORT,
  EDGE_CONTAINER_HTTPS_PORT,
  EDGE_HEALTH_PATH,
  EDGE_METRICS_PORT,
  EDGE_STATE_DIR,
  EDGE_STATE_FILE,
  DEFAULT_SERVER_MAX_CONNECTIONS,
  DEFAULT_TIMEOUTS,
  maxConnectionsFor,
  renderHaproxyConfig,
} from "../renderers/haproxy-config";
import { configReload } from "./config-reload";
import { DEFAULT_OPEN_FILES_LIMIT, ServiceContainer } from "./service-container";

/** uid:gid of the `haproxy` user in the official image. */
export const EDGE_USER = "99:99";
/** Docker's embedded DNS server, which resolves the slot aliases on the app network. */
export const DOCKER_DNS = "127.0.0.11:53";
/**
 * `server-template` slots per colour: twice the most replicas a slot may run (backendReplicas
 * allows 20), because during a rolling slot update old and new replicas share the alias.
 */
export const EDGE_SLOTS_PER_COLOUR = 40;
/** Network alias of a slot's replicas on the app network. */
export const slotAlias = (colour: "blue" | "green") => `backend-${colour}`;

/** The Docker healthcheck (bash; the image has no curl): GET /healthz on the internal frontend. */
export function edgeHealthcheckScript(port: number): string {
  return (
    `exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET ${EDGE_HEALTH_PATH} HTTP/1.0\\r\\n\\r\\n' >&3 ` +
    `&& head -n1 <&3 | grep -q ' 200 '`
  );
}

export interface EdgeArgs {
  /** Open-files limit (`ulimit nofile`) of its containers (config `containerOpenFilesLimit`). Default 65536. */
  openFilesLimit?: number;
  /** Prefix of container and volume names, e.g. `backend-infra-prod`. */
  namePrefix: string;
  /** Pinned HAProxy image. Default in config: `haproxy:2.6.18-bookworm`. */
  image: string;
  /** Memory limit, MB. */
  memoryMb: number;
  /** CPU limit, CPUs. */
  cpus: number;
  /** Public host port for HTTP (redirects to HTTPS). Default 80. */
  httpPort: number;
  /** Public host port for HTTPS. Default 443. */
  httpsPort: number;
  /** Host name clients use; the subject of a self-signed certificate and part of `url`. */
  publicHostname: string;
  /** TLS material: provided PEMs (secrets) or `self-signed`. */
  tls: InfraConfig["edge"]["tls"];
  /** Requests per client IP per 10 s before 429. */
  rateLimitPer10s: number;
  /**
   * Requests one backend replica is given at a time (per-server maxconn, config
   * `edgeServerMaxConn`); more wait in the edge's queue. Default 64.
   */
  serverMaxConn?: number;
  /**
   * Seconds a request waits in that queue before the edge answers 503 (config
   * `edgeQueueTimeoutSeconds`). Default 10.
   */
  queueTimeoutSeconds?: number;
  /** Port the backend listens on in its container. Default 4000. */
  backendPort: number;
  /** Server slots per colour: the most replicas one slot may run. */
  slotsPerColour: number;
  /** Docker engine (`unix://`, `ssh://`, `tcp://`) the reload command reaches the edge through. */
  dockerHost: string;
  /** Docker network names. The edge joins edge and app, and monitoring when given. */
  networks: { edge: pulumi.Input<string>; app: pulumi.Input<string>; monitoring?: pulumi.Input<string> };
}

export class Edge extends pulumi.ComponentResource {
  readonly containerName: pulumi.Output<string>;
  /** Docker container id: changes when the container is re-created (the switch re-applies then). */
  readonly containerId: pulumi.Output<string>;
  /** Public URL, e.g. `https://api.example.com` (port shown when not 443). */
  readonly url: string;
  /**
   * The self-signed certificate (PEM, public) when `tls.mode` is self-signed, for clients that
   * must trust it (`curl --cacert`); undefined with a provided certificate.
   */
  readonly caCertPem?: pulumi.Output<string>;
  /** Admin unix socket inside the container. */
  readonly adminSocket = EDGE_ADMIN_SOCKET;
  /** Admin API on the container's loopback, for `docker exec` clients (the traffic switch). */
  readonly adminTcp = `127.0.0.1:${EDGE_ADMIN_TCP_PORT}`;
  readonly stateFile = EDGE_STATE_FILE;
  /** Prometheus exporter, reachable as `<container>:8405/metrics` on the monitoring network. */
  readonly metricsPort = EDGE_METRICS_PORT;
  /** The rendered haproxy.cfg (not secret: the certificate is a separate file). */
  readonly config: string;
  /** sha256 of the config. */
  readonly configHash: string;
  /** The config hash, resolved once the running edge serves that config (after a reload). */
  readonly appliedConfigHash: pulumi.Output<string>;

  constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("backend-infra:edge:Edge", name, {}, opts);

    this.config = renderHaproxyConfig({
      bindAddress: "0.0.0.0",
      httpPort: EDGE_CONTAINER_HTTP_PORT,
      httpsPort: EDGE_CONTAINER_HTTPS_PORT,
      publicHttpsPort: args.httpsPort,
      certificatePath: EDGE_CERT_PATH,
      adminSocketPath: EDGE_ADMIN_SOCKET,
      adminTcpPort: EDGE_ADMIN_TCP_PORT,
      serverStateFile: EDGE_STATE_FILE,
      metrics: { bindAddress: "0.0.0.0", port: EDGE_METRICS_PORT },
      rateLimitPer10s: args.rateLimitPer10s,
      upstreams: {
        kind: "dns",
        nameserver: DOCKER_DNS,
        hosts: { blue: slotAlias("blue"), green: slotAlias("green") },
        port: args.backendPort,
        slotsPerColour: args.slotsPerColour,
      },
      logging: "stdout",
      maxConnections: maxConnectionsFor(args.openFilesLimit ?? DEFAULT_OPEN_FILES_LIMIT),
      serverMaxConnections: args.serverMaxConn ?? DEFAULT_SERVER_MAX_CONNECTIONS,
      timeouts: { queue: (args.queueTimeoutSeconds ?? DEFAULT_TIMEOUTS.queue / 1000) * 1000 },
    });
    this.configHash = createHash("sha256").update(this.config).digest("hex");

    const { pem, selfSignedCertPem } = this.certificate(name, args);
    this.caCertPem = selfSignedCertPem;

    const stateVolume = new docker.Volume(
      `${name}-state`,
      {
        name: `${args.namePrefix}-edge-state`,
        labels: [{ label: "backend-infra.purpose", value: "haproxy server-state (traffic weights)" }],
      },
      { parent: this, retainOnDelete: true },
    );

    const uploads = [
      { file: `${EDGE_CONFIG_DIR}/haproxy.cfg`, content: this.config },
      { file: EDGE_CERT_PATH, content: pulumi.secret(pem) },
    ];
    const networks = [
      { name: args.networks.edge },
      { name: args.networks.app },
      ...(args.networks.monitoring ? [{ name: args.networks.monitoring }] : []),
    ];

    const service = new ServiceContainer(
      name,
      {
        openFilesLimit: args.openFilesLimit,
        containerName: `${args.namePrefix}-edge`,
        image: args.image,
        user: EDGE_USER,
        memoryMb: args.memoryMb,
        cpus: args.cpus,
        networks,
        ports: [
          { internal: EDGE_CONTAINER_HTTP_PORT, external: args.httpPort, protocol: "tcp" },
          { internal: EDGE_CONTAINER_HTTPS_PORT, external: args.httpsPort, protocol: "tcp" },
        ],
        // Docker copies uploads to "/", which a read-only root filesystem refuses; the reload
        // also writes the files there.
        writableRootfsReason: "uploads the rendered haproxy.cfg and TLS certificate",
        uploadsAppliedInPlace: true,
        uploads,
        volumes: [{ volumeName: stateVolume.name, containerPath: EDGE_STATE_DIR }],
        tmpfs: {
          "/tmp": "rw,noexec,nosuid,size=16m",
          // The admin socket's directory; HAProxy does not create it.
          "/run/haproxy": "rw,noexec,nosuid,size=1m,mode=1777",
        },
        healthcheck: {
          // The image has no curl: bash's /dev/tcp asks the internal frontend's /healthz.
          test: ["CMD", "bash", "-c", edgeHealthcheckScript(EDGE_METRICS_PORT)],
          intervalSeconds: 10,
          timeoutSeconds: 3,
          startPeriodSeconds: 10,
          retries: 3,
        },
        // The image's STOPSIGNAL SIGUSR1 is HAProxy's soft stop: finish open requests, then exit.
        stopSignal: "SIGUSR1",
        stopTimeoutSeconds: 30,
        pidsLimit: 256,
        // No config hash label: a label change would replace the container.
        labels: { "backend-infra.role": "edge" },
      },
      // One edge per host: its fixed name and host ports cannot exist twice, so when it must be
      // replaced (image, ports, limits) it goes delete-first (ServiceContainer's default): a few
      // seconds without the edge; weights come back from the server-state volume and the switch
      // re-applies them. Config and certificate changes reload in place instead (below).
      { parent: this },
    );

    // Runs on every config or certificate change (stdin) and on a new container (trigger); a
    // container that already runs these files answers "unchanged" without a reload. A container
    // replaced for another reason may start from the previous uploads (ignoreChanges keeps
    // them); the trigger then brings it to the current files.
    const reload = configReload(
      `${name}-config`,
      {
        service: "haproxy",
        container: service.containerName,
        containerId: service.container.id,
        files: uploads,
        dockerHost: args.dockerHost,
      },
      { parent: this },
    );
    this.appliedConfigHash = reload.stdout.apply(() => this.configHash);

    this.containerName = service.containerName;
    this.containerId = service.container.id;
    this.url = `https://${args.publicHostname}${args.httpsPort === 443 ? "" : `:${args.httpsPort}`}`;
    this.registerOutputs({
      containerName: this.containerName,
      url: this.url,
      adminSocket: this.adminSocket,
      configHash: this.configHash,
      appliedConfigHash: this.appliedConfigHash,
    });
  }

  /**
   * Certificate chain + private key in one PEM, as HAProxy's `crt` wants it, and the certificate
   * alone when this component generated it (self-signed).
   */
  private certificate(
    name: string,
    args: EdgeArgs,
  ): { pem: pulumi.Output<string>; selfSignedCertPem?: pulumi.Output<string> } {
    if (args.tls.mode === "provided") {
      return {
        pem: pulumi
          .all([args.tls.cert, args.tls.key])
          .apply(([cert, key]) => `${cert.trim()}\n${key.trim()}\n`),
      };
    }
    const key = new tls.PrivateKey(
      `${name}-tls-key`,
      { algorithm: "ECDSA", ecdsaCurve: "P256" },
      { parent: this },
    );
    const cert = new tls.SelfSignedCert(
      `${name}-tls-cert`,
      {
        privateKeyPem: key.privateKeyPem,
        subject: { commonName: args.publicHostname, organization: "backend-infra (self-signed)" },
        dnsNames: [args.publicHostname],
        validityPeriodHours: 24 * 365,
        earlyRenewalHours: 24 * 30,
        allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
      },
      { parent: this },
    );
    return {
      pem: pulumi.all([cert.certPem, key.privateKeyPem]).apply(([c, k]) => `${c.trim()}\n${k.trim()}\n`),
      selfSignedCertPem: cert.certPem,
    };
  }
}
