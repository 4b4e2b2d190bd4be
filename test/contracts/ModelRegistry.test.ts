import { expect } from "chai";
import { id as selectorOf, keccak256 } from "ethers";

import {
  CALLBACK_GAS_PRICE,
  FEE,
  MAX_SETTLEMENT_WINDOW,
  PRICED_HOOKS,
  ethers,
  feeFor,
  modelConfig,
  modelIdReference,
  networkHelpers,
  runtimeCodeOf,
  verifierAddressReference,
} from "./fixtures.js";

const { loadFixture } = networkHelpers;

describe("ModelRegistry", function () {
  async function registryFixture() {
    const [owner, stranger] = await ethers.getSigners();
    const registry = await ethers.deployContract("ModelRegistry");
    const code = await runtimeCodeOf("MockVerifier");
    const codeHash = keccak256(code);
    const config = modelConfig();
    const modelId = modelIdReference(owner.address, codeHash, config);
    return { owner, stranger, registry, code, codeHash, config, modelId };
  }

  describe("register", function () {
    it("registers a model under keccak256(abi.encode(owner, verifierCodeHash, config)) and emits ModelRegistered", async function () {
      const { registry, owner, code, codeHash, config, modelId } = await loadFixture(registryFixture);
      const verifier = verifierAddressReference(await registry.getAddress(), code);
      expect(await registry.modelIdOf(owner.address, codeHash, config)).to.equal(modelId);
      await expect(registry.register(config, code, "iris"))
        .to.emit(registry, "ModelRegistered")
        .withArgs(modelId, owner.address, verifier, codeHash, "iris");
      const model = await registry.getModel(modelId);
      expect(model.owner).to.equal(owner.address);
      expect(model.active).to.equal(true);
      expect(model.verifier).to.equal(verifier);
      expect(model.verifierCodeHash).to.equal(codeHash);
      expect(model.config.stake).to.equal(config.stake);
      expect(model.config.callbackGasPrice).to.equal(config.callbackGasPrice);
      expect(model.config.zkeyHash).to.equal(config.zkeyHash);
      expect(model.config.unbonded).to.equal(false);
      expect(await registry.isActive(modelId)).to.equal(true);
    });

    it("deploys the verifier code itself at the CREATE2 address of loader ‖ code, once per code, and emits VerifierDeployed", async function () {
      const { registry, code, codeHash, config } = await loadFixture(registryFixture);
      const verifier = verifierAddressReference(await registry.getAddress(), code);
      expect(await registry.verifierAddressOf(codeHash)).to.equal(ethers.ZeroAddress);
      await expect(registry.register(config, code, "a"))
        .to.emit(registry, "VerifierDeployed")
        .withArgs(verifier, codeHash);
      expect(await registry.verifierAddressOf(codeHash)).to.equal(verifier);
      expect(await ethers.provider.getCode(verifier)).to.equal(code);

      // a second model with the same code reuses the deployment
      const other = modelConfig({ fee: FEE + 1n });
      await expect(registry.register(other, code, "b")).not.to.emit(registry, "VerifierDeployed");
      const [owner] = await ethers.getSigners();
      expect((await registry.getModel(modelIdReference(owner.address, codeHash, other))).verifier).to.equal(
        verifier,
      );
    });

    it("gives other code another verifier address and another id", async function () {
      const { registry, owner, code, config, modelId } = await loadFixture(registryFixture);
      const toggle = await runtimeCodeOf("ToggleVerifier");
      await (await registry.register(config, code, "mock")).wait();
      await (await registry.register(config, toggle, "toggle")).wait();
      const toggleId = modelIdReference(owner.address, keccak256(toggle), config);
      expect(toggleId).to.not.equal(modelId);
      const [a, b] = [await registry.getModel(modelId), await registry.getModel(toggleId)];
      expect(b.verifier).to.equal(verifierAddressReference(await registry.getAddress(), toggle));
      expect(b.verifier).to.not.equal(a.verifier);
      expect(b.verifierCodeHash).to.equal(keccak256(toggle));
    });

    it("commits the id to the owner, the verifier code and every field of the config", async function () {
      const { registry, owner, stranger, codeHash, config, modelId } = await loadFixture(registryFixture);
      const variants: Partial<typeof config>[] = [
        { modelHash: keccak256("0x99") },
        { weightCommitment: 1n },
        { zkeyHash: keccak256("0x98") },
        { inputLength: 5 },
        { outputLength: 2 },
        { fracBits: 7 },
        { valueBits: 25 },
        { inputBits: 23 },
        { fee: FEE + 1n },
        { callbackGasPrice: CALLBACK_GAS_PRICE + 1n },
        { stake: 1n },
        { settlementWindow: 301n },
        { stake: 0n, unbonded: true },
      ];
      const ids = new Set([modelId]);
      for (const v of variants) {
        const other = { ...config, ...v };
        const id = await registry.modelIdOf(owner.address, codeHash, other);
        expect(id, Object.keys(v).join(", ")).to.equal(modelIdReference(owner.address, codeHash, other));
        ids.add(id);
      }
      ids.add(await registry.modelIdOf(stranger.address, codeHash, config));
      ids.add(await registry.modelIdOf(owner.address, keccak256("0x00"), config));
      expect(ids.size).to.equal(variants.length + 3);
    });

    for (const [inputLength, outputLength, valueBits, signals] of [
      [4, 3, 24, 3], // K = 10
      [4, 1, 126, 4], // K = 2
      [4096, 4096, 126, 4097],
      [21, 10, 12, 3], // K = 21
      [22, 1, 12, 4],
      [1, 1, 2, 1], // K = 126; 2 + 2 + 128 bits: one compact signal
      [2, 1, 41, 1], // 2 · 41 + 41 + 128 = 251 ≤ 253: compact
      [2, 1, 42, 3], // 2 · 42 + 42 + 128 = 254 > 253: one word each, but not one signal
    ] as const) {
      it(`stores ${signals} public signals and their verifyProof selector for ${inputLength}→${outputLength} at ${valueBits} bits`, async function () {
        const { registry, owner, code, codeHash } = await loadFixture(registryFixture);
        const config = modelConfig({
          inputLength,
          outputLength,
          valueBits,
          inputBits: valueBits,
          fracBits: 1,
        });
        await (await registry.register(config, code, "shape")).wait();
        const model = await registry.getModel(modelIdReference(owner.address, codeHash, config));
        expect(model.numPublicSignals).to.equal(BigInt(signals));
        expect(model.verifySelector).to.equal(
          selectorOf(`verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[${signals}])`).slice(0, 10),
        );
      });
    }

    it("reverts a second registration of the same config and code by the same owner with Registry__ModelExists", async function () {
      const { registry, code, config, modelId } = await loadFixture(registryFixture);
      await (await registry.register(config, code, "a")).wait();
      await expect(registry.register(config, code, "b"))
        .to.be.revertedWithCustomError(registry, "Registry__ModelExists")
        .withArgs(modelId);
    });

    it("reverts empty verifier code with Registry__InvalidVerifierCode", async function () {
      const { registry, config } = await loadFixture(registryFixture);
      await expect(registry.register(config, "0x", "x"))
        .to.be.revertedWithCustomError(registry, "Registry__InvalidVerifierCode")
        .withArgs(keccak256("0x"), 0n);
    });

    it("reverts code the EVM refuses to deploy (over 24,576 bytes, or starting with 0xEF) with Registry__InvalidVerifierCode", async function () {
      const { registry, config } = await loadFixture(registryFixture);
      const tooLong = "0x" + "00".repeat(24_577);
      await expect(registry.register(config, tooLong, "x", { gasLimit: 16_000_000 }))
        .to.be.revertedWithCustomError(registry, "Registry__InvalidVerifierCode")
        .withArgs(keccak256(tooLong), 24_577n);
      const eof = "0xef00";
      await expect(registry.register(config, eof, "x", { gasLimit: 5_000_000 }))
        .to.be.revertedWithCustomError(registry, "Registry__InvalidVerifierCode")
        .withArgs(keccak256(eof), 2n);
      expect(await registry.verifierAddressOf(keccak256(eof))).to.equal(ethers.ZeroAddress);
    });

    for (const [why, shape] of [
      ["no input", { inputLength: 0 }],
      ["an input over 4096", { inputLength: 4097 }],
      ["no output", { outputLength: 0 }],
      ["an output over 4096", { outputLength: 4097 }],
      ["zero fracBits", { fracBits: 0 }],
      ["valueBits over 126", { valueBits: 127, fracBits: 8 }],
      ["fracBits equal to valueBits", { fracBits: 16, valueBits: 16, inputBits: 16 }],
      ["zero inputBits", { inputBits: 0 }],
      ["inputBits above valueBits", { inputBits: 25, valueBits: 24 }],
    ] as const) {
      it(`reverts ${why} with Registry__InvalidShape`, async function () {
        const { registry, code, config } = await loadFixture(registryFixture);
        const bad = { ...config, ...shape };
        await expect(registry.register(bad, code, "x"))
          .to.be.revertedWithCustomError(registry, "Registry__InvalidShape")
          .withArgs(bad.inputLength, bad.outputLength, bad.fracBits, bad.valueBits, bad.inputBits);
      });
    }

    it("reverts a weight commitment outside the BN254 field with Registry__InvalidCommitment", async function () {
      const { registry, code, config } = await loadFixture(registryFixture);
      const field = await registry.SNARK_SCALAR_FIELD();
      await expect(registry.register({ ...config, weightCommitment: field }, code, "x"))
        .to.be.revertedWithCustomError(registry, "Registry__InvalidCommitment")
        .withArgs(field);
    });

    it("reverts an output scale finer than the model's fracBits with Registry__InvalidOutputScale; accepts 0 (a class index) and fracBits", async function () {
      const { registry, code, config } = await loadFixture(registryFixture);
      const fracBits = Number(config.fracBits);
      await expect(registry.register({ ...config, outputFracBits: fracBits + 1 }, code, "x"))
        .to.be.revertedWithCustomError(registry, "Registry__InvalidOutputScale")
        .withArgs(fracBits + 1, fracBits);
      for (const outputFracBits of [0, fracBits]) {
        await (await registry.register({ ...config, outputFracBits }, code, "ok")).wait();
      }
    });

    it("counts the weight commitment and packs inputs with inputBits", async function () {
      const { registry, owner, code, codeHash, config } = await loadFixture(registryFixture);
      // 30 inputs of 8 bits: 31 per word → 1 word; 3 outputs of 24 bits → 1 word; + binding + commitment
      const privateModel = { ...config, inputLength: 30, inputBits: 8, weightCommitment: 12345n };
      await (await registry.register(privateModel, code, "private")).wait();
      const model = await registry.getModel(modelIdReference(owner.address, codeHash, privateModel));
      expect(model.numPublicSignals).to.equal(4n);
      expect(model.verifySelector).to.equal(
        ethers.id("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[4])").slice(0, 10),
      );
    });

    for (const window of [0n, MAX_SETTLEMENT_WINDOW + 1n, (1n << 64n) - 1n]) {
      it(`reverts a settlement window of ${window} with Registry__InvalidSettlementWindow(window, 1 day)`, async function () {
        const { registry, code, config } = await loadFixture(registryFixture);
        expect(await registry.MAX_SETTLEMENT_WINDOW()).to.equal(MAX_SETTLEMENT_WINDOW);
        await expect(registry.register({ ...config, settlementWindow: window }, code, "x"))
          .to.be.revertedWithCustomError(registry, "Registry__InvalidSettlementWindow")
          .withArgs(window, MAX_SETTLEMENT_WINDOW);
      });
    }

    it("accepts settlement windows of 1 second and of exactly 1 day", async function () {
      const { registry, owner, code, codeHash, config } = await loadFixture(registryFixture);
      for (const window of [1n, MAX_SETTLEMENT_WINDOW]) {
        const c = { ...config, settlementWindow: window };
        await (await registry.register(c, code, "x")).wait();
        expect(
          (await registry.getModel(modelIdReference(owner.address, codeHash, c))).config.settlementWindow,
        ).to.equal(window);
      }
    });

    for (const [why, stake, unbonded] of [
      ["a bonded model with stake 0", 0n, false],
      ["an unbonded model with a stake", 1n, true],
    ] as const) {
      it(`reverts ${why} with Registry__InvalidStake`, async function () {
        const { registry, code, config } = await loadFixture(registryFixture);
        await expect(registry.register({ ...config, stake, unbonded }, code, "x"))
          .to.be.revertedWithCustomError(registry, "Registry__InvalidStake")
          .withArgs(stake, unbonded);
      });
    }

    it("registers an unbonded model with stake 0", async function () {
      const { registry, owner, code, codeHash, config } = await loadFixture(registryFixture);
      const unbonded = { ...config, stake: 0n, unbonded: true };
      await (await registry.register(unbonded, code, "free")).wait();
      const model = await registry.getModel(modelIdReference(owner.address, codeHash, unbonded));
      expect([model.config.stake, model.config.unbonded]).to.deep.equal([0n, true]);
    });
  });

  describe("feeFor", function () {
    it("is fee + 2 · callbackGasLimit · callbackGasPrice", async function () {
      const { registry, code, config, modelId } = await loadFixture(registryFixture);
      await (await registry.register(config, code, "a")).wait();
      expect(PRICED_HOOKS).to.equal(2n);
      for (const gas of [0, 1, 200_000, 5_000_000, 2 ** 32 - 1])
        expect(await registry.feeFor(modelId, gas), `gas ${gas}`).to.equal(
          FEE + 2n * BigInt(gas) * CALLBACK_GAS_PRICE,
        );
      expect(await registry.feeFor(modelId, 123_457)).to.equal(feeFor(123_457));
    });

    it("is the base fee alone for a model that prices no callback gas", async function () {
      const { registry, owner, code, codeHash, config } = await loadFixture(registryFixture);
      const flat = { ...config, callbackGasPrice: 0n };
      await (await registry.register(flat, code, "flat")).wait();
      expect(await registry.feeFor(modelIdReference(owner.address, codeHash, flat), 5_000_000)).to.equal(FEE);
    });

    it("reverts for an unknown id with Registry__UnknownModel", async function () {
      const { registry, modelId } = await loadFixture(registryFixture);
      await expect(registry.feeFor(modelId, 0))
        .to.be.revertedWithCustomError(registry, "Registry__UnknownModel")
        .withArgs(modelId);
    });
  });

  describe("deactivate", function () {
    it("lets the owner deactivate a model and emits ModelDeactivated", async function () {
      const { registry, code, config, modelId } = await loadFixture(registryFixture);
      await (await registry.register(config, code, "a")).wait();
      await expect(registry.deactivate(modelId)).to.emit(registry, "ModelDeactivated").withArgs(modelId);
      expect(await registry.isActive(modelId)).to.equal(false);
      expect((await registry.getModel(modelId)).active).to.equal(false);
    });

    it("reverts deactivation by another account with Registry__NotOwner", async function () {
      const { registry, code, config, modelId, stranger } = await loadFixture(registryFixture);
      await (await registry.register(config, code, "a")).wait();
      await expect(registry.connect(stranger).deactivate(modelId))
        .to.be.revertedWithCustomError(registry, "Registry__NotOwner")
        .withArgs(modelId, stranger.address);
      expect(await registry.isActive(modelId)).to.equal(true);
    });

    it("reverts getModel and deactivate for an unknown id with Registry__UnknownModel", async function () {
      const { registry, modelId } = await loadFixture(registryFixture);
      expect(await registry.isActive(modelId)).to.equal(false);
      await expect(registry.getModel(modelId))
        .to.be.revertedWithCustomError(registry, "Registry__UnknownModel")
        .withArgs(modelId);
      await expect(registry.deactivate(modelId))
        .to.be.revertedWithCustomError(registry, "Registry__UnknownModel")
        .withArgs(modelId);
    });
  });
});
