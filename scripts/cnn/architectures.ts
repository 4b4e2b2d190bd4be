/**
 * The candidate architectures of scripts/train-cnn.ts and what each costs in the circuit.
 *
 * Every candidate is a chain of blocks (Conv → BatchNormalization → Relu, MaxPool, hidden
 * Gemm → Relu), then Flatten → Gemm(→10) → ArgMax, priced value by value with the measured
 * per-value costs of the circuit templates (CONSTRAINT_COST) at the quantization the committed
 * model is imported with (QUANTIZATION).
 */
import { MNIST_SIDE } from "../../src/data/index.js";

export const CLASSES = 10;

/**
 * The quantization the CNN is imported with: scripts/import-cnn.ts's QUANTIZATION (change both
 * together). Values are signed valueBits-bit integers at scale 2^fracBits; pixels are inputBits.
 */
export const QUANTIZATION = { fracBits: 5, valueBits: 12, inputBits: 7 } as const;

const { fracBits, valueBits, inputBits } = QUANTIZATION;

/**
 * Constraints per value in the model circuit, as measured for the templates
 * (circuits/lib/README.md, "Measured cost of the image templates"; multiply-adds with public
 * weights cost nothing). `wf` is a layer's weight scale, fracBits unless its weights do not fit
 * valueBits bits at that scale, and `b` is valueBits.
 */
export const CONSTRAINT_COST = {
  /** range check of one input pixel: inputBits */
  inputPixel: inputBits,
  /** one Conv or hidden Gemm output, RescaleReLU(wf, b): wf + b + 1 */
  rescaleRelu: fracBits + valueBits + 1,
  /** one comparison of a MaxPool window, b + 2; a k×k window takes k·k − 1 */
  maxPoolComparison: valueBits + 2,
  /** one output of the last Gemm (the logits, no ReLU), Rescale(wf, b): wf + b */
  rescale: fracBits + valueBits,
  /** one comparison of the ArgMax, b + 4; n logits take n − 1 */
  argMaxComparison: valueBits + 4,
} as const;

/**
 * About the most constraints that fit the 2^15 domain: constraints and public signals together
 * must stay under 32,768 (a proof in about 3 s on 2 cores, scripts/import-cnn.ts).
 */
export const CONSTRAINT_BUDGET = 32_700;

export type Block =
  /** Conv (valid padding, square kernel and stride) → BatchNormalization → Relu */
  | { kind: "conv"; filters: number; kernel: number; stride: number }
  /** MaxPool, stride = size, floor mode */
  | { kind: "maxpool"; size: number }
  /** Gemm → Relu; the first one comes after a Flatten */
  | { kind: "dense"; units: number };

/**
 * Candidates, named by `nameOf` (e.g. "c12k7s3-p2-fc150"): the blocks in order, then
 * Flatten → Gemm(→10) → ArgMax. models/mnist_cnn/README.md compares them. They were all within
 * the budget when they were compared; train-cnn.ts says so when one it trains is not.
 */
const CANDIDATES: readonly (readonly Block[])[] = [
  // two convolutions: 5×5 stride 3, then 3×3 stride 1 on the 8×8 map
  [conv(6, 5, 3), conv(16, 3, 1), maxpool(2), dense(32)],
  [conv(9, 5, 3), conv(12, 3, 1), maxpool(2), dense(64)],
  // one convolution with a large kernel (free in constraints), pooled, then a wide hidden
  // layer (18 constraints a unit)
  [conv(5, 5, 2), maxpool(2), dense(128)],
  [conv(12, 6, 3), maxpool(2), dense(96)],
  [conv(12, 7, 3), maxpool(2), dense(96)],
  [conv(12, 7, 3), maxpool(2), dense(150)],
  [conv(20, 8, 4), maxpool(2), dense(128)],
];

export const CHOSEN = "c12k7s3-p2-fc150";

export const ARCHITECTURES = new Map(CANDIDATES.map((blocks) => [nameOf(blocks), blocks]));

function nameOf(blocks: readonly Block[]): string {
  return blocks
    .map((b) =>
      b.kind === "conv"
        ? `c${b.filters}k${b.kernel}s${b.stride}`
        : b.kind === "maxpool"
          ? `p${b.size}`
          : `fc${b.units}`,
    )
    .join("-");
}

function conv(filters: number, kernel: number, stride: number): Block {
  return { kind: "conv", filters, kernel, stride };
}
function maxpool(size: number): Block {
  return { kind: "maxpool", size };
}
function dense(units: number): Block {
  return { kind: "dense", units };
}

export interface CostRow {
  layer: string;
  shape: string;
  values: number;
  constraints: number;
}

/** Walks the blocks from the 28×28×1 input and prices every value the circuit range-checks. */
export function constraintEstimate(blocks: readonly Block[]): { rows: CostRow[]; total: number } {
  const side = MNIST_SIDE * MNIST_SIDE;
  const rows: CostRow[] = [
    { layer: "input", shape: "1×28×28", values: side, constraints: side * CONSTRAINT_COST.inputPixel },
  ];
  let [c, h, w] = [1, MNIST_SIDE, MNIST_SIDE];
  blocks.forEach((b, k) => {
    if (b.kind === "conv") {
      [c, h, w] = [b.filters, outSide(h, b.kernel, b.stride), outSide(w, b.kernel, b.stride)];
      const n = c * h * w;
      rows.push({
        layer: `conv${k + 1}+bn+relu`,
        shape: `${c}×${h}×${w}`,
        values: n,
        constraints: n * CONSTRAINT_COST.rescaleRelu,
      });
    } else if (b.kind === "maxpool") {
      [h, w] = [outSide(h, b.size, b.size), outSide(w, b.size, b.size)];
      const n = c * h * w;
      const each = (b.size * b.size - 1) * CONSTRAINT_COST.maxPoolComparison;
      rows.push({ layer: `maxpool${k + 1}`, shape: `${c}×${h}×${w}`, values: n, constraints: n * each });
    } else {
      [c, h, w] = [b.units, 1, 1];
      rows.push({
        layer: `fc${k + 1}+relu`,
        shape: `${b.units}`,
        values: b.units,
        constraints: b.units * CONSTRAINT_COST.rescaleRelu,
      });
    }
  });
  rows.push({
    layer: "logits",
    shape: `${CLASSES}`,
    values: CLASSES,
    constraints: CLASSES * CONSTRAINT_COST.rescale,
  });
  rows.push({
    layer: "argmax",
    shape: "1",
    values: 1,
    constraints: (CLASSES - 1) * CONSTRAINT_COST.argMaxComparison,
  });
  return { rows, total: rows.reduce((t, r) => t + r.constraints, 0) };
}

/** Output side of a valid (unpadded) window, floor mode: tfjs "valid" and ONNX's default agree. */
export function outSide(input: number, kernel: number, stride: number): number {
  return Math.floor((input - kernel) / stride) + 1;
}

export function describe(blocks: readonly Block[]): string {
  const parts = blocks.map((b) =>
    b.kind === "conv"
      ? `Conv${b.kernel}×${b.kernel}/${b.stride}(${b.filters})+BN+ReLU`
      : b.kind === "maxpool"
        ? `MaxPool${b.size}×${b.size}`
        : `Dense(${b.units})+ReLU`,
  );
  return [...parts, `Dense(${CLASSES})`, "ArgMax"].join(" → ");
}
