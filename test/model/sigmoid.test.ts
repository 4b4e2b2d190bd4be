import { expect } from "chai";

import { ModelFormatError } from "../../src/errors.js";
import { runFloat } from "../../src/model/float.js";
import { canonicalModelJson, quantizeModel } from "../../src/model/quantize.js";
import { outputLength, parseModel } from "../../src/model/schema.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { SIGMOID_PWL_MAX_ERROR, sigmoidErrorBound, sigmoidFixed } from "../../src/runtime/sigmoid.js";

/**
 * The `sigmoid` layer: the fixed-point function of src/runtime/sigmoid.ts against the
 * formula and the error bound docs/protocol.md states, and the layer in the schema, the
 * float reference, the quantizer and the runtime.
 */

const sigma = (x: number): number => 1 / (1 + Math.exp(-x));

/** The documented formula, written out independently with Number arithmetic. */
function reference(x: number, f: number): number {
  const one = 2 ** f;
  const a = Math.abs(x);
  let pos: number;
  if (a >= 5 * one) pos = one;
  else if (8 * a >= 19 * one) pos = Math.floor((a + 27 * one) / 32);
  else if (a >= one) pos = Math.floor((4 * a + 20 * one) / 32);
  else pos = Math.floor((8 * a + 16 * one) / 32);
  return x >= 0 ? pos : one - pos;
}

describe("runtime/sigmoid: sigmoidFixed", function () {
  it("follows the documented formula for every |x| ≤ 8 at fracBits 1, 3, 8 and 12", function () {
    const mismatches: string[] = [];
    for (const f of [1, 3, 8, 12])
      for (let x = -8 * 2 ** f; x <= 8 * 2 ** f; x++) {
        const y = Number(sigmoidFixed(BigInt(x), f));
        if (y !== reference(x, f)) mismatches.push(`f = ${f}, x = ${x}: ${y} ≠ ${reference(x, f)}`);
      }
    expect(mismatches.slice(0, 5)).to.deep.equal([]);
  });

  it("stays within 0.01895 + 2^-8 of σ on every signed 24-bit input at fracBits 8, is monotone and symmetric", function () {
    const f = 8;
    const one = 256n;
    let maxErr = 0;
    let prev = -1n;
    const problems: string[] = [];
    for (let x = -(1n << 23n); x < 1n << 23n; x++) {
      const y = sigmoidFixed(x, f);
      if (y < prev) problems.push(`not monotone at ${x}`);
      prev = y;
      if (x > -2048n && x < 2048n) {
        maxErr = Math.max(maxErr, Math.abs(Number(y) / 256 - sigma(Number(x) / 256)));
        if (sigmoidFixed(-x, f) !== one - y) problems.push(`not symmetric at ${x}`);
      } else if (y !== (x > 0n ? one : 0n)) problems.push(`not saturated at ${x}`);
      // (beyond |x| = 8 the output is 0 or 1 and the error 1 − σ(|x|) < 0.0004)
      if (problems.length > 5) break;
    }
    expect(problems).to.deep.equal([]);
    expect(maxErr).to.be.at.most(sigmoidErrorBound(f));
    // the measured maximum documented in docs/protocol.md: 0.02148 (at x = −3.371)
    // (plain comparisons: Hardhat's chai matchers take over closeTo for integers only)
    expect(Math.abs(maxErr - 0.021476), `max error ${maxErr}`).to.be.below(1e-6);
    expect(Math.abs(SIGMOID_PWL_MAX_ERROR - 0.018941), `${SIGMOID_PWL_MAX_ERROR}`).to.be.below(1e-6);
    expect(sigmoidErrorBound(f)).to.be.below(0.02285);
  });

  it("keeps the bound at other fracBits (1 … 16) on |x| ≤ 8", function () {
    for (let f = 1; f <= 16; f++) {
      const one = 2 ** f;
      let maxErr = 0;
      for (let x = -8 * one; x <= 8 * one; x += f > 12 ? 7 : 1)
        maxErr = Math.max(maxErr, Math.abs(Number(sigmoidFixed(BigInt(x), f)) / one - sigma(x / one)));
      expect(maxErr, `fracBits ${f}`).to.be.at.most(sigmoidErrorBound(f));
    }
  });
});

describe("the sigmoid layer", function () {
  const json = (valueBits = 24) => ({
    format: "sibyl-model/1",
    name: "sig_unit",
    inputLength: 2,
    quantization: { fracBits: 8, valueBits },
    layers: [
      {
        type: "dense",
        weights: [
          [1, -1],
          [0.5, 2],
          [-3, 0],
        ],
        bias: [0, 0.25, -1],
      },
      { type: "sigmoid" },
    ],
  });

  it("is accepted by the schema and keeps the width", function () {
    const m = parseModel(json());
    expect(m.layers[1]).to.deep.equal({ type: "sigmoid" });
    expect(outputLength(m)).to.equal(3);
  });

  it("needs valueBits ≥ fracBits + 4", function () {
    expect(() => parseModel(json(11))).to.throw(
      ModelFormatError,
      "$.layers[1]: sigmoid needs quantization.valueBits ≥ fracBits + 4",
    );
    expect(parseModel(json(12)).layers).to.have.length(2);
  });

  it("is the true logistic function in the float reference", function () {
    const m = parseModel(json());
    const y = runFloat(m, [1, 0.5]);
    expect(y).to.deep.equal([sigma(0.5), sigma(0.5 + 0.25 + 1), sigma(-3 - 1)]);
  });

  it("passes through the quantizer and runs sigmoidFixed on the rescaled dense output", function () {
    const q = quantizeModel(parseModel(json()));
    expect(q.layers[1]).to.deep.equal({ type: "sigmoid" });
    expect(canonicalModelJson(q)).to.contain('{"type":"sigmoid"}');
    const run = runQuantized(q, [256n, 128n]);
    expect(run.activations[0]).to.deep.equal([128n, 448n, -1024n]);
    expect(run.output).to.deep.equal([sigmoidFixed(128n, 8), sigmoidFixed(448n, 8), sigmoidFixed(-1024n, 8)]);
    // by hand: 0.5 → floor((8·128 + 16·256) / 32) = 160; 1.75 → floor((4·448 + 20·256) / 32) = 216;
    // −4 → 256 − floor((1024 + 27·256) / 32) = 8
    expect(run.output).to.deep.equal([160n, 216n, 8n]);
  });
});
