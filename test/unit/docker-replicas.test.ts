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
      '{{.Label "backend-infra.slot"}}',
    ]);
    expect(dockerPsArgs("n")[0]).toBe("ps");
  });

  it("counts each colour, and none as zero", () => {
    expect(countColours("blue\ngreen\nblue\n\n", "n")).toEqual({ blue: 2, green: 1 });
    expect(countColours("", "n")).toEqual({ blue: 0, green: 0 });
  });

  it("refuses a backend container whose slot label is no colour", () => {
    expect(() => countColours("blue\n\npurple\n", "bi-prod-app")).toThrow(
      'a running backend container on network bi-prod-app has backend-infra.slot="purple", expected blue or green',
    );
    expect(() => countColours("blue\n<no value>\n", "n")).toThrow(/"<no value>"/);
  });
});
