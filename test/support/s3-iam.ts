/**
 * What IAM would have to allow for S3 requests a real client made (recorded by the test S3
 * server), checked against this project's identity policies (lib/iam-policies.ts). So a least-
 * privilege policy is tested against what pgBackRest actually sends, not against a list
 * written from its documentation.
 */
import { evaluate, wildcardMatch, type PolicyDocument, type PolicyStatement } from "../../lib/iam-policies";
import type { S3Request } from "./s3";

export interface IamRequest {
  action: string;
  resource: string;
  /** `s3:prefix` of a ListBucket. */
  prefix?: string;
  /** The request as served, for messages. */
  seen: string;
}

/** The IAM action and resource of one path-style S3 request on `bucket` (null: not on it). */
export function iamRequestOf(req: S3Request, bucket: string): IamRequest | null {
  const params = new URLSearchParams(req.query);
  const seen = `${req.method} ${req.path}${req.query ? `?${req.query}` : ""}`;
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const [, name, ...rest] = req.path.split("/");
  if (name !== bucket) return null;
  const key = rest.join("/");
  if (key === "") {
    if (req.method === "GET" && params.has("versions"))
      return { action: "s3:ListBucketVersions", resource: bucketArn, seen };
    if (req.method === "GET" || req.method === "HEAD")
      return { action: "s3:ListBucket", resource: bucketArn, prefix: params.get("prefix") ?? "", seen };
    if (req.method === "POST" && params.has("delete"))
      return { action: "s3:DeleteObject", resource: `${bucketArn}/*`, seen };
    throw new Error(`unmapped bucket request: ${seen}`);
  }
  const resource = `${bucketArn}/${key}`;
  const object = (action: string): IamRequest => ({ action, resource, seen });
  switch (req.method) {
    case "GET":
    case "HEAD":
      return object(params.has("uploadId") ? "s3:ListMultipartUploadParts" : "s3:GetObject");
    case "PUT":
    case "POST":
      // PutObject, UploadPart, CreateMultipartUpload and CompleteMultipartUpload are s3:PutObject.
      return object("s3:PutObject");
    case "DELETE":
      return object(params.has("uploadId") ? "s3:AbortMultipartUpload" : "s3:DeleteObject");
    default:
      throw new Error(`unmapped object request: ${seen}`);
  }
}

/** Whether a statement's condition lets this ListBucket prefix through (StringLike s3:prefix). */
function prefixAllowed(statement: PolicyStatement, prefix: string): boolean {
  const like = statement.Condition?.StringLike?.["s3:prefix"];
  if (like === undefined) return statement.Condition === undefined;
  return (Array.isArray(like) ? like : [like]).some((p) => wildcardMatch(p, prefix));
}

/** True when `doc` allows the request, conditions on `s3:prefix` included. */
export function allows(doc: PolicyDocument, request: IamRequest): boolean {
  if (evaluate(doc, request.action, request.resource) !== "allow") return false;
  if (request.prefix === undefined) return true;
  return doc.Statement.some(
    (s) =>
      s.Effect === "Allow" &&
      s.Action.some((a) => wildcardMatch(a, request.action, true)) &&
      (s.Resource ?? ["*"]).some((r) => wildcardMatch(r, request.resource)) &&
      prefixAllowed(s, request.prefix as string),
  );
}

/** The recorded requests on `bucket` that `doc` would refuse (as served). */
export function refusedBy(doc: PolicyDocument, requests: S3Request[], bucket: string): string[] {
  return requests
    .map((r) => iamRequestOf(r, bucket))
    .filter((r): r is IamRequest => r !== null && !allows(doc, r))
    .map((r) => `${r.action} ${r.seen}`);
}
