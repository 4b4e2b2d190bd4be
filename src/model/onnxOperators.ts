import { ModelFormatError } from "../errors.js";
import { type Constant, floatAttr, intAttr, intsAttr, type OnnxNode, stringAttr } from "./onnxDecode.js";
import type { Conv2dLayer, DenseLayer, Layer } from "./schema.js";
import {
  layerOutputShape,
  NO_PADS,
  type Pads,
  type Pair,
  type Shape,
  sizeOf,
  windowOf,
} from "../runtime/shapes.js";

/**
 * The per-operator half of the ONNX import (src/model/onnx.ts): each node of the chain
 * becomes a Sibyl layer, or folds into the layer before it (a constant bias Add, a
 * BatchNormalization), or only changes the tensor's ONNX shape (Flatten, Reshape,
 * Identity). The graph walk (onnxGraph.ts) decides which nodes form the chain and hands
 * them over one by one. docs/model-format.md ("Importing ONNX") states every mapping.
 */

/** The operators the importer accepts, as listed in its errors. */
export const SUPPORTED_ONNX_OPERATORS = [
  "Gemm",
  "MatMul",
  "Conv (2-D, group 1, dilation 1)",
  "MaxPool",
  "AveragePool",
  "GlobalAveragePool",
  "BatchNormalization (folded into the Conv, Gemm or MatMul right before it)",
  "Add (a constant bias right after MatMul or Gemm, or an identity skip connection)",
  "Relu",
  "Sigmoid",
  "Tanh",
  "Flatten",
  "Reshape",
  "ArgMax",
  "Identity",
  "Constant",
] as const;

/** The bare operator names of SUPPORTED_ONNX_OPERATORS. */
export const SUPPORTED_OPS: ReadonlySet<string> = new Set(
  SUPPORTED_ONNX_OPERATORS.map((s) => s.split(" ")[0]),
);

/** An ONNX operator (or a use of one) that Sibyl cannot turn into its layers. */
export class UnsupportedOperatorError extends ModelFormatError {
  constructor(
    readonly source: string,
    /** the ONNX operator type, e.g. "Conv" */
    readonly operator: string,
    /** the node's name in the graph (or "#<index>" for an unnamed node) */
    readonly node: string,
    /** what about this node is unsupported, when the operator itself is */
    detail = `operator ${operator} is not supported`,
  ) {
    super(
      `${source}: node "${node}" (${operator}): ${detail}; supported: ${SUPPORTED_ONNX_OPERATORS.join(", ")}`,
      "export the model as a chain of these operators (identity skip connections allowed), see docs/model-format.md",
    );
  }
}

/** A tensor on the chain: the output of a layer (−1: the model input), in its ONNX shape. */
export interface ChainTensor {
  name: string;
  /** index of the layer whose output it holds; −1 for the model input */
  layer: number;
  /** the ONNX shape, a dynamic batch dimension taken as 1 */
  shape: number[];
}

/** What a node makes of the chain's tensor: the layer its output holds, and its ONNX shape. */
export type NodeOutput = Omit<ChainTensor, "name">;

/** The element-wise operators and their layers. */
const ELEMENT_WISE = { Relu: "relu", Sigmoid: "sigmoid", Tanh: "tanh" } as const;

/** What converting one node needs from the graph walk. */
export interface NodeContext {
  /** `node "<name>" (<op>)`, for messages */
  label(node: OnnxNode): string;
  /** throws a ModelFormatError naming the model */
  fail(what: string, hint?: string): never;
  /** throws an UnsupportedOperatorError for this node */
  unsupported(node: OnnxNode, detail: string): never;
  /** input `index` of `node`, which must be an initializer or a Constant node's output */
  constantInput(node: OnnxNode, index: number, role: string): Constant;
  /** the nodes still to convert, other than `node`, that read a tensor holding layer `layer`'s output */
  otherReaders(layer: number, node: OnnxNode): OnnxNode[];
}

/** Builds the layers from the chain's nodes, in order, keeping Sibyl's shape of every layer. */
export class LayerBuilder {
  readonly layers: Layer[] = [];
  /** Sibyl's shape of each layer's output (shapes.ts) */
  private readonly shapes: Shape[] = [];
  /**
   * true while the chain's tensor is the unchanged output of the last layer (a dense or
   * conv2d one): a constant Add or a BatchNormalization may still fold into its weights
   */
  private foldable = false;

  constructor(
    private readonly ctx: NodeContext,
    /** Sibyl's shape of the model input: [n], or [c, h, w]; a Reshape on the input may set it */
    public inputShape: Shape,
  ) {}

  /**
   * Converts one node of the chain. `data` is the chain's tensor (the node's input), `skip`
   * the earlier chain tensor an Add joins to it. Returns the layer and ONNX shape of the
   * node's output.
   */
  convert(node: OnnxNode, data: ChainTensor, skip?: ChainTensor): NodeOutput {
    const op = node.opType ?? "";
    const foldable = this.foldable;
    this.foldable = false;
    switch (op) {
      case "Gemm":
        this.foldable = true;
        return this.gemm(node, data);
      case "MatMul":
        this.foldable = true;
        return this.matMul(node, data);
      case "Conv":
        this.foldable = true;
        return this.conv(node, data);
      case "Add":
        if (skip) return this.skipAdd(node, data, skip);
        this.foldable = true;
        return this.biasAdd(node, data, foldable);
      case "BatchNormalization":
        this.foldable = true;
        return this.batchNorm(node, data, foldable);
      case "MaxPool":
      case "AveragePool":
        return this.pool(node, data);
      case "GlobalAveragePool": {
        this.dataFirst(node, data);
        const [c] = this.image(node, data);
        return this.push(node, data, { type: "globalavgpool" }, [1, c, 1, 1]);
      }
      case "Relu":
      case "Sigmoid":
      case "Tanh":
        this.dataFirst(node, data);
        return this.push(node, data, { type: ELEMENT_WISE[op] }, data.shape);
      case "Identity":
        this.dataFirst(node, data);
        this.foldable = foldable;
        return { layer: data.layer, shape: data.shape };
      case "Flatten":
        return this.flatten(node, data);
      case "Reshape":
        return this.reshape(node, data);
      case "ArgMax":
        return this.argMax(node, data);
      default:
        // the walk refused every other operator already
        return this.ctx.unsupported(node, `operator ${op} cannot appear here`);
    }
  }

  // ─── dense ───────────────────────────────────────────────────────────────────────────

  private gemm(node: OnnxNode, data: ChainTensor): NodeOutput {
    const { ctx } = this;
    this.dataFirst(node, data);
    if (intAttr(node, "transA", 0) !== 0)
      ctx.unsupported(node, "transA = 1 is not supported (only transA = 0)");
    if (data.shape.length !== 2) ctx.fail(`${ctx.label(node)}: Gemm needs a 2-D input, got [${data.shape}]`);
    const width = data.shape[1];
    const alpha = floatAttr(node, "alpha", 1);
    const beta = floatAttr(node, "beta", 1);
    const transB = intAttr(node, "transB", 0);
    const b = ctx.constantInput(node, 1, "B");
    if (b.dims.length !== 2) ctx.fail(`${ctx.label(node)}: B must be a matrix, got dims [${b.dims}]`);
    const [rows, cols] = b.dims;
    const [nIn, nOut] = transB ? [cols, rows] : [rows, cols];
    if (nIn !== width)
      ctx.fail(
        `${ctx.label(node)}: B has dims [${b.dims}] (transB = ${transB}) but the input width is ${width}`,
      );
    const weights = Array.from({ length: nOut }, (_, o) =>
      Array.from({ length: nIn }, (_, i) => alpha * b.data[transB ? o * nIn + i : i * nOut + o]),
    );
    const inputs = node.input ?? [];
    const bias =
      inputs.length > 2 && inputs[2]
        ? this.biasOf(node, ctx.constantInput(node, 2, "C"), nOut, beta)
        : new Array<number>(nOut).fill(0);
    return this.push(node, data, { type: "dense", weights, bias }, [data.shape[0], nOut]);
  }

  private matMul(node: OnnxNode, data: ChainTensor): NodeOutput {
    const { ctx } = this;
    this.dataFirst(node, data);
    if (!isVector(data.shape))
      ctx.unsupported(
        node,
        `a [${data.shape}] left operand is not supported (only a batch-of-one vector: Flatten an image first)`,
      );
    const width = data.shape[data.shape.length - 1];
    const b = ctx.constantInput(node, 1, "B");
    if (b.dims.length !== 2)
      ctx.unsupported(
        node,
        `a right operand with dims [${b.dims}] is not supported (only a [in, out] matrix)`,
      );
    const [nIn, nOut] = b.dims;
    if (nIn !== width) ctx.fail(`${ctx.label(node)}: B has dims [${b.dims}] but the input width is ${width}`);
    // ONNX keeps MatMul weights as [in][out]; Sibyl (like PyTorch's Linear) as [out][in]
    const weights = Array.from({ length: nOut }, (_, o) =>
      Array.from({ length: nIn }, (_, i) => b.data[i * nOut + o]),
    );
    const bias = new Array<number>(nOut).fill(0);
    return this.push(node, data, { type: "dense", weights, bias }, [...data.shape.slice(0, -1), nOut]);
  }

  /** An Add of a constant: folded into the bias of the MatMul or Gemm right before it. */
  private biasAdd(node: OnnxNode, data: ChainTensor, foldable: boolean): NodeOutput {
    const inputs = node.input ?? [];
    const other = inputs[0] === data.name ? 1 : 0;
    const c = this.ctx.constantInput(node, other, other === 1 ? "B" : "A");
    const dense = this.foldTarget(
      node,
      data,
      foldable,
      ["dense"],
      "Add is supported only as a constant bias right after a MatMul or Gemm (or as an identity skip connection)",
    ) as DenseLayer;
    const width = data.shape[data.shape.length - 1];
    const bias = this.biasOf(node, c, width, 1);
    dense.bias = dense.bias.map((v, o) => v + bias[o]);
    const shape = broadcastShape(data.shape, c.dims);
    if (!isVector(shape) || shape[shape.length - 1] !== width)
      this.ctx.unsupported(
        node,
        `it turns the [${data.shape}] vector into [${shape}]; only shapes that keep a batch-of-one vector are supported`,
      );
    return { layer: data.layer, shape };
  }

  /** A bias vector of `n` values from a constant broadcastable to [1, n], times `scale`. */
  private biasOf(node: OnnxNode, c: Constant, n: number, scale: number): number[] {
    const size = c.data.length;
    const last = c.dims.length ? c.dims[c.dims.length - 1] : 1;
    if (size !== 1 && !(size === n && last === n))
      this.ctx.fail(
        `${this.ctx.label(node)}: the bias has dims [${c.dims}]; expected [${n}], [1, ${n}] or a scalar`,
      );
    return Array.from({ length: n }, (_, o) => scale * c.data[size === 1 ? 0 : o]);
  }

  // ─── convolution and pooling ─────────────────────────────────────────────────────────

  private conv(node: OnnxNode, data: ChainTensor): NodeOutput {
    const { ctx } = this;
    this.dataFirst(node, data);
    const [inC, h, w] = this.image(node, data);
    const group = intAttr(node, "group", 1);
    if (group !== 1)
      ctx.unsupported(
        node,
        `group = ${group} is not supported (only group = 1: no grouped or depthwise convolutions)`,
      );
    const k = ctx.constantInput(node, 1, "W");
    if (k.dims.length !== 4)
      ctx.unsupported(
        node,
        `a kernel with dims [${k.dims}] is not supported (only 2-D convolutions: [outC, inC, kh, kw])`,
      );
    const [outC, kc, kh, kw] = k.dims;
    if (kc !== inC) ctx.fail(`${ctx.label(node)}: W has dims [${k.dims}] but the input has ${inC} channels`);
    const kernelShape = intsAttr(node, "kernel_shape");
    if (kernelShape && kernelShape.join() !== [kh, kw].join())
      ctx.fail(`${ctx.label(node)}: kernel_shape [${kernelShape}] does not match W's dims [${k.dims}]`);
    const win = this.window(node, [inC, h, w], [kh, kw]);
    const weights = Array.from({ length: outC }, (_, o) =>
      Array.from({ length: inC }, (_, c) =>
        Array.from({ length: kh }, (_, y) =>
          Array.from({ length: kw }, (_, x) => k.data[((o * inC + c) * kh + y) * kw + x]),
        ),
      ),
    );
    const inputs = node.input ?? [];
    let bias = new Array<number>(outC).fill(0);
    if (inputs.length > 2 && inputs[2]) {
      const b = ctx.constantInput(node, 2, "B");
      if (b.data.length !== outC)
        ctx.fail(`${ctx.label(node)}: B has dims [${b.dims}]; expected [${outC}], one per output channel`);
      bias = b.data;
    }
    const layer: Conv2dLayer = { type: "conv2d", weights, bias, ...win.fields };
    return this.push(node, data, layer, [1, outC, win.outH, win.outW]);
  }

  private pool(node: OnnxNode, data: ChainTensor): NodeOutput {
    const { ctx } = this;
    const op = node.opType;
    this.dataFirst(node, data);
    const inShape = this.image(node, data);
    if (op === "MaxPool") {
      if ((node.output ?? []).filter(Boolean).length > 1)
        ctx.unsupported(
          node,
          "the Indices output is not supported (only the pooled values); export MaxPool without indices",
        );
      if (intAttr(node, "storage_order", 0) !== 0)
        ctx.unsupported(node, "storage_order = 1 is not supported (only 0)");
    }
    if (intAttr(node, "ceil_mode", 0) !== 0)
      ctx.unsupported(node, "ceil_mode = 1 is not supported (only ceil_mode = 0: output sizes rounded down)");
    const kernel = this.pairAttr(node, "kernel_shape");
    if (!kernel) return ctx.fail(`${ctx.label(node)}: attribute kernel_shape is missing`);
    const win = this.window(node, inShape, kernel);
    const out = [1, inShape[0], win.outH, win.outW];
    if (op === "MaxPool") return this.push(node, data, { type: "maxpool", kernel, ...win.fields }, out);
    const countIncludePad = intAttr(node, "count_include_pad", 0) !== 0;
    return this.push(
      node,
      data,
      { type: "avgpool", kernel, ...win.fields, ...(countIncludePad ? { countIncludePad } : {}) },
      out,
    );
  }

  /**
   * Strides and pads of a Conv or pooling node on a [c, h, w] input (auto_pad resolved to
   * explicit pads, as ONNX defines it), checked against the kernel; default values are left
   * out of the layer's fields.
   */
  private window(
    node: OnnxNode,
    inShape: readonly [number, number, number],
    kernel: Pair,
  ): { fields: { strides?: Pair; pads?: Pads }; outH: number; outW: number } {
    const { ctx } = this;
    const dilations = intsAttr(node, "dilations");
    if (dilations && dilations.some((d) => d !== 1))
      ctx.unsupported(node, `dilations [${dilations}] are not supported (only 1)`);
    const strides = this.pairAttr(node, "strides") ?? [1, 1];
    const autoPad = stringAttr(node, "auto_pad", "NOTSET");
    let pads: Pads;
    switch (autoPad) {
      case "NOTSET":
      case "": {
        const p = intsAttr(node, "pads") ?? [...NO_PADS];
        if (p.length !== 4 || p.some((v) => v < 0))
          ctx.fail(
            `${ctx.label(node)}: pads [${p}]: expected four non-negative values [top, left, bottom, right]`,
          );
        pads = [p[0], p[1], p[2], p[3]];
        break;
      }
      case "VALID":
        pads = NO_PADS;
        break;
      case "SAME_UPPER":
      case "SAME_LOWER": {
        // out = ceil(in / stride), padded by what that needs; an odd total puts the extra
        // pad at the end (UPPER) or at the beginning (LOWER)
        const axis = (k: 0 | 1): [number, number] => {
          const size = inShape[k + 1];
          const total = Math.max(0, (Math.ceil(size / strides[k]) - 1) * strides[k] + kernel[k] - size);
          const begin = autoPad === "SAME_UPPER" ? Math.floor(total / 2) : Math.ceil(total / 2);
          return [begin, total - begin];
        };
        const [[top, bottom], [left, right]] = [axis(0), axis(1)];
        pads = [top, left, bottom, right];
        break;
      }
      default:
        return ctx.fail(
          `${ctx.label(node)}: auto_pad "${autoPad}" is not an ONNX value (NOTSET, VALID, SAME_UPPER or SAME_LOWER)`,
        );
    }
    const g = windowOf(inShape, kernel, strides, pads);
    if (typeof g === "string") return ctx.unsupported(node, `its window: ${g}`);
    const fields: { strides?: Pair; pads?: Pads } = {};
    if (strides.join() !== "1,1") fields.strides = strides;
    if (pads.some((v) => v !== 0)) fields.pads = pads;
    return { fields, outH: g.outH, outW: g.outW };
  }

  /** A 2-D ints attribute (kernel_shape, strides) of positive values, or undefined when absent. */
  private pairAttr(node: OnnxNode, name: string): Pair | undefined {
    const v = intsAttr(node, name);
    if (v === undefined) return undefined;
    if (v.length !== 2 || v.some((d) => d < 1))
      this.ctx.unsupported(node, `${name} [${v}] is not supported (only two positive values: a 2-D window)`);
    return [v[0], v[1]];
  }

  /** The [c, h, w] of an image-shaped chain tensor ([1, c, h, w] in ONNX). */
  private image(node: OnnxNode, data: ChainTensor): [number, number, number] {
    const s = data.shape;
    if (s.length !== 4 || s[0] !== 1)
      this.ctx.fail(`${this.ctx.label(node)}: ${node.opType} needs an image input [N, C, H, W], got [${s}]`);
    return [s[1], s[2], s[3]];
  }

  // ─── batch normalization ─────────────────────────────────────────────────────────────

  /**
   * BatchNormalization (inference) folded into the layer before it: per channel c (the
   * conv's output channel, or the dense layer's output), s = γ[c] / √(var[c] + ε), the
   * weights of c are multiplied by s and its bias becomes (bias − mean[c])·s + β[c].
   */
  private batchNorm(node: OnnxNode, data: ChainTensor, foldable: boolean): NodeOutput {
    const { ctx } = this;
    this.dataFirst(node, data);
    const outputs = (node.output ?? []).filter(Boolean);
    if (outputs.length > 1 || intAttr(node, "training_mode", 0) !== 0)
      ctx.unsupported(
        node,
        "training mode (the running mean and variance outputs) is not supported; export the model in inference mode (PyTorch: model.eval())",
      );
    if (intAttr(node, "spatial", 1) !== 1)
      ctx.unsupported(node, "spatial = 0 is not supported (only statistics per channel)");
    const target = this.foldTarget(
      node,
      data,
      foldable,
      ["dense", "conv2d"],
      "BatchNormalization is supported only right after a Conv, Gemm or MatMul, whose weights it is folded into; fold it into the neighbouring layer before export, or place it right after such a layer",
    ) as DenseLayer | Conv2dLayer;
    const channels = target.bias.length;
    // ONNX normalizes axis 1: a conv's [N, C, H, W] output per channel, a dense [N, n] one per value
    const rank = target.type === "conv2d" ? 4 : 2;
    if (data.shape.length !== rank || data.shape[1] !== channels)
      ctx.fail(
        `${ctx.label(node)}: normalizes axis 1 of a [${data.shape}] tensor, but the layer before it has ${channels} outputs`,
      );
    const [gamma, beta, mean, variance] = ["scale", "B", "input_mean", "input_var"].map((role, k) => {
      const c = ctx.constantInput(node, k + 1, role);
      if (c.data.length !== channels)
        ctx.fail(`${ctx.label(node)}: ${role} has dims [${c.dims}]; expected [${channels}], one per channel`);
      return c.data;
    });
    // ONNX's default epsilon is the float32 nearest to 1e-5, as onnxruntime uses it
    const epsilon = floatAttr(node, "epsilon", Math.fround(1e-5));
    const factor = gamma.map((g, c) => {
      const v = variance[c] + epsilon;
      if (!(v > 0))
        ctx.fail(`${ctx.label(node)}: input_var[${c}] + epsilon = ${v}; the variance must be positive`);
      return g / Math.sqrt(v);
    });
    if (target.type === "dense")
      target.weights = target.weights.map((row, o) => row.map((w) => w * factor[o]));
    else
      target.weights = target.weights.map((oc, o) =>
        oc.map((ic) => ic.map((row) => row.map((w) => w * factor[o]))),
      );
    target.bias = target.bias.map((b, c) => (b - mean[c]) * factor[c] + beta[c]);
    return { layer: data.layer, shape: data.shape };
  }

  /**
   * The layer a fold (bias Add, BatchNormalization) changes: the last one, when the chain's
   * tensor is its unchanged output, it has one of `types`, and no other node reads that output
   * (it would see the value before the fold).
   */
  private foldTarget(
    node: OnnxNode,
    data: ChainTensor,
    foldable: boolean,
    types: readonly Layer["type"][],
    refusal: string,
  ): Layer {
    const { ctx } = this;
    const k = this.layers.length - 1;
    const target = this.layers[k];
    if (!foldable || data.layer !== k || !types.includes(target.type)) return ctx.unsupported(node, refusal);
    const others = ctx.otherReaders(k, node);
    if (others.length > 0)
      ctx.unsupported(
        node,
        `it cannot be folded into the layer before it: ${others.map((n) => ctx.label(n)).join(", ")} also ${others.length === 1 ? "reads" : "read"} that layer's output, which the fold would change; take the skip connection from after the ${node.opType}`,
      );
    return target;
  }

  // ─── skip connections ────────────────────────────────────────────────────────────────

  /** An Add of the chain's tensor and an earlier one: the `add` layer, a residual connection. */
  private skipAdd(node: OnnxNode, data: ChainTensor, skip: ChainTensor): NodeOutput {
    const { ctx } = this;
    const [a, b] = [withoutLeadingOnes(data.shape), withoutLeadingOnes(skip.shape)];
    if (a.join() !== b.join())
      ctx.fail(
        `${ctx.label(node)}: adds "${skip.name}" of shape [${skip.shape}] to "${data.name}" of shape [${data.shape}]; a skip connection adds tensors of one shape`,
      );
    const [mine, theirs] = [this.shapeOf(data.layer), this.shapeOf(skip.layer)];
    if (mine.join() !== theirs.join())
      ctx.unsupported(
        node,
        `the skip connection adds "${skip.name}", a [${theirs.join(", ")}] value in Sibyl, to a [${mine.join(", ")}] one; Sibyl adds values of one layout only: flatten both sides alike (move the Flatten or Reshape after the Add)`,
      );
    const shape = data.shape.length >= skip.shape.length ? data.shape : skip.shape;
    return this.push(node, data, { type: "add", from: skip.layer }, shape);
  }

  // ─── shape-only operators ────────────────────────────────────────────────────────────

  private flatten(node: OnnxNode, data: ChainTensor): NodeOutput {
    this.dataFirst(node, data);
    // Flatten's axis may also be the rank itself: [d0 … dr-1] → [d0·…·dr-1, 1]
    const rank = data.shape.length;
    const attr = intAttr(node, "axis", 1);
    const axis = attr < 0 ? attr + rank : attr;
    if (axis < 0 || axis > rank)
      this.ctx.fail(`${this.ctx.label(node)}: axis ${attr} is out of range for rank ${rank}`);
    const outer = sizeOf(data.shape.slice(0, axis));
    const inner = sizeOf(data.shape.slice(axis));
    return { layer: data.layer, shape: this.reshaped(node, data, [outer, inner]) };
  }

  private reshape(node: OnnxNode, data: ChainTensor): NodeOutput {
    this.dataFirst(node, data);
    const target = this.ctx.constantInput(node, 1, "shape").data.map((v) => Math.trunc(v));
    const allowZero = intAttr(node, "allowzero", 0) !== 0;
    const size = sizeOf(data.shape);
    const dims = target.map((d, i) => (d === 0 && !allowZero ? data.shape[i] : d));
    const known = sizeOf(dims.filter((d) => d !== -1));
    const inferred = dims.map((d) => (d === -1 ? size / known : d));
    if (
      dims.filter((d) => d === -1).length > 1 ||
      inferred.some((d) => d === undefined || !Number.isInteger(d) || d < 0) ||
      sizeOf(inferred) !== size
    )
      this.ctx.fail(`${this.ctx.label(node)}: cannot reshape [${data.shape}] to [${target}]`);
    return { layer: data.layer, shape: this.reshaped(node, data, inferred) };
  }

  /**
   * Accepts a new ONNX shape that leaves Sibyl's flat value as it is: a batch-of-one vector
   * ([w], [1, w] …, what Flatten makes of an image too), the same image again, or an image
   * made of the model's input vector (which then becomes the model's inputShape).
   */
  private reshaped(node: OnnxNode, data: ChainTensor, to: number[]): number[] {
    const size = sizeOf(data.shape);
    if (isVector(to) && to[to.length - 1] === size) return to;
    const current = this.shapeOf(data.layer);
    if (to.length === 4 && to[0] === 1) {
      const image = to.slice(1);
      if (image.join() === current.join()) return to;
      if (data.layer === -1 && current.length === 1) {
        this.inputShape = image;
        return to;
      }
    }
    if (isVector(data.shape))
      return this.ctx.unsupported(
        node,
        `it turns the [${data.shape}] vector into [${to}]; only shapes that keep a batch-of-one vector ([${size}], [1, ${size}]) are supported, or an image [1, C, H, W] made of the model's input`,
      );
    return this.ctx.unsupported(
      node,
      `it turns the [${data.shape}] tensor into [${to}]; only a flattening into a batch-of-one vector ([1, ${size}]) is supported`,
    );
  }

  private argMax(node: OnnxNode, data: ChainTensor): NodeOutput {
    const { ctx } = this;
    this.dataFirst(node, data);
    const rank = data.shape.length;
    const attr = intAttr(node, "axis", 0);
    const axis = attr < 0 ? attr + rank : attr;
    if (axis < 0 || axis >= rank)
      ctx.fail(`${ctx.label(node)}: axis ${attr} is out of range for rank ${rank}`);
    if (axis !== rank - 1 || !isVector(data.shape))
      ctx.unsupported(
        node,
        `ArgMax over axis ${axis} of a [${data.shape}] tensor is not supported (only over the last axis of a vector)`,
      );
    if (intAttr(node, "select_last_index", 0) !== 0)
      ctx.unsupported(
        node,
        "select_last_index = 1 is not supported (Sibyl's argmax picks the first maximum)",
      );
    const shape = intAttr(node, "keepdims", 1) ? [...data.shape.slice(0, -1), 1] : data.shape.slice(0, -1);
    return this.push(node, data, { type: "argmax" }, shape);
  }

  // ─── bookkeeping ─────────────────────────────────────────────────────────────────────

  /** Appends a layer after the chain's tensor; its output has ONNX shape `shape`. */
  private push(node: OnnxNode, data: ChainTensor, layer: Layer, shape: number[]): NodeOutput {
    const next = layerOutputShape(layer, this.shapeOf(data.layer), this.shapes, this.inputShape);
    if (typeof next === "string")
      return this.ctx.fail(`${this.ctx.label(node)}: the ${layer.type} layer ${next}`);
    this.layers.push(layer);
    this.shapes.push(next);
    return { layer: this.layers.length - 1, shape };
  }

  /** Sibyl's shape of layer `k`'s output (−1: the model input). */
  private shapeOf(k: number): Shape {
    return k === -1 ? this.inputShape : this.shapes[k];
  }

  /** The chain's tensor must be the node's first input. */
  private dataFirst(node: OnnxNode, data: ChainTensor): void {
    const inputs = node.input ?? [];
    if (inputs[0] !== data.name)
      this.ctx.fail(
        `${this.ctx.label(node)} takes the chain's tensor "${data.name}" as input ${inputs.indexOf(data.name)}; it must be the first input (x·W, not W·x)`,
      );
  }
}

/** A batch-of-one vector: every dimension but the last is 1. */
function isVector(shape: readonly number[]): boolean {
  return shape.length > 0 && shape.slice(0, -1).every((d) => d === 1);
}

function withoutLeadingOnes(shape: readonly number[]): readonly number[] {
  const k = shape.findIndex((d) => d !== 1);
  return k === -1 ? [] : shape.slice(k);
}

/** Numpy-style broadcast of two shapes (NaN where they do not broadcast). */
function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, k) => {
    const x = a[a.length - rank + k] ?? 1;
    const y = b[b.length - rank + k] ?? 1;
    return x === 1 ? y : y === 1 || x === y ? x : NaN;
  });
}
