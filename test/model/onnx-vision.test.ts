import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { quantizationErrorBounds } from "../../src/model/bounds.js";
import { runFloat } from "../../src/model/float.js";
import { importOnnx } from "../../src/model/onnx.js";
import { dequantize, quantizeInput, quantizeModel } from "../../src/model/quantize.js";
import type { ModelFile } from "../../src/model/schema.js";
import { prng } from "../../src/data/random.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { tanhErrorBound, tanhFixed } from "../../src/runtime/sigmoid.js";
import {
  type GraphSpec,
  type NodeSpec,
  OnnxRunner,
  randomTensor,
  type TensorSpec,
  writeModel,
} from "../helpers/onnx-builder.js";

/**
 * The image operators of the ONNX import (Conv, MaxPool, AveragePool, GlobalAveragePool,
 * BatchNormalization, residual Add, Tanh), each on a small seeded random graph, against
 * onnxruntime-node on random inputs: Sibyl's float reference must equal onnxruntime to float32
 * precision, and the fixed-point runtime must stay within quantizationErrorBounds of it. Then
 * the tanh layer's stated error bound, and a small CNN whose quantized class must be
 * onnxruntime's wherever the bound allows no other.
 */

const rand = prng(1313);
const W = (dims: number[], scale = 1): TensorSpec => randomTensor(rand, dims, scale);
const INPUTS = 24;

/** |a − b| within `rel` of b (of 1 for small b): float64 against onnxruntime's float32. */
const close = (a: number, b: number, rel: number): boolean =>
  Math.abs(a - b) <= rel * Math.max(1, Math.abs(b));

/** A positive variance tensor, away from zero so that the normalization is well-conditioned. */
const variance = (n: number): TensorSpec => ({
  dims: [n],
  values: Array.from({ length: n }, () => Math.fround(0.5 + 1.5 * rand())),
});

const conv = (
  input: string,
  output: string,
  weight: string,
  bias: string | undefined,
  attrs: NodeSpec["attrs"] = {},
): NodeSpec => ({ op: "Conv", inputs: bias ? [input, weight, bias] : [input, weight], output, attrs });
const pads = (p: number[]): NodeSpec["attrs"] => ({ pads: { ints: p } });

/** The image every case takes: 2 channels of 7×7 (odd, so that stride 2 and SAME padding round). */
const IMAGE = [2, 7, 7];
const imageInput = { dims: ["N", ...IMAGE] };

interface VisionCase {
  title: string;
  spec: GraphSpec;
  /** the Sibyl layer types it must become */
  layers: string[];
  inputDims: number[];
  /** further checks of the imported model (pads, from …) */
  check?: (m: ModelFile) => void;
}

const cases: VisionCase[] = [
  {
    title: "Conv 3×3 with a bias, no padding, stride 1",
    spec: {
      input: imageInput,
      nodes: [conv("x", "y", "K", "B")],
      initializers: { K: W([3, 2, 3, 3]), B: W([3]) },
    },
    layers: ["conv2d"],
    inputDims: [1, ...IMAGE],
    check: (m) => expect(m.layers[0]).not.to.have.any.keys("strides", "pads"),
  },
  {
    title: "Conv with stride 2, explicit uneven pads, kernel_shape and no bias",
    spec: {
      input: imageInput,
      nodes: [
        conv("x", "y", "K", undefined, {
          strides: { ints: [2, 2] },
          pads: { ints: [1, 0, 2, 1] },
          kernel_shape: { ints: [3, 3] },
        }),
      ],
      initializers: { K: W([2, 2, 3, 3]) },
    },
    layers: ["conv2d"],
    inputDims: [1, ...IMAGE],
    check: (m) => expect(m.layers[0]).to.deep.include({ strides: [2, 2], pads: [1, 0, 2, 1] }),
  },
  {
    title: "Conv with auto_pad SAME_UPPER, stride 2 and a 2×4 kernel (odd padding totals)",
    spec: {
      input: imageInput,
      nodes: [conv("x", "y", "K", "B", { auto_pad: { s: "SAME_UPPER" }, strides: { ints: [2, 2] } })],
      initializers: { K: W([2, 2, 2, 4]), B: W([2]) },
    },
    layers: ["conv2d"],
    inputDims: [1, ...IMAGE],
    // out = ceil(7 / 2) = 4; totals 3·2 + 2 − 7 = 1 and 3·2 + 4 − 7 = 3, the extra pad at the end
    check: (m) => expect(m.layers[0]).to.deep.include({ pads: [0, 1, 1, 2] }),
  },
  {
    title: "Conv with auto_pad SAME_LOWER and a 2×4 kernel",
    spec: {
      input: imageInput,
      nodes: [conv("x", "y", "K", "B", { auto_pad: { s: "SAME_LOWER" } })],
      initializers: { K: W([2, 2, 2, 4]), B: W([2]) },
    },
    layers: ["conv2d"],
    inputDims: [1, ...IMAGE],
    // totals 1 and 3, the extra pad at the beginning
    check: (m) => expect(m.layers[0]).to.deep.include({ pads: [1, 2, 0, 1] }),
  },
  {
    title: "Conv with auto_pad VALID and strides [1, 2]",
    spec: {
      input: imageInput,
      nodes: [conv("x", "y", "K", "B", { auto_pad: { s: "VALID" }, strides: { ints: [1, 2] } })],
      initializers: { K: W([3, 2, 3, 3]), B: W([3]) },
    },
    layers: ["conv2d"],
    inputDims: [1, ...IMAGE],
    check: (m) => expect(m.layers[0]).to.deep.include({ strides: [1, 2] }),
  },
  {
    title: "MaxPool 2×2 with stride 2",
    spec: {
      input: imageInput,
      nodes: [
        conv("x", "c", "K", "B", pads([1, 1, 1, 1])),
        {
          op: "MaxPool",
          inputs: ["c"],
          output: "y",
          attrs: { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } },
        },
      ],
      initializers: { K: W([2, 2, 3, 3]), B: W([2]) },
    },
    layers: ["conv2d", "maxpool"],
    inputDims: [1, ...IMAGE],
  },
  {
    title: "MaxPool 3×3 with stride 2 and pads (padding takes no part in the maximum)",
    spec: {
      input: imageInput,
      nodes: [
        conv("x", "c", "K", "B"),
        {
          op: "MaxPool",
          inputs: ["c"],
          output: "y",
          attrs: { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 2] } },
        },
      ],
      // a negative bias makes many values negative: a padded zero would win the maximum
      initializers: { K: W([2, 2, 3, 3], 0.5), B: { dims: [2], values: [-2, -1.5] } },
    },
    layers: ["conv2d", "maxpool"],
    inputDims: [1, ...IMAGE],
  },
  {
    title: "AveragePool 3×3 with pads, count_include_pad = 0",
    spec: {
      input: imageInput,
      nodes: [
        conv("x", "c", "K", "B", pads([1, 1, 1, 1])),
        {
          op: "AveragePool",
          inputs: ["c"],
          output: "y",
          attrs: { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] } },
        },
      ],
      initializers: { K: W([2, 2, 3, 3]), B: W([2]) },
    },
    layers: ["conv2d", "avgpool"],
    inputDims: [1, ...IMAGE],
    check: (m) => expect(m.layers[1]).not.to.have.property("countIncludePad"),
  },
  {
    title: "AveragePool 2×3 with stride 2, uneven pads, count_include_pad = 1",
    spec: {
      input: imageInput,
      nodes: [
        conv("x", "c", "K", "B"),
        {
          op: "AveragePool",
          inputs: ["c"],
          output: "y",
          attrs: {
            kernel_shape: { ints: [2, 3] },
            strides: { ints: [2, 2] },
            pads: { ints: [1, 1, 0, 2] },
            count_include_pad: { i: 1 },
          },
        },
      ],
      initializers: { K: W([3, 2, 3, 3]), B: W([3]) },
    },
    layers: ["conv2d", "avgpool"],
    inputDims: [1, ...IMAGE],
    check: (m) => expect(m.layers[1]).to.deep.include({ countIncludePad: true, pads: [1, 1, 0, 2] }),
  },
  {
    title: "GlobalAveragePool, then Flatten and Gemm",
    spec: {
      input: imageInput,
      nodes: [
        conv("x", "c", "K", "B", pads([1, 1, 1, 1])),
        { op: "Relu", inputs: ["c"], output: "r" },
        { op: "GlobalAveragePool", inputs: ["r"], output: "g" },
        { op: "Flatten", inputs: ["g"], output: "f" },
        { op: "Gemm", inputs: ["f", "W", "b"], output: "y", attrs: { transB: { i: 1 } } },
      ],
      initializers: { K: W([4, 2, 3, 3]), B: W([4]), W: W([3, 4]), b: W([3]) },
    },
    layers: ["conv2d", "relu", "globalavgpool", "dense"],
    inputDims: [1, ...IMAGE],
  },
  {
    title: "BatchNormalization after Conv (folded), then Relu",
    spec: {
      input: imageInput,
      nodes: [
        conv("x", "c", "K", "B"),
        {
          op: "BatchNormalization",
          inputs: ["c", "g", "be", "mu", "var"],
          output: "n",
          attrs: { epsilon: { f: 1e-3 } },
        },
        { op: "Relu", inputs: ["n"], output: "y" },
      ],
      initializers: {
        K: W([3, 2, 3, 3]),
        B: W([3]),
        g: W([3], 1.5),
        be: W([3]),
        mu: W([3]),
        var: variance(3),
      },
    },
    layers: ["conv2d", "relu"],
    inputDims: [1, ...IMAGE],
  },
  {
    title: "BatchNormalization after Gemm (folded)",
    spec: {
      input: { dims: ["N", 6] },
      nodes: [
        { op: "Gemm", inputs: ["x", "W", "b"], output: "h", attrs: { transB: { i: 1 } } },
        { op: "BatchNormalization", inputs: ["h", "g", "be", "mu", "var"], output: "y" },
      ],
      initializers: { W: W([4, 6]), b: W([4]), g: W([4], 1.5), be: W([4]), mu: W([4]), var: variance(4) },
    },
    layers: ["dense"],
    inputDims: [1, 6],
  },
  {
    title: "residual Add from an inner layer: Conv → Relu → Conv → Add → Relu",
    spec: {
      input: imageInput,
      nodes: [
        conv("x", "c1", "K1", "B1", pads([1, 1, 1, 1])),
        { op: "Relu", inputs: ["c1"], output: "r1" },
        conv("r1", "c2", "K2", "B2", pads([1, 1, 1, 1])),
        { op: "Add", inputs: ["c2", "r1"], output: "s" },
        { op: "Relu", inputs: ["s"], output: "y" },
      ],
      initializers: { K1: W([3, 2, 3, 3], 0.5), B1: W([3]), K2: W([3, 3, 3, 3], 0.5), B2: W([3]) },
    },
    layers: ["conv2d", "relu", "conv2d", "add", "relu"],
    inputDims: [1, ...IMAGE],
    check: (m) => expect(m.layers[3]).to.deep.equal({ type: "add", from: 1 }),
  },
  {
    title: "residual Add from the graph input (the input as the Add's first operand)",
    spec: {
      input: imageInput,
      nodes: [
        conv("x", "c", "K", "B", { auto_pad: { s: "SAME_UPPER" } }),
        { op: "Add", inputs: ["x", "c"], output: "y" },
      ],
      initializers: { K: W([2, 2, 3, 3]), B: W([2]) },
    },
    layers: ["conv2d", "add"],
    inputDims: [1, ...IMAGE],
    check: (m) => expect(m.layers[1]).to.deep.equal({ type: "add", from: -1 }),
  },
  {
    title: "residual Add on vectors: Gemm → Relu → Gemm → Add",
    spec: {
      input: { dims: ["N", 5] },
      nodes: [
        { op: "Gemm", inputs: ["x", "W1", "b1"], output: "h", attrs: { transB: { i: 1 } } },
        { op: "Relu", inputs: ["h"], output: "r" },
        { op: "Gemm", inputs: ["r", "W2", "b2"], output: "g", attrs: { transB: { i: 1 } } },
        { op: "Add", inputs: ["g", "r"], output: "y" },
      ],
      initializers: { W1: W([5, 5]), b1: W([5]), W2: W([5, 5]), b2: W([5]) },
    },
    layers: ["dense", "relu", "dense", "add"],
    inputDims: [1, 5],
    check: (m) => expect(m.layers[3]).to.deep.equal({ type: "add", from: 1 }),
  },
  {
    title: "Tanh after Conv and after Gemm",
    spec: {
      input: imageInput,
      nodes: [
        conv("x", "c", "K", "B"),
        { op: "Tanh", inputs: ["c"], output: "t" },
        { op: "Flatten", inputs: ["t"], output: "f" },
        { op: "Gemm", inputs: ["f", "W", "b"], output: "g", attrs: { transB: { i: 1 } } },
        { op: "Tanh", inputs: ["g"], output: "y" },
      ],
      initializers: { K: W([2, 2, 3, 3]), B: W([2]), W: W([3, 50], 0.1), b: W([3]) },
    },
    layers: ["conv2d", "tanh", "dense", "tanh"],
    inputDims: [1, ...IMAGE],
  },
  {
    title: "Reshape of the input vector into an image, and of the conv's output into a vector",
    spec: {
      input: { dims: ["N", 98] },
      nodes: [
        { op: "Reshape", inputs: ["x", "img"], output: "i" },
        conv("i", "c", "K", "B", { strides: { ints: [2, 2] } }),
        { op: "Reshape", inputs: ["c", "flat"], output: "f" },
        { op: "MatMul", inputs: ["f", "W"], output: "m" },
        { op: "Add", inputs: ["m", "b"], output: "y" },
      ],
      initializers: {
        img: { dims: [4], values: [-1, ...IMAGE], type: "int64" },
        flat: { dims: [2], values: [1, -1], type: "int64" },
        K: W([2, 2, 3, 3]),
        B: W([2]),
        W: W([18, 3], 0.5),
        b: W([3]),
      },
    },
    layers: ["conv2d", "dense"],
    inputDims: [1, 98],
    check: (m) => expect(m).to.deep.include({ inputLength: 98, inputShape: IMAGE }),
  },
];

describe("model/onnx: image operators against onnxruntime", function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(join(tmpdir(), "sibyl-onnx-vision-"));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  cases.forEach((c, k) => {
    it(`${c.title}: float equal to onnxruntime, fixed point within the bound, on ${INPUTS} inputs`, async function () {
      const path = writeModel(dir, `vision_${k}.onnx`, c.spec);
      const model = importOnnx(path);
      expect(model.layers.map((l) => l.type)).to.deep.equal(c.layers);
      c.check?.(model);
      const q = quantizeModel(model);
      const length = model.inputLength;
      const ort = await OnnxRunner.load(path, c.inputDims);
      try {
        for (let s = 0; s < INPUTS; s++) {
          const x = Array.from({ length }, () => Math.fround((2 * rand() - 1) * 3));
          const expected = await ort.run(x);
          const float = runFloat(model, x);
          expect(float.length).to.equal(expected.length);
          float.forEach((v, o) =>
            expect(close(v, expected[o], 1e-4), `float[${o}] = ${v}, onnxruntime ${expected[o]}`).to.equal(
              true,
            ),
          );
          const run = runQuantized(q, quantizeInput(q, x));
          const bounds = quantizationErrorBounds(model, q, x);
          const e = bounds[bounds.length - 1];
          run.output.forEach((v, o) => {
            const got = dequantize(v, q.fracBits);
            expect(
              Math.abs(got - expected[o]),
              `output[${o}] = ${got}, onnxruntime ${expected[o]}`,
            ).to.be.at.most(e[o] + 1e-4 * Math.max(1, Math.abs(expected[o])));
          });
          // not vacuous: every bound is a fraction of one unit (the outputs reach ±15)
          for (const b of e) expect(b, "error bound").to.be.below(1);
        }
      } finally {
        await ort.release();
      }
    });
  });
});

describe("model/onnx: the tanh layer's stated error bound", function () {
  // tanhFixed(x) = 2·sigmoidFixed(2x) − 2^f, so its error is twice the sigmoid's at 2x
  for (const f of [6, 8, 10, 12, 16]) {
    it(`tanhFixed is within tanhErrorBound(${f}) of Math.tanh on every input |x| ≤ 8, and reaches 90% of it`, function () {
      const one = 2 ** f;
      let worst = 0;
      let worstAt = 0;
      for (let x = -8 * one; x <= 8 * one; x++) {
        const y = Number(tanhFixed(BigInt(x), f));
        const err = Math.abs(y / one - Math.tanh(x / one));
        if (err > worst) [worst, worstAt] = [err, x / one];
      }
      const bound = tanhErrorBound(f);
      expect(worst, `largest error ${worst} at x = ${worstAt}`).to.be.at.most(bound);
      expect(worst / bound, `largest error ${worst} at x = ${worstAt}, bound ${bound}`).to.be.at.least(0.9);
    });
  }

  it("is odd and saturates at ±1 from |x| = 2.5 on", function () {
    const f = 8;
    const one = 256n;
    for (let x = 0n; x <= 8n * one; x++) {
      expect(tanhFixed(-x, f)).to.equal(-tanhFixed(x, f));
      if (x >= 640n) expect(tanhFixed(x, f)).to.equal(one);
    }
  });
});

describe("model/onnx: a small CNN end to end", function () {
  // Conv → BatchNormalization → Relu → MaxPool → Conv → Relu → Flatten → Gemm → ArgMax on
  // 1×8×8 images: 4×8×8 → 4×4×4 → 4×2×2 = 16 → 3 classes
  const nodes: NodeSpec[] = [
    conv("x", "c1", "K1", "B1", pads([1, 1, 1, 1])),
    { op: "BatchNormalization", inputs: ["c1", "g", "be", "mu", "var"], output: "n1" },
    { op: "Relu", inputs: ["n1"], output: "r1" },
    {
      op: "MaxPool",
      inputs: ["r1"],
      output: "p1",
      attrs: { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } },
    },
    conv("p1", "c2", "K2", "B2"),
    { op: "Relu", inputs: ["c2"], output: "r2" },
    { op: "Flatten", inputs: ["r2"], output: "f" },
    { op: "Gemm", inputs: ["f", "W", "b"], output: "logits", attrs: { transB: { i: 1 } } },
    { op: "ArgMax", inputs: ["logits"], output: "class", attrs: { axis: { i: 1 }, keepdims: { i: 0 } } },
  ];
  // a stream of its own, so that the cases above do not change this network
  const cnnRand = prng(2828);
  const T = (dims: number[], scale = 1): TensorSpec => randomTensor(cnnRand, dims, scale);
  const initializers = {
    K1: T([4, 1, 3, 3]),
    B1: T([4], 0.2),
    g: T([4], 1.5),
    be: T([4], 0.5),
    mu: T([4], 0.5),
    var: { dims: [4], values: Array.from({ length: 4 }, () => Math.fround(0.5 + 1.5 * cnnRand())) },
    K2: T([4, 4, 3, 3], 0.5),
    B2: T([4], 0.2),
    W: T([3, 16], 3),
    b: T([3], 0.2),
  };
  const input = { dims: ["N", 1, 8, 8] };
  const SAMPLES = 40;
  let dir: string;
  let classifier: string;
  let model: ModelFile;
  let ortClass: OnnxRunner;
  let ortLogits: OnnxRunner;
  /** random images with onnxruntime's class and logits */
  const images: { x: number[]; best: number; logits: number[] }[] = [];

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), "sibyl-onnx-cnn-"));
    classifier = writeModel(dir, "cnn.onnx", {
      input,
      nodes,
      initializers,
      outputs: [{ name: "class", type: "int64" }],
    });
    // the same graph without its ArgMax gives onnxruntime's logits, to measure each margin
    const logitsGraph = writeModel(dir, "cnn_logits.onnx", {
      input,
      nodes: nodes.slice(0, -1),
      initializers,
    });
    model = importOnnx(classifier);
    [ortClass, ortLogits] = await Promise.all([
      OnnxRunner.load(classifier, [1, 1, 8, 8]),
      OnnxRunner.load(logitsGraph, [1, 1, 8, 8]),
    ]);
    for (let s = 0; s < SAMPLES; s++) {
      const x = Array.from({ length: 64 }, () => Math.fround(cnnRand()));
      const [best] = await ortClass.run(x);
      images.push({ x, best, logits: await ortLogits.run(x) });
    }
  });

  after(async function () {
    await Promise.all([ortClass?.release(), ortLogits?.release()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("imports as conv2d → relu → maxpool → conv2d → relu → dense → argmax, the BatchNormalization folded", function () {
    expect(model.inputShape).to.deep.equal([1, 8, 8]);
    expect(model.layers.map((l) => l.type)).to.deep.equal([
      "conv2d",
      "relu",
      "maxpool",
      "conv2d",
      "relu",
      "dense",
      "argmax",
    ]);
  });

  it(`has onnxruntime's class in the float reference on ${SAMPLES} random images`, function () {
    for (const { x, best, logits } of images) {
      expect(runFloat(model, x), "float class").to.deep.equal([best]);
      const float = runFloat({ ...model, layers: model.layers.slice(0, -1) }, x);
      float.forEach((v, o) =>
        expect(close(v, logits[o], 1e-4), `logit ${o}: ${v}, onnxruntime ${logits[o]}`).to.equal(true),
      );
    }
  });

  it("has onnxruntime's class in fixed point (fracBits 8) on every image whose class leads by more than 0.25", function () {
    const q = quantizeModel(model);
    let clear = 0;
    for (const [s, { x, best, logits }] of images.entries()) {
      const lead = Math.min(...logits.map((v, i) => (i === best ? Infinity : logits[best] - v)));
      if (lead <= 0.25) continue;
      clear++;
      expect(Number(runQuantized(q, quantizeInput(q, x)).output[0]), `class of image ${s}`).to.equal(best);
    }
    expect(clear, "images with a clear lead").to.be.at.least(0.75 * SAMPLES);
  });

  it("has onnxruntime's class in fixed point (fracBits 12) wherever the error bound proves it", function () {
    const fine = { ...model, quantization: { ...model.quantization, fracBits: 12 } };
    const q = quantizeModel(fine);
    let proven = 0;
    for (const [s, { x, best, logits }] of images.entries()) {
      const bounds = quantizationErrorBounds(fine, q, x);
      const e = bounds[bounds.length - 1];
      // the quantized class must be onnxruntime's when its lead beats both values' bounds
      const margin = Math.min(
        ...logits.map((v, i) => (i === best ? Infinity : logits[best] - v - e[best] - e[i])),
      );
      if (margin <= 1e-4) continue;
      proven++;
      expect(Number(runQuantized(q, quantizeInput(q, x)).output[0]), `class of image ${s}`).to.equal(best);
    }
    expect(proven, "images whose class the bound proves").to.be.at.least(0.75 * SAMPLES);
  });
});
