import { expect } from "chai";
import hre, { network } from "hardhat";
import { keccak256 } from "ethers";

import { modelConfig, modelIdFor, termsOf, verifierRuntimeCode } from "../../src/chain/models.js";
import { type SibylStack, buildModels, setUpStack, startNode } from "../../src/chain/stack.js";
import { requestInference } from "../../src/client/client.js";
import { ChainError } from "../../src/errors.js";
import { sibylEnv } from "../../src/env.js";
import { silentLogger } from "../../src/log.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { checkedModelId } from "../../src/chain/registration.js";
import { RequestState } from "../../src/node/node.js";
import { NodeTracker } from "../../src/node/tracker.js";
import { installPrecompile } from "../../src/chain/install.js";
import { releaseProverThreads } from "../../src/zk/prover.js";
import { IRIS_MODEL_PATH, buildProgress } from "../helpers/models.js";

const connection = await network.create();
const { ethers } = connection;
const env = await sibylEnv(hre, connection);

/**
 * Issue 7, finding 1, end to end with the real Iris build and real proofs: an attacker
 * registers Iris (same model, same terms) with a verifier it controls *before* the honest
 * owner. On main before the fix, the honest setUpStack adopted the attacker's entry, the
 * node's real proof was refused and the attacker slashed it. Now the attacker only gets an
 * id of its own, which the node and the CLI refuse to use.
 */
describe("attack: model-id squatting, end to end with the real Iris verifier", function () {
  let stack: SibylStack;
  let attackerId: string;

  before(async function () {
    const [, , attacker] = await ethers.getSigners();
    const [artifacts] = await buildModels(env, [IRIS_MODEL_PATH], silentLogger);
    const { registry } = await installPrecompile(env);
    // the attacker registers Iris's exact config and terms, but with a verifier it controls
    const mock = await env.artifacts.readArtifact("MockVerifier");
    const config = modelConfig(artifacts, termsOf());
    await (await registry.connect(attacker).register(config, mock.deployedBytecode, "iris")).wait();
    attackerId = modelIdFor(attacker.address, keccak256(mock.deployedBytecode), config);
    const attackerVerifier = await ethers.getContractAt(
      "MockVerifier",
      (await registry.getModel(attackerId)).verifier,
    );
    await (await attackerVerifier.setResult(false)).wait(); // rejects every proof, honest ones too

    stack = await setUpStack(env, { modelPaths: [IRIS_MODEL_PATH], log: buildProgress });
  });

  after(releaseProverThreads);

  it("the honest owner's registration is its own: another id, the real verifier's code", async function () {
    const [owner] = await ethers.getSigners();
    const iris = stack.models.iris;
    expect(iris.registration.created).to.equal(true);
    expect(iris.modelId).to.not.equal(attackerId);
    const code = await verifierRuntimeCode(env, iris.artifacts);
    expect(iris.modelId).to.equal(
      modelIdFor(owner.address, keccak256(code), modelConfig(iris.artifacts, termsOf())),
    );
    expect(keccak256(await ethers.provider.getCode(iris.verifier))).to.equal(keccak256(code));
  });

  it("a request to the honest id is answered and settled with a real proof; the node loses nothing", async function () {
    const [requester, nodeSigner] = await ethers.getSigners();
    const node = await startNode(stack, { signer: nodeSigner, pollMs: 20, log: silentLogger });
    const tracker = new NodeTracker(node);
    try {
      const bondBefore = (await stack.precompile.nodeOf(nodeSigner.address)).bond;
      const input = quantizeInput(stack.models.iris.artifacts.quantized, [6.3, 3.3, 6.0, 2.5]);
      const { requestId } = await requestInference(
        stack.precompile.connect(requester),
        stack.models.iris.modelId,
        input,
      );
      await tracker.waitSettled(requestId);
      expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Settled);
      const after = await stack.precompile.nodeOf(nodeSigner.address);
      expect([after.bond, after.locked]).to.deep.equal([bondBefore, 0n]);
    } finally {
      await node.stop();
    }
  });

  it("the node and the CLI refuse the attacker's id, naming the verifier code", async function () {
    const artifacts = stack.models.iris.artifacts;
    const refusal = await checkedModelId(env, stack.registry, artifacts, attackerId).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refusal).to.be.instanceOf(ChainError);
    expect((refusal as Error).message).to.contain(
      `model id ${attackerId} does not match the local build of iris`,
    );
    expect((refusal as Error).message).to.contain("verifier code");
    expect((refusal as Error).message).to.contain("sibyl:verify-model");
  });

  it("the honest id is what checkedModelId finds by default (the id registerModel recorded)", async function () {
    const artifacts = stack.models.iris.artifacts;
    expect(await checkedModelId(env, stack.registry, artifacts)).to.equal(stack.models.iris.modelId);
  });
});
