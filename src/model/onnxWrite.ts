// onnx-proto is CommonJS with no export Node can detect statically: take its exports object.
import onnxProto from "onnx-proto";
import onnx = onnxProto.onnx;

import { ModelFormatError } from "../errors.js";

/**
 * ONNX export: a graph given as plain nodes, initializers and typed inputs/outputs → the
 * bytes of an ONNX model (protobuf, via onnx-proto). It is the writing side of
 * src/model/onnx.ts: training scripts export their networks with it, and tests build the
 * graphs the importer is checked on. Only what those need is covered: float32 and int64
 * tensors, and int, float, ints, floats and tensor attributes.
 */

/** A constant tensor, float32 unless stated. */
export interface OnnxTensor {
  dims: readonly number[];
  /** row-major, `dims`' product many */
  values: ArrayLike<number>;
  type?: "float" | "int64";
  /** `raw` (little-endian bytes in raw_data, what exporters write; the default) or the typed field (float_data, int64_data) */
  encoding?: "raw" | "typed";
}

export type OnnxAttribute =
  | { i: number }
  | { f: number }
  | { ints: readonly number[] }
  | { floats: readonly number[] }
  | { t: OnnxTensor };

export interface OnnxNode {
  /** operator type, e.g. "Conv" */
  op: string;
  /** value names; "" for an omitted optional input */
  inputs: readonly string[];
  outputs: readonly string[];
  /** default: `<op in lower case>_<index>` */
  name?: string;
  /** operator set domain; default the standard ONNX domain */
  domain?: string;
  attrs?: Readonly<Record<string, OnnxAttribute>>;
}

/** A graph input or output; a string dimension is symbolic (e.g. the batch size "N"). */
export interface OnnxValueInfo {
  name: string;
  type?: "float" | "int64";
  /** omitted: shape unknown */
  dims?: readonly (number | string)[];
}

export interface OnnxGraph {
  name: string;
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
  /** in topological order: every input is a graph input, an initializer or an earlier node's output */
  nodes: readonly OnnxNode[];
  initializers?: Readonly<Record<string, OnnxTensor>>;
}

export interface OnnxModelOptions {
  /** version of the default operator set; default 13 */
  opset?: number;
  /** default 8 (ONNX 1.10+; read by every onnxruntime since 1.10) */
  irVersion?: number;
  /** default "sibyl" */
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  /** check the graph's wiring before encoding (default true); off only to build invalid graphs on purpose */
  check?: boolean;
}

const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;

/** The serialized ONNX model; throws a ModelFormatError if a node reads a value nothing defines. */
export function encodeOnnxModel(graph: OnnxGraph, opts: OnnxModelOptions = {}): Uint8Array {
  if (opts.check ?? true) checkWiring(graph);
  const model = onnx.ModelProto.create({
    irVersion: opts.irVersion ?? 8,
    producerName: opts.producerName ?? "sibyl",
    ...(opts.producerVersion ? { producerVersion: opts.producerVersion } : {}),
    ...(opts.docString ? { docString: opts.docString } : {}),
    opsetImport: [{ domain: "", version: opts.opset ?? 13 }],
    graph: {
      name: graph.name,
      node: graph.nodes.map((n, k) => ({
        opType: n.op,
        name: n.name ?? `${n.op.toLowerCase()}_${k}`,
        input: [...n.inputs],
        output: [...n.outputs],
        ...(n.domain ? { domain: n.domain } : {}),
        attribute: Object.entries(n.attrs ?? {}).map(([name, v]) => attributeProto(name, v)),
      })),
      initializer: Object.entries(graph.initializers ?? {}).map(([name, t]) => tensorProto(name, t)),
      input: graph.inputs.map(valueInfoProto),
      output: graph.outputs.map(valueInfoProto),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function tensorProto(name: string, t: OnnxTensor): onnx.ITensorProto {
  const count = t.dims.reduce((p, d) => p * d, 1);
  if (t.values.length !== count)
    throw new ModelFormatError(
      `ONNX tensor "${name}" has dims [${t.dims}] (${count} values) but ${t.values.length} values`,
      "give one value per element, row-major",
    );
  const int = t.type === "int64";
  const proto: onnx.ITensorProto = { name, dims: [...t.dims], dataType: int ? T.INT64 : T.FLOAT };
  const values = Array.from(t.values);
  if (t.encoding === "typed") {
    if (int) proto.int64Data = values;
    else proto.floatData = values;
    return proto;
  }
  const width = int ? 8 : 4;
  const view = new DataView(new ArrayBuffer(values.length * width));
  values.forEach((v, k) => {
    if (int) view.setBigInt64(k * width, BigInt(v), true);
    else view.setFloat32(k * width, v, true);
  });
  proto.rawData = new Uint8Array(view.buffer);
  return proto;
}

function attributeProto(name: string, v: OnnxAttribute): onnx.IAttributeProto {
  if ("i" in v) return { name, type: A.INT, i: v.i };
  if ("f" in v) return { name, type: A.FLOAT, f: v.f };
  if ("ints" in v) return { name, type: A.INTS, ints: [...v.ints] };
  if ("floats" in v) return { name, type: A.FLOATS, floats: [...v.floats] };
  return { name, type: A.TENSOR, t: tensorProto("", v.t) };
}

function valueInfoProto(v: OnnxValueInfo): onnx.IValueInfoProto {
  const shape = v.dims && {
    dim: v.dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })),
  };
  return {
    name: v.name,
    type: { tensorType: { elemType: v.type === "int64" ? T.INT64 : T.FLOAT, ...(shape ? { shape } : {}) } },
  };
}

/** Every node input and graph output names a value defined before it, and no value is defined twice. */
function checkWiring(graph: OnnxGraph): void {
  const defined = new Set<string>();
  const define = (name: string, by: string) => {
    if (defined.has(name))
      throw new ModelFormatError(
        `ONNX graph "${graph.name}": value "${name}" is defined twice (again by ${by})`,
        "give every graph input, initializer and node output its own name",
      );
    defined.add(name);
  };
  graph.inputs.forEach((v) => define(v.name, "a graph input"));
  Object.keys(graph.initializers ?? {}).forEach((name) => define(name, "an initializer"));
  graph.nodes.forEach((n, k) => {
    const label = `node "${n.name ?? `${n.op.toLowerCase()}_${k}`}" (${n.op})`;
    const missing = n.inputs.find((name) => name !== "" && !defined.has(name));
    if (missing !== undefined)
      throw new ModelFormatError(
        `ONNX graph "${graph.name}": ${label} reads "${missing}", which no graph input, initializer or earlier node defines`,
        "list the nodes in topological order and check the value names",
      );
    n.outputs.forEach((name) => define(name, label));
  });
  const missing = graph.outputs.find((v) => !defined.has(v.name));
  if (missing)
    throw new ModelFormatError(
      `ONNX graph "${graph.name}": output "${missing.name}" is not defined by any node, input or initializer`,
      "name an existing value as the graph's output",
    );
}
