/**
 * Checks of single config values that reach a generated file, a provider argument or a command
 * line: host names, host:port, Docker hosts, URLs, PEM blocks, AWS regions, registries. Each
 * returns undefined when the value is good, else what was expected. The checks secrets go
 * through (control characters, URLs, PEM) never echo the value.
 */
import { isIPv6 } from "node:net";
import { parseImageRef } from "../lib/image-ref";
import { nearest } from "./suggest";

/** C0 controls, DEL, C1 controls and the Unicode line and paragraph separators. */
const isControl = (code: number) =>
  code <= 0x1f || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;

const CONTROL_NAMES: Record<string, string> = {
  "\n": "a newline",
  "\r": "a carriage return",
  "\t": "a tab",
  "\0": "a NUL byte",
};

/**
 * A value is one line of printable text: a newline would start a new directive in the file it
 * is rendered into (crontab, haproxy.cfg, an environment file). PEM values may span lines.
 */
export function controlCharacterError(value: string, allowLineBreaks = false): string | undefined {
  let index = 0;
  for (const ch of value) {
    index++;
    if (allowLineBreaks && (ch === "\n" || ch === "\r")) continue;
    if (isControl(ch.codePointAt(0) as number)) {
      const code = `U+${ch.codePointAt(0)?.toString(16).toUpperCase().padStart(4, "0")}`;
      const name = CONTROL_NAMES[ch] ?? "a control character";
      return `expected ${allowLineBreaks ? "printable text" : "a single line of printable text"}; found ${name} (${code}) at character ${index}`;
    }
  }
  return undefined;
}

// ---------- hosts and ports ----------

const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const HOSTNAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`, "i");
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** A DNS name (labels of 1-63 letters, digits and inner hyphens) or an IPv4 address. */
export function isHostname(host: string): boolean {
  if (!HOSTNAME.test(host)) return false;
  // All-numeric names are addresses, and then they must be real ones (no 999.1.1.1).
  return host.split(".").every((label) => /^\d+$/.test(label)) ? IPV4.test(host) : true;
}

/** A host as it appears in a URL or host:port: a DNS name, IPv4, or [IPv6]. */
export function isHost(host: string): boolean {
  if (host.startsWith("[") && host.endsWith("]")) return isIPv6(host.slice(1, -1));
  return isHostname(host);
}

/** A TCP port: 1-65535 in decimal digits. */
export function portError(port: string): string | undefined {
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)
    return "expected a port from 1 to 65535";
  return undefined;
}

/** Splits `host:port` / `[v6]:port` / `host`; undefined when it does not have that shape. */
function splitHostPort(value: string): { host: string; port?: string } | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]/@]+)(?::([^:/]*))?$/.exec(value);
  return match ? { host: match[1], port: match[2] } : undefined;
}

/** `host:port` with a DNS name, IPv4 or [IPv6] host and a port of 1-65535. */
export function hostPortError(value: string): string | undefined {
  const parts = splitHostPort(value);
  if (!parts || parts.port === undefined || !isHost(parts.host))
    return "expected host:port like smtp.example.com:587 (a DNS name, IPv4 or [IPv6] address, and a port)";
  return portError(parts.port);
}

// ---------- Docker host ----------

export type DockerTransport = "unix" | "ssh" | "tcp-tls" | "tcp";

/** Docker's registered port for the TLS-protected API; 2375 is its plain-text one. */
export const DOCKER_TLS_PORT = "2376";

const DOCKER_HOST_FORMS = "unix:///path/to/docker.sock, ssh://[user@]host[:port] or tcp://host:port";

/**
 * Parses a Docker host the way the docker CLI and provider accept it. `tcp://` counts as TLS only
 * on port 2376: the CLI and the provider then need DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH where
 * Pulumi runs, which config cannot see, so the port is the only signal config has.
 */
export function parseDockerHost(value: string): { transport: DockerTransport } | { error: string } {
  const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/.exec(value);
  if (!match) return { error: `expected ${DOCKER_HOST_FORMS}` };
  const [, scheme, rest] = match;
  if (scheme === "unix") {
    if (!/^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/.test(rest) || rest.split("/").includes(".."))
      return { error: "expected unix:// followed by an absolute socket path like /var/run/docker.sock" };
    return { transport: "unix" };
  }
  if (scheme === "ssh") {
    // The docker CLI refuses a path after the host, and a user name goes to ssh's command line.
    const ssh = /^(?:([a-z_][a-z0-9_.-]{0,31})@)?([^@/]+)$/i.exec(rest);
    const parts = ssh ? splitHostPort(ssh[2]) : undefined;
    if (!ssh || !parts || !isHost(parts.host))
      return { error: "expected ssh://[user@]host[:port] (a user name, a DNS name or address, no path)" };
    if (parts.port !== undefined) {
      const problem = portError(parts.port);
      if (problem) return { error: problem };
    }
    return { transport: "ssh" };
  }
  if (scheme === "tcp") {
    const parts = splitHostPort(rest);
    if (!parts || !isHost(parts.host))
      return { error: "expected tcp://host:port (a DNS name or address, no path)" };
    if (parts.port !== undefined) {
      const problem = portError(parts.port);
      if (problem) return { error: problem };
    }
    return { transport: parts.port === DOCKER_TLS_PORT ? "tcp-tls" : "tcp" };
  }
  return { error: `expected ${DOCKER_HOST_FORMS}; "${scheme}://" is not a Docker host scheme` };
}

export function dockerHostError(value: string): string | undefined {
  const parsed = parseDockerHost(value);
  return "error" in parsed ? parsed.error : undefined;
}

// ---------- URLs ----------

/** An http(s) URL with a real host, as Alertmanager's webhook and heartbeat receivers take it. */
export function httpUrlError(value: string, httpsOnly: boolean): string | undefined {
  const expected = httpsOnly
    ? "an https:// URL like https://host/path"
    : "an http(s) URL like https://host/path";
  if (!/^https?:\/\/\S+$/i.test(value)) return `expected ${expected}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `expected ${expected}`;
  }
  if (!isHost(url.hostname)) return `expected ${expected} (the host is not a DNS name or address)`;
  if (httpsOnly && url.protocol !== "https:") return `expected ${expected}: alerts leave the host over TLS`;
  return undefined;
}

// ---------- PEM ----------

const BASE64_LINE = /^[A-Za-z0-9+/]{1,128}={0,2}$/;

interface PemBlock {
  label: string;
  /** Base64 body with the line breaks removed. */
  body: string;
}

/** The PEM blocks of a value that holds only PEM blocks and whitespace; undefined otherwise. */
function pemBlocks(value: string): PemBlock[] | undefined {
  const lines = value.split(/\r?\n/).map((line) => line.trim());
  const blocks: PemBlock[] = [];
  let current: { label: string; lines: string[] } | undefined;
  for (const line of lines) {
    if (current) {
      const end = /^-----END ([A-Z0-9 ]+)-----$/.exec(line);
      if (end) {
        if (end[1] !== current.label || current.lines.length === 0) return undefined;
        blocks.push({ label: current.label, body: current.lines.join("") });
        current = undefined;
      } else if (BASE64_LINE.test(line)) current.lines.push(line);
      else return undefined;
      continue;
    }
    if (line === "") continue;
    const begin = /^-----BEGIN ([A-Z0-9 ]+)-----$/.exec(line);
    if (!begin) return undefined;
    current = { label: begin[1], lines: [] };
  }
  if (current) return undefined;
  // Padding only at the very end of a body, and a whole number of 4-character groups.
  if (blocks.some((b) => b.body.length % 4 !== 0 || /=[^=]/.test(b.body))) return undefined;
  return blocks;
}

/** A PEM certificate chain: one or more CERTIFICATE blocks, nothing else. */
export function pemCertificateError(value: string): string | undefined {
  const blocks = pemBlocks(value);
  if (!blocks || blocks.length === 0 || blocks.some((b) => b.label !== "CERTIFICATE"))
    return "expected a PEM certificate chain: one or more -----BEGIN CERTIFICATE----- blocks and nothing else";
  return undefined;
}

const KEY_LABELS = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"];

/** One unencrypted PEM private key (an EC key may carry its EC PARAMETERS block). */
export function pemPrivateKeyError(value: string): string | undefined {
  const blocks = pemBlocks(value);
  const keys = blocks?.filter((b) => b.label !== "EC PARAMETERS") ?? [];
  if (blocks?.some((b) => b.label === "ENCRYPTED PRIVATE KEY"))
    return "expected an unencrypted PEM private key: HAProxy cannot ask for a passphrase";
  if (!blocks || keys.length !== 1 || !KEY_LABELS.includes(keys[0].label))
    return "expected one PEM private key: a -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY) block and nothing else";
  return undefined;
}

// ---------- AWS ----------

/**
 * Regions the backups can use: those of @pulumi/aws's Region enum in the `aws` and `aws-us-gov`
 * partitions. The backup component's S3 endpoint is `s3.<region>.amazonaws.com`, which the
 * China, European Sovereign Cloud and ISO partitions do not serve
 * (test/unit/config-values.test.ts keeps this list in step with the provider's enum).
 */
export const AWS_REGIONS = [
  "af-south-1",
  "ap-east-1",
  "ap-east-2",
  "ap-northeast-1",
  "ap-northeast-2",
  "ap-northeast-3",
  "ap-south-1",
  "ap-south-2",
  "ap-southeast-1",
  "ap-southeast-2",
  "ap-southeast-3",
  "ap-southeast-4",
  "ap-southeast-5",
  "ap-southeast-6",
  "ap-southeast-7",
  "ca-central-1",
  "ca-west-1",
  "eu-central-1",
  "eu-central-2",
  "eu-north-1",
  "eu-south-1",
  "eu-south-2",
  "eu-west-1",
  "eu-west-2",
  "eu-west-3",
  "il-central-1",
  "me-central-1",
  "me-south-1",
  "mx-central-1",
  "sa-east-1",
  "us-east-1",
  "us-east-2",
  "us-west-1",
  "us-west-2",
  "us-gov-east-1",
  "us-gov-west-1",
] as const;

/** The AWS partition of a region (replication cannot cross partitions). */
export function awsPartition(region: string): "aws" | "aws-us-gov" {
  return region.startsWith("us-gov-") ? "aws-us-gov" : "aws";
}

export function awsRegionError(value: string): string | undefined {
  if ((AWS_REGIONS as readonly string[]).includes(value)) return undefined;
  return `expected an AWS region of the aws or aws-us-gov partition, like eu-west-1; did you mean ${nearest(value, AWS_REGIONS)}?`;
}

/**
 * S3's bucket naming rules (general purpose buckets): 3-63 characters of lower-case letters,
 * digits, dots and hyphens, starting and ending with a letter or digit, and none of the reserved
 * shapes.
 */
export function s3BucketNameError(value: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value))
    return "expected an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens; starting and ending with a letter or digit)";
  if (/\.\.|\.-|-\./.test(value)) return "expected an S3 bucket name without .., .- or -.";
  if (IPV4.test(value) || /^\d+\.\d+\.\d+\.\d+$/.test(value))
    return "expected an S3 bucket name that is not an IP address";
  if (
    /^(xn--|sthree-|amzn-s3-demo-)/.test(value) ||
    /(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(value)
  )
    return "expected an S3 bucket name without a prefix or suffix S3 reserves (xn--, sthree-, -s3alias, --ol-s3, ...)";
  return undefined;
}

// ---------- registries and user names ----------

const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";

/**
 * A registry prefix for image names, `host[:port][/path]` as in `ghcr.io/acme/infra`: it becomes
 * `<registryServer>/<image>:<tag>`, so it follows the reference grammar (no scheme, lower-case path).
 */
export function registryServerError(value: string): string | undefined {
  const expected =
    "expected a registry and optional path like ghcr.io/acme or registry.example.com:5000/team (no scheme, lower-case path)";
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return expected;
  const [hostPort, ...path] = value.replace(/\/$/, "").split("/");
  const parts = splitHostPort(hostPort);
  if (!parts || !isHost(parts.host)) return expected;
  // A bare first component without a dot or port is a Docker Hub namespace, not a registry host.
  if (!parts.host.includes(".") && parts.port === undefined && parts.host !== "localhost")
    return `${expected}: "${parts.host}" is not a registry host (add the host, e.g. docker.io/${parts.host})`;
  if (parts.port !== undefined && portError(parts.port)) return portError(parts.port);
  if (!path.every((component) => new RegExp(`^${PATH_COMPONENT}$`).test(component))) return expected;
  // What the program makes of it must be an image reference (lower-case host, no IPv6).
  if (!parseImageRef(`${value.replace(/\/$/, "")}/backend:1`)) return expected;
  return undefined;
}

/** A registry user name: no whitespace, and no colon (it separates user and password in basic auth). */
export const USER_NAME = /^[A-Za-z0-9._@+$-]{1,256}$/;

/** An SMTP user name: printable ASCII without spaces (often an e-mail address, or DOMAIN\user). */
export const SMTP_USER_NAME = /^[\x21-\x7e]{1,256}$/;

// ---------- host paths ----------

/**
 * Host directories a data bind mount may never be: the root, the system's own directories, the
 * Docker engine's data and sockets, and temporary directories that a reboot empties. The policy
 * pack refuses such mounts too; config says so before anything is planned.
 */
const SYSTEM_DIRECTORIES = [
  "/bin",
  "/boot",
  "/dev",
  "/etc",
  "/home",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/proc",
  "/root",
  "/run",
  "/sbin",
  "/sys",
  "/tmp",
  "/usr",
  "/var/lib/docker",
  "/var/run",
  "/var/tmp",
];
/** Shared parents: a directory below them is fine, the parent itself is not a data directory. */
const SHARED_PARENTS = ["/", "/mnt", "/media", "/opt", "/srv", "/var", "/var/lib"];

/** An absolute host path for a data directory, like /opt/data/postgres. */
export function hostDataPathError(value: string): string | undefined {
  const expected = "expected an absolute host path like /opt/data/postgres";
  if (!value.startsWith("/")) return expected;
  if (/^\/+$/.test(value)) return `${expected}: a directory of its own, not / itself`;
  if (!/^(?:\/[A-Za-z0-9._@+=,-]+)+\/?$/.test(value))
    return `${expected} (letters, digits and . _ @ + = , - only)`;
  const parts = value.split("/").filter(Boolean);
  if (parts.includes("..") || parts.includes(".")) return "expected a path without .. or . components";
  const path = `/${parts.join("/")}`;
  if (SHARED_PARENTS.includes(path) || path === "/")
    return `${expected}: a directory of its own, not ${path} itself`;
  const system = SYSTEM_DIRECTORIES.find((dir) => path === dir || path.startsWith(`${dir}/`));
  if (system) return `${expected}: not under ${system} (a system, Docker or temporary directory)`;
  if (path.endsWith(".sock")) return `${expected}: a directory, not a socket`;
  return undefined;
}

/** True when one path is the other or lies inside it. */
export function pathsOverlap(a: string, b: string): boolean {
  const norm = (p: string) => `/${p.split("/").filter(Boolean).join("/")}/`;
  return norm(a).startsWith(norm(b)) || norm(b).startsWith(norm(a));
}
