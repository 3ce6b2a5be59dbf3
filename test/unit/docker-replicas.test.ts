import { describe, expect, it } from "vitest";
import { countColours, dockerPsArgs } from "../../tools/docker-replicas";

describe("counting running backend replicas from docker ps", () => {
  it("asks for running backend containers on the app network, one colour per line", () => {
    expect(dockerPsArgs("bi-prod-app", "ssh://deploy@host")).toEqual([
      "-H",
      "ssh://deploy@host",
      "ps",
      "--filter",
      "label=backend-infra.role=backend",
      "--filter",
      "network=bi-prod-app",
      "--filter",
      "status=running",
      "--format",
      '{{.Label "backend-infra.slot"}}/{{.Label "backend-infra.replica"}}',
    ]);
    expect(dockerPsArgs("n")[0]).toBe("ps");
  });

  it("counts each colour's distinct replicas, and none as zero", () => {
    expect(countColours("blue/1\ngreen/1\nblue/2\n\n", "n")).toEqual({ blue: 2, green: 1 });
    // a replaced container whose delete is still pending runs next to its successor
    expect(countColours("green/1\ngreen/2\ngreen/1\n", "n")).toEqual({ blue: 0, green: 2 });
    expect(countColours("", "n")).toEqual({ blue: 0, green: 0 });
  });

  it("refuses a backend container whose labels are no colour and replica", () => {
    expect(() => countColours("blue/1\n\npurple/2\n", "bi-prod-app")).toThrow(
      'a running backend container on network bi-prod-app has labels backend-infra.slot/backend-infra.replica = "purple/2", expected blue or green and a replica number',
    );
    expect(() => countColours("blue/1\n/\n", "n")).toThrow(/= "\/"/);
    expect(() => countColours("green/\n", "n")).toThrow(/= "green\/"/);
  });
});
