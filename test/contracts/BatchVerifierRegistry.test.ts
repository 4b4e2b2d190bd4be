import { expect } from "chai";
import { id, keccak256 } from "ethers";

import { batchLayout } from "../../src/circuit/batch.js";
import {
  modelConfig,
  networkHelpers,
  registerMockModel,
  runtimeCodeOf,
  sibylFixture,
  timestampOf,
} from "./fixtures.js";

const { loadFixture } = networkHelpers;

/**
 * ModelRegistry's batch verifiers (MockVerifier code: tests the registry's bookkeeping, not
 * proofs; test/contracts/BatchSettlement.test.ts settles real batches): one per (model, k), by
 * the model's owner, never replaced, and the slot layout the registry and the circuit generator
 * must agree on.
 */
describe("ModelRegistry batch verifiers (MockVerifier: tests the registry, not proofs)", function () {
  const ZKEY = keccak256("0x0b");
  const selector = (n: number) =>
    id(`verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[${n}])`).slice(0, 10);

  it("registers one verifier per size, by the model's owner: its code deployed, its time, layout and selector recorded", async function () {
    const { registry, modelId, admin } = await loadFixture(sibylFixture);
    const code = await runtimeCodeOf("MockVerifier");
    const tx = registry.connect(admin).registerBatchVerifier(modelId, 8, code, ZKEY);
    await expect(tx).to.emit(registry, "BatchVerifierRegistered");
    const at = await timestampOf(tx);
    const b = await registry.batchVerifierOf(modelId, 8);
    expect(b.verifier).to.equal(await registry.verifierAddressOf(keccak256(code)));
    expect(b.registeredAt).to.equal(at);
    // the fixture's model: 4 inputs and 3 outputs of 24 bits pack into one word each, but with the
    // 128-bit binding they need 296 bits: three signals per slot
    expect(b.slotSignals).to.equal(3n);
    expect(b.verifySelector).to.equal(selector(8 * 3));
    expect(b.settlementWindow).to.equal((await registry.getModel(modelId)).config.settlementWindow);
    expect(b.zkeyHash).to.equal(ZKEY);
    expect((await registry.batchVerifierOf(modelId, 4)).verifier).to.equal(
      "0x0000000000000000000000000000000000000000",
    );
  });

  it("refuses a second verifier for a size, another account, an unknown model and sizes 0 or above 256", async function () {
    const { registry, modelId, admin, stranger } = await loadFixture(sibylFixture);
    const code = await runtimeCodeOf("MockVerifier");
    await (await registry.connect(admin).registerBatchVerifier(modelId, 4, code, ZKEY)).wait();
    await expect(registry.connect(admin).registerBatchVerifier(modelId, 4, code, ZKEY))
      .to.be.revertedWithCustomError(registry, "Registry__BatchVerifierExists")
      .withArgs(modelId, 4);
    await expect(registry.connect(stranger).registerBatchVerifier(modelId, 8, code, ZKEY))
      .to.be.revertedWithCustomError(registry, "Registry__NotOwner")
      .withArgs(modelId, stranger.address);
    const unknown = keccak256("0x01");
    await expect(registry.connect(admin).registerBatchVerifier(unknown, 8, code, ZKEY))
      .to.be.revertedWithCustomError(registry, "Registry__UnknownModel")
      .withArgs(unknown);
    for (const k of [0, 257])
      await expect(registry.connect(admin).registerBatchVerifier(modelId, k, code, ZKEY))
        .to.be.revertedWithCustomError(registry, "Registry__InvalidBatchSize")
        .withArgs(k);
    await expect(registry.connect(admin).registerBatchVerifier(modelId, 256, code, ZKEY)).to.emit(
      registry,
      "BatchVerifierRegistered",
    );
  });

  it("computes the slot layout exactly as the circuit generator does (compact when binding, input and output fit 253 bits)", async function () {
    const { registry, admin } = await loadFixture(sibylFixture);
    const cases = [
      // Iris: 4 × 24-bit inputs, 1 × 24-bit output: 96 + 24 + 128 = 248 → compact
      { inputLength: 4, inputBits: 24, outputLength: 1, valueBits: 24, weightCommitment: 0n },
      // one bit more does not fit: 4 × 25 + 25 + 128 = 253 fits, 4 × 26 + 26 + 128 = 258 does not
      { inputLength: 4, inputBits: 25, outputLength: 1, valueBits: 25, weightCommitment: 0n },
      { inputLength: 4, inputBits: 26, outputLength: 1, valueBits: 26, weightCommitment: 0n },
      // a private-weights model is never compact
      { inputLength: 4, inputBits: 8, outputLength: 1, valueBits: 24, weightCommitment: 12345n },
      // MNIST's shape: 196 × 10-bit inputs (8 words), 1 output
      { inputLength: 196, inputBits: 10, outputLength: 1, valueBits: 24, weightCommitment: 0n },
      // two output words
      { inputLength: 3, inputBits: 8, outputLength: 12, valueBits: 24, weightCommitment: 0n },
    ];
    for (const [i, c] of cases.entries()) {
      const { modelId } = await registerMockModel(
        registry,
        admin,
        modelConfig({ ...c, fracBits: 8 }),
        `layout${i}`,
      );
      const expected = batchLayout({
        inputLength: c.inputLength,
        inputBits: c.inputBits,
        outputLength: c.outputLength,
        valueBits: c.valueBits,
        weights: c.weightCommitment === 0n ? "public" : "private",
      });
      expect(await registry.batchSlotSignals(modelId), `case ${i}`).to.equal(BigInt(expected.slotSignals));
    }
    expect(
      batchLayout({ inputLength: 4, inputBits: 25, outputLength: 1, valueBits: 25, weights: "public" })
        .compact,
    ).to.equal(true);
    expect(
      batchLayout({ inputLength: 4, inputBits: 26, outputLength: 1, valueBits: 26, weights: "public" })
        .compact,
    ).to.equal(false);
  });
});
