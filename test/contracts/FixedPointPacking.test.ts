import { expect } from "chai";

import { pack as projectPack, unpack as projectUnpack } from "../../src/circuit/packing.js";
import { ethers, networkHelpers, packReference } from "./fixtures.js";

const { loadFixture } = networkHelpers;

/** Deterministic values spread over the whole signed `b`-bit range, extremes included. */
function valuesFor(length: number, valueBits: number): bigint[] {
  const half = 1n << BigInt(valueBits - 1);
  const span = 2n * half;
  return Array.from({ length }, (_, i) => {
    if (i === 0) return -half;
    if (i === 1) return half - 1n;
    return ((BigInt(i) * 0x9e3779b97f4a7c15n) % span) - half;
  });
}

describe("FixedPointPacking", function () {
  async function harnessFixture() {
    return { harness: await ethers.deployContract("PackingHarness") };
  }

  for (const valueBits of [2, 8, 12, 16, 24, 63, 64, 126]) {
    const k = Math.floor(253 / valueBits);
    for (const length of new Set([1, k - 1, k, k + 1, 3 * k + 2].filter((n) => n >= 1))) {
      it(`packs ${length} value${length === 1 ? "" : "s"} of ${valueBits} bits like docs/protocol.md, and unpacks them back`, async function () {
        const { harness } = await loadFixture(harnessFixture);
        const values = valuesFor(length, valueBits);
        const words = await harness.pack(values, valueBits);
        expect(words).to.deep.equal(packReference(values, valueBits));
        expect(words).to.deep.equal(projectPack(values, valueBits)); // src/circuit/packing agrees
        expect(await harness.wordCount(length, valueBits)).to.equal(BigInt(words.length));
        for (const w of words) expect(w < 1n << 253n).to.equal(true);
        expect(await harness.unpack([...words], length, valueBits)).to.deep.equal(values);
        expect(projectUnpack(words, length, valueBits)).to.deep.equal(values);
      });
    }
  }

  it("puts K = floor(253 / b) values in a word", async function () {
    const { harness } = await loadFixture(harnessFixture);
    for (const b of [2, 3, 24, 126])
      expect(await harness.valuesPerWord(b)).to.equal(BigInt(Math.floor(253 / b)));
  });

  it("packs an empty vector into no words", async function () {
    const { harness } = await loadFixture(harnessFixture);
    expect(await harness.pack([], 24)).to.deep.equal([]);
  });

  for (const valueBits of [2, 24, 126]) {
    it(`accepts exactly [-2^(b-1), 2^(b-1)) at ${valueBits} bits and reverts outside with Inference__ValueOutOfRange`, async function () {
      const { harness } = await loadFixture(harnessFixture);
      const precompile = await ethers.getContractAt("InferencePrecompile", ethers.ZeroAddress);
      const half = 1n << BigInt(valueBits - 1);
      expect(await harness.inRange(-half, valueBits)).to.equal(true);
      expect(await harness.inRange(half - 1n, valueBits)).to.equal(true);
      for (const bad of [-half - 1n, half]) {
        expect(await harness.inRange(bad, valueBits)).to.equal(false);
        await expect(harness.pack([0n, 0n, 0n, bad], valueBits))
          .to.be.revertedWithCustomError(precompile, "Inference__ValueOutOfRange")
          .withArgs(3n, bad, valueBits);
      }
    });
  }
});
