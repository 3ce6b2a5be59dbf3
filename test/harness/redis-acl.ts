/** Which Redis ACL user a password belongs to, read from the Redis container's planned arguments. */
import { aclPasswordHash } from "../../renderers/redis-conf";
import type { PlannedResource } from "./run-program";

/** The user whose `--user NAME on #<sha256>` argument carries the hash of `password`. */
export function redisAclUserOf(
  resources: PlannedResource[],
  containerName: string,
  password: string,
): string | undefined {
  const redis = resources.find(
    (r) => r.type === "docker:index/container:Container" && r.inputs.name === containerName,
  );
  if (!redis) throw new Error(`no container ${containerName} in the plan`);
  const command = redis.inputs.command as string[];
  const at = command.indexOf(aclPasswordHash(password));
  return at >= 3 && command[at - 3] === "--user" && command[at - 1] === "on" ? command[at - 2] : undefined;
}
