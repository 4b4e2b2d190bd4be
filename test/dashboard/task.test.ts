import { expect } from "chai";
import hre from "hardhat";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { sibylEnv } from "../../src/env.js";
import { ChainError, SibylError } from "../../src/errors.js";
import { openDashboard } from "../../src/tasks/dashboard.js";
import { RecordingLogger } from "../helpers/recording-logger.js";
import { taskErrorOf } from "../helpers/errors.js";

/**
 * `sibyl:dashboard` on the network tasks run on: a clear error when Sibyl is not installed there
 * or an option is wrong, and, when it is, the page served where the task says. (The task then
 * waits for Ctrl-C; `openDashboard` is everything before that wait.)
 */
const connection = await hre.network.getOrCreate(); // the one tasks run on

describe("sibyl:dashboard", function () {
  this.timeout(120_000);
  const dashboard = (args: Record<string, unknown>) =>
    hre.tasks.getTask("sibyl:dashboard").run({ port: 0, ...args });

  it("fails with what to do when no Sibyl precompile is on the network", async function () {
    const snapshot = await connection.networkHelpers.takeSnapshot();
    try {
      await connection.provider.request({ method: "hardhat_setCode", params: [INFERENCE_ADDRESS, "0x"] });
      const error = await taskErrorOf(() => dashboard({}));
      expect(error).to.be.instanceOf(ChainError);
      expect(error.message).to.contain(`no Sibyl precompile at ${INFERENCE_ADDRESS}`);
      expect(error.hint).to.contain("--network");
    } finally {
      await snapshot.restore();
    }
  });

  it("refuses a --from-block that is not a block number", async function () {
    const error = await taskErrorOf(() => dashboard({ fromBlock: "latest" }));
    expect(error).to.be.instanceOf(SibylError);
    expect(error.message).to.contain('--from-block must be an integer, got "latest"');
  });

  it("serves the page for the installation on the network and says where", async function () {
    const snapshot = await connection.networkHelpers.takeSnapshot();
    const log = new RecordingLogger();
    try {
      await hre.tasks.getTask("sibyl:deploy").run({});
      const env = await sibylEnv(hre);
      const opened = await openDashboard(env, { port: 0, host: "127.0.0.1", pollMs: 100 }, log);
      try {
        const res = await fetch(`${opened.url}api/state`);
        const state = (await res.json()) as { precompile: string; rpc: { ok: boolean } };
        expect(state.precompile).to.equal(INFERENCE_ADDRESS);
        expect(state.rpc.ok).to.equal(true);
        expect(log.messages("info").join("\n")).to.contain(`Sibyl dashboard on ${opened.url}`);
      } finally {
        await opened.close();
      }
    } finally {
      await snapshot.restore();
    }
  });
});
