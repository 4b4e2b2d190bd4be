import { expect } from "chai";

import {
  ANSWER_WINDOW,
  CALLBACK_GAS,
  CALLBACK_GAS_PRICE,
  DEFAULT_CALLBACK_GAS_LIMIT,
  FEE,
  Failed,
  Hook,
  INPUT,
  Mode,
  OUTPUT,
  PROOF,
  REQUEST_FEE,
  STAKE,
  State,
  ethers,
  feeFor,
  networkHelpers,
  requestIdOf,
  sibylFixture,
  slashCompensation,
  slashReward,
} from "./fixtures.js";

const { loadFixture, takeSnapshot, time } = networkHelpers;

/** Mirrors `_CALLBACK_OVERHEAD` in InferencePrecompile. */
const CALLBACK_OVERHEAD = 5_000n;
const requiredGas = (limit: bigint) => limit + limit / 63n + 1n + CALLBACK_OVERHEAD;

describe("InferencePrecompile consumer hooks (MockVerifier: tests the state machine, not proofs)", function () {
  async function recordingFixture() {
    const f = await loadFixture(sibylFixture);
    const request = (gas = CALLBACK_GAS) =>
      requestIdOf(f.precompile, f.recording.makeRequest(f.modelId, INPUT, gas, { value: feeFor(gas) }));
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
        .withArgs(id, node.address, (await ethers.getSigners())[0].address, true);

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
        .withArgs(
          id,
          node.address,
          (await ethers.getSigners())[0].address,
          slashCompensation(STAKE),
          slashReward(STAKE),
          REQUEST_FEE,
          true,
        );
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
        .withArgs(id, await recording.getAddress(), REQUEST_FEE, true);
      expect(await recording.callCount()).to.equal(1n);
      const failed = await recording.callAt(0);
      expect([failed.hook, failed.reason, failed.stateSeen]).to.deep.equal([
        BigInt(Hook.Failed),
        BigInt(Failed.Expired),
        BigInt(State.Expired),
      ]);
      await expect(recording.collect()).to.changeEtherBalance(ethers, recording, REQUEST_FEE);
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

    it("reads the fee for a callback gas limit through the registry (InferenceConsumer._feeFor)", async function () {
      const { recording, registry, modelId } = await loadFixture(recordingFixture);
      for (const gas of [0, 1, DEFAULT_CALLBACK_GAS_LIMIT, CALLBACK_GAS, 5_000_000]) {
        expect(await recording.feeFor(modelId, gas), `gas ${gas}`).to.equal(
          FEE + 2n * BigInt(gas) * CALLBACK_GAS_PRICE,
        );
        expect(await recording.feeFor(modelId, gas)).to.equal(await registry.feeFor(modelId, gas));
      }
    });

    it("requests with _defaultOptions(): ZK mode, 200,000 gas per hook, no value at risk beyond the model's stake", async function () {
      const { precompile, recording, modelId } = await loadFixture(recordingFixture);
      const fee = feeFor(200_000);
      await expect(recording.requestWithDefaults(modelId, INPUT, { value: fee - 1n }))
        .to.be.revertedWithCustomError(precompile, "Inference__FeeTooLow")
        .withArgs(fee, fee - 1n);
      const tx = recording.requestWithDefaults(modelId, INPUT, { value: fee });
      await expect(tx)
        .to.emit(precompile, "InferenceRequested")
        .withArgs(
          (id: string) => id.length === 66,
          modelId,
          await recording.getAddress(),
          INPUT,
          Mode.ZK,
          200_000,
          fee,
          STAKE,
        );
      const r = await precompile.getRequest(await requestIdOf(precompile, tx));
      expect(r.callbackGasLimit).to.equal(200_000n);
      expect([r.mode, r.fee, r.stake]).to.deep.equal([BigInt(Mode.ZK), fee, STAKE]);
    });

    it("refuses hook calls that do not come from the precompile (InferenceConsumer__OnlyInference)", async function () {
      const { recording, stranger } = await loadFixture(recordingFixture);
      const id = ethers.ZeroHash;
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

  describe("exact gas: a node cannot starve a hook into failing", function () {
    const LIMIT = 300_000;

    async function probeFixture() {
      const f = await loadFixture(sibylFixture);
      const probe = await ethers.deployContract("GasProbeConsumer", [await f.precompile.getAddress()]);
      const id = await requestIdOf(
        f.precompile,
        probe.makeRequest(f.modelId, INPUT, LIMIT, { value: feeFor(LIMIT) }),
      );
      // What a call frame of exactly LIMIT gas shows at the hook's first statement.
      await (await probe.calibrate(id, OUTPUT, LIMIT, { gasLimit: 1_000_000 })).wait();
      const calibrated = await probe.entryGas(0);
      // The least transaction gas with which the node's answer succeeds.
      const asNode = f.precompile.connect(f.node);
      let [fails, succeeds] = [50_000, 2_000_000];
      while (succeeds - fails > 1) {
        const mid = Math.floor((fails + succeeds) / 2);
        const ok = await asNode.answer.staticCall(id, OUTPUT, { gasLimit: mid }).then(
          () => true,
          () => false,
        );
        if (ok) succeeds = mid;
        else fails = mid;
      }
      return { ...f, probe, id, calibrated, leastGas: succeeds };
    }

    it("with the least gas that succeeds the hook gets exactly its limit; one gas less reverts the whole answer", async function () {
      const { precompile, node, probe, id, calibrated, leastGas } = await loadFixture(probeFixture);
      expect(calibrated).to.be.lessThan(BigInt(LIMIT));
      expect(calibrated).to.be.greaterThan(BigInt(LIMIT) - 1_000n);

      await expect(precompile.connect(node).answer(id, OUTPUT, { gasLimit: leastGas - 1 }))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientGasForCallback")
        .withArgs((available: bigint) => available < requiredGas(BigInt(LIMIT)), requiredGas(BigInt(LIMIT)));
      expect(await precompile.stateOf(id)).to.equal(State.Requested);
      expect(await probe.probeCount()).to.equal(1n);

      await expect(precompile.connect(node).answer(id, OUTPUT, { gasLimit: leastGas }))
        .to.emit(precompile, "InferenceAnswered")
        .withArgs(id, node.address, OUTPUT, (d: bigint) => d > 0n, true);
      expect(await probe.entryGas(1)).to.equal(calibrated); // the frame got exactly LIMIT
    });

    it("whatever gas the node sends, a hook that fails only when starved never fails: the answer reverts or the hook succeeds", async function () {
      const { precompile, node, probe, id, calibrated, leastGas } = await loadFixture(probeFixture);
      await (await probe.setMinEntryGas(calibrated)).wait();
      const outcomes = new Set<string>();
      for (const gas of [
        leastGas - 5_001,
        leastGas - Math.floor(LIMIT / 64),
        leastGas - 100,
        leastGas - 2,
        leastGas - 1,
        leastGas,
        leastGas + 1,
        leastGas + 100,
        leastGas + Math.floor(LIMIT / 64),
        leastGas + 50_000,
      ]) {
        const snapshot = await takeSnapshot();
        try {
          const receipt = await (await precompile.connect(node).answer(id, OUTPUT, { gasLimit: gas })).wait();
          const answered = receipt!.logs
            .map((l) => precompile.interface.parseLog(l))
            .find((p) => p?.name === "InferenceAnswered")!;
          expect(answered.args.callbackOk, `gas ${gas}`).to.equal(true);
          expect(await probe.entryGas(1)).to.equal(calibrated);
          outcomes.add("hook ok");
        } catch (e) {
          expect(String(e), `gas ${gas}`).to.match(/Inference__InsufficientGasForCallback/);
          outcomes.add("reverted");
        } finally {
          await snapshot.restore();
        }
      }
      expect([...outcomes].sort()).to.deep.equal(["hook ok", "reverted"]);
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
          consumer.makeRequest(f.modelId, INPUT, CALLBACK_GAS, { value: REQUEST_FEE }),
        );
        await expect(f.precompile.connect(f.node).answer(id, OUTPUT))
          .to.emit(f.precompile, "InferenceAnswered")
          .withArgs(id, f.node.address, OUTPUT, (d: bigint) => d > 0n, false);
        await expect(f.precompile.settle(id, [...PROOF]))
          .to.emit(f.precompile, "InferenceSettled")
          .withArgs(id, f.node.address, f.admin.address, false);
        expect(await f.precompile.pendingWithdrawal(f.node.address)).to.equal(REQUEST_FEE);
      });

      it(`${name}: slash and expire succeed with callbackOk = false`, async function () {
        const f = await loadFixture(sibylFixture);
        const consumer = f[key];
        const answered = await requestIdOf(
          f.precompile,
          consumer.makeRequest(f.modelId, INPUT, CALLBACK_GAS, { value: REQUEST_FEE }),
        );
        const unanswered = await requestIdOf(
          f.precompile,
          consumer.makeRequest(f.modelId, INPUT, CALLBACK_GAS, { value: REQUEST_FEE }),
        );
        await (await f.precompile.connect(f.node).answer(answered, OUTPUT)).wait();
        await time.increase(ANSWER_WINDOW + 1n);
        await expect(f.precompile.slash(answered))
          .to.emit(f.precompile, "InferenceSlashed")
          .withArgs(
            answered,
            f.node.address,
            f.admin.address,
            slashCompensation(STAKE),
            slashReward(STAKE),
            REQUEST_FEE,
            false,
          );
        await expect(f.precompile.expire(unanswered))
          .to.emit(f.precompile, "InferenceExpired")
          .withArgs(unanswered, await consumer.getAddress(), REQUEST_FEE, false);
      });
    }

    it("a gas-burning hook costs the caller at most its callback gas limit", async function () {
      const { precompile, burning, node, modelId, user } = await loadFixture(sibylFixture);
      const viaBurner = await requestIdOf(
        precompile,
        burning.makeRequest(modelId, INPUT, CALLBACK_GAS, { value: REQUEST_FEE }),
      );
      const viaEoa = await requestIdOf(
        precompile,
        precompile.connect(user).request(modelId, INPUT, 0, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
      );
      const burned = (await (await precompile.connect(node).answer(viaBurner, OUTPUT)).wait())!.gasUsed;
      const plain = (await (await precompile.connect(node).answer(viaEoa, OUTPUT)).wait())!.gasUsed;
      expect(burned - plain).to.be.lessThanOrEqual(BigInt(CALLBACK_GAS) + 5_000n);
    });

    it("a return bomb costs the caller nothing: the precompile does not copy return data", async function () {
      const { precompile, burning, node, node2, modelId } = await loadFixture(sibylFixture);
      const answerGas = async (by: typeof node) => {
        const id = await requestIdOf(
          precompile,
          burning.makeRequest(modelId, INPUT, CALLBACK_GAS, { value: REQUEST_FEE }),
        );
        return (await (await precompile.connect(by).answer(id, OUTPUT)).wait())!.gasUsed;
      };
      await (await burning.setMemoryOnly(true)).wait();
      const touchOnly = await answerGas(node); // expands memory to 64 kB, returns nothing
      await (await burning.setReturnBomb(true)).wait();
      const bomb = await answerGas(node2); // the same memory, returned
      // Copying 64 kB would cost the precompile ≥ 6,000 gas (3 per word) plus its memory expansion.
      expect(bomb).to.be.lessThan(touchOnly + 500n);
    });

    it("a return-bomb hook returns normally and its return data is not copied", async function () {
      const { precompile, burning, node, modelId } = await loadFixture(sibylFixture);
      await (await burning.setReturnBomb(true)).wait();
      const id = await requestIdOf(
        precompile,
        burning.makeRequest(modelId, INPUT, CALLBACK_GAS, { value: REQUEST_FEE }),
      );
      await expect(precompile.connect(node).answer(id, OUTPUT))
        .to.emit(precompile, "InferenceAnswered")
        .withArgs(id, node.address, OUTPUT, (d: bigint) => d > 0n, true);
    });

    it("a re-entrant consumer is refused with Inference__Reentrancy by every function from every hook", async function () {
      const { precompile, reentrant, node, admin } = await loadFixture(sibylFixture);
      const reentrancy = precompile.interface.getError("Inference__Reentrancy")!.selector;
      await (await admin.sendTransaction({ to: await reentrant.getAddress(), value: FEE })).wait();
      const settledId = await requestIdOf(
        precompile,
        reentrant.makeRequest(INPUT, 1_000_000, { value: feeFor(1_000_000) }),
      );
      const slashedId = await requestIdOf(
        precompile,
        reentrant.makeRequest(INPUT, 1_000_000, { value: feeFor(1_000_000) }),
      );
      const expiredId = await requestIdOf(
        precompile,
        reentrant.makeRequest(INPUT, 1_000_000, { value: feeFor(1_000_000) }),
      );
      for (const id of [settledId, slashedId])
        await expect(precompile.connect(node).answer(id, OUTPUT))
          .to.emit(precompile, "InferenceAnswered")
          .withArgs(id, node.address, OUTPUT, (d: bigint) => d > 0n, true);
      await expect(precompile.settle(settledId, [...PROOF]))
        .to.emit(precompile, "InferenceSettled")
        .withArgs(settledId, node.address, admin.address, true);
      await time.increase(ANSWER_WINDOW + 1n);
      await expect(precompile.slash(slashedId)).to.emit(precompile, "InferenceSlashed");
      await expect(precompile.expire(expiredId))
        .to.emit(precompile, "InferenceExpired")
        .withArgs(expiredId, await reentrant.getAddress(), feeFor(1_000_000), true);

      expect(await reentrant.successes()).to.equal(0n);
      const count = await reentrant.revertCount();
      // 5 hooks (2 answered, settled, slashed, expired) × 14 state-changing functions
      expect(count).to.equal(70n);
      for (let i = 0n; i < count; i++) expect(await reentrant.reverts(i)).to.equal(reentrancy);
      expect(await precompile.stateOf(settledId)).to.equal(State.Settled);
      expect(await precompile.stateOf(slashedId)).to.equal(State.Slashed);
      expect(await precompile.stateOf(expiredId)).to.equal(State.Expired);
    });

    it("a code-less consumer (an EOA) is answered, settled, slashed and expired with callbackOk = true", async function () {
      const { precompile, node, user, admin, requestFromUser, answeredRequest } =
        await loadFixture(sibylFixture);
      const settled = await answeredRequest();
      await expect(precompile.settle(settled.id, [...PROOF]))
        .to.emit(precompile, "InferenceSettled")
        .withArgs(settled.id, node.address, admin.address, true);
      const slashed = await answeredRequest();
      const expired = await requestFromUser();
      await time.increase(ANSWER_WINDOW + 1n);
      await expect(precompile.slash(slashed.id))
        .to.emit(precompile, "InferenceSlashed")
        .withArgs(
          slashed.id,
          node.address,
          admin.address,
          slashCompensation(STAKE),
          slashReward(STAKE),
          REQUEST_FEE,
          true,
        );
      await expect(precompile.expire(expired))
        .to.emit(precompile, "InferenceExpired")
        .withArgs(expired, user.address, REQUEST_FEE, true);
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
