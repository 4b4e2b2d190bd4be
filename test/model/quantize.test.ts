import { expect } from "chai";
import { keccak256, toUtf8Bytes } from "ethers";

import { FixedPointRangeError } from "../../src/errors.js";
import {
  canonicalModelJson,
  dequantize,
  modelHash,
  quantizeInput,
  quantizeModel,
} from "../../src/model/quantize.js";
import { type ModelFile, parseModel } from "../../src/model/schema.js";
import type { QDense } from "../../src/runtime/fixed.js";

/**
 * fracBits 4 (scale 16, biases at 256), valueBits 8 (−128..127). Every float below is
 * exact in binary, so the expected integers are computed by hand.
 */
function floatModel(
  weights = [
    [0.5, -0.25],
    [1.03125, -0.03125],
  ],
): ModelFile {
  return parseModel({
    format: "sibyl-model/1",
    name: "unit_quant",
    inputLength: 2,
    quantization: { fracBits: 4, valueBits: 8 },
    layers: [
      { type: "dense", weights, bias: [0.5, -0.001953125] },
      { type: "relu" },
      {
        type: "dense",
        weights: [
          [1, 0],
          [0, -1],
        ],
        bias: [0, 0],
      },
      { type: "argmax" },
    ],
  });
}

const dense = (m: ReturnType<typeof quantizeModel>, i: number) => m.layers[i] as QDense;

describe("model/quantize: quantizeModel", function () {
  it("scales weights by 2^f and biases by 2^(2f), rounding half away from zero", function () {
    const q = quantizeModel(floatModel());
    // 0.5·16 = 8, −0.25·16 = −4, 1.03125·16 = 16.5 → 17, −0.03125·16 = −0.5 → −1
    expect(dense(q, 0).weights).to.deep.equal([
      [8n, -4n],
      [17n, -1n],
    ]);
    // 0.5·256 = 128, −0.001953125·256 = −0.5 → −1
    expect(dense(q, 0).bias).to.deep.equal([128n, -1n]);
    expect(dense(q, 2).weights).to.deep.equal([
      [16n, 0n],
      [0n, -16n],
    ]);
    expect(q.layers.map((l) => l.type)).to.deep.equal(["dense", "relu", "dense", "argmax"]);
    expect(q).to.include({ name: "unit_quant", inputLength: 2, outputLength: 1, fracBits: 4, valueBits: 8 });
  });

  it("takes the quantization parameters from the argument when given", function () {
    const q = quantizeModel(floatModel(), { fracBits: 2, valueBits: 8 });
    expect(dense(q, 0).weights).to.deep.equal([
      [2n, -1n],
      [4n, 0n], // 1.03125·4 = 4.125 → 4, −0.03125·4 = −0.125 → 0
    ]);
    expect(dense(q, 0).bias).to.deep.equal([8n, 0n]); // scale 16: 8, −0.03125 → 0
    expect(q.fracBits).to.equal(2);
  });

  it("accepts weights at both ends of the signed range", function () {
    // 7.9375·16 = 127 and −8·16 = −128
    const q = quantizeModel(
      floatModel([
        [7.9375, -8],
        [0, 0],
      ]),
    );
    expect(dense(q, 0).weights[0]).to.deep.equal([127n, -128n]);
  });

  it("lowers a layer's weight scale until its weights fit, and scales its biases to match", function () {
    // 8 · 2^4 = 128 does not fit 8 signed bits; 8 · 2^3 = 64 does
    const q = quantizeModel(
      floatModel([
        [0, 0],
        [8, 0.0625],
      ]),
    );
    expect(dense(q, 0).weightFracBits).to.equal(3);
    expect(dense(q, 0).weights).to.deep.equal([
      [0n, 0n],
      [64n, 1n],
    ]);
    // biases at 2^(4+3) = 128: 0.5 → 64, −0.001953125 → −0.25 → 0
    expect(dense(q, 0).bias).to.deep.equal([64n, 0n]);
    expect(dense(q, 2).weightFracBits).to.equal(4);
  });

  it("refuses a weight that does not fit even at scale 2^1, naming it", function () {
    expect(() =>
      quantizeModel(
        floatModel([
          [0, 0],
          [-64, 64],
        ]),
      ),
    ).to.throw(
      FixedPointRangeError,
      "weight layers[0].weights[1][1] = 64 does not fit in signed 8 bits even at scale 2^1 (±127)",
    );
  });
});

describe("model/quantize: quantizeInput and dequantize", function () {
  const params = { fracBits: 4, valueBits: 8, inputBits: 8 };

  it("rounds real inputs to fixed point", function () {
    expect(quantizeInput(params, [1, -0.03125, 0.0625, 7.9375, -8])).to.deep.equal([
      16n,
      -1n,
      1n,
      127n,
      -128n,
    ]);
  });

  it("refuses an input that quantizes outside the signed range, naming its index", function () {
    expect(() => quantizeInput(params, [0, 8])).to.throw(
      FixedPointRangeError,
      "input[1] = 8 quantizes to 128, outside the signed 8-bit range",
    );
    expect(() => quantizeInput(params, [-8.03125])).to.throw(
      FixedPointRangeError,
      "input[0] = -8.03125 quantizes to -129",
    );
    expect(() => quantizeInput(params, [NaN])).to.throw(FixedPointRangeError, "cannot quantize NaN");
  });

  it("dequantizes by 2^-f", function () {
    expect(dequantize(-24n, 4)).to.equal(-1.5);
    expect(dequantize(127n, 4)).to.equal(7.9375);
  });
});

describe("model/quantize: modelHash and canonicalModelJson", function () {
  it("is keccak256 of the canonical JSON and stable across runs", function () {
    const a = quantizeModel(floatModel());
    const b = quantizeModel(floatModel());
    expect(canonicalModelJson(a)).to.equal(canonicalModelJson(b));
    expect(modelHash(a)).to.equal(modelHash(b));
    expect(modelHash(a)).to.equal(keccak256(toUtf8Bytes(canonicalModelJson(a))));
    const json = JSON.parse(canonicalModelJson(a));
    expect(json.format).to.equal("sibyl-quantized/1");
    expect(json.layers[0]).to.deep.equal({
      type: "dense",
      weightFracBits: 4,
      weights: [
        ["8", "-4"],
        ["17", "-1"],
      ],
      bias: ["128", "-1"],
    });
  });

  it("changes when one weight changes by one quantum", function () {
    const base = quantizeModel(floatModel());
    const changed = quantizeModel(
      floatModel([
        [0.5, -0.25],
        [1.03125, -0.09375], // −1.5 → −2 instead of −1
      ]),
    );
    expect(dense(changed, 0).weights[1][1]).to.equal(-2n);
    expect(canonicalModelJson(changed)).to.not.equal(canonicalModelJson(base));
    expect(modelHash(changed)).to.not.equal(modelHash(base));
  });

  it("does not change when a weight changes by less than the rounding step", function () {
    const base = quantizeModel(floatModel());
    const nudged = quantizeModel(
      floatModel([
        [0.5001, -0.25],
        [1.03125, -0.03125],
      ]),
    );
    expect(modelHash(nudged)).to.equal(modelHash(base));
  });

  it("changes with the name and the quantization", function () {
    const base = quantizeModel(floatModel());
    expect(modelHash({ ...base, name: "other" })).to.not.equal(modelHash(base));
    expect(modelHash({ ...base, valueBits: 9 })).to.not.equal(modelHash(base));
  });
});
