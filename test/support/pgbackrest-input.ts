import type { PgBackRestConfInput } from "../../renderers/pgbackrest-conf";

/** A prod-like pgbackrest.conf input (local repo1, S3 repo2, secrets from the environment). */
export const PGBACKREST_BASE_INPUT: PgBackRestConfInput = {
  stanza: "main",
  pg: { path: "/var/lib/postgresql/data", socketPath: "/var/run/postgresql" },
  repo1: { path: "/var/lib/pgbackrest", retentionDays: 30 },
  repo2: {
    bucket: "backend-infra-prod-backups",
    endpoint: "s3.eu-west-1.amazonaws.com",
    region: "eu-west-1",
    uriStyle: "host",
    retentionDays: 90,
    credentials: { type: "env" },
  },
  compression: "lz4",
  processMax: 2,
  cipher: {},
  spoolPath: "/var/spool/pgbackrest",
};
