import { readFileSync } from "node:fs";

import { ModelFormatError } from "../errors.js";
import { layerOutputShape, type Pads, type Pair, type Shape, sizeOf } from "../runtime/shapes.js";

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
/** 2-D convolution (groups 1, dilation 1) of a [inC, h, w] input; ONNX Conv, PyTorch Conv2d */
export interface Conv2dLayer {
  type: "conv2d";
  /** weights[outC][inC][kh][kw], the layout of ONNX Conv and PyTorch Conv2d */
  weights: number[][][][];
  /** bias[outC] */
  bias: number[];
  /** [vertical, horizontal] step, default [1, 1] */
  strides?: Pair;
  /** zero padding [top, left, bottom, right] (ONNX's order), default none */
  pads?: Pads;
}
/** the largest value of each window, per channel; padding takes no part */
export interface MaxPoolLayer {
  type: "maxpool";
  kernel: Pair;
  /** default [1, 1], as in ONNX */
  strides?: Pair;
  pads?: Pads;
}
/** the mean of each window, per channel, rounded down in fixed point */
export interface AvgPoolLayer {
  type: "avgpool";
  kernel: Pair;
  strides?: Pair;
  pads?: Pads;
  /** divide by the whole kernel's size even where it overlaps padding (ONNX count_include_pad); default false */
  countIncludePad?: boolean;
}
/** the mean of each channel: [c, h, w] → [c, 1, 1] */
export interface GlobalAvgPoolLayer {
  type: "globalavgpool";
}
/** adds the output of an earlier layer (`from`: its index, or −1 for the model's input): a residual connection */
export interface AddLayer {
  type: "add";
  from: number;
}
/** element-wise tanh, computed as 2·sigmoid(2x) − 1 with the piecewise-linear sigmoid (docs/protocol.md) */
export interface TanhLayer {
  type: "tanh";
}
export type Layer =
  | DenseLayer
  | ReluLayer
  | SigmoidLayer
  | ArgmaxLayer
  | Conv2dLayer
  | MaxPoolLayer
  | AvgPoolLayer
  | GlobalAvgPoolLayer
  | AddLayer
  | TanhLayer;

/** The layer types of sibyl-model/1, as listed in errors. */
export const LAYER_TYPES = [
  "dense",
  "conv2d",
  "relu",
  "sigmoid",
  "tanh",
  "maxpool",
  "avgpool",
  "globalavgpool",
  "add",
  "argmax",
] as const;

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
  /** [channels, height, width] for an image (inputLength = their product), flattened channel by channel, row by row */
  inputShape?: number[];
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
  try {
    return parseChecked(json);
  } catch (e) {
    if (!(e instanceof SchemaPathError)) throw e;
    throw new ModelFormatError(
      `${source}: ${e.where}: ${e.what}`,
      "see docs/model-format.md for the sibyl-model/1 format",
    );
  }
}

function parseChecked(json: unknown): ModelFile {
  const fail = (where: string, what: string): never => {
    throw schemaError(where, what);
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

  let inputShape: number[] | undefined;
  if (json.inputShape !== undefined) {
    const sh = json.inputShape;
    if (!Array.isArray(sh) || sh.length !== 3 || !sh.every(isPosInt))
      fail("$.inputShape", `expected [channels, height, width] (positive integers), got ${show(sh)}`);
    if (sizeOf(sh as number[]) !== inputLength)
      fail(
        "$.inputShape",
        `[${(sh as number[]).join(", ")}] holds ${sizeOf(sh as number[])} values; inputLength is ${inputLength}`,
      );
    inputShape = sh as number[];
  }
  const modelInput: Shape = inputShape ?? [inputLength];

  if (!Array.isArray(json.layers) || json.layers.length === 0)
    return fail("$.layers", "expected a non-empty array");
  let shape: Shape = modelInput;
  const shapes: Shape[] = [];
  const layers: Layer[] = [];
  const finite = (v: unknown, where: string) => {
    if (typeof v !== "number" || !Number.isFinite(v)) fail(where, "not a finite number");
  };
  json.layers.forEach((raw: unknown, i: number) => {
    const at = `$.layers[${i}]`;
    if (!isObject(raw)) return fail(at, "expected an object");
    if (i > 0 && layers[i - 1].type === "argmax") fail(at, "argmax must be the last layer");
    let layer: Layer;
    switch (raw.type) {
      case "dense": {
        const width = sizeOf(shape);
        const w = raw.weights;
        if (!Array.isArray(w) || w.length === 0)
          return fail(`${at}.weights`, "expected a non-empty [out][in] array");
        w.forEach((row: unknown, o: number) => {
          if (!Array.isArray(row) || row.length !== width)
            fail(
              `${at}.weights[${o}]`,
              `expected ${width} numbers (the layer's input width), got ${show(row)}`,
            );
          (row as unknown[]).forEach((v, k) => finite(v, `${at}.weights[${o}][${k}]`));
        });
        layer = { type: "dense", weights: w as number[][], bias: biasOf(raw.bias, w.length, at) };
        break;
      }
      case "conv2d": {
        const w = raw.weights;
        const inC = shape.length === 3 ? shape[0] : undefined;
        const k0 =
          Array.isArray(w) && Array.isArray(w[0]) && Array.isArray(w[0][0]) ? (w[0][0] as unknown[]) : [];
        const [kh, kw] = [k0.length, Array.isArray(k0[0]) ? (k0[0] as unknown[]).length : 0];
        if (!Array.isArray(w) || w.length === 0 || kh === 0 || kw === 0)
          return fail(`${at}.weights`, "expected a non-empty [outC][inC][kh][kw] array");
        w.forEach((oc: unknown, o: number) => {
          if (!Array.isArray(oc) || (inC !== undefined && oc.length !== inC))
            fail(
              `${at}.weights[${o}]`,
              `expected ${inC ?? "inC"} input channels (the input is [${shape.join(", ")}])`,
            );
          (oc as unknown[]).forEach((ic, c) => {
            if (!Array.isArray(ic) || ic.length !== kh)
              fail(`${at}.weights[${o}][${c}]`, `expected ${kh} kernel rows`);
            (ic as unknown[]).forEach((row, y) => {
              if (!Array.isArray(row) || row.length !== kw)
                fail(`${at}.weights[${o}][${c}][${y}]`, `expected ${kw} kernel columns`);
              (row as unknown[]).forEach((v, x) => finite(v, `${at}.weights[${o}][${c}][${y}][${x}]`));
            });
          });
        });
        layer = {
          type: "conv2d",
          weights: w as number[][][][],
          bias: biasOf(raw.bias, w.length, at),
          ...windowFields(raw, at),
        };
        break;
      }
      case "maxpool":
      case "avgpool": {
        const kernel = pairOf(raw.kernel, `${at}.kernel`);
        const common = { kernel, ...windowFields(raw, at) };
        if (raw.type === "maxpool") layer = { type: "maxpool", ...common };
        else {
          if (raw.countIncludePad !== undefined && typeof raw.countIncludePad !== "boolean")
            fail(`${at}.countIncludePad`, `expected true or false, got ${show(raw.countIncludePad)}`);
          layer = {
            type: "avgpool",
            ...common,
            ...(raw.countIncludePad === undefined ? {} : { countIncludePad: raw.countIncludePad as boolean }),
          };
        }
        break;
      }
      case "add":
        if (!Number.isInteger(raw.from) || (raw.from as number) < -1 || (raw.from as number) >= i)
          fail(
            `${at}.from`,
            `expected the index of an earlier layer (0..${i - 1}) or -1 for the input, got ${show(raw.from)}`,
          );
        layer = { type: "add", from: raw.from as number };
        break;
      case "relu":
      case "globalavgpool":
      case "argmax":
        layer = { type: raw.type };
        break;
      case "sigmoid":
      case "tanh":
        // its output reaches ±1.0 = 2^fracBits and it saturates at |x| = 5: both must be values
        if ((q.valueBits as number) < (q.fracBits as number) + 4)
          fail(at, `${raw.type} needs quantization.valueBits ≥ fracBits + 4`);
        layer = { type: raw.type };
        break;
      default:
        return fail(
          `${at}.type`,
          `unknown layer type ${show(raw.type)}; supported: ${LAYER_TYPES.join(", ")}`,
        );
    }
    if (layer.type === "argmax" && sizeOf(shape) < 2) fail(at, "argmax needs at least two inputs");
    const next = layerOutputShape(layer, shape, shapes, modelInput);
    if (typeof next === "string") fail(at, `${layer.type} ${next}`);
    layers.push(layer);
    shapes.push(next as Shape);
    shape = next as Shape;
  });
  if (!layers.some((l) => l.type === "dense" || l.type === "conv2d"))
    fail("$.layers", "a model needs at least one dense or conv2d layer");
  if (json.inputNames !== undefined) {
    const n = json.inputNames;
    if (!Array.isArray(n) || n.length !== inputLength || !n.every((s) => typeof s === "string"))
      fail("$.inputNames", `expected ${inputLength} strings`);
  }
  if (json.classes !== undefined) {
    const c = json.classes;
    const last = layers[layers.length - 1];
    const classCount = shapes.length > 1 ? sizeOf(shapes[shapes.length - 2]) : 0;
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
    ...(inputShape ? { inputShape } : {}),
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

/** The shape of every layer's output, in order (shapes.ts); the model must be valid. */
export function modelShapes(model: Pick<ModelFile, "inputLength" | "inputShape" | "layers">): Shape[] {
  const input: Shape = model.inputShape ?? [model.inputLength];
  const shapes: Shape[] = [];
  let shape = input;
  for (const l of model.layers) {
    const next = layerOutputShape(l, shape, shapes, input);
    if (typeof next === "string") throw new ModelFormatError(`${l.type} ${next}`);
    shapes.push(next);
    shape = next;
  }
  return shapes;
}

/** Output length of a model: the size of its last layer's output. */
export function outputLength(model: Pick<ModelFile, "inputLength" | "inputShape" | "layers">): number {
  return sizeOf(modelShapes(model).at(-1)!);
}

/** A bias vector of `n` finite numbers. */
function biasOf(b: unknown, n: number, at: string): number[] {
  if (!Array.isArray(b) || b.length !== n)
    throw schemaError(`${at}.bias`, `expected ${n} numbers (one per output), got ${show(b)}`);
  b.forEach((v, k) => {
    if (typeof v !== "number" || !Number.isFinite(v))
      throw schemaError(`${at}.bias[${k}]`, "not a finite number");
  });
  return b as number[];
}

function pairOf(v: unknown, where: string): Pair {
  if (!Array.isArray(v) || v.length !== 2 || !v.every(isPosInt))
    throw schemaError(where, `expected [vertical, horizontal] positive integers, got ${show(v)}`);
  return [v[0] as number, v[1] as number];
}

/** strides and pads of a conv2d or pooling layer, checked; absent fields stay absent. */
function windowFields(raw: Record<string, unknown>, at: string): { strides?: Pair; pads?: Pads } {
  const out: { strides?: Pair; pads?: Pads } = {};
  if (raw.strides !== undefined) out.strides = pairOf(raw.strides, `${at}.strides`);
  if (raw.pads !== undefined) {
    const p = raw.pads;
    if (!Array.isArray(p) || p.length !== 4 || !p.every((v) => Number.isInteger(v) && (v as number) >= 0))
      throw schemaError(
        `${at}.pads`,
        `expected [top, left, bottom, right] non-negative integers, got ${show(p)}`,
      );
    out.pads = [p[0], p[1], p[2], p[3]] as Pads;
  }
  return out;
}

/** A problem at a JSON path; parseModel adds the source's name. */
function schemaError(where: string, what: string): ModelFormatError {
  return new SchemaPathError(where, what);
}

class SchemaPathError extends ModelFormatError {
  constructor(
    readonly where: string,
    readonly what: string,
  ) {
    super(`${where}: ${what}`, "see docs/model-format.md for the sibyl-model/1 format");
  }
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
