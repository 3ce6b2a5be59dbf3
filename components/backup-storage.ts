/**
 * Off-site storage for backups (issue 5, item 1): the S3 bucket pgBackRest's repo2, the
 * logical dumps and the Redis RDB snapshots go to, and the identities that write and read it.
 *
 * `storage: "aws"` (prod, staging):
 * - primary bucket in `backups.region`, replica bucket in `backups.replicaRegion` when set,
 *   each through its own explicit aws provider;
 * - SSE-KMS with a customer key per region (rotation on, alias, S3 Bucket Key on), versioning,
 *   public access block (all four), ownership BucketOwnerEnforced (ACLs off), a bucket policy
 *   that denies non-TLS requests and non-KMS/other-key/SSE-C uploads (lib/iam-policies.ts);
 * - lifecycle (lib/backup-lifecycle.ts): abort incomplete uploads, expire non-current
 *   versions, expire `logical/` and `redis/` after the cloud retention; never current
 *   versions under `pgbackrest/` (pgBackRest's `expire` owns its repository);
 * - optional Object Lock (`objectLockDays` > 0): enabled on the versioned bucket through its
 *   Object Lock configuration (not the bucket's `objectLockEnabled`, which forces a new bucket, so
 *   turning it on later keeps the bucket and its data), with a GOVERNANCE default retention.
 *   Object Lock cannot be turned off again: setting the days back to 0 only stops managing it.
 *   S3 default retention is bucket-wide, so it covers the pgBackRest repository too; that is
 *   harmless: pgBackRest's deletes only add delete markers (allowed under a lock) and the
 *   locked old versions are removed by the non-current rule once the lock ends;
 * - replication (when a replica region is set): versioning on both buckets, a least-privilege
 *   role, SSE-KMS objects replicated and re-encrypted with the replica region's key, delete
 *   markers replicated (deletes never remove versions in either bucket);
 * - a writer IAM user with an access key (secret output) and a read-only restore user.
 *
 * `storage: "minio"` (local): a MinIO container on the backup network stands in for S3. There
 * is no KMS and no IAM there, so the local stack honestly does less:
 * - server-side encryption is SSE-S3 (AES256) with MinIO's built-in single-key KMS
 *   (`MINIO_KMS_SECRET_KEY`, a random 32-byte key kept as a Pulumi secret), not a rotated
 *   customer key;
 * - the writer and restore credentials are both the MinIO root user (random, secret): no
 *   least privilege locally, and nothing stops a version delete;
 * - no bucket policy, public access block or ownership controls (MinIO buckets are private
 *   and MinIO here speaks only TLS); versioning, lifecycle (except the abort-incomplete-upload
 *   rule, which MinIO rejects; MinIO cleans stale uploads itself) and Object Lock are the same;
 * - MinIO serves TLS with a generated self-signed certificate (pgBackRest 2.45 cannot speak
 *   plain HTTP), exported as `caCertPem` so clients verify it;
 * - the bucket is set up by MinIO's own `mc` inside the MinIO container
 *   (renderers/minio-bucket-setup.ts, run through `docker exec`), so `pulumi up` needs no aws
 *   provider for the local stack; the S3 API is also published on
 *   `https://127.0.0.1:<minioHostPort>` for operators on the Docker host (runbooks/backup-config).
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import * as command from "@pulumi/command";
import { Provider } from "@pulumi/aws/provider";
import * as iam from "@pulumi/aws/iam";
import * as kms from "@pulumi/aws/kms";
import * as s3 from "@pulumi/aws/s3";
import type { Environment, InfraConfig } from "../config/schema";
import { backupLifecycleRules } from "../lib/backup-lifecycle";
import { minioBucketSetupScript } from "../renderers/minio-bucket-setup";
import {
  archivePolicy,
  BACKUP_PREFIXES,
  bucketPolicy,
  replicationAssumeRolePolicy,
  replicationPolicy,
  restorePolicy,
  writerPolicy,
  type BackupPrefixes,
  type PolicyDocument,
} from "../lib/iam-policies";
import { DEFAULT_STANZA } from "./postgres";
import { ServiceContainer } from "./service-container";

export interface BackupStorageArgs {
  /** Open-files limit (`ulimit nofile`) of its containers (config `containerOpenFilesLimit`). Default 65536. */
  openFilesLimit?: number;
  /** Prefix of every resource name, e.g. `backend-infra-prod`. */
  /** pgBackRest stanza whose WAL archive the archive identity may add to. Default `main`. */
  stanza?: string;
  namePrefix: string;
  environment: Environment;
  /** The typed `backups` config section (storage, regions, bucket name, retention, Object Lock, MinIO image). */
  backups: InfraConfig["backups"];
  /** Docker network of the backup tier; required when `storage` is `minio` (MinIO joins it as `minio`). */
  backupNetwork?: pulumi.Input<string>;
  /** Host port on 127.0.0.1 where MinIO's S3 API is published for operators. Default 9000. */
  minioHostPort?: number;
  /** Docker engine MinIO runs on (`unix://`, `ssh://`): where the bucket setup runs `docker exec`. Required with minio. */
  dockerHost?: string;
  /** Days a non-current object version is kept before lifecycle removes it. Default 30. */
  noncurrentVersionDays?: number;
  /** Days before an incomplete multipart upload is aborted. Default 7. */
  abortIncompleteUploadDays?: number;
  /** Protect buckets and KMS keys from `pulumi destroy`. Default true in prod, false elsewhere. */
  protect?: boolean;
}

/** The MinIO container's S3 API port and its DNS alias on the backup network. */
export const MINIO_PORT = 9000;
export const MINIO_ALIAS = "minio";
/** Directory in the MinIO container where the data volume is mounted (see the comment in `minio()`). */
export const MINIO_VOLUME_PATH = "/var/tmp";
const MINIO_USER = "1000:1000";
const MINIO_REGION = "us-east-1";
const AWS_BUCKET_PREFIX_MAX = 37; // S3 appends 26 characters to bucketPrefix; names are at most 63

export class BackupStorage extends pulumi.ComponentResource {
  readonly storage: "aws" | "minio";
  /** Bucket name. */
  readonly bucket: pulumi.Output<string>;
  readonly bucketArn: pulumi.Output<string>;
  /** Region of the bucket (MinIO: its default region `us-east-1`). */
  readonly region: string;
  /** S3 endpoint URL as the backup containers reach it (`https://s3.<region>.amazonaws.com`, `https://minio:9000`). */
  readonly endpoint: string;
  /** Host part of `endpoint` (pgBackRest `repo2-s3-endpoint`). */
  readonly endpointHost: string;
  /** Port of `endpoint` (pgBackRest `repo2-storage-port`). */
  readonly endpointPort: number;
  /** pgBackRest `repo2-s3-uri-style`: virtual-host style on AWS, path style on MinIO. */
  readonly uriStyle: "host" | "path";
  /**
   * Server-side encryption clients may ask for. Uploads without a header get the bucket
   * default; with a header it must be this (`aws:kms` with `kmsKeyArn` on AWS).
   */
  readonly sse: "aws:kms" | "AES256";
  /** Customer KMS key of the primary bucket (AWS only). Pass it as the key id, or send no key id. */
  readonly kmsKeyArn?: pulumi.Output<string>;
  /** MinIO's self-signed TLS certificate (MinIO only): trust it, e.g. pgBackRest `repo2-storage-ca-file`. */
  readonly caCertPem?: pulumi.Output<string>;
  /** Writer credentials (pgBackRest repo2 and the runner's uploads). The secret is a Pulumi secret. */
  readonly writerAccessKeyId: pulumi.Output<string>;
  readonly writerSecretAccessKey: pulumi.Output<string>;
  /** Read-only restore credentials (current and old versions, primary and replica). */
  readonly restoreAccessKeyId: pulumi.Output<string>;
  readonly restoreSecretAccessKey: pulumi.Output<string>;
  /**
   * PostgreSQL's archive_command: reads and adds WAL under the stanza's archive prefix, deletes
   * nothing (AWS). The secret is a Pulumi secret. On MinIO (local) it is the one local identity.
   */
  readonly archiveAccessKeyId: pulumi.Output<string>;
  readonly archiveSecretAccessKey: pulumi.Output<string>;
  readonly replicaBucket?: pulumi.Output<string>;
  readonly replicaRegion?: string;
  readonly replicaKmsKeyArn?: pulumi.Output<string>;
  /** Key prefixes: pgBackRest `repo2-path=/pgbackrest`, dumps under `logical/` and `redis/`. */
  readonly prefixes: BackupPrefixes = BACKUP_PREFIXES;
  /** MinIO container name (MinIO only). */
  readonly minioContainer?: pulumi.Output<string>;

  constructor(name: string, args: BackupStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    // Bad input fails before anything is registered.
    const names = validate(name, args);
    super("backend-infra:backup:BackupStorage", name, {}, opts);
    const b = args.backups;
    this.storage = b.storage;

    if (b.storage === "minio") {
      const local = this.minio(
        name,
        args,
        args.backupNetwork as pulumi.Input<string>,
        args.minioHostPort ?? MINIO_PORT,
      );
      this.bucket = local.bucket;
      this.bucketArn = pulumi.interpolate`arn:aws:s3:::${local.bucket}`;
      this.region = MINIO_REGION;
      this.endpointHost = MINIO_ALIAS;
      this.endpointPort = MINIO_PORT;
      this.endpoint = `https://${MINIO_ALIAS}:${MINIO_PORT}`;
      this.uriStyle = "path";
      this.sse = "AES256";
      this.caCertPem = local.caCertPem;
      this.writerAccessKeyId = local.accessKeyId;
      this.writerSecretAccessKey = local.secretAccessKey;
      this.restoreAccessKeyId = local.accessKeyId;
      this.restoreSecretAccessKey = local.secretAccessKey;
      this.archiveAccessKeyId = local.accessKeyId;
      this.archiveSecretAccessKey = local.secretAccessKey;
      this.minioContainer = local.containerName;
    } else {
      const cloud = this.aws(name, args, names);
      this.bucket = cloud.bucket.bucket;
      this.bucketArn = cloud.bucket.arn;
      this.region = b.region;
      this.endpointHost = `s3.${b.region}.amazonaws.com`;
      this.endpointPort = 443;
      this.endpoint = `https://${this.endpointHost}`;
      this.uriStyle = "host";
      this.sse = "aws:kms";
      this.kmsKeyArn = cloud.key.arn;
      this.writerAccessKeyId = cloud.writerKey.id;
      this.writerSecretAccessKey = pulumi.secret(cloud.writerKey.secret);
      this.restoreAccessKeyId = cloud.restoreKey.id;
      this.restoreSecretAccessKey = pulumi.secret(cloud.restoreKey.secret);
      this.archiveAccessKeyId = cloud.archiveKey.id;
      this.archiveSecretAccessKey = pulumi.secret(cloud.archiveKey.secret);
      if (cloud.replica) {
        this.replicaBucket = cloud.replica.bucket.bucket;
        this.replicaRegion = b.replicaRegion;
        this.replicaKmsKeyArn = cloud.replica.key.arn;
      }
    }

    this.registerOutputs({
      bucket: this.bucket,
      region: this.region,
      endpoint: this.endpoint,
      uriStyle: this.uriStyle,
      kmsKeyArn: this.kmsKeyArn,
      replicaBucket: this.replicaBucket,
      writerAccessKeyId: this.writerAccessKeyId,
      writerSecretAccessKey: this.writerSecretAccessKey,
      restoreAccessKeyId: this.restoreAccessKeyId,
      restoreSecretAccessKey: this.restoreSecretAccessKey,
      archiveAccessKeyId: this.archiveAccessKeyId,
      archiveSecretAccessKey: this.archiveSecretAccessKey,
    });
  }

  // ---------- AWS ----------

  private aws(name: string, args: BackupStorageArgs, names: ReturnType<typeof bucketNames>) {
    const b = args.backups;
    const protect = args.protect ?? args.environment === "prod";
    const lockDays = b.objectLockDays;
    const tags = { project: "backend-infra", environment: args.environment, component: "backups" };

    const primary = this.awsBucket(`${name}-primary`, {
      region: b.region,
      name: names.primary,
      lockDays,
      defaultRetention: lockDays > 0,
      alias: `alias/${args.namePrefix}-backups`,
      tags,
      protect,
      lifecycle: {
        cloudRetentionDays: b.cloudRetentionDays,
        noncurrentVersionDays: args.noncurrentVersionDays,
        abortIncompleteUploadDays: args.abortIncompleteUploadDays,
      },
    });

    let replica: ReturnType<BackupStorage["awsBucket"]> | undefined;
    if (b.replicaRegion !== undefined) {
      const replicaRegion = b.replicaRegion;
      // Replicated versions keep the source's retention; the replica needs Object Lock enabled
      // to receive them, but no default retention of its own.
      replica = this.awsBucket(`${name}-replica`, {
        region: replicaRegion,
        name: names.replica as BucketName,
        lockDays,
        defaultRetention: false,
        alias: `alias/${args.namePrefix}-backups-replica`,
        tags: { ...tags, replicaOf: b.region },
        protect,
        lifecycle: {
          cloudRetentionDays: b.cloudRetentionDays,
          noncurrentVersionDays: args.noncurrentVersionDays,
          abortIncompleteUploadDays: args.abortIncompleteUploadDays,
        },
      });

      const role = new iam.Role(
        `${name}-replication`,
        {
          description: `S3 replication of ${args.namePrefix} backups from ${b.region} to ${replicaRegion}`,
          assumeRolePolicy: JSON.stringify(replicationAssumeRolePolicy()),
          tags,
        },
        { parent: this, provider: primary.provider },
      );
      const rolePolicy = new iam.RolePolicy(
        `${name}-replication`,
        {
          role: role.id,
          policy: pulumi
            .all([primary.bucket.arn, primary.key.arn, replica.bucket.arn, replica.key.arn])
            .apply(([sourceBucket, sourceKey, destinationBucket, destinationKey]) =>
              JSON.stringify(
                replicationPolicy({
                  source: { bucketArn: sourceBucket, kmsKeyArn: sourceKey, region: b.region },
                  destination: {
                    bucketArn: destinationBucket,
                    kmsKeyArn: destinationKey,
                    region: replicaRegion,
                  },
                  objectLock: lockDays > 0,
                }),
              ),
            ),
        },
        { parent: this, provider: primary.provider },
      );
      new s3.BucketReplicationConfig(
        `${name}-replication`,
        {
          bucket: primary.bucket.bucket,
          role: role.arn,
          rules: [
            {
              id: "replicate-everything",
              status: "Enabled",
              priority: 1,
              filter: { prefix: "" },
              deleteMarkerReplication: { status: "Enabled" },
              sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
              destination: {
                bucket: replica.bucket.arn,
                storageClass: "STANDARD",
                encryptionConfiguration: { replicaKmsKeyId: replica.key.arn },
              },
            },
          ],
        },
        {
          parent: this,
          provider: primary.provider,
          // A locked source replicates only into a bucket with Object Lock enabled.
          dependsOn: [
            primary.versioning,
            replica.versioning,
            rolePolicy,
            ...(replica.objectLock ? [replica.objectLock] : []),
          ],
        },
      );
    }

    // Users with access keys, because the Docker host is not necessarily an EC2 instance with
    // an instance profile. One identity per job (lib/iam-policies.ts):
    // - writer: the runner's backups, expire and uploads;
    const writerKey = this.identity(`${name}-writer`, {
      userName: `${args.namePrefix}-backup-writer`,
      description: `Backup writer of ${args.namePrefix}: current objects in its prefixes, no version deletes or bucket changes`,
      policy: pulumi
        .all([primary.bucket.arn, primary.key.arn])
        .apply(([bucketArn, kmsKeyArn]) => writerPolicy({ bucketArn, kmsKeyArn, region: b.region })),
      tags,
      provider: primary.provider,
    });
    // - archive: PostgreSQL's archive_command adds WAL and deletes nothing;
    const archiveKey = this.identity(`${name}-archive`, {
      userName: `${args.namePrefix}-backup-archive`,
      description: `WAL archive-push of ${args.namePrefix}: read and add objects under the stanza's archive prefix, no deletes`,
      policy: pulumi
        .all([primary.bucket.arn, primary.key.arn])
        .apply(([bucketArn, kmsKeyArn]) =>
          archivePolicy({ bucketArn, kmsKeyArn, region: b.region, stanza: args.stanza ?? DEFAULT_STANZA }),
        ),
      tags,
      provider: primary.provider,
    });
    // - restore: read-only, on the primary and the replica.
    const restoreKey = this.identity(`${name}-restore`, {
      userName: `${args.namePrefix}-backup-restore`,
      description: `Read-only restore access to the ${args.namePrefix} backups (primary and replica)`,
      policy: pulumi
        .all([primary.bucket.arn, primary.key.arn, replica?.bucket.arn, replica?.key.arn])
        .apply(([bucketArn, kmsKeyArn, replicaBucketArn, replicaKeyArn]) =>
          restorePolicy(
            { bucketArn, kmsKeyArn, region: b.region },
            replicaBucketArn && replicaKeyArn && b.replicaRegion
              ? { bucketArn: replicaBucketArn, kmsKeyArn: replicaKeyArn, region: b.replicaRegion }
              : undefined,
          ),
        ),
      tags,
      provider: primary.provider,
    });

    return { bucket: primary.bucket, key: primary.key, replica, writerKey, archiveKey, restoreKey };
  }

  /**
   * An IAM user with one customer-managed policy and an access key. Managed, not inline: IAM
   * allows 2,048 characters of inline policy per user, which the writer's document nearly fills
   * with generated names (limits in lib/iam-policies.ts, checked by the unit tests); a managed
   * policy allows 6,144.
   */
  private identity(
    id: string,
    o: {
      userName: string;
      description: string;
      policy: pulumi.Output<PolicyDocument>;
      tags: Record<string, string>;
      provider: pulumi.ProviderResource;
    },
  ): iam.AccessKey {
    const child = { parent: this, provider: o.provider };
    const user = new iam.User(id, { name: o.userName, path: "/backend-infra/", tags: o.tags }, child);
    const policy = new iam.Policy(
      id,
      {
        name: o.userName,
        path: "/backend-infra/",
        description: o.description,
        tags: o.tags,
        policy: o.policy.apply((doc) => JSON.stringify(doc)),
      },
      child,
    );
    const attachment = new iam.UserPolicyAttachment(id, { user: user.name, policyArn: policy.arn }, child);
    // After the attachment: a key handed out before it has no rights yet.
    return new iam.AccessKey(
      id,
      { user: user.name },
      { ...child, additionalSecretOutputs: ["secret"], dependsOn: [attachment] },
    );
  }

  /** One hardened AWS bucket with its own regional provider and KMS key. */
  private awsBucket(
    id: string,
    o: {
      region: string;
      name: BucketName;
      lockDays: number;
      defaultRetention: boolean;
      alias: string;
      tags: Record<string, string>;
      protect: boolean;
      lifecycle: Parameters<typeof backupLifecycleRules>[0];
    },
  ) {
    const provider = new Provider(`${id}-${o.region}`, { region: o.region }, { parent: this });
    const child = { parent: this, provider };

    const key = new kms.Key(
      `${id}-key`,
      {
        description: `Encrypts backups in ${o.name.bucket ?? o.name.bucketPrefix} (${o.region})`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        tags: o.tags,
      },
      { ...child, protect: o.protect },
    );
    new kms.Alias(`${id}-key`, { name: o.alias, targetKeyId: key.keyId }, child);

    const bucket = new s3.Bucket(
      `${id}-bucket`,
      {
        ...o.name,
        forceDestroy: false,
        tags: o.tags,
      },
      { ...child, protect: o.protect },
    );
    const name = bucket.bucket;

    const ownership = new s3.BucketOwnershipControls(
      `${id}-ownership`,
      { bucket: name, rule: { objectOwnership: "BucketOwnerEnforced" } },
      child,
    );
    const publicAccess = new s3.BucketPublicAccessBlock(
      `${id}-public-access`,
      {
        bucket: name,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      child,
    );
    new s3.BucketServerSideEncryptionConfiguration(
      `${id}-encryption`,
      {
        bucket: name,
        rules: [
          {
            applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn },
            bucketKeyEnabled: true,
          },
        ],
      },
      child,
    );
    const versioning = new s3.BucketVersioning(
      `${id}-versioning`,
      { bucket: name, versioningConfiguration: { status: "Enabled" } },
      child,
    );
    new s3.BucketPolicy(
      `${id}-policy`,
      {
        bucket: name,
        policy: pulumi
          .all([bucket.arn, key.arn])
          .apply(([bucketArn, kmsKeyArn]) => JSON.stringify(bucketPolicy({ bucketArn, kmsKeyArn }))),
      },
      { ...child, dependsOn: [publicAccess, ownership] },
    );
    new s3.BucketLifecycleConfiguration(
      `${id}-lifecycle`,
      { bucket: name, rules: backupLifecycleRules(o.lifecycle) },
      { ...child, dependsOn: [versioning] },
    );
    // PutObjectLockConfiguration enables Object Lock on an existing bucket once versioning is on.
    const objectLock =
      o.lockDays > 0
        ? new s3.BucketObjectLockConfiguration(
            `${id}-object-lock`,
            {
              bucket: name,
              objectLockEnabled: "Enabled",
              rule: o.defaultRetention
                ? { defaultRetention: { mode: "GOVERNANCE", days: o.lockDays } }
                : undefined,
            },
            { ...child, dependsOn: [versioning] },
          )
        : undefined;
    return { provider, key, bucket, versioning, objectLock };
  }

  // ---------- MinIO (local) ----------

  private minio(name: string, args: BackupStorageArgs, network: pulumi.Input<string>, hostPort: number) {
    const b = args.backups;
    const child = { parent: this };
    const containerName = `${args.namePrefix}-minio`;

    const rootUser = new random.RandomString(
      `${name}-minio-user`,
      { length: 20, special: false, upper: false },
      child,
    );
    const rootPassword = new random.RandomPassword(
      `${name}-minio-password`,
      { length: 40, special: false },
      child,
    );
    // MinIO's single-key KMS wants `name:base64(32 bytes)`. 42 random base64 characters
    // (252 bits) + "A=" is the canonical base64 of 32 bytes, and the value contains the
    // generated password verbatim, so secret checks can see it is not a literal.
    const kmsKey = new random.RandomPassword(
      `${name}-minio-kms-key`,
      { length: 42, upper: true, lower: true, numeric: true, special: true, overrideSpecial: "+/" },
      child,
    );

    const tlsKey = new tls.PrivateKey(`${name}-minio-tls`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, child);
    const cert = new tls.SelfSignedCert(
      `${name}-minio-tls`,
      {
        privateKeyPem: tlsKey.privateKeyPem,
        subject: { commonName: MINIO_ALIAS, organization: `${args.namePrefix} local backups` },
        dnsNames: [MINIO_ALIAS, containerName, "localhost"],
        ipAddresses: ["127.0.0.1"],
        // A self-signed server certificate that clients trust directly (CA:TRUE, like
        // `openssl req -x509`), so OpenSSL (pgBackRest, curl) and Go (mc) accept it as an anchor.
        isCaCertificate: true,
        allowedUses: ["cert_signing", "digital_signature", "key_encipherment", "server_auth"],
        validityPeriodHours: 3 * 365 * 24,
        earlyRenewalHours: 30 * 24,
      },
      child,
    );

    // MinIO runs as 1000:1000, but a new named volume mounted at the image's /data is
    // root-owned. Docker copies the ownership and mode of the image directory a new volume is
    // mounted over, so the volume goes over /var/tmp (root, mode 1777 in every RHEL/UBI base)
    // and MinIO keeps its data in a directory it creates there.
    const volume = new docker.Volume(
      `${name}-minio-data`,
      {
        name: `${args.namePrefix}-minio-data`,
        labels: [{ label: "backend-infra.component", value: "backup-storage" }],
      },
      { ...child, retainOnDelete: true },
    );
    const dataDir = `${MINIO_VOLUME_PATH}/minio`;

    const minio = new ServiceContainer(
      `${name}-minio`,
      {
        openFilesLimit: args.openFilesLimit,
        containerName,
        image: b.minioImage,
        user: MINIO_USER,
        memoryMb: 512,
        cpus: 1,
        command: ["server", dataDir, "--address", `:${MINIO_PORT}`, "--certs-dir", "/certs"],
        // Secret explicitly: the engine marks random/tls results secret, but these strings are
        // derived from them and must stay secret in state whatever the provider schema says.
        envs: [
          pulumi.secret(pulumi.interpolate`MINIO_ROOT_USER=${rootUser.result}`),
          pulumi.secret(pulumi.interpolate`MINIO_ROOT_PASSWORD=${rootPassword.result}`),
          pulumi.secret(pulumi.interpolate`MINIO_KMS_SECRET_KEY=backups:${kmsKey.result}A=`),
          "MINIO_BROWSER=off",
          "MC_CONFIG_DIR=/tmp/.mc",
        ],
        // Docker copies uploads to "/", which a read-only root filesystem refuses.
        writableRootfsReason: "uploads the TLS certificate and key MinIO serves",
        uploads: [
          { file: "/certs/public.crt", content: cert.certPem },
          { file: "/certs/private.key", content: pulumi.secret(tlsKey.privateKeyPem) },
          // MinIO creates certs/CAs at start unless it exists; the root fs is read-only.
          { file: "/certs/CAs/public.crt", content: cert.certPem },
        ],
        volumes: [{ volumeName: volume.name, containerPath: MINIO_VOLUME_PATH }],
        networks: [{ name: network, aliases: [MINIO_ALIAS] }],
        ports: [{ internal: MINIO_PORT, external: hostPort, ip: "127.0.0.1" }],
        healthcheck: {
          // `mc` ships in the MinIO image (curl was dropped in late 2023, minio/minio#18389).
          // The alias comes from the container's own env; --insecure only for this loopback probe.
          test: [
            "CMD-SHELL",
            `MC_HOST_health="https://$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD@localhost:${MINIO_PORT}" mc ready --insecure health`,
          ],
          intervalSeconds: 10,
          timeoutSeconds: 5,
          startPeriodSeconds: 20,
        },
        stopTimeoutSeconds: 30,
      },
      child,
    );

    // The bucket is set up inside the MinIO container with MinIO's own `mc` (see the renderer):
    // no aws provider where `pulumi up` runs. It runs again when the script or the container
    // changes; the bucket itself outlives both (the data volume is retained).
    const bucketName = args.backups.bucketName ?? `${args.namePrefix}-backups`;
    const setup = minioBucketSetupScript({
      bucket: bucketName,
      lifecycleRules: backupLifecycleRules({
        cloudRetentionDays: b.cloudRetentionDays,
        noncurrentVersionDays: args.noncurrentVersionDays,
        includeAbortIncompleteUploads: false,
      }),
      objectLockDays: b.objectLockDays,
      port: MINIO_PORT,
    });
    const bucketSetup = new command.local.Command(
      `${name}-minio-bucket`,
      {
        create: pulumi.interpolate`docker exec -i ${minio.containerName} sh -s`,
        update: pulumi.interpolate`docker exec -i ${minio.containerName} sh -s`,
        stdin: setup,
        environment: { DOCKER_HOST: args.dockerHost as string },
        triggers: [minio.container.id],
        logging: "stdoutAndStderr",
      },
      { parent: this, dependsOn: [minio] },
    );

    return {
      // Resolves once the setup has run, so whatever uses the bucket waits for it.
      bucket: bucketSetup.stdout.apply(() => bucketName),
      caCertPem: cert.certPem,
      accessKeyId: pulumi.secret(rootUser.result),
      secretAccessKey: pulumi.secret(rootPassword.result),
      containerName: minio.containerName,
    };
  }
}

/** Checks the arguments; returns the AWS bucket names. Every error names the argument or config key. */
function validate(name: string, args: BackupStorageArgs): ReturnType<typeof bucketNames> {
  const b = args.backups;
  if (b.storage === "minio") {
    if (args.environment === "prod") {
      throw new Error(`BackupStorage ${name}: backupStorage minio is for the local stack; prod must use aws`);
    }
    if (args.backupNetwork === undefined) {
      throw new Error(`BackupStorage ${name}: backupNetwork is required when backupStorage is minio`);
    }
    if (args.dockerHost === undefined) {
      throw new Error(`BackupStorage ${name}: dockerHost is required when backupStorage is minio`);
    }
    const port = args.minioHostPort ?? MINIO_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`BackupStorage ${name}: minioHostPort must be a TCP port (1-65535), got ${port}`);
    }
  }
  if (b.replicaRegion !== undefined && b.replicaRegion === b.region) {
    throw new Error(`BackupStorage ${name}: backupReplicaRegion must differ from backupRegion (${b.region})`);
  }
  for (const [key, days] of [
    ["noncurrentVersionDays", args.noncurrentVersionDays],
    ["abortIncompleteUploadDays", args.abortIncompleteUploadDays],
  ] as const) {
    if (days !== undefined && (!Number.isInteger(days) || days < 1)) {
      throw new Error(`BackupStorage ${name}: ${key} must be a whole number of days >= 1, got ${days}`);
    }
  }
  return bucketNames(
    name,
    args.namePrefix,
    b.bucketName,
    b.storage === "aws" && b.replicaRegion !== undefined,
  );
}

/** `bucket` when the name is configured, else `bucketPrefix` (S3 adds a unique suffix). */
type BucketName = { bucket: string; bucketPrefix?: undefined } | { bucket?: undefined; bucketPrefix: string };

/** Names of the primary and replica buckets; errors name the config key at fault. */
export function bucketNames(
  component: string,
  namePrefix: string,
  configured: string | undefined,
  withReplica: boolean,
): { primary: BucketName; replica?: BucketName } {
  if (configured !== undefined) {
    const replica = `${configured}-replica`;
    if (withReplica && replica.length > 63) {
      throw new Error(
        `BackupStorage ${component}: backupBucketName "${configured}" is too long for a replica ` +
          `("${replica}" exceeds 63 characters); use at most 55 characters`,
      );
    }
    return { primary: { bucket: configured }, replica: withReplica ? { bucket: replica } : undefined };
  }
  const primary = `${namePrefix}-backup-`;
  const replica = `${namePrefix}-replica-`;
  for (const prefix of withReplica ? [primary, replica] : [primary]) {
    if (prefix.length > AWS_BUCKET_PREFIX_MAX || !/^[a-z0-9][a-z0-9.-]*$/.test(prefix)) {
      throw new Error(
        `BackupStorage ${component}: cannot derive a bucket name from "${namePrefix}" ` +
          `(prefix "${prefix}" must be lower-case and at most ${AWS_BUCKET_PREFIX_MAX} characters); set backupBucketName`,
      );
    }
  }
  return {
    primary: { bucketPrefix: primary },
    replica: withReplica ? { bucketPrefix: replica } : undefined,
  };
}
