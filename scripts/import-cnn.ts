/**
 * The second half of `npm run train:cnn`: imports models/mnist_cnn/model.onnx (written by
 * scripts/train-cnn.ts) the way a user imports their own ONNX model, quantizes it, checks that
 * no training digit overflows the circuit's ranges, measures float and quantized accuracy on the
 * 2,000 held-out digits, and writes models/mnist_cnn/model.json.
 *
 *   npx tsx scripts/import-cnn.ts     (after scripts/train-cnn.ts; `npm run train:cnn` runs both)
 *
 * The quantization is chosen for the circuit's size: at 2^-5 with 12-bit values and 7-bit pixels
 * the network's 30k constraints fit a 2^15 domain (a proof in about 3 s on 2 cores), and the
 * quantized model agrees with the float one on the held-out digits (see its metrics).
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { datasetByName, split } from "../src/data/index.js";
import { checkQuantization } from "../src/model/calibrate.js";
import { runFloat } from "../src/model/float.js";
import { importOnnx } from "../src/model/onnx.js";
import { quantizeInput, quantizeModel } from "../src/model/quantize.js";
import { type ModelFile, parseModel } from "../src/model/schema.js";
import { runQuantized } from "../src/runtime/fixed.js";

/** The split of scripts/train-cnn.ts and scripts/train-mnist.ts: the same 2,000 held-out digits. */
const SEED = 7;
const TEST_FRACTION = 0.2;
const QUANTIZATION = { fracBits: 5, valueBits: 12, inputBits: 7 };
const DIR = join(import.meta.dirname, "..", "models", "mnist_cnn");

function main(): void {
  const onnxPath = join(DIR, "model.onnx");
  const training = JSON.parse(readFileSync(join(DIR, "training.json"), "utf8")) as {
    layers: string;
    floatTrainAccuracy?: number;
  };
  const data = datasetByName("mnist28");
  const { train, test } = split(data, TEST_FRACTION, SEED);
  const imported = importOnnx(onnxPath, { name: "mnist_cnn", quantization: QUANTIZATION });
  const model: ModelFile = parseModel({
    ...imported,
    description:
      `convolutional network on full-resolution 28×28 MNIST digits (${training.layers}; batch norm ` +
      `folded into the convolution at import), trained with TensorFlow.js and exported to ONNX by ` +
      `scripts/train-cnn.ts; inputs are pixel intensities in [0, 1], row by row, 0 = background; ` +
      `output is the digit`,
    classes: data.classes,
  });

  // every training digit must fit the circuit's ranges (the circuit has no witness otherwise)
  const calibration = checkQuantization(model, train.inputs);
  const q = quantizeModel(model);
  const accuracy = (predict: (x: number[]) => number) =>
    test.inputs.filter((x, i) => predict(x) === test.labels[i]).length / test.inputs.length;
  model.metrics = {
    seed: SEED,
    dataset: "mnist28",
    trainSamples: train.inputs.length,
    testSamples: test.inputs.length,
    ...(training.floatTrainAccuracy === undefined ? {} : { floatTrainAccuracy: training.floatTrainAccuracy }),
    floatTestAccuracy: accuracy((x) => runFloat(model, x)[0]),
    quantizedTestAccuracy: accuracy((x) => Number(runQuantized(q, quantizeInput(q, x)).output[0])),
    largestSafeFracBits: calibration.maxSafeFracBits,
    onnxSha256: createHash("sha256").update(readFileSync(onnxPath)).digest("hex"),
  };
  const out = join(DIR, "model.json");
  writeFileSync(out, JSON.stringify(model, null, 1) + "\n");
  console.log(`wrote ${out}`);
  console.table(model.metrics);
}

main();
