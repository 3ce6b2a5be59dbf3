/**
 * Parsing of container image references, to keep every deployed image pinned.
 * A reference is `[registry/]repository[:tag][@sha256:<64 hex>]`.
 */
export interface ImageRef {
  repository: string;
  tag?: string;
  digest?: string;
}

const REFERENCE =
  /^([a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$/;

export function parseImageRef(reference: string): ImageRef | undefined {
  const match = REFERENCE.exec(reference);
  if (!match) return undefined;
  const [, repository, tag, digest] = match;
  return { repository, tag, digest };
}

/**
 * Undefined when the reference is pinned: a tag other than `latest`, or a digest.
 * Otherwise a sentence saying what is wrong.
 */
export function imagePinError(reference: string): string | undefined {
  const ref = parseImageRef(reference);
  if (!ref) return `"${reference}" is not an image reference like repo/name:1.2.3 or repo/name@sha256:...`;
  if (!ref.tag && !ref.digest) return `"${reference}" has no tag or digest; pin a version (never latest)`;
  if (ref.tag === "latest") return `"${reference}" uses the latest tag; pin a version`;
  return undefined;
}

/** True when the reference carries a sha256 digest. */
export function hasDigest(reference: string): boolean {
  return parseImageRef(reference)?.digest !== undefined;
}
