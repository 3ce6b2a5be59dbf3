/** Self-signed TLS certificates for tests (made by openssl, valid only on loopback). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runOk } from "./tools";

export interface SelfSignedOptions {
  /** Subject common name. Default `localhost`. */
  commonName?: string;
  /** subjectAltName, e.g. `IP:127.0.0.1,DNS:localhost`. Default `DNS:<commonName>`. */
  subjectAltName?: string;
  /** Validity in days. Default 1. */
  days?: number;
  /** `rsa` (2048 bits) or `ec` (P-256). Default `rsa`. */
  keyType?: "rsa" | "ec";
  /** Where to write the files. Default `<dir>/cert.pem` and `<dir>/key.pem`. */
  certFile?: string;
  keyFile?: string;
}

export interface SelfSignedCert {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
  /** Certificate followed by key: the file format of HAProxy's `crt`. */
  combinedPem: string;
}

export function selfSignedCert(dir: string, options: SelfSignedOptions = {}): SelfSignedCert {
  const commonName = options.commonName ?? "localhost";
  const certFile = options.certFile ?? join(dir, "cert.pem");
  const keyFile = options.keyFile ?? join(dir, "key.pem");
  const key =
    options.keyType === "ec"
      ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
      : ["-newkey", "rsa:2048"];
  runOk("openssl", [
    "req",
    "-x509",
    ...key,
    "-nodes",
    "-days",
    String(options.days ?? 1),
    "-subj",
    `/CN=${commonName}`,
    "-addext",
    `subjectAltName=${options.subjectAltName ?? `DNS:${commonName}`}`,
    "-keyout",
    keyFile,
    "-out",
    certFile,
  ]);
  const certPem = readFileSync(certFile, "utf8");
  const keyPem = readFileSync(keyFile, "utf8");
  return { certFile, keyFile, certPem, keyPem, combinedPem: certPem + keyPem };
}
