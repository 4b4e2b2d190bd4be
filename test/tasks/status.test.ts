import { expect } from "chai";
import hre from "hardhat";
import { keccak256, toUtf8Bytes } from "ethers";

import type { Deployed } from "../../src/chain/deploy.js";
import type { RegisteredModel } from "../../src/chain/models.js";
import { requestInference } from "../../src/client/client.js";
import type { RequestStatus } from "../../src/client/status.js";
import { ChainError, SibylError } from "../../src/errors.js";
import { RequestState } from "../../src/protocol/state.js";
import { taskErrorOf } from "../helpers/errors.js";
import { IRIS_MODEL_PATH, builtModel } from "../helpers/models.js";

/** sibyl:status fails (a non-zero exit) on an id the precompile does not know, and explains one it does. */
const connection = await hre.network.getOrCreate(); // the one tasks run on

describe("sibyl:status", function () {
  let deployed: Deployed;
  let modelId: string;

  const status = (id: string) => hre.tasks.getTask("sibyl:status").run({ id });

  before(async function () {
    const snapshot = await connection.networkHelpers.takeSnapshot();
    after(() => snapshot.restore());
    await builtModel(IRIS_MODEL_PATH);
    deployed = (await hre.tasks.getTask("sibyl:deploy").run({})) as Deployed;
    ({ modelId } = (await hre.tasks
      .getTask("sibyl:register")
      .run({ model: IRIS_MODEL_PATH })) as RegisteredModel);
  });

  it("fails on an unknown request id, naming the precompile and the network", async function () {
    const unknown = keccak256(toUtf8Bytes("no such request"));
    const error = await taskErrorOf(() => status(unknown));
    expect(error).to.be.instanceOf(ChainError);
    expect(error.message).to.contain(`request ${unknown} is unknown to the precompile`);
    expect(error.message).to.contain(`on network "${connection.networkName}"`);
    expect(error.hint).to.contain("--network");
  });

  it("refuses an id that is not 32 bytes of hex, and a missing one", async function () {
    const bad = await taskErrorOf(() => status("0x1234"));
    expect(bad).to.be.instanceOf(SibylError);
    expect(bad.message).to.contain("--id must be a request id");
    const missing = await taskErrorOf(() => hre.tasks.getTask("sibyl:status").run({}));
    expect(missing.message).to.contain("--id is required");
  });

  it("explains a request it knows and returns its status", async function () {
    const [, requester] = await connection.ethers.getSigners();
    const { requestId } = await requestInference(deployed.precompile.connect(requester), modelId, [
      1613n,
      845n,
      1536n,
      640n,
    ]);
    const result = (await status(requestId)) as RequestStatus;
    expect(result.requestId).to.equal(requestId);
    expect(result.state).to.equal(RequestState.Requested);
    expect(result.modelId).to.equal(modelId);
    expect(result.lines.join("\n")).to.contain(requestId);
  });
});
