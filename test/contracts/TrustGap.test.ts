import { expect } from "chai";
import fc from "fast-check";
import { AbiCoder, keccak256, parseEther } from "ethers";

import { installPrecompile, INFERENCE_ADDRESS } from "../../src/chain/install.js";
import {
  ANSWER_WINDOW,
  CALLBACK_GAS,
  Failed,
  Hook,
  INPUT,
  MAX_CALLBACK_GAS_LIMIT,
  MIN_BOND,
  Mode,
  NODE_BOND,
  OUTPUT,
  PROOF,
  REQUEST_FEE,
  SLASH_REWARD_BPS,
  STAKE,
  State,
  env,
  ethers,
  feeFor,
  networkHelpers,
  registerMockModel,
  requestIdOf,
  sibylFixture,
  slashCompensation,
  slashReward,
  stakeFor,
  stakeOf,
} from "./fixtures.js";

const { loadFixture, time } = networkHelpers;

const MAX_UINT128 = (1n << 128n) - 1n;
/** OpenZeppelin's SafeCast error, which the precompile raises for a stake that does not fit uint128. */

describe("the trust gap, bounded: value at risk, slashing economics, views (MockVerifier: tests the state machine, not proofs)", function () {
  async function gapFixture() {
    const f = await loadFixture(sibylFixture);
    /** A request from the RecordingConsumer declaring `valueAtRisk`. */
    const recordedRequest = (valueAtRisk: bigint, gas = CALLBACK_GAS) =>
      requestIdOf(
        f.precompile,
        f.recording.makeRequestAtRisk(f.modelId, INPUT, gas, valueAtRisk, { value: feeFor(gas) }),
      );
    /** A request from the user EOA declaring `valueAtRisk`, answered by `node`. */
    const answeredAtRisk = async (valueAtRisk: bigint, by = f.node) => {
      const id = await f.requestFromUser(INPUT, REQUEST_FEE, valueAtRisk);
      await (await f.precompile.connect(by).answer(id, OUTPUT)).wait();
      return { id, deadline: await f.precompile.settlementDeadline(id) };
    };
    return { ...f, recordedRequest, answeredAtRisk };
  }

  describe("value at risk", function () {
    for (const [name, valueAtRisk] of [
      ["0 (the model's stake)", 0n],
      ["whose gross-up is just below the model's stake", slashCompensation(STAKE)],
      ["whose gross-up is just above the model's stake", slashCompensation(STAKE) + 1n],
      ["equal to the model's stake", STAKE],
      ["far above the model's stake", parseEther("1.5")],
    ] as const) {
      it(`locks max(model stake, stakeFor(value at risk)) for a value at risk ${name}`, async function () {
        const { precompile, node, user, modelId } = await loadFixture(gapFixture);
        const stake = stakeOf(valueAtRisk);
        const tx = precompile.connect(user).request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, valueAtRisk, {
          value: REQUEST_FEE,
        });
        await expect(tx)
          .to.emit(precompile, "InferenceRequested")
          .withArgs(
            (id: string) => id.length === 66,
            modelId,
            user.address,
            INPUT,
            Mode.ZK,
            CALLBACK_GAS,
            REQUEST_FEE,
            stake,
          );
        const id = await requestIdOf(precompile, tx);
        expect((await precompile.getRequest(id)).stake).to.equal(stake);
        expect(await precompile.bondBacking(id)).to.equal(0n);
        expect(await precompile.coverageOf(id)).to.equal(0n);
        await (await precompile.connect(node).answer(id, OUTPUT)).wait();
        expect(await precompile.bondBacking(id)).to.equal(stake);
        expect(await precompile.coverageOf(id)).to.equal(slashCompensation(stake));
        expect(slashCompensation(stake)).to.be.greaterThanOrEqual(valueAtRisk);
        expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND, stake, true]);
        expect(await precompile.outstandingOf(node.address)).to.equal(stake);
      });
    }

    it("grosses up exactly at the model's stake: its compensation keeps the model's stake, one wei more takes more", async function () {
      expect(stakeOf(slashCompensation(STAKE))).to.equal(STAKE);
      expect(stakeOf(slashCompensation(STAKE) + 1n)).to.be.greaterThan(STAKE);
      expect(stakeOf(STAKE)).to.be.greaterThan(STAKE);
    });

    it("reverts an answer whose stake plus minBond exceeds the node's free bond with Inference__InsufficientBond", async function () {
      const { precompile, node, node2, requestFromUser, answeredAtRisk } = await loadFixture(gapFixture);
      const whole = await requestFromUser(INPUT, REQUEST_FEE, NODE_BOND);
      const wholeStake = stakeFor(NODE_BOND);
      await expect(precompile.connect(node).answer(whole, OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, NODE_BOND, wholeStake + MIN_BOND);

      await answeredAtRisk(0n); // node's free bond is now NODE_BOND - STAKE
      const atRisk = parseEther("0.9") + 7n;
      const stake = stakeFor(atRisk);
      const above = await requestFromUser(INPUT, REQUEST_FEE, atRisk);
      // leave one wei less than stake + minBond free
      const surplus = NODE_BOND - STAKE - (stake + MIN_BOND - 1n);
      await (await precompile.connect(node).withdrawBond(surplus)).wait();
      const free = stake + MIN_BOND - 1n;
      await expect(precompile.connect(node).answer(above, OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, free, stake + MIN_BOND);
      expect(await precompile.stateOf(above)).to.equal(State.Requested);
      expect(await precompile.outstandingOf(node.address)).to.equal(STAKE);

      // exactly stake + minBond free is enough: minBond stays free; another node that covers it can answer too
      await (await precompile.connect(node).registerNode({ value: 1n })).wait();
      await expect(precompile.connect(node).answer(above, OUTPUT)).to.emit(precompile, "InferenceAnswered");
      const { bond, locked } = await precompile.nodeOf(node.address);
      expect([bond - locked, locked]).to.deep.equal([MIN_BOND, STAKE + stake]);
      await (
        await precompile.connect(node2).registerNode({ value: wholeStake + MIN_BOND - NODE_BOND })
      ).wait();
      await expect(precompile.connect(node2).answer(whole, OUTPUT)).to.emit(precompile, "InferenceAnswered");
      expect(await precompile.nodeOf(node2.address)).to.deep.equal([wholeStake + MIN_BOND, wholeStake, true]);
    });

    it("a value at risk whose stake does not fit uint128 is refused at request time", async function () {
      const { precompile, user, modelId } = await loadFixture(gapFixture);
      expect(stakeFor(MAX_UINT128)).to.be.greaterThan(MAX_UINT128);
      await expect(
        precompile
          .connect(user)
          .request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, MAX_UINT128, { value: REQUEST_FEE }),
      )
        .to.be.revertedWithCustomError(precompile, "Inference__NotCoverable")
        .withArgs(modelId, MAX_UINT128);
    });

    it("a value at risk no bond can cover is never answered; the request expires and its fee is refunded", async function () {
      const { precompile, node, user, requestFromUser } = await loadFixture(gapFixture);
      const atRisk = slashCompensation(MAX_UINT128); // the largest whose stake fits uint128
      const stake = stakeFor(atRisk);
      expect(stake <= MAX_UINT128).to.equal(true);
      const id = await requestFromUser(INPUT, REQUEST_FEE, atRisk);
      expect((await precompile.getRequest(id)).stake).to.equal(stake);
      await expect(precompile.connect(node).answer(id, OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, NODE_BOND, stake + MIN_BOND);
      await time.increase(ANSWER_WINDOW + 1n);
      await expect(precompile.expire(id))
        .to.emit(precompile, "InferenceExpired")
        .withArgs(id, user.address, REQUEST_FEE, true);
      expect(await precompile.pendingWithdrawal(user.address)).to.equal(REQUEST_FEE);
    });

    it("refuses a callback gas limit above Sibyl.MAX_CALLBACK_GAS_LIMIT with Inference__CallbackGasLimitTooHigh", async function () {
      const { precompile, user, modelId } = await loadFixture(gapFixture);
      const request = (gas: number) =>
        precompile.connect(user).request(modelId, INPUT, Mode.ZK, gas, 0n, { value: feeFor(gas) });
      await expect(request(MAX_CALLBACK_GAS_LIMIT + 1))
        .to.be.revertedWithCustomError(precompile, "Inference__CallbackGasLimitTooHigh")
        .withArgs(MAX_CALLBACK_GAS_LIMIT + 1, MAX_CALLBACK_GAS_LIMIT);
      await expect(request(MAX_CALLBACK_GAS_LIMIT)).to.emit(precompile, "InferenceRequested");
    });
  });

  describe("views of the gap", function () {
    it("isFinal and bondBacking follow a request through every state", async function () {
      const { precompile, node, requestFromUser, answeredAtRisk } = await loadFixture(gapFixture);
      const atRisk = stakeFor(parseEther("0.7")); // the stake locked for 0.7 ETH at risk
      const requested = await requestFromUser();
      expect([await precompile.isFinal(requested), await precompile.bondBacking(requested)]).to.deep.equal([
        false,
        0n,
      ]);
      const settled = await answeredAtRisk(parseEther("0.7"));
      const slashed = await answeredAtRisk(parseEther("0.7"));
      for (const { id } of [settled, slashed])
        expect([await precompile.isFinal(id), await precompile.bondBacking(id)]).to.deep.equal([
          false,
          atRisk,
        ]);
      await (await precompile.settle(settled.id, [...PROOF])).wait();
      expect([await precompile.isFinal(settled.id), await precompile.bondBacking(settled.id)]).to.deep.equal([
        true,
        0n,
      ]);

      // past the deadline and not yet slashed: still backed, anyone may take it
      await time.increaseTo(slashed.deadline + ANSWER_WINDOW);
      expect([await precompile.isFinal(slashed.id), await precompile.bondBacking(slashed.id)]).to.deep.equal([
        false,
        atRisk,
      ]);
      expect(await precompile.outstandingOf(node.address)).to.equal(atRisk);
      await (await precompile.slash(slashed.id)).wait();
      expect([await precompile.isFinal(slashed.id), await precompile.bondBacking(slashed.id)]).to.deep.equal([
        true,
        0n,
      ]);
      await (await precompile.expire(requested)).wait();
      expect([await precompile.isFinal(requested), await precompile.bondBacking(requested)]).to.deep.equal([
        true,
        0n,
      ]);
      expect(await precompile.outstandingOf(node.address)).to.equal(0n);
    });

    it("outstandingOf sums the stakes of a node's unsettled answers, like nodeOf(node).locked", async function () {
      const { precompile, node, node2, answeredAtRisk } = await loadFixture(gapFixture);
      const a = await answeredAtRisk(0n);
      const b = await answeredAtRisk(parseEther("0.8"));
      await answeredAtRisk(parseEther("0.6"), node2);
      expect(await precompile.outstandingOf(node.address)).to.equal(STAKE + stakeFor(parseEther("0.8")));
      expect(await precompile.outstandingOf(node2.address)).to.equal(stakeFor(parseEther("0.6")));
      await (await precompile.settle(a.id, [...PROOF])).wait();
      expect(await precompile.outstandingOf(node.address)).to.equal(stakeFor(parseEther("0.8")));
      await time.increaseTo(b.deadline + 1n);
      await (await precompile.slash(b.id)).wait();
      expect(await precompile.outstandingOf(node.address)).to.equal(0n);
      expect((await precompile.nodeOf(node.address)).locked).to.equal(0n);
    });

    it("isFinal, bondBacking and coverageOf revert for an unknown id with Inference__UnknownRequest", async function () {
      const { precompile } = await loadFixture(gapFixture);
      const id = keccak256("0x5151");
      for (const call of [
        () => precompile.isFinal(id),
        () => precompile.bondBacking(id),
        () => precompile.coverageOf(id),
      ])
        await expect(call())
          .to.be.revertedWithCustomError(precompile, "Inference__UnknownRequest")
          .withArgs(id);
    });
  });

  describe("slashing economics", function () {
    it("credits the stake less the slasher's reward and the fee to the consumer, the reward to the slasher, before the consumer's failed hook", async function () {
      const { precompile, recording, node, stranger, recordedRequest } = await loadFixture(gapFixture);
      const atRisk = parseEther("1.3") + 19n; // odd: the gross-up and the reward are rounded
      const stake = stakeFor(atRisk);
      const id = await recordedRequest(atRisk);
      await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      await time.setNextBlockTimestamp((await precompile.settlementDeadline(id)) + 1n);
      const tx = precompile.connect(stranger).slash(id);
      const reward = (stake * 500n) / 10_000n;
      expect(slashReward(stake)).to.equal(reward);
      expect(stake - reward).to.be.greaterThanOrEqual(atRisk); // the declared value, repaid
      await expect(tx)
        .to.emit(precompile, "InferenceSlashed")
        .withArgs(id, node.address, stranger.address, stake - reward, reward, REQUEST_FEE, true);
      // pull payments: the slash itself sends no ETH to anyone
      await expect(tx).to.changeEtherBalances(
        ethers,
        [precompile, stranger, recording, node],
        [0n, 0n, 0n, 0n],
      );
      expect(await precompile.SLASH_REWARD_BPS()).to.equal(SLASH_REWARD_BPS);
      expect(await precompile.pendingWithdrawal(await recording.getAddress())).to.equal(
        stake - reward + REQUEST_FEE,
      );
      expect(await precompile.pendingWithdrawal(stranger.address)).to.equal(reward);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(0n);
      expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND - stake, 0n, true]);

      // the hook ran after every change: the state is Slashed, the payment is already credited
      const failed = await recording.callAt(1);
      expect([
        failed.hook,
        failed.reason,
        failed.stateSeen,
        failed.pendingSeen,
        failed.backingSeen,
      ]).to.deep.equal([
        BigInt(Hook.Failed),
        BigInt(Failed.Slashed),
        BigInt(State.Slashed),
        stake - reward + REQUEST_FEE,
        0n,
      ]);
      await expect(recording.collect()).to.changeEtherBalance(
        ethers,
        recording,
        stake - reward + REQUEST_FEE,
      );
      await expect(precompile.connect(stranger).withdraw()).to.changeEtherBalance(ethers, stranger, reward);
    });

    it("a consumer that slashes its own request collects the whole stake", async function () {
      const { precompile, user, answeredAtRisk } = await loadFixture(gapFixture);
      const { id, deadline } = await answeredAtRisk(STAKE);
      await time.increaseTo(deadline + 1n);
      await (await precompile.connect(user).slash(id)).wait();
      expect(await precompile.pendingWithdrawal(user.address)).to.equal(stakeOf(STAKE) + REQUEST_FEE);
    });

    it("a node that slashes itself still loses the compensation", async function () {
      const { precompile, node, user, answeredAtRisk } = await loadFixture(gapFixture);
      const { id, deadline } = await answeredAtRisk(STAKE);
      await time.increaseTo(deadline + 1n);
      await (await precompile.connect(node).slash(id)).wait();
      const stake = stakeOf(STAKE);
      expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND - stake, 0n, true]);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(slashReward(stake));
      expect(await precompile.pendingWithdrawal(user.address)).to.equal(
        slashCompensation(stake) + REQUEST_FEE,
      );
    });
  });

  describe("the deadline, to the second", function () {
    // At every instant exactly one of settle and slash is possible.
    for (const [offset, settles] of [
      [-1n, true],
      [0n, true],
      [1n, false],
    ] as const) {
      const at = offset === 0n ? "deadline" : `deadline ${offset < 0n ? "-" : "+"} 1`;
      it(`at ${at}: settle ${settles ? "succeeds" : "reverts (Inference__DeadlinePassed)"}`, async function () {
        const { precompile, answeredAtRisk } = await loadFixture(gapFixture);
        const { id, deadline } = await answeredAtRisk(0n);
        await time.setNextBlockTimestamp(deadline + offset);
        if (settles) await expect(precompile.settle(id, [...PROOF])).to.emit(precompile, "InferenceSettled");
        else
          await expect(precompile.settle(id, [...PROOF]))
            .to.be.revertedWithCustomError(precompile, "Inference__DeadlinePassed")
            .withArgs(id, deadline);
      });

      it(`at ${at}: slash ${settles ? "reverts (Inference__DeadlineNotReached)" : "succeeds"}`, async function () {
        const { precompile, answeredAtRisk } = await loadFixture(gapFixture);
        const { id, deadline } = await answeredAtRisk(0n);
        await time.setNextBlockTimestamp(deadline + offset);
        if (settles)
          await expect(precompile.slash(id))
            .to.be.revertedWithCustomError(precompile, "Inference__DeadlineNotReached")
            .withArgs(id, deadline);
        else await expect(precompile.slash(id)).to.emit(precompile, "InferenceSlashed");
      });
    }
  });

  describe("a final outcome is final", function () {
    it("slashing twice reverts with Inference__WrongState and credits nothing more", async function () {
      const { precompile, user, stranger, answeredAtRisk } = await loadFixture(gapFixture);
      const { id, deadline } = await answeredAtRisk(STAKE);
      await time.increaseTo(deadline + 1n);
      await (await precompile.connect(stranger).slash(id)).wait();
      const before = [
        await precompile.pendingWithdrawal(user.address),
        await precompile.pendingWithdrawal(stranger.address),
      ];
      await expect(precompile.connect(stranger).slash(id))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Slashed, State.Answered);
      expect([
        await precompile.pendingWithdrawal(user.address),
        await precompile.pendingWithdrawal(stranger.address),
      ]).to.deep.equal(before);
    });

    it("a settled request can never be slashed, however late", async function () {
      const { precompile, node, answeredAtRisk } = await loadFixture(gapFixture);
      const { id, deadline } = await answeredAtRisk(STAKE);
      await time.setNextBlockTimestamp(deadline);
      await (await precompile.settle(id, [...PROOF])).wait();
      for (const later of [1n, 10n ** 6n]) {
        await time.increaseTo(deadline + later);
        await expect(precompile.slash(id))
          .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
          .withArgs(id, State.Settled, State.Answered);
      }
      expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND, 0n, true]);
    });

    it("a slashed request can never settle, even with a proof the verifier accepts", async function () {
      const { precompile, verifier, node, answeredAtRisk } = await loadFixture(gapFixture);
      const { id, deadline } = await answeredAtRisk(STAKE);
      await time.increaseTo(deadline + 1n);
      await (await precompile.slash(id)).wait();
      expect(await verifier.result()).to.equal(true);
      await expect(precompile.settle(id, [...PROOF]))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Slashed, State.Answered);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(0n);
    });

    it("an expired request can never be answered, settled or slashed", async function () {
      const { precompile, node, requestFromUser } = await loadFixture(gapFixture);
      const id = await requestFromUser();
      await time.increase(ANSWER_WINDOW + 1n);
      await (await precompile.expire(id)).wait();
      for (const call of [
        () => precompile.connect(node).answer(id, OUTPUT),
        () => precompile.settle(id, [...PROOF]),
        () => precompile.slash(id),
      ])
        await expect(call()).to.be.revertedWithCustomError(precompile, "Inference__WrongState");
    });
  });

  describe("locked bond", function () {
    it("withdrawBond takes only free bond: the stake behind an unsettled answer stays until it is settled or slashed", async function () {
      const { precompile, node, answeredAtRisk } = await loadFixture(gapFixture);
      const atRisk = stakeFor(parseEther("1.5")); // the stake locked for 1.5 ETH at risk
      const settled = await answeredAtRisk(parseEther("1.5"));
      const free = NODE_BOND - atRisk;
      await expect(precompile.connect(node).withdrawBond(free + 1n))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, free, free + 1n);
      await expect(precompile.connect(node).withdrawBond(free)).to.changeEtherBalance(ethers, node, free);
      await expect(precompile.connect(node).withdrawBond(1n))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, 0n, 1n);
      await (await precompile.settle(settled.id, [...PROOF])).wait();
      await expect(precompile.connect(node).withdrawBond(atRisk)).to.changeEtherBalance(ethers, node, atRisk);
      expect(await precompile.nodeOf(node.address)).to.deep.equal([0n, 0n, true]);
    });
  });

  describe("request ids", function () {
    it("differ for requests in the same block, from one consumer or several", async function () {
      const { precompile, user, stranger, modelId } = await loadFixture(gapFixture);
      await ethers.provider.send("evm_setAutomine", [false]);
      try {
        const send = (from: typeof user) =>
          precompile
            .connect(from)
            .request(modelId, INPUT, Mode.ZK, 0, 0n, { value: feeFor(0), gasLimit: 500_000 });
        const txs = [await send(user), await send(user), await send(stranger)];
        await ethers.provider.send("evm_mine", []);
        const receipts = await Promise.all(txs.map((t) => t.wait()));
        expect(new Set(receipts.map((r) => r!.blockNumber)).size).to.equal(1);
        const ids = await Promise.all(txs.map((t) => requestIdOf(precompile, t)));
        expect(new Set(ids).size).to.equal(3);
      } finally {
        await ethers.provider.send("evm_setAutomine", [true]);
      }
    });

    it("differ across precompile deployments: same consumer, same nonce, another address, another id", async function () {
      const { precompile, admin, user, requestFromUser } = await loadFixture(gapFixture);
      const elsewhere = "0x00000000000000000000000000000000000005F4";
      const second = await installPrecompile(env, { address: elsewhere });
      const { modelId: secondModel } = await registerMockModel(second.registry, admin);

      const first = await requestFromUser();
      const other = await requestIdOf(
        second.precompile,
        second.precompile.connect(user).request(secondModel, INPUT, Mode.ZK, 0, 0n, { value: feeFor(0) }),
      );
      const { chainId } = await ethers.provider.getNetwork();
      const idOf = (chain: bigint, at: string) =>
        keccak256(
          AbiCoder.defaultAbiCoder().encode(
            ["uint256", "address", "address", "uint256"],
            [chain, at, user.address, 0n],
          ),
        );
      expect(first).to.equal(idOf(chainId, INFERENCE_ADDRESS)); // nonce 0 on both
      expect(other).to.equal(idOf(chainId, elsewhere));
      expect(other).to.not.equal(first);
      // the chain id is hashed in: the same deployment on another chain gives another id
      expect(idOf(chainId + 1n, INFERENCE_ADDRESS)).to.not.equal(first);
      expect(await precompile.stateOf(other)).to.equal(State.None);
    });
  });

  describe("copied transactions", function () {
    it("settle calldata replayed from another account pays the fee to the answering node only", async function () {
      const { precompile, node, stranger, answeredAtRisk } = await loadFixture(gapFixture);
      const { id } = await answeredAtRisk(STAKE);
      const data = precompile.interface.encodeFunctionData("settle", [id, [...PROOF]]);
      const tx = stranger.sendTransaction({ to: INFERENCE_ADDRESS, data });
      await expect(tx)
        .to.emit(precompile, "InferenceSettled")
        .withArgs(id, node.address, stranger.address, true);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(REQUEST_FEE);
      expect(await precompile.pendingWithdrawal(stranger.address)).to.equal(0n);
      await expect(node.sendTransaction({ to: INFERENCE_ADDRESS, data }))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Settled, State.Answered);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(REQUEST_FEE);
    });

    it("answer calldata copied by a non-node reverts; copied by another node, it locks that node's own bond", async function () {
      const { precompile, node2, stranger, requestFromUser } = await loadFixture(gapFixture);
      const id = await requestFromUser(INPUT, REQUEST_FEE, parseEther("1.2"));
      const data = precompile.interface.encodeFunctionData("answer", [id, OUTPUT]);
      await expect(stranger.sendTransaction({ to: INFERENCE_ADDRESS, data }))
        .to.be.revertedWithCustomError(precompile, "Inference__NotNode")
        .withArgs(stranger.address);
      await (await node2.sendTransaction({ to: INFERENCE_ADDRESS, data })).wait();
      expect((await precompile.getRequest(id)).node).to.equal(node2.address);
      expect(await precompile.outstandingOf(node2.address)).to.equal(stakeFor(parseEther("1.2")));
    });
  });

  describe("InferenceConsumer._isCovered and Sibyl.stakeFor", function () {
    it("is true for a settled request, or an answered one whose slash would repay the value; false otherwise", async function () {
      const { precompile, recording, node, recordedRequest } = await loadFixture(gapFixture);
      const atRisk = parseEther("0.9");
      const stake = stakeFor(atRisk);
      const covers = slashCompensation(stake); // what a slash would credit the consumer
      expect(covers).to.be.greaterThanOrEqual(atRisk);
      const [settled, slashed, expired] = [
        await recordedRequest(atRisk),
        await recordedRequest(atRisk),
        await recordedRequest(atRisk),
      ];
      expect(await recording.isCovered(keccak256("0x01"), 0n)).to.equal(false); // unknown
      expect(await recording.isCovered(settled, 0n)).to.equal(false); // requested, not answered
      for (const id of [settled, slashed]) await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      expect(await precompile.coverageOf(settled)).to.equal(covers);
      expect(await recording.isCovered(settled, atRisk)).to.equal(true); // the declared value
      expect(await recording.isCovered(settled, covers)).to.equal(true);
      expect(await recording.isCovered(settled, covers + 1n)).to.equal(false);
      expect(await recording.isCovered(settled, stake)).to.equal(false); // the reward is not the consumer's

      await (await precompile.settle(settled, [...PROOF])).wait();
      expect(await recording.isCovered(settled, 2n ** 256n - 1n)).to.equal(true);
      expect(await precompile.coverageOf(settled)).to.equal(0n);

      await time.increaseTo((await precompile.settlementDeadline(slashed)) + ANSWER_WINDOW);
      expect(await recording.isCovered(slashed, covers)).to.equal(true); // overdue, still backed
      await (await precompile.slash(slashed)).wait();
      await (await precompile.expire(expired)).wait();
      for (const id of [slashed, expired]) {
        expect(await recording.isCovered(id, 0n)).to.equal(false);
        expect(await precompile.coverageOf(id)).to.equal(0n);
      }
    });

    it("Sibyl.stakeFor(v) is the least stake whose slash credits at least v", async function () {
      const harness = await ethers.deployContract("SibylHarness");
      const kept = 10_000n - SLASH_REWARD_BPS;
      const edges = [0n, 1n, 19n, 20n, 21n, kept - 1n, kept, kept + 1n, parseEther("1"), MAX_UINT128];
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.constantFrom(...edges), fc.bigInt({ min: 0n, max: 1n << 200n })),
          async (v) => {
            const stake = await harness.stakeFor(v);
            expect(stake).to.equal(stakeFor(v));
            expect(await harness.slashCompensation(stake)).to.equal(slashCompensation(stake));
            expect(slashCompensation(stake)).to.be.greaterThanOrEqual(v);
            if (v > 0n) expect(slashCompensation(stake - 1n)).to.be.lessThan(v);
          },
        ),
        { numRuns: 200 },
      );
    });

    it("a consumer that declares v is covered for v once answered, and the hook already sees the backing", async function () {
      const { precompile, recording, node, recordedRequest } = await loadFixture(gapFixture);
      const v = parseEther("1.234567");
      const id = await recordedRequest(v);
      await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      expect(await recording.isCovered(id, v)).to.equal(true);
      expect(await precompile.coverageOf(id)).to.equal(slashCompensation(stakeFor(v)));
      const answered = await recording.callAt(0);
      expect(answered.backingSeen).to.equal(stakeFor(v));
    });
  });
});
