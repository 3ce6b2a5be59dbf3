/**
 * blackbox.yml for blackbox_exporter 0.23: the probe modules prometheus.yml refers to
 * (`BLACKBOX_MODULES`). Pure: input -> YAML text.
 */
import { stringify } from "yaml";
import { BLACKBOX_MODULES } from "./prometheus-config";

export interface BlackboxConfigInput {
  /** Seconds one probe may take. Default 5. */
  timeoutSeconds?: number;
  /** CA bundle (path inside the blackbox container) that signs the public certificate, when it is
   * not in the system trust store (a private CA). Default: the system store. */
  publicCaFile?: string;
}

export function renderBlackboxConfig(input: BlackboxConfigInput = {}): string {
  const timeout = `${input.timeoutSeconds ?? 5}s`;
  const config = {
    modules: {
      // A slot's /health over plain HTTP on the app network: 200 means the backend and its
      // checks (Postgres, Redis) are fine; terminus answers 503 otherwise.
      [BLACKBOX_MODULES.health]: {
        prober: "http",
        timeout,
        http: {
          method: "GET",
          valid_status_codes: [200],
          preferred_ip_protocol: "ip4",
          ip_protocol_fallback: true,
          follow_redirects: false,
        },
      },
      // The public URL through the edge: must be HTTPS with a valid certificate chain.
      // probe_ssl_earliest_cert_expiry drives the TLS expiry alerts.
      [BLACKBOX_MODULES.publicTls]: {
        prober: "http",
        timeout,
        http: {
          method: "GET",
          valid_status_codes: [200],
          fail_if_not_ssl: true,
          preferred_ip_protocol: "ip4",
          ip_protocol_fallback: true,
          follow_redirects: true,
          ...(input.publicCaFile ? { tls_config: { ca_file: input.publicCaFile } } : {}),
        },
      },
    },
  };
  return `# Rendered by renderers/prometheus-blackbox.ts - do not edit by hand.\n${stringify(config)}`;
}
