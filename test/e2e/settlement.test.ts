import { expect } from "chai";
import hre, { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";

import { type SibylStack, setUpStack, startNode } from "../../src/chain/stack.js";
import { circuitInputFor, publicSignalsFor } from "../../src/circuit/inputs.js";
import { BN254_P } from "../../src/circuit/field.js";
import { requestInference } from "../../src/client/client.js";
import { sibylEnv } from "../../src/env.js";
import { silentLogger } from "../../src/log.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { RequestState } from "../../src/node/node.js";
import { NodeTracker } from "../../src/node/tracker.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import {
  SnarkjsProver,
  releaseProverThreads,
  toSolidityProof,
  type ProofResult,
} from "../../src/zk/prover.js";
import { IRIS_MODEL_PATH, buildProgress } from "../helpers/models.js";

const connection = await network.create();
const { ethers } = connection;
const env = await sibylEnv(hre, connection);

/**
 * End to end with real parts: the Iris circuit compiled by circom, a real snarkjs Groth16
 * proof, the exported verifier and the precompile at 0x…F4 on the in-process network.
 */
describe("end to end: answer at once, settle with a real Groth16 proof", function () {
  let stack: SibylStack;
  let prover: SnarkjsProver;
  let requester: HardhatEthersSigner;
  let nodeSigner: HardhatEthersSigner;
  let fee: bigint;

  const SETOSA = [5.1, 3.5, 1.4, 0.2];
  const VIRGINICA = [6.3, 3.3, 6.0, 2.5];

  before(async function () {
    stack = await setUpStack(env, { modelPaths: [IRIS_MODEL_PATH], log: buildProgress });
    [requester, nodeSigner] = await ethers.getSigners();
    const a = stack.models.iris.artifacts;
    prover = new SnarkjsProver(a.wasmPath, a.zkeyPath);
    fee = (await stack.registry.getModel(stack.models.iris.modelId)).config.fee;
    const node = stack.precompile.connect(nodeSigner);
    if (!(await node.nodeOf(nodeSigner.address)).registered)
      await (await node.registerNode({ value: ethers.parseEther("5") })).wait();
  });

  after(releaseProverThreads);

  const iris = () => stack.models.iris;
  const q = () => iris().artifacts.quantized;

  /** A request from an EOA, answered by hand with `output` (default: the runtime's). */
  async function answeredRequest(features: number[], output?: bigint[]) {
    const input = quantizeInput(q(), features);
    const { requestId } = await requestInference(stack.precompile.connect(requester), iris().modelId, input, {
      fee,
    });
    const out = output ?? runQuantized(q(), input).output;
    await (await stack.precompile.connect(nodeSigner).answer(requestId, out)).wait();
    return { requestId, input, output: out };
  }

  async function proofFor(requestId: string, input: bigint[], output: bigint[]): Promise<ProofResult> {
    return prover.prove(circuitInputFor(q(), requestId, input, output));
  }

  describe("the demo flow", function () {
    it("runs CreditLine's hooks in order with the model's output, then settles", async function () {
      const { parseEther } = ethers;
      const factory = await ethers.getContractFactory("CreditLine");
      const creditLine = await factory.deploy(
        await stack.precompile.getAddress(),
        iris().modelId,
        [parseEther("5"), parseEther("2"), parseEther("0.5")],
        parseEther("0.05"),
      );
      const node = await startNode(stack, { signer: nodeSigner, pollMs: 20, log: silentLogger });
      const tracker = new NodeTracker(node);
      try {
        for (const [features, tier, limit] of [
          [SETOSA, 0n, parseEther("5")],
          [VIRGINICA, 2n, parseEther("0.5")],
        ] as const) {
          const borrower = (await ethers.getSigners())[5 + Number(tier)];
          const input = quantizeInput(q(), features);
          const tx = await creditLine
            .connect(borrower)
            .applyForCredit(input, { value: await creditLine.applicationFee() });
          const receipt = (await tx.wait())!;
          const applied = receipt.logs
            .map((l) => creditLine.interface.parseLog(l))
            .find((p) => p?.name === "CreditApplied")!;
          const requestId = applied.args.requestId as string;

          const answered = await tracker.waitAnswered(requestId);
          expect(answered.output).to.deep.equal([tier]);
          expect(await stack.precompile.stateOf(requestId)).to.be.oneOf([
            BigInt(RequestState.Answered),
            BigInt(RequestState.Settled),
          ]);
          const settled = await tracker.waitSettled(requestId);
          expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Settled);
          expect(await stack.precompile.outputOf(requestId)).to.deep.equal([tier]);

          // hooks in lifecycle order: provisional grant in the answer tx, approval in the settle tx
          const answerReceipt = (await ethers.provider.getTransactionReceipt(answered.txHash))!;
          const settleReceipt = (await ethers.provider.getTransactionReceipt(settled.txHash))!;
          expect(answerReceipt.blockNumber).to.be.lessThan(settleReceipt.blockNumber);
          const names = (r: typeof answerReceipt) =>
            r.logs
              .filter((l) => l.address === creditLine.target)
              .map((l) => creditLine.interface.parseLog(l)!)
              .map((p) => [p.name, p.args.tier]);
          expect(names(answerReceipt)).to.deep.equal([["ProvisionalCreditGranted", tier]]);
          expect(names(settleReceipt)).to.deep.equal([["CreditApproved", tier]]);
          expect(await creditLine.creditLimit(borrower.address)).to.equal(limit);
        }
      } finally {
        await node.stop();
      }
    });
  });

  describe("soundness on-chain", function () {
    it("settles a request with the proof made for it", async function () {
      const r = await answeredRequest(SETOSA);
      const proof = await proofFor(r.requestId, r.input, r.output);
      await expect(stack.precompile.settle(r.requestId, toSolidityProof(proof.proof) as never))
        .to.emit(stack.precompile, "InferenceSettled")
        .withArgs(r.requestId, nodeSigner.address, requester.address, true);
      expect(await stack.precompile.stateOf(r.requestId)).to.equal(RequestState.Settled);
    });

    it("reverts when the proof is for another request, and leaves the request answered", async function () {
      const a = await answeredRequest(SETOSA);
      const b = await answeredRequest(SETOSA);
      const proofA = await proofFor(a.requestId, a.input, a.output);
      await expect(stack.precompile.settle(b.requestId, toSolidityProof(proofA.proof) as never))
        .to.be.revertedWithCustomError(stack.precompile, "Inference__InvalidProof")
        .withArgs(b.requestId);
      expect(await stack.precompile.stateOf(b.requestId)).to.equal(RequestState.Answered);
      // and the proof still settles the request it was made for
      await (await stack.precompile.settle(a.requestId, toSolidityProof(proofA.proof) as never)).wait();
      expect(await stack.precompile.stateOf(a.requestId)).to.equal(RequestState.Settled);
    });

    it("reverts when the answered output is not the proved one", async function () {
      const honest = runQuantized(q(), quantizeInput(q(), SETOSA)).output;
      const lie = [(honest[0] + 1n) % 3n];
      const r = await answeredRequest(SETOSA, lie);
      // the only provable output for this input is the honest one
      const proof = await proofFor(r.requestId, r.input, honest);
      await expect(stack.precompile.settle(r.requestId, toSolidityProof(proof.proof) as never))
        .to.be.revertedWithCustomError(stack.precompile, "Inference__InvalidProof")
        .withArgs(r.requestId);
      expect(await stack.precompile.stateOf(r.requestId)).to.equal(RequestState.Answered);
    });

    it("reverts when the proof is for another input with the same output", async function () {
      const r = await answeredRequest(SETOSA);
      const other = quantizeInput(q(), [5.0, 3.4, 1.5, 0.2]);
      expect(runQuantized(q(), other).output).to.deep.equal(r.output);
      const proof = await proofFor(r.requestId, other, r.output);
      await expect(stack.precompile.settle(r.requestId, toSolidityProof(proof.proof) as never))
        .to.be.revertedWithCustomError(stack.precompile, "Inference__InvalidProof")
        .withArgs(r.requestId);
    });

    it("reverts on a malformed proof and leaves state, bond and payments unchanged", async function () {
      const r = await answeredRequest(SETOSA);
      const nodeBefore = await stack.precompile.nodeOf(nodeSigner.address);
      const owedBefore = await stack.precompile.pendingWithdrawal(nodeSigner.address);
      const proof = toSolidityProof((await proofFor(r.requestId, r.input, r.output)).proof);
      const bad = [...proof];
      bad[6] = (bad[6] + 1n) % BN254_P;
      await expect(stack.precompile.settle(r.requestId, bad as never)).to.be.revertedWithCustomError(
        stack.precompile,
        "Inference__InvalidProof",
      );
      expect(await stack.precompile.stateOf(r.requestId)).to.equal(RequestState.Answered);
      expect(await stack.precompile.nodeOf(nodeSigner.address)).to.deep.equal(nodeBefore);
      expect(await stack.precompile.pendingWithdrawal(nodeSigner.address)).to.equal(owedBefore);
    });

    it("the precompile passes exactly the signals the circuit proves", async function () {
      const r = await answeredRequest(VIRGINICA);
      const expected = publicSignalsFor(q(), r.requestId, r.input, r.output);
      expect(await stack.precompile.publicSignalsOf(r.requestId)).to.deep.equal(expected);
      const proof = await proofFor(r.requestId, r.input, r.output);
      expect(proof.publicSignals.map(BigInt)).to.deep.equal(expected);
    });

    it("the verifier rejects a proof whose public signals were changed", async function () {
      const r = await answeredRequest(VIRGINICA);
      const proof = await proofFor(r.requestId, r.input, r.output);
      const verifier = await ethers.getContractAt(iris().artifacts.verifierContract, iris().verifier);
      const p = toSolidityProof(proof.proof);
      const call = (signals: bigint[]) =>
        verifier.verifyProof(
          [p[0], p[1]],
          [
            [p[2], p[3]],
            [p[4], p[5]],
          ],
          [p[6], p[7]],
          signals,
        );
      const signals = proof.publicSignals.map(BigInt);
      expect(await call(signals)).to.equal(true);
      for (let i = 0; i < signals.length; i++) {
        const changed = [...signals];
        changed[i] += 1n;
        expect(await call(changed), `signal ${i} + 1`).to.equal(false);
        changed[i] = signals[i] + BN254_P; // the same value modulo r: must be refused, not aliased
        expect(await call(changed), `signal ${i} + r`).to.equal(false);
      }
    });
  });
});
