import { expect } from "chai";
import hre, { network } from "hardhat";

import { connectSibyl, IN_PROCESS_HINT } from "../../src/chain/connect.js";
import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { coreArtifact, sibylEnv } from "../../src/env.js";
import { ChainError } from "../../src/errors.js";
import { errorOf, taskErrorOf } from "../helpers/errors.js";
import { builtModel, IRIS_MODEL_PATH } from "../helpers/models.js";

/**
 * A command without --network runs on the in-process network, a fresh empty chain each time:
 * connecting to Sibyl there says so and how to keep a chain between commands, instead of
 * suggesting a deploy that would vanish with its command.
 */
const connection = await network.create();
const env = await sibylEnv(hre, connection);

async function connectError(e = env): Promise<ChainError> {
  const error = await errorOf(() => connectSibyl(e));
  expect(error).to.be.instanceOf(ChainError);
  return error as ChainError;
}

describe("connectSibyl where nothing is installed", function () {
  it("on the in-process network: a fresh chain per command; use npx hardhat node and --network localhost", async function () {
    expect(env.inProcess).to.equal(true);
    const error = await connectError();
    expect(error.message).to.contain(`no Sibyl precompile at ${INFERENCE_ADDRESS} on the in-process network`);
    expect(error.hint).to.equal(IN_PROCESS_HINT);
    expect(error.hint).to.contain("is a fresh, empty chain for each command");
    expect(error.hint).to.contain("`npx hardhat node` in another terminal");
    expect(error.hint).to.contain(
      "pass --network localhost to sibyl:deploy, sibyl:register, sibyl:node and this command",
    );
    expect(error.message).to.not.contain("--network default");
  });

  it("on the in-process network with the code but no initialisation: the same advice", async function () {
    const snapshot = await connection.networkHelpers.takeSnapshot();
    try {
      await connection.ethers.provider.send("hardhat_setCode", [
        INFERENCE_ADDRESS,
        coreArtifact("InferencePrecompile").deployedBytecode,
      ]);
      const error = await connectError();
      expect(error.message).to.contain("is not initialised");
      expect(error.hint).to.equal(IN_PROCESS_HINT);
    } finally {
      await snapshot.restore();
    }
  });

  it("on a network that persists (e.g. localhost): deploy there", async function () {
    const error = await connectError({ ...env, inProcess: false, networkName: "localhost" });
    expect(error.message).to.contain(`no Sibyl precompile at ${INFERENCE_ADDRESS} on network "localhost"`);
    expect(error.hint).to.equal("install it first: npx hardhat sibyl:deploy --network localhost");
  });

  it("sibyl:infer without --network fails with that advice", async function () {
    const shared = await hre.network.getOrCreate(); // the connection tasks run on
    const snapshot = await shared.networkHelpers.takeSnapshot();
    try {
      await builtModel(IRIS_MODEL_PATH);
      await shared.ethers.provider.send("hardhat_setCode", [INFERENCE_ADDRESS, "0x"]); // as a new command finds it
      const error = await taskErrorOf(() =>
        hre.tasks.getTask("sibyl:infer").run({ model: IRIS_MODEL_PATH, input: "6.3,3.3,6.0,2.5" }),
      );
      expect(error).to.be.instanceOf(ChainError);
      expect(error.message).to.contain("on the in-process network");
      expect(error.hint).to.equal(IN_PROCESS_HINT);
    } finally {
      await snapshot.restore();
    }
  });
});
