/**
 * Grafana file provisioning: the Prometheus datasource with a fixed uid (every dashboard panel
 * refers to it, so no `${DS_...}` placeholder is ever needed) and the dashboard file provider.
 * Pure: input -> YAML text.
 */
import { stringify } from "yaml";

/** The datasource uid every generated dashboard uses. */
export const GRAFANA_DATASOURCE_UID = "prometheus";
/** Where the dashboard JSON files are uploaded inside the Grafana container. */
export const GRAFANA_DASHBOARD_DIR = "/etc/grafana/dashboards";

export interface GrafanaDatasourceInput {
  /** Prometheus URL as Grafana's backend reaches it, e.g. http://prometheus:9090. */
  prometheusUrl: string;
  /** Prometheus scrape interval in seconds (Grafana's minimum step). */
  scrapeIntervalSeconds: number;
  /**
   * Prometheus's basic auth user for Grafana (its web config requires one). The password goes
   * into `secureJsonData`, which Grafana stores encrypted: the rendered file is a secret.
   */
  basicAuth: { user: string; password: string };
}

export function renderGrafanaDatasources(input: GrafanaDatasourceInput): string {
  if (!/^https?:\/\/\S+$/.test(input.prometheusUrl))
    throw new Error(`grafana datasource: prometheusUrl must be an http(s) URL, got "${input.prometheusUrl}"`);
  if (!/^[a-z][a-z0-9_-]{0,31}$/.test(input.basicAuth.user))
    throw new Error(`grafana datasource: basicAuth.user must be a user name, got "${input.basicAuth.user}"`);
  // Grafana expands $VAR in provisioning files: a `$` in the password would be replaced.
  if (input.basicAuth.password === "" || /[$\r\n]/.test(input.basicAuth.password))
    throw new Error(
      `grafana datasource: basicAuth.password for ${input.basicAuth.user} must be non-empty, one line, without "$"`,
    );
  const config = {
    apiVersion: 1,
    // Names to delete: none. Provisioning updates the one datasource below by uid; a datasource
    // someone added in the UI stays (Grafana has no "delete all others").
    deleteDatasources: [],
    datasources: [
      {
        name: "Prometheus",
        uid: GRAFANA_DATASOURCE_UID,
        type: "prometheus",
        access: "proxy",
        url: input.prometheusUrl,
        isDefault: true,
        editable: false,
        basicAuth: true,
        basicAuthUser: input.basicAuth.user,
        jsonData: { timeInterval: `${input.scrapeIntervalSeconds}s`, httpMethod: "POST" },
        secureJsonData: { basicAuthPassword: input.basicAuth.password },
      },
    ],
  };
  return `# Rendered by renderers/grafana-provisioning.ts - do not edit by hand.\n${stringify(config)}`;
}

export function renderGrafanaDashboardProvider(): string {
  const config = {
    apiVersion: 1,
    providers: [
      {
        name: "backend-infra",
        folder: "backend-infra",
        type: "file",
        disableDeletion: true,
        allowUiUpdates: false,
        updateIntervalSeconds: 60,
        options: { path: GRAFANA_DASHBOARD_DIR, foldersFromFilesStructure: false },
      },
    ],
  };
  return `# Rendered by renderers/grafana-provisioning.ts - do not edit by hand.\n${stringify(config)}`;
}
