/**
 * The value checks of config/values.ts, config/schedule.ts and config/suggest.ts on their own:
 * tables of values each check must refuse and must accept.
 */
import { Region } from "@pulumi/aws/types/enums";
import { describe, expect, it } from "vitest";
import { KEY_NAMES } from "../../config/keys";
import { cronNeverFiresError } from "../../config/schedule";
import { nearest } from "../../config/suggest";
import {
  AWS_REGIONS,
  awsRegionError,
  controlCharacterError,
  hostDataPathError,
  hostPortError,
  httpUrlError,
  isHostname,
  parseDockerHost,
  pemCertificateError,
  pemPrivateKeyError,
  registryServerError,
  s3BucketNameError,
} from "../../config/values";

describe("control characters", () => {
  it.each([
    ["a\nb", /newline/],
    ["a\rb", /carriage return/],
    ["a\tb", /tab/],
    ["a\u0000b", /NUL/],
    ["a\u001bb", /U\+001B/],
    ["a\u007fb", /U\+007F/],
    ["a\u0085b", /U\+0085/],
    ["a\u2028b", /U\+2028/],
    ["a\u2029b", /U\+2029/],
  ])("refuses %j", (value, message) => {
    expect(controlCharacterError(value)).toMatch(message);
  });
  it.each(["plain", "with spaces", "ünïcödé", "emoji 🙂", "symbols !#$%&'()*+,-./:;<=>?@[]^_`{|}~"])(
    "accepts %j",
    (value) => expect(controlCharacterError(value)).toBeUndefined(),
  );
  it("lets PEM values span lines, and nothing else", () => {
    expect(controlCharacterError("a\r\nb\n", true)).toBeUndefined();
    expect(controlCharacterError("a\tb", true)).toMatch(/tab/);
  });
});

describe("Docker hosts", () => {
  it.each([
    ["unix:///var/run/docker.sock", "unix"],
    ["unix:///run/user/1000/docker.sock", "unix"],
    ["ssh://deploy@docker-prod-1.example.com", "ssh"],
    ["ssh://docker-prod-1.example.com:2222", "ssh"],
    ["ssh://deploy@[2001:db8::1]:22", "ssh"],
    ["ssh://deploy@10.0.0.5", "ssh"],
    ["tcp://docker.example.com:2376", "tcp-tls"],
    ["tcp://[2001:db8::1]:2376", "tcp-tls"],
    ["tcp://docker.example.com:2375", "tcp"],
    ["tcp://docker.example.com", "tcp"],
  ])("%s is %s", (value, transport) => {
    expect(parseDockerHost(value)).toEqual({ transport });
  });
  it.each([
    "docker.example.com",
    "unix://relative.sock",
    "unix:///var/run/../docker.sock",
    "unix:///var/run/docker.sock; id",
    "ssh://",
    "ssh://deploy@",
    "ssh://a@b@host",
    "ssh://deploy@host/path",
    "ssh://deploy@host:0",
    "ssh://deploy@host:65536",
    "ssh://-oProxyCommand=id@host",
    "ssh://deploy@host name",
    "tcp://",
    "tcp://host:",
    "tcp://host:port",
    "tcp://host:2376/",
    "tcp://user@host:2376",
    "tcp://[zz::1]:2376",
    "npipe:////./pipe/docker_engine",
    "http://host:2375",
    "fd://",
  ])("refuses %j", (value) => {
    expect(parseDockerHost(value)).toHaveProperty("error");
  });
});

describe("host names and host:port", () => {
  it.each([
    "example.com",
    "API.Example.COM",
    "a",
    "a-b.c-d.example",
    "10.0.0.1",
    "255.255.255.255",
    `${"a".repeat(63)}.com`,
  ])("accepts host %s", (host) => expect(isHostname(host)).toBe(true));
  it.each([
    "",
    "-a.com",
    "a-.com",
    "a..com",
    ".a.com",
    "a.com.",
    "a_b.com",
    "256.1.1.1",
    "1.2.3",
    `${"a".repeat(64)}.com`,
    "a b",
    "a;b",
    `${"a.".repeat(127)}aa`,
  ])("refuses host %j", (host) => expect(isHostname(host)).toBe(false));
  it.each(["smtp.example.com:587", "10.0.0.1:25", "[2001:db8::1]:25", "localhost:1", "relay:65535"])(
    "accepts %s",
    (value) => expect(hostPortError(value)).toBeUndefined(),
  );
  it.each([
    "smtp.example.com",
    "smtp.example.com:",
    ":25",
    "smtp.example.com:0",
    "smtp.example.com:65536",
    "smtp.example.com:-1",
    "smtp.example.com:25:25",
    "[zz::1]:25",
    "2001:db8::1:25",
    "smtp.example.com:587/x",
    "user@smtp.example.com:587",
    "smtp.example.com:1e3",
  ])("refuses %j", (value) => expect(hostPortError(value)).toBeDefined());
});

describe("URLs", () => {
  it.each([
    "https://hooks.slack.com/services/T/B/x",
    "http://relay:2000/alertmanager",
    "https://[2001:db8::1]/x",
    "https://user:pass@example.com/x?q=1",
  ])("accepts %s", (value) => expect(httpUrlError(value, false)).toBeUndefined());
  it.each([
    "hooks.slack.com/x",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "ftp://example.com",
    "https://",
    "https:// example.com",
    "https://exa mple.com/",
    "https://-bad-.example.com/",
    "mailto:a@example.com",
  ])("refuses %j", (value) => expect(httpUrlError(value, false)).toBeDefined());
  it("requires https when asked", () => {
    expect(httpUrlError("http://example.com/x", true)).toMatch(/https/);
    expect(httpUrlError("https://example.com/x", true)).toBeUndefined();
  });
});

describe("PEM", () => {
  const block = (label: string, body = "AAAA") =>
    `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
  it("accepts certificate chains and the usual key forms", () => {
    expect(pemCertificateError(block("CERTIFICATE"))).toBeUndefined();
    expect(pemCertificateError(`\n${block("CERTIFICATE")}\n${block("CERTIFICATE")}`)).toBeUndefined();
    expect(pemCertificateError(block("CERTIFICATE").replace(/\n/g, "\r\n"))).toBeUndefined();
    for (const label of ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"])
      expect(pemPrivateKeyError(block(label)), label).toBeUndefined();
    expect(pemPrivateKeyError(block("EC PARAMETERS") + block("EC PRIVATE KEY"))).toBeUndefined();
  });
  it.each([
    ["", "empty"],
    ["-----BEGIN CERTIFICATE-----", "a lone BEGIN"],
    [block("CERTIFICATE").replace("END", "FIN"), "no END"],
    [
      block("CERTIFICATE").replace("-----END CERTIFICATE-----", "-----END PRIVATE KEY-----"),
      "mismatched END",
    ],
    [block("CERTIFICATE", ""), "an empty body"],
    [block("CERTIFICATE", "AAA"), "a body that is not whole base64"],
    [block("CERTIFICATE", "AA=A"), "padding inside"],
    [block("CERTIFICATE", "AA AA"), "a space in the body"],
    [`junk\n${block("CERTIFICATE")}`, "text before"],
    [`${block("CERTIFICATE")}junk`, "text after"],
    [block("TRUSTED CERTIFICATE"), "another label"],
    [block("CERTIFICATE") + block("PRIVATE KEY"), "a key in the chain"],
  ])("refuses a certificate: %#", (value) => {
    expect(pemCertificateError(value)).toBeDefined();
  });
  it.each([
    [block("CERTIFICATE")],
    [block("ENCRYPTED PRIVATE KEY")],
    [block("PRIVATE KEY") + block("PRIVATE KEY")],
    [block("PUBLIC KEY")],
    [block("EC PARAMETERS")],
    ["PRIVATE KEY"],
  ])("refuses a key: %#", (value) => {
    expect(pemPrivateKeyError(value)).toBeDefined();
  });
});

describe("AWS regions", () => {
  it("are the provider's regions of the aws and aws-us-gov partitions", () => {
    const usable = Object.values(Region).filter(
      (region) => !/^(cn-|eusc-)/.test(region) && !/-iso[a-z]*-/.test(region),
    );
    expect([...AWS_REGIONS].sort()).toEqual([...usable].sort());
  });
  it.each([
    "cn-north-1",
    "cn-northwest-1",
    "eusc-de-east-1",
    "us-iso-east-1",
    "us-isob-east-1",
    "eu-west-9",
    "EU-WEST-1",
    "eu-west-1 ",
    "euwest1",
    "",
  ])("refuses %j", (value) => expect(awsRegionError(value)).toBeDefined());
  it("suggests the nearest real region", () => {
    expect(awsRegionError("eu-wset-1")).toMatch(/did you mean eu-west-1\?/);
    expect(awsRegionError("us-east-3")).toMatch(/did you mean us-east-1\?/);
  });
});

describe("S3 bucket names", () => {
  it.each(["abc", "acme-backups", "acme.backups.prod", "a".repeat(63), "1acme"])("accepts %s", (name) =>
    expect(s3BucketNameError(name)).toBeUndefined(),
  );
  it.each([
    "ab",
    "a".repeat(64),
    "Acme",
    "acme_backups",
    "-acme",
    "acme-",
    "acme..b",
    "acme.-b",
    "acme-.b",
    "10.0.0.1",
    "xn--acme",
    "sthree-acme",
    "acme-s3alias",
    "acme--ol-s3",
    "acme backups",
  ])("refuses %j", (name) => expect(s3BucketNameError(name)).toBeDefined());
});

describe("registries", () => {
  it.each([
    "ghcr.io/acme",
    "ghcr.io/acme/infra",
    "ghcr.io/acme/",
    "registry.example.com:5000",
    "localhost:5000/a",
    "localhost",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    "docker.io/acme",
    "registry:5000/team",
  ])("accepts %s", (value) => expect(registryServerError(value)).toBeUndefined());
  it.each([
    "",
    "acme",
    "acme/infra",
    "https://ghcr.io/acme",
    "ghcr.io/Acme",
    "ghcr.io/acme infra",
    "ghcr.io:0/a",
    "ghcr.io:99999",
    "ghcr.io//acme",
    "ghcr.io/acme/-x",
    "ghcr.io/acme;id",
    "GHCR.io/acme",
    "[2001:db8::1]:5000/acme",
  ])("refuses %j", (value) => expect(registryServerError(value)).toBeDefined());
});

describe("host data paths", () => {
  it.each([
    "/opt/data/postgres",
    "/data",
    "/srv/redis/",
    "/var/lib/postgresql/data",
    "/mnt/disk1/pg",
    "/opt/backend-infra/pg_15",
  ])("accepts %s", (path) => expect(hostDataPathError(path)).toBeUndefined());
  it.each([
    "",
    "data",
    "./data",
    "/",
    "//",
    "/etc",
    "/etc/pg",
    "/root/pg",
    "/home/me",
    "/proc/1",
    "/sys/x",
    "/boot/x",
    "/dev/sda",
    "/run/pg",
    "/var/run/pg",
    "/var/lib/docker",
    "/var/lib/docker/volumes/x",
    "/usr/local/pg",
    "/bin/x",
    "/tmp",
    "/var/tmp/x",
    "/opt",
    "/var",
    "/var/lib",
    "/srv",
    "/mnt",
    "/data/../etc",
    "/data/./x",
    "/data/x y",
    "/data/$(id)",
    "/data/`id`",
    "/data/a;b",
    "/srv/docker.sock",
  ])("refuses %j", (path) => expect(hostDataPathError(path)).toBeDefined());
});

describe("cron expressions that can never fire", () => {
  it.each([
    "0 3 30 2 *",
    "0 3 31 2 *",
    "0 3 30,31 2 *",
    "0 3 30-31 2 *",
    "0 3 31 4 *",
    "0 3 31 6 *",
    "0 3 31 9 *",
    "0 3 31 11 *",
    "0 3 31 2,4,6,9,11 *",
    "0 3 31 4-6/2 *",
    "0 3 31/5 2 *",
  ])("%s never fires", (expression) => {
    expect(cronNeverFiresError(expression)).toMatch(/never occurs/);
  });
  it.each([
    "0 3 29 2 *",
    "0 3 30 1-2 *",
    "0 3 31 * *",
    "0 3 31 */2 *",
    "0 3 30 2 1",
    "0 3 30 2 */2",
    "0 3 * 2 *",
    "0 3 1-31 2 *",
    "0 3 28,30 2 *",
    "0 2 * * *",
  ])("%s fires", (expression) => {
    expect(cronNeverFiresError(expression)).toBeUndefined();
  });
});

describe("did you mean", () => {
  it.each([
    ["postgresMemroy", "postgresMemory"],
    ["postgres.memory", "postgresMemory"],
    ["POSTGRES_MEMORY", "postgresMemory"],
    ["edgeTLSMode", "edgeTlsMode"],
    ["dockerhost", "dockerHost"],
    ["backendReplica", "backendReplicas"],
    ["alertEmail", "alertEmailTo"],
    ["backupCloudRetention", "backupCloudRetentionDays"],
    ["trafficActiv", "trafficActive"],
    ["publicHostName", "publicHostname"],
  ])("%s -> %s", (word, key) => {
    expect(nearest(word, KEY_NAMES)).toBe(key);
  });
});
