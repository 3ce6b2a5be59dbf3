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
import { PROJECT_ROOT } from "../lib/project-root";
import type { ResolvedImage } from "./pulled-image";

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

/**
 * Builds (and pushes) the image as a child of `parent`; returns what containers run.
 *
 * The build is a `docker.RemoteImage` with `build` (the Terraform docker provider's image build,
 * the engine's own builder) and the push a `docker.RegistryImage`, both in the bridged docker
 * provider, rather than `docker.Image`, which pulumi-docker implements natively outside it. The
 * sources hash is in the tag and in `triggers`, so changed sources build a new image.
 */
export function buildImage(name: string, args: BuiltImageArgs, parent: pulumi.Resource): ResolvedImage {
  if (args.environment === "prod" && !args.registry) {
    throw new Error(
      `${name}: prod needs registryServer so the built ${args.repository} image is pushed and run by digest`,
    );
  }
  const server = args.registry?.server.replace(/\/$/, "");
  const repository = server ? `${server}/${args.repository}` : `${args.namePrefix}/${args.repository}`;
  // Pulumi runs the program and the provider from dist/ (main: dist/): the context is the
  // project's, as an absolute path. A checkout at another path rebuilds the image once (the same
  // layers, so the same image ID: the containers stay).
  const context = join(PROJECT_ROOT, args.context);
  const sources = contextHash(context);
  const built = new docker.RemoteImage(
    `${name}-image`,
    {
      name: `${repository}:${args.tagPrefix ? `${args.tagPrefix}-` : ""}src-${sources.slice(0, 12)}`,
      build: {
        context,
        dockerfile: "Dockerfile",
        // No platform: the Docker host's engine builds it for its own (amd64 or arm64). The base
        // images are multi-arch; a fixed linux/amd64 made arm64 hosts run emulated or fail.
        buildArgs: args.buildArgs,
        label: { "backend-infra.sources": sources },
      },
      triggers: { sources },
      keepLocally: true,
    },
    { parent },
  );
  if (!args.registry) return { ref: built.name, id: built.imageId };
  const pushed = new docker.RegistryImage(
    `${name}-push`,
    { name: built.name, keepRemotely: true, triggers: { sources } },
    { parent },
  );
  return { ref: pulumi.interpolate`${repository}@${pushed.sha256Digest}`, id: built.imageId };
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
