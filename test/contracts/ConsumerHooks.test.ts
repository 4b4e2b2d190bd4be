import { expect } from "chai";
import hre from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";

import {
  ANSWER_WINDOW,
  CALLBACK_GAS,
  FEE,
  Failed,
  Hook,
  INPUT,
  OUTPUT,
  PROOF,
  STAKE,
  State,
  requestIdOf,
  sibylFixture,
} from "./fixtures";

/** Mirrors `_CALLBACK_OVERHEAD` in InferencePrecompile. */
const CALLBACK_OVERHEAD = 5_000n;
const requiredGas = (limit: bigint) => limit + limit / 63n + 1n + CALLBACK_OVERHEAD;

describe("InferencePrecompile consumer hooks (MockVerifier: tests the state machine, not proofs)", function () {
  async function recordingFixture() {
    const f = await loadFixture(sibylFixture);
    const request = (gas = CALLBACK_GAS) =>
      requestIdOf(f.precompile, f.recording.makeRequest(f.modelId, INPUT, gas, { value: FEE }));
    return { ...f, request };
  }

  describe("RecordingConsumer", function () {
    it("sees answered then settled, with the output, after the state changed", async function () {
      const { precompile, recording, node, request } = await loadFixture(recordingFixture);
      const id = await request();
      await expect(precompile.connect(node).answer(id, OUTPUT))
        .to.emit(precompile, "InferenceAnswered")
        .withArgs(id, node.address, OUTPUT, (d: bigint) => d > 0n, true);
      await expect(precompile.settle(id, [...PROOF]))
        .to.emit(precompile, "InferenceSettled")
        .withArgs(id, node.address, (await hre.ethers.getSigners())[0].address, true);

      expect(await recording.callCount()).to.equal(2n);
      const [answered, settled] = [await recording.callAt(0), await recording.callAt(1)];
      expect([answered.hook, answered.requestId, answered.output, answered.stateSeen]).to.deep.equal([
        BigInt(Hook.Answered),
        id,
        OUTPUT,
        BigInt(State.Answered),
      ]);
      expect([settled.hook, settled.requestId, settled.output, settled.stateSeen]).to.deep.equal([
        BigInt(Hook.Settled),
        id,
        OUTPUT,
        BigInt(State.Settled),
      ]);
    });

    it("sees answered then failed(slashed) after a slash", async function () {
      const { precompile, recording, node, request } = await loadFixture(recordingFixture);
      const id = await request();
      await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      await time.increaseTo((await precompile.settlementDeadline(id)) + 1n);
      await expect(precompile.slash(id))
        .to.emit(precompile, "InferenceSlashed")
        .withArgs(id, node.address, (await hre.ethers.getSigners())[0].address, STAKE, true);
      const hooks = [await recording.callAt(0), await recording.callAt(1)];
      expect(hooks.map((h) => [h.hook, h.reason, h.stateSeen])).to.deep.equal([
        [BigInt(Hook.Answered), 0n, BigInt(State.Answered)],
        [BigInt(Hook.Failed), BigInt(Failed.Slashed), BigInt(State.Slashed)],
      ]);
    });

    it("sees only failed(expired) when nobody answers, and can collect its refund", async function () {
      const { precompile, recording, request } = await loadFixture(recordingFixture);
      const id = await request();
      await time.increase(ANSWER_WINDOW + 1n);
      await expect(precompile.expire(id))
        .to.emit(precompile, "InferenceExpired")
        .withArgs(id, await recording.getAddress(), FEE, true);
      expect(await recording.callCount()).to.equal(1n);
      const failed = await recording.callAt(0);
      expect([failed.hook, failed.reason, failed.stateSeen]).to.deep.equal([
        BigInt(Hook.Failed),
        BigInt(Failed.Expired),
        BigInt(State.Expired),
      ]);
      await expect(recording.collect()).to.changeEtherBalance(recording, FEE);
    });

    it("gives each hook its full callback gas limit", async function () {
      const { precompile, recording, node, request } = await loadFixture(recordingFixture);
      const limit = 400_000n;
      const id = await request(Number(limit));
      await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      const gas = (await recording.callAt(0)).gasAtEntry;
      expect(gas).to.be.lessThan(limit);
      expect(gas).to.be.greaterThan(limit - 5_000n);
    });

    it("calls no hook when the callback gas limit is 0", async function () {
      const { precompile, recording, node, request } = await loadFixture(recordingFixture);
      const id = await request(0);
      await expect(precompile.connect(node).answer(id, OUTPUT))
        .to.emit(precompile, "InferenceAnswered")
        .withArgs(id, node.address, OUTPUT, (d: bigint) => d > 0n, true);
      await (await precompile.settle(id, [...PROOF])).wait();
      expect(await recording.callCount()).to.equal(0n);
    });

    it("reads the model fee through the registry (InferenceConsumer._modelFee)", async function () {
      const { recording, modelId } = await loadFixture(recordingFixture);
      expect(await recording.modelFee(modelId)).to.equal(FEE);
    });

    it("refuses hook calls that do not come from the precompile (InferenceConsumer__OnlyInference)", async function () {
      const { recording, stranger } = await loadFixture(recordingFixture);
      const id = hre.ethers.ZeroHash;
      const asStranger = recording.connect(stranger);
      for (const call of [
        () => asStranger.onInferenceAnswered(id, OUTPUT),
        () => asStranger.onInferenceSettled(id, OUTPUT),
        () => asStranger.onInferenceFailed(id, 1),
      ]) {
        await expect(call())
          .to.be.revertedWithCustomError(recording, "InferenceConsumer__OnlyInference")
          .withArgs(stranger.address);
      }
    });
  });

  describe("starving a hook", function () {
    it("reverts with Inference__InsufficientGasForCallback when the caller leaves too little gas", async function () {
      const { precompile, node, request } = await loadFixture(recordingFixture);
      const limit = 1_000_000n;
      const id = await request(Number(limit));
      await expect(precompile.connect(node).answer(id, OUTPUT, { gasLimit: 900_000 }))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientGasForCallback")
        .withArgs((available: bigint) => available < requiredGas(limit), requiredGas(limit));
      expect(await precompile.stateOf(id)).to.equal(State.Requested);
    });

    it("also guards settle, slash and expire", async function () {
      const { precompile, node, request } = await loadFixture(recordingFixture);
      const limit = 1_000_000n;
      const [a, b, c] = [
        await request(Number(limit)),
        await request(Number(limit)),
        await request(Number(limit)),
      ];
      for (const id of [a, b]) await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      await expect(precompile.settle(a, [...PROOF], { gasLimit: 600_000 })).to.be.revertedWithCustomError(
        precompile,
        "Inference__InsufficientGasForCallback",
      );
      await time.increase(ANSWER_WINDOW + 1n);
      await expect(precompile.slash(b, { gasLimit: 600_000 })).to.be.revertedWithCustomError(
        precompile,
        "Inference__InsufficientGasForCallback",
      );
      await expect(precompile.expire(c, { gasLimit: 600_000 })).to.be.revertedWithCustomError(
        precompile,
        "Inference__InsufficientGasForCallback",
      );
    });
  });

  describe("adversarial consumers do not block the lifecycle", function () {
    for (const [name, key] of [
      ["a reverting consumer", "reverting"],
      ["a gas-burning consumer", "burning"],
    ] as const) {
      it(`${name}: answer and settle succeed with callbackOk = false`, async function () {
        const f = await loadFixture(sibylFixture);
        const consumer = f[key];
        const id = await requestIdOf(
          f.precompile,
          consumer.makeRequest(f.modelId, INPUT, CALLBACK_GAS, { value: FEE }),
        );
        await expect(f.precompile.connect(f.node).answer(id, OUTPUT))
          .to.emit(f.precompile, "InferenceAnswered")
          .withArgs(id, f.node.address, OUTPUT, (d: bigint) => d > 0n, false);
        await expect(f.precompile.settle(id, [...PROOF]))
          .to.emit(f.precompile, "InferenceSettled")
          .withArgs(id, f.node.address, f.admin.address, false);
        expect(await f.precompile.pendingWithdrawal(f.node.address)).to.equal(FEE);
      });

      it(`${name}: slash and expire succeed with callbackOk = false`, async function () {
        const f = await loadFixture(sibylFixture);
        const consumer = f[key];
        const answered = await requestIdOf(
          f.precompile,
          consumer.makeRequest(f.modelId, INPUT, CALLBACK_GAS, { value: FEE }),
        );
        const unanswered = await requestIdOf(
          f.precompile,
          consumer.makeRequest(f.modelId, INPUT, CALLBACK_GAS, { value: FEE }),
        );
        await (await f.precompile.connect(f.node).answer(answered, OUTPUT)).wait();
        await time.increase(ANSWER_WINDOW + 1n);
        await expect(f.precompile.slash(answered))
          .to.emit(f.precompile, "InferenceSlashed")
          .withArgs(answered, f.node.address, f.admin.address, STAKE, false);
        await expect(f.precompile.expire(unanswered))
          .to.emit(f.precompile, "InferenceExpired")
          .withArgs(unanswered, await consumer.getAddress(), FEE, false);
      });
    }

    it("a gas-burning hook costs the caller at most its callback gas limit", async function () {
      const { precompile, burning, node, modelId, user } = await loadFixture(sibylFixture);
      const viaBurner = await requestIdOf(
        precompile,
        burning.makeRequest(modelId, INPUT, CALLBACK_GAS, { value: FEE }),
      );
      const viaEoa = await requestIdOf(
        precompile,
        precompile.connect(user).request(modelId, INPUT, 0, CALLBACK_GAS, { value: FEE }),
      );
      const burned = (await (await precompile.connect(node).answer(viaBurner, OUTPUT)).wait())!.gasUsed;
      const plain = (await (await precompile.connect(node).answer(viaEoa, OUTPUT)).wait())!.gasUsed;
      expect(burned - plain).to.be.lessThanOrEqual(BigInt(CALLBACK_GAS) + 5_000n);
    });

    it("a return-bomb hook returns normally and its return data is not copied", async function () {
      const { precompile, burning, node, modelId } = await loadFixture(sibylFixture);
      await (await burning.setReturnBomb(true)).wait();
      const id = await requestIdOf(
        precompile,
        burning.makeRequest(modelId, INPUT, CALLBACK_GAS, { value: FEE }),
      );
      await expect(precompile.connect(node).answer(id, OUTPUT))
        .to.emit(precompile, "InferenceAnswered")
        .withArgs(id, node.address, OUTPUT, (d: bigint) => d > 0n, true);
    });

    it("a re-entrant consumer is refused with Inference__Reentrancy from every hook", async function () {
      const { precompile, reentrant, node } = await loadFixture(sibylFixture);
      const reentrancy = precompile.interface.getError("Inference__Reentrancy")!.selector;
      const settledId = await requestIdOf(precompile, reentrant.makeRequest(INPUT, 500_000, { value: FEE }));
      const expiredId = await requestIdOf(precompile, reentrant.makeRequest(INPUT, 500_000, { value: FEE }));
      await expect(precompile.connect(node).answer(settledId, OUTPUT))
        .to.emit(precompile, "InferenceAnswered")
        .withArgs(settledId, node.address, OUTPUT, (d: bigint) => d > 0n, true);
      await (await precompile.settle(settledId, [...PROOF])).wait();
      await time.increase(ANSWER_WINDOW + 1n);
      await (await precompile.expire(expiredId)).wait();

      expect(await reentrant.successes()).to.equal(0n);
      const count = await reentrant.revertCount();
      expect(count).to.equal(5n); // answer + request, settle, slash + withdraw
      for (let i = 0n; i < count; i++) expect(await reentrant.reverts(i)).to.equal(reentrancy);
      expect(await precompile.stateOf(settledId)).to.equal(State.Settled);
      expect(await precompile.stateOf(expiredId)).to.equal(State.Expired);
    });

    it("an EOA consumer gets no hook and callbackOk = true", async function () {
      const { precompile, node, user, requestFromUser } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      await expect(precompile.connect(node).answer(id, OUTPUT))
        .to.emit(precompile, "InferenceAnswered")
        .withArgs(id, node.address, OUTPUT, (d: bigint) => d > 0n, true);
      expect((await precompile.getRequest(id)).consumer).to.equal(user.address);
    });
  });
});
