import { expect } from "chai";

import { BN254_P } from "../../src/circuit/field.js";
import { pack, packedLength, requestBinding, unpack, valuesPerWord } from "../../src/circuit/packing.js";

/**
 * src/circuit/packing.ts: the public-signal encoding shared by the circuit and the
 * precompile. K = floor(253 / b) signed b-bit values per word, each offset by 2^(b−1).
 */

/** Deterministic signed b-bit values (64-bit LCG), both extremes included. */
function randomSigned(n: number, b: number, seed: bigint): bigint[] {
  const half = 1n << BigInt(b - 1);
  const mask64 = (1n << 64n) - 1n;
  let s = seed;
  const next = (): bigint => {
    s = (s * 6364136223846793005n + 1442695040888963407n) & mask64;
    return s >> 11n;
  };
  const out: bigint[] = [];
  for (let j = 0; j < n; j++) {
    // two draws give ≥ 106 random bits, enough for b ≤ 64
    const r = (next() << 53n) | next();
    out.push((r % (2n * half)) - half);
  }
  if (n > 0) out[0] = -half;
  if (n > 1) out[n - 1] = half - 1n;
  return out;
}

const TWO_253 = 1n << 253n;

describe("circuit/packing: pack and unpack", function () {
  it("puts floor(253 / b) values in a word", function () {
    expect([8, 24, 32, 64].map(valuesPerWord)).to.deep.equal([31, 10, 7, 3]);
    expect(packedLength(10, 24)).to.equal(1);
    expect(packedLength(11, 24)).to.equal(2);
    expect(packedLength(1, 64)).to.equal(1);
  });

  it("lays values out as docs/protocol.md says", function () {
    // b = 8: value j at bit 8·j, offset by 128
    expect(pack([-128n, 127n, 0n], 8)).to.deep.equal([0n + (255n << 8n) + (128n << 16n)]);
    // b = 64, K = 3: the fourth value starts the second word at offset 0
    const offset = 1n << 63n;
    expect(pack([0n, 0n, 0n, 5n], 64)).to.deep.equal([
      offset + (offset << 64n) + (offset << 128n),
      offset + 5n,
    ]);
  });

  for (const b of [8, 24, 32, 64]) {
    const K = valuesPerWord(b);
    const lengths = [1, K - 1, K, K + 1, 2 * K, 2 * K + 1, 3 * K + 2];

    it(`round-trips random signed ${b}-bit values across word boundaries (K = ${K})`, function () {
      for (const n of lengths) {
        const values = randomSigned(n, b, BigInt(b * 1000 + n));
        const words = pack(values, b);
        expect(words.length, `words for n = ${n}`).to.equal(Math.ceil(n / K));
        expect(unpack(words, n, b), `n = ${n}`).to.deep.equal(values);
      }
    });

    it(`keeps every packed ${b}-bit word in [0, 2^253)`, function () {
      const half = 1n << BigInt(b - 1);
      for (const n of lengths) {
        for (const values of [
          randomSigned(n, b, BigInt(b + n)),
          new Array<bigint>(n).fill(half - 1n), // the largest word
          new Array<bigint>(n).fill(-half), // all zeros after the offset
        ]) {
          for (const w of pack(values, b)) {
            expect(w >= 0n, `word ${w} ≥ 0`).to.equal(true);
            expect(w < TWO_253, `word < 2^253 (n = ${n})`).to.equal(true);
          }
        }
      }
    });
  }

  it("packs an all-maximum 8-bit word to exactly 2^248 − 1", function () {
    // 31 values of 127 → slots of 255 → 31·8 = 248 one-bits
    expect(pack(new Array<bigint>(31).fill(127n), 8)).to.deep.equal([(1n << 248n) - 1n]);
  });
});

describe("circuit/packing: requestBinding", function () {
  it("is the request id shifted right by 3 bits", function () {
    expect(requestBinding(7n)).to.equal(0n);
    expect(requestBinding(8n)).to.equal(1n);
    expect(requestBinding(0x1234n)).to.equal(0x1234n >> 3n);
    expect(requestBinding(`0x${"00".repeat(31)}ff`)).to.equal(31n);
  });

  it("stays below the BN254 field modulus for the largest id", function () {
    const max = (1n << 256n) - 1n;
    expect(requestBinding(max)).to.equal((1n << 253n) - 1n);
    expect(requestBinding(`0x${"ff".repeat(32)}`)).to.equal((1n << 253n) - 1n);
    expect(requestBinding(max) < BN254_P).to.equal(true);
  });
});
