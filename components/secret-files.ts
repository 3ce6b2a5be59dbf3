/**
 * Secrets a container reads as files (the `NAME_FILE` convention of Docker secrets) instead of
 * env values: one Docker volume, filled by a one-shot writer (renderers/secret-files-writer.ts),
 * mounted read-only where the readers want it.
 *
 * Why files: env values show in `docker inspect`, in the container's config on the host and in
 * every child process's environment; a file mode 0400 of the reader's uid shows nowhere else.
 * And the policy pack can tell such a container from one with a literal password: a slot's
 * URLs carry the env stack's generated passwords, but the real engine does not show a slot's
 * StackReference to stack policies, so as env values they read as literals.
 *
 * `revision` changes whenever any content does: put it in the readers' spec (a label) so a new
 * secret replaces them; an unchanged one leaves them alone.
 */
import { createHash } from "node:crypto";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { secretFilesCommand, secretFilesInput, validateSecretFiles } from "../renderers/secret-files-writer";

export interface SecretFilesArgs {
  /** Docker volume name; removed with the component (it holds copies, never the only one). */
  volumeName: string;
  /** Image with `node` on its PATH (the backend's own): the writer runs it once per change. */
  image: pulumi.Input<string>;
  /** `uid:gid` of the reader; the files are mode 0400 and the directory 0500, owned by it. */
  owner: string;
  /** File name -> content (secret). */
  files: Record<string, pulumi.Input<string>>;
  /** Docker engine (DOCKER_HOST for the CLI). */
  dockerHost: pulumi.Input<string>;
}

export class SecretFiles extends pulumi.ComponentResource {
  /** The volume to mount (read-only) into the readers. */
  readonly volumeName: pulumi.Output<string>;
  /** 16 hex digits of sha256 over the contents; resolves after the files are written. */
  readonly revision: pulumi.Output<string>;

  constructor(name: string, args: SecretFilesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("backend-infra:docker:SecretFiles", name, {}, opts);
    validateSecretFiles(`SecretFiles ${name}`, args.owner, Object.keys(args.files));

    const volume = new docker.Volume(
      `${name}-volume`,
      {
        name: args.volumeName,
        driver: "local",
        labels: [{ label: "backend-infra.volume", value: "secret-files" }],
      },
      { parent: this },
    );
    const files = pulumi.secret(pulumi.output(args.files) as pulumi.Output<Record<string, string>>);
    const writer = pulumi
      .all([volume.name, args.image])
      .apply(([volumeName, image]) => secretFilesCommand({ volume: volumeName, image, owner: args.owner }));
    const write = new command.local.Command(
      `${name}-write`,
      {
        create: writer,
        update: writer,
        stdin: files.apply(secretFilesInput),
        environment: { DOCKER_HOST: args.dockerHost },
        logging: "stdoutAndStderr",
      },
      { parent: this },
    );

    this.volumeName = volume.name;
    // A hash of random passwords reveals nothing usable; unsecret so it can name a revision.
    this.revision = pulumi.unsecret(
      pulumi
        .all([files, write.stdout])
        .apply(([contents]) =>
          createHash("sha256").update(JSON.stringify(contents)).digest("hex").slice(0, 16),
        ),
    );
    this.registerOutputs({ volumeName: this.volumeName, revision: this.revision });
  }
}
