import { expect } from "chai";
import hre, { network } from "hardhat";
import { join } from "node:path";

import { type SibylStack, setUpStack, startNode } from "../../src/chain/stack.js";
import { requestInference } from "../../src/client/client.js";
import { sibylEnv } from "../../src/env.js";
import { silentLogger } from "../../src/log.js";
import { buildProgress } from "../helpers/models.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { loadModelFile } from "../../src/model/schema.js";
import { RequestState } from "../../src/node/node.js";
import { NodeTracker } from "../../src/node/tracker.js";
import { PROJECT_ROOT } from "../../src/paths.js";
import { heldOut } from "../../src/pipeline/accuracy.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { releaseProverThreads } from "../../src/zk/prover.js";

const connection = await network.create();
const { ethers } = connection;
const env = await sibylEnv(hre, connection);

const MNIST_PATH = join(PROJECT_ROOT, "models", "mnist", "model.json");

describe("end to end: the MNIST model is proved and settled on-chain", function () {
  let stack: SibylStack;

  before(async function () {
    stack = await setUpStack(env, { modelPaths: [MNIST_PATH], log: buildProgress });
  });

  after(releaseProverThreads);

  it("answers held-out digits with the runtime's class and settles each within 450k gas", async function () {
    const { modelId, artifacts } = stack.models.mnist;
    const q = artifacts.quantized;
    const digits = heldOut(loadModelFile(MNIST_PATH), "mnist", "test");
    const signers = await ethers.getSigners();
    const node = await startNode(stack, { signer: signers[15], pollMs: 20, log: silentLogger });
    const tracker = new NodeTracker(node);
    const fee = (await stack.registry.getModel(modelId)).config.fee;
    try {
      for (const k of [0, 1, 2]) {
        const input = quantizeInput(q, digits.inputs[k]);
        const expected = runQuantized(q, input).output;
        const { requestId } = await requestInference(stack.precompile.connect(signers[16]), modelId, input, {
          fee,
        });
        const answered = await tracker.waitAnswered(requestId);
        expect(answered.output).to.deep.equal(expected);
        const settled = await tracker.waitSettled(requestId);
        expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Settled);
        expect(await stack.precompile.outputOf(requestId)).to.deep.equal(expected);
        // 196 pixels packed 25 per public signal: 10 signals in all
        expect(settled.gasUsed).to.be.at.most(450_000n);
      }
    } finally {
      await node.stop();
    }
    expect(artifacts.publicSignals).to.equal(10);
  });
});
