/**
 * Builds small ONNX models in tests with onnx-proto, and runs them with onnxruntime-web (its
 * WebAssembly CPU backend, in Node): the independent float reference the importer is checked
 * against.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// onnx-proto is CommonJS with no export Node can detect statically: take its exports object.
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-web";

import onnx = onnxProto.onnx;

// One wasm thread, pinned: no worker threads to start (or to keep the test process alive),
// whatever default onnxruntime-web picks for the machine.
ort.env.wasm.numThreads = 1;

/** A constant tensor; float32 in raw_data unless stated. */
export interface TensorSpec {
  dims: number[];
  values: number[];
  type?: "float" | "int64";
  /** raw_data (little-endian bytes, what exporters write) or the typed field (float_data …) */
  encoding?: "raw" | "typed";
}

export type AttrValue = { i: number } | { f: number } | { ints: number[] } | { t: TensorSpec };

export interface NodeSpec {
  op: string;
  inputs: string[];
  output: string;
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
  const last = spec.nodes[spec.nodes.length - 1];
  const outputs = spec.outputs ?? [{ name: last.output }];
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
        output: [n.output],
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

/** Runs an ONNX model on one input vector with onnxruntime-web (float32, wasm CPU backend). */
export class OnnxRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputDims: number[],
  ) {}

  static async load(path: string, inputDims: number[]): Promise<OnnxRunner> {
    // From the file's bytes, read here: the session does not depend on how onnxruntime-web
    // resolves paths (fetch in a browser, node:fs in Node).
    const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(path)), {
      executionProviders: ["wasm"],
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
