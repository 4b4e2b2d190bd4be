import { expect } from "chai";

import { quantizationErrorBounds } from "../../src/model/bounds.js";
import { runFloatTrace } from "../../src/model/float.js";
import { dequantize, quantizeInput, quantizeModel } from "../../src/model/quantize.js";
import { type Conv2dLayer, type ModelFile, parseModel } from "../../src/model/schema.js";
import { prng } from "../../src/data/random.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { tanhErrorBound } from "../../src/runtime/sigmoid.js";

/**
 * src/model/bounds.ts on the image layers: each entry follows the rule its doc comment
 * states (recomputed here by hand from the layer before), and every value of every layer of
 * the fixed-point runtime stays within its bound of the float reference.
 */

const F = 4; // fracBits: weights and activations at 2^4, so every weight below is exact
const unit = 2 ** -F;

/** conv 1×1 (w = 0.5, b = 0.25) → add the input → tanh → maxpool 2×2/2 → globalavgpool, on 1×4×4 */
const pointwise: ModelFile = parseModel({
  format: "sibyl-model/1",
  name: "bounds_pointwise",
  inputLength: 16,
  inputShape: [1, 4, 4],
  quantization: { fracBits: F, valueBits: 16 },
  layers: [
    { type: "conv2d", weights: [[[[0.5]]]], bias: [0.25] },
    { type: "add", from: -1 },
    { type: "tanh" },
    { type: "maxpool", kernel: [2, 2], strides: [2, 2] },
    { type: "globalavgpool" },
  ],
});

/** conv 3×3 with pads 1 → avgpool 3×3 pads 1 (taps) → avgpool 2×2/2 pads 1 (whole kernel), on 1×4×4 */
const padded: ModelFile = parseModel({
  format: "sibyl-model/1",
  name: "bounds_padded",
  inputLength: 16,
  inputShape: [1, 4, 4],
  quantization: { fracBits: F, valueBits: 16 },
  layers: [
    {
      type: "conv2d",
      weights: [
        [
          [
            [0.25, -0.5, 0.75],
            [1, -1.25, 0.5],
            [-0.25, 0.125, 1.5],
          ],
        ],
      ],
      bias: [-0.5],
      pads: [1, 1, 1, 1],
    },
    { type: "avgpool", kernel: [3, 3], pads: [1, 1, 1, 1] },
    { type: "avgpool", kernel: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: true },
  ],
});

const rand = prng(5150);
const randomImage = (): number[] => Array.from({ length: 16 }, () => (2 * rand() - 1) * 2);

/** The in-image (y, x) of a k×k window at output (oy, ox) with stride s and top/left pad p. */
function taps(oy: number, ox: number, k: number, s: number, p: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let dy = 0; dy < k; dy++)
    for (let dx = 0; dx < k; dx++) {
      const [y, x] = [oy * s - p + dy, ox * s - p + dx];
      if (y >= 0 && y < size && x >= 0 && x < size) out.push([y, x]);
    }
  return out;
}

describe("model/bounds: quantizationErrorBounds on the image layers", function () {
  it("follows the stated rules for conv2d, add, tanh, maxpool and globalavgpool", function () {
    const q = quantizeModel(pointwise);
    expect(q.layers[0]).to.include({ weightFracBits: F });
    const x = randomImage();
    const [conv, add, tanh, max, avg] = quantizationErrorBounds(pointwise, q, x);
    // conv2d: |Ŵ|·e + 2^-(w+1)·|x| + 2^-(f+w+1) + 2^-f, with e = 2^-(f+1) on the input
    conv.forEach((e, o) =>
      expect(e).to.equal(0.5 * 2 ** -(F + 1) + 2 ** -(F + 1) * Math.abs(x[o]) + 2 ** -(2 * F + 1) + unit),
    );
    add.forEach((e, o) => expect(e).to.equal(conv[o] + 2 ** -(F + 1)));
    tanh.forEach((e, o) => expect(e).to.equal(add[o] + tanhErrorBound(F)));
    const expectedMax = [0, 1].flatMap((oy) =>
      [0, 1].map((ox) => Math.max(...taps(oy, ox, 2, 2, 0, 4).map(([y, xx]) => tanh[y * 4 + xx]))),
    );
    expect(max).to.deep.equal(expectedMax);
    expect(avg).to.have.length(1);
    expect(Math.abs(avg[0] - (expectedMax.reduce((s, v) => s + v, 0) / 4 + unit))).to.be.below(1e-15);
  });

  it("follows the stated rules for a padded conv2d and avgpool with and without countIncludePad", function () {
    const q = quantizeModel(padded);
    const w = (q.layers[0] as { weightFracBits: number }).weightFracBits;
    const kernel = (padded.layers[0] as Conv2dLayer).weights[0][0];
    const x = randomImage();
    const [conv, avg, avgPad] = quantizationErrorBounds(padded, q, x);
    const close = (a: number, b: number) => expect(Math.abs(a - b), `${a} vs ${b}`).to.be.below(1e-12);
    for (let oy = 0; oy < 4; oy++)
      for (let ox = 0; ox < 4; ox++) {
        // the weights are exact at 2^w, so Ŵ = W; padding adds nothing
        const t = taps(oy, ox, 3, 1, 1, 4);
        const expected =
          t.reduce((s, [y, xx]) => s + Math.abs(kernel[y - oy + 1][xx - ox + 1]) * 2 ** -(F + 1), 0) +
          2 ** -(w + 1) * t.reduce((s, [y, xx]) => s + Math.abs(x[y * 4 + xx]), 0) +
          2 ** -(F + w + 1) +
          unit;
        close(conv[oy * 4 + ox], expected);
        // avgpool: the mean over the taps inside the image, + 2^-f for the floor
        close(avg[oy * 4 + ox], t.reduce((s, [y, xx]) => s + conv[y * 4 + xx], 0) / t.length + unit);
      }
    // 2×2 windows with pad 1 on a 4×4 input: 3×3 outputs; countIncludePad divides by 4 everywhere
    expect(avgPad).to.have.length(9);
    for (let oy = 0; oy < 3; oy++)
      for (let ox = 0; ox < 3; ox++)
        close(
          avgPad[oy * 3 + ox],
          taps(oy, ox, 2, 2, 1, 4).reduce((s, [y, xx]) => s + avg[y * 4 + xx], 0) / 4 + unit,
        );
  });

  it("bounds every value of every layer of the runtime on random inputs", function () {
    for (const model of [pointwise, padded]) {
      const q = quantizeModel(model);
      for (let s = 0; s < 50; s++) {
        const x = randomImage();
        const float = runFloatTrace(model, x);
        const bounds = quantizationErrorBounds(model, q, x);
        runQuantized(q, quantizeInput(q, x)).activations.forEach((layer, li) =>
          layer.forEach((v, o) => {
            const err = Math.abs(dequantize(v, F) - float[li][o]);
            expect(err, `${model.name} layer ${li} value ${o}`).to.be.at.most(bounds[li][o]);
          }),
        );
      }
    }
  });
});
