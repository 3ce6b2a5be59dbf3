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
}

export function renderGrafanaDatasources(input: GrafanaDatasourceInput): string {
  if (!/^https?:\/\/\S+$/.test(input.prometheusUrl))
    throw new Error(`grafana datasource: prometheusUrl must be an http(s) URL, got "${input.prometheusUrl}"`);
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
        jsonData: { timeInterval: `${input.scrapeIntervalSeconds}s`, httpMethod: "POST" },
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
