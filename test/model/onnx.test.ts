import { expect } from "chai";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { modelBuildDir } from "../../src/pipeline/artifacts.js";
import { buildModel } from "../../src/pipeline/buildModel.js";
import { ModelFormatError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { quantizationErrorBounds } from "../../src/model/bounds.js";
import { runFloat } from "../../src/model/float.js";
import { convertOnnx, loadModel } from "../../src/model/load.js";
import {
  importOnnx,
  modelNameFromPath,
  SUPPORTED_ONNX_OPERATORS,
  UnsupportedOperatorError,
} from "../../src/model/onnx.js";
import { dequantize, quantizeInput, quantizeModel } from "../../src/model/quantize.js";
import { loadModelFile, type ModelFile } from "../../src/model/schema.js";
import { prng } from "../../src/data/random.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import {
  encodeModel,
  type GraphSpec,
  OnnxRunner,
  randomTensor,
  type TensorSpec,
  writeModel,
} from "../helpers/onnx-builder.js";

/**
 * src/model/onnx.ts: every supported operator is imported on a small random model and
 * checked against onnxruntime-node (an independent float implementation, on its CPU
 * backend): Sibyl's float reference must match it to float32 precision, the quantized
 * runtime within the error bound of docs/protocol.md. Unsupported operators and broken files
 * are refused with typed errors, and a failed import writes nothing.
 */

const rand = prng(20240611);
const W = (dims: number[], scale = 1): TensorSpec => randomTensor(rand, dims, scale);
const INPUTS = 60;

/** float32 vs float64 evaluation of the same weights */
const closeToFloat32 = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-5 * (1 + Math.abs(b));

interface OperatorCase {
  title: string;
  spec: GraphSpec;
  /** the Sibyl layers it must become */
  layers: string[];
  inputDims: number[];
}

const N = 5; // input width of every case

const cases: OperatorCase[] = [
  {
    title: "Gemm (transB = 1, alpha, beta, bias C)",
    spec: {
      input: { dims: ["N", N] },
      nodes: [
        {
          op: "Gemm",
          inputs: ["x", "W", "C"],
          output: "y",
          attrs: { transB: { i: 1 }, alpha: { f: 0.75 }, beta: { f: 1.5 } },
        },
      ],
      initializers: { W: W([4, N]), C: W([4]) },
    },
    layers: ["dense"],
    inputDims: [1, N],
  },
  {
    title: "Gemm (transB = 0, no bias, weights in float_data)",
    spec: {
      input: { dims: [1, N] },
      nodes: [{ op: "Gemm", inputs: ["x", "W"], output: "y" }],
      initializers: { W: { ...W([N, 3]), encoding: "typed" } },
    },
    layers: ["dense"],
    inputDims: [1, N],
  },
  {
    title: "MatMul + Add (bias on the right)",
    spec: {
      input: { dims: ["N", N] },
      nodes: [
        { op: "MatMul", inputs: ["x", "W"], output: "h" },
        { op: "Add", inputs: ["h", "b"], output: "y" },
      ],
      initializers: { W: W([N, 4]), b: W([4]) },
    },
    layers: ["dense"],
    inputDims: [1, N],
  },
  {
    title: "MatMul + Add (a [1, n] bias on the left) on a rank-1 input",
    spec: {
      input: { dims: [N] },
      nodes: [
        { op: "MatMul", inputs: ["x", "W"], output: "h" },
        { op: "Add", inputs: ["b", "h"], output: "y" },
      ],
      initializers: { W: W([N, 3]), b: W([1, 3]) },
    },
    layers: ["dense"],
    inputDims: [N],
  },
  {
    title: "Relu",
    spec: {
      input: { dims: ["N", N] },
      nodes: [
        { op: "Gemm", inputs: ["x", "W1", "b1"], output: "h", attrs: { transB: { i: 1 } } },
        { op: "Relu", inputs: ["h"], output: "r" },
        { op: "Gemm", inputs: ["r", "W2", "b2"], output: "y", attrs: { transB: { i: 1 } } },
      ],
      initializers: { W1: W([6, N]), b1: W([6]), W2: W([3, 6]), b2: W([3]) },
    },
    layers: ["dense", "relu", "dense"],
    inputDims: [1, N],
  },
  {
    title: "Sigmoid",
    spec: {
      input: { dims: ["N", N] },
      nodes: [
        { op: "Gemm", inputs: ["x", "W", "b"], output: "h", attrs: { transB: { i: 1 } } },
        { op: "Sigmoid", inputs: ["h"], output: "y" },
      ],
      initializers: { W: W([4, N]), b: W([4]) },
    },
    layers: ["dense", "sigmoid"],
    inputDims: [1, N],
  },
  {
    title: "Flatten",
    spec: {
      input: { dims: [1, N] },
      nodes: [
        { op: "Flatten", inputs: ["x"], output: "f", attrs: { axis: { i: 1 } } },
        { op: "Gemm", inputs: ["f", "W", "b"], output: "y", attrs: { transB: { i: 1 } } },
      ],
      initializers: { W: W([3, N]), b: W([3]) },
    },
    layers: ["dense"],
    inputDims: [1, N],
  },
  {
    title: "Reshape (rank 1 → [1, n], the shape from a Constant node)",
    spec: {
      input: { dims: [N] },
      nodes: [
        {
          op: "Constant",
          inputs: [],
          output: "shape",
          attrs: { value: { t: { dims: [2], values: [1, -1], type: "int64" } } },
        },
        { op: "Reshape", inputs: ["x", "shape"], output: "r" },
        { op: "Gemm", inputs: ["r", "W", "b"], output: "y", attrs: { transB: { i: 1 } } },
      ],
      initializers: { W: W([3, N]), b: W([3]) },
    },
    layers: ["dense"],
    inputDims: [N],
  },
  {
    title: "ArgMax (axis = -1, keepdims = 1)",
    spec: {
      input: { dims: ["N", N] },
      nodes: [
        { op: "Gemm", inputs: ["x", "W1", "b1"], output: "h", attrs: { transB: { i: 1 } } },
        { op: "Relu", inputs: ["h"], output: "r" },
        { op: "Gemm", inputs: ["r", "W2", "b2"], output: "logits", attrs: { transB: { i: 1 } } },
        { op: "ArgMax", inputs: ["logits"], output: "y", attrs: { axis: { i: -1 }, keepdims: { i: 1 } } },
      ],
      initializers: { W1: W([8, N]), b1: W([8]), W2: W([4, 8]), b2: W([4]) },
      outputs: [{ name: "y", type: "int64" }],
    },
    layers: ["dense", "relu", "dense", "argmax"],
    inputDims: [1, N],
  },
  {
    title: "ArgMax (axis = 1, keepdims = 0)",
    spec: {
      input: { dims: ["N", N] },
      nodes: [
        { op: "MatMul", inputs: ["x", "W"], output: "h" },
        { op: "Add", inputs: ["h", "b"], output: "logits" },
        { op: "ArgMax", inputs: ["logits"], output: "y", attrs: { axis: { i: 1 }, keepdims: { i: 0 } } },
      ],
      initializers: { W: W([N, 3]), b: W([3]) },
      outputs: [{ name: "y", type: "int64" }],
    },
    layers: ["dense", "argmax"],
    inputDims: [1, N],
  },
  {
    title: "Identity (on the chain and on a weight) and Constant weights",
    spec: {
      input: { dims: ["N", N] },
      nodes: [
        { op: "Constant", inputs: [], output: "Wc", attrs: { value: { t: W([4, N]) } } },
        { op: "Identity", inputs: ["Wc"], output: "W" },
        { op: "Gemm", inputs: ["x", "W", "b"], output: "h", attrs: { transB: { i: 1 } } },
        { op: "Identity", inputs: ["h"], output: "y" },
      ],
      initializers: { b: W([4]) },
    },
    layers: ["dense"],
    inputDims: [1, N],
  },
];

describe("model/onnx: importOnnx", function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(join(tmpdir(), "sibyl-onnx-"));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  describe("matches onnxruntime on every supported operator", function () {
    cases.forEach((c, k) => {
      it(`${c.title}: float reference exact, quantized within the error bound on ${INPUTS} inputs`, async function () {
        const path = writeModel(dir, `case_${k}.onnx`, c.spec);
        const model = importOnnx(path);
        expect(model.layers.map((l) => l.type)).to.deep.equal(c.layers);
        expect(model.inputLength).to.equal(N);
        const q = quantizeModel(model);
        const ort = await OnnxRunner.load(path, c.inputDims);
        const argmax = c.layers[c.layers.length - 1] === "argmax";
        let argmaxChecked = 0;
        try {
          for (let s = 0; s < INPUTS; s++) {
            const x = Array.from({ length: N }, () => Math.fround((2 * rand() - 1) * 3));
            const expected = await ort.run(x);
            // (a) the float reference
            const float = runFloat(model, x);
            expect(float.length).to.equal(expected.length);
            float.forEach((v, o) =>
              expect(
                closeToFloat32(v, expected[o]),
                `float[${o}] = ${v}, onnxruntime ${expected[o]}`,
              ).to.equal(true),
            );
            // (b) the quantized runtime, dequantized
            const run = runQuantized(q, quantizeInput(q, x));
            const bounds = quantizationErrorBounds(model, q, x);
            if (argmax) {
              // the index must agree whenever the float maximum leads by more than the bounds
              const logits = runFloat({ ...model, layers: model.layers.slice(0, -1) }, x);
              const e = bounds[bounds.length - 1];
              const best = expected[0];
              const clear = logits.every((v, i) => i === best || logits[best] - v > e[best] + e[i] + 1e-5);
              if (clear) {
                expect(Number(run.output[0]), `argmax for [${x}]`).to.equal(best);
                argmaxChecked++;
              }
            } else {
              const e = bounds[bounds.length - 1];
              run.output.forEach((v, o) => {
                const got = dequantize(v, q.fracBits);
                const err = Math.abs(got - expected[o]);
                expect(err, `output[${o}] = ${got}, onnxruntime ${expected[o]}`).to.be.at.most(
                  e[o] + 1e-5 * (1 + Math.abs(expected[o])),
                );
              });
            }
          }
        } finally {
          await ort.release();
        }
        if (argmax) expect(argmaxChecked, "inputs with a clear maximum").to.be.at.least(50);
      });
    });

    it("keeps the bound meaningful: sigmoid outputs within 0.01895 + 2^-8 + e/4, dense outputs within 0.1", function () {
      const model = importOnnx(writeModel(dir, "bound.onnx", cases[5].spec));
      const q = quantizeModel(model);
      const bounds = quantizationErrorBounds(model, q, [1, -1, 0.5, 2, -2]);
      for (const e of bounds[0]) expect(e).to.be.below(0.1);
      for (const e of bounds[1]) expect(e).to.be.below(0.01895 + 2 ** -8 + 0.1 / 4);
    });
  });

  describe("maps weights exactly", function () {
    it("transposes MatMul's [in][out] weights and scales Gemm's by alpha and beta", function () {
      const path = writeModel(dir, "exact.onnx", {
        input: { dims: [1, 2] },
        nodes: [
          {
            op: "Gemm",
            inputs: ["x", "A", "C"],
            output: "h",
            attrs: { alpha: { f: 2 }, beta: { f: 0.5 } },
          },
          { op: "MatMul", inputs: ["h", "B"], output: "m" },
          { op: "Add", inputs: ["m", "d"], output: "y" },
        ],
        initializers: {
          A: { dims: [2, 3], values: [1, 2, 3, 4, 5, 6] }, // [in][out] with transB = 0
          C: { dims: [3], values: [2, 4, 6] },
          B: { dims: [3, 1], values: [1, -1, 0.5] },
          d: { dims: [], values: [0.25] }, // a scalar bias broadcasts
        },
      });
      const m = importOnnx(path);
      expect(m.layers).to.deep.equal([
        {
          type: "dense",
          weights: [
            [2, 8],
            [4, 10],
            [6, 12],
          ],
          bias: [1, 2, 3],
        },
        { type: "dense", weights: [[1, -1, 0.5]], bias: [0.25] },
      ]);
    });
  });

  describe("options and names", function () {
    it("names the model after the file and applies the quantization options", function () {
      const path = writeModel(dir, "My-Model.v2.onnx", cases[0].spec);
      const m = importOnnx(path, { quantization: { fracBits: 6, inputBits: 12, weights: "private" } });
      expect(m.name).to.equal("my_model_v2");
      expect(m.quantization).to.deep.equal({ fracBits: 6, valueBits: 24, inputBits: 12, weights: "private" });
      expect(m.description).to.equal("imported from ONNX (sibyl-tests, opset 13)");
      expect(importOnnx(path, { name: "credit_risk" }).name).to.equal("credit_risk");
      expect(importOnnx(path).quantization).to.deep.equal({ fracBits: 8, valueBits: 24 });
    });

    it("sanitizes file names into [a-z][a-z0-9_]*", function () {
      expect(modelNameFromPath("/a/b/Iris Classifier (final).onnx")).to.equal("iris_classifier_final");
      expect(modelNameFromPath("2-layer.onnx")).to.equal("model_2_layer");
      expect(modelNameFromPath("__.onnx")).to.equal("model");
      expect(modelNameFromPath(`${"x".repeat(80)}.onnx`)).to.have.length(64);
    });

    it("refuses an invalid --name or quantization through the schema's own errors", function () {
      const path = writeModel(dir, "opts.onnx", cases[0].spec);
      expect(() => importOnnx(path, { name: "Bad-Name" })).to.throw(ModelFormatError, "$.name");
      expect(() => importOnnx(path, { quantization: { fracBits: 30, valueBits: 24 } })).to.throw(
        ModelFormatError,
        "$.quantization.valueBits",
      );
      const sig = writeModel(dir, "sig.onnx", cases[5].spec);
      expect(() => importOnnx(sig, { quantization: { fracBits: 8, valueBits: 11 } })).to.throw(
        ModelFormatError,
        "sigmoid needs quantization.valueBits ≥ fracBits + 4",
      );
    });
  });

  describe("refuses unsupported operators with the operator, the node and the supported list", function () {
    const supportedList = `supported: ${SUPPORTED_ONNX_OPERATORS.join(", ")}`;

    function expectUnsupported(spec: GraphSpec, operator: string, node: string, detail?: string): void {
      const path = writeModel(dir, `unsupported_${operator}_${node}.onnx`, spec);
      let err: unknown;
      try {
        importOnnx(path);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(UnsupportedOperatorError);
      expect(err).to.be.instanceOf(ModelFormatError);
      const u = err as UnsupportedOperatorError;
      expect(u.operator).to.equal(operator);
      expect(u.node).to.equal(node);
      expect(u.message).to.contain(`node "${node}" (${operator})`);
      expect(u.message).to.contain(supportedList);
      if (detail) expect(u.message).to.contain(detail);
    }

    it("an operator outside the list", function () {
      expectUnsupported(
        {
          input: { dims: [1, 1, 4, 4] },
          nodes: [
            {
              op: "LpPool",
              name: "lp",
              inputs: ["x"],
              output: "y",
              attrs: { kernel_shape: { ints: [2, 2] } },
            },
          ],
        },
        "LpPool",
        "lp",
        "operator LpPool is not supported",
      );
    });

    it("Softmax at the end of an otherwise supported MLP", function () {
      expectUnsupported(
        {
          input: { dims: ["N", N] },
          nodes: [
            { op: "Gemm", inputs: ["x", "W", "b"], output: "h", attrs: { transB: { i: 1 } } },
            { op: "Softmax", name: "probs", inputs: ["h"], output: "y" },
          ],
          initializers: { W: W([3, N]), b: W([3]) },
        },
        "Softmax",
        "probs",
      );
    });

    it("an operator from another domain", function () {
      expectUnsupported(
        {
          input: { dims: ["N", N] },
          nodes: [{ op: "FusedGemm", domain: "com.microsoft", name: "fg", inputs: ["x", "W"], output: "y" }],
          initializers: { W: W([N, 2]) },
        },
        "com.microsoft.FusedGemm",
        "fg",
        "domain com.microsoft",
      );
    });

    it("Gemm with transA = 1", function () {
      expectUnsupported(
        {
          input: { dims: [1, N] },
          nodes: [{ op: "Gemm", name: "g", inputs: ["x", "W"], output: "y", attrs: { transA: { i: 1 } } }],
          initializers: { W: W([1, 2]) },
        },
        "Gemm",
        "g",
        "transA = 1",
      );
    });

    it("ArgMax over the batch axis, or picking the last maximum", function () {
      const gemm = { op: "Gemm", inputs: ["x", "W"], output: "h", attrs: { transB: { i: 1 } } };
      expectUnsupported(
        {
          input: { dims: [1, N] },
          nodes: [gemm, { op: "ArgMax", name: "am", inputs: ["h"], output: "y" }], // axis defaults to 0
          initializers: { W: W([3, N]) },
          outputs: [{ name: "y", type: "int64" }],
        },
        "ArgMax",
        "am",
        "only over the last axis",
      );
      expectUnsupported(
        {
          input: { dims: [1, N] },
          nodes: [
            gemm,
            {
              op: "ArgMax",
              name: "am_last",
              inputs: ["h"],
              output: "y",
              attrs: { axis: { i: 1 }, select_last_index: { i: 1 } },
            },
          ],
          initializers: { W: W([3, N]) },
          outputs: [{ name: "y", type: "int64" }],
        },
        "ArgMax",
        "am_last",
        "select_last_index = 1",
      );
    });

    it("Reshape or Flatten to something other than a batch-of-one vector", function () {
      expectUnsupported(
        {
          input: { dims: [1, 4] },
          nodes: [{ op: "Reshape", name: "to_square", inputs: ["x", "s"], output: "y" }],
          initializers: { s: { dims: [2], values: [2, 2], type: "int64" } },
        },
        "Reshape",
        "to_square",
        "turns the [1,4] vector into [2,2]",
      );
      expectUnsupported(
        {
          input: { dims: [1, 4] },
          nodes: [{ op: "Flatten", name: "column", inputs: ["x"], output: "y", attrs: { axis: { i: 2 } } }],
        },
        "Flatten",
        "column",
        "into [4,1]",
      );
    });

    it("an Add that is not a bias right after MatMul or Gemm", function () {
      expectUnsupported(
        {
          input: { dims: [1, N] },
          nodes: [
            { op: "Gemm", inputs: ["x", "W"], output: "h", attrs: { transB: { i: 1 } } },
            { op: "Relu", inputs: ["h"], output: "r" },
            { op: "Add", name: "shift", inputs: ["r", "b"], output: "y" },
          ],
          initializers: { W: W([3, N]), b: W([3]) },
        },
        "Add",
        "shift",
        "only as a constant bias",
      );
    });
  });

  describe("refuses malformed files and graphs that are not a chain", function () {
    const good = (): GraphSpec => cases[4].spec; // Gemm → Relu → Gemm

    function expectFormatError(file: string, content: GraphSpec | Uint8Array, ...fragments: string[]): void {
      const path = writeModel(dir, file, content);
      let err: unknown;
      try {
        importOnnx(path);
      } catch (e) {
        err = e;
      }
      expect(err, file).to.be.instanceOf(ModelFormatError);
      expect(err, file).not.to.be.instanceOf(UnsupportedOperatorError);
      for (const f of fragments) expect((err as Error).message).to.contain(f);
    }

    it("a truncated file, wherever it is cut", function () {
      const bytes = encodeModel(good());
      for (const cut of [1, 7, Math.floor(bytes.length / 3), Math.floor(bytes.length / 2), bytes.length - 1])
        expectFormatError(`cut_${cut}.onnx`, bytes.subarray(0, cut));
      expectFormatError("cut_half.onnx", bytes.subarray(0, bytes.length / 2), "cut_half.onnx");
    });

    it("a file that is not ONNX at all, or cannot be read", function () {
      expectFormatError("model.onnx", new TextEncoder().encode('{"format": "sibyl-model/1"}'));
      expect(() => importOnnx(join(dir, "missing.onnx"))).to.throw(ModelFormatError, "cannot read ONNX file");
    });

    it("a branch: one tensor feeding two nodes", function () {
      expectFormatError(
        "branch.onnx",
        {
          input: { dims: [1, N] },
          nodes: [
            { op: "Gemm", name: "fc", inputs: ["x", "W"], output: "h", attrs: { transB: { i: 1 } } },
            { op: "Relu", name: "a", inputs: ["h"], output: "y" },
            { op: "Sigmoid", name: "b", inputs: ["h"], output: "z" },
          ],
          initializers: { W: W([3, N]) },
        },
        "not a chain",
        'tensor "h" feeds 2 nodes',
      );
    });

    it("two branches that both compute before an Add", function () {
      expectFormatError(
        "two_branches.onnx",
        {
          input: { dims: [1, 3] },
          nodes: [
            { op: "Gemm", name: "fc", inputs: ["x", "W"], output: "h", attrs: { transB: { i: 1 } } },
            { op: "Relu", name: "relu", inputs: ["x"], output: "r" },
            { op: "Add", name: "join", inputs: ["h", "r"], output: "y" },
          ],
          initializers: { W: W([3, 3]) },
        },
        "not a chain",
        'tensor "x" feeds 2 nodes (node "fc" (Gemm), node "relu" (Relu))',
        "branches that both compute before they join are not supported",
      );
    });

    it("a node off the path from input to output", function () {
      expectFormatError(
        "stray.onnx",
        {
          input: { dims: [1, N] },
          nodes: [
            { op: "Gemm", inputs: ["x", "W"], output: "y", attrs: { transB: { i: 1 } } },
            { op: "Relu", name: "orphan", inputs: ["W"], output: "unused" },
          ],
          initializers: { W: W([3, N]) },
          outputs: [{ name: "y" }],
        },
        "not a chain",
        'node "orphan" (Relu) is not on the path',
      );
    });

    it("a chain that ends somewhere else than the graph output", function () {
      expectFormatError(
        "wrong_output.onnx",
        { ...good(), outputs: [{ name: "h" }] },
        'ends at tensor "y", not at the graph output "h"',
      );
    });

    it("two graph inputs", function () {
      expectFormatError("two_inputs.onnx", { ...good(), extraInputs: ["mask"] }, "2 inputs (x, mask)");
    });

    it("an input that is neither a vector nor an image", function () {
      expectFormatError(
        "rank3.onnx",
        { ...good(), input: { dims: ["N", 3, N] } },
        "has shape [N, 3, 5]; expected a vector ([n], [1, n] or [batch, n]) or an image ([batch, channels, height, width])",
      );
    });

    it("a missing initializer", function () {
      const spec = good();
      const { W1: _dropped, ...rest } = spec.initializers!;
      expectFormatError(
        "missing.onnx",
        { ...spec, initializers: rest },
        'input B "W1" is neither a graph initializer nor the output of a Constant node',
      );
    });

    it("an initializer whose data does not fill its dims", function () {
      const spec = good();
      const W1 = spec.initializers!.W1;
      expectFormatError(
        "short.onnx",
        { ...spec, initializers: { ...spec.initializers, W1: { ...W1, values: W1.values.slice(1) } } },
        'initializer "W1": raw_data holds',
      );
      expectFormatError(
        "short_typed.onnx",
        {
          ...spec,
          initializers: {
            ...spec.initializers,
            W1: { ...W1, values: W1.values.slice(1), encoding: "typed" },
          },
        },
        'initializer "W1": holds 29 values; dims [6,5] need 30',
      );
    });

    it("weights whose shapes do not line up", function () {
      expectFormatError(
        "mismatch.onnx",
        {
          input: { dims: [1, N] },
          nodes: [{ op: "Gemm", inputs: ["x", "W"], output: "y", attrs: { transB: { i: 1 } } }],
          initializers: { W: W([3, N + 1]) },
        },
        "B has dims [3,6] (transB = 1) but the input width is 5",
      );
    });
  });

  describe("writes nothing when the import fails", function () {
    it("convertOnnx leaves no output file (and no temporary one) behind", function () {
      const out = join(dir, "out", "model.json");
      const bad = writeModel(dir, "bad_convert.onnx", encodeModel(cases[0].spec).subarray(0, 20));
      expect(() => convertOnnx(bad, out)).to.throw(ModelFormatError);
      expect(existsSync(out)).to.equal(false);
      expect(existsSync(join(dir, "out")) ? readdirSync(join(dir, "out")) : []).to.deep.equal([]);

      const good = writeModel(dir, "good_convert.onnx", cases[4].spec);
      const model = convertOnnx(good, out);
      expect(loadModelFile(out)).to.deep.equal(model);
      expect(readdirSync(join(dir, "out"))).to.deep.equal(["model.json"]);
    });

    it("buildModel on a broken ONNX file creates no build folder", async function () {
      const name = "onnx_never_built";
      rmSync(modelBuildDir(name), { recursive: true, force: true });
      const path = writeModel(dir, `${name}.onnx`, {
        input: { dims: [1, N] },
        nodes: [{ op: "Softmax", inputs: ["x"], output: "y" }],
      });
      let err: unknown;
      try {
        await buildModel(path, { log: silentLogger, generatePtau: false });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(UnsupportedOperatorError);
      expect(existsSync(modelBuildDir(name))).to.equal(false);
    });
  });

  describe("model/load: loadModel", function () {
    it("imports .onnx files and reads anything else as sibyl-model/1 JSON", function () {
      const onnxPath = writeModel(dir, "dispatch.onnx", cases[0].spec);
      const viaLoad: ModelFile = loadModel(onnxPath, { name: "dispatch_x" });
      expect(viaLoad).to.deep.equal(importOnnx(onnxPath, { name: "dispatch_x" }));
      const jsonPath = join(dir, "dispatch.json");
      writeFileSync(jsonPath, JSON.stringify(viaLoad));
      expect(loadModel(jsonPath)).to.deep.equal(viaLoad);
    });

    it("refuses ONNX import options on a JSON model instead of ignoring them", function () {
      const jsonPath = join(dir, "opts.json");
      writeFileSync(jsonPath, JSON.stringify(importOnnx(writeModel(dir, "o.onnx", cases[0].spec))));
      expect(() => loadModel(jsonPath, { quantization: { fracBits: 6 } })).to.throw(
        ModelFormatError,
        "apply to ONNX imports only",
      );
      expect(loadModel(jsonPath, { quantization: { fracBits: undefined } }).name).to.equal("o");
    });
  });
});
