/**
 * HTTP(S) requests to the deployed stack from the Docker host, and bounded waits.
 * The local edge serves a self-signed certificate made by the stack: requests skip the check
 * (`rejectUnauthorized: false`), and only ever go to 127.0.0.1.
 */
import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";

export interface HttpAnswer {
  status: number;
  body: string;
}

/** `headers`: e.g. an Authorization header for Prometheus and Alertmanager (basic auth). */
export function httpsGet(
  url: string,
  timeoutMs = 5000,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  const target = new URL(url);
  if (target.hostname !== "127.0.0.1")
    throw new Error(`engine level: only 127.0.0.1 is a target, not ${url}`);
  const request = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(target, { rejectUnauthorized: false, timeout: timeoutMs, headers }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Polls `probe` every 2 s until it returns true; throws naming `what` after `seconds`. */
export async function waitFor(what: string, seconds: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let last = "";
  for (;;) {
    try {
      if (await probe()) return;
      last = "";
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${seconds} s${last ? ` (last: ${last})` : ""}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}
