import { readFileSync } from "node:fs";

import { ModelFormatError } from "../errors.js";

/**
 * Sibyl's model file, format `sibyl-model/1` (documented in docs/model-format.md).
 * Weights are floats; the quantizer turns them into the fixed-point integers that the
 * runtime and the circuit share.
 */
export const MODEL_FORMAT = "sibyl-model/1";

export interface DenseLayer {
  type: "dense";
  /** weights[out][in], as PyTorch's Linear and ONNX Gemm with transB = 1 store them */
  weights: number[][];
  bias: number[];
}
export interface ReluLayer {
  type: "relu";
}
/** element-wise logistic function, piecewise-linear in fixed point (docs/protocol.md) */
export interface SigmoidLayer {
  type: "sigmoid";
}
export interface ArgmaxLayer {
  type: "argmax";
}
export type Layer = DenseLayer | ReluLayer | SigmoidLayer | ArgmaxLayer;

export type WeightVisibility = "public" | "private";

export interface QuantizationParams {
  /** a real x is the integer round(x * 2^fracBits) */
  fracBits: number;
  /** every activation and output is a signed valueBits-bit integer */
  valueBits: number;
  /** every input is a signed inputBits-bit integer (default: valueBits); small inputs pack densely on-chain */
  inputBits?: number;
  /**
   * every quantized weight is a signed weightBits-bit integer (default: valueBits for public
   * weights, 8 for private ones); each dense layer picks the finest weight scale that fits
   */
  weightBits?: number;
  /** public: weights are circuit constants; private: a Poseidon commitment is registered instead */
  weights?: WeightVisibility;
}

export interface ModelFile {
  format: typeof MODEL_FORMAT;
  name: string;
  description?: string;
  inputLength: number;
  inputNames?: string[];
  /** class labels when the model ends in argmax */
  classes?: string[];
  quantization: QuantizationParams;
  layers: Layer[];
  /** free-form training report (accuracy etc.), carried along untouched */
  metrics?: Record<string, number | string>;
}

export const DEFAULT_QUANTIZATION: QuantizationParams = { fracBits: 8, valueBits: 24 };

/** Lower case, digits and underscores: it names files, a Circom template and a Solidity contract. */
const NAME_RE = /^[a-z][a-z0-9_]{0,63}$/;

/** Reads and validates a model file; every problem names its JSON path. */
export function loadModelFile(path: string): ModelFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ModelFormatError(`cannot read model file ${path}: ${(e as Error).message}`, "check the path");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`model file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseModel(json, path);
}

/** Validates an already parsed model file. */
export function parseModel(json: unknown, source = "model"): ModelFile {
  const fail = (where: string, what: string): never => {
    throw new ModelFormatError(
      `${source}: ${where}: ${what}`,
      "see docs/model-format.md for the sibyl-model/1 format",
    );
  };
  if (!isObject(json)) return fail("$", "expected a JSON object");
  if (json.format !== MODEL_FORMAT) fail("$.format", `expected "${MODEL_FORMAT}", got ${show(json.format)}`);
  if (typeof json.name !== "string" || !NAME_RE.test(json.name))
    fail("$.name", `expected a lower-case identifier ([a-z][a-z0-9_]*), got ${show(json.name)}`);
  if (!isPosInt(json.inputLength))
    fail("$.inputLength", `expected a positive integer, got ${show(json.inputLength)}`);
  const inputLength = json.inputLength as number;

  const q = json.quantization ?? DEFAULT_QUANTIZATION;
  if (!isObject(q)) return fail("$.quantization", "expected an object { fracBits, valueBits }");
  if (!isPosInt(q.fracBits) || (q.fracBits as number) > 32)
    fail("$.quantization.fracBits", `expected an integer in 1..32, got ${show(q.fracBits)}`);
  if (
    !isPosInt(q.valueBits) ||
    (q.valueBits as number) > 64 ||
    (q.valueBits as number) <= (q.fracBits as number)
  )
    fail("$.quantization.valueBits", `expected an integer in fracBits+1..64, got ${show(q.valueBits)}`);
  const optionalBits = (key: "inputBits" | "weightBits"): number | undefined => {
    const v = q[key];
    if (v === undefined) return undefined;
    if (!isPosInt(v) || (v as number) < 2 || (v as number) > (q.valueBits as number))
      fail(`$.quantization.${key}`, `expected an integer in 2..valueBits, got ${show(v)}`);
    return v as number;
  };
  const inputBits = optionalBits("inputBits");
  const weightBits = optionalBits("weightBits");
  if (q.weights !== undefined && q.weights !== "public" && q.weights !== "private")
    fail("$.quantization.weights", `expected "public" or "private", got ${show(q.weights)}`);

  if (!Array.isArray(json.layers) || json.layers.length === 0)
    return fail("$.layers", "expected a non-empty array");
  let width = inputLength;
  const layers: Layer[] = [];
  json.layers.forEach((raw: unknown, i: number) => {
    const at = `$.layers[${i}]`;
    if (!isObject(raw)) return fail(at, "expected an object");
    if (i > 0 && layers[i - 1].type === "argmax") fail(at, "argmax must be the last layer");
    switch (raw.type) {
      case "dense": {
        const w = raw.weights;
        if (!Array.isArray(w) || w.length === 0)
          return fail(`${at}.weights`, "expected a non-empty [out][in] array");
        w.forEach((row: unknown, o: number) => {
          if (!Array.isArray(row) || row.length !== width)
            fail(
              `${at}.weights[${o}]`,
              `expected ${width} numbers (the layer's input width), got ${show(row)}`,
            );
          (row as unknown[]).forEach((v, k) => {
            if (typeof v !== "number" || !Number.isFinite(v))
              fail(`${at}.weights[${o}][${k}]`, `not a finite number`);
          });
        });
        const b = raw.bias;
        if (!Array.isArray(b) || b.length !== w.length)
          fail(`${at}.bias`, `expected ${w.length} numbers (one per output), got ${show(b)}`);
        (b as unknown[]).forEach((v, k) => {
          if (typeof v !== "number" || !Number.isFinite(v)) fail(`${at}.bias[${k}]`, `not a finite number`);
        });
        layers.push({ type: "dense", weights: w as number[][], bias: b as number[] });
        width = w.length;
        break;
      }
      case "relu":
        layers.push({ type: "relu" });
        break;
      case "sigmoid":
        // its output reaches 1.0 = 2^fracBits and it saturates at |x| = 5: both must be values
        if ((q.valueBits as number) < (q.fracBits as number) + 4)
          fail(at, "sigmoid needs quantization.valueBits ≥ fracBits + 4");
        layers.push({ type: "sigmoid" });
        break;
      case "argmax":
        if (width < 2) fail(at, "argmax needs at least two inputs");
        layers.push({ type: "argmax" });
        width = 1;
        break;
      default:
        fail(`${at}.type`, `unknown layer type ${show(raw.type)}; supported: dense, relu, sigmoid, argmax`);
    }
  });
  if (!layers.some((l) => l.type === "dense")) fail("$.layers", "a model needs at least one dense layer");
  if (json.inputNames !== undefined) {
    const n = json.inputNames;
    if (!Array.isArray(n) || n.length !== inputLength || !n.every((s) => typeof s === "string"))
      fail("$.inputNames", `expected ${inputLength} strings`);
  }
  if (json.classes !== undefined) {
    const c = json.classes;
    const last = layers[layers.length - 1];
    const classCount = layers.filter((l): l is DenseLayer => l.type === "dense").at(-1)!.weights.length;
    if (!Array.isArray(c) || !c.every((s) => typeof s === "string"))
      fail("$.classes", "expected an array of strings");
    if (last.type !== "argmax") fail("$.classes", "class labels need a model that ends in argmax");
    if ((c as string[]).length !== classCount) fail("$.classes", `expected ${classCount} labels`);
  }
  return {
    format: MODEL_FORMAT,
    name: json.name as string,
    description: typeof json.description === "string" ? json.description : undefined,
    inputLength,
    inputNames: json.inputNames as string[] | undefined,
    classes: json.classes as string[] | undefined,
    quantization: {
      fracBits: q.fracBits as number,
      valueBits: q.valueBits as number,
      ...(inputBits === undefined ? {} : { inputBits }),
      ...(weightBits === undefined ? {} : { weightBits }),
      ...(q.weights === undefined ? {} : { weights: q.weights as WeightVisibility }),
    },
    layers,
    metrics: isObject(json.metrics) ? (json.metrics as Record<string, number | string>) : undefined,
  };
}

/** Output length of a model: the width after its last layer. */
export function outputLength(model: Pick<ModelFile, "inputLength" | "layers">): number {
  let width = model.inputLength;
  for (const l of model.layers)
    width = l.type === "dense" ? l.weights.length : l.type === "argmax" ? 1 : width;
  return width;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
function isPosInt(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v) && v > 0;
}
function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
