import hre, { network } from "hardhat";
import { expect } from "chai";
import { errorOf } from "../helpers/errors.js";
import { type ContractTransactionReceipt, Interface, type Log, parseEther } from "ethers";

import { coreArtifact } from "../../src/env.js";
import { Finality, RequestState } from "../../src/protocol/state.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { DEFAULT_CREDIT, type SibylTestbed, deploySibyl } from "../../src/testing/index.js";
import { ogToFixed } from "../helpers/opengradient.js";

/**
 * Synchronous inference on Hardhat's in-process network, end to end with real parts: the
 * testing fixture's node (real Iris circuit, real Groth16 proofs and verifier) and the
 * pre-execution layer the plugin's network hook puts in front of the connection. Contracts
 * call the model inside their own transaction: OpenGradient-style contracts (both ABI
 * generations, written only against OpenGradient's interface) and Sibyl's own `infer`.
 */

const connection = await network.create();
const { ethers } = connection;
const sibyl: SibylTestbed = await deploySibyl(hre, connection);
const [deployer, , alice, bob, carol, dave] = await ethers.getSigners();
const quantized = Object.values(sibyl.models)[0].artifacts.quantized;
const FRAC_BITS = quantized.fracBits;

const VANILLA = 0; // OpenGradient's mode: served as a deferred result
const ZK = 1; // served proof-carrying
const TEE = 2;

const precompileEvents = new Interface(coreArtifact("InferencePrecompile").abi as never);
const adapter = new Interface(coreArtifact("OpenGradientAdapter").abi as never);

/** The adapter's conversion of `value · 10^-decimals` to Iris's fixed point. */
const fixedOf = (value: bigint, decimals: bigint) => ogToFixed(value, decimals, FRAC_BITS);

/** What the model answers for centimetres given as value·10^-1. */
function speciesOf(cm: readonly bigint[]): bigint {
  return runQuantized(
    quantized,
    cm.map((v) => fixedOf(v, 1n)),
  ).output[0];
}

/** The precompile's events in a receipt, decoded. */
function eventsOf(receipt: ContractTransactionReceipt | null, name: string) {
  return (receipt?.logs ?? [])
    .filter((l: Log) => l.address.toLowerCase() === sibyl.precompile.target.toString().toLowerCase())
    .map((l: Log) => precompileEvents.parseLog(l))
    .filter((e) => e?.name === name);
}

type Cm = [bigint, bigint, bigint, bigint];
const SETOSA: Cm = [51n, 35n, 14n, 2n];
const VERSICOLOR: Cm = [64n, 32n, 45n, 15n];
const VIRGINICA: Cm = [63n, 33n, 60n, 25n];

/** The layer's latest pre-execution that found synchronous calls. */
function lastPre() {
  const found = [...sibyl.pipe!.history].reverse().find((h) => h.pre);
  if (!found?.pre) throw new Error("the layer pre-executed nothing");
  return found.pre;
}

describe("pipe: synchronous inference in-process (real node, real proofs)", function () {
  after(() => sibyl.close());

  it("the three samples are three different species (the tests below could not pass by a constant)", function () {
    expect(new Set([SETOSA, VERSICOLOR, VIRGINICA].map(speciesOf)).size).to.equal(3);
  });

  describe("a contract written for OpenGradient (current ABI), unmodified", function () {
    it("VANILLA: answered in the call, then an ordinary Answered request the node settles with a proof", async function () {
      const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), VANILLA]);
      const receipt = await (await og.connect(alice).classify(VERSICOLOR, 1)).wait();

      expect(await og.lastSpecies()).to.equal(speciesOf(VERSICOLOR));
      expect(await og.lastDecimals()).to.equal(0n); // a class index
      expect(await og.classifications()).to.equal(1n);
      const [consumed] = eventsOf(receipt, "SyncInferenceConsumed");
      const requestId = consumed!.args.requestId as string;
      expect(consumed!.args.consumer).to.equal(await og.getAddress());
      expect(consumed!.args.origin).to.equal(alice.address);
      expect(consumed!.args.finality).to.equal(BigInt(Finality.Deferred));

      // the trust gap: Answered, backed by the node's stake, until the node's proof lands
      expect(await sibyl.stateOf(requestId)).to.equal(RequestState.Answered);
      expect(await sibyl.precompile.bondBacking(requestId)).to.be.greaterThan(0n);
      expect((await sibyl.precompile.getRequest(requestId)).consumer).to.equal(await og.getAddress());
      expect(await sibyl.precompile.originOf(requestId)).to.equal(alice.address);
      await sibyl.waitSettled(requestId);
      expect(await sibyl.precompile.bondBacking(requestId)).to.equal(0n);
    });

    it("ZK: the proof is verified inside the call; the request is Settled when the transaction is mined", async function () {
      const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), ZK]);
      const receipt = await (await og.connect(alice).classify(VIRGINICA, 1)).wait();

      expect(await og.lastSpecies()).to.equal(speciesOf(VIRGINICA));
      const [settled] = eventsOf(receipt, "InferenceSettled");
      const requestId = settled!.args.requestId as string;
      expect(await sibyl.stateOf(requestId)).to.equal(RequestState.Settled);
      expect(await sibyl.precompile.bondBacking(requestId)).to.equal(0n);
    });

    it("several inferences in one transaction", async function () {
      const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), VANILLA]);
      const receipt = await (await og.connect(bob).classifyTwice(SETOSA, VIRGINICA, 1)).wait();
      const classified = receipt!.logs
        .map((l) => og.interface.parseLog(l))
        .filter((e) => e?.name === "Classified");
      expect(classified.map((e) => e!.args.species)).to.deep.equal([speciesOf(SETOSA), speciesOf(VIRGINICA)]);
      expect(eventsOf(receipt, "SyncInferenceConsumed")).to.have.length(2);
    });

    it("an inference whose input depends on an earlier one's output (a second simulation round)", async function () {
      const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), VANILLA]);
      await (await og.connect(bob).classifyThenScale(VIRGINICA, 1)).wait();
      const first = speciesOf(VIRGINICA);
      const scaled = [VIRGINICA[0] * (1n + first), ...VIRGINICA.slice(1)];
      expect(await og.lastSpecies()).to.equal(speciesOf(scaled));
      const pre = lastPre();
      // round 1 sees the first call (the second repeats it: its input was scaled by a simulated
      // zero), round 2 the dependent call, round 3 finds nothing new
      expect(pre.rounds).to.equal(3);
      expect(pre.calls.map((c) => c.input[0])).to.deep.equal([
        fixedOf(VIRGINICA[0], 1n),
        fixedOf(VIRGINICA[0] * (1n + first), 1n),
      ]);
    });

    it("an inference one call down (a router calls the OpenGradient contract)", async function () {
      const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), VANILLA]);
      const router = await ethers.deployContract("OGRouter");
      const receipt = await (
        await router.connect(carol).classify(await og.getAddress(), VIRGINICA, 1)
      ).wait();
      expect(await og.lastSpecies()).to.equal(speciesOf(VIRGINICA));
      const [consumed] = eventsOf(receipt, "SyncInferenceConsumed");
      expect(consumed!.args.consumer).to.equal(await og.getAddress()); // bound to the contract that calls
      expect(consumed!.args.origin).to.equal(carol.address);
    });

    it("eth_call through the layer returns the node's output and prepares nothing", async function () {
      const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), ZK]);
      const before = await ethers.provider.getBlockNumber();
      expect(await og.connect(dave).classify.staticCall(VIRGINICA, 1)).to.equal(speciesOf(VIRGINICA));
      // (the node may mine settlements of earlier tests meanwhile: look for preparations only)
      const prepared = await sibyl.precompile.queryFilter(
        sibyl.precompile.filters.InferencePrepared(),
        before + 1,
      );
      expect(prepared).to.have.length(0);
    });

    it("eth_estimateGas estimates the real path (proof verification included)", async function () {
      const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), ZK]);
      const estimate = await og.connect(dave).classify.estimateGas(SETOSA, 1);
      const receipt = await (await og.connect(dave).classify(SETOSA, 1, { gasLimit: estimate })).wait();
      expect(receipt!.status).to.equal(1);
      expect(estimate).to.be.at.least(receipt!.gasUsed);
      // a Groth16 verification is ~200k gas: an estimate of the simulated path would be far below
      expect(receipt!.gasUsed).to.be.greaterThan(200_000n);
      expect(estimate).to.be.lessThan((receipt!.gasUsed * 12n) / 10n);
    });

    it("bad input reverts with the adapter's custom error naming the tensor and index", async function () {
      const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), VANILLA]);
      // 10^6 cm is far outside Iris's 24-bit fixed-point input range
      const tx = og.connect(alice).classify([51n, 35n, 10n ** 7n, 2n] as Cm, 1);
      await expect(tx)
        .to.be.revertedWithCustomError({ interface: adapter }, "OpenGradient__InputOutOfRange")
        .withArgs("input", 2n, fixedOf(10n ** 7n, 1n), 24n);
    });

    it("an unknown modelCID reverts with a clear custom error; TEE without an enclave is refused before sending", async function () {
      const unknown = await ethers.deployContract("IrisClassifierOG", ["QmNotAModelOfThisChain", VANILLA]);
      await expect(unknown.connect(alice).classify(SETOSA, 1))
        .to.be.revertedWithCustomError({ interface: adapter }, "OpenGradient__UnknownModelCID")
        .withArgs("QmNotAModelOfThisChain");
      // this testbed's node runs no enclave: it cannot prepare an attested result
      const tee = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), TEE]);
      const before = await ethers.provider.getTransactionCount(alice.address);
      const error = await errorOf(() => tee.connect(alice).classify(SETOSA, 1));
      expect(error.message).to.contain("runs no enclave");
      expect(await ethers.provider.getTransactionCount(alice.address)).to.equal(before);
    });

    it("a model bound under a hard-coded name answers that name", async function () {
      const name = "QmbUqS93oc4JTLMHwpVxsE39mhNxy6hpf6Py3r9oANr8aZ";
      await (await sibyl.registry.connect(deployer).bindName(name, sibyl.modelId())).wait();
      const og = await ethers.deployContract("IrisClassifierOG", [name, VANILLA]);
      await (await og.connect(alice).classify(SETOSA, 1)).wait();
      expect(await og.lastSpecies()).to.equal(speciesOf(SETOSA));
    });
  });

  it("a contract of the earlier generation (ModelOutput without jsons) gets the layout it decodes", async function () {
    const legacy = await ethers.deployContract("IrisClassifierLegacyOG", [sibyl.modelCid(), VANILLA]);
    await (await legacy.connect(alice).classify(VIRGINICA, 1)).wait();
    expect(await legacy.lastSpecies()).to.equal(speciesOf(VIRGINICA));
    const pre = lastPre();
    expect(pre.calls[0].legacyLayout).to.equal(true);
  });

  describe("Sibyl's own synchronous interface", function () {
    for (const finality of [Finality.Deferred, Finality.ProofCarrying]) {
      it(`infer(modelId, input, ${Finality[finality]})`, async function () {
        const classifier = await ethers.deployContract("InstantClassifier", [sibyl.modelId()]);
        const input = sibyl.quantize([6.3, 3.3, 6.0, 2.5]);
        await (await classifier.connect(bob).classify(input, finality)).wait();
        expect(await classifier.lastClass()).to.equal(runQuantized(quantized, input).output[0]);
        const requestId = await classifier.lastRequestId();
        if (finality === Finality.ProofCarrying) {
          expect(await classifier.lastIsFinal()).to.equal(true);
        } else {
          expect(await sibyl.stateOf(requestId)).to.equal(RequestState.Answered);
          await sibyl.waitSettled(requestId);
          expect(await classifier.lastIsFinal()).to.equal(true);
        }
      });
    }
  });

  describe("a mined transaction never sees a simulated result", function () {
    it("with the node down, the transaction reverts Inference__NotPrepared", async function () {
      const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), VANILLA]);
      await sibyl.stopNode();
      try {
        await expect(
          og.connect(alice).classify(SETOSA, 1, { gasLimit: 2_000_000 }),
        ).to.be.revertedWithCustomError(sibyl.precompile, "Inference__NotPrepared");
        expect(await og.classifications()).to.equal(0n);
      } finally {
        await sibyl.startNode();
      }
    });

    it("an origin without credit with the node: refused before anything is prepared, with the precompile's custom error", async function () {
      const [, , , , , , , , , , , stranger] = await ethers.getSigners();
      const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), VANILLA]);
      const node = await sibyl.nodeSigner.getAddress();
      await expect(og.connect(stranger).classify(SETOSA, 1))
        .to.be.revertedWithCustomError(sibyl.precompile, "Inference__InsufficientCredit")
        .withArgs(stranger.address, node, 0n, await sibyl.fee());
      expect(await og.classifications()).to.equal(0n);
    });
  });

  it("a prepared result never consumed expires: the node expires it itself, gets its stake back and the fee the origin paid", async function () {
    const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), VANILLA]);
    const node = await sibyl.nodeSigner.getAddress();
    const lockedBefore = (await sibyl.precompile.nodeOf(node)).locked;
    const creditBefore = await sibyl.precompile.creditOf(alice.address, node);
    await og.connect(alice).classify.estimateGas(VERSICOLOR, 1); // prepares; nothing is sent
    const { requestId } = lastPre().prepared[0];
    const fee = await sibyl.fee();
    expect(await sibyl.stateOf(requestId)).to.equal(RequestState.Prepared);
    expect(await sibyl.precompile.creditOf(alice.address, node)).to.equal(creditBefore - fee);
    expect((await sibyl.precompile.nodeOf(node)).locked).to.be.greaterThan(lockedBefore);
    const pendingBefore = await sibyl.precompile.pendingWithdrawal(node);

    await connection.networkHelpers.time.increase(Number(await sibyl.precompile.answerWindow()) + 1);
    expect(await sibyl.waitFinal(requestId)).to.equal(RequestState.Expired);
    const [expired] = await sibyl.precompile.queryFilter(
      sibyl.precompile.filters.InferenceExpired(requestId),
    );
    expect((await expired.getTransaction()).from).to.equal(node); // the node did it
    expect((await sibyl.precompile.nodeOf(node)).locked).to.equal(lockedBefore);
    expect(await sibyl.precompile.pendingWithdrawal(node)).to.equal(pendingBefore + fee);
  });

  it("concurrent transactions from several accounts each get their own result", async function () {
    const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), VANILLA]);
    const senders = [alice, bob, carol, dave];
    const samples = [SETOSA, VERSICOLOR, VIRGINICA, VERSICOLOR];
    const receipts = await Promise.all(
      senders.map(async (s, i) => (await og.connect(s).classify(samples[i], 1)).wait()),
    );
    for (const [i, receipt] of receipts.entries()) {
      const [ev] = receipt!.logs.map((l) => og.interface.parseLog(l)).filter((e) => e?.name === "Classified");
      expect(ev!.args.caller).to.equal(senders[i].address);
      expect(ev!.args.species).to.equal(speciesOf(samples[i]));
    }
    expect(await og.classifications()).to.equal(4n);
  });

  it("the fixture gave each test account credit with the node", async function () {
    expect(
      await sibyl.precompile.creditOf(deployer.address, await sibyl.nodeSigner.getAddress()),
    ).to.be.greaterThan(DEFAULT_CREDIT - parseEther("0.05"));
  });
});
