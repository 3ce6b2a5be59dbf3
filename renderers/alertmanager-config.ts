/**
 * alertmanager.yml for Alertmanager 0.25: routes by severity (critical -> pager webhook +
 * e-mail, warning -> Slack/Teams), the Watchdog to a dead man's switch, grouping, and
 * inhibition of warnings by criticals. Pure over plain strings: the component resolves the
 * secret receiver URLs with `pulumi.all(...).apply` and keeps the result secret.
 *
 * A receiver whose settings are unset is replaced by the `null` receiver (no integrations),
 * and the rendered file says so in a comment, so a route never points at nothing.
 */
import { stringify } from "yaml";

export interface AlertmanagerEmail {
  to: string[];
  from: string;
  /** SMTP relay `host:port`. */
  smarthost: string;
  username?: string;
  password?: string;
}

export interface AlertmanagerConfigInput {
  /** Environment name, shown in notifications. */
  environment: string;
  /** Webhook that pages the on-call person (critical). */
  pagerWebhookUrl?: string;
  /** Slack incoming webhook (warning). */
  slackWebhookUrl?: string;
  /**
   * Teams webhook (warning). Alertmanager 0.25 has no native Teams integration (msteams_configs
   * arrived in 0.26): this URL receives Alertmanager's webhook JSON, so it must be a
   * translator such as prometheus-msteams or a Power Automate flow that accepts that JSON.
   */
  teamsWebhookUrl?: string;
  email?: AlertmanagerEmail;
  /** Heartbeat URL that expects the Watchdog continuously. */
  deadMansSwitchUrl?: string;
}

/** Receiver names: a contract with `amtool config routes test` and the runbooks. */
export const RECEIVERS = {
  critical: "critical-pager-email",
  warning: "warning-chat",
  deadMansSwitch: "dead-mans-switch",
  none: "null",
} as const;

function checkUrl(name: string, value: string | undefined, problems: string[]) {
  if (value !== undefined && !/^https?:\/\/\S+$/.test(value))
    problems.push(`${name}: expected an http(s) URL`);
}

export function renderAlertmanagerConfig(input: AlertmanagerConfigInput): string {
  const problems: string[] = [];
  checkUrl("pagerWebhookUrl", input.pagerWebhookUrl, problems);
  checkUrl("slackWebhookUrl", input.slackWebhookUrl, problems);
  checkUrl("teamsWebhookUrl", input.teamsWebhookUrl, problems);
  checkUrl("deadMansSwitchUrl", input.deadMansSwitchUrl, problems);
  if (input.email) {
    if (input.email.to.length === 0) problems.push("email.to: expected at least one address");
    if (!/^[^:\s]+:\d+$/.test(input.email.smarthost)) problems.push("email.smarthost: expected host:port");
  }
  if (problems.length > 0)
    throw new Error(`alertmanager.yml input is invalid:\n  - ${problems.join("\n  - ")}`);

  const comments: string[] = [];
  const receivers: Record<string, unknown>[] = [];

  const critical: Record<string, unknown> = { name: RECEIVERS.critical };
  if (input.pagerWebhookUrl) critical.webhook_configs = [{ url: input.pagerWebhookUrl, send_resolved: true }];
  if (input.email) {
    critical.email_configs = [
      {
        to: input.email.to.join(", "),
        send_resolved: true,
        headers: { Subject: `[${input.environment}] {{ .Status | toUpper }} {{ .CommonLabels.alertname }}` },
      },
    ];
  }
  const hasCritical = Boolean(input.pagerWebhookUrl || input.email);
  if (hasCritical) receivers.push(critical);
  else
    comments.push(
      "critical alerts: no pager webhook and no e-mail configured -> routed to the null receiver",
    );

  const warning: Record<string, unknown> = { name: RECEIVERS.warning };
  if (input.slackWebhookUrl) {
    warning.slack_configs = [
      {
        api_url: input.slackWebhookUrl,
        send_resolved: true,
        title: `[${input.environment}] {{ .Status | toUpper }} {{ .CommonLabels.alertname }}`,
        text: "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
      },
    ];
  }
  if (input.teamsWebhookUrl) warning.webhook_configs = [{ url: input.teamsWebhookUrl, send_resolved: true }];
  const hasWarning = Boolean(input.slackWebhookUrl || input.teamsWebhookUrl);
  if (hasWarning) receivers.push(warning);
  else comments.push("warning alerts: no Slack or Teams webhook configured -> routed to the null receiver");

  if (input.deadMansSwitchUrl) {
    receivers.push({
      name: RECEIVERS.deadMansSwitch,
      webhook_configs: [{ url: input.deadMansSwitchUrl, send_resolved: false }],
    });
  } else {
    comments.push("Watchdog: no dead man's switch URL configured -> routed to the null receiver");
  }
  receivers.push({ name: RECEIVERS.none });

  const criticalReceiver = hasCritical ? RECEIVERS.critical : RECEIVERS.none;
  const warningReceiver = hasWarning ? RECEIVERS.warning : RECEIVERS.none;

  const config: Record<string, unknown> = {
    global: {
      resolve_timeout: "5m",
      ...(input.email
        ? {
            smtp_from: input.email.from,
            smtp_smarthost: input.email.smarthost,
            smtp_require_tls: true,
            ...(input.email.username ? { smtp_auth_username: input.email.username } : {}),
            ...(input.email.password ? { smtp_auth_password: input.email.password } : {}),
          }
        : {}),
    },
    route: {
      // Anything without a known severity goes to chat rather than nowhere.
      receiver: warningReceiver,
      group_by: ["alertname", "severity", "colour"],
      group_wait: "30s",
      group_interval: "5m",
      repeat_interval: "4h",
      routes: [
        {
          // Heartbeat: sent continuously; the external service alarms when it stops.
          receiver: input.deadMansSwitchUrl ? RECEIVERS.deadMansSwitch : RECEIVERS.none,
          matchers: ['alertname="Watchdog"'],
          group_wait: "0s",
          group_interval: "1m",
          repeat_interval: "5m",
        },
        {
          receiver: criticalReceiver,
          matchers: ['severity="critical"'],
          group_wait: "10s",
          repeat_interval: "1h",
        },
        { receiver: warningReceiver, matchers: ['severity="warning"'] },
      ],
    },
    inhibit_rules: [
      {
        // The critical variant of an alert (disk < 5 %) silences its warning (disk < 10 %).
        source_matchers: ['severity="critical"'],
        target_matchers: ['severity="warning"'],
        equal: ["alertname", "instance", "mountpoint"],
      },
      {
        // A dead active slot explains its failing replicas and health checks.
        source_matchers: ['alertname="BackendActiveSlotDown"'],
        target_matchers: ['alertname=~"BackendInstanceDown|SlotHealthCheckFailing|BackendHighErrorRate"'],
        equal: ["colour"],
      },
      {
        // With the edge down, the public probe failing adds nothing.
        source_matchers: ['alertname="EdgeDown"'],
        target_matchers: ['alertname=~"PublicEndpointDown|EdgeNoHealthyBackend"'],
      },
    ],
    receivers,
  };

  const header = [
    "# Rendered by renderers/alertmanager-config.ts - do not edit by hand.",
    ...comments.map((c) => `# ${c}`),
  ];
  return `${header.join("\n")}\n${stringify(config, { lineWidth: 0 })}`;
}
