/**
 * Which image a planned container runs. Containers get the image ID of a `docker.RemoteImage`
 * (components/pulled-image.ts); this finds that RemoteImage, so tests can check the reference
 * behind the ID.
 */
import type { PlannedResource } from "./run-program";

export interface RunImage {
  /** The RemoteImage's `name`: the reference it pulls or looks up. */
  name: string;
  /** The digest reference it resolved to. */
  repoDigest: string;
}

export function imageRunBy(resources: PlannedResource[], container: PlannedResource): RunImage {
  const id = container.inputs.image;
  if (typeof id !== "string" || !/^sha256:[a-f0-9]{64}$/.test(id))
    throw new Error(`${container.name}: image is not an image ID: ${JSON.stringify(id)}`);
  const remote = resources.find(
    (r) => r.type === "docker:index/remoteImage:RemoteImage" && r.outputs.imageId === id,
  );
  if (!remote) throw new Error(`${container.name}: no RemoteImage has the image ID ${id}`);
  return { name: String(remote.inputs.name), repoDigest: String(remote.outputs.repoDigest) };
}
