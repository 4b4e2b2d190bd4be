import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { ModelFormatError } from "../../src/errors.js";
import { importOnnx, SUPPORTED_ONNX_OPERATORS, UnsupportedOperatorError } from "../../src/model/onnx.js";
import { prng } from "../../src/data/random.js";
import {
  type GraphSpec,
  type NodeSpec,
  randomTensor,
  type TensorSpec,
  writeModel,
} from "../helpers/onnx-builder.js";

/**
 * What the ONNX import refuses among the image operators and skip connections: each
 * unsupported variant is an UnsupportedOperatorError naming the node, the operator, what is
 * wrong and the supported list; a graph that is not a chain with identity skips, or whose
 * shapes do not fit, is a ModelFormatError saying which.
 */

const rand = prng(777);
const W = (dims: number[], scale = 1): TensorSpec => randomTensor(rand, dims, scale);
const image = { dims: ["N", 2, 6, 6] };
const kernel = (): Record<string, TensorSpec> => ({ K: W([2, 2, 3, 3]), B: W([2]) });
const conv = (input: string, output: string, attrs: NodeSpec["attrs"] = {}, name?: string): NodeSpec => ({
  op: "Conv",
  inputs: [input, "K", "B"],
  output,
  attrs: { pads: { ints: [1, 1, 1, 1] }, ...attrs },
  ...(name ? { name } : {}),
});
const pool = (
  op: string,
  name: string,
  attrs: NodeSpec["attrs"],
  output: string | string[] = "y",
): NodeSpec => ({
  op,
  name,
  inputs: ["c"],
  output,
  attrs: { kernel_shape: { ints: [2, 2] }, ...attrs },
});
const bn = (input: string, output: string | string[], name = "bn"): NodeSpec => ({
  op: "BatchNormalization",
  name,
  inputs: [input, "g", "be", "mu", "var"],
  output,
});
const stats = (n: number): Record<string, TensorSpec> => ({
  g: W([n]),
  be: W([n]),
  mu: W([n]),
  var: { dims: [n], values: new Array<number>(n).fill(1) },
});

describe("model/onnx: refusals among the image operators and skip connections", function () {
  let dir: string;
  let count = 0;
  before(function () {
    dir = mkdtempSync(join(tmpdir(), "sibyl-onnx-refusals-"));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  function importError(spec: GraphSpec): Error {
    const path = writeModel(dir, `refused_${count++}.onnx`, spec);
    try {
      importOnnx(path);
    } catch (e) {
      return e as Error;
    }
    return expect.fail("the import succeeded");
  }

  function expectUnsupported(spec: GraphSpec, operator: string, node: string, detail: string): void {
    const err = importError(spec);
    expect(err).to.be.instanceOf(UnsupportedOperatorError);
    const u = err as UnsupportedOperatorError;
    expect(u.operator).to.equal(operator);
    expect(u.node).to.equal(node);
    expect(u.message).to.contain(`node "${node}" (${operator}): ${detail}`);
    expect(u.message).to.contain(`supported: ${SUPPORTED_ONNX_OPERATORS.join(", ")}`);
  }

  function expectFormatError(spec: GraphSpec, ...fragments: string[]): void {
    const err = importError(spec);
    expect(err).to.be.instanceOf(ModelFormatError);
    expect(err).not.to.be.instanceOf(UnsupportedOperatorError);
    for (const f of fragments) expect(err.message).to.contain(f);
  }

  describe("Conv", function () {
    it("with group ≠ 1 (a grouped or depthwise convolution)", function () {
      expectUnsupported(
        {
          input: image,
          nodes: [{ op: "Conv", name: "dw", inputs: ["x", "K"], output: "y", attrs: { group: { i: 2 } } }],
          initializers: { K: W([2, 1, 3, 3]) },
        },
        "Conv",
        "dw",
        "group = 2 is not supported (only group = 1",
      );
    });

    it("with dilations ≠ 1", function () {
      expectUnsupported(
        {
          input: image,
          nodes: [conv("x", "y", { dilations: { ints: [2, 2] } }, "dil")],
          initializers: kernel(),
        },
        "Conv",
        "dil",
        "dilations [2,2] are not supported (only 1)",
      );
    });

    it("with pads as large as the kernel", function () {
      expectUnsupported(
        {
          input: image,
          nodes: [conv("x", "y", { pads: { ints: [3, 0, 0, 0] } }, "wide")],
          initializers: kernel(),
        },
        "Conv",
        "wide",
        "its window: pads [3, 0, 0, 0] must be smaller than the kernel [3, 3]",
      );
    });

    it("with a 1-D or 3-D kernel", function () {
      expectUnsupported(
        {
          input: image,
          nodes: [{ op: "Conv", name: "c3d", inputs: ["x", "K"], output: "y" }],
          initializers: { K: W([2, 2, 1, 3, 3]) },
        },
        "Conv",
        "c3d",
        "a kernel with dims [2,2,1,3,3] is not supported (only 2-D convolutions",
      );
    });

    it("with an auto_pad value ONNX does not define", function () {
      expectFormatError(
        {
          input: image,
          nodes: [conv("x", "y", { auto_pad: { s: "SAME" } }, "same")],
          initializers: kernel(),
        },
        'node "same" (Conv): auto_pad "SAME" is not an ONNX value',
      );
    });

    it("on a vector", function () {
      expectFormatError(
        {
          input: { dims: ["N", 72] },
          nodes: [{ op: "Conv", name: "cv", inputs: ["x", "K"], output: "y" }],
          initializers: { K: W([2, 2, 3, 3]) },
        },
        'node "cv" (Conv): Conv needs an image input [N, C, H, W], got [1,72]',
      );
    });

    it("whose kernel has another channel count than its input", function () {
      expectFormatError(
        {
          input: image,
          nodes: [{ op: "Conv", name: "cc", inputs: ["x", "K"], output: "y" }],
          initializers: { K: W([2, 3, 3, 3]) },
        },
        'node "cc" (Conv): W has dims [2,3,3,3] but the input has 2 channels',
      );
    });
  });

  describe("MaxPool and AveragePool", function () {
    const before = (p: NodeSpec, extra: Record<string, TensorSpec> = {}): GraphSpec => ({
      input: image,
      nodes: [conv("x", "c"), p],
      initializers: { ...kernel(), ...extra },
    });

    it("MaxPool with ceil_mode = 1", function () {
      expectUnsupported(
        before(pool("MaxPool", "mp", { ceil_mode: { i: 1 } })),
        "MaxPool",
        "mp",
        "ceil_mode = 1 is not supported",
      );
    });

    it("MaxPool with its Indices output", function () {
      expectUnsupported(
        before(pool("MaxPool", "mpi", {}, ["y", "indices"])),
        "MaxPool",
        "mpi",
        "the Indices output is not supported",
      );
    });

    it("MaxPool with storage_order = 1 or dilations", function () {
      expectUnsupported(
        before(pool("MaxPool", "so", { storage_order: { i: 1 } })),
        "MaxPool",
        "so",
        "storage_order = 1 is not supported",
      );
      expectUnsupported(
        before(pool("MaxPool", "md", { dilations: { ints: [1, 2] } })),
        "MaxPool",
        "md",
        "dilations [1,2] are not supported",
      );
    });

    it("AveragePool with ceil_mode = 1", function () {
      expectUnsupported(
        before(pool("AveragePool", "ap", { ceil_mode: { i: 1 } })),
        "AveragePool",
        "ap",
        "ceil_mode = 1 is not supported",
      );
    });

    it("a pool without kernel_shape, or with a 1-D one", function () {
      expectFormatError(
        before({ op: "MaxPool", name: "nok", inputs: ["c"], output: "y" }),
        'node "nok" (MaxPool): attribute kernel_shape is missing',
      );
      expectUnsupported(
        before(pool("AveragePool", "k1", { kernel_shape: { ints: [2] } })),
        "AveragePool",
        "k1",
        "kernel_shape [2] is not supported (only two positive values",
      );
    });

    it("a pool on a flattened tensor", function () {
      expectFormatError(
        {
          input: image,
          nodes: [
            conv("x", "c"),
            { op: "Flatten", inputs: ["c"], output: "f" },
            {
              op: "MaxPool",
              name: "flatpool",
              inputs: ["f"],
              output: "y",
              attrs: { kernel_shape: { ints: [2, 2] } },
            },
          ],
          initializers: kernel(),
        },
        'node "flatpool" (MaxPool): MaxPool needs an image input [N, C, H, W], got [1,72]',
      );
    });
  });

  describe("BatchNormalization", function () {
    const doBn = "fold it into the neighbouring layer before export, or place it right after such a layer";

    it("after a Relu, with nothing to fold into", function () {
      expectUnsupported(
        {
          input: image,
          nodes: [conv("x", "c"), { op: "Relu", inputs: ["c"], output: "r" }, bn("r", "y")],
          initializers: { ...kernel(), ...stats(2) },
        },
        "BatchNormalization",
        "bn",
        `BatchNormalization is supported only right after a Conv, Gemm or MatMul, whose weights it is folded into; ${doBn}`,
      );
    });

    it("on the graph input", function () {
      expectUnsupported(
        {
          input: image,
          nodes: [bn("x", "n", "bn_in"), conv("n", "y")],
          initializers: { ...kernel(), ...stats(2) },
        },
        "BatchNormalization",
        "bn_in",
        "BatchNormalization is supported only right after a Conv, Gemm or MatMul",
      );
    });

    it("after a Conv whose output a skip connection also reads", function () {
      expectUnsupported(
        {
          input: image,
          nodes: [
            conv("x", "c"),
            bn("c", "n", "bn_skip"),
            { op: "Relu", inputs: ["n"], output: "r" },
            { op: "Add", name: "res", inputs: ["r", "c"], output: "y" },
          ],
          initializers: { ...kernel(), ...stats(2) },
        },
        "BatchNormalization",
        "bn_skip",
        'it cannot be folded into the layer before it: node "res" (Add) also reads that layer\'s output, which the fold would change; take the skip connection from after the BatchNormalization',
      );
    });

    it("in training mode", function () {
      expectUnsupported(
        {
          input: image,
          nodes: [conv("x", "c"), bn("c", ["y", "running_mean", "running_var"], "bn_train")],
          initializers: { ...kernel(), ...stats(2) },
          outputs: [{ name: "y" }],
        },
        "BatchNormalization",
        "bn_train",
        "training mode (the running mean and variance outputs) is not supported; export the model in inference mode",
      );
    });

    it("whose statistics do not have one value per channel", function () {
      expectFormatError(
        {
          input: image,
          nodes: [conv("x", "c"), bn("c", "y", "bn_short")],
          initializers: { ...kernel(), ...stats(2), mu: W([3]) },
        },
        'node "bn_short" (BatchNormalization): input_mean has dims [3]; expected [2], one per channel',
      );
    });
  });

  describe("Add of two computed tensors", function () {
    it("two branches that both compute before the Add", function () {
      expectFormatError(
        {
          input: image,
          nodes: [
            conv("x", "a", {}, "left"),
            conv("x", "b", {}, "right"),
            { op: "Add", name: "join", inputs: ["a", "b"], output: "y" },
          ],
          initializers: kernel(),
        },
        'the graph is not a chain: tensor "x" feeds 2 nodes (node "left" (Conv), node "right" (Conv))',
        "a tensor may feed a second node only as an identity skip connection",
        "branches that both compute before they join are not supported",
      );
    });

    it("a skip whose shape differs from the path's (a projection shortcut would be needed)", function () {
      expectFormatError(
        {
          input: image,
          nodes: [
            { op: "Conv", inputs: ["x", "K3"], output: "c" },
            { op: "Add", name: "mismatch", inputs: ["c", "x"], output: "y" },
          ],
          initializers: { K3: W([3, 2, 1, 1]) },
        },
        'node "mismatch" (Add): adds "x" of shape [1,2,6,6] to "c" of shape [1,3,6,6]; a skip connection adds tensors of one shape',
      );
    });

    it("a skip from a flattened tensor to a vector that Sibyl lays out otherwise", function () {
      expectUnsupported(
        {
          input: image,
          nodes: [
            conv("x", "c"),
            { op: "Flatten", inputs: ["c"], output: "f" },
            { op: "Gemm", inputs: ["f", "Wd"], output: "d", attrs: { transB: { i: 1 } } },
            { op: "Add", name: "flat_skip", inputs: ["d", "f"], output: "y" },
          ],
          initializers: { ...kernel(), Wd: W([72, 72], 0.1) },
        },
        "Add",
        "flat_skip",
        'the skip connection adds "f", a [2, 6, 6] value in Sibyl, to a [72] one; Sibyl adds values of one layout only',
      );
    });

    it("a tensor computed off the path from constants", function () {
      expectFormatError(
        {
          input: image,
          nodes: [
            conv("x", "c"),
            { op: "Relu", name: "off", inputs: ["Z"], output: "z" },
            { op: "Add", name: "join_off", inputs: ["c", "z"], output: "y" },
          ],
          initializers: { ...kernel(), Z: W([1, 2, 6, 6]) },
        },
        'node "join_off" (Add) joins "c" of the path from input "x" with "z", which node "off" (Relu) computes off that path',
      );
    });
  });

  describe("shapes", function () {
    it("an image input with a batch of two", function () {
      expectFormatError(
        { input: { dims: [2, 2, 6, 6] }, nodes: [conv("x", "y")], initializers: kernel() },
        'input "x" has shape [2, 2, 6, 6]; expected a vector',
      );
    });

    it("an image reshaped into another image", function () {
      expectUnsupported(
        {
          input: image,
          nodes: [conv("x", "c"), { op: "Reshape", name: "regrid", inputs: ["c", "s"], output: "y" }],
          initializers: { ...kernel(), s: { dims: [4], values: [1, 4, 3, 6], type: "int64" } },
        },
        "Reshape",
        "regrid",
        "it turns the [1,2,6,6] tensor into [1,4,3,6]; only a flattening into a batch-of-one vector ([1, 72]) is supported",
      );
    });

    it("a vector made into an image after the first layer", function () {
      expectUnsupported(
        {
          input: { dims: ["N", 4] },
          nodes: [
            { op: "Gemm", inputs: ["x", "Wd"], output: "d", attrs: { transB: { i: 1 } } },
            { op: "Reshape", name: "late_image", inputs: ["d", "s"], output: "i" },
            { op: "Conv", inputs: ["i", "K"], output: "y" },
          ],
          initializers: {
            Wd: W([72, 4]),
            s: { dims: [4], values: [1, 2, 6, 6], type: "int64" },
            K: W([2, 2, 3, 3]),
          },
        },
        "Reshape",
        "late_image",
        "it turns the [1,72] vector into [1,2,6,6]; only shapes that keep a batch-of-one vector ([72], [1, 72]) are supported, or an image [1, C, H, W] made of the model's input",
      );
    });

    it("Gemm, MatMul or ArgMax on an image that was not flattened", function () {
      expectFormatError(
        {
          input: image,
          nodes: [conv("x", "c"), { op: "Gemm", name: "g", inputs: ["c", "Wd"], output: "y" }],
          initializers: { ...kernel(), Wd: W([6, 3]) },
        },
        'node "g" (Gemm): Gemm needs a 2-D input, got [1,2,6,6]',
      );
      expectUnsupported(
        {
          input: image,
          nodes: [conv("x", "c"), { op: "MatMul", name: "mm", inputs: ["c", "Wd"], output: "y" }],
          initializers: { ...kernel(), Wd: W([6, 3]) },
        },
        "MatMul",
        "mm",
        "a [1,2,6,6] left operand is not supported (only a batch-of-one vector: Flatten an image first)",
      );
      expectUnsupported(
        {
          input: image,
          nodes: [
            conv("x", "c"),
            { op: "ArgMax", name: "am", inputs: ["c"], output: "y", attrs: { axis: { i: -1 } } },
          ],
          initializers: kernel(),
          outputs: [{ name: "y", type: "int64" }],
        },
        "ArgMax",
        "am",
        "ArgMax over axis 3 of a [1,2,6,6] tensor is not supported (only over the last axis of a vector)",
      );
    });
  });
});
