import { expect } from "chai";
import hre from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { id as selectorOf } from "ethers";

import { modelConfig, modelIdReference } from "./fixtures";

describe("ModelRegistry", function () {
  async function registryFixture() {
    const [owner, stranger] = await hre.ethers.getSigners();
    const registry = await hre.ethers.deployContract("ModelRegistry");
    const verifier = await hre.ethers.deployContract("MockVerifier");
    const config = modelConfig(await verifier.getAddress());
    return { owner, stranger, registry, verifier, config };
  }

  it("registers a model under keccak256(abi.encode(vkHash, modelHash, in, out, fracBits, valueBits))", async function () {
    const { registry, owner, config } = await loadFixture(registryFixture);
    const modelId = modelIdReference(config);
    expect(await registry.modelIdOf(config)).to.equal(modelId);
    await expect(registry.register(config, "iris"))
      .to.emit(registry, "ModelRegistered")
      .withArgs(modelId, owner.address, config.verifier, "iris");
    const model = await registry.getModel(modelId);
    expect(model.owner).to.equal(owner.address);
    expect(model.active).to.equal(true);
    expect(model.config.verifier).to.equal(config.verifier);
    expect(model.config.stake).to.equal(config.stake);
    expect(await registry.isActive(modelId)).to.equal(true);
  });

  it("leaves fee, stake, verifier and window out of the id", async function () {
    const { registry, config } = await loadFixture(registryFixture);
    const other = {
      ...config,
      fee: 1n,
      stake: 2n,
      settlementWindow: 3n,
      verifier: await registry.getAddress(),
    };
    expect(await registry.modelIdOf(other)).to.equal(await registry.modelIdOf(config));
  });

  for (const [inputLength, outputLength, valueBits, signals] of [
    [4, 3, 24, 3], // K = 10
    [4, 1, 126, 4], // K = 2
    [4096, 4096, 126, 4097],
    [21, 10, 12, 3], // K = 21
    [22, 1, 12, 4],
    [1, 1, 2, 3], // K = 126
  ] as const) {
    it(`stores ${signals} public signals and their verifyProof selector for ${inputLength}→${outputLength} at ${valueBits} bits`, async function () {
      const { registry, verifier } = await loadFixture(registryFixture);
      const config = modelConfig(await verifier.getAddress(), {
        inputLength,
        outputLength,
        valueBits,
        inputBits: valueBits,
        fracBits: 1,
      });
      await (await registry.register(config, "shape")).wait();
      const model = await registry.getModel(await registry.modelIdOf(config));
      expect(model.numPublicSignals).to.equal(BigInt(signals));
      expect(model.verifySelector).to.equal(
        selectorOf(`verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[${signals}])`).slice(0, 10),
      );
    });
  }

  it("reverts a second registration with Registry__ModelExists", async function () {
    const { registry, config } = await loadFixture(registryFixture);
    await (await registry.register(config, "a")).wait();
    await expect(registry.register(config, "b"))
      .to.be.revertedWithCustomError(registry, "Registry__ModelExists")
      .withArgs(modelIdReference(config));
  });

  it("reverts a verifier without code with Registry__VerifierHasNoCode", async function () {
    const { registry, config, stranger } = await loadFixture(registryFixture);
    await expect(registry.register({ ...config, verifier: stranger.address }, "x"))
      .to.be.revertedWithCustomError(registry, "Registry__VerifierHasNoCode")
      .withArgs(stranger.address);
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
      const { registry, config } = await loadFixture(registryFixture);
      const bad = { ...config, ...shape };
      await expect(registry.register(bad, "x"))
        .to.be.revertedWithCustomError(registry, "Registry__InvalidShape")
        .withArgs(bad.inputLength, bad.outputLength, bad.fracBits, bad.valueBits, bad.inputBits);
    });
  }

  it("reverts a weight commitment outside the BN254 field with Registry__InvalidCommitment", async function () {
    const { registry, config } = await loadFixture(registryFixture);
    const field = await registry.SNARK_SCALAR_FIELD();
    await expect(registry.register({ ...config, weightCommitment: field }, "x"))
      .to.be.revertedWithCustomError(registry, "Registry__InvalidCommitment")
      .withArgs(field);
  });

  it("counts the weight commitment and packs inputs with inputBits", async function () {
    const { registry, config } = await loadFixture(registryFixture);
    // 30 inputs of 8 bits: 31 per word → 1 word; 3 outputs of 24 bits → 1 word; + binding + commitment
    const privateModel = { ...config, inputLength: 30, inputBits: 8, weightCommitment: 12345n };
    await (await registry.register(privateModel, "private")).wait();
    const model = await registry.getModel(modelIdReference(privateModel));
    expect(model.numPublicSignals).to.equal(4n);
    expect(model.verifySelector).to.equal(
      hre.ethers.id("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[4])").slice(0, 10),
    );
    // the commitment and inputBits are part of the id
    expect(modelIdReference(privateModel)).to.not.equal(
      modelIdReference({ ...privateModel, weightCommitment: 1n }),
    );
    expect(modelIdReference(privateModel)).to.not.equal(modelIdReference({ ...privateModel, inputBits: 9 }));
    expect(await registry.modelIdOf(privateModel)).to.equal(modelIdReference(privateModel));
  });

  it("reverts a zero settlement window with Registry__InvalidSettlementWindow", async function () {
    const { registry, config } = await loadFixture(registryFixture);
    await expect(registry.register({ ...config, settlementWindow: 0 }, "x")).to.be.revertedWithCustomError(
      registry,
      "Registry__InvalidSettlementWindow",
    );
  });

  it("lets the owner deactivate a model and emits ModelDeactivated", async function () {
    const { registry, config } = await loadFixture(registryFixture);
    await (await registry.register(config, "a")).wait();
    const modelId = modelIdReference(config);
    await expect(registry.deactivate(modelId)).to.emit(registry, "ModelDeactivated").withArgs(modelId);
    expect(await registry.isActive(modelId)).to.equal(false);
    expect((await registry.getModel(modelId)).active).to.equal(false);
  });

  it("reverts deactivation by another account with Registry__NotOwner", async function () {
    const { registry, config, stranger } = await loadFixture(registryFixture);
    await (await registry.register(config, "a")).wait();
    const modelId = modelIdReference(config);
    await expect(registry.connect(stranger).deactivate(modelId))
      .to.be.revertedWithCustomError(registry, "Registry__NotOwner")
      .withArgs(modelId, stranger.address);
  });

  it("reverts getModel and deactivate for an unknown id with Registry__UnknownModel", async function () {
    const { registry, config } = await loadFixture(registryFixture);
    const modelId = modelIdReference(config);
    expect(await registry.isActive(modelId)).to.equal(false);
    await expect(registry.getModel(modelId))
      .to.be.revertedWithCustomError(registry, "Registry__UnknownModel")
      .withArgs(modelId);
    await expect(registry.deactivate(modelId))
      .to.be.revertedWithCustomError(registry, "Registry__UnknownModel")
      .withArgs(modelId);
  });
});
