import { describe, expect, it } from "vitest";
import { parseWrk, requestLua } from "../support/wrk";

const CLEAN = `Running 8s test @ https://127.0.0.1:40123/ping
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.71ms    2.10ms  38.22ms   84.12%
    Req/Sec   842.31    101.22     1.02k    71.00%
  Latency Distribution
     50%  812.00us
     75%    5.61ms
     90%    7.02ms
     99%    1.20s
  13450 requests in 8.03s, 4.21MB read
Requests/sec:   1674.97
Transfer/sec:    536.80KB
COUNTS non2xx=0 blue=8909 green=4541 other=0
`;

const DIRTY = `Running 4s test @ https://127.0.0.1:40123/ping
  2 threads and 4 connections
  500 requests in 4.00s, 100.00KB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:    125.00
Transfer/sec:     25.00KB
COUNTS non2xx=7 blue=400 green=93 other=7
`;

describe("parseWrk", () => {
  it("reads requests, rate, latency percentiles in ms and the Lua counts", () => {
    const r = parseWrk(CLEAN);
    expect(r.requests).toBe(13450);
    expect(r.durationSeconds).toBeCloseTo(8.03);
    expect(r.requestsPerSecond).toBeCloseTo(1674.97);
    expect(r.latencyMs).toEqual({ p50: 0.812, p75: 5.61, p90: 7.02, p99: 1200 });
    expect(r.socketErrors).toEqual({ connect: 0, read: 0, write: 0, timeout: 0 });
    expect(r.non2xx3xx).toBe(0);
    expect(r.counts).toEqual({ non2xx: 0, blue: 8909, green: 4541, other: 0 });
  });

  it("reads socket errors and non-2xx lines when wrk prints them", () => {
    const r = parseWrk(DIRTY);
    expect(r.socketErrors).toEqual({ connect: 0, read: 3, write: 1, timeout: 2 });
    expect(r.non2xx3xx).toBe(7);
    expect(r.counts?.non2xx).toBe(7);
    expect(r.latencyMs).toEqual({});
  });

  it("throws when wrk printed no summary (it failed to run)", () => {
    expect(() => parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n")).toThrow(
      /N requests in T/,
    );
  });
});

describe("requestLua (wrk sending something other than a GET)", () => {
  it("sets method, body and headers as Lua string literals", () => {
    expect(
      requestLua({
        method: "POST",
        body: '{"item":"fast","quantity":1}',
        headers: { "Content-Type": "application/json" },
      }),
    ).toBe(
      'wrk.method = "POST"\nwrk.body = "{\\"item\\":\\"fast\\",\\"quantity\\":1}"\n' +
        'wrk.headers["Content-Type"] = "application/json"\n',
    );
    expect(requestLua(undefined)).toBe("");
  });

  it("refuses text Lua would read differently (not printable ASCII)", () => {
    expect(() => requestLua({ method: "POST", body: "caf\u00e9" })).toThrow(/printable ASCII/);
    expect(() => requestLua({ method: "POST", body: "a\nb" })).toThrow(/printable ASCII/);
  });
});
