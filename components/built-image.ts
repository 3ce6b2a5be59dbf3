/**
 * An image this project builds from a directory of its own (images/postgres, images/backup,
 * examples/backend). With a registry it is pushed and run by its registry digest; without one
 * it is built on the Docker host and run by its tag, which prod refuses (every prod image is
 * pinned by digest).
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Environment } from "../config/schema";

export interface BuiltImageArgs {
  /** Repository name, e.g. `postgres-pgbackrest`; prefixed with the registry or `namePrefix`. */
  repository: string;
  /** Tag of this build, e.g. the base image's tag or a hash of the sources. */
  tag: string;
  /** Build context directory, relative to the project directory. */
  context: string;
  /** Docker build arguments. */
  buildArgs?: Record<string, pulumi.Input<string>>;
  /** Registry to push to (password a secret). Unset: build on the Docker host only. */
  registry?: { server: string; username?: string; password?: pulumi.Input<string> };
  /** Prefix of the local repository when there is no registry, e.g. `backend-infra-prod`. */
  namePrefix: string;
  environment: Environment;
}

/** Builds (and pushes) the image as a child of `parent`; returns the reference to run. */
export function buildImage(
  name: string,
  args: BuiltImageArgs,
  parent: pulumi.Resource,
): pulumi.Output<string> {
  if (args.environment === "prod" && !args.registry) {
    throw new Error(
      `${name}: prod needs registryServer so the built ${args.repository} image is pushed and run by digest`,
    );
  }
  const server = args.registry?.server.replace(/\/$/, "");
  const repository = server ? `${server}/${args.repository}` : `${args.namePrefix}/${args.repository}`;
  const image = new docker.Image(
    `${name}-image`,
    {
      imageName: `${repository}:${args.tag}`,
      build: {
        context: args.context,
        dockerfile: `${args.context}/Dockerfile`,
        platform: "linux/amd64",
        args: args.buildArgs,
      },
      skipPush: !args.registry,
      registry: args.registry
        ? { server: args.registry.server, username: args.registry.username, password: args.registry.password }
        : undefined,
    },
    { parent },
  );
  return args.registry ? image.repoDigest : image.imageName;
}
