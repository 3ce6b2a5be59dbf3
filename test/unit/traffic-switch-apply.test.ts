/**
 * applySwitch against a scripted runtime API: the paths a real HAProxy rarely takes (a rejected
 * command in the middle of a batch), which the L5 test cannot provoke.
 */
import { describe, expect, it } from "vitest";
import { planSwitch } from "../../lib/haproxy-runtime";
import { applySwitch, EXIT, main, parseCli, status, type RuntimeTransport } from "../../tools/traffic-switch";

const HEADER =
  "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight " +
  "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state " +
  "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl " +
  "srv_check_port srv_check_addr srv_agent_addr srv_agent_port";

/** A runtime API over `weights`; a `set server` for a name in `reject` fails like HAProxy's. */
function fakeHaproxy(weights: Record<string, number>, reject: Set<string>) {
  const sent: string[] = [];
  const names = Object.keys(weights);
  const transport: RuntimeTransport = {
    description: "fake",
    send: (line) => {
      sent.push(line);
      if (line.startsWith("show servers state")) {
        const rows = names.map(
          (n, i) =>
            `3 app ${i + 1} ${n} 10.0.0.${i + 2} 2 0 ${weights[n]} 1 12 15 3 4 6 0 0 0 - 4000 - 0 0 - - 0`,
        );
        return Promise.resolve(["1", HEADER, ...rows, ""].join("\n"));
      }
      if (line === "show stat") {
        const rows = names.map((n) => `app,${n},5,UP,${weights[n]},L7OK,5,5`);
        return Promise.resolve(
          ["# pxname,svname,stot,status,weight,check_status,lbtot,hrsp_2xx", ...rows, ""].join("\n"),
        );
      }
      let answer = "";
      for (const command of line.split("; ")) {
        const match = /^set server app\/(\w+) weight (\d+)$/.exec(command);
        if (!match) throw new Error(`unexpected command ${command}`);
        if (reject.has(match[1])) answer += "No such server.\n";
        else weights[match[1]] = Number(match[2]);
      }
      return Promise.resolve(answer);
    },
    writeFile: () => Promise.resolve(),
    shell: () => Promise.reject(new Error("no shell: these cases persist nothing, so take no lock")),
  };
  return { transport, sent };
}

const toGreen = { target: { active: "green" as const, canaryPercent: 0 }, waitHealthySeconds: 0 };

describe("applySwitch when HAProxy rejects part of a batch", () => {
  it("sends the raises first: a rejected raise never lowers the other colour, and is undone", async () => {
    const weights = { blue1: 256, blue2: 256, green1: 0, green2: 0 };
    const { transport, sent } = fakeHaproxy(weights, new Set(["green2"]));
    await expect(applySwitch(transport, toGreen)).rejects.toThrow(
      "HAProxy rejected a weight change: No such server. (commands: set server app/green1 weight 256; " +
        "set server app/green2 weight 256); the weights were put back as they were (green1=0)",
    );
    expect(weights).toEqual({ blue1: 256, blue2: 256, green1: 0, green2: 0 });
    expect(sent.filter((line) => line.includes("app/blue"))).toEqual([]); // blue never lowered
  });

  it("a rejected lower is undone too, raising before lowering", async () => {
    const weights = { blue1: 256, blue2: 256, green1: 0, green2: 0 };
    const { transport, sent } = fakeHaproxy(weights, new Set(["blue2"]));
    await expect(applySwitch(transport, toGreen)).rejects.toThrow(
      /; the weights were put back as they were \(blue1=256, green1=0, green2=0\)$/,
    );
    expect(weights).toEqual({ blue1: 256, blue2: 256, green1: 0, green2: 0 });
    expect(sent.at(-1)).toBe(
      "set server app/blue1 weight 256; set server app/green1 weight 0; set server app/green2 weight 0",
    );
  });

  it("leaves alone a server another writer changed meanwhile", async () => {
    const weights = { blue1: 256, blue2: 256, green1: 0, green2: 0 };
    const reject = new Set(["blue2"]);
    const { transport } = fakeHaproxy(weights, reject);
    const original = transport.send.bind(transport);
    transport.send = async (line) => {
      const answer = await original(line);
      if (line.includes("app/blue1 weight 0")) weights.green2 = 7; // someone else's change
      return answer;
    };
    await expect(applySwitch(transport, toGreen)).rejects.toThrow(
      /put back as they were \(blue1=256, green1=0\)$/,
    );
    expect(weights.green2).toBe(7);
  });

  it("undoes the raises when sending the lowers fails, and says when putting back fails too", async () => {
    const weights = { blue1: 256, blue2: 256, green1: 0, green2: 0 };
    const { transport } = fakeHaproxy(weights, new Set());
    const original = transport.send.bind(transport);
    transport.send = (line) =>
      line.includes("weight 0") && line.includes("app/blue")
        ? Promise.reject(new Error("docker exec into edge did not finish within 30000 ms"))
        : original(line);
    await expect(applySwitch(transport, toGreen)).rejects.toThrow(
      "sending the weights failed: docker exec into edge did not finish within 30000 ms; " +
        "the weights were put back as they were (green1=0, green2=0)",
    );
    expect(weights).toEqual({ blue1: 256, blue2: 256, green1: 0, green2: 0 });

    const reject = new Set(["green2"]);
    const again = fakeHaproxy({ blue1: 256, blue2: 256, green1: 0, green2: 0 }, reject);
    const send = again.transport.send.bind(again.transport);
    let batches = 0;
    again.transport.send = (line) => {
      // the first batch is rejected at green2; the restore batch (the second) at green1
      if (line.startsWith("set server") && ++batches === 2) reject.add("green1");
      return send(line);
    };
    await expect(applySwitch(again.transport, toGreen)).rejects.toThrow(
      /; putting the weights back failed too: No such server\.$/,
    );
  });
});

describe("backend and server names never split a runtime API command line", () => {
  const hostile = ["app;disable server app/blue1", "app\nshutdown sessions server app/blue1", "app app", ""];

  it("--backend with `;`, a newline or a blank is a usage error, before any command is built", () => {
    for (const backend of hostile) {
      expect(() => parseCli(["status", "--backend", backend, "--socket", "/nonexistent.sock"])).toThrow(
        /^--backend: expected an HAProxy backend name \(1-64 letters, digits, "-", "_", ".", ":"\), got "/,
      );
    }
    expect(() =>
      parseCli(["status", "--backend", "app-2.x:y_z", "--socket", "/nonexistent.sock"]),
    ).not.toThrow();
  });

  it("the CLI exits 2 (usage) and sends nothing", async () => {
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => stderr.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      const code = await main([
        "apply",
        "--active",
        "green",
        "--no-persist",
        "--backend",
        "app;help",
        "--tcp",
        "127.0.0.1:1",
      ]);
      expect(code).toBe(EXIT.usage);
    } finally {
      process.stderr.write = write;
    }
    expect(stderr.join("")).toContain("--backend: expected an HAProxy backend name");
  });

  it("applySwitch and status refuse such a name given through the API, with nothing sent", async () => {
    const { transport, sent } = fakeHaproxy({ blue1: 256, green1: 0 }, new Set());
    for (const backend of hostile) {
      await expect(applySwitch(transport, { ...toGreen, backend })).rejects.toThrow(/is not an HAProxy name/);
      await expect(status(transport, backend)).rejects.toThrow(/is not an HAProxy name/);
    }
    expect(sent).toEqual([]);
  });

  it("server names: one from the runtime API that is no colour slot never reaches a command; planSwitch refuses any other", async () => {
    const { transport, sent } = fakeHaproxy({ blue1: 256, green1: 0, "green2;shutdown": 0 }, new Set());
    await applySwitch(transport, toGreen);
    const commands = sent.filter((line) => line.startsWith("set server")).flatMap((line) => line.split("; "));
    expect(commands.length).toBeGreaterThan(0);
    for (const command of commands) expect(command).toMatch(/^set server app\/(blue|green)\d+ weight \d+$/);

    const server = (name: string, colour: "blue" | "green", weight: number) => ({
      state: {
        backend: "app",
        name,
        colour,
        address: "10.0.0.2",
        opState: 2,
        adminState: 0,
        weight,
        initialWeight: 1,
        present: true,
      },
      stat: {
        backend: "app",
        name,
        colour,
        status: "UP",
        checkStatus: "L7OK",
        weight,
        sessionsTotal: 5,
        selected: 5,
        responses: { "1xx": 0, "2xx": 5, "3xx": 0, "4xx": 0, "5xx": 0, other: 0 },
      },
    });
    const list = [server("blue1", "blue", 256), server("green1\nshutdown sessions", "green", 0)];
    expect(() =>
      planSwitch({
        target: toGreen.target,
        servers: list.map((s) => s.state),
        stats: list.map((s) => s.stat),
      }),
    ).toThrow('server "green1\\nshutdown sessions" is not an HAProxy name');
  });
});
