import { expect } from "chai";
import { poseidon16 } from "poseidon-lite";

import { BN254_P, fromField, toField } from "../../src/circuit/field.js";
import { pack } from "../../src/circuit/packing.js";
import { FixedPointRangeError } from "../../src/errors.js";
import { prng } from "../../src/data/random.js";
import type { QuantizedModel } from "../../src/runtime/fixed.js";
import {
  commitmentElements,
  committedValues,
  poseidonSponge,
  privateWeightLayout,
  randomSalt,
  weightCommitment,
} from "../../src/circuit/commitment.js";
import { CircuitTester } from "../helpers/circuit-tester.js";

/**
 * circuits/lib/commitment.circom and its TypeScript twin src/circuit/commitment.ts, plus
 * DensePrivate from dense.circom: the circuit computes exactly the TypeScript value, and no
 * other weights (a changed bit, an out-of-range weight, a carry between packed slots) can
 * produce it.
 */

const rand = prng(99);
const randInt = (lo: bigint, hi: bigint): bigint => lo + BigInt(Math.floor(rand() * Number(hi - lo + 1n)));
const randField = (): bigint => {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 32n) | BigInt(Math.floor(rand() * 2 ** 32));
  return v % BN254_P;
};
const str = (v: bigint[]): string[] => v.map((x) => toField(x).toString());

/** One dense layer holding `weights` (row-major nOut × nIn) and `bias`, as the commitment sees it. */
function layerModel(
  weights: bigint[],
  bias: bigint[],
  nIn: number,
  weightBits: number,
): Pick<QuantizedModel, "layers" | "weightBits"> {
  const rows = Array.from({ length: weights.length / nIn }, (_, o) => weights.slice(o * nIn, (o + 1) * nIn));
  return { weightBits, layers: [{ type: "dense", weightFracBits: 4, weights: rows, bias }] };
}

describe("circuits/lib/commitment.circom", () => {
  describe("PoseidonSponge(n)", () => {
    for (const n of [1, 14, 15, 16, 31]) {
      it(`matches poseidonSponge in TypeScript for n = ${n} (${Math.ceil(n / 15)} chunk(s))`, async () => {
        const t = await CircuitTester.fromTemplate({
          file: "commitment.circom",
          template: "PoseidonSponge",
          params: [n],
        });
        for (let k = 0; k < 3; k++) {
          const elements = Array.from({ length: n }, randField);
          await t.expectPass({ in: str(elements) }, { out: fromField(poseidonSponge(elements)) });
        }
      });
    }

    it("chains chunks: h1 = Poseidon16([0, e0..e14]), h2 = Poseidon16([h1, e15, 0…])", () => {
      const e = Array.from({ length: 16 }, randField);
      const h1 = poseidon16([0n, ...e.slice(0, 15)]);
      expect(poseidonSponge(e.slice(0, 15))).to.equal(h1);
      expect(poseidonSponge(e)).to.equal(poseidon16([h1, e[15], ...new Array<bigint>(14).fill(0n)]));
    });

    it("binds every element: the chaining value and the output cannot be changed", async () => {
      const o0 = await CircuitTester.fromTemplate({
        file: "commitment.circom",
        template: "PoseidonSponge",
        params: [16],
        optimization: 0,
      });
      const input = { in: str(Array.from({ length: 16 }, randField)) };
      await o0.expectTamperFails(input, "h[0].out", 12345n);
      await o0.expectTamperFails(input, "out", 1n);
    });
  });

  describe("WeightCommitment(40, 8, 5): 40 signed 8-bit weights in two packed words, 5 biases", () => {
    const N_IN = 8;
    const N_W = 40;
    const N_B = 5;
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      const spec = { file: "commitment.circom", template: "WeightCommitment", params: [N_W, 8, N_B] };
      [o2, o0] = await Promise.all([
        CircuitTester.fromTemplate(spec),
        CircuitTester.fromTemplate({ ...spec, optimization: 0 }),
      ]);
    });

    const randomWeights = (): bigint[] => Array.from({ length: N_W }, () => randInt(-128n, 127n));
    const randomBiases = (): bigint[] => Array.from({ length: N_B }, () => randInt(-(1n << 40n), 1n << 40n));
    const inputOf = (w: bigint[], b: bigint[], salt: bigint) => ({
      w: str(w),
      b: str(b),
      salt: salt.toString(),
    });
    const expected = (w: bigint[], b: bigint[], salt: bigint) =>
      weightCommitment(layerModel(w, b, N_IN, 8), salt);

    it("outputs exactly weightCommitment() of src/circuit/commitment.ts, for random weights, biases and salts", async () => {
      for (let k = 0; k < 6; k++) {
        const [w, b] = [randomWeights(), randomBiases()];
        const salt = k % 2 ? randomSalt() : randField();
        await o2.expectPass(inputOf(w, b, salt), { commitment: fromField(expected(w, b, salt)) });
      }
    });

    it("accepts the boundary weights −128 and 127", async () => {
      const w = Array.from({ length: N_W }, (_, i) => (i % 2 ? 127n : -128n));
      const b = randomBiases();
      await o2.expectPass(inputOf(w, b, 7n), { commitment: fromField(expected(w, b, 7n)) });
    });

    it("rejects a weight one past either boundary (−129, 128) and a field-sized weight", async () => {
      for (const bad of [-129n, 128n, 1000n, BN254_P - 1000n]) {
        const w = randomWeights();
        w[17] = bad;
        await o2.expectFail(inputOf(w, randomBiases(), 7n));
      }
    });

    it("has no witness for a carry between packed slots (same packed word, other weights)", async () => {
      const w = randomWeights();
      w[0] = 5n;
      w[1] = 3n;
      const carried = [...w];
      carried[0] = w[0] + 256n; // slot 0 overflows into slot 1 ...
      carried[1] = w[1] - 1n; // ... which gives one back: the packed word is unchanged
      expect(pack(carried, 8)).to.deep.equal(pack(w, 8));
      // Without the range check both would hash alike; with it, the carried weights are refused.
      await o2.expectFail(inputOf(carried, randomBiases(), 7n));
      expect(() => expected(carried, randomBiases(), 7n)).to.throw(FixedPointRangeError);
    });

    it("changes when any one weight, bias or the salt changes", async () => {
      const [w, b] = [randomWeights(), randomBiases()];
      const base = expected(w, b, 11n);
      const seen = new Set<bigint>([base]);
      for (const i of [0, 30, 31, 39]) {
        const w2 = [...w];
        w2[i] = w2[i] === 127n ? 126n : w2[i] + 1n;
        seen.add(expected(w2, b, 11n));
      }
      const b2 = [...b];
      b2[4] -= 1n;
      seen.add(expected(w, b2, 11n));
      seen.add(expected(w, b, 12n));
      expect(seen.size).to.equal(7);
      // and the circuit agrees on one of the changed values
      const w3 = [...w];
      w3[39] = w3[39] === 127n ? 126n : w3[39] + 1n;
      await o2.expectPass(inputOf(w3, b, 11n), { commitment: fromField(expected(w3, b, 11n)) });
    });

    it("rejects a tampered weight bit, packed word, chaining value or commitment in an honest witness", async () => {
      const w = randomWeights();
      w[3] = -100n; // 28 = 0b00011100 after the 2^7 offset
      const input = inputOf(w, randomBiases(), 99n);
      for (const bit of [0, 2, 7]) {
        const honest = ((w[3] + 128n) >> BigInt(bit)) & 1n;
        await o0.expectTamperFails(input, `range[3].shifted.bits[${bit}]`, 1n - honest);
      }
      await o0.expectTamperFails(input, "range[3].nonNeg", 1n);
      await o0.expectTamperFails(input, "pack.out[0]", 1n);
      await o0.expectTamperFails(input, "pack.out[1]", 0n);
      await o0.expectTamperFails(input, "sponge.in[0]", 98n);
      await o0.expectTamperFails(input, "sponge.h[0].out", 1n);
      await o0.expectTamperFails(input, "commitment", 1n);
    });

    it("rejects a weight changed together with its bits (the commitment no longer matches)", async () => {
      const w = randomWeights();
      w[5] = 10n;
      const input = inputOf(w, randomBiases(), 3n);
      // a consistent-looking change of the weight and its own bit decomposition
      const overrides: Record<string, bigint> = { "w[5]": 11n };
      for (let bit = 0; bit < 8; bit++)
        overrides[`range[5].shifted.bits[${bit}]`] = ((11n + 128n) >> BigInt(bit)) & 1n;
      await o0.expectTamperFails(input, overrides);
    });

    it("costs at most nWeights·8 + 609 per sponge chunk (--O2)", () => {
      const chunks = Math.ceil((1 + 2 + N_B) / 15);
      expect(o2.constraints).to.be.at.most(N_W * 8 + 609 * chunks);
      expect(o2.constraints).to.be.at.least(N_W * 8);
    });
  });

  describe("WeightCommitment(70, 4, 3): 4-bit weights, 63 per word", () => {
    it("matches TypeScript and accepts −8..7 only", async () => {
      const t = await CircuitTester.fromTemplate({
        file: "commitment.circom",
        template: "WeightCommitment",
        params: [70, 4, 3],
      });
      const w = Array.from({ length: 70 }, (_, i) => BigInt((i % 16) - 8));
      const b = [-1n, 0n, 1n << 100n];
      const c = weightCommitment(layerModel(w, b, 10, 4), 5n);
      await t.expectPass({ w: str(w), b: str(b), salt: "5" }, { commitment: fromField(c) });
      const bad = [...w];
      bad[69] = 8n;
      await t.expectFail({ w: str(bad), b: str(b), salt: "5" });
    });
  });

  describe("cost per weight", () => {
    it("WeightCommitment(899, 8, 0) costs ≤ 10 constraints per weight (29 words + salt = 2 full chunks)", async function () {
      this.timeout(120_000);
      const t = await CircuitTester.fromTemplate({
        file: "commitment.circom",
        template: "WeightCommitment",
        params: [899, 8, 0],
      });
      const perWeight = t.constraints / 899;
      expect(perWeight).to.be.at.most(10);
      expect(perWeight).to.be.at.least(8); // one per bit of range check, at least
    });
  });
});

describe("src/circuit/commitment.ts: element order", () => {
  // dense 2→3, relu, dense 3→2: weights layer by layer, row-major; biases layer by layer
  const model: Pick<QuantizedModel, "layers" | "weightBits"> = {
    weightBits: 8,
    layers: [
      {
        type: "dense",
        weightFracBits: 4,
        weights: [
          [1n, 2n],
          [3n, 4n],
          [5n, 6n],
        ],
        bias: [-1n, -2n, -3n],
      },
      { type: "relu" },
      {
        type: "dense",
        weightFracBits: 5,
        weights: [
          [7n, 8n, 9n],
          [10n, 11n, -12n],
        ],
        bias: [-4n, -5n],
      },
    ],
  };

  it("lays out dense layers in model order, each row-major [out][in]", () => {
    expect(privateWeightLayout(model)).to.deep.equal({
      slots: [
        { layer: 0, nIn: 2, nOut: 3, weightOffset: 0, biasOffset: 0 },
        { layer: 2, nIn: 3, nOut: 2, weightOffset: 6, biasOffset: 3 },
      ],
      nWeights: 12,
      nBiases: 5,
    });
    expect(committedValues(model)).to.deep.equal({
      weights: [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n, 11n, -12n],
      biases: [-1n, -2n, -3n, -4n, -5n],
    });
  });

  it("hashes [salt, packed weights, biases as field elements]", () => {
    const elements = commitmentElements(model, 42n);
    expect(elements).to.deep.equal([
      42n,
      ...pack([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n, 11n, -12n], 8),
      ...[-1n, -2n, -3n, -4n, -5n].map(toField),
    ]);
    expect(weightCommitment(model, 42n)).to.equal(
      poseidon16([0n, ...elements, ...new Array(15 - elements.length).fill(0n)]),
    );
  });

  it("randomSalt gives distinct values below 2^248", () => {
    const salts = Array.from({ length: 16 }, randomSalt);
    expect(new Set(salts).size).to.equal(16);
    for (const s of salts) expect(s < 1n << 248n && s >= 0n).to.equal(true);
  });
});

describe("circuits/lib/dense.circom: DensePrivate", () => {
  const W = [
    [3n, -7n, 127n],
    [-128n, 0n, 5n],
  ];
  const B = [-1000n, 77n];
  const dense = (x: bigint[]) => W.map((row, o) => row.reduce((acc, w, i) => acc + w * x[i], B[o]));
  const input = (x: bigint[]) => ({ in: str(x), w: W.map(str), b: str(B) });
  let o2: CircuitTester;
  let o0: CircuitTester;
  before(async () => {
    const spec = { file: "dense.circom", template: "DensePrivate", params: [3, 2] };
    [o2, o0] = await Promise.all([
      CircuitTester.fromTemplate(spec),
      CircuitTester.fromTemplate({ ...spec, optimization: 0 }),
    ]);
  });

  it("computes w·x + b exactly, with negative weights, biases and inputs", async () => {
    for (const x of [
      [0n, 0n, 0n],
      [1n, -1n, 1n],
      [-(1n << 23n), (1n << 23n) - 1n, 12345n],
      [-5n, 6n, -7n],
    ])
      await o2.expectPass(input(x), { out: dense(x) });
  });

  it("costs exactly one constraint per weight (nIn·nOut = 6) under --O2", () => {
    expect(o2.constraints).to.equal(3 * 2);
  });

  it("rejects a tampered product or output", async () => {
    const x = [2n, -3n, 4n];
    await o0.expectTamperFails(input(x), "prod[0][1]", -7n * -3n + 1n);
    await o0.expectTamperFails(input(x), "out[1]", dense(x)[1] + 1n);
  });
});
