import { expect } from "chai";

import { BN254_P } from "../../src/circuit/field.js";
import { CircuitTester } from "../helpers/circuit-tester.js";

/**
 * Independent reference of docs/protocol.md "Packing": K = floor(253 / b) values per
 * word, value j at bit offset b·(j mod K) of word floor(j / K), offset by 2^(b-1).
 */
function pack(values: bigint[], b: number): bigint[] {
  const K = Math.floor(253 / b);
  const words = new Array<bigint>(Math.ceil(values.length / K)).fill(0n);
  values.forEach((v, j) => {
    const slot = v + (1n << BigInt(b - 1));
    if (slot < 0n || slot >= 1n << BigInt(b)) throw new RangeError(`${v} is not a signed ${b}-bit value`);
    words[Math.floor(j / K)] += slot << BigInt(b * (j % K));
  });
  return words;
}

function pseudoRandomValues(n: number, b: number, seed: number): bigint[] {
  const half = 1n << BigInt(b - 1);
  let s = BigInt(seed);
  const out: bigint[] = [];
  for (let j = 0; j < n; j++) {
    s = (s * 6364136223846793005n + 1442695040888963407n) % (1n << 64n);
    out.push(((s >> 20n) % (2n * half)) - half);
  }
  // Always include both extremes.
  out[0] = -half;
  if (n > 1) out[n - 1] = half - 1n;
  return out;
}

describe("circuits/lib/packing.circom", () => {
  const layouts: [n: number, b: number, words: number][] = [
    [40, 8, 2], // K = 31
    [23, 24, 3], // K = 10, the default valueBits
    [21, 12, 1], // K = 21: exactly one full word
    [22, 12, 2], // one value spills into a second word
    [1, 24, 1],
  ];

  for (const [n, b, words] of layouts) {
    describe(`Pack(${n}, ${b})`, () => {
      let t: CircuitTester;
      before(async () => {
        t = await CircuitTester.fromTemplate({ file: "packing.circom", template: "Pack", params: [n, b] });
      });

      it(`packs into ${words} word(s) exactly like the TypeScript reference`, async () => {
        for (const seed of [1, 2, 3]) {
          const values = pseudoRandomValues(n, b, seed);
          const expected = pack(values, b);
          expect(expected).to.have.length(words);
          await t.expectPass({ in: values }, { out: expected });
        }
      });

      it("packs all-minimum values to zero words and all-maximum values to all-ones slots", async () => {
        const half = 1n << BigInt(b - 1);
        await t.expectPass(
          { in: new Array<bigint>(n).fill(-half) },
          { out: new Array<bigint>(words).fill(0n) },
        );
        const top = pack(new Array<bigint>(n).fill(half - 1n), b);
        for (const w of top) expect(w < BN254_P).to.equal(true);
        await t.expectPass({ in: new Array<bigint>(n).fill(half - 1n) }, { out: top });
      });
    });
  }

  describe("CheckedPack(23, 24): Pack behind the range checks a model circuit applies", () => {
    let o2: CircuitTester;
    before(async () => {
      o2 = await CircuitTester.fromTemplate({
        file: "checked-pack.circom",
        template: "CheckedPack",
        params: [23, 24],
      });
    });

    it("packs in-range values", async () => {
      const values = pseudoRandomValues(23, 24, 9);
      await o2.expectPass({ in: values }, { out: pack(values, 24) });
    });

    it("rejects a value one past the signed range", async () => {
      const values = pseudoRandomValues(23, 24, 9);
      values[5] = 1n << 23n;
      await o2.expectFail({ in: values });
    });

    it("rejects a packed word that does not match the values (in the --O2 build)", async () => {
      const values = pseudoRandomValues(23, 24, 9);
      const words = pack(values, 24);
      await o2.expectTamperFails({ in: values }, "out[1]", words[1] + 1n);
      await o2.expectTamperFails({ in: values }, "out[2]", words[2] + (1n << 24n));
    });
  });
});
