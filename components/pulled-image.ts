/**
 * An image on the Docker host as a container needs it. The provider's container `image` is the
 * image ID: it reads the running container's image back as `sha256:<id>`, so a container given a
 * tag or a `repo@sha256:` digest would differ from its own state on every later preview and be
 * replaced each time (pulumi/pulumi-docker#1431). `ref` says what runs, for outputs and people.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

export interface ResolvedImage {
  /** What runs: `repo@sha256:<digest>` when known, else `repo:tag`. For outputs and logs. */
  ref: pulumi.Output<string>;
  /** The local image ID (`sha256:...`): what a container's `image` must be. */
  id: pulumi.Output<string>;
}

/**
 * Resolves `reference` on the Docker host through a `docker.RemoteImage` child of `parent`
 * (pulled unless it is already there, e.g. built by this stack; kept on delete).
 */
export function pullImage(
  name: string,
  reference: pulumi.Input<string>,
  parent: pulumi.Resource,
): ResolvedImage {
  const remote = new docker.RemoteImage(`${name}-image`, { name: reference, keepLocally: true }, { parent });
  return { ref: remote.repoDigest, id: remote.imageId };
}
