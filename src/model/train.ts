import { prng, shuffled } from "../data/random.js";
import type { DenseLayer, Layer } from "./schema.js";

/**
 * A small, deterministic MLP trainer (dense + ReLU, softmax cross-entropy, Adam) for the
 * example models. By default it standardizes features while training and folds the
 * standardization into the first layer, so the trained model takes raw feature values.
 */

export interface TrainOptions {
  hidden: number[];
  epochs: number;
  learningRate: number;
  batchSize: number;
  seed: number;
  /**
   * Standardize each feature to mean 0, variance 1 while training (default true). Turn it
   * off for features that already share one scale, such as pixels in [0, 1]: folding
   * x / σ into the first layer turns the weights of a (near-)constant feature into huge
   * numbers that no longer fit the fixed-point range.
   */
  standardize?: boolean;
  /** called once per `logEvery` epochs with the training loss */
  onEpoch?: (epoch: number, loss: number) => void;
  logEvery?: number;
}

interface Param {
  w: number[][];
  b: number[];
  mw: number[][];
  vw: number[][];
  mb: number[];
  vb: number[];
}

export function trainClassifier(xs: number[][], ys: number[], classes: number, opts: TrainOptions): Layer[] {
  const rand = prng(opts.seed);
  const n = xs[0].length;
  const standardize = opts.standardize ?? true;
  const mean = Array.from({ length: n }, (_, j) => xs.reduce((s, x) => s + x[j], 0) / xs.length);
  const std = Array.from({ length: n }, (_, j) =>
    Math.max(1e-6, Math.sqrt(xs.reduce((s, x) => s + (x[j] - mean[j]) ** 2, 0) / xs.length)),
  );
  const norm = standardize ? xs.map((x) => x.map((v, j) => (v - mean[j]) / std[j])) : xs;

  const widths = [n, ...opts.hidden, classes];
  const params: Param[] = [];
  for (let l = 0; l + 1 < widths.length; l++) {
    const [fi, fo] = [widths[l], widths[l + 1]];
    const s = Math.sqrt(2 / fi);
    const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
    params.push({
      w: Array.from({ length: fo }, () => Array.from({ length: fi }, () => gauss() * s)),
      b: new Array(fo).fill(0),
      mw: Array.from({ length: fo }, () => new Array(fi).fill(0)),
      vw: Array.from({ length: fo }, () => new Array(fi).fill(0)),
      mb: new Array(fo).fill(0),
      vb: new Array(fo).fill(0),
    });
  }

  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  let step = 0;
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    const order = shuffled(
      norm.map((_, i) => i),
      rand,
    );
    let lossSum = 0;
    for (let start = 0; start < order.length; start += opts.batchSize) {
      const batch = order.slice(start, start + opts.batchSize);
      const gw = params.map((p) => p.w.map((r) => r.map(() => 0)));
      const gb = params.map((p) => p.b.map(() => 0));
      for (const idx of batch) {
        // forward, keeping every layer's input
        const acts: number[][] = [norm[idx]];
        params.forEach((p, l) => {
          const x = acts[l];
          const z = p.w.map((row, o) => row.reduce((s, w, i) => s + w * x[i], p.b[o]));
          acts.push(l + 1 < params.length ? z.map((v) => Math.max(0, v)) : z);
        });
        const logits = acts[acts.length - 1];
        const m = Math.max(...logits);
        const exps = logits.map((v) => Math.exp(v - m));
        const sum = exps.reduce((a, b) => a + b, 0);
        const probs = exps.map((e) => e / sum);
        lossSum += -Math.log(probs[ys[idx]] + 1e-12);
        // backward
        let delta = probs.map((p, k) => p - (k === ys[idx] ? 1 : 0));
        for (let l = params.length - 1; l >= 0; l--) {
          const x = acts[l];
          const p = params[l];
          delta.forEach((d, o) => {
            gb[l][o] += d;
            for (let i = 0; i < x.length; i++) gw[l][o][i] += d * x[i];
          });
          if (l > 0) {
            delta = x.map((xi, i) => (xi > 0 ? delta.reduce((s, d, o) => s + d * p.w[o][i], 0) : 0));
          }
        }
      }
      step++;
      const lr = (opts.learningRate * Math.sqrt(1 - beta2 ** step)) / (1 - beta1 ** step);
      params.forEach((p, l) => {
        p.w.forEach((row, o) =>
          row.forEach((_, i) => {
            const g = gw[l][o][i] / batch.length;
            p.mw[o][i] = beta1 * p.mw[o][i] + (1 - beta1) * g;
            p.vw[o][i] = beta2 * p.vw[o][i] + (1 - beta2) * g * g;
            row[i] -= (lr * p.mw[o][i]) / (Math.sqrt(p.vw[o][i]) + eps);
          }),
        );
        p.b.forEach((_, o) => {
          const g = gb[l][o] / batch.length;
          p.mb[o] = beta1 * p.mb[o] + (1 - beta1) * g;
          p.vb[o] = beta2 * p.vb[o] + (1 - beta2) * g * g;
          p.b[o] -= (lr * p.mb[o]) / (Math.sqrt(p.vb[o]) + eps);
        });
      });
    }
    if (opts.onEpoch && epoch % (opts.logEvery ?? 50) === 0) opts.onEpoch(epoch, lossSum / order.length);
  }

  // Fold the standardization into the first layer: w·((x−μ)/σ) + b = (w/σ)·x + (b − Σ w·μ/σ).
  const first = params[0];
  const foldedW = first.w.map((row) => row.map((w, i) => w / std[i]));
  const foldedB = first.b.map((b, o) => b - first.w[o].reduce((s, w, i) => s + (w * mean[i]) / std[i], 0));
  const layers: Layer[] = [];
  params.forEach((p, l) => {
    const dense: DenseLayer =
      l === 0 && standardize
        ? { type: "dense", weights: foldedW, bias: foldedB }
        : { type: "dense", weights: p.w, bias: p.b };
    layers.push(dense);
    if (l + 1 < params.length) layers.push({ type: "relu" });
  });
  layers.push({ type: "argmax" });
  return layers;
}
