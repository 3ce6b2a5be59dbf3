/**
 * Pulumi mocks that fill computed outputs the way the real providers do (ids, names,
 * digests, ARNs), so the program's Outputs resolve and tests see realistic values.
 */
import { createHash } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import { parseImageRef } from "../../lib/image-ref";

const hash = (text: string, length = 64) => createHash("sha256").update(text).digest("hex").slice(0, length);

type State = Record<string, unknown>;

/** The repository part of an image reference (what a digest reference starts with). */
const imageRepo = (reference: string): string => parseImageRef(reference)?.repository ?? reference;

/** Computed outputs per resource type: what the provider would return after create. */
function computed(type: string, name: string, inputs: State, region: string): State {
  switch (type) {
    case "docker:index/network:Network":
    case "docker:index/volume:Volume":
    case "docker:index/container:Container":
      return { name: inputs.name ?? name };
    case "docker:index/remoteImage:RemoteImage": {
      const ref = String(inputs.name);
      const digest = /@(sha256:[a-f0-9]{64})$/.exec(ref)?.[1] ?? `sha256:${hash(ref)}`;
      return { repoDigest: `${imageRepo(ref)}@${digest}`, imageId: `sha256:${hash(`id:${ref}`)}` };
    }
    case "docker:index/registryImage:RegistryImage":
      return { sha256Digest: `sha256:${hash(`pushed:${String(inputs.name ?? name)}`)}` };
    case "random:index/randomPassword:RandomPassword":
    case "random:index/randomString:RandomString": {
      const length = Number(inputs.length ?? 32);
      const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
      const seed = hash(`${type}:${name}`, 64);
      const result = Array.from(
        { length },
        (_, i) => alphabet[parseInt(seed[i % 64], 16) * 3 + (i % 3)],
      ).join("");
      return {
        result,
        ...(type.endsWith("RandomPassword") ? { bcryptHash: `$2a$10$${hash(result, 53)}` } : {}),
      };
    }
    case "random:index/randomId:RandomId":
      return { hex: hash(name, Number(inputs.byteLength ?? 4) * 2), b64Url: hash(name, 8) };
    case "tls:index/privateKey:PrivateKey":
      return {
        privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${hash(name)}\n-----END PRIVATE KEY-----\n`,
        publicKeyPem: `-----BEGIN PUBLIC KEY-----\n${hash(`pub:${name}`)}\n-----END PUBLIC KEY-----\n`,
      };
    case "tls:index/selfSignedCert:SelfSignedCert":
      return { certPem: `-----BEGIN CERTIFICATE-----\n${hash(name)}\n-----END CERTIFICATE-----\n` };
    case "command:local:Command":
    case "command:remote:Command":
      return { stdout: "", stderr: "" };
    case "aws:s3/bucket:Bucket": {
      const bucket = String(inputs.bucket ?? `${inputs.bucketPrefix ?? name}-${hash(name, 8)}`);
      return {
        bucket,
        arn: `arn:aws:s3:::${bucket}`,
        region,
        bucketDomainName: `${bucket}.s3.amazonaws.com`,
      };
    }
    case "aws:kms/key:Key": {
      const keyId = `${hash(name, 8)}-${hash(`k${name}`, 4)}-${hash(`e${name}`, 4)}-${hash(`y${name}`, 4)}-${hash(`z${name}`, 12)}`;
      return { keyId, arn: `arn:aws:kms:${region}:123456789012:key/${keyId}` };
    }
    case "aws:kms/alias:Alias":
      return { arn: `arn:aws:kms:${region}:123456789012:${String(inputs.name ?? `alias/${name}`)}` };
    case "aws:iam/role:Role":
    case "aws:iam/user:User":
    case "aws:iam/policy:Policy": {
      const kind = type.split(":").pop()?.toLowerCase();
      const resourceName = String(inputs.name ?? name);
      return {
        name: resourceName,
        arn: `arn:aws:iam::123456789012:${kind}/${resourceName}`,
        uniqueId: hash(name, 20),
      };
    }
    case "aws:iam/accessKey:AccessKey":
      return { secret: hash(`secret:${name}`, 40), sesSmtpPasswordV4: hash(`smtp:${name}`, 44) };
    default:
      return {};
  }
}

export interface MockOptions {
  /** Outputs of referenced stacks, by stack name (last segment of org/project/stack). */
  stackOutputs: (stackName: string) => Record<string, unknown> | undefined;
  region?: string;
}

export function createMocks(options: MockOptions): pulumi.runtime.Mocks {
  const region = options.region ?? "eu-west-1";
  // Region of each explicit aws provider, by the id the mock gave it: a resource created
  // through the replica provider gets ARNs in the replica's region, as AWS would give it.
  const providerRegions = new Map<string, string>();
  const regionOf = (provider: string | undefined) =>
    (provider && providerRegions.get(provider.slice(provider.lastIndexOf("::") + 2))) || region;
  return {
    newResource(args: pulumi.runtime.MockResourceArgs) {
      if (args.type === "pulumi:pulumi:StackReference") {
        const referenced = String(args.inputs.name ?? args.name);
        const outputs = options.stackOutputs(referenced.split("/").pop() as string);
        if (!outputs) throw new Error(`StackReference ${referenced}: no such stack in this offline plan`);
        return { id: referenced, state: { name: referenced, outputs, secretOutputNames: [] } };
      }
      const state = {
        ...args.inputs,
        ...computed(args.type, args.name, args.inputs, regionOf(args.provider)),
      };
      const id = args.custom === false ? "" : `${args.name}-${hash(`${args.type}:${args.name}`, 8)}`;
      if (args.type === "pulumi:providers:aws" && typeof args.inputs.region === "string") {
        providerRegions.set(id, args.inputs.region);
      }
      return { id, state };
    },
    call(args: pulumi.runtime.MockCallArgs) {
      switch (args.token) {
        case "aws:index/getCallerIdentity:getCallerIdentity":
          return {
            accountId: "123456789012",
            arn: "arn:aws:iam::123456789012:user/offline",
            userId: "OFFLINE",
          };
        case "aws:index/getRegion:getRegion":
          return { name: region, region, id: region };
        case "aws:index/getPartition:getPartition":
          return { partition: "aws", dnsSuffix: "amazonaws.com" };
        default:
          return {};
      }
    },
  };
}
