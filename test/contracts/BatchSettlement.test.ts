import hre, { network } from "hardhat";
import { expect } from "chai";
import { parseEther } from "ethers";

import { batchPublicSignals, type BatchEntry, sortForBatch } from "../../src/circuit/batch.js";
import { registerBatchVerifier } from "../../src/chain/batch.js";
import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { registerModel } from "../../src/chain/models.js";
import { type BatchArtifacts, buildBatch } from "../../src/pipeline/buildBatch.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { type SibylTestbed, deploySibyl } from "../../src/testing/index.js";
import { proveBatch } from "../../src/pipeline/batchProver.js";
import { circuitInputFor } from "../../src/circuit/inputs.js";
import { SnarkjsProver, releaseProverThreads, toSolidityProof } from "../../src/zk/prover.js";
import { errorOf } from "../helpers/errors.js";
import { buildProgress } from "../helpers/models.js";
import { Hook, State } from "./fixtures.js";

/**
 * Batch settlement with the real Iris model, its real batch circuit for 4 and real Groth16
 * proofs: one proof settles up to four answered requests, each exactly as `settle` would;
 * every malformed batch is refused with its custom error and changes nothing.
 */
describe("InferencePrecompile.settleBatch (real Iris batch circuit, k = 4, real proofs)", function () {
  this.timeout(600_000);
  const K = 4;
  let bed: SibylTestbed;
  let batch: BatchArtifacts;
  let modelId: string;

  before(async function () {
    bed = await deploySibyl(hre, await network.create(), { node: false, credit: 0n });
    modelId = bed.modelId();
    // the node answers by hand here: it only needs its bond
    await (await bed.precompile.connect(bed.nodeSigner).registerNode({ value: parseEther("100") })).wait();
    batch = (await buildBatch("iris", K, { log: buildProgress })).artifacts;
    await registerBatchVerifier(bed.registry, modelId, batch);
  });
  after(async () => {
    await bed.close();
    await releaseProverThreads();
  });

  const quantized = () => batch.model.quantized;
  const inputOf = (seed: number) =>
    bed.quantize([4.5 + seed * 0.4, 3.0 - seed * 0.1, 1.5 + seed * 0.9, 0.2 + seed * 0.3]);

  /** A request from the deployer EOA answered honestly (the runtime's output) by the node. */
  async function answered(seed: number): Promise<BatchEntry> {
    const input = inputOf(seed);
    const requestId = await bed.request(input);
    const output = runQuantized(quantized(), input).output;
    await bed.answerWithoutProof(requestId, output);
    return { requestId, input, output };
  }

  async function snapshot(ids: readonly string[]) {
    const node = await bed.nodeSigner.getAddress();
    return {
      states: await Promise.all(ids.map((id) => bed.stateOf(id))),
      pending: await bed.precompile.pendingWithdrawal(node),
      locked: await bed.precompile.outstandingOf(node),
    };
  }

  async function settle(entries: readonly BatchEntry[], ids?: readonly string[], k = K) {
    const proof = await proveBatch(batch, entries);
    return bed.precompile.settleBatch(
      modelId,
      k,
      ids ? [...ids] : proof.requestIds,
      toSolidityProof(proof.proof) as never,
    );
  }

  it("builds its public signals exactly as the TypeScript circuit input does (one compact signal per request)", async function () {
    expect(batch.layout.compact).to.equal(true);
    const entries = [await answered(1), await answered(2)];
    const ids = sortForBatch(entries.map((e) => e.requestId));
    const ordered = ids.map((id) => entries.find((e) => e.requestId === id) as BatchEntry);
    const onChain = await bed.precompile.batchSignalsOf(modelId, K, ids);
    expect([...onChain]).to.deep.equal(batchPublicSignals(quantized(), K, ordered));
    expect(onChain.slice(2)).to.deep.equal([0n, 0n]);
  });

  it("settles a full batch: every request Settled, one InferenceSettled each, stakes unlocked and fees credited once", async function () {
    const entries = [await answered(3), await answered(4), await answered(5), await answered(6)];
    const ids = entries.map((e) => e.requestId);
    const before = await snapshot(ids);
    const fees = (await Promise.all(ids.map((id) => bed.precompile.getRequest(id)))).reduce(
      (sum, r) => ({ fee: sum.fee + r.fee, stake: sum.stake + r.stake }),
      { fee: 0n, stake: 0n },
    );
    const tx = settle(entries);
    await expect(tx).to.emit(bed.precompile, "BatchSettled");
    const receipt = await (await tx).wait();
    const settledEvents = receipt!.logs
      .map((l) => bed.precompile.interface.parseLog(l))
      .filter((e) => e?.name === "InferenceSettled");
    expect(settledEvents.map((e) => e!.args.requestId)).to.have.members(ids);
    const after = await snapshot(ids);
    expect(after.states).to.deep.equal(ids.map(() => State.Settled));
    expect(after.pending - before.pending).to.equal(fees.fee);
    expect(before.locked - after.locked).to.equal(fees.stake);
    for (const e of entries) expect(await bed.precompile.outputOf(e.requestId)).to.deep.equal(e.output);
  });

  it("settles a partial batch (two requests, two padding slots) and calls each consumer's onInferenceSettled with its output", async function () {
    const recording = await bed.env.ethers.deployContract("RecordingConsumer", [INFERENCE_ADDRESS]);
    const fee = await bed.fee(300_000);
    const entries: BatchEntry[] = [];
    for (const seed of [7, 8]) {
      const input = inputOf(seed);
      const receipt = await (
        await recording.makeRequest(modelId, [...input], 300_000, { value: fee })
      ).wait();
      const requestId = bed.requestIdOf(receipt);
      const output = runQuantized(quantized(), input).output;
      await bed.answerWithoutProof(requestId, output);
      entries.push({ requestId, input, output });
    }
    await (await settle(entries)).wait();
    const calls = await Promise.all(
      Array.from({ length: Number(await recording.callCount()) }, (_, i) => recording.callAt(i)),
    );
    for (const e of entries) {
      expect(await bed.stateOf(e.requestId)).to.equal(State.Settled);
      const settled = calls.filter((c) => c.requestId === e.requestId && Number(c.hook) === Hook.Settled);
      expect(settled).to.have.length(1);
      expect([...settled[0].output]).to.deep.equal(e.output);
      // the hook already sees the request settled, as after `settle`
      expect(Number(settled[0].stateSeen)).to.equal(State.Settled);
    }
  });

  it("a single request still settles alone with `settle`, next to batches", async function () {
    const entry = await answered(9);
    const single = await new SnarkjsProver(batch.model.wasmPath, batch.model.zkeyPath).prove(
      circuitInputFor(quantized(), entry.requestId, entry.input, entry.output),
    );
    await expect(bed.precompile.settle(entry.requestId, toSolidityProof(single.proof) as never))
      .to.emit(bed.precompile, "InferenceSettled")
      .withArgs(
        entry.requestId,
        await bed.nodeSigner.getAddress(),
        await bed.env.ethers.provider.getSigner(0).then((s) => s.getAddress()),
        true,
      );
    expect(await bed.stateOf(entry.requestId)).to.equal(State.Settled);
  });

  describe("refusals: the whole batch reverts with the custom error and nothing changes", function () {
    it("a batch containing an already-settled request: Inference__WrongState", async function () {
      const done = await answered(10);
      await (await settle([done])).wait();
      const fresh = await answered(11);
      const ids = sortForBatch([done.requestId, fresh.requestId]);
      const before = await snapshot(ids);
      const proof = await proveBatch(batch, [fresh]);
      await expect(bed.precompile.settleBatch(modelId, K, ids, toSolidityProof(proof.proof) as never))
        .to.be.revertedWithCustomError(bed.precompile, "Inference__WrongState")
        .withArgs(done.requestId, State.Settled, State.Answered);
      expect(await snapshot(ids)).to.deep.equal(before);
    });

    it("a batch containing a slashed request: Inference__WrongState", async function () {
      const slashed = await answered(12);
      const fresh = await answered(13);
      await bed.passSettlementWindow(slashed.requestId);
      await bed.slash(slashed.requestId);
      const fresh2 = await answered(14);
      const ids = sortForBatch([slashed.requestId, fresh2.requestId]);
      const before = await snapshot(ids);
      const proof = await proveBatch(batch, [slashed, fresh2]);
      await expect(bed.precompile.settleBatch(modelId, K, ids, toSolidityProof(proof.proof) as never))
        .to.be.revertedWithCustomError(bed.precompile, "Inference__WrongState")
        .withArgs(slashed.requestId, State.Slashed, State.Answered);
      expect(await snapshot(ids)).to.deep.equal(before);
      // the request that waited past its deadline too can only be slashed now
      await expect(settle([fresh]))
        .to.be.revertedWithCustomError(bed.precompile, "Inference__DeadlinePassed")
        .withArgs(fresh.requestId, await bed.precompile.settlementDeadline(fresh.requestId));
    });

    it("a batch containing a request of another model: Inference__WrongModel", async function () {
      const other = await registerModel(bed.env, bed.registry, batch.model, { fee: parseEther("0.002") });
      const input = inputOf(15);
      const fee = await bed.registry.feeFor(other.modelId, 0);
      const tx = await bed.precompile.request(other.modelId, [...input], 0, 0, 0, { value: fee });
      const foreignId = bed.requestIdOf(await tx.wait());
      const output = runQuantized(quantized(), input).output;
      await bed.answerWithoutProof(foreignId, output);
      const mine = await answered(16);
      const ids = sortForBatch([foreignId, mine.requestId]);
      const before = await snapshot(ids);
      const proof = await proveBatch(batch, [mine, { requestId: foreignId, input, output }]);
      await expect(bed.precompile.settleBatch(modelId, K, ids, toSolidityProof(proof.proof) as never))
        .to.be.revertedWithCustomError(bed.precompile, "Inference__WrongModel")
        .withArgs(foreignId, other.modelId);
      expect(await snapshot(ids)).to.deep.equal(before);
    });

    it("duplicates and unsorted ids: Inference__BatchNotAscending", async function () {
      const a = await answered(17);
      const b = await answered(18);
      const [low, high] = sortForBatch([a.requestId, b.requestId]);
      const proof = toSolidityProof((await proveBatch(batch, [a, b])).proof) as never;
      const before = await snapshot([low, high]);
      await expect(bed.precompile.settleBatch(modelId, K, [low, low], proof))
        .to.be.revertedWithCustomError(bed.precompile, "Inference__BatchNotAscending")
        .withArgs(low);
      await expect(bed.precompile.settleBatch(modelId, K, [high, low], proof))
        .to.be.revertedWithCustomError(bed.precompile, "Inference__BatchNotAscending")
        .withArgs(low);
      expect(await snapshot([low, high])).to.deep.equal(before);
    });

    it("a proof made for another batch, or for a lie: Inference__InvalidBatchProof", async function () {
      const a = await answered(19);
      const b = await answered(20);
      const c = await answered(21);
      const ids = sortForBatch([a.requestId, b.requestId]);
      const before = await snapshot(ids);
      const forAC = toSolidityProof((await proveBatch(batch, [a, c])).proof) as never;
      await expect(bed.precompile.settleBatch(modelId, K, ids, forAC))
        .to.be.revertedWithCustomError(bed.precompile, "Inference__InvalidBatchProof")
        .withArgs(modelId, K);
      // the same requests with one more padding slot filled is another statement too
      const forABC = toSolidityProof((await proveBatch(batch, [a, b, c])).proof) as never;
      await expect(bed.precompile.settleBatch(modelId, K, ids, forABC)).to.be.revertedWithCustomError(
        bed.precompile,
        "Inference__InvalidBatchProof",
      );
      expect(await snapshot(ids)).to.deep.equal(before);

      // a node that answered with a wrong output cannot prove it, and an honest proof does not fit it
      const input = inputOf(22);
      const liedId = await bed.request(input);
      const truth = runQuantized(quantized(), input).output;
      const lie = truth.map((v) => v + 1n);
      await bed.answerWithoutProof(liedId, lie);
      expect(
        (await errorOf(() => proveBatch(batch, [{ requestId: liedId, input, output: lie }]))).message,
      ).to.match(/proving failed/);
      const honest = toSolidityProof(
        (await proveBatch(batch, [{ requestId: liedId, input, output: truth }])).proof,
      ) as never;
      await expect(bed.precompile.settleBatch(modelId, K, [liedId], honest))
        .to.be.revertedWithCustomError(bed.precompile, "Inference__InvalidBatchProof")
        .withArgs(modelId, K);
      expect(await bed.stateOf(liedId)).to.equal(State.Answered);
    });

    it("sizes: no verifier for k (Inference__NoBatchVerifier), empty or over-full batches (Inference__BatchSize)", async function () {
      const entries = [
        await answered(23),
        await answered(24),
        await answered(25),
        await answered(26),
        await answered(27),
      ];
      const ids = sortForBatch(entries.map((e) => e.requestId));
      const proof = toSolidityProof((await proveBatch(batch, entries.slice(0, 4))).proof) as never;
      await expect(bed.precompile.settleBatch(modelId, 8, ids, proof))
        .to.be.revertedWithCustomError(bed.precompile, "Inference__NoBatchVerifier")
        .withArgs(modelId, 8);
      await expect(bed.precompile.settleBatch(modelId, K, [], proof))
        .to.be.revertedWithCustomError(bed.precompile, "Inference__BatchSize")
        .withArgs(0, K);
      await expect(bed.precompile.settleBatch(modelId, K, ids, proof))
        .to.be.revertedWithCustomError(bed.precompile, "Inference__BatchSize")
        .withArgs(5, K);
    });

    it("a request made before its model's batch verifier was registered: Inference__BatchVerifierTooNew", async function () {
      const other = await registerModel(bed.env, bed.registry, batch.model, { fee: parseEther("0.003") });
      const input = inputOf(28);
      const fee = await bed.registry.feeFor(other.modelId, 0);
      const early = bed.requestIdOf(
        await (await bed.precompile.request(other.modelId, [...input], 0, 0, 0, { value: fee })).wait(),
      );
      const output = runQuantized(quantized(), input).output;
      await bed.answerWithoutProof(early, output);
      await bed.env.ethers.provider.send("evm_increaseTime", [5]);
      const registered = await registerBatchVerifier(bed.registry, other.modelId, batch);
      expect(registered.created).to.equal(true);
      const proof = toSolidityProof(
        (await proveBatch(batch, [{ requestId: early, input, output }])).proof,
      ) as never;
      await expect(bed.precompile.settleBatch(other.modelId, K, [early], proof))
        .to.be.revertedWithCustomError(bed.precompile, "Inference__BatchVerifierTooNew")
        .withArgs(early, registered.registeredAt);
      // it still settles alone, with the verifier it was made under
      expect(await bed.stateOf(early)).to.equal(State.Answered);
    });
  });
});
