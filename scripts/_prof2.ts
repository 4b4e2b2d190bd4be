import * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-cpu";
import * as tfl from "@tensorflow/tfjs-layers";
await tf.setBackend("cpu");
const original = tf.getKernel("Conv2DBackpropFilter", "cpu")!;
tf.unregisterKernel("Conv2DBackpropFilter", "cpu");
tf.registerKernel({ kernelName: "Conv2DBackpropFilter", backendName: "cpu", kernelFunc: (args) => {
  const { inputs, backend, attrs } = args as any;
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, false, tf.backend_util.convertConv2DDataFormat(dataFormat));
  const be = backend as MathBackendCPU;
  const xv = be.data.get(x.dataId).values as Float32Array;
  const dyv = be.data.get(dy.dataId).values as Float32Array;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, inHeight, inWidth, inChannels: ci, outHeight, outWidth, outChannels: co, batchSize } = info;
  const top = info.padInfo.top, left = info.padInfo.left;
  const dW = new Float32Array(fh * fw * ci * co);
  for (let wR = 0; wR < fh; ++wR) {
    const yRMin = Math.max(0, Math.ceil((top - wR) / sh));
    const yRMax = Math.min(outHeight, (inHeight + top - wR) / sh);
    for (let wC = 0; wC < fw; ++wC) {
      const yCMin = Math.max(0, Math.ceil((left - wC) / sw));
      const yCMax = Math.min(outWidth, (inWidth + left - wC) / sw);
      for (let d1 = 0; d1 < ci; ++d1) for (let d2 = 0; d2 < co; ++d2) {
        let dot = 0;
        for (let b = 0; b < batchSize; ++b) for (let yR = yRMin; yR < yRMax; ++yR) {
          const xR = wR + yR * sh - top;
          for (let yC = yCMin; yC < yCMax; ++yC) {
            const xC = wC + yC * sw - left;
            dot += xv[((b * inHeight + xR) * inWidth + xC) * ci + d1] * dyv[((b * outHeight + yR) * outWidth + yC) * co + d2];
          }
        }
        dW[((wR * fw + wC) * ci + d1) * co + d2] = dot;
      }
    }
  }
  return be.makeTensorInfo([fh, fw, ci, co], "float32", dW);
}});

function fastBinary(name: string, f: (a: number, b: number) => number) {
  const orig = tf.getKernel(name, "cpu")!;
  tf.unregisterKernel(name, "cpu");
  tf.registerKernel({ kernelName: name, backendName: "cpu", kernelFunc: (args) => {
    const { inputs, backend } = args as any;
    const { a, b } = inputs;
    if (a.dtype !== "float32" || b.dtype !== "float32" || tf.util.arraysEqual(a.shape, b.shape)) return orig.kernelFunc(args);
    const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const rank = shape.length;
    const strides = (s: number[]) => { const st = new Array(rank).fill(0); let acc = 1; for (let k = s.length - 1; k >= 0; k--) { const d = rank - s.length + k; st[d] = s[k] === 1 ? 0 : acc; acc *= s[k]; } return st; };
    const sa = strides(a.shape), sb = strides(b.shape);
    const be = backend as MathBackendCPU;
    const av = be.data.get(a.dataId).values as Float32Array, bv = be.data.get(b.dataId).values as Float32Array;
    const n = shape.reduce((p: number, d: number) => p * d, 1);
    const out = new Float32Array(n);
    const idx = new Array(rank).fill(0);
    let ia = 0, ib = 0;
    const last = rank - 1, L = shape[last], la = sa[last], lb = sb[last];
    for (let o = 0; o < n; o += L) {
      for (let j = 0; j < L; j++) out[o + j] = f(av[ia + j * la], bv[ib + j * lb]);
      for (let d = last - 1; d >= 0; d--) { idx[d]++; ia += sa[d]; ib += sb[d]; if (idx[d] < shape[d]) break; ia -= sa[d] * shape[d]; ib -= sb[d] * shape[d]; idx[d] = 0; }
    }
    return be.makeTensorInfo(shape, "float32", out);
  }});
}
fastBinary("Multiply", (x, y) => x * y);
fastBinary("Sub", (x, y) => x - y);
fastBinary("Add", (x, y) => x + y);
fastBinary("RealDiv", (x, y) => x / y);
const m = tfl.sequential();
m.add(tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, strides: 2, padding: "valid" }));
m.add(tfl.layers.batchNormalization());
m.add(tfl.layers.reLU());
m.add(tfl.layers.conv2d({ filters: 12, kernelSize: 3, strides: 2, padding: "valid" }));
m.add(tfl.layers.batchNormalization());
m.add(tfl.layers.reLU());
m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
m.add(tfl.layers.flatten());
m.add(tfl.layers.dense({ units: 10 }));
m.compile({ optimizer: tf.train.adam(0.003), loss: "categoricalCrossentropy", metrics: ["accuracy"] });
const B = Number(process.argv[2] ?? 64);
const x = tf.randomUniform([B, 28, 28, 1], 0, 1, "float32", 1);
const y = tf.oneHot(tf.randomUniform([B], 0, 10, "int32", 2), 10);
await m.trainOnBatch(x, y);
const info = await tf.profile(async () => { await m.trainOnBatch(x, y); });
const agg = new Map<string, number>();
for (const k of info.kernels) agg.set(k.name, (agg.get(k.name) ?? 0) + (k.kernelTimeMs as number));
console.log([...agg].sort((a, b) => b[1] - a[1]).slice(0, 12));
let t = Date.now();
for (let i = 0; i < 5; i++) await m.trainOnBatch(x, y);
console.log("per batch ms", (Date.now() - t) / 5, "per sample", (Date.now() - t) / 5 / B);
