/**
 * The TensorFlow.js set-up of scripts/train-cnn.ts: the pure-JavaScript CPU backend, two of
 * its kernels replaced by faster ones that compute the same float32 values (checked bit for
 * bit when they are installed), and Math.random made to throw so that every random draw
 * comes from a seed.
 */
import * as tf from "@tensorflow/tfjs-core";
// The side-effect import registers the "cpu" backend; the named one is only a type.
import "@tensorflow/tfjs-backend-cpu";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";

/**
 * Selects the CPU backend, replaces two of its kernels with faster equivalents (their check
 * draws its test tensors from `seed`), and makes Math.random throw from here on: every random
 * draw must come from a seed.
 */
export async function setUpTfjs(seed: number): Promise<void> {
  // Silences the hint to install the native backend: the pure-JavaScript one is the point.
  tf.enableProdMode();
  await tf.setBackend("cpu");
  installFastKernels(seed);
  Math.random = () => {
    throw new Error("Math.random was called: training must draw from seeded generators only");
  };
}

/**
 * The CPU backend's Conv2DBackpropFilter reads every element through TensorBuffer.get, and
 * its broadcasting Add/Sub/Multiply/RealDiv map every output index to coordinates and back;
 * together they took two thirds of a training step. The replacements below compute the same
 * float32 values by flat indexing, in the same order (checked bit for bit against the
 * originals here, before they are used), about 2.5× faster in all.
 */
function installFastKernels(seed: number): void {
  const random = (shape: number[], k: number) => tf.randomUniform(shape, 0.5, 1.5, "float32", seed + k);
  const x = random([3, 11, 11, 2], 0);
  const filter = random([5, 5, 2, 3], 1) as tf.Tensor4D;
  const [perChannel, perImage, vector] = [random([1, 1, 1, 2], 2), random([3, 1, 1, 2], 3), random([2], 4)];
  const check = () => [
    tf.grad((k) => tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 3, "valid"))))(filter),
    tf.mul(x, perChannel),
    tf.sub(vector, x),
    tf.add(x, tf.scalar(0.25)),
    tf.div(perImage, x),
  ];
  const expected = check().map((t) => t.dataSync().slice());

  replaceKernel("Conv2DBackpropFilter", conv2dBackpropFilter);
  for (const [name, op] of Object.entries(BINARY_OPS)) replaceKernel(name, broadcastBinary(op));

  const actual = check().map((t) => t.dataSync());
  expected.forEach((e, k) => {
    if (e.length !== actual[k].length || e.some((v, i) => !Object.is(v, actual[k][i])))
      throw new Error(
        `fast CPU kernel ${k} differs from tfjs's own; remove installFastKernels and report it`,
      );
  });
}

const BINARY_OPS: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Multiply: (a, b) => a * b,
  RealDiv: (a, b) => a / b,
};

function replaceKernel(name: string, make: (original: tf.KernelFunc) => tf.KernelFunc): void {
  const original = tf.getKernel(name, "cpu");
  if (!original) throw new Error(`tfjs's CPU backend has no ${name} kernel to replace`);
  tf.unregisterKernel(name, "cpu");
  tf.registerKernel({ kernelName: name, backendName: "cpu", kernelFunc: make(original.kernelFunc) });
}

function valuesOf(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

/** dW[r, c, i, o] = Σ_b Σ_y Σ_x x[b, y·s + r − pad, x·s + c − pad, i] · dy[b, y, x, o], NHWC only. */
function conv2dBackpropFilter(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
      args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      tf.backend_util.convertConv2DDataFormat(dataFormat),
    );
    if (info.dataFormat !== "channelsLast" || x.dtype !== "float32") return original(args);
    const backend = args.backend as MathBackendCPU;
    const xv = valuesOf(backend, x);
    const dyv = valuesOf(backend, dy);
    const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
    const { inHeight, inWidth, inChannels: ci, outHeight, outWidth, outChannels: co, batchSize } = info;
    const { top, left } = info.padInfo;
    const dW = new Float32Array(fh * fw * ci * co);
    // the loop order of tfjs's kernel, so the sums round identically
    for (let r = 0; r < fh; r++) {
      const yMin = Math.max(0, Math.ceil((top - r) / sh));
      const yMax = Math.min(outHeight, (inHeight + top - r) / sh);
      for (let c = 0; c < fw; c++) {
        const xMin = Math.max(0, Math.ceil((left - c) / sw));
        const xMax = Math.min(outWidth, (inWidth + left - c) / sw);
        for (let i = 0; i < ci; i++)
          for (let o = 0; o < co; o++) {
            let sum = 0;
            for (let b = 0; b < batchSize; b++)
              for (let y = yMin; y < yMax; y++) {
                const row = (b * inHeight + y * sh + r - top) * inWidth;
                const dRow = (b * outHeight + y) * outWidth;
                for (let xo = xMin; xo < xMax; xo++)
                  sum += xv[(row + xo * sw + c - left) * ci + i] * dyv[(dRow + xo) * co + o];
              }
            dW[((r * fw + c) * ci + i) * co + o] = sum;
          }
      }
    }
    return backend.makeTensorInfo([fh, fw, ci, co], "float32", dW);
  };
}

/** A float32 elementwise op with numpy broadcasting; same-shape and other dtypes go to tfjs's kernel. */
function broadcastBinary(op: (a: number, b: number) => number) {
  return (original: tf.KernelFunc): tf.KernelFunc =>
    (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (a.dtype !== "float32" || b.dtype !== "float32" || tf.util.arraysEqual(a.shape, b.shape))
        return original(args);
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const rank = shape.length;
      // element strides in the output's coordinates; 0 along a broadcast dimension
      const stridesOf = (s: readonly number[]) => {
        const out = new Array<number>(rank).fill(0);
        for (let k = s.length - 1, step = 1; k >= 0; step *= s[k], k--)
          if (s[k] !== 1) out[rank - s.length + k] = step;
        return out;
      };
      const [sa, sb] = [stridesOf(a.shape), stridesOf(b.shape)];
      const backend = args.backend as MathBackendCPU;
      const [av, bv] = [valuesOf(backend, a), valuesOf(backend, b)];
      const size = shape.reduce((p, d) => p * d, 1);
      const out = new Float32Array(size);
      if (size === 0) return backend.makeTensorInfo(shape, "float32", out);
      const last = rank - 1;
      const [n, la, lb] = [shape[last], sa[last], sb[last]];
      const at = new Array<number>(rank).fill(0);
      for (let o = 0, ia = 0, ib = 0; o < size; o += n) {
        for (let j = 0; j < n; j++) out[o + j] = op(av[ia + j * la], bv[ib + j * lb]);
        // advance the odometer over all but the last dimension
        for (let d = last - 1; d >= 0; d--) {
          ia += sa[d];
          ib += sb[d];
          if (++at[d] < shape[d]) break;
          ia -= sa[d] * shape[d];
          ib -= sb[d] * shape[d];
          at[d] = 0;
        }
      }
      return backend.makeTensorInfo(shape, "float32", out);
    };
}
