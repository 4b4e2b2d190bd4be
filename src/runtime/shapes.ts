/**
 * Tensor shapes along a model's layers. A value flows between layers as one flat array;
 * an image-shaped value is `[channels, height, width]` stored channel by channel, row by
 * row (ONNX's NCHW layout without the batch dimension), a vector is `[n]`. Dense and argmax
 * take any shape as its flat array, as ONNX's Flatten followed by Gemm does.
 */

export type Shape = readonly number[];

/** [vertical, horizontal] */
export type Pair = readonly [number, number];
/** zero padding as ONNX orders it: [top, left, bottom, right] */
export type Pads = readonly [number, number, number, number];

export const NO_PADS: Pads = [0, 0, 0, 0];
export const UNIT_STRIDES: Pair = [1, 1];

export function sizeOf(shape: Shape): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** Geometry of one sliding-window layer (conv2d, maxpool, avgpool) on a [c, h, w] input. */
export interface Window {
  inShape: readonly [number, number, number];
  kernel: Pair;
  strides: Pair;
  pads: Pads;
  /** output height and width: floor((in + padBefore + padAfter − kernel) / stride) + 1 (ONNX, ceil_mode 0) */
  outH: number;
  outW: number;
}

/**
 * The window geometry, or a message saying what is wrong with it (a kernel larger than the
 * padded input, a pad as large as the kernel, which would make a window of padding only).
 */
export function windowOf(
  inShape: Shape,
  kernel: Pair,
  strides: Pair = UNIT_STRIDES,
  pads: Pads = NO_PADS,
): Window | string {
  if (inShape.length !== 3)
    return `expects an image-shaped input [channels, height, width], got [${inShape.join(", ")}]`;
  const [, h, w] = inShape;
  const [kh, kw] = kernel;
  const [sh, sw] = strides;
  const [pt, pl, pb, pr] = pads;
  if (![kh, kw, sh, sw].every((v) => Number.isInteger(v) && v >= 1))
    return `kernel [${kernel.join(", ")}] and strides [${strides.join(", ")}] must be positive integers`;
  if (![pt, pl, pb, pr].every((v) => Number.isInteger(v) && v >= 0))
    return `pads [${pads.join(", ")}] must be non-negative integers`;
  if (pt >= kh || pb >= kh || pl >= kw || pr >= kw)
    return `pads [${pads.join(", ")}] must be smaller than the kernel [${kernel.join(", ")}]`;
  if (h + pt + pb < kh || w + pl + pr < kw)
    return `kernel [${kernel.join(", ")}] is larger than the padded ${h + pt + pb}×${w + pl + pr} input`;
  const outH = Math.floor((h + pt + pb - kh) / sh) + 1;
  const outW = Math.floor((w + pl + pr - kw) / sw) + 1;
  return { inShape: [inShape[0], h, w], kernel, strides, pads, outH, outW };
}

/**
 * The input positions a window reads: for output (oy, ox), every (ky, kx) of the kernel
 * whose input row iy = oy·sh − top + ky and column ix = ox·sw − left + kx fall inside the
 * image (padding contributes nothing). `at` is the flat offset of (iy, ix) in one channel.
 */
export function windowTaps(g: Window, oy: number, ox: number): { ky: number; kx: number; at: number }[] {
  const [, h, w] = g.inShape;
  const taps: { ky: number; kx: number; at: number }[] = [];
  for (let ky = 0; ky < g.kernel[0]; ky++) {
    const iy = oy * g.strides[0] - g.pads[0] + ky;
    if (iy < 0 || iy >= h) continue;
    for (let kx = 0; kx < g.kernel[1]; kx++) {
      const ix = ox * g.strides[1] - g.pads[1] + kx;
      if (ix < 0 || ix >= w) continue;
      taps.push({ ky, kx, at: iy * w + ix });
    }
  }
  return taps;
}

/** What the shape of a layer's output depends on: the fields shared by float and quantized layers. */
export interface LayerGeometry {
  type: string;
  /** dense: [out][in]; conv2d: [outC][inC][kh][kw] */
  weights?: readonly (readonly unknown[])[];
  kernel?: Pair;
  strides?: Pair;
  pads?: Pads;
  from?: number;
}

/** The kernel of a conv2d layer, from its weights [outC][inC][kh][kw]. */
export function convKernel(weights: readonly (readonly unknown[])[]): Pair {
  const k = weights[0][0] as readonly (readonly unknown[])[];
  return [k.length, k[0].length];
}

/**
 * The shape of a layer's output given its input's, or a message saying why the layer cannot
 * take that input. `earlier[k]` is layer k's output shape and `input` the model's (for add).
 */
export function layerOutputShape(
  layer: LayerGeometry,
  inShape: Shape,
  earlier: readonly Shape[],
  input: Shape,
): Shape | string {
  switch (layer.type) {
    case "dense":
      return [layer.weights!.length];
    case "argmax":
      return [1];
    case "conv2d": {
      const w = layer.weights!;
      const inC = (w[0] as readonly unknown[]).length;
      if (inShape.length === 3 && inShape[0] !== inC)
        return `has ${inC} input channels but its input is [${inShape.join(", ")}]`;
      const g = windowOf(inShape, convKernel(w), layer.strides, layer.pads);
      return typeof g === "string" ? g : [w.length, g.outH, g.outW];
    }
    case "maxpool":
    case "avgpool": {
      const g = windowOf(inShape, layer.kernel!, layer.strides, layer.pads);
      return typeof g === "string" ? g : [inShape[0], g.outH, g.outW];
    }
    case "globalavgpool":
      return inShape.length === 3
        ? [inShape[0], 1, 1]
        : `expects an image-shaped input [channels, height, width], got [${inShape.join(", ")}]`;
    case "add": {
      const from = layer.from!;
      const other = from === -1 ? input : earlier[from];
      if (other === undefined) return `adds layer ${from}, which does not come before it`;
      if (other.join() !== inShape.join())
        return `adds ${from === -1 ? "the input" : `layer ${from}`}'s [${other.join(", ")}] to a [${inShape.join(", ")}] tensor; the shapes must be equal`;
      return inShape;
    }
    default:
      // element-wise: relu, sigmoid, tanh
      return inShape;
  }
}

/** The geometry of a conv2d or pooling layer on its input (valid: layerOutputShape checked it). */
export function layerWindow(layer: LayerGeometry, inShape: Shape): Window {
  const kernel = layer.type === "conv2d" ? convKernel(layer.weights!) : layer.kernel!;
  return windowOf(inShape, kernel, layer.strides ?? UNIT_STRIDES, layer.pads ?? NO_PADS) as Window;
}

/** A tap of a window: its kernel position and its flat offset within one channel of the input. */
export type Tap = { ky: number; kx: number; at: number };

/**
 * One value per output of a sliding-window layer, in output order (channel, row, column):
 * `value(c, taps)` gets the output channel and the window's taps inside the image. The input's
 * channel `ic` starts at `ic · plane` of the flat input.
 */
export function mapWindows<T>(
  g: Window,
  channels: number,
  value: (c: number, taps: readonly Tap[], plane: number) => T,
): T[] {
  const plane = g.inShape[1] * g.inShape[2];
  const out: T[] = [];
  for (let c = 0; c < channels; c++)
    for (let oy = 0; oy < g.outH; oy++)
      for (let ox = 0; ox < g.outW; ox++) out.push(value(c, windowTaps(g, oy, ox), plane));
  return out;
}
