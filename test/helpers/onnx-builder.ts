/**
 * Builds small ONNX models in tests with onnx-proto, and runs them with onnxruntime-node (its
 * native CPU backend): the independent float reference the importer is checked against.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

// onnx-proto is CommonJS with no export Node can detect statically: take its exports object.
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";

import onnx = onnxProto.onnx;

/** A constant tensor; float32 in raw_data unless stated. */
export interface TensorSpec {
  dims: number[];
  values: number[];
  type?: "float" | "int64";
  /** raw_data (little-endian bytes, what exporters write) or the typed field (float_data …) */
  encoding?: "raw" | "typed";
}

export type AttrValue =
  | { i: number }
  | { f: number }
  | { ints: number[] }
  | { floats: number[] }
  | { s: string }
  | { t: TensorSpec };

export interface NodeSpec {
  op: string;
  inputs: string[];
  /** its output, or several (MaxPool's Indices, BatchNormalization's training outputs) */
  output: string | string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, AttrValue>;
}

export interface GraphSpec {
  /** the graph input, default `x` of shape ["N", n]; a string is a symbolic dimension */
  input: { name?: string; dims: (number | string)[] };
  nodes: NodeSpec[];
  initializers?: Record<string, TensorSpec>;
  /** graph outputs: default the last node's output, as float */
  outputs?: { name: string; type?: "float" | "int64" }[];
  /** more graph inputs (to build invalid graphs) */
  extraInputs?: string[];
  opset?: number;
}

const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;

function tensorProto(name: string, spec: TensorSpec): onnx.ITensorProto {
  const type = spec.type ?? "float";
  const t: onnx.ITensorProto = {
    name,
    dims: spec.dims,
    dataType: type === "float" ? T.FLOAT : T.INT64,
  };
  if ((spec.encoding ?? "raw") === "typed") {
    if (type === "float") t.floatData = spec.values;
    else t.int64Data = spec.values;
  } else {
    const bytes = type === "float" ? 4 : 8;
    const view = new DataView(new ArrayBuffer(spec.values.length * bytes));
    spec.values.forEach((v, k) => {
      if (type === "float") view.setFloat32(k * bytes, v, true);
      else view.setBigInt64(k * bytes, BigInt(v), true);
    });
    t.rawData = new Uint8Array(view.buffer);
  }
  return t;
}

function attrProto(name: string, v: AttrValue): onnx.IAttributeProto {
  if ("i" in v) return { name, type: A.INT, i: v.i };
  if ("f" in v) return { name, type: A.FLOAT, f: v.f };
  if ("ints" in v) return { name, type: A.INTS, ints: v.ints };
  if ("floats" in v) return { name, type: A.FLOATS, floats: v.floats };
  if ("s" in v) return { name, type: A.STRING, s: new TextEncoder().encode(v.s) };
  return { name, type: A.TENSOR, t: tensorProto("", v.t) };
}

function valueInfo(name: string, elemType: number, dims?: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        ...(dims
          ? { shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) } }
          : {}),
      },
    },
  };
}

/** The serialized ONNX model. */
export function encodeModel(spec: GraphSpec): Uint8Array {
  const outputsOf = (n: NodeSpec): string[] => (typeof n.output === "string" ? [n.output] : n.output);
  const outputs = spec.outputs ?? [{ name: outputsOf(spec.nodes[spec.nodes.length - 1])[0] }];
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "sibyl-tests",
    opsetImport: [{ domain: "", version: spec.opset ?? 13 }],
    graph: {
      name: "test",
      node: spec.nodes.map((n, k) => ({
        opType: n.op,
        name: n.name ?? `${n.op.toLowerCase()}_${k}`,
        input: n.inputs,
        output: outputsOf(n),
        ...(n.domain ? { domain: n.domain } : {}),
        attribute: Object.entries(n.attrs ?? {}).map(([name, v]) => attrProto(name, v)),
      })),
      initializer: Object.entries(spec.initializers ?? {}).map(([name, t]) => tensorProto(name, t)),
      input: [
        valueInfo(spec.input.name ?? "x", T.FLOAT, spec.input.dims),
        ...(spec.extraInputs ?? []).map((name) => valueInfo(name, T.FLOAT, ["N", 1])),
      ],
      output: outputs.map((o) => valueInfo(o.name, o.type === "int64" ? T.INT64 : T.FLOAT)),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Writes the model to `dir/file` and returns its path. */
export function writeModel(dir: string, file: string, spec: GraphSpec | Uint8Array): string {
  const path = join(dir, file);
  writeFileSync(path, spec instanceof Uint8Array ? spec : encodeModel(spec));
  return path;
}

/** A dense weight tensor with values in [−scale, scale], rounded to float32. */
export function randomTensor(rand: () => number, dims: number[], scale = 1): TensorSpec {
  const n = dims.reduce((p, d) => p * d, 1);
  return { dims, values: Array.from({ length: n }, () => Math.fround((2 * rand() - 1) * scale)) };
}

/**
 * Runs an ONNX model on one input with onnxruntime-node (float32, CPU). One thread per
 * session, so that results do not depend on the machine; `release()` frees the native
 * session (call it in a `finally` or an `after`).
 */
export class OnnxRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputDims: number[],
  ) {}

  static async load(path: string, inputDims: number[]): Promise<OnnxRunner> {
    // graph optimizations off: onnxruntime would fuse a BatchNormalization into the Conv
    // before it, and the fold tests need the graph run as written
    const session = await ort.InferenceSession.create(path, {
      executionProviders: ["cpu"],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: "disabled",
    });
    return new OnnxRunner(session, inputDims);
  }

  async run(x: readonly number[]): Promise<number[]> {
    const feeds = {
      [this.session.inputNames[0]]: new ort.Tensor("float32", Float32Array.from(x), this.inputDims),
    };
    const out = (await this.session.run(feeds))[this.session.outputNames[0]];
    return Array.from(out.data as ArrayLike<number | bigint>, (v) => Number(v));
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
