import { expect } from "chai";
import { ZeroAddress, keccak256, solidityPacked } from "ethers";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import {
  ANSWER_WINDOW,
  CALLBACK_GAS,
  CALLBACK_GAS_PRICE,
  FEE,
  INPUT,
  MAX_ANSWER_WINDOW,
  MAX_CALLBACK_GAS_LIMIT,
  MAX_SETTLEMENT_WINDOW,
  MIN_BOND,
  Mode,
  NODE_BOND,
  OUTPUT,
  PROOF,
  REGISTRY_CHANGE_DELAY,
  REQUEST_FEE,
  SETTLEMENT_WINDOW,
  STAKE,
  State,
  VALUE_BITS,
  ethers,
  feeFor,
  modelConfig,
  modelIdReference,
  networkHelpers,
  packReference,
  registerMockModel,
  registerWithCode,
  requestIdOf,
  runtimeCodeOf,
  sibylFixture,
  slashCompensation,
  slashReward,
  stakeFor,
  stakeOf,
  timestampOf,
  verifierAddressReference,
} from "./fixtures.js";

const { loadFixture, time } = networkHelpers;

/** Constructor arguments that leave storage uninitialised, as hardhat_setCode does. */
const UNINITIALISED = [ZeroAddress, ZeroAddress, 0n, 0n];
const MAX_UINT64 = (1n << 64n) - 1n;

/**
 * Regression tests for issue 7 ("Nobody can hijack a model"): each block reproduces one attack
 * against the previous contracts and shows the safe outcome. MockVerifier stands in for the honest
 * model's verifier throughout: these tests are about ids, routing, collateral and fees, not proofs.
 */
describe("attacks on model ids, verifiers, windows, administration, collateral and fees (issue 7)", function () {
  async function attackFixture() {
    const f = await loadFixture(sibylFixture);
    const signers = await ethers.getSigners();
    const honest = signers[6];
    const attacker = signers[7];
    const mockCode = await runtimeCodeOf("MockVerifier");
    return { ...f, honest, attacker, mockCode };
  }

  describe("attack: model-id squatting", function () {
    it("an attacker registering the honest owner's exact config and verifier code first gets its own id; the honest registration still gets the expected one", async function () {
      const { registry, honest, attacker, mockCode } = await loadFixture(attackFixture);
      const config = modelConfig({ modelHash: ethers.id("honest model") });
      const codeHash = keccak256(mockCode);
      const honestId = modelIdReference(honest.address, codeHash, config);
      const squatId = modelIdReference(attacker.address, codeHash, config);
      expect(squatId).to.not.equal(honestId);

      await expect(registry.connect(attacker).register(config, mockCode, "honest model"))
        .to.emit(registry, "ModelRegistered")
        .withArgs(
          squatId,
          attacker.address,
          verifierAddressReference(await registry.getAddress(), mockCode),
          codeHash,
          "honest model",
        );
      expect(await registry.isActive(honestId)).to.equal(false);

      await expect(registry.connect(honest).register(config, mockCode, "honest model"))
        .to.emit(registry, "ModelRegistered")
        .withArgs(
          honestId,
          honest.address,
          verifierAddressReference(await registry.getAddress(), mockCode),
          codeHash,
          "honest model",
        );
      expect((await registry.getModel(honestId)).owner).to.equal(honest.address);
      expect((await registry.getModel(squatId)).owner).to.equal(attacker.address);
    });

    it("the attacker cannot deactivate the honest id (Registry__NotOwner)", async function () {
      const { registry, honest, attacker } = await loadFixture(attackFixture);
      const { modelId: honestId } = await registerMockModel(registry, honest);
      await expect(registry.connect(attacker).deactivate(honestId))
        .to.be.revertedWithCustomError(registry, "Registry__NotOwner")
        .withArgs(honestId, attacker.address);
      expect(await registry.isActive(honestId)).to.equal(true);
    });

    it("the same model with another verifier code or other terms gets another id, even from the honest owner", async function () {
      const { registry, honest, attacker, mockCode } = await loadFixture(attackFixture);
      const config = modelConfig();
      const { modelId: honestId } = await registerMockModel(registry, honest);
      const ids = new Set([honestId]);
      // another verifier: one that accepts everything, one that never returns a valid word
      for (const name of ["ToggleVerifier", "EmptyReturnVerifier"]) {
        const code = await runtimeCodeOf(name);
        for (const who of [attacker, honest]) {
          const { modelId } = await registerWithCode(registry, who, config, code, name);
          expect(modelId).to.equal(modelIdReference(who.address, keccak256(code), config));
          ids.add(modelId);
        }
      }
      // other terms: a cheaper fee, a smaller stake, a longer window, unbonded
      for (const terms of [
        { fee: 1n },
        { stake: 1n },
        { settlementWindow: MAX_SETTLEMENT_WINDOW },
        { stake: 0n, unbonded: true },
      ]) {
        const c = { ...config, ...terms };
        await (await registry.connect(attacker).register(c, mockCode, "cheaper")).wait();
        ids.add(modelIdReference(attacker.address, keccak256(mockCode), c));
      }
      expect(ids.size).to.equal(1 + 4 + 4);
      const honestModel = await registry.getModel(honestId);
      expect([honestModel.owner, honestModel.config.fee, honestModel.config.stake]).to.deep.equal([
        honest.address,
        FEE,
        STAKE,
      ]);
    });

    it("requests against the honest id settle with the honest verifier, whatever the attacker registered; the honest node is not slashed", async function () {
      const { precompile, registry, honest, attacker, node, user } = await loadFixture(attackFixture);
      const config = modelConfig();
      // the attacker registers the same model around the honest one, with verifiers of its own
      await registerWithCode(registry, attacker, config, await runtimeCodeOf("EmptyReturnVerifier"), "x");
      await registerWithCode(registry, attacker, config, await runtimeCodeOf("ToggleVerifier"), "y");
      const { modelId: honestId, verifier } = await registerMockModel(registry, honest);

      const id = await requestIdOf(
        precompile,
        precompile.connect(user).request(honestId, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
      );
      await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      // Only the honest verifier accepts exactly this proof: the ToggleVerifier copy accepts any
      // proof and the EmptyReturnVerifier none, so the outcome shows which verifier was asked.
      const model = await registry.getModel(honestId);
      const calldata = solidityPacked(
        ["bytes4", "uint256[8]", "uint256[3]"],
        [
          model.verifySelector,
          [...PROOF],
          [BigInt(id) >> 3n, ...packReference(INPUT, VALUE_BITS), ...packReference(OUTPUT, VALUE_BITS)],
        ],
      );
      await (await verifier.expectCalldata(keccak256(calldata))).wait();
      await expect(precompile.settle(id, [9n, ...PROOF.slice(1)]))
        .to.be.revertedWithCustomError(precompile, "Inference__InvalidProof")
        .withArgs(id);
      await expect(precompile.settle(id, [...PROOF]))
        .to.emit(precompile, "InferenceSettled")
        .withArgs(id, node.address, (await ethers.getSigners())[0].address, true);
      expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND, 0n, true]);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(REQUEST_FEE);
      expect(await precompile.pendingWithdrawal(attacker.address)).to.equal(0n);
    });
  });

  describe("attack: mutable verifier", function () {
    async function toggleFixture() {
      const f = await loadFixture(attackFixture);
      // the attacker deploys a ToggleVerifier it controls and registers a model with its code
      const own = await ethers.deployContract("ToggleVerifier", [], f.attacker);
      const code = await ethers.provider.getCode(await own.getAddress());
      const { modelId } = await registerWithCode(f.registry, f.attacker, modelConfig(), code, "toggle");
      const model = await f.registry.getModel(modelId);
      const copy = await ethers.getContractAt("ToggleVerifier", model.verifier);
      return { ...f, own, code, modelId, model, copy };
    }

    it("the registry settles with its own copy of the code, whose switch nobody owns", async function () {
      const { registry, attacker, stranger, own, code, model, copy } = await loadFixture(toggleFixture);
      expect(model.verifier).to.not.equal(await own.getAddress());
      expect(model.verifier).to.equal(verifierAddressReference(await registry.getAddress(), code));
      expect(model.verifierCodeHash).to.equal(keccak256(code));
      expect(await own.owner()).to.equal(attacker.address);
      expect(await copy.owner()).to.equal(ZeroAddress);
      for (const who of [attacker, stranger])
        await expect(copy.connect(who).setRejecting(true))
          .to.be.revertedWithCustomError(copy, "ToggleVerifier__NotOwner")
          .withArgs(who.address);
      expect(await copy.rejecting()).to.equal(false);
    });

    it("flipping the attacker's own deployment to reject after the answer changes nothing: settlement succeeds and the stake is unlocked, not slashed", async function () {
      const { precompile, node, user, attacker, own, modelId, copy } = await loadFixture(toggleFixture);
      const id = await requestIdOf(
        precompile,
        precompile.connect(user).request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
      );
      await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND, STAKE, true]);

      await (await own.connect(attacker).setRejecting(true)).wait();
      expect(await own.rejecting()).to.equal(true);
      await expect(copy.connect(attacker).setRejecting(true)).to.be.revertedWithCustomError(
        copy,
        "ToggleVerifier__NotOwner",
      );

      await expect(precompile.settle(id, [...PROOF])).to.emit(precompile, "InferenceSettled");
      expect(await precompile.stateOf(id)).to.equal(State.Settled);
      expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND, 0n, true]);
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(REQUEST_FEE);
      expect(await precompile.pendingWithdrawal(user.address)).to.equal(0n);
      await time.increase(SETTLEMENT_WINDOW + 1n);
      await expect(precompile.slash(id))
        .to.be.revertedWithCustomError(precompile, "Inference__WrongState")
        .withArgs(id, State.Settled, State.Answered);
    });

    it("a request keeps the verifier it snapshotted after a registry change is applied (propose, wait 2 days, apply)", async function () {
      const { precompile, admin, node, user, modelId } = await loadFixture(attackFixture);
      const id = await requestIdOf(
        precompile,
        precompile.connect(user).request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
      );
      // The next registry serves the very same id (same owner, config and code), from its own
      // verifier copy, which is made to reject everything.
      const next = await ethers.deployContract("ModelRegistry");
      const moved = await registerMockModel(next, admin);
      expect(moved.modelId).to.equal(modelId);
      await (await moved.verifier.setResult(false)).wait();

      await (await precompile.proposeRegistry(await next.getAddress())).wait();
      await time.increase(REGISTRY_CHANGE_DELAY);
      await (await precompile.applyRegistryChange()).wait();
      expect(await precompile.registry()).to.equal(await next.getAddress());

      await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      await expect(precompile.settle(id, [...PROOF])).to.emit(precompile, "InferenceSettled");
      expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND, 0n, true]);

      // a request made after the change goes to the new registry's verifier
      const later = await requestIdOf(
        precompile,
        precompile.connect(user).request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
      );
      await (await precompile.connect(node).answer(later, OUTPUT)).wait();
      await expect(precompile.settle(later, [...PROOF]))
        .to.be.revertedWithCustomError(precompile, "Inference__InvalidProof")
        .withArgs(later);
    });
  });

  describe("attack: unbounded settlement window", function () {
    it("a window of 2^64 − 1 is refused with Registry__InvalidSettlementWindow(window, 86400)", async function () {
      const { registry, attacker, mockCode } = await loadFixture(attackFixture);
      await expect(
        registry
          .connect(attacker)
          .register(modelConfig({ settlementWindow: MAX_UINT64 }), mockCode, "forever"),
      )
        .to.be.revertedWithCustomError(registry, "Registry__InvalidSettlementWindow")
        .withArgs(MAX_UINT64, 86_400n);
    });

    it("a window of 86400 is accepted and its answer is slashable right after it", async function () {
      const { precompile, registry, honest, node, user, stranger } = await loadFixture(attackFixture);
      const { modelId } = await registerMockModel(registry, honest, {
        settlementWindow: MAX_SETTLEMENT_WINDOW,
      });
      const id = await requestIdOf(
        precompile,
        precompile.connect(user).request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
      );
      const answeredAt = await timestampOf(precompile.connect(node).answer(id, OUTPUT));
      const deadline = answeredAt + 86_400n;
      expect(await precompile.settlementDeadline(id)).to.equal(deadline);
      await time.setNextBlockTimestamp(deadline);
      await expect(precompile.slash(id))
        .to.be.revertedWithCustomError(precompile, "Inference__DeadlineNotReached")
        .withArgs(id, deadline);
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
      expect(await precompile.pendingWithdrawal(user.address)).to.equal(
        slashCompensation(STAKE) + REQUEST_FEE,
      );
    });

    it("an unbonded model's unsettled answer is never covered, and a request declaring value at risk for it reverts with Inference__NotCoverable", async function () {
      const { precompile, registry, honest, node, recording } = await loadFixture(attackFixture);
      const { modelId } = await registerMockModel(
        registry,
        honest,
        { stake: 0n, unbonded: true },
        "unbonded",
      );
      for (const v of [1n, STAKE])
        await expect(recording.makeRequestAtRisk(modelId, INPUT, CALLBACK_GAS, v, { value: REQUEST_FEE }))
          .to.be.revertedWithCustomError(precompile, "Inference__NotCoverable")
          .withArgs(modelId, v);

      const id = await requestIdOf(
        precompile,
        recording.makeRequestAtRisk(modelId, INPUT, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
      );
      expect((await precompile.getRequest(id)).stake).to.equal(0n);
      await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      expect(await precompile.nodeOf(node.address)).to.deep.equal([NODE_BOND, 0n, true]);
      expect([await precompile.bondBacking(id), await precompile.coverageOf(id)]).to.deep.equal([0n, 0n]);
      expect(await recording.isCovered(id, 0n)).to.equal(false);
      expect(await recording.isCovered(id, 1n)).to.equal(false);
      await (await precompile.settle(id, [...PROOF])).wait();
      expect(await recording.isCovered(id, 1n)).to.equal(true); // proved
    });
  });

  describe("attack: initialisation race and admin takeover", function () {
    it("initialize refuses minBond 0 or ≥ 2^120 and answer windows of 0 or 86401 (Inference__InvalidConfig), and any second call (Inference__AlreadyInitialized)", async function () {
      const { admin, attacker } = await loadFixture(attackFixture);
      const fresh = await ethers.deployContract("InferencePrecompile", UNINITIALISED);
      const registry = await (await ethers.deployContract("ModelRegistry")).getAddress();
      for (const [minBond, window] of [
        [0n, ANSWER_WINDOW],
        [MIN_BOND, 0n],
        [MIN_BOND, MAX_ANSWER_WINDOW + 1n],
        [1n << 120n, ANSWER_WINDOW], // no bond can reach it: nobody could ever register
      ] as const)
        await expect(
          fresh.connect(attacker).initialize(attacker.address, registry, minBond, window),
        ).to.be.revertedWithCustomError(fresh, "Inference__InvalidConfig");
      await (await fresh.initialize(admin.address, registry, MIN_BOND, ANSWER_WINDOW)).wait();
      await expect(
        fresh.connect(attacker).initialize(attacker.address, registry, 1n, 1n),
      ).to.be.revertedWithCustomError(fresh, "Inference__AlreadyInitialized");
      expect([await fresh.admin(), await fresh.minBond(), await fresh.answerWindow()]).to.deep.equal([
        admin.address,
        MIN_BOND,
        ANSWER_WINDOW,
      ]);
    });

    it("the installed precompile cannot be re-initialised by an attacker", async function () {
      const { precompile, registry, admin, attacker } = await loadFixture(attackFixture);
      await expect(
        precompile.connect(attacker).initialize(attacker.address, await registry.getAddress(), 1n, 1n),
      ).to.be.revertedWithCustomError(precompile, "Inference__AlreadyInitialized");
      expect(await precompile.admin()).to.equal(admin.address);
    });

    it("hands the admin role over in two steps; only the pending admin can accept, and the old admin loses its power", async function () {
      const { precompile, admin, honest, attacker } = await loadFixture(attackFixture);
      const next = await (await ethers.deployContract("ModelRegistry")).getAddress();
      await expect(precompile.connect(attacker).transferAdmin(attacker.address))
        .to.be.revertedWithCustomError(precompile, "Inference__NotAdmin")
        .withArgs(attacker.address);
      await expect(precompile.transferAdmin(honest.address))
        .to.emit(precompile, "AdminTransferStarted")
        .withArgs(admin.address, honest.address);
      expect([await precompile.admin(), await precompile.pendingAdmin()]).to.deep.equal([
        admin.address,
        honest.address,
      ]);
      await expect(precompile.connect(attacker).acceptAdmin())
        .to.be.revertedWithCustomError(precompile, "Inference__NotPendingAdmin")
        .withArgs(attacker.address);
      await expect(precompile.connect(honest).acceptAdmin())
        .to.emit(precompile, "AdminTransferred")
        .withArgs(admin.address, honest.address);
      expect([await precompile.admin(), await precompile.pendingAdmin()]).to.deep.equal([
        honest.address,
        ZeroAddress,
      ]);
      for (const call of [
        () => precompile.connect(admin).proposeRegistry(next),
        () => precompile.connect(admin).transferAdmin(admin.address),
        () => precompile.connect(admin).cancelRegistryChange(),
      ])
        await expect(call())
          .to.be.revertedWithCustomError(precompile, "Inference__NotAdmin")
          .withArgs(admin.address);
      await expect(precompile.connect(honest).proposeRegistry(next)).to.emit(
        precompile,
        "RegistryChangeProposed",
      );
    });

    it("naming address(0) withdraws a pending transfer", async function () {
      const { precompile, honest } = await loadFixture(attackFixture);
      await (await precompile.transferAdmin(honest.address)).wait();
      await (await precompile.transferAdmin(ZeroAddress)).wait();
      await expect(precompile.connect(honest).acceptAdmin())
        .to.be.revertedWithCustomError(precompile, "Inference__NotPendingAdmin")
        .withArgs(honest.address);
    });

    it("a registry change is announced, cannot be applied early, can be cancelled, and applies after 2 days; pending requests keep their terms", async function () {
      const { precompile, registry, node, user, modelId, stranger } = await loadFixture(attackFixture);
      const id = await requestIdOf(
        precompile,
        precompile.connect(user).request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
      );
      const next = await (await ethers.deployContract("ModelRegistry")).getAddress();
      const proposedAt = BigInt(await time.latest()) + 1n;
      await time.setNextBlockTimestamp(proposedAt);
      await expect(precompile.proposeRegistry(next))
        .to.emit(precompile, "RegistryChangeProposed")
        .withArgs(await registry.getAddress(), next, proposedAt + 2n * 86_400n);
      const effectiveAt = proposedAt + REGISTRY_CHANGE_DELAY;
      await time.setNextBlockTimestamp(effectiveAt - 1n);
      await expect(precompile.connect(stranger).applyRegistryChange())
        .to.be.revertedWithCustomError(precompile, "Inference__RegistryChangeNotDue")
        .withArgs(effectiveAt);
      await expect(precompile.cancelRegistryChange())
        .to.emit(precompile, "RegistryChangeCancelled")
        .withArgs(next);
      await expect(precompile.connect(stranger).applyRegistryChange()).to.be.revertedWithCustomError(
        precompile,
        "Inference__NoRegistryChange",
      );

      const again = await timestampOf(precompile.proposeRegistry(next));
      await time.setNextBlockTimestamp(again + REGISTRY_CHANGE_DELAY);
      await expect(precompile.connect(stranger).applyRegistryChange())
        .to.emit(precompile, "RegistryUpdated")
        .withArgs(await registry.getAddress(), next);

      // the request made before the change keeps its fee, stake, window and verifier
      const answeredAt = await timestampOf(precompile.connect(node).answer(id, OUTPUT));
      const r = await precompile.getRequest(id);
      expect([r.fee, r.stake]).to.deep.equal([REQUEST_FEE, STAKE]);
      expect(await precompile.settlementDeadline(id)).to.equal(answeredAt + SETTLEMENT_WINDOW);
      await expect(precompile.settle(id, [...PROOF])).to.emit(precompile, "InferenceSettled");
    });
  });

  describe("attack: answering without collateral", function () {
    it("a node that withdrew its whole bond cannot answer (Inference__InsufficientBond)", async function () {
      const { precompile, node, requestFromUser } = await loadFixture(attackFixture);
      await (await precompile.connect(node).withdrawBond(NODE_BOND)).wait();
      const id = await requestFromUser();
      const balance = await ethers.provider.getBalance(INFERENCE_ADDRESS);
      await expect(precompile.connect(node).answer(id, OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, 0n, STAKE + MIN_BOND);
      expect(await precompile.stateOf(id)).to.equal(State.Requested);
      expect(await ethers.provider.getBalance(INFERENCE_ADDRESS)).to.equal(balance);
    });

    it("a node one wei short of stake + minBond cannot answer; with exactly stake + minBond free it can", async function () {
      const { precompile, node, requestFromUser } = await loadFixture(attackFixture);
      await (await precompile.connect(node).withdrawBond(NODE_BOND - (STAKE + MIN_BOND - 1n))).wait();
      const id = await requestFromUser();
      await expect(precompile.connect(node).answer(id, OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, STAKE + MIN_BOND - 1n, STAKE + MIN_BOND);
      await (await precompile.connect(node).registerNode({ value: 1n })).wait();
      await expect(precompile.connect(node).answer(id, OUTPUT)).to.emit(precompile, "InferenceAnswered");
      expect(await precompile.nodeOf(node.address)).to.deep.equal([STAKE + MIN_BOND, STAKE, true]);
    });

    it("an unbonded model's answer (stake 0) still needs minBond free", async function () {
      const { precompile, registry, honest, node, user } = await loadFixture(attackFixture);
      const { modelId } = await registerMockModel(
        registry,
        honest,
        { stake: 0n, unbonded: true },
        "unbonded",
      );
      const request = () =>
        requestIdOf(
          precompile,
          precompile.connect(user).request(modelId, INPUT, Mode.ZK, CALLBACK_GAS, 0n, { value: REQUEST_FEE }),
        );
      const id = await request();
      await (await precompile.connect(node).withdrawBond(NODE_BOND - MIN_BOND + 1n)).wait();
      await expect(precompile.connect(node).answer(id, OUTPUT))
        .to.be.revertedWithCustomError(precompile, "Inference__InsufficientBond")
        .withArgs(node.address, MIN_BOND - 1n, MIN_BOND);
      await (await precompile.connect(node).registerNode({ value: 1n })).wait();
      await expect(precompile.connect(node).answer(id, OUTPUT)).to.emit(precompile, "InferenceAnswered");
      expect(await precompile.nodeOf(node.address)).to.deep.equal([MIN_BOND, 0n, true]);
    });
  });

  describe("attack: callback gas for free", function () {
    it("the fee required grows with callbackGasLimit by exactly 2 · gas · callbackGasPrice", async function () {
      const { registry, recording, modelId } = await loadFixture(attackFixture);
      const base = await registry.feeFor(modelId, 0);
      expect(base).to.equal(FEE);
      for (const gas of [1, 21_000, CALLBACK_GAS, MAX_CALLBACK_GAS_LIMIT]) {
        expect((await registry.feeFor(modelId, gas)) - base, `gas ${gas}`).to.equal(
          2n * BigInt(gas) * CALLBACK_GAS_PRICE,
        );
        expect(await recording.feeFor(modelId, gas)).to.equal(feeFor(gas));
      }
    });

    it("a request for 5,000,000 gas per hook with only the base fee reverts with Inference__FeeTooLow(required, sent); exactly the required fee is accepted", async function () {
      const { precompile, node, user, modelId } = await loadFixture(attackFixture);
      const required = FEE + 2n * 5_000_000n * CALLBACK_GAS_PRICE;
      const request = (value: bigint) =>
        precompile.connect(user).request(modelId, INPUT, Mode.ZK, MAX_CALLBACK_GAS_LIMIT, 0n, { value });
      for (const sent of [FEE, required - 1n])
        await expect(request(sent))
          .to.be.revertedWithCustomError(precompile, "Inference__FeeTooLow")
          .withArgs(required, sent);
      const tx = request(required);
      await expect(tx).to.changeEtherBalances(ethers, [user, precompile], [-required, required]);
      const id = await requestIdOf(precompile, tx);
      expect((await precompile.getRequest(id)).fee).to.equal(required);
      // the node that spends the hook gas is paid for it
      await (await precompile.connect(node).answer(id, OUTPUT)).wait();
      await (await precompile.settle(id, [...PROOF])).wait();
      expect(await precompile.pendingWithdrawal(node.address)).to.equal(required);
    });

    it("setNodePolicy stores the policy and emits NodePolicyUpdated; a non-node is refused with Inference__NotNode", async function () {
      const { precompile, node, stranger } = await loadFixture(attackFixture);
      expect(await precompile.nodePolicyOf(node.address)).to.deep.equal([0n, 0n, 0n, false]);
      const maxStake = (1n << 88n) - 1n;
      await expect(precompile.connect(node).setNodePolicy(REQUEST_FEE, CALLBACK_GAS, maxStake))
        .to.emit(precompile, "NodePolicyUpdated")
        .withArgs(node.address, REQUEST_FEE, CALLBACK_GAS, maxStake);
      expect(await precompile.nodePolicyOf(node.address)).to.deep.equal([
        REQUEST_FEE,
        BigInt(CALLBACK_GAS),
        maxStake,
        true,
      ]);
      await (await precompile.connect(node).setNodePolicy(0n, 0, 0n)).wait();
      expect(await precompile.nodePolicyOf(node.address)).to.deep.equal([0n, 0n, 0n, true]);
      await expect(precompile.connect(stranger).setNodePolicy(1n, 1, 1n))
        .to.be.revertedWithCustomError(precompile, "Inference__NotNode")
        .withArgs(stranger.address);
      expect(await precompile.nodePolicyOf(stranger.address)).to.deep.equal([0n, 0n, 0n, false]);
    });
  });

  describe("attack: under-coverage by naming", function () {
    /** A model with a 1-wei stake, so that the declared value decides the stake for every V below. */
    async function tinyStakeFixture() {
      const f = await loadFixture(attackFixture);
      const { modelId: tinyModel } = await registerMockModel(
        f.registry,
        f.honest,
        { stake: 1n },
        "tiny stake",
      );
      return { ...f, tinyModel };
    }

    it("locking exactly the declared value would under-cover it: the slasher's reward comes out of the stake", async function () {
      const sibyl = await ethers.deployContract("SibylHarness");
      // the old rule (stake = V) for V = 20 wei: 20 − ⌊20 · 5%⌋ = 19 would be credited
      expect(await sibyl.slashCompensation(20n)).to.equal(19n);
      // the new one locks 21: 21 − ⌊21 · 5%⌋ = 20
      expect(await sibyl.stakeFor(20n)).to.equal(21n);
      expect(await sibyl.slashCompensation(21n)).to.equal(20n);
    });

    for (const [name, v] of [
      ["1 wei", 1n],
      ["19 wei (no reward yet)", 19n],
      ["20 wei (the first rounded reward)", 20n],
      ["21 wei", 21n],
      ["9,499 wei", 9_499n],
      ["9,500 wei", 9_500n],
      ["9,501 wei", 9_501n],
      ["an odd 0.7 ETH", 7n * 10n ** 17n + 3n],
      ["the model-stake boundary + 1", slashCompensation(STAKE) + 1n],
      ["1.234567891234567891 ETH", 1_234_567_891_234_567_891n],
    ] as const) {
      it(`a consumer declaring ${name} is credited at least that on a slash`, async function () {
        const f = await loadFixture(tinyStakeFixture);
        const { precompile, recording, tinyModel } = f;
        const consumer = await recording.getAddress();
        const id = await requestIdOf(
          precompile,
          recording.makeRequestAtRisk(tinyModel, INPUT, CALLBACK_GAS, v, { value: REQUEST_FEE }),
        );
        // the model's stake is 1 wei, so the declared value decides: exactly stakeFor(V)
        const stake = stakeFor(v);
        expect(stakeOf(v, 1n)).to.equal(stake);
        expect((await precompile.getRequest(id)).stake).to.equal(stake);

        await (await precompile.connect(f.node).answer(id, OUTPUT)).wait();
        const coverage = await precompile.coverageOf(id);
        expect(coverage).to.equal(slashCompensation(stake));
        expect(await recording.isCovered(id, v)).to.equal(true);
        expect(await recording.isCovered(id, coverage + 1n)).to.equal(false);

        const before = await precompile.pendingWithdrawal(consumer);
        await time.setNextBlockTimestamp((await precompile.settlementDeadline(id)) + 1n);
        await (await precompile.connect(f.stranger).slash(id)).wait();
        const credited = (await precompile.pendingWithdrawal(consumer)) - before - REQUEST_FEE;
        expect(credited).to.equal(coverage);
        expect(credited).to.be.greaterThanOrEqual(v);
        expect(await precompile.pendingWithdrawal(f.stranger.address)).to.equal(stake - credited);
      });
    }

    it("on a model with a larger stake, the stake is max(model stake, stakeFor(V)), and coverage never drops below V", async function () {
      const f = await loadFixture(attackFixture);
      const { precompile, recording, modelId } = f;
      for (const v of [1n, slashCompensation(STAKE), slashCompensation(STAKE) + 1n, STAKE + 19n]) {
        const id = await requestIdOf(
          precompile,
          recording.makeRequestAtRisk(modelId, INPUT, CALLBACK_GAS, v, { value: REQUEST_FEE }),
        );
        const stake = stakeFor(v) > STAKE ? stakeFor(v) : STAKE;
        expect((await precompile.getRequest(id)).stake, `V = ${v}`).to.equal(stake);
        await (await precompile.connect(f.node).answer(id, OUTPUT)).wait();
        expect(await precompile.coverageOf(id)).to.be.greaterThanOrEqual(v);
        expect(await recording.isCovered(id, v)).to.equal(true);
        await (await precompile.settle(id, [...PROOF])).wait(); // frees the stake for the next V
      }
    });
  });
});
