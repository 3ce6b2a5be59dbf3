/**
 * Region binding of the backup storage (issue 5, item 1): every AWS resource goes through an
 * explicit provider (never the ambient default one), the replica's bucket, key and side
 * resources through the replica region's provider, and the MinIO bucket through the provider
 * pointed at MinIO. The program harness does not record providers, so this test constructs
 * the component directly under mocks that do (`MockResourceArgs.provider`). Importing the
 * module registers nothing; resources are only created inside the tests, after `setMocks`.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { BackupStorage } from "../../components/backup-storage";
import { parseConfig } from "../../config/schema";
import { createMocks } from "../harness/mocks";
import { waitForRegistrations } from "../harness/run-program";
import { secretPlaceholder } from "../harness/stack-file";

interface Registered {
  type: string;
  name: string;
  provider?: string;
  inputs: Record<string, unknown>;
}

const registered: Registered[] = [];
const base = createMocks({ stackOutputs: () => undefined });

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        registered.push({ type: args.type, name: args.name, provider: args.provider, inputs: args.inputs });
        return base.newResource(args);
      },
      call: (args) => base.call(args),
    },
    "backend-infra",
    "providers-test",
    false,
  );
});

/** Settles every registration started by the component (the mock monitor answers asynchronously). */
async function settle(resource: pulumi.ComponentResource & { bucket: pulumi.Output<string> }) {
  await new Promise<void>((resolve) => resource.bucket.apply(() => resolve()));
  await waitForRegistrations();
}

/** Provider name from a provider reference `urn:...::pulumi:providers:aws::<name>::<id>`. */
const providerName = (ref: string | undefined) => (ref ? ref.split("::")[3] : undefined);

describe("backup storage provider binding", () => {
  it("binds primary resources to the primary region and replica resources to the replica region", async () => {
    // Local stacks stay free (config refuses aws there): the AWS shape is staging's.
    const config = parseConfig({
      stack: "staging",
      values: {
        "backend-infra:dockerHost": "ssh://deploy@docker-staging-1.example.com",
        "backend-infra:publicHostname": "staging-api.example.com",
        "backend-infra:edgeTlsCert": secretPlaceholder("backend-infra:edgeTlsCert"),
        "backend-infra:edgeTlsKey": secretPlaceholder("backend-infra:edgeTlsKey"),
        "backend-infra:backupRegion": "eu-west-1",
        "backend-infra:backupReplicaRegion": "eu-central-1",
        "backend-infra:backupObjectLockDays": "14",
      },
      secretKeys: new Set(["backend-infra:edgeTlsCert", "backend-infra:edgeTlsKey"]),
    });
    const storage = new BackupStorage("aws-case", {
      namePrefix: config.namePrefix,
      environment: config.environment,
      backups: config.backups,
    });
    await settle(storage);

    const mine = registered.filter((r) => r.name.startsWith("aws-case"));
    const providers = mine.filter((r) => r.type === "pulumi:providers:aws");
    expect(providers.map((p) => [p.name, p.inputs.region]).sort()).toEqual([
      ["aws-case-primary-eu-west-1", "eu-west-1"],
      ["aws-case-replica-eu-central-1", "eu-central-1"],
    ]);
    const aws = mine.filter((r) => r.type.startsWith("aws:"));
    expect(aws.length).toBeGreaterThan(20);
    const unbound = aws.filter((r) => !providerName(r.provider)?.startsWith("aws-case-"));
    expect(unbound.map((r) => `${r.type} ${r.name} -> ${r.provider}`)).toEqual([]);

    for (const r of aws) {
      const expected = r.name.startsWith("aws-case-replica-")
        ? "aws-case-replica-eu-central-1"
        : "aws-case-primary-eu-west-1";
      expect(providerName(r.provider), `${r.type} ${r.name}`).toBe(expected);
    }
    // Spot checks on what must be where.
    const byName = (type: string, name: string) => aws.find((r) => r.type === type && r.name === name);
    expect(providerName(byName("aws:kms/key:Key", "aws-case-replica-key")?.provider)).toBe(
      "aws-case-replica-eu-central-1",
    );
    expect(
      providerName(
        byName("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "aws-case-replication")?.provider,
      ),
    ).toBe("aws-case-primary-eu-west-1");
  });

  it("sets the local bucket up inside MinIO, with no aws provider or resource", async () => {
    const config = parseConfig({ stack: "local", values: {}, secretKeys: new Set() });
    const storage = new BackupStorage("minio-case", {
      namePrefix: config.namePrefix,
      environment: config.environment,
      backups: config.backups,
      backupNetwork: "backend-infra-local-backup",
      dockerHost: "unix:///var/run/docker.sock",
      minioHostPort: 19000,
    });
    await settle(storage);

    const mine = registered.filter((r) => r.name.startsWith("minio-case"));
    expect(mine.filter((r) => r.type.startsWith("aws:") || r.type === "pulumi:providers:aws")).toEqual([]);
    const setup = mine.find((r) => r.type === "command:local:Command");
    expect(setup?.name).toBe("minio-case-minio-bucket");
    expect(setup?.inputs.create).toBe("docker exec -i backend-infra-local-minio sh -s");
    expect(setup?.inputs.environment).toEqual({ DOCKER_HOST: "unix:///var/run/docker.sock" });
    const container = mine.find((r) => r.type === "docker:index/container:Container");
    expect(container?.inputs.ports).toEqual([{ internal: 9000, external: 19000, ip: "127.0.0.1" }]);
  });

  it("rejects bad arguments before registering anything, naming them", async () => {
    const local = parseConfig({ stack: "local", values: {}, secretKeys: new Set() });
    const before = registered.length;
    const make = (name: string, extra: object) =>
      new BackupStorage(name, {
        namePrefix: local.namePrefix,
        environment: "local",
        backups: local.backups,
        ...extra,
      });
    expect(() => make("bad-net", {})).toThrow(/backupNetwork is required when backupStorage is minio/);
    expect(() => make("bad-host", { backupNetwork: "n" })).toThrow(
      /dockerHost is required when backupStorage is minio/,
    );
    expect(() =>
      make("bad-port", { backupNetwork: "n", dockerHost: "unix:///d", minioHostPort: 70000 }),
    ).toThrow(/minioHostPort must be a TCP port/);
    expect(
      () =>
        new BackupStorage("bad-prod", {
          namePrefix: "backend-infra-prod",
          environment: "prod",
          backups: local.backups,
          backupNetwork: "n",
        }),
    ).toThrow(/prod must use aws/);
    const aws = { ...local.backups, storage: "aws" as const };
    expect(() => make("bad-days", { backups: aws, noncurrentVersionDays: 0 })).toThrow(
      /noncurrentVersionDays must be/,
    );
    expect(() =>
      make("bad-prefix", { backups: aws, namePrefix: "backend-infra-a-very-long-environment-x" }),
    ).toThrow(/cannot derive a bucket name .* set backupBucketName/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(registered.slice(before).filter((r) => r.name.startsWith("bad-"))).toEqual([]);
  });
});
