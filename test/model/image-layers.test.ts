import { expect } from "chai";

import { FixedPointRangeError, ModelFormatError } from "../../src/errors.js";
import { runFloat, runFloatTrace } from "../../src/model/float.js";
import { canonicalModelJson, modelHash, quantizeModel } from "../../src/model/quantize.js";
import { loadModelFile, modelShapes, type ModelFile, parseModel } from "../../src/model/schema.js";
import { type QLayer, type QuantizedModel, runQuantized } from "../../src/runtime/fixed.js";
import { tanhErrorBound, tanhFixed } from "../../src/runtime/sigmoid.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";

/**
 * The image layers (conv2d, maxpool, avgpool, globalavgpool, add, tanh) of the fixed-point
 * runtime against integers computed by hand, their float twins, their shapes and the
 * schema's refusals. fracBits 2, valueBits 12 unless stated; integers are given directly.
 */
function model(inputShape: number[], layers: QLayer[], valueBits = 12): QuantizedModel {
  const inputLength = inputShape.reduce((p, d) => p * d, 1);
  return {
    name: "hand",
    inputLength,
    inputShape,
    outputLength: 0,
    fracBits: 2,
    valueBits,
    inputBits: valueBits,
    weightBits: valueBits,
    weights: "public",
    layers,
  };
}
const run = (m: QuantizedModel, x: number[]) => runQuantized(m, x.map(BigInt)).output.map(Number);

// a 3×3 image, row by row
const NINE = [1, 2, 3, 4, 5, 6, 7, 8, 9];
const KERNEL = [
  [
    [
      [1n, 2n],
      [3n, 4n],
    ],
  ],
];

describe("model: image layers in the fixed-point runtime (by hand)", function () {
  it("conv2d: floor((bias + Σ w·x) / 2^wf) per output, channel by channel", function () {
    // acc(0,0) = 1 + 1·1 + 2·2 + 3·4 + 4·5 = 38 → 19, and so on
    const m = model([1, 3, 3], [{ type: "conv2d", weightFracBits: 1, weights: KERNEL, bias: [1n] }]);
    expect(run(m, NINE)).to.deep.equal([19, 24, 34, 39]);
  });

  it("conv2d: zero padding adds nothing, strides skip, negative sums round down", function () {
    // pads [top 1, left 1, 0, 0], stride 2: windows start at rows/cols −1 and 1
    const layer: QLayer = {
      type: "conv2d",
      weightFracBits: 1,
      weights: KERNEL,
      bias: [1n],
      strides: [2, 2],
      pads: [1, 1, 0, 0],
    };
    expect(run(model([1, 3, 3], [layer]), NINE)).to.deep.equal([2, 9, 18, 39]);
    // bias −12: acc(0,0) = −12 + 4·1 = −8 → −4; acc(0,1) = −12 + 3·2 + 4·3 = 6 → 3; −12 + 36 = 24 → 12; −12 + 77 = 65 → 32
    // and −11: −7 → floor(−3.5) = −4
    expect(run(model([1, 3, 3], [{ ...layer, bias: [-11n] }]), NINE)[0]).to.equal(-4);
  });

  it("conv2d: two input channels and two output channels", function () {
    const layer: QLayer = {
      type: "conv2d",
      weightFracBits: 0,
      weights: [
        [[[1n]], [[10n]]],
        [[[-1n]], [[0n]]],
      ],
      bias: [0n, 5n],
    };
    // input [2, 1, 2]: channel 0 = [1, 2], channel 1 = [3, 4]
    expect(run(model([2, 1, 2], [layer]), [1, 2, 3, 4])).to.deep.equal([31, 42, 4, 3]);
  });

  it("conv2d: an output outside the signed valueBits range is refused, naming the layer", function () {
    const m = model([1, 3, 3], [{ type: "conv2d", weightFracBits: 0, weights: KERNEL, bias: [0n] }], 6);
    // acc(0,0) = 1 + 4 + 12 + 20 = 37 > 31
    expect(() => run(m, NINE)).to.throw(FixedPointRangeError, "layer 0 (conv2d)");
  });

  it("maxpool: the largest tap; padding never wins, even over negative values", function () {
    const x = [1, -2, 3, -4, 5, -6, 7, -8, 9];
    expect(run(model([1, 3, 3], [{ type: "maxpool", kernel: [2, 2] }]), x)).to.deep.equal([5, 5, 7, 9]);
    const padded: QLayer = { type: "maxpool", kernel: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1] };
    expect(run(model([1, 3, 3], [padded]), x)).to.deep.equal([1, 3, 7, 9]);
    const negative: QLayer = { type: "maxpool", kernel: [2, 2], pads: [1, 1, 0, 0] };
    expect(run(model([1, 2, 2], [negative]), [-5, -6, -7, -8])).to.deep.equal([-5, -5, -5, -5]);
  });

  it("avgpool: floor(Σ taps / count), rounding negative means down", function () {
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 10];
    expect(run(model([1, 3, 3], [{ type: "avgpool", kernel: [2, 2] }]), x)).to.deep.equal([3, 4, 6, 7]);
    expect(run(model([1, 2, 2], [{ type: "avgpool", kernel: [2, 2] }]), [-1, -2, -3, -5])).to.deep.equal([
      -3,
    ]);
  });

  it("avgpool: padding is left out of the count unless countIncludePad", function () {
    const pool: QLayer = { type: "avgpool", kernel: [2, 2], pads: [1, 1, 0, 0] };
    const x = [4, 8, 12, 16];
    expect(run(model([1, 2, 2], [pool]), x)).to.deep.equal([4, 6, 8, 10]);
    expect(run(model([1, 2, 2], [{ ...pool, countIncludePad: true }]), x)).to.deep.equal([1, 3, 4, 10]);
  });

  it("globalavgpool: floor of each channel's mean", function () {
    const m = model([2, 2, 2], [{ type: "globalavgpool" }]);
    expect(run(m, [1, 2, 3, 4, -1, -2, -3, -5])).to.deep.equal([2, -3]);
  });

  it("add: a residual from the input or from an earlier layer, range-checked", function () {
    const fromInput = model([2], [{ type: "relu" }, { type: "add", from: -1 }]);
    expect(run(fromInput, [-3, 4])).to.deep.equal([-3, 8]);
    const fromLayer = model([2], [{ type: "relu" }, { type: "tanh" }, { type: "add", from: 0 }]);
    // relu → [0, 4]; tanh(1.0) at 2^-2 = 2·sigmoid(2) − 4 = 2·3 − 4 = 2; 0 + 0, 4 + 2
    expect(run(fromLayer, [-3, 4])).to.deep.equal([0, 6]);
    const small = model([1], [{ type: "relu" }, { type: "add", from: -1 }], 4);
    expect(() => run(small, [5])).to.throw(FixedPointRangeError, "layer 1 (add)");
  });

  it("tanh = 2·sigmoid(2x) − 1 exactly, odd, saturating at ±1, within its stated bound", function () {
    const f = 8;
    const one = 1n << BigInt(f);
    expect(tanhFixed(0n, f)).to.equal(0n);
    // 2x = 2.0: the middle segment, floor((4·512 + 20·256) / 32) = 224; 2·224 − 256 = 192 (0.75)
    expect(tanhFixed(one, f)).to.equal(192n);
    expect(tanhFixed(3n * one, f)).to.equal(one);
    expect(tanhFixed(-3n * one, f)).to.equal(-one);
    let worst = 0;
    for (let v = -1600; v <= 1600; v++) {
      const got = tanhFixed(BigInt(v), f);
      expect(tanhFixed(BigInt(-v), f)).to.equal(-got);
      worst = Math.max(worst, Math.abs(Number(got) / 256 - Math.tanh(v / 256)));
    }
    expect(worst).to.be.at.most(tanhErrorBound(f));
    expect(worst).to.be.at.least(0.9 * tanhErrorBound(f) - 2 ** -f);
  });
});

describe("model: image layers in the schema and the float reference", function () {
  const image = (layers: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    format: "sibyl-model/1",
    name: "unit_image",
    inputLength: 18,
    inputShape: [2, 3, 3],
    quantization: { fracBits: 4, valueBits: 16 },
    layers,
    ...extra,
  });
  const conv = (outC: number, inC: number, k: number, extra = {}) => ({
    type: "conv2d",
    weights: Array.from({ length: outC }, (_, o) =>
      Array.from({ length: inC }, (_, c) =>
        Array.from({ length: k }, (_, y) => Array.from({ length: k }, (_, x) => (o + c + y - x) / 8)),
      ),
    ),
    bias: Array.from({ length: outC }, (_, o) => o / 4),
    ...extra,
  });
  const refuse = (json: unknown, path: string, fragment: string) => {
    let caught: unknown;
    try {
      parseModel(json, "fixture.json");
    } catch (e) {
      caught = e;
    }
    expect(caught, `should fail at ${path}`).to.be.instanceOf(ModelFormatError);
    expect((caught as Error).message)
      .to.contain(`fixture.json: ${path}: `)
      .and.to.contain(fragment);
  };

  it("follows shapes through conv2d, pools, add and dense, and checks class counts against them", function () {
    const m = parseModel(
      image(
        [
          conv(3, 2, 2, { pads: [1, 1, 1, 1] }),
          { type: "relu" },
          { type: "maxpool", kernel: [2, 2], strides: [2, 2] },
          conv(3, 3, 1),
          { type: "add", from: 2 },
          { type: "globalavgpool" },
          {
            type: "dense",
            weights: [
              [1, 0, 0],
              [0, 1, 0],
            ],
            bias: [0, 0],
          },
          { type: "argmax" },
        ],
        { classes: ["a", "b"] },
      ),
    );
    expect(modelShapes(m)).to.deep.equal([
      [3, 4, 4],
      [3, 4, 4],
      [3, 2, 2],
      [3, 2, 2],
      [3, 2, 2],
      [3, 1, 1],
      [2],
      [1],
    ]);
  });

  it("refuses shapes that do not fit, naming the layer and what to fix", function () {
    refuse(image([conv(2, 3, 2)]), "$.layers[0].weights[0]", "expected 2 input channels");
    refuse(image([conv(2, 2, 4)]), "$.layers[0]", "kernel [4, 4] is larger than the padded 3×3 input");
    refuse(image([conv(2, 2, 2, { pads: [2, 0, 0, 0] })]), "$.layers[0]", "must be smaller than the kernel");
    refuse(image([conv(2, 2, 2, { strides: [0, 1] })]), "$.layers[0].strides", "positive integers");
    refuse(image([conv(2, 2, 2, { pads: [1, 1] })]), "$.layers[0].pads", "[top, left, bottom, right]");
    refuse(image([{ type: "maxpool", kernel: [2] }]), "$.layers[0].kernel", "[vertical, horizontal]");
    refuse(image([conv(2, 2, 2), { type: "add", from: 1 }]), "$.layers[1].from", "an earlier layer");
    refuse(image([conv(2, 2, 2), { type: "add", from: -1 }]), "$.layers[1]", "the shapes must be equal");
    refuse(image([{ type: "relu" }], { inputShape: [2, 3, 4] }), "$.inputShape", "holds 24 values");
    const vector = { ...image([conv(1, 1, 1)]), inputShape: undefined };
    refuse(vector, "$.layers[0]", "expects an image-shaped input [channels, height, width], got [18]");
    refuse(
      image([{ type: "avgpool", kernel: [2, 2], countIncludePad: "yes" }]),
      "$.layers[0].countIncludePad",
      "true or false",
    );
  });

  it("computes the float reference of each image layer", function () {
    const m = parseModel(
      image([
        conv(1, 2, 2),
        { type: "tanh" },
        { type: "avgpool", kernel: [2, 2], pads: [0, 0, 1, 1] },
        { type: "maxpool", kernel: [2, 2] },
      ]),
    ) as ModelFile;
    const x = Array.from({ length: 18 }, (_, i) => (i % 5) / 4 - 0.5);
    const [c, t, a, mx] = runFloatTrace(m, x);
    // conv output (0,0): Σ over both channels of w·x + bias, with w[0][c][y][x] = (c + y − x)/8
    let acc = 0;
    for (let ch = 0; ch < 2; ch++)
      for (let y = 0; y < 2; y++)
        for (let xx = 0; xx < 2; xx++) acc += ((ch + y - xx) / 8) * x[ch * 9 + y * 3 + xx];
    // (plain comparisons: the chai matchers Hardhat loads take closeTo for integers only)
    expect(Math.abs(c[0] - acc)).to.be.below(1e-12);
    expect(t).to.deep.equal(c.map(Math.tanh));
    // avgpool (1,1) covers only t[3] (the 2×2 conv output's bottom-right) and padding
    expect(Math.abs(a[3] - t[3])).to.be.below(1e-12);
    expect(mx).to.deep.equal([Math.max(...a)]);
    expect(runFloat(m, x)).to.deep.equal(mx);
  });
});

describe("model: quantizing image layers", function () {
  const file = (weights: "public" | "private") =>
    parseModel({
      format: "sibyl-model/1",
      name: "unit_quant",
      inputLength: 4,
      inputShape: [1, 2, 2],
      quantization: { fracBits: 4, valueBits: 16, weights },
      layers: [
        {
          type: "conv2d",
          weights: [
            [
              [
                [0.5, -0.25],
                [1.5, 3.1],
              ],
            ],
          ],
          bias: [0.3],
          strides: [1, 1],
        },
        { type: "maxpool", kernel: [1, 1] },
        { type: "dense", weights: [[1], [-1]], bias: [0, 0] },
      ],
    });

  it("picks one weight scale for a conv layer and puts its bias at the product's scale", function () {
    const q = quantizeModel(file("public"));
    const conv = q.layers[0];
    if (conv.type !== "conv2d") throw new Error("expected conv2d");
    // 3.1 at 2^4 = 49.6 fits 16 bits: the finest scale ≤ fracBits is 4
    expect(conv.weightFracBits).to.equal(4);
    expect(conv.weights).to.deep.equal([
      [
        [
          [8n, -4n],
          [24n, 50n],
        ],
      ],
    ]);
    expect(conv.bias).to.deep.equal([77n]); // round(0.3 · 2^8)
    expect(q.inputShape).to.deep.equal([1, 2, 2]);
    expect(q.outputLength).to.equal(2);
  });

  it("commits to the image layers' geometry, so a changed stride is another model", function () {
    const a = quantizeModel(file("public"));
    const b = structuredClone(a);
    (b.layers[1] as { strides?: [number, number] }).strides = [2, 2];
    expect(modelHash(a)).to.not.equal(modelHash(b));
    expect(canonicalModelJson(a)).to.contain('"inputShape":[1,2,2]');
  });

  it("keeps the hash of a vector model unchanged by the new fields", function () {
    const iris = quantizeModel(loadModelFile(IRIS_MODEL_PATH));
    expect(canonicalModelJson(iris)).to.not.contain("inputShape");
    expect(canonicalModelJson(iris)).to.not.contain("strides");
  });

  it("refuses private weights for a convolutional model, saying what to do", function () {
    expect(() => quantizeModel(file("private"))).to.throw(
      ModelFormatError,
      "private weights are supported for dense layers only",
    );
  });
});
