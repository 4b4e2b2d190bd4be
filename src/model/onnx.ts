import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";

// onnx-proto is CommonJS with no export Node can detect statically: take its exports object.
import onnxProto from "onnx-proto";
import onnx = onnxProto.onnx;

import { ModelFormatError } from "../errors.js";
import {
  DEFAULT_QUANTIZATION,
  type DenseLayer,
  type Layer,
  type ModelFile,
  MODEL_FORMAT,
  parseModel,
  type QuantizationParams,
} from "./schema.js";

/**
 * ONNX import: a model trained elsewhere (PyTorch, Keras, scikit-learn via their ONNX
 * exporters) → a sibyl-model/1 file. Sibyl proves MLPs, so the graph must be a single chain
 * of supported operators from one input vector to one output; weights come from the
 * graph's initializers and Constant nodes. docs/model-format.md ("Importing ONNX") lists
 * the operators and how each maps onto Sibyl's layers.
 */

export interface OnnxImportOptions {
  /** model name; default: the file's base name, sanitized to [a-z][a-z0-9_]* */
  name?: string;
  /** quantization parameters; the rest take the defaults of docs/model-format.md */
  quantization?: Partial<QuantizationParams>;
}

/** The operators the importer accepts, as listed in its errors. */
export const SUPPORTED_ONNX_OPERATORS = [
  "Gemm",
  "MatMul",
  "Add (a constant bias right after MatMul or Gemm)",
  "Relu",
  "Sigmoid",
  "Flatten",
  "Reshape",
  "ArgMax",
  "Identity",
  "Constant",
] as const;

const SUPPORTED_OPS = new Set(SUPPORTED_ONNX_OPERATORS.map((s) => s.split(" ")[0]));

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
      "export the model as a chain of these operators (an MLP), see docs/model-format.md",
    );
  }
}

/** Reads an ONNX file and converts it; throws a ModelFormatError saying what is wrong. */
export function importOnnx(path: string, opts: OnnxImportOptions = {}): ModelFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ModelFormatError(`cannot read ONNX file ${path}: ${(e as Error).message}`, "check the path");
  }
  return importOnnxBytes(bytes, { ...opts, name: opts.name ?? modelNameFromPath(path) }, path);
}

/** Converts an ONNX model held in memory; `source` names it in errors. */
export function importOnnxBytes(
  bytes: Uint8Array,
  opts: OnnxImportOptions = {},
  source = "ONNX model",
): ModelFile {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new ModelFormatError(
      `${source}: not a valid ONNX model (protobuf decoding failed: ${(e as Error).message})`,
      "the file may be truncated or not an ONNX file; export it again",
    );
  }
  if (!model.graph) throw new ModelFormatError(`${source}: the ONNX model has no graph`);
  const { inputLength, layers } = new ChainImporter(model.graph, source).run();
  const opset = model.opsetImport.find((o) => !o.domain || o.domain === "ai.onnx");
  const about = [
    [model.producerName, model.producerVersion].filter(Boolean).join(" "),
    opset ? `opset ${num(opset.version)}` : "",
  ].filter(Boolean);
  const json: ModelFile = {
    format: MODEL_FORMAT,
    name: opts.name ?? "model",
    description: `imported from ONNX${about.length ? ` (${about.join(", ")})` : ""}`,
    inputLength,
    quantization: { ...DEFAULT_QUANTIZATION, ...definedOnly(opts.quantization ?? {}) },
    layers,
  };
  return parseModel(json, source);
}

/** "My-Model.v2.onnx" → "my_model_v2": a valid model name from a file name. */
export function modelNameFromPath(path: string): string {
  const stem = basename(path, extname(path))
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/_+/g, "_")
    .replace(/^_|_$/g, "");
  const name = /^[a-z]/.test(stem) ? stem : `model_${stem}`.replace(/_$/, "");
  return name.slice(0, 64);
}

// ───────────────────────────────────────────────────────────────────────────────────────
// The chain walk

/** A constant tensor: its shape and its values as doubles (int64 shapes fit exactly). */
interface Constant {
  dims: number[];
  data: number[];
}

type Node = onnx.INodeProto;

class ChainImporter {
  private readonly constants = new Map<string, Constant>();
  /** the nodes that compute on the data (everything but Constant and constant Identity) */
  private readonly dataNodes: Node[] = [];
  /** which node computes each non-constant tensor */
  private readonly producers = new Map<string, Node>();
  private readonly layers: Layer[] = [];
  /** the current tensor's shape, with a dynamic batch dimension taken as 1 */
  private shape: number[] = [];
  /** true while the last layer is a dense layer that an Add may still fold a bias into */
  private biasFoldable = false;

  constructor(
    private readonly graph: onnx.IGraphProto,
    private readonly source: string,
  ) {}

  run(): { inputLength: number; layers: Layer[] } {
    const nodes = this.graph.node ?? [];
    for (const t of this.graph.initializer ?? [])
      this.constants.set(t.name ?? "", this.tensor(t, `initializer "${t.name}"`));
    this.checkOperators(nodes);
    for (const node of nodes) {
      if (node.opType === "Constant") {
        this.constants.set(this.singleOutput(node), this.constantNode(node));
      } else if (node.opType === "Identity" && this.constants.has(node.input?.[0] ?? "")) {
        this.constants.set(this.singleOutput(node), this.constants.get(node.input![0])!);
      } else {
        this.dataNodes.push(node);
        for (const out of node.output ?? []) this.producers.set(out, node);
      }
    }

    const input = this.graphInput();
    const outputs = this.graph.output ?? [];
    if (outputs.length !== 1)
      this.fail(
        `the graph has ${outputs.length} outputs (${outputs.map((o) => o.name).join(", ")}); Sibyl models have one output`,
      );
    const outputName = outputs[0].name ?? "";

    let current = input.name;
    const visited = new Set<Node>();
    for (;;) {
      const consumers = this.dataNodes.filter((n) => (n.input ?? []).includes(current));
      if (consumers.length === 0) break;
      if (consumers.length > 1)
        this.fail(
          `the graph is not a chain: tensor "${current}" feeds ${consumers.length} nodes (${consumers.map((n) => this.label(n)).join(", ")})`,
        );
      const node = consumers[0];
      if (visited.has(node)) this.fail(`the graph is not a chain: node ${this.label(node)} is reached twice`);
      visited.add(node);
      this.apply(node, current);
      current = this.singleOutput(node);
    }
    if (current !== outputName)
      this.fail(
        `the graph is not a chain: following the nodes from input "${input.name}" ends at tensor "${current}", not at the graph output "${outputName}"`,
      );
    const stray = this.dataNodes.filter((n) => !visited.has(n));
    if (stray.length > 0)
      this.fail(
        `the graph is not a chain: ${stray.map((n) => this.label(n)).join(", ")} ${stray.length === 1 ? "is" : "are"} not on the path from input "${input.name}" to output "${outputName}"`,
      );
    return { inputLength: input.length, layers: this.layers };
  }

  /** Refuses an unsupported operator anywhere in the graph before anything else is looked at. */
  private checkOperators(nodes: Node[]): void {
    nodes.forEach((node, i) => {
      const op = node.opType ?? "";
      const domain = node.domain ?? "";
      if (domain !== "" && domain !== "ai.onnx")
        throw new UnsupportedOperatorError(
          this.source,
          `${domain}.${op}`,
          node.name || `#${i}`,
          `operator ${op} of domain ${domain} is not supported (only the default ONNX domain is)`,
        );
      if (!SUPPORTED_OPS.has(op)) throw new UnsupportedOperatorError(this.source, op, node.name || `#${i}`);
    });
  }

  /** The one graph input that is not an initializer: a float vector [n], [1, n] or [batch, n]. */
  private graphInput(): { name: string; length: number } {
    const inputs = (this.graph.input ?? []).filter((i) => !this.constants.has(i.name ?? ""));
    if (inputs.length !== 1)
      this.fail(
        `the graph has ${inputs.length} inputs${inputs.length ? ` (${inputs.map((i) => i.name).join(", ")})` : ""}; Sibyl models take one input vector`,
      );
    const input = inputs[0];
    const tensorType = input.type?.tensorType;
    if (!tensorType) this.fail(`input "${input.name}" is not a tensor`);
    if (tensorType!.elemType !== onnx.TensorProto.DataType.FLOAT)
      this.fail(
        `input "${input.name}" has element type ${dataTypeName(tensorType!.elemType)}; expected float`,
      );
    const dims = tensorType!.shape?.dim ?? [];
    const known = (d: onnx.TensorShapeProto.IDimension): number | undefined =>
      d.dimValue !== undefined && d.dimValue !== null && num(d.dimValue) > 0 ? num(d.dimValue) : undefined;
    const shown = `[${dims.map((d) => known(d) ?? (d.dimParam || "?")).join(", ")}]`;
    const n = dims.length > 0 ? known(dims[dims.length - 1]) : undefined;
    const batchOk = dims.length === 1 || (dims.length === 2 && (known(dims[0]) ?? 1) === 1);
    if (n === undefined || !batchOk)
      this.fail(
        `input "${input.name}" has shape ${shown}; expected a vector: [n], [1, n] or [batch, n] with a known n`,
      );
    this.shape = dims.length === 1 ? [n!] : [1, n!];
    return { name: input.name ?? "", length: n! };
  }

  /** Turns one chain node into layers; `data` is the tensor flowing along the chain. */
  private apply(node: Node, data: string): void {
    const op = node.opType ?? "";
    const width = this.shape[this.shape.length - 1];
    const inputs = node.input ?? [];
    const foldable = this.biasFoldable;
    this.biasFoldable = false;
    switch (op) {
      case "Gemm": {
        this.dataFirst(node, data);
        if (this.intAttr(node, "transA", 0) !== 0)
          this.unsupported(node, "transA = 1 is not supported (only transA = 0)");
        if (this.shape.length !== 2)
          this.fail(`${this.label(node)}: Gemm needs a 2-D input, got [${this.shape}]`);
        const alpha = this.floatAttr(node, "alpha", 1);
        const beta = this.floatAttr(node, "beta", 1);
        const transB = this.intAttr(node, "transB", 0);
        const b = this.constantInput(node, 1, "B", data);
        if (b.dims.length !== 2) this.fail(`${this.label(node)}: B must be a matrix, got dims [${b.dims}]`);
        const [rows, cols] = b.dims;
        const [nIn, nOut] = transB ? [cols, rows] : [rows, cols];
        if (nIn !== width)
          this.fail(
            `${this.label(node)}: B has dims [${b.dims}] (transB = ${transB}) but the input width is ${width}`,
          );
        const weights = Array.from({ length: nOut }, (_, o) =>
          Array.from({ length: nIn }, (_, i) => alpha * b.data[transB ? o * nIn + i : i * nOut + o]),
        );
        const bias =
          inputs.length > 2 && inputs[2]
            ? this.biasOf(node, this.constantInput(node, 2, "C", data), nOut, beta)
            : [];
        this.layers.push({
          type: "dense",
          weights,
          bias: bias.length ? bias : new Array<number>(nOut).fill(0),
        });
        this.shape = [1, nOut];
        this.biasFoldable = true;
        return;
      }
      case "MatMul": {
        this.dataFirst(node, data);
        const b = this.constantInput(node, 1, "B", data);
        if (b.dims.length !== 2)
          this.unsupported(
            node,
            `a right operand with dims [${b.dims}] is not supported (only a [in, out] matrix)`,
          );
        const [nIn, nOut] = b.dims;
        if (nIn !== width)
          this.fail(`${this.label(node)}: B has dims [${b.dims}] but the input width is ${width}`);
        // ONNX keeps MatMul weights as [in][out]; Sibyl (like PyTorch's Linear) as [out][in]
        const weights = Array.from({ length: nOut }, (_, o) =>
          Array.from({ length: nIn }, (_, i) => b.data[i * nOut + o]),
        );
        this.layers.push({ type: "dense", weights, bias: new Array<number>(nOut).fill(0) });
        this.shape = [...this.shape.slice(0, -1), nOut];
        this.biasFoldable = true;
        return;
      }
      case "Add": {
        const other = inputs[0] === data ? 1 : 0;
        const c = this.constantInput(node, other, other === 1 ? "B" : "A", data);
        if (!foldable)
          this.unsupported(node, "Add is supported only as a constant bias right after a MatMul or Gemm");
        const dense = this.layers[this.layers.length - 1] as DenseLayer;
        const bias = this.biasOf(node, c, width, 1);
        dense.bias = dense.bias.map((v, o) => v + bias[o]);
        this.shape = this.vectorShape(node, broadcastShape(this.shape, c.dims));
        this.biasFoldable = true;
        return;
      }
      case "Relu":
      case "Sigmoid":
        this.dataFirst(node, data);
        this.layers.push({ type: op === "Relu" ? "relu" : "sigmoid" });
        return;
      case "Identity":
        this.dataFirst(node, data);
        this.biasFoldable = foldable;
        return;
      case "Flatten": {
        this.dataFirst(node, data);
        // Flatten's axis may also be the rank itself: [d0 … dr-1] → [d0·…·dr-1, 1]
        const rank = this.shape.length;
        const attr = this.intAttr(node, "axis", 1);
        const axis = attr < 0 ? attr + rank : attr;
        if (axis < 0 || axis > rank)
          this.fail(`${this.label(node)}: axis ${attr} is out of range for rank ${rank}`);
        const outer = this.shape.slice(0, axis).reduce((p, d) => p * d, 1);
        const inner = this.shape.slice(axis).reduce((p, d) => p * d, 1);
        this.shape = this.vectorShape(node, [outer, inner]);
        return;
      }
      case "Reshape": {
        this.dataFirst(node, data);
        const target = this.constantInput(node, 1, "shape", data).data.map((v) => Math.trunc(v));
        const allowZero = this.intAttr(node, "allowzero", 0) !== 0;
        const size = this.shape.reduce((p, d) => p * d, 1);
        const dims = target.map((d, i) => (d === 0 && !allowZero ? this.shape[i] : d));
        const known = dims.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
        const inferred = dims.map((d) => (d === -1 ? size / known : d));
        if (
          dims.filter((d) => d === -1).length > 1 ||
          inferred.some((d) => d === undefined || !Number.isInteger(d) || d < 0) ||
          inferred.reduce((p, d) => p * d, 1) !== size
        )
          this.fail(`${this.label(node)}: cannot reshape [${this.shape}] to [${target}]`);
        this.shape = this.vectorShape(node, inferred);
        return;
      }
      case "ArgMax": {
        this.dataFirst(node, data);
        const rank = this.shape.length;
        const axis = this.axis(node, this.intAttr(node, "axis", 0), rank);
        if (axis !== rank - 1)
          this.unsupported(
            node,
            `ArgMax over axis ${axis} of a [${this.shape}] tensor is not supported (only over the last axis)`,
          );
        if (this.intAttr(node, "select_last_index", 0) !== 0)
          this.unsupported(
            node,
            "select_last_index = 1 is not supported (Sibyl's argmax picks the first maximum)",
          );
        this.layers.push({ type: "argmax" });
        this.shape = this.intAttr(node, "keepdims", 1)
          ? [...this.shape.slice(0, -1), 1]
          : this.shape.slice(0, -1);
        return;
      }
      default:
        // checkOperators refused every other operator already
        this.unsupported(node, `operator ${op} cannot appear here`);
    }
  }

  /** A bias vector of `n` values from a constant broadcastable to [1, n], times `scale`. */
  private biasOf(node: Node, c: Constant, n: number, scale: number): number[] {
    const size = c.data.length;
    const last = c.dims.length ? c.dims[c.dims.length - 1] : 1;
    if (size !== 1 && !(size === n && last === n))
      this.fail(`${this.label(node)}: the bias has dims [${c.dims}]; expected [${n}], [1, ${n}] or a scalar`);
    return Array.from({ length: n }, (_, o) => scale * c.data[size === 1 ? 0 : o]);
  }

  /** Accepts a shape that is still a batch-of-one vector ([w], [1, w], [1, 1, w] …). */
  private vectorShape(node: Node, shape: number[]): number[] {
    const width = this.shape[this.shape.length - 1];
    const ok =
      shape.length > 0 && shape.slice(0, -1).every((d) => d === 1) && shape[shape.length - 1] === width;
    if (!ok)
      this.unsupported(
        node,
        `it turns the [${this.shape}] vector into [${shape}]; only shapes that keep a batch-of-one vector ([${width}], [1, ${width}]) are supported`,
      );
    return shape;
  }

  private axis(node: Node, axis: number, rank: number): number {
    const a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) this.fail(`${this.label(node)}: axis ${axis} is out of range for rank ${rank}`);
    return a;
  }

  /** The chain's tensor must be the node's first input. */
  private dataFirst(node: Node, data: string): void {
    if ((node.input ?? [])[0] !== data)
      this.fail(
        `${this.label(node)} takes the chain's tensor "${data}" as input ${(node.input ?? []).indexOf(data)}; it must be the first input (x·W, not W·x)`,
      );
  }

  /** Input `index` of a chain node: must be a graph initializer or a Constant node's output. */
  private constantInput(node: Node, index: number, role: string, data: string): Constant {
    const name = (node.input ?? [])[index];
    if (name === undefined || name === "") this.fail(`${this.label(node)}: input ${role} is missing`);
    const c = this.constants.get(name!);
    if (c) return c;
    if (name === data || this.producers.has(name!) || (this.graph.input ?? []).some((i) => i.name === name))
      this.fail(
        `the graph is not a chain: ${this.label(node)} combines two computed tensors ("${data}" and "${name}"); its ${role} must be a constant`,
      );
    return this.fail(
      `${this.label(node)}: input ${role} "${name}" is neither a graph initializer nor the output of a Constant node`,
    );
  }

  private constantNode(node: Node): Constant {
    const attr = (node.attribute ?? [])[0];
    const where = `${this.label(node)}`;
    if (!attr || (node.attribute ?? []).length !== 1)
      return this.fail(`${where}: expected exactly one attribute`);
    switch (attr.name) {
      case "value":
        if (!attr.t) return this.fail(`${where}: attribute value holds no tensor`);
        return this.tensor(attr.t, where);
      case "value_float":
        return { dims: [], data: [attr.f ?? 0] };
      case "value_floats":
        return { dims: [attr.floats?.length ?? 0], data: [...(attr.floats ?? [])] };
      case "value_int":
        return { dims: [], data: [num(attr.i)] };
      case "value_ints":
        return { dims: [attr.ints?.length ?? 0], data: (attr.ints ?? []).map(num) };
      default:
        return this.fail(
          `${where}: attribute ${attr.name} is not supported (use value, value_float(s) or value_int(s))`,
        );
    }
  }

  /** The values of a tensor proto: float, int32 or int64, from its typed field or raw_data. */
  private tensor(t: onnx.ITensorProto, where: string): Constant {
    const dims = (t.dims ?? []).map(num);
    const count = dims.reduce((p, d) => p * d, 1);
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)
      this.fail(`${where} keeps its data in an external file`, "export the model with its weights embedded");
    const raw = t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
    const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
    const fromRaw = (bytes: number, read: (offset: number) => number): number[] => {
      if (raw!.length !== count * bytes)
        this.fail(`${where}: raw_data holds ${raw!.length} bytes; dims [${dims}] need ${count * bytes}`);
      return Array.from({ length: count }, (_, k) => read(k * bytes));
    };
    const T = onnx.TensorProto.DataType;
    let data: number[];
    switch (t.dataType) {
      case T.FLOAT:
        data = view ? fromRaw(4, (o) => view.getFloat32(o, true)) : [...(t.floatData ?? [])];
        break;
      case T.INT32:
        data = view ? fromRaw(4, (o) => view.getInt32(o, true)) : [...(t.int32Data ?? [])];
        break;
      case T.INT64:
        data = view ? fromRaw(8, (o) => Number(view.getBigInt64(o, true))) : (t.int64Data ?? []).map(num);
        break;
      default:
        return this.fail(
          `${where} has data type ${dataTypeName(t.dataType)}; supported: float, int32, int64`,
        );
    }
    if (data.length !== count)
      this.fail(`${where}: holds ${data.length} values; dims [${dims}] need ${count}`);
    return { dims, data };
  }

  private singleOutput(node: Node): string {
    const outs = node.output ?? [];
    if (outs.length !== 1) this.fail(`${this.label(node)}: expected one output, got ${outs.length}`);
    return outs[0];
  }

  private intAttr(node: Node, name: string, fallback: number): number {
    const a = (node.attribute ?? []).find((x) => x.name === name);
    return a ? num(a.i) : fallback;
  }

  private floatAttr(node: Node, name: string, fallback: number): number {
    const a = (node.attribute ?? []).find((x) => x.name === name);
    return a ? (a.f ?? 0) : fallback;
  }

  private label(node: Node): string {
    const i = (this.graph.node ?? []).indexOf(node);
    return `node "${node.name || `#${i}`}" (${node.opType})`;
  }

  private unsupported(node: Node, detail: string): never {
    const i = (this.graph.node ?? []).indexOf(node);
    throw new UnsupportedOperatorError(this.source, node.opType ?? "", node.name || `#${i}`, detail);
  }

  private fail(
    what: string,
    hint = "Sibyl imports MLPs: one input vector, a chain of supported operators, one output (docs/model-format.md)",
  ): never {
    throw new ModelFormatError(`${this.source}: ${what}`, hint);
  }
}

/** Numpy-style broadcast of two shapes (the constant's must not grow the vector). */
function broadcastShape(a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, k) => {
    const x = a[a.length - rank + k] ?? 1;
    const y = b[b.length - rank + k] ?? 1;
    return x === 1 ? y : y === 1 || x === y ? x : NaN;
  });
}

/** protobufjs decodes int64 as a number or a Long. */
function num(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === "number" ? v : v.toNumber();
}

function dataTypeName(t: number | null | undefined): string {
  return onnx.TensorProto.DataType[t ?? 0] ?? String(t);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
