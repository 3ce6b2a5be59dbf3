/**
 * An image this project builds from a directory of its own (images/postgres, images/backup,
 * examples/backend). With a registry it is pushed and pinned by its registry digest; without one
 * it is built on the Docker host and pinned by its tag, which prod refuses (every prod image is
 * pinned by digest). Either way containers run it by image ID (see pulled-image.ts).
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Environment } from "../config/schema";
import { pullImage, type ResolvedImage } from "./pulled-image";

export interface BuiltImageArgs {
  /** Repository name, e.g. `postgres-pgbackrest`; prefixed with the registry or `namePrefix`. */
  repository: string;
  /**
   * What the tag starts with, e.g. the base image's tag (`15.10-bookworm`). The tag always ends in
   * `src-<hash of the context's files>`: without a registry it is the only thing that changes
   * when the sources do. Unset: just `src-<hash>`.
   */
  tagPrefix?: string;
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

/** Builds (and pushes) the image as a child of `parent`; returns what containers run. */
export function buildImage(name: string, args: BuiltImageArgs, parent: pulumi.Resource): ResolvedImage {
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
      imageName: `${repository}:${args.tagPrefix ? `${args.tagPrefix}-` : ""}src-${contextHash(args.context).slice(0, 12)}`,
      build: {
        context: args.context,
        dockerfile: `${args.context}/Dockerfile`,
        // No platform: the Docker host's engine builds it for its own (amd64 or arm64). The base
        // images are multi-arch; a fixed linux/amd64 made arm64 hosts run emulated or fail.
        args: args.buildArgs,
      },
      skipPush: !args.registry,
      registry: args.registry
        ? { server: args.registry.server, username: args.registry.username, password: args.registry.password }
        : undefined,
    },
    { parent },
  );
  const ref = args.registry ? image.repoDigest : image.imageName;
  // The build is on the host already, so this looks it up locally and pulls nothing.
  return { ref, id: pullImage(`${name}-built`, ref, parent).id };
}

/** Hash of a build context's files (sources, manifests, Dockerfile), skipping node_modules and dist. */
function contextHash(dir: string): string {
  const hash = createHash("sha256");
  const walk = (path: string) => {
    for (const entry of readdirSync(path).sort()) {
      if (entry === "node_modules" || entry === "dist" || entry.startsWith(".")) continue;
      const full = join(path, entry);
      if (statSync(full).isDirectory()) walk(full);
      else hash.update(relative(dir, full)).update("\0").update(readFileSync(full)).update("\0");
    }
  };
  walk(dir);
  return hash.digest("hex");
}
