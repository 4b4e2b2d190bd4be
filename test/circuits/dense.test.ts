import { expect } from "chai";

import { CircuitTester } from "../helpers/circuit-tester.js";

const W = [
  [1n, -2n, 3n],
  [-4n, 5n, -6n],
];
const BIAS = [7n, -8n];

function dense(x: bigint[]): bigint[] {
  return W.map((row, o) => row.reduce((acc, w, i) => acc + w * x[i], BIAS[o]));
}

function params(): (number | string)[] {
  const rows = W.map((row) => `[${row.join(", ")}]`).join(", ");
  return [3, 2, `[${rows}]`, `[${BIAS.join(", ")}]`];
}

describe("circuits/lib/dense.circom", () => {
  describe("Dense(3, 2, W, B) with negative weights and biases", () => {
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      [o2, o0] = await Promise.all([
        CircuitTester.fromTemplate({ file: "dense.circom", template: "Dense", params: params() }),
        CircuitTester.fromTemplate({
          file: "dense.circom",
          template: "Dense",
          params: params(),
          optimization: 0,
        }),
      ]);
    });

    it("computes W·x + B exactly, for positive, negative and zero inputs", async () => {
      const inputs: bigint[][] = [
        [0n, 0n, 0n],
        [1n, 1n, 1n],
        [-1n, 2n, -3n],
        [127n, -128n, 100n],
        [-(1n << 100n), 1n << 90n, 3n],
      ];
      for (const x of inputs) await o2.expectPass({ in: x }, { out: dense(x) });
    });

    it("uses no multiplication constraints: one linear constraint per output, folded away by --O2", async () => {
      expect(o0.constraints).to.equal(2);
      expect(o2.constraints).to.equal(0);
    });

    it("binds each output to the inputs (a changed output violates the r1cs)", async () => {
      await o0.expectTamperFails({ in: [1n, 2n, 3n] }, "out[0]", dense([1n, 2n, 3n])[0] + 1n);
      await o0.expectTamperFails({ in: [1n, 2n, 3n] }, "out[1]", 0n);
    });
  });
});
