/**
 * HTTP basic auth for Prometheus 2.42 and Alertmanager 0.25: the exporter-toolkit web config
 * they start with (`--web.config.file`), which puts every endpoint behind a login, /-/healthy,
 * /-/ready, /metrics and /-/reload included; the Authorization header a client inside their
 * container sends; and the shell probe that sends it. Pure: input -> text.
 *
 * Why a header file and a probe that reads it: a password in a healthcheck's command shows in
 * `docker inspect`, one in a `docker exec` or CLI argument in `ps` on the machine that runs it.
 * The probe reads the header from a file inside the container, so only that file holds it.
 */
import { stringify } from "yaml";
import { shellQuote } from "../lib/shell-quote";

export interface WebConfigInput {
  /** User name -> bcrypt hash of its password (`RandomPassword.bcryptHash`). At least one. */
  users: Record<string, string>;
}

/** A user name: no colon (basic auth splits there), nothing YAML or a header would misread. */
const USER = /^[a-z][a-z0-9_-]{0,31}$/;
/** What Go's bcrypt (exporter-toolkit) accepts: `$2a$`/`$2b$`/`$2y$`, cost, 53 characters of salt and hash. */
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

export function renderWebConfig(input: WebConfigInput): string {
  const problems: string[] = [];
  const users = Object.entries(input.users);
  if (users.length === 0) problems.push("users: expected at least one user (an empty list turns auth off)");
  for (const [user, hash] of users) {
    if (!USER.test(user)) problems.push(`users: "${user}" is not a user name matching ${USER.toString()}`);
    // The hash itself is not echoed: it is derived from a secret.
    else if (!BCRYPT.test(hash)) problems.push(`users.${user}: expected a bcrypt hash ($2a$, $2b$ or $2y$)`);
  }
  if (problems.length > 0) throw new Error(`web config input is invalid:\n  - ${problems.join("\n  - ")}`);
  return `# Rendered by renderers/web-config.ts - do not edit by hand.\n${stringify({
    basic_auth_users: Object.fromEntries(users),
  })}`;
}

/** `Authorization: Basic <base64 user:password>`, the content of a probe's header file (no newline). */
export function renderBasicAuthHeader(user: string, password: string): string {
  if (!USER.test(user))
    throw new Error(`basic auth header: "${user}" is not a user name matching ${USER.toString()}`);
  // A line break would end the header and start another one.
  if (password === "" || /[\r\n]/.test(password))
    throw new Error(`basic auth header for ${user}: the password must be non-empty and on one line`);
  return `Authorization: Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

/**
 * A POSIX sh command (busybox ash, dash) that GETs `url` with the header in `headerFile` and
 * exits 0 on a 2xx answer; a missing header file fails it before any request. `output` is where
 * the body goes (`-` for stdout).
 */
export function authenticatedGet(url: string, headerFile: string, output = "/dev/null"): string {
  if (!/^https?:\/\/\S+$/.test(url))
    throw new Error(`authenticated GET: expected an http(s) URL, got "${url}"`);
  if (!headerFile.startsWith("/"))
    throw new Error(`authenticated GET: expected an absolute header file, got "${headerFile}"`);
  return `h=$(cat ${shellQuote(headerFile)}) && exec wget -q -O ${shellQuote(output)} --header "$h" ${shellQuote(url)}`;
}
