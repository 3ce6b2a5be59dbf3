/**
 * The in-place reload of a running container's config files, as a resource: a
 * @pulumi/command that runs tools/config-reload.ts with the files on stdin. It runs when the
 * files change (stdin) and when the container is new (trigger); a container that already runs
 * these files answers "unchanged". Used for the containers whose uploads are only what a new
 * container starts with (ServiceContainer `uploadsAppliedInPlace`): the edge, Prometheus and
 * Alertmanager.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT_ROOT } from "../lib/project-root";
import { shellQuote } from "../lib/shell-quote";

/** The reload CLI as run from the project directory (Pulumi runs the built program from there). */
export const CONFIG_RELOAD_CLI = "node dist/tools/config-reload.js";

export type ReloadedService = "haproxy" | "prometheus" | "alertmanager";

/**
 * The exact CLI invocation for a container (files and secrets go on stdin, never in argv).
 * `authHeaderFile`: the file in the container with the Authorization header its /metrics needs.
 */
export function configReloadCommand(
  service: ReloadedService,
  container: string,
  options: { cli?: string; authHeaderFile?: string } = {},
): string {
  const auth = options.authHeaderFile ? ` --auth-header-file ${shellQuote(options.authHeaderFile)}` : "";
  return `${options.cli ?? CONFIG_RELOAD_CLI} --service ${service} --docker-container ${shellQuote(container)}${auth}`;
}

export interface ConfigReloadArgs {
  service: ReloadedService;
  container: pulumi.Input<string>;
  /** Docker container id: a new container runs the reload again. */
  containerId: pulumi.Input<string>;
  /** The files, main config first, as uploaded into the container. */
  files: { file: string; content: pulumi.Input<string> }[];
  /** Docker engine (`unix://`, `ssh://`, `tcp://`), passed as DOCKER_HOST. */
  dockerHost: string;
  /**
   * Prometheus / Alertmanager behind a web config: the file in the container holding the
   * Authorization header the reload's /metrics reads send. Unset: no login.
   */
  authHeaderFile?: string;
}

/** Creates the reload command; its stdout resolves once the container runs exactly these files. */
export function configReload(
  name: string,
  args: ConfigReloadArgs,
  opts: pulumi.CustomResourceOptions,
): command.local.Command {
  const cmd = pulumi
    .output(args.container)
    .apply((c) => configReloadCommand(args.service, c, { authHeaderFile: args.authHeaderFile }));
  const stdin = pulumi
    .all(args.files.map((f) => f.content))
    .apply((contents) =>
      JSON.stringify({ files: args.files.map((f, i) => ({ path: f.file, content: contents[i] })) }),
    );
  return new command.local.Command(
    name,
    {
      create: cmd,
      update: cmd,
      // Secret: the files may hold a private key or webhook URLs.
      stdin: pulumi.secret(stdin),
      environment: { DOCKER_HOST: args.dockerHost },
      // The CLI path is relative to the project; Pulumi runs commands from dist/ (main: dist/).
      dir: PROJECT_ROOT,
      triggers: [args.containerId],
      logging: "stdoutAndStderr",
    },
    opts,
  );
}
