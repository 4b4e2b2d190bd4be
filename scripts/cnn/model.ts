/**
 * The tfjs side of scripts/train-cnn.ts: builds a candidate (architectures.ts) as a
 * tfjs-layers model, trains it (Adam on a cosine schedule, shifted digits) and reads it back:
 * logits, accuracy, the largest activation of every layer.
 *
 * Deterministic: initializers are seeded and batches are shuffled and shifted with the repo's
 * prng, from the seed the caller passes.
 */
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";

import { type Dataset, MNIST_SIDE } from "../../src/data/index.js";
import { prng, shuffled } from "../../src/data/random.js";
import { type Block, CLASSES } from "./architectures.js";

export const BATCH_SIZE = 64;
/** Adam's step size, decayed along a half cosine to LR_END over the epochs */
export const LR_START = 0.003;
export const LR_END = 0.0001;
/** training digits are shifted by up to this many pixels each way, afresh every epoch */
export const MAX_SHIFT = 1;
/** tfjs's default; written into the ONNX BatchNormalization nodes */
export const BN_EPSILON = 0.001;

/** Adam whose step size can be changed between epochs (tfjs's keeps it protected). */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }
}

/**
 * Layer names: `conv<k>`, `bn<k>`, `relu<k>`, `pool<k>`, `fc<k>` (k = block number), `logits`.
 * Block k's kernel initializer is seeded with seed·1000 + k, the last layer's with seed·1000.
 */
export function buildModel(blocks: readonly Block[], seed: number): tfl.Sequential {
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
          kernelInitializer: tfl.initializers.heNormal({ seed: seed * 1000 + k }),
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
          kernelInitializer: tfl.initializers.heNormal({ seed: seed * 1000 + k }),
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
      kernelInitializer: tfl.initializers.glorotUniform({ seed: seed * 1000 }),
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
 * Trains for `epochs` on shuffled, shifted copies of `train` (both drawn from prng(seed)),
 * scoring `test` after each;
 * returns the seconds spent, on the wall clock and of CPU (the backend is single-threaded,
 * so CPU time is the figure that does not depend on what else the machine runs).
 */
export async function fit(
  model: tfl.Sequential,
  epochs: number,
  seed: number,
  train: Dataset,
  test: Dataset,
  testLabel: string,
): Promise<{ wall: number; cpu: number }> {
  const optimizer = model.optimizer as ScheduledAdam;
  const rand = prng(seed);
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
export function predictLogits(model: tfl.LayersModel, inputs: readonly number[][]): Float32Array {
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
export function accuracy(logits: Float32Array, labels: readonly number[]): number {
  return labels.filter((y, i) => argmax(logits, i) === y).length / labels.length;
}

export function argmax(logits: Float32Array, row: number): number {
  let best = 0;
  for (let j = 1; j < CLASSES; j++) if (logits[row * CLASSES + j] > logits[row * CLASSES + best]) best = j;
  return best;
}

/** Largest |value| of every layer's output over `inputs`, in inference mode. */
export function maxActivations(model: tfl.Sequential, inputs: readonly number[][]): Record<string, number> {
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

export function percent(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

export function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
