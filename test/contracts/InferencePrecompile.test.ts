import { expect } from "chai";
import { anyValue } from "@nomicfoundation/hardhat-ethers-chai-matchers/withArgs";
import { AbiCoder, ZeroAddress, keccak256, parseEther, solidityPacked } from "ethers";

import { installPrecompile, INFERENCE_ADDRESS } from "../../src/chain/install.js";
import {
  ANSWER_WINDOW,
  CALLBACK_GAS,
  FEE,
  INPUT,
  INPUT_LENGTH,
  MAX_ANSWER_WINDOW,
  MIN_BOND,
  Mode,
  NODE_BOND,
  OUTPUT,
  OUTPUT_LENGTH,
  PROOF,
  REGISTRY_CHANGE_DELAY,
  REQUEST_FEE,
  SETTLEMENT_WINDOW,
  STAKE,
  State,
  VALUE_BITS,
  env,
  ethers,
  feeFor,
  modelConfig,
  networkHelpers,
  packReference,
  registerMockModel,
  registerWithCode,
  runtimeCodeOf,
  requestIdOf,
  sibylFixture,
  slashCompensation,
  slashReward,
  timestampOf,
} from "./fixtures.js";

const { loadFixture, time } = networkHelpers;

const HALF = 1n << BigInt(VALUE_BITS - 1);
/** Constructor arguments that leave storage uninitialised, as hardhat_setCode does. */
const UNINITIALISED = [ZeroAddress, ZeroAddress, 0n, 0n];

describe("InferencePrecompile: the request state machine and bonds (MockVerifier: tests the state machine, not proofs)", function () {
  describe("installation", function () {
    it("places the same runtime code at 0x…F4 as a normal deployment leaves", async function () {
      const { precompile } = await loadFixture(sibylFixture);
      const deployed = await ethers.deployContract("InferencePrecompile", UNINITIALISED);
      const normal = await ethers.provider.getCode(await deployed.getAddress());
      expect(await ethers.provider.getCode(INFERENCE_ADDRESS)).to.equal(normal);
      expect(await precompile.getAddress()).to.equal(INFERENCE_ADDRESS);
    });

    it("is initialised with the installer's options", async function () {
      const { precompile, registry, admin } = await loadFixture(sibylFixture);
      expect(await precompile.admin()).to.equal(admin.address);
      expect(await precompile.registry()).to.equal(await registry.getAddress());
      expect(await precompile.minBond()).to.equal(MIN_BOND);
      expect(await precompile.answerWindow()).to.equal(ANSWER_WINDOW);
    });

    it("installPrecompile is idempotent: a second call with the same options returns the same registry", async function () {
      const { registry } = await loadFixture(sibylFixture);
      const again = await installPrecompile(env, { minBond: MIN_BOND, answerWindow: ANSWER_WINDOW });
      expect(await again.registry.getAddress()).to.equal(await registry.getAddress());
    });

    it("emits Initialized with the configuration", async function () {
      const [admin] = await ethers.getSigners();
      const fresh = await ethers.deployContract("InferencePrecompile", UNINITIALISED);
      const registry = await ethers.deployContract("ModelRegistry");
      await expect(fresh.initialize(admin.address, await registry.getAddress(), 5n, 7n))
        .to.emit(fresh, "Initialized")
        .withArgs(admin.address, await registry.getAddress(), 5n, 7n);
    });

    it("reverts a second initialize with Inference__AlreadyInitialized", async function () {
      const { precompile, admin, registry } = await loadFixture(sibylFixture);
      await expect(
        precompile.initialize(admin.address, await registry.getAddress(), 1n, 1n),
      ).to.be.revertedWithCustomError(precompile, "Inference__AlreadyInitialized");
    });

    it("reverts initialize with a zero admin, a registry without code, a zero minBond, or an answer window of 0 or over 1 day (Inference__InvalidConfig)", async function () {
      const [admin] = await ethers.getSigners();
      const fresh = await ethers.deployContract("InferencePrecompile", UNINITIALISED);
      const registry = await (await ethers.deployContract("ModelRegistry")).getAddress();
      for (const args of [
        [ZeroAddress, registry, 1n, 1n],
        [admin.address, admin.address, 1n, 1n],
        [admin.address, registry, 0n, 1n],
        [admin.address, registry, 1n, 0n],
        [admin.address, registry, 1n, MAX_ANSWER_WINDOW + 1n],
      ] as const) {
        await expect(fresh.initialize(...args), args.join(", ")).to.be.revertedWithCustomError(
          fresh,
          "Inference__InvalidConfig",
        );
      }
      // the bounds themselves are accepted
      await expect(fresh.initialize(admin.address, registry, 1n, MAX_ANSWER_WINDOW))
        .to.emit(fresh, "Initialized")
        .withArgs(admin.address, registry, 1n, MAX_ANSWER_WINDOW);
    });

    it("refuses the same bad configurations in the constructor (Inference__InvalidConfig)", async function () {
      const [admin] = await ethers.getSigners();
      const registry = await (await ethers.deployContract("ModelRegistry")).getAddress();
      const factory = await ethers.getContractFactory("InferencePrecompile");
      for (const [minBond, answerWindow] of [
        [0n, 1n],
        [1n, MAX_ANSWER_WINDOW + 1n],
      ] as const)
        await expect(
          factory.deploy(admin.address, registry, minBond, answerWindow),
        ).to.be.revertedWithCustomError(factory, "Inference__InvalidConfig");
    });

    it("refuses state-changing calls before initialize with Inference__NotInitialized", async function () {
      const [, , , user] = await ethers.getSigners();
      const fresh = await ethers.deployContract("InferencePrecompile", UNINITIALISED);
      await expect(fresh.connect(user).registerNode({ value: MIN_BOND })).to.be.revertedWithCustomError(
        fresh,
        "Inference__NotInitialized",
      );
      await expect(fresh.connect(user).withdraw()).to.be.revertedWithCustomError(
        fresh,
        "Inference__NotInitialized",
      );
    });

    it("lets only the admin propose a registry with code, and announces it with RegistryChangeProposed", async function () {
      const { precompile, registry, stranger } = await loadFixture(sibylFixture);
      const next = await (await ethers.deployContract("ModelRegistry")).getAddress();
      await expect(precompile.connect(stranger).proposeRegistry(next))
        .to.be.revertedWithCustomError(precompile, "Inference__NotAdmin")
        .withArgs(stranger.address);
      await expect(precompile.proposeRegistry(stranger.address)).to.be.revertedWithCustomError(
        precompile,
        "Inference__InvalidConfig",
      );
      expect(await precompile.pendingRegistry()).to.deep.equal([ZeroAddress, 0n]);
      expect(await precompile.REGISTRY_CHANGE_DELAY()).to.equal(REGISTRY_CHANGE_DELAY);
      const at = BigInt(await time.latest()) + 5n;
      await time.setNextBlockTimestamp(at);
      await expect(precompile.proposeRegistry(next))
        .to.emit(precompile, "RegistryChangeProposed")
        .withArgs(await registry.getAddress(), next, at + REGISTRY_CHANGE_DELAY);
      expect(await precompile.pendingRegistry()).to.deep.equal([next, at + REGISTRY_CHANGE_DELAY]);
      expect(await precompile.registry()).to.equal(await registry.getAddress()); // not yet
    });

    it("applies the change from effectiveAt on, for anyone, and emits RegistryUpdated", async function () {
      const { precompile, registry, stranger } = await loadFixture(sibylFixture);
      const next = await (await ethers.deployContract("ModelRegistry")).getAddress();
      const proposedAt = await timestampOf(precompile.proposeRegistry(next));
      const effectiveAt = proposedAt + REGISTRY_CHANGE_DELAY;
      await time.setNextBlockTimestamp(effectiveAt - 1n);
      await expect(precompile.connect(stranger).applyRegistryChange())
        .to.be.revertedWithCustomError(precompile, "Inference__RegistryChangeNotDue")
        .withArgs(effectiveAt);
      await time.setNextBlockTimestamp(effectiveAt);
      await expect(precompile.connect(stranger).applyRegistryChange())
        .to.emit(precompile, "RegistryUpdated")
        .withArgs(await registry.getAddress(), next);
      expect(await precompile.registry()).to.equal(next);
      expect(await precompile.pendingRegistry()).to.deep.equal([ZeroAddress, 0n]);
      await expect(precompile.applyRegistryChange()).to.be.revertedWithCustomError(
        precompile,
        "Inference__NoRegistryChange",
      );
    });

    it("lets only the admin cancel an announced change (RegistryChangeCancelled); nothing to cancel or apply reverts with Inference__NoRegistryChange", async function () {
      const { precompile, registry, stranger } = await loadFixture(sibylFixture);
      await expect(precompile.cancelRegistryChange()).to.be.revertedWithCustomError(
        precompile,
        "Inference__NoRegistryChange",
      );
      await expect(precompile.applyRegistryChange()).to.be.revertedWithCustomError(
        precompile,
        "Inference__NoRegistryChange",
      );
      const next = await (await ethers.deployContract("ModelRegistry")).getAddress();
      await (await precompile.proposeRegistry(next)).wait();
      await expect(precompile.connect(stranger).cancelRegistryChange())
        .to.be.revertedWithCustomError(precompile, "Inference__NotAdmin")
        .withArgs(stranger.address);
      await expect(precompile.cancelRegistryChange())
        .to.emit(precompile, "RegistryChangeCancelled")
        .withArgs(next);
      expect(await precompile.pendingRegistry()).to.deep.equal([ZeroAddress, 0n]);
      await time.increase(REGISTRY_CHANGE_DELAY + 1n);
      await expect(precompile.applyRegistryChange()).to.be.revertedWithCustomError(
        precompile,
        "Inference__NoRegistryChange",
      );
      expect(await precompile.registry()).to.equal(await registry.getAddress());
    });

    it("keeps the terms of existing requests when the registry changes", async function () {
      const { precompile, node, modelId, user, requestFromUser } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      await (
        await precompile.proposeRegistry(await (await ethers.deployContract("ModelRegistry")).getAddress())
      ).wait();
      await time.increase(REGISTRY_CHANGE_DELAY);
      await (await precompile.applyRegistryChange()).wait();
      // the new registry does not know the model: new requests are refused, the old one still runs
      await expect(
        precompile.connect(user).request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
      )
        .to.be.revertedWithCustomError(precompile, "Inference__UnknownModel")
        .withArgs(modelId);
      await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      expect(await precompile.bondBacking(id)).to.equal(STAKE);
      await expect(precompile.settle(id, [...PROOF])).to.emit(precompile, "InferenceSettled");
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(REQUEST_FEE);
    });
  });

  describe("nodes", function () {
    it("registers a node with at least minBond and emits NodeBonded", async function () {
      const { precompile, stranger } = await loadFixture(sibylFixture);
      await expect(precompile.connect(stranger).registerNode({ value: MIN_BOND }))
        .to.emit(precompile, "NodeBonded")
        .withArgs(stranger.address, MIN_BOND, MIN_BOND);
      expect(await precompile.nodeOf(stranger.address)).to.deep.equal([MIN_BOND, 0n, true]);
    });

    it("reverts a first registration below minBond with Inference__BondTooLow", async function () {
      const { precompile, stranger } = await loadFixture(sibylFixture);
      await expect(precompile.connect(stranger).registerNode({ value: MIN_BOND - 1n }))
        .to.be.revertedWithCustomError(precompile, "Inference__BondTooLow")
        .withArgs(MIN_BOND, MIN_BOND - 1n);
    });

    it("accepts top-ups of any non-zero amount, and refuses an empty one", async function () {
      const { precompile, node } = await loadFixture(sibylFixture);
      await expect(precompile.connect(node).registerNode({ value: 1n }))
        .to.emit(precompile, "NodeBonded")
        .withArgs(node.address, 1n, NODE_BOND + 1n);
      await expect(precompile.connect(node).registerNode({ value: 0n }))
        .to.be.revertedWithCustomError(precompile, "Inference__BondTooLow")
        .withArgs(1n, 0n);
    });

    it("withdraws free bond, sends it and emits BondWithdrawn", async function () {
      const { precompile, node } = await loadFixture(sibylFixture);
      const amount = parseEther("0.3");
      const tx = precompile.connect(node).withdrawBond(amount);
      await expect(tx)
        .to.emit(precompile, "BondWithdrawn")
        .withArgs(node.address, amount, NODE_BOND - amount);
      await expect(tx).to.changeEtherBalances(ethers, [node, precompile], [amount, -amount]);
    });

    it("withdraws only the free bond: locked stake stays (Inference__InsufficientBond)", async function () {
      const { precompile, node, answeredRequest } = await loadFixture(sibylFixture);
      await answeredRequest();
      const free = NODE_BOND - STAKE;
      await expect(precompile.connect(node).withdrawBond(free + 1n))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, free, free + 1n);
      await expect(precompile.connect(node).withdrawBond(free)).to.emit(precompile, "BondWithdrawn");
      expect(await precompile.nodeOf(node.address)).to.deep.equal([STAKE, STAKE, true]);
    });

    it("reverts a zero withdrawal with Inference__NothingToWithdraw and a non-node's with Inference__NotNode", async function () {
      const { precompile, node, stranger } = await loadFixture(sibylFixture);
      await expect(precompile.connect(node).withdrawBond(0n))
        .to.be.revertedWithCustomError(precompile, "Inference__NothingToWithdraw")
        .withArgs(node.address);
      await expect(precompile.connect(stranger).withdrawBond(1n))
        .to.be.revertedWithCustomError(precompile, "Inference__NotNode")
        .withArgs(stranger.address);
    });

    it("keeps a node below minBond registered; it answers only while its free bond covers the stake plus minBond", async function () {
      const { precompile, node, requestFromUser } = await loadFixture(sibylFixture);
      await (await precompile.connect(node).withdrawBond(NODE_BOND - STAKE - MIN_BOND)).wait();
      expect((await precompile.nodeOf(node.address)).registered).to.equal(true);
      const first = await requestFromUser();
      await expect(precompile.connect(node).answer(first, OUTPUT)).to.emit(precompile, "InferenceAnswered");
      const second = await requestFromUser();
      await expect(precompile.connect(node).answer(second, OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, MIN_BOND, STAKE + MIN_BOND);
      await (await precompile.connect(node).withdrawBond(MIN_BOND)).wait();
      expect(await precompile.nodeOf(node.address)).to.deep.equal([STAKE, STAKE, true]);
      await expect(precompile.connect(node).answer(second, OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, 0n, STAKE + MIN_BOND);
    });
  });

  describe("request", function () {
    it("stores the request, escrows the whole value and emits InferenceRequested", async function () {
      const { precompile, user, modelId } = await loadFixture(sibylFixture);
      const value = REQUEST_FEE + 123n;
      const tx = precompile.connect(user).request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value });
      await expect(tx)
        .to.emit(precompile, "InferenceRequested")
        .withArgs(anyValue, modelId, user.address, INPUT, Mode.ZK, CALLBACK_GAS, value, STAKE);
      await expect(tx).to.changeEtherBalances(ethers, [user, precompile], [-value, value]);
      const id = await requestIdOf(precompile, tx);
      const r = await precompile.getRequest(id);
      expect(r.consumer).to.equal(user.address);
      expect(r.requestedAt).to.equal(await time.latest());
      expect(r.callbackGasLimit).to.equal(CALLBACK_GAS);
      expect(r.modelId).to.equal(modelId);
      expect(r.node).to.equal(ZeroAddress);
      expect(r.answeredAt).to.equal(0n);
      expect(r.state).to.equal(State.Requested);
      expect(r.mode).to.equal(Mode.ZK);
      expect(r.fee).to.equal(value);
      expect(r.stake).to.equal(STAKE);
      expect(r.inPacked).to.deep.equal(packReference(INPUT, VALUE_BITS));
      expect(r.outPacked).to.deep.equal([]);
      expect(await precompile.stateOf(id)).to.equal(State.Requested);
      expect(await precompile.outputOf(id)).to.deep.equal([]);
      expect(await precompile.answeredAt(id)).to.equal(0n);
      expect(await precompile.settlementDeadline(id)).to.equal(0n);
    });

    it("derives the id as keccak256(abi.encode(chainid, precompile, consumer, nonce))", async function () {
      const { user, requestFromUser } = await loadFixture(sibylFixture);
      const { chainId } = await ethers.provider.getNetwork();
      const id = await requestFromUser();
      expect(id).to.equal(
        keccak256(
          AbiCoder.defaultAbiCoder().encode(
            ["uint256", "address", "address", "uint256"],
            [chainId, INFERENCE_ADDRESS, user.address, 0n],
          ),
        ),
      );
    });

    it("gives two identical requests in one block different ids", async function () {
      const { precompile, user, modelId } = await loadFixture(sibylFixture);
      await ethers.provider.send("evm_setAutomine", [false]);
      try {
        const a = await precompile
          .connect(user)
          .request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE });
        const b = await precompile
          .connect(user)
          .request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE });
        await ethers.provider.send("evm_mine", []);
        const [ra, rb] = [await a.wait(), await b.wait()];
        expect(ra!.blockNumber).to.equal(rb!.blockNumber);
        const [ida, idb] = [await requestIdOf(precompile, a), await requestIdOf(precompile, b)];
        expect(ida).to.not.equal(idb);
        expect(await precompile.stateOf(ida)).to.equal(State.Requested);
        expect(await precompile.stateOf(idb)).to.equal(State.Requested);
      } finally {
        await ethers.provider.send("evm_setAutomine", [true]);
      }
    });

    it("reverts the TEE and VANILLA modes with Inference__UnsupportedMode", async function () {
      const { precompile, user, modelId } = await loadFixture(sibylFixture);
      for (const mode of [Mode.TEE, Mode.VANILLA]) {
        await expect(
          precompile.connect(user).request(modelId, INPUT, mode, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
        )
          .to.be.revertedWithCustomError(precompile, "Inference__UnsupportedMode")
          .withArgs(mode);
      }
    });

    it("reverts an unregistered model with Inference__UnknownModel", async function () {
      const { precompile, user } = await loadFixture(sibylFixture);
      const unknown = keccak256("0x1234");
      await expect(
        precompile.connect(user).request(unknown, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
      )
        .to.be.revertedWithCustomError(precompile, "Inference__UnknownModel")
        .withArgs(unknown);
    });

    it("reverts a deactivated model with Inference__UnknownModel", async function () {
      const { precompile, registry, user, modelId } = await loadFixture(sibylFixture);
      await (await registry.deactivate(modelId)).wait();
      await expect(
        precompile.connect(user).request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
      )
        .to.be.revertedWithCustomError(precompile, "Inference__UnknownModel")
        .withArgs(modelId);
    });

    it("reverts a fee below the model's fee for the callback gas with Inference__FeeTooLow", async function () {
      const { precompile, registry, user, modelId } = await loadFixture(sibylFixture);
      const request = (gas: number, value: bigint) =>
        precompile.connect(user).request(modelId, INPUT, Mode.ZK, gas, 0n, { value });
      expect(await registry.feeFor(modelId, CALLBACK_GAS)).to.equal(REQUEST_FEE);
      await expect(request(CALLBACK_GAS, REQUEST_FEE - 1n))
        .to.be.revertedWithCustomError(precompile, "Inference__FeeTooLow")
        .withArgs(REQUEST_FEE, REQUEST_FEE - 1n);
      await expect(request(CALLBACK_GAS, FEE))
        .to.be.revertedWithCustomError(precompile, "Inference__FeeTooLow")
        .withArgs(REQUEST_FEE, FEE);
      // without hooks the base fee is enough
      await expect(request(0, FEE - 1n))
        .to.be.revertedWithCustomError(precompile, "Inference__FeeTooLow")
        .withArgs(FEE, FEE - 1n);
      await expect(request(0, FEE)).to.emit(precompile, "InferenceRequested");
      await expect(request(CALLBACK_GAS, REQUEST_FEE)).to.emit(precompile, "InferenceRequested");
    });

    it("reverts a wrong input length with Inference__WrongLength", async function () {
      const { precompile, user, modelId } = await loadFixture(sibylFixture);
      for (const input of [INPUT.slice(1), [...INPUT, 0n], []]) {
        await expect(
          precompile.connect(user).request(modelId, input, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
        )
          .to.be.revertedWithCustomError(precompile, "Inference__WrongLength")
          .withArgs(INPUT_LENGTH, input.length);
      }
    });

    it("reverts input values just outside the signed range with Inference__ValueOutOfRange", async function () {
      const { precompile, user, modelId } = await loadFixture(sibylFixture);
      for (const bad of [-HALF - 1n, HALF]) {
        const input = [0n, 0n, bad, 0n];
        await expect(
          precompile.connect(user).request(modelId, input, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
        )
          .to.be.revertedWithCustomError(precompile, "Inference__ValueOutOfRange")
          .withArgs(2n, bad, VALUE_BITS);
      }
    });

    it("accepts the extreme values -2^(b-1) and 2^(b-1)-1", async function () {
      const { precompile, requestFromUser } = await loadFixture(sibylFixture);
      const input = [-HALF, HALF - 1n, -HALF, HALF - 1n];
      const id = await requestFromUser(input);
      expect((await precompile.getRequest(id)).inPacked).to.deep.equal(packReference(input, VALUE_BITS));
    });
  });

  describe("answer", function () {
    it("stores the output, locks the stake and emits InferenceAnswered with the deadline", async function () {
      const { precompile, node, requestFromUser } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      const next = BigInt(await time.latest()) + 10n;
      await time.setNextBlockTimestamp(next);
      await expect(precompile.connect(node).answer(id, OUTPUT))
        .to.emit(precompile, "InferenceAnswered")
        .withArgs(id, node.address, OUTPUT, next + SETTLEMENT_WINDOW, true);
      expect(await precompile.stateOf(id)).to.equal(State.Answered);
      expect(await precompile.outputOf(id)).to.deep.equal(OUTPUT);
      expect(await precompile.answeredAt(id)).to.equal(next);
      expect(await precompile.settlementDeadline(id)).to.equal(next + SETTLEMENT_WINDOW);
      expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND, STAKE, true]);
      const r = await precompile.getRequest(id);
      expect(r.node).to.equal(node.address);
      expect(r.outPacked).to.deep.equal(packReference(OUTPUT, VALUE_BITS));
      expect(await precompile.publicSignalsOf(id)).to.deep.equal([
        BigInt(id) >> 3n,
        ...packReference(INPUT, VALUE_BITS),
        ...packReference(OUTPUT, VALUE_BITS),
      ]);
    });

    it("reverts an answer from a non-node with Inference__NotNode", async function () {
      const { precompile, stranger, requestFromUser } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      await expect(precompile.connect(stranger).answer(id, OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__NotNode")
        .withArgs(stranger.address);
    });

    it("reverts an unknown request with Inference__UnknownRequest", async function () {
      const { precompile, node } = await loadFixture(sibylFixture);
      const id = keccak256("0xabcd");
      await expect(precompile.connect(node).answer(id, OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__UnknownRequest")
        .withArgs(id);
    });

    it("reverts a second answer (even from another node) with Inference__WrongState", async function () {
      const { precompile, node2, answeredRequest } = await loadFixture(sibylFixture);
      const { id } = await answeredRequest();
      await expect(precompile.connect(node2).answer(id, OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Answered, State.Requested);
    });

    it("reverts a wrong output length with Inference__WrongLength", async function () {
      const { precompile, node, requestFromUser } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      for (const output of [OUTPUT.slice(1), [...OUTPUT, 0n]]) {
        await expect(precompile.connect(node).answer(id, output))
          .to.be.revertedWithCustomError(precompile, "Inference__WrongLength")
          .withArgs(OUTPUT_LENGTH, output.length);
      }
    });

    it("reverts output values just outside the signed range with Inference__ValueOutOfRange", async function () {
      const { precompile, node, requestFromUser } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      for (const bad of [-HALF - 1n, HALF]) {
        await expect(precompile.connect(node).answer(id, [bad, 0n, 0n]))
          .to.be.revertedWithCustomError(precompile, "Inference__ValueOutOfRange")
          .withArgs(0n, bad, VALUE_BITS);
      }
    });

    it("reverts when the node's free bond does not cover the stake plus minBond (Inference__InsufficientBond)", async function () {
      const { precompile, node, requestFromUser } = await loadFixture(sibylFixture);
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push(await requestFromUser());
      for (const id of ids.slice(0, 4)) await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      await expect(precompile.connect(node).answer(ids[4], OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, NODE_BOND - 4n * STAKE, STAKE + MIN_BOND);
    });

    it("still answers after the answer window until someone expires the request", async function () {
      const { precompile, node, requestFromUser } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      await time.increase(ANSWER_WINDOW * 2n);
      await expect(precompile.connect(node).answer(id, OUTPUT)).to.emit(precompile, "InferenceAnswered");
    });
  });

  describe("settle", function () {
    it("settles, unlocks the stake, credits the fee to the node and emits InferenceSettled", async function () {
      const { precompile, node, stranger, answeredRequest } = await loadFixture(sibylFixture);
      const { id } = await answeredRequest();
      await expect(precompile.connect(stranger).settle(id, [...PROOF]))
        .to.emit(precompile, "InferenceSettled")
        .withArgs(id, node.address, stranger.address, true);
      expect(await precompile.stateOf(id)).to.equal(State.Settled);
      expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND, 0n, true]);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(REQUEST_FEE);
      expect(await precompile.outputOf(id)).to.deep.equal(OUTPUT);
    });

    it("calls verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[3]) with the proof and the public signals", async function () {
      const { precompile, verifier, registry, modelId, answeredRequest } = await loadFixture(sibylFixture);
      const { id } = await answeredRequest();
      const model = await registry.getModel(modelId);
      const selector = keccak256(
        Buffer.from("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[3])"),
      ).slice(0, 10);
      expect(model.verifySelector).to.equal(selector);
      expect(model.numPublicSignals).to.equal(3n);
      const signals = [
        BigInt(id) >> 3n,
        ...packReference(INPUT, VALUE_BITS),
        ...packReference(OUTPUT, VALUE_BITS),
      ];
      const calldata = solidityPacked(
        ["bytes4", "uint256[8]", "uint256[3]"],
        [selector, [...PROOF], signals],
      );
      await (await verifier.expectCalldata(keccak256(calldata))).wait();
      // a different proof word changes the calldata: refused
      await expect(precompile.settle(id, [9n, ...PROOF.slice(1)])).to.be.revertedWithCustomError(
        precompile,
        "Inference__InvalidProof",
      );
      await expect(precompile.settle(id, [...PROOF])).to.emit(precompile, "InferenceSettled");
    });

    for (const [name, setUp] of [
      [
        "returns false",
        async (v: Awaited<ReturnType<typeof sibylFixture>>["verifier"]) => v.setResult(false),
      ],
      ["reverts", async (v: Awaited<ReturnType<typeof sibylFixture>>["verifier"]) => v.setBehaviour(1)],
      [
        "returns less than a word",
        async (v: Awaited<ReturnType<typeof sibylFixture>>["verifier"]) => v.setBehaviour(2),
      ],
    ] as const) {
      it(`reverts with Inference__InvalidProof and changes nothing when the verifier ${name}`, async function () {
        const { precompile, node, verifier, answeredRequest } = await loadFixture(sibylFixture);
        const { id } = await answeredRequest();
        await (await setUp(verifier)).wait();
        const before = await precompile.getRequest(id);
        await expect(precompile.settle(id, [...PROOF]))
          .to.be.revertedWithCustomError(precompile, "Inference__InvalidProof")
          .withArgs(id);
        expect(await precompile.getRequest(id)).to.deep.equal(before);
        expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND, STAKE, true]);
        expect(await precompile.pendingWithdrawal(node.address)).to.equal(0n);
      });
    }

    it("reverts with Inference__InvalidProof when the verifier succeeds with empty return data (EmptyReturnVerifier)", async function () {
      const { precompile, registry, admin, node, user } = await loadFixture(sibylFixture);
      const code = await runtimeCodeOf("EmptyReturnVerifier");
      const { modelId, verifierAddress } = await registerWithCode(
        registry,
        admin,
        modelConfig(),
        code,
        "empty",
      );
      // the call itself succeeds and returns nothing
      const data = await ethers.provider.call({ to: verifierAddress, data: "0x12345678" });
      expect(data).to.equal("0x");
      const id = await requestIdOf(
        precompile,
        precompile.connect(user).request(modelId, INPUT, Mode.ZK, 0, 0n, { value: feeFor(0) }),
      );
      await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      // Only a returned word equal to 1 counts: the memory the precompile reads the word from
      // may already hold a 1 (here the last index of the signal loop's slot hash), so this fails
      // if the precompile stops checking returndatasize.
      await expect(precompile.settle(id, [...PROOF]))
        .to.be.revertedWithCustomError(precompile, "Inference__InvalidProof")
        .withArgs(id);
      expect(await precompile.stateOf(id)).to.equal(State.Answered);
      expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND, STAKE, true]);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(0n);
    });

    it("reverts settling before the answer with Inference__WrongState", async function () {
      const { precompile, requestFromUser } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      await expect(precompile.settle(id, [...PROOF]))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Requested, State.Answered);
    });

    it("reverts settling twice with Inference__WrongState", async function () {
      const { precompile, answeredRequest } = await loadFixture(sibylFixture);
      const { id } = await answeredRequest();
      await (await precompile.settle(id, [...PROOF])).wait();
      await expect(precompile.settle(id, [...PROOF]))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Settled, State.Answered);
    });

    it("reverts an unknown request with Inference__UnknownRequest", async function () {
      const { precompile } = await loadFixture(sibylFixture);
      const id = keccak256("0xbeef");
      await expect(precompile.settle(id, [...PROOF]))
        .to.be.revertedWithCustomError(precompile, "Inference__UnknownRequest")
        .withArgs(id);
    });

    for (const offset of [-1n, 0n]) {
      it(`settles at deadline${offset === 0n ? "" : " - 1"}`, async function () {
        const { precompile, answeredRequest } = await loadFixture(sibylFixture);
        const { id, deadline } = await answeredRequest();
        await time.setNextBlockTimestamp(deadline + offset);
        await expect(precompile.settle(id, [...PROOF])).to.emit(precompile, "InferenceSettled");
      });
    }

    it("reverts at deadline + 1 with Inference__DeadlinePassed", async function () {
      const { precompile, answeredRequest } = await loadFixture(sibylFixture);
      const { id, deadline } = await answeredRequest();
      await time.setNextBlockTimestamp(deadline + 1n);
      await expect(precompile.settle(id, [...PROOF]))
        .to.be.revertedWithCustomError(precompile, "Inference__DeadlinePassed")
        .withArgs(id, deadline);
    });
  });

  describe("slash", function () {
    for (const offset of [-1n, 0n]) {
      it(`reverts at deadline${offset === 0n ? "" : " - 1"} with Inference__DeadlineNotReached`, async function () {
        const { precompile, answeredRequest } = await loadFixture(sibylFixture);
        const { id, deadline } = await answeredRequest();
        await time.setNextBlockTimestamp(deadline + offset);
        await expect(precompile.slash(id))
          .to.be.revertedWithCustomError(precompile, "Inference__DeadlineNotReached")
          .withArgs(id, deadline);
      });
    }

    it("at deadline + 1: stake less the slasher's reward and the fee to the consumer, the reward to the slasher", async function () {
      const { precompile, node, user, stranger, answeredRequest } = await loadFixture(sibylFixture);
      const { id, deadline } = await answeredRequest();
      await time.setNextBlockTimestamp(deadline + 1n);
      await expect(precompile.connect(stranger).slash(id))
        .to.emit(precompile, "InferenceSlashed")
        .withArgs(
          id,
          node.address,
          stranger.address,
          slashCompensation(STAKE),
          slashReward(STAKE),
          REQUEST_FEE,
          true,
        );
      expect(await precompile.stateOf(id)).to.equal(State.Slashed);
      expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND - STAKE, 0n, true]);
      expect(await precompile.pendingWithdrawal(user.address)).to.equal(
        slashCompensation(STAKE) + REQUEST_FEE,
      );
      expect(await precompile.pendingWithdrawal(stranger.address)).to.equal(slashReward(STAKE));
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(0n);
    });

    it("reverts slashing twice, or settling a slashed answer, with Inference__WrongState", async function () {
      const { precompile, answeredRequest } = await loadFixture(sibylFixture);
      const { id, deadline } = await answeredRequest();
      await time.increaseTo(deadline + 1n);
      await (await precompile.slash(id)).wait();
      await expect(precompile.slash(id))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Slashed, State.Answered);
      await expect(precompile.settle(id, [...PROOF]))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Slashed, State.Answered);
    });

    it("reverts slashing an unanswered request with Inference__WrongState, an unknown one with Inference__UnknownRequest", async function () {
      const { precompile, requestFromUser } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      await expect(precompile.slash(id))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Requested, State.Answered);
      const unknown = keccak256("0x99");
      await expect(precompile.slash(unknown))
        .to.be.revertedWithCustomError(precompile, "Inference__UnknownRequest")
        .withArgs(unknown);
    });
  });

  describe("expire", function () {
    it("reverts until the answer window has passed with Inference__DeadlineNotReached", async function () {
      const { precompile, requestFromUser } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      const expiresAt = BigInt(await time.latest()) + ANSWER_WINDOW;
      for (const at of [expiresAt - 1n, expiresAt]) {
        await time.setNextBlockTimestamp(at);
        await expect(precompile.expire(id))
          .to.be.revertedWithCustomError(precompile, "Inference__DeadlineNotReached")
          .withArgs(id, expiresAt);
      }
    });

    it("expires after the window, refunds the fee and emits InferenceExpired", async function () {
      const { precompile, user, stranger, requestFromUser } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      await time.setNextBlockTimestamp(BigInt(await time.latest()) + ANSWER_WINDOW + 1n);
      await expect(precompile.connect(stranger).expire(id))
        .to.emit(precompile, "InferenceExpired")
        .withArgs(id, user.address, REQUEST_FEE, true);
      expect(await precompile.stateOf(id)).to.equal(State.Expired);
      expect(await precompile.pendingWithdrawal(user.address)).to.equal(REQUEST_FEE);
      expect(await precompile.outputOf(id)).to.deep.equal([]);
    });

    it("reverts expiring twice, answering an expired request, or expiring an answered one (Inference__WrongState)", async function () {
      const { precompile, node, requestFromUser, answeredRequest } = await loadFixture(sibylFixture);
      const { id: answered } = await answeredRequest();
      const id = await requestFromUser();
      await time.increase(ANSWER_WINDOW + 1n);
      await (await precompile.expire(id)).wait();
      await expect(precompile.expire(id))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Expired, State.Requested);
      await expect(precompile.connect(node).answer(id, OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Expired, State.Requested);
      await expect(precompile.expire(answered))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(answered, State.Answered, State.Requested);
    });
  });

  describe("withdraw", function () {
    it("pays the node its fee after settlement and emits Withdrawn", async function () {
      const { precompile, node, answeredRequest } = await loadFixture(sibylFixture);
      const { id } = await answeredRequest();
      await (await precompile.settle(id, [...PROOF])).wait();
      const tx = precompile.connect(node).withdraw();
      await expect(tx).to.emit(precompile, "Withdrawn").withArgs(node.address, REQUEST_FEE);
      await expect(tx).to.changeEtherBalances(ethers, [node, precompile], [REQUEST_FEE, -REQUEST_FEE]);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(0n);
    });

    it("pays the consumer its compensation and fee, and the slasher its reward, after a slash", async function () {
      const { precompile, user, stranger, answeredRequest } = await loadFixture(sibylFixture);
      const { id, deadline } = await answeredRequest();
      await time.increaseTo(deadline + 1n);
      await (await precompile.connect(stranger).slash(id)).wait();
      const owed = slashCompensation(STAKE) + REQUEST_FEE;
      await expect(precompile.connect(user).withdraw()).to.changeEtherBalances(
        ethers,
        [user, precompile],
        [owed, -owed],
      );
      await expect(precompile.connect(stranger).withdraw()).to.changeEtherBalances(
        ethers,
        [stranger, precompile],
        [slashReward(STAKE), -slashReward(STAKE)],
      );
    });

    it("reverts with Inference__NothingToWithdraw when nothing is pending", async function () {
      const { precompile, stranger } = await loadFixture(sibylFixture);
      await expect(precompile.connect(stranger).withdraw())
        .to.be.revertedWithCustomError(precompile, "Inference__NothingToWithdraw")
        .withArgs(stranger.address);
    });

    it("reverts with Inference__TransferFailed when the recipient refuses ETH, keeping the credit", async function () {
      const { precompile, reverting, modelId } = await loadFixture(sibylFixture);
      const id = await requestIdOf(
        precompile,
        reverting.makeRequest(modelId, INPUT, CALLBACK_GAS, { value: REQUEST_FEE }),
      );
      await time.increase(ANSWER_WINDOW + 1n);
      await (await precompile.expire(id)).wait();
      await expect(reverting.collect())
        .to.be.revertedWithCustomError(precompile, "Inference__TransferFailed")
        .withArgs(await reverting.getAddress(), REQUEST_FEE);
      expect(await precompile.pendingWithdrawal(await reverting.getAddress())).to.equal(REQUEST_FEE);
    });
  });

  describe("accounting", function () {
    it("holds exactly bonds + pending payments + escrowed fees through a mixed history", async function () {
      const { precompile, node, node2, user, requestFromUser, answeredRequest } =
        await loadFixture(sibylFixture);
      const settled = await answeredRequest();
      await (await precompile.settle(settled.id, [...PROOF])).wait();
      const slashed = await answeredRequest();
      const expired = await requestFromUser();
      const open = await requestFromUser();
      await (await precompile.connect(node2).answer(open, OUTPUT)).wait();
      await time.increaseTo(slashed.deadline + ANSWER_WINDOW + 1n);
      await (await precompile.slash(slashed.id)).wait();
      await (await precompile.expire(expired)).wait();

      const bonds =
        (await precompile.nodeOf(node.address)).bond + (await precompile.nodeOf(node2.address)).bond;
      const [admin] = await ethers.getSigners(); // the slasher
      const pending =
        (await precompile.pendingWithdrawal(node.address)) +
        (await precompile.pendingWithdrawal(user.address)) +
        (await precompile.pendingWithdrawal(admin.address));
      const escrowed = REQUEST_FEE; // the open request
      expect(bonds).to.equal(2n * NODE_BOND - STAKE);
      expect(pending).to.equal(REQUEST_FEE + STAKE + REQUEST_FEE + REQUEST_FEE);
      expect(await ethers.provider.getBalance(INFERENCE_ADDRESS)).to.equal(bonds + pending + escrowed);
      expect(await precompile.nodeOf(node2.address)).to.deep.equal([NODE_BOND, STAKE, true]);
    });
  });

  describe("views", function () {
    it("revert for unknown ids with Inference__UnknownRequest, except stateOf (None)", async function () {
      const { precompile } = await loadFixture(sibylFixture);
      const id = keccak256("0x77");
      expect(await precompile.stateOf(id)).to.equal(State.None);
      for (const call of [
        () => precompile.getRequest(id),
        () => precompile.outputOf(id),
        () => precompile.answeredAt(id),
        () => precompile.settlementDeadline(id),
        () => precompile.publicSignalsOf(id),
        () => precompile.coverageOf(id),
        () => precompile.bondBacking(id),
      ]) {
        await expect(call())
          .to.be.revertedWithCustomError(precompile, "Inference__UnknownRequest")
          .withArgs(id);
      }
    });

    it("publicSignalsOf reverts before the answer with Inference__WrongState", async function () {
      const { precompile, requestFromUser } = await loadFixture(sibylFixture);
      const id = await requestFromUser();
      await expect(precompile.publicSignalsOf(id))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Requested, State.Answered);
    });

    it("packs a model with several words per vector like the reference", async function () {
      const { precompile, registry, admin, node, user } = await loadFixture(sibylFixture);
      const { modelId } = await registerMockModel(
        registry,
        admin,
        { inputLength: 25, outputLength: 11, valueBits: 16, inputBits: 16 },
        "wide",
      );
      const input = Array.from({ length: 25 }, (_, i) => BigInt((i * 2_654_435_761) % 65_536) - 32_768n);
      const output = Array.from({ length: 11 }, (_, i) => 32_767n - BigInt(i * 977));
      const id = await requestIdOf(
        precompile,
        precompile.connect(user).request(modelId, input, Mode.ZK, 0, 0n, { value: feeFor(0) }),
      );
      await (await precompile.connect(node).answer(id, output)).wait();
      expect(await precompile.outputOf(id)).to.deep.equal(output);
      const signals = [BigInt(id) >> 3n, ...packReference(input, 16), ...packReference(output, 16)];
      expect(signals.length).to.equal(1 + 2 + 1);
      expect(await precompile.publicSignalsOf(id)).to.deep.equal(signals);
      expect((await registry.getModel(modelId)).numPublicSignals).to.equal(BigInt(signals.length));
      await expect(precompile.settle(id, [...PROOF])).to.emit(precompile, "InferenceSettled");
    });

    it("packs inputs with inputBits and puts a private model's weight commitment between input and output", async function () {
      const { precompile, registry, admin, node, user } = await loadFixture(sibylFixture);
      const commitment = 0xc0ffeen;
      const { modelId } = await registerMockModel(
        registry,
        admin,
        { inputBits: 8, weightCommitment: commitment },
        "private",
      );
      const request = (input: bigint[]) =>
        precompile.connect(user).request(modelId, input, Mode.ZK, 0, 0n, { value: feeFor(0) });
      await expect(request([127n, -128n, 0n, 128n]))
        .to.be.revertedWithCustomError(precompile, "Inference__ValueOutOfRange")
        .withArgs(3, 128, 8);
      await expect(request([-129n, 0n, 0n, 0n]))
        .to.be.revertedWithCustomError(precompile, "Inference__ValueOutOfRange")
        .withArgs(0, -129, 8);
      const input = [127n, -128n, 0n, 5n];
      const id = await requestIdOf(precompile, request(input));
      await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      const signals = [
        BigInt(id) >> 3n,
        ...packReference(input, 8),
        commitment,
        ...packReference(OUTPUT, VALUE_BITS),
      ];
      expect(await precompile.publicSignalsOf(id)).to.deep.equal(signals);
      expect((await registry.getModel(modelId)).numPublicSignals).to.equal(BigInt(signals.length));
      expect(await precompile.outputOf(id)).to.deep.equal(OUTPUT);
      await expect(precompile.settle(id, [...PROOF]))
        .to.emit(precompile, "InferenceSettled")
        .withArgs(id, node.address, (await ethers.getSigners())[0].address, true);
    });
  });
});
