import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";

// onnx-proto is CommonJS with no export Node can detect statically: take its exports object.
import onnxProto from "onnx-proto";
import onnx = onnxProto.onnx;

import { ModelFormatError } from "../errors.js";
import { num } from "./onnxDecode.js";
import { convertGraph } from "./onnxGraph.js";
import {
  DEFAULT_QUANTIZATION,
  type ModelFile,
  MODEL_FORMAT,
  parseModel,
  type QuantizationParams,
} from "./schema.js";

export { SUPPORTED_ONNX_OPERATORS, UnsupportedOperatorError } from "./onnxOperators.js";

/**
 * ONNX import: a model trained elsewhere (PyTorch, Keras, scikit-learn via their ONNX
 * exporters) → a sibyl-model/1 file. The graph must be a chain of supported operators from
 * one input (a vector or an image) to one output, with identity skip connections allowed;
 * weights come from the graph's initializers and Constant nodes. The work is split in three:
 * onnxGraph.ts walks the graph, onnxOperators.ts turns each node into layers, onnxDecode.ts
 * reads tensors and attributes. docs/model-format.md ("Importing ONNX") lists the operators
 * and how each maps onto Sibyl's layers.
 */

export interface OnnxImportOptions {
  /** model name; default: the file's base name, sanitized to [a-z][a-z0-9_]* */
  name?: string;
  /** quantization parameters; the rest take the defaults of docs/model-format.md */
  quantization?: Partial<QuantizationParams>;
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
  const { inputLength, inputShape, layers } = convertGraph(model.graph, source);
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
    ...(inputShape ? { inputShape } : {}),
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

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
