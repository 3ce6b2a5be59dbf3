/**
 * L5: Alertmanager 0.25 running the rendered alertmanager.yml (amtool cannot test inhibition):
 * alerts posted to its API reach the receiver of their severity, and a critical alert inhibits
 * the warning of the same alertname and instance, while a warning on another instance still
 * goes out.
 */
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RECEIVERS, renderAlertmanagerConfig } from "../../renderers/alertmanager-config";
import {
  freePort,
  removeDir,
  skipReason,
  startDaemon,
  tempDir,
  waitFor,
  type Daemon,
} from "../support/tools";

interface Posted {
  path: string;
  alerts: { labels: Record<string, string> }[];
}

interface AmAlert {
  labels: Record<string, string>;
  receivers: { name: string }[];
  status: { state: string; inhibitedBy: string[] };
}

describe.skipIf(skipReason("prometheus-alertmanager"))("Alertmanager with the rendered config", () => {
  const root = tempDir("alertmanager");
  const received: Posted[] = [];
  let hook: Server | undefined;
  let daemon: Daemon | undefined;
  let url = "";

  beforeAll(async () => {
    const hookPort = await freePort();
    hook = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push({ path: req.url ?? "", alerts: (JSON.parse(body) as Posted).alerts });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((done) => hook?.listen(hookPort, "127.0.0.1", done));
    const base = `http://127.0.0.1:${hookPort}`;
    const config = renderAlertmanagerConfig({
      environment: "l5",
      pagerWebhookUrl: `${base}/pager`,
      teamsWebhookUrl: `${base}/teams`,
      deadMansSwitchUrl: `${base}/dms`,
    })
      // Test timing only: the rendered 30 s/10 s group waits shortened to 1 s.
      .replace(/group_wait: (30s|10s)/g, "group_wait: 1s");
    writeFileSync(join(root, "alertmanager.yml"), config);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    daemon = startDaemon("prometheus-alertmanager", [
      `--config.file=${join(root, "alertmanager.yml")}`,
      `--storage.path=${join(root, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--cluster.listen-address=",
    ]);
    await waitFor("alertmanager ready", async () => (await fetch(`${url}/-/ready`)).ok, {
      timeoutMs: 30_000,
    });
  });

  afterAll(async () => {
    await daemon?.stop();
    hook?.close();
    removeDir(root);
  });

  it("routes by severity and inhibits a warning by its critical twin", async () => {
    const alert = (labels: Record<string, string>) => ({
      labels: { environment: "l5", ...labels },
      annotations: { summary: labels.alertname },
      startsAt: new Date().toISOString(),
    });
    const disk = { alertname: "HostDiskSpaceLow", instance: "node-exporter:9100", mountpoint: "/" };
    const response = await fetch(`${url}/api/v2/alerts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([
        alert({ ...disk, severity: "critical" }),
        alert({ ...disk, severity: "warning" }),
        alert({ ...disk, mountpoint: "/data", severity: "warning" }),
        alert({ alertname: "Watchdog", severity: "none" }),
      ]),
    });
    expect(response.status).toBe(200);

    const state = await waitFor(
      "four alerts in Alertmanager",
      async () => {
        const alerts = (await (await fetch(`${url}/api/v2/alerts`)).json()) as AmAlert[];
        return alerts.length === 4 ? alerts : undefined;
      },
      { timeoutMs: 10_000 },
    );
    const find = (severity: string, mountpoint?: string) =>
      state?.find(
        (a) =>
          a.labels.severity === severity &&
          (mountpoint === undefined || a.labels.mountpoint === mountpoint) &&
          a.labels.alertname !== "Watchdog",
      );
    await waitFor("inhibition computed", async () => {
      const alerts = (await (await fetch(`${url}/api/v2/alerts`)).json()) as AmAlert[];
      return alerts.some((a) => a.status.state === "suppressed");
    });
    const alerts = (await (await fetch(`${url}/api/v2/alerts`)).json()) as AmAlert[];
    const byKey = (severity: string, mountpoint: string) =>
      alerts.find((a) => a.labels.severity === severity && a.labels.mountpoint === mountpoint);
    expect(byKey("warning", "/")?.status.state).toBe("suppressed");
    expect(byKey("warning", "/")?.status.inhibitedBy.length).toBe(1);
    expect(byKey("warning", "/data")?.status.state).toBe("active");
    expect(byKey("critical", "/")?.status.state).toBe("active");
    expect(find("critical", "/")?.receivers.map((r) => r.name)).toEqual([RECEIVERS.critical]);
    expect(find("warning", "/data")?.receivers.map((r) => r.name)).toEqual([RECEIVERS.warning]);

    await waitFor(
      "notifications at the pager, chat and dead man's switch hooks",
      () => ["/pager", "/teams", "/dms"].every((p) => received.some((r) => r.path === p)),
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    const at = (path: string) =>
      received.filter((r) => r.path === path).flatMap((r) => r.alerts.map((a) => a.labels));
    expect(at("/pager").map((l) => [l.alertname, l.severity, l.mountpoint])).toEqual([
      ["HostDiskSpaceLow", "critical", "/"],
    ]);
    // The inhibited warning on / never goes out; the one on /data does.
    expect(at("/teams").map((l) => [l.alertname, l.severity, l.mountpoint])).toEqual([
      ["HostDiskSpaceLow", "warning", "/data"],
    ]);
    expect(at("/dms").map((l) => l.alertname)).toEqual(["Watchdog"]);
  });
});
