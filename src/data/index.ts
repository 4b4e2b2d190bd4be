import { SibylError } from "../errors.js";
import { prng, shuffled } from "./random.js";
import { loadIris } from "./iris.js";
import { loadMnist } from "./mnist.js";

/**
 * The data sets the example models are trained on, and a deterministic stratified split.
 * Every loader returns samples in a fixed order, so a seed fixes the split and the model.
 */

export { IRIS_FEATURES, loadIris } from "./iris.js";
export { DEFAULT_MNIST_DOWNSAMPLE, MNIST_SIDE, type MnistOptions, downsample, loadMnist } from "./mnist.js";

/** A labelled classification data set. */
export interface Dataset {
  name: string;
  /** one feature vector per sample, all of the same length */
  inputs: number[][];
  /** `labels[k]` is the class index of `inputs[k]`, an index into `classes` */
  labels: number[];
  classes: string[];
}

/** A train/test partition of a data set. */
export interface DatasetSplit {
  train: Dataset;
  test: Dataset;
  /** positions in the original data set of `train`'s samples, in `train`'s order */
  trainIndices: number[];
  /** positions in the original data set of `test`'s samples, in `test`'s order */
  testIndices: number[];
}

/** A data set is unknown, malformed, or cannot be split as asked. */
export class DatasetError extends SibylError {}

export const DATASET_NAMES = ["iris", "mnist", "mnist28"] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

/**
 * Loads a data set by name: `mnist` with its default 2× downsampling (196 features, the MLPs'
 * input), `mnist28` at full resolution (784 pixels, the CNN's).
 */
export function datasetByName(name: string): Dataset {
  switch (name) {
    case "iris":
      return loadIris();
    case "mnist":
      return loadMnist();
    case "mnist28":
      return { ...loadMnist({ downsample: 1 }), name: "mnist28" };
    default:
      throw new DatasetError(
        `unknown data set ${JSON.stringify(name)}`,
        `use one of: ${DATASET_NAMES.join(", ")}`,
      );
  }
}

/**
 * Stratified split: for each class in `classes` order, the class's sample positions are
 * shuffled with one `prng(seed)` stream shared by all classes, the first
 * `round(count · testFraction)` go to the test set and the rest to the training set.
 * The same data set and seed always give the same split; every sample lands in exactly
 * one part. With Iris, `testFraction = 0.2` and seed 7 this is the split of
 * scripts/train-iris.ts.
 */
export function split(dataset: Dataset, testFraction: number, seed: number): DatasetSplit {
  if (!(testFraction > 0 && testFraction < 1))
    throw new DatasetError(
      `cannot split ${dataset.name}: testFraction must be between 0 and 1 (exclusive), got ${testFraction}`,
      "pass e.g. 0.2 to hold out 20% of every class",
    );
  if (dataset.inputs.length !== dataset.labels.length)
    throw new DatasetError(
      `cannot split ${dataset.name}: ${dataset.inputs.length} inputs but ${dataset.labels.length} labels`,
    );
  const bad = dataset.labels.findIndex((y) => !Number.isInteger(y) || y < 0 || y >= dataset.classes.length);
  if (bad >= 0)
    throw new DatasetError(
      `cannot split ${dataset.name}: label ${dataset.labels[bad]} of sample ${bad} is not a class index`,
      `labels must be integers in 0..${dataset.classes.length - 1} (one per entry of classes)`,
    );

  const rand = prng(seed);
  const trainIndices: number[] = [];
  const testIndices: number[] = [];
  dataset.classes.forEach((_, c) => {
    const idx = shuffled(
      dataset.labels.flatMap((y, i) => (y === c ? [i] : [])),
      rand,
    );
    const cut = Math.round(idx.length * testFraction);
    testIndices.push(...idx.slice(0, cut));
    trainIndices.push(...idx.slice(cut));
  });
  const subset = (ids: number[]): Dataset => ({
    name: dataset.name,
    inputs: ids.map((i) => dataset.inputs[i]),
    labels: ids.map((i) => dataset.labels[i]),
    classes: [...dataset.classes],
  });
  return { train: subset(trainIndices), test: subset(testIndices), trainIndices, testIndices };
}
