/**
 * applySwitch against a scripted runtime API: the paths a real HAProxy rarely takes (a rejected
 * command in the middle of a batch), which the L5 test cannot provoke.
 */
import { describe, expect, it } from "vitest";
import { applySwitch, type RuntimeTransport } from "../../tools/traffic-switch";

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
