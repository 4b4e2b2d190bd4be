// onnx-proto is CommonJS with no export Node can detect statically: take its exports object.
import onnxProto from "onnx-proto";
import onnx = onnxProto.onnx;

import { ModelFormatError } from "../errors.js";

/**
 * Decoding of ONNX protobuf values for the importer (src/model/onnx.ts): constant tensors
 * (initializers and Constant nodes) and node attributes. Problems are ModelFormatErrors
 * that name the model and the tensor or node.
 */

/** A constant tensor: its shape and its values as doubles (int64 shapes fit exactly). */
export interface Constant {
  dims: number[];
  data: number[];
}

export type OnnxNode = onnx.INodeProto;

/** The values of a tensor proto: float, int32 or int64, from its typed field or raw_data. */
export function decodeTensor(t: onnx.ITensorProto, where: string, source: string): Constant {
  const fail = (what: string, hint = "the file may be damaged: export the model again"): never => {
    throw new ModelFormatError(`${source}: ${where}${what}`, hint);
  };
  const dims = (t.dims ?? []).map(num);
  const count = dims.reduce((p, d) => p * d, 1);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)
    fail(" keeps its data in an external file", "export the model with its weights embedded");
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  const fromRaw = (bytes: number, read: (offset: number) => number): number[] => {
    if (raw!.length !== count * bytes)
      fail(`: raw_data holds ${raw!.length} bytes; dims [${dims}] need ${count * bytes}`);
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
      return fail(
        ` has data type ${dataTypeName(t.dataType)}; supported: float, int32, int64`,
        "export the weights as float32",
      );
  }
  if (data.length !== count) fail(`: holds ${data.length} values; dims [${dims}] need ${count}`);
  return { dims, data };
}

/** The tensor a Constant node defines; `where` names the node. */
export function decodeConstantNode(node: OnnxNode, where: string, source: string): Constant {
  const fail = (what: string): never => {
    throw new ModelFormatError(
      `${source}: ${where}: ${what}`,
      "a Constant node holds one tensor or number list: export the model again",
    );
  };
  const attr = (node.attribute ?? [])[0];
  if (!attr || (node.attribute ?? []).length !== 1) return fail("expected exactly one attribute");
  switch (attr.name) {
    case "value":
      if (!attr.t) return fail("attribute value holds no tensor");
      return decodeTensor(attr.t, where, source);
    case "value_float":
      return { dims: [], data: [attr.f ?? 0] };
    case "value_floats":
      return { dims: [attr.floats?.length ?? 0], data: [...(attr.floats ?? [])] };
    case "value_int":
      return { dims: [], data: [num(attr.i)] };
    case "value_ints":
      return { dims: [attr.ints?.length ?? 0], data: (attr.ints ?? []).map(num) };
    default:
      return fail(`attribute ${attr.name} is not supported (use value, value_float(s) or value_int(s))`);
  }
}

function attribute(node: OnnxNode, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export function intAttr(node: OnnxNode, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? num(a.i) : fallback;
}

/** An ints attribute, or undefined when the node does not set it. */
export function intsAttr(node: OnnxNode, name: string): number[] | undefined {
  const a = attribute(node, name);
  return a ? (a.ints ?? []).map(num) : undefined;
}

export function floatAttr(node: OnnxNode, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? (a.f ?? 0) : fallback;
}

export function stringAttr(node: OnnxNode, name: string, fallback: string): string {
  const a = attribute(node, name);
  return a ? new TextDecoder().decode(a.s ?? new Uint8Array()) : fallback;
}

/** protobufjs decodes int64 as a number or a Long. */
export function num(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === "number" ? v : v.toNumber();
}

export function dataTypeName(t: number | null | undefined): string {
  return onnx.TensorProto.DataType[t ?? 0] ?? String(t);
}
