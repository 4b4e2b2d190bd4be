import { expect } from "chai";

import { CircuitTester } from "../helpers/circuit-tester.js";

// The costs docs/protocol.md promises for the production settings (f = 8, b = 24), checked
// on the --O2 build. --O2 folds linear constraints away, so the measured counts may be
// lower than the documented ones, never higher.
const F = 8;
const B = 24;

const budgets: [file: string, template: string, params: number[], documented: number][] = [
  ["bits.circom", "Bits", [B], B + 1],
  ["bits.circom", "SignedRange", [B], B + 1],
  ["fixedpoint.circom", "Rescale", [F, B], F + B + 2],
  ["fixedpoint.circom", "RescaleReLU", [F, B], F + B + 3],
  ["activations.circom", "ReLU", [B], B + 2],
  ["argmax.circom", "ArgMax", [3, B], 2 * (B + 4)],
  ["argmax.circom", "ArgMax", [10, B], 9 * (B + 4)],
];

describe("circuits/lib constraint costs (f = 8, b = 24, --O2)", () => {
  for (const [file, template, params, documented] of budgets) {
    it(`${template}(${params.join(", ")}) stays within the documented ${documented} constraints`, async () => {
      const t = await CircuitTester.fromTemplate({ file, template, params });
      expect(t.constraints).to.be.at.most(documented);
      // A range check cannot be cheaper than one constraint per bit.
      expect(t.constraints).to.be.at.least(template === "ArgMax" ? (params[0] - 1) * (B + 1) : B);
    });
  }
});
