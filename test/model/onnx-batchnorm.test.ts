import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { runFloat } from "../../src/model/float.js";
import { importOnnx } from "../../src/model/onnx.js";
import type { Conv2dLayer, DenseLayer } from "../../src/model/schema.js";
import { prng } from "../../src/data/random.js";
import {
  type GraphSpec,
  type NodeSpec,
  OnnxRunner,
  randomTensor,
  type TensorSpec,
  writeModel,
} from "../helpers/onnx-builder.js";

/**
 * BatchNormalization is folded into the layer before it at import: per channel c,
 * s = γ[c] / √(var[c] + ε), the weights of c are multiplied by s and the bias becomes
 * (bias − mean[c])·s + β[c]. The fold must be exact: the folded weights equal that formula
 * computed here from the graph's own tensors, and Sibyl's float reference on the folded
 * model equals onnxruntime running the graph with its BatchNormalization node (graph
 * optimizations off, so onnxruntime does not fold it itself).
 */

const rand = prng(4242);
const W = (dims: number[], scale = 1): TensorSpec => randomTensor(rand, dims, scale);
const INPUTS = 24;

const close = (a: number, b: number, rel: number): boolean =>
  Math.abs(a - b) <= rel * Math.max(1, Math.abs(b));

interface Statistics {
  gamma: TensorSpec;
  beta: TensorSpec;
  mean: TensorSpec;
  variance: TensorSpec;
}

function statistics(n: number): Statistics {
  return {
    gamma: W([n], 2),
    beta: W([n]),
    mean: W([n]),
    // from tiny (ε matters) to large
    variance: {
      dims: [n],
      values: Array.from({ length: n }, (_, c) => Math.fround(c === 0 ? 1e-4 : 3 * rand())),
    },
  };
}

function batchNorm(input: string, output: string, epsilon?: number): NodeSpec {
  return {
    op: "BatchNormalization",
    inputs: [input, "gamma", "beta", "mean", "variance"],
    output,
    ...(epsilon === undefined ? {} : { attrs: { epsilon: { f: epsilon } } }),
  };
}

/** s[c] = γ[c] / √(var[c] + ε), with ε the float32 the graph stores (ONNX's default: 1e-5). */
function factors(st: Statistics, epsilon = 1e-5): number[] {
  const eps = Math.fround(epsilon);
  return st.gamma.values.map((g, c) => g / Math.sqrt(st.variance.values[c] + eps));
}

function foldedBias(st: Statistics, bias: number[], s: number[]): number[] {
  return bias.map((b, c) => (b - st.mean.values[c]) * s[c] + st.beta.values[c]);
}

interface FoldCase {
  title: string;
  spec: GraphSpec;
  inputDims: number[];
  /** the folded weights (flattened per output) and bias, computed from the spec */
  expected: { weights: number[][]; bias: number[] };
  flat: (layer: DenseLayer | Conv2dLayer) => number[][];
}

const flatConv = (l: DenseLayer | Conv2dLayer): number[][] =>
  (l as Conv2dLayer).weights.map((oc) => oc.flat(2));
const flatDense = (l: DenseLayer | Conv2dLayer): number[][] => (l as DenseLayer).weights;

/** Rows of a row-major tensor of `rows` rows. */
const rowsOf = (values: number[], rows: number): number[][] => {
  const n = values.length / rows;
  return Array.from({ length: rows }, (_, o) => values.slice(o * n, (o + 1) * n));
};

function convCase(bias: boolean, epsilon?: number): FoldCase {
  const st = statistics(3);
  const K = W([3, 2, 3, 3]);
  const B = W([3]);
  const s = factors(st, epsilon);
  return {
    title: `into a Conv ${bias ? "with" : "without"} a bias, ${epsilon === undefined ? "the default epsilon" : `epsilon ${epsilon}`}`,
    spec: {
      input: { dims: ["N", 2, 6, 6] },
      nodes: [
        {
          op: "Conv",
          inputs: bias ? ["x", "K", "B"] : ["x", "K"],
          output: "c",
          attrs: { pads: { ints: [1, 1, 1, 1] } },
        },
        batchNorm("c", "y", epsilon),
      ],
      initializers: { K, ...(bias ? { B } : {}), ...st },
    },
    inputDims: [1, 2, 6, 6],
    expected: {
      weights: rowsOf(K.values, 3).map((row, o) => row.map((w) => w * s[o])),
      bias: foldedBias(st, bias ? B.values : [0, 0, 0], s),
    },
    flat: flatConv,
  };
}

function gemmCase(): FoldCase {
  const st = statistics(4);
  const Wt = W([4, 6]);
  const b = W([4]);
  const s = factors(st, 1e-3);
  return {
    title: "into a Gemm (BatchNorm1d after Linear), epsilon 1e-3",
    spec: {
      input: { dims: ["N", 6] },
      nodes: [
        { op: "Gemm", inputs: ["x", "W", "b"], output: "h", attrs: { transB: { i: 1 } } },
        batchNorm("h", "y", 1e-3),
      ],
      initializers: { W: Wt, b, ...st },
    },
    inputDims: [1, 6],
    expected: {
      weights: rowsOf(Wt.values, 4).map((row, o) => row.map((w) => w * s[o])),
      bias: foldedBias(st, b.values, s),
    },
    flat: flatDense,
  };
}

function matMulCase(): FoldCase {
  const st = statistics(3);
  const M = W([5, 3]); // [in][out]
  const b = W([3]);
  const s = factors(st);
  return {
    title: "into MatMul + Add, through an Identity",
    spec: {
      input: { dims: ["N", 5] },
      nodes: [
        { op: "MatMul", inputs: ["x", "M"], output: "m" },
        { op: "Add", inputs: ["m", "b"], output: "h" },
        { op: "Identity", inputs: ["h"], output: "i" },
        batchNorm("i", "y"),
      ],
      initializers: { M, b, ...st },
    },
    inputDims: [1, 5],
    expected: {
      weights: Array.from({ length: 3 }, (_, o) =>
        Array.from({ length: 5 }, (_, i) => M.values[i * 3 + o] * s[o]),
      ),
      bias: foldedBias(st, b.values, s),
    },
    flat: flatDense,
  };
}

describe("model/onnx: BatchNormalization folding", function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(join(tmpdir(), "sibyl-onnx-bn-"));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  const cases = [convCase(true, 1e-3), convCase(false), gemmCase(), matMulCase()];
  cases.forEach((c, k) => {
    describe(c.title, function () {
      it("folds to w·γ/√(var+ε) and (b−μ)·γ/√(var+ε)+β, leaving no layer of its own", function () {
        const model = importOnnx(writeModel(dir, `fold_${k}.onnx`, c.spec));
        expect(model.layers).to.have.length(1);
        const layer = model.layers[0] as DenseLayer | Conv2dLayer;
        const weights = c.flat(layer);
        expect(weights.length).to.equal(c.expected.weights.length);
        weights.forEach((row, o) =>
          row.forEach((w, i) =>
            expect(
              close(w, c.expected.weights[o][i], 1e-12),
              `weights[${o}][${i}] = ${w}, expected ${c.expected.weights[o][i]}`,
            ).to.equal(true),
          ),
        );
        layer.bias.forEach((b, o) =>
          expect(
            close(b, c.expected.bias[o], 1e-12),
            `bias[${o}] = ${b}, expected ${c.expected.bias[o]}`,
          ).to.equal(true),
        );
      });

      it(`equals onnxruntime running the unfolded graph on ${INPUTS} inputs`, async function () {
        const path = writeModel(dir, `fold_ort_${k}.onnx`, c.spec);
        const model = importOnnx(path);
        const ort = await OnnxRunner.load(path, c.inputDims);
        try {
          for (let s = 0; s < INPUTS; s++) {
            const x = Array.from({ length: model.inputLength }, () => Math.fround((2 * rand() - 1) * 3));
            const expected = await ort.run(x);
            const float = runFloat(model, x);
            expect(float.length).to.equal(expected.length);
            float.forEach((v, o) =>
              expect(close(v, expected[o], 1e-5), `output[${o}] = ${v}, onnxruntime ${expected[o]}`).to.equal(
                true,
              ),
            );
          }
        } finally {
          await ort.release();
        }
      });
    });
  });
});
