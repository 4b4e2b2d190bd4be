import { ModelFormatError } from "../errors.js";
import { layerOutputShape, type Shape, sizeOf } from "../runtime/shapes.js";
import { type QLayer, type QuantizedModel, window } from "../runtime/fixed.js";
import { privateWeightLayout } from "./commitment.js";
import { packedLength, signalLayout } from "./packing.js";

/**
 * Circuit generator: a quantized model → the Circom source of its main circuit, built
 * from the sound templates in circuits/lib. Public inputs, in order:
 * [requestBinding, inPacked[P], outPacked[Q]] (docs/protocol.md); a model with private
 * weights has [requestBinding, inPacked[P], weightCommitment, outPacked[Q]] and takes its
 * weights as private inputs bound to that commitment. A model whose request fits one field
 * element (`signalLayout(model).compact`) has the single public input
 * `pub = outPacked + 2^V·requestBinding + 2^(V+128)·inPacked`, with requestBinding
 * `(uint256(requestId) >> 128) | 1`.
 */

export const CIRCUIT_LIB_INCLUDES = [
  "bits.circom",
  "fixedpoint.circom",
  "activations.circom",
  "argmax.circom",
  "dense.circom",
  "packing.circom",
];

export interface GeneratedCircuit {
  templateName: string;
  source: string;
  /** number of public signals: 1 + P + Q, plus 1 (the weight commitment) for private weights */
  publicSignals: number;
}

export function templateNameOf(modelName: string): string {
  return `SibylModel_${modelName.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

export function generateCircuit(
  model: QuantizedModel,
  modelHashHex: string,
  opts: {
    /**
     * false: a private-weights template without its weight commitment (no `weightCommitment`
     * or `salt` input): for a batch circuit, which checks the commitment of the weights all its
     * copies share once (src/circuit/batch.ts). Default true.
     */
    weightCommitment?: boolean;
    /**
     * false: keep the words layout even for a model whose request fits one compact public signal
     * (a batch circuit exposes its copies' signals itself). Default true.
     */
    compactPublic?: boolean;
  } = {},
): GeneratedCircuit {
  const { fracBits: f, valueBits: b, inputBits: ib, inputLength: n } = model;
  const P = packedLength(n, ib);
  const Q = packedLength(model.outputLength, b);
  const templateName = templateNameOf(model.name);
  const body: string[] = [];
  const emit = (line = "") => body.push(line ? `    ${line}` : "");
  const priv = model.weights === "private";
  const commit = priv && opts.weightCommitment !== false;
  const signals = signalLayout(model);
  const compact = signals.compact && opts.compactPublic !== false;
  const layout = privateWeightLayout(model);
  const uses = (...types: QLayer["type"][]) => model.layers.some((l) => types.includes(l.type));

  emit("signal input requestBinding;");
  emit(`signal input inPacked[${P}];`);
  if (commit) emit("signal input weightCommitment;");
  emit(`signal input outPacked[${Q}];`);
  emit(`signal input x[${n}];`);
  if (priv) {
    for (const s of layout.slots) {
      emit(`signal input w${s.layer}[${s.nOut}][${s.nIn}];`);
      emit(`signal input b${s.layer}[${s.nOut}];`);
    }
    if (commit) emit("signal input salt;");
  }
  emit();
  emit("// The request binding takes part in a constraint, so a proof is tied to one request.");
  emit("signal bindingSquare <== requestBinding * requestBinding;");
  emit();
  emit(`// Inputs are signed ${ib}-bit values; packed, they must equal the public inPacked.`);
  emit(`component inRange[${n}];`);
  emit(`for (var i = 0; i < ${n}; i++) {`);
  emit(`    inRange[i] = SignedRange(${ib});`);
  emit("    inRange[i].in <== x[i];");
  emit("}");
  emit(`component packIn = Pack(${n}, ${ib});`);
  emit("packIn.in <== x;");
  emit(`for (var k = 0; k < ${P}; k++) {`);
  emit("    packIn.out[k] === inPacked[k];");
  emit("}");

  const { signal: current, width } = emitLayers(emit, model);

  emit();
  emit("// The model's outputs, packed, must equal the public outPacked.");
  emit(`component packOut = Pack(${width}, ${b});`);
  emit(`packOut.in <== ${current};`);
  emit(`for (var k = 0; k < ${Q}; k++) {`);
  emit("    packOut.out[k] === outPacked[k];");
  emit("}");
  if (commit) emitWeightCommitment(emit, model.weightBits, layout);
  if (compact) {
    emit();
    emit(
      `// One public signal: pub = outPacked + 2^${signals.outBits}·requestBinding + 2^${signals.outBits + 128}·inPacked,`,
    );
    emit("// each part range-checked, so pub splits into them one way only (circuits/lib/batch.circom).");
    emit("signal input pub;");
    emit(`component compact = BatchSlotCompact(${signals.inBits}, ${signals.outBits});`);
    emit("compact.binding <== requestBinding;");
    emit("compact.inWord <== inPacked[0];");
    emit("compact.outWord <== outPacked[0];");
    emit("compact.pub <== pub;");
  }

  const publicNames = compact
    ? ["pub"]
    : ["requestBinding", "inPacked", ...(priv ? ["weightCommitment"] : []), "outPacked"];
  const publicShapes = compact
    ? ["pub (requestBinding, inPacked and outPacked packed)"]
    : ["requestBinding", `inPacked[${P}]`, ...(priv ? ["weightCommitment"] : []), `outPacked[${Q}]`];
  const source = [
    "// GENERATED by Sibyl (src/circuit/generate.ts). Do not edit: rebuild with",
    `//   npx hardhat sibyl:build --model <model file>`,
    `// model: ${model.name}   commitment: ${modelHashHex}`,
    `// fixed point: fracBits=${f}, valueBits=${b}, inputBits=${ib}${priv ? `, weightBits=${model.weightBits} (private weights)` : ""}; public signals: ${publicShapes.join(", ")}`,
    "pragma circom 2.1.0;",
    "",
    ...[
      ...CIRCUIT_LIB_INCLUDES,
      ...(priv ? ["commitment.circom"] : []),
      ...(compact ? ["batch.circom"] : []),
      // only when used, so that circuits without these layers stay byte-identical
      ...(uses("sigmoid") ? ["sigmoid.circom"] : []),
      ...(uses("conv2d") ? ["conv.circom"] : []),
      ...(uses("maxpool", "avgpool", "globalavgpool") ? ["pool.circom"] : []),
      ...(uses("add") ? ["residual.circom"] : []),
      ...(uses("tanh") ? ["tanh.circom"] : []),
    ].map((file) => `include "${file}";`),
    "",
    `template ${templateName}() {`,
    ...body,
    "}",
    "",
    `component main {public [${publicNames.join(", ")}]} = ${templateName}();`,
    "",
  ].join("\n");
  return { templateName, source, publicSignals: compact ? 1 : 1 + P + (priv ? 1 : 0) + Q };
}

/**
 * Private weights: one WeightCommitment over every dense layer's weights and biases, in the
 * order of privateWeightLayout (the same order src/zk/commitment.ts hashes), constrained to
 * equal the public weightCommitment.
 */
export function emitWeightCommitment(
  emit: (line?: string) => void,
  weightBits: number,
  layout: ReturnType<typeof privateWeightLayout>,
): void {
  emit();
  emit(
    `// The weights (signed ${weightBits}-bit, range-checked and packed) and biases, hashed with the salt,`,
  );
  emit("// must equal the registered weightCommitment: no other weights can be proved.");
  emit(`component commit = WeightCommitment(${layout.nWeights}, ${weightBits}, ${layout.nBiases});`);
  for (const s of layout.slots) {
    emit(`for (var o = 0; o < ${s.nOut}; o++) {`);
    emit(`    for (var i = 0; i < ${s.nIn}; i++) {`);
    emit(`        commit.w[${s.weightOffset} + o * ${s.nIn} + i] <== w${s.layer}[o][i];`);
    emit("    }");
    emit(`    commit.b[${s.biasOffset} + o] <== b${s.layer}[o];`);
    emit("}");
  }
  emit("commit.salt <== salt;");
  emit("commit.commitment === weightCommitment;");
}

/**
 * How a dense or conv2d layer `li` meets a relu right after it: "none" (no relu follows);
 * "fused", one RescaleReLU per value, whose signal `l<li>` holds the relu's output (layer li's
 * own output has no signal); or "split", when an `add` layer reads layer li's pre-relu output:
 * one Rescale per value, `l<li>` its quotient and `l<li+1>` the relu, a single multiplication by
 * the rescale's sign bit.
 */
export function reluAfter(model: Pick<QuantizedModel, "layers">, li: number): "none" | "fused" | "split" {
  const layer = model.layers[li];
  if ((layer.type !== "dense" && layer.type !== "conv2d") || model.layers[li + 1]?.type !== "relu")
    return "none";
  return model.layers.some((l) => l.type === "add" && l.from === li) ? "split" : "fused";
}

/**
 * The circuit signal that holds each layer's output, flat in [c, h, w] order: `l<li>`, except
 * for a dense or conv2d layer fused with its relu (reluAfter), whose `l<li>` is the relu's
 * output and whose own output has none (undefined).
 */
export function layerOutputSignals(model: Pick<QuantizedModel, "layers">): (string | undefined)[] {
  const signals: (string | undefined)[] = model.layers.map((_, li) => `l${li}`);
  model.layers.forEach((_, li) => {
    if (reluAfter(model, li) !== "fused") return;
    signals[li] = undefined;
    signals[li + 1] = `l${li}`;
  });
  return signals;
}

/** Every layer's output shape (src/runtime/shapes.ts); the model must be valid. */
function outputShapes(model: QuantizedModel, input: Shape): Shape[] {
  const shapes: Shape[] = [];
  model.layers.forEach((layer, li) => {
    const next = layerOutputShape(layer, li === 0 ? input : shapes[li - 1], shapes, input);
    if (typeof next === "string") throw new ModelFormatError(`layer ${li}: ${layer.type} ${next}`);
    shapes.push(next);
  });
  return shapes;
}

/**
 * Emits the layers, each reading the signal of the one before it (`x` first); returns the
 * last layer's signal and width. Every signal a layer emits is a signed valueBits-bit integer
 * (a rescale, range check, pooled value, sigmoid or tanh), or the range-checked input: what
 * ArgMax, MaxPool and ResidualAdd assume of their inputs.
 */
function emitLayers(emit: (line?: string) => void, model: QuantizedModel): { signal: string; width: number } {
  const { fracBits: f, valueBits: b } = model;
  const priv = model.weights === "private";
  const input: Shape = model.inputShape ?? [model.inputLength];
  const shapes = outputShapes(model, input);
  const signals = layerOutputSignals(model);
  let current = "x";
  let li = 0;
  while (li < model.layers.length) {
    const layer = model.layers[li];
    const name = `l${li}`;
    const inShape = li === 0 ? input : shapes[li - 1];
    const width = sizeOf(inShape);
    const outWidth = sizeOf(shapes[li]);
    let step = 1;
    emit();
    switch (layer.type) {
      case "dense": {
        const relu = reluAfter(model, li);
        emit(
          `// layer ${li}: dense ${width}→${outWidth}, ${priv ? `private weights w${li}, b${li}` : "public weights"}${reluNote(relu, li, model)}`,
        );
        if (priv) {
          emit(`component ${name}Dense = DensePrivate(${width}, ${outWidth});`);
          emit(`${name}Dense.w <== w${li};`);
          emit(`${name}Dense.b <== b${li};`);
        } else {
          emit(
            `component ${name}Dense = Dense(${width}, ${outWidth}, ${literal(layer.weights)}, ${literal(layer.bias)});`,
          );
        }
        emit(`${name}Dense.in <== ${current};`);
        emitRescales(emit, li, `${name}Dense.out`, outWidth, layer.weightFracBits, b, relu);
        step = relu === "none" ? 1 : 2;
        break;
      }
      case "conv2d": {
        if (priv)
          throw new ModelFormatError(
            `model ${model.name}: layer ${li} is a conv2d layer; private weights are supported for dense layers only`,
            'use quantization.weights "public" for a convolutional model',
          );
        const relu = reluAfter(model, li);
        const g = window(layer, inShape);
        const [c, h, w] = g.inShape;
        emit(
          `// layer ${li}: conv2d [${c}, ${h}, ${w}] → [${shapes[li].join(", ")}], ${describeWindow(g.kernel, g.strides, g.pads)}, public weights${reluNote(relu, li, model)}`,
        );
        emit(
          `component ${name}Conv = Conv2d(${c}, ${h}, ${w}, ${layer.weights.length}, ${g.kernel[0]}, ${g.kernel[1]}, ${literal(g.strides)}, ${literal(g.pads)}, ${literal(layer.weights)}, ${literal(layer.bias)});`,
        );
        emit(`${name}Conv.in <== ${current};`);
        emitRescales(emit, li, `${name}Conv.out`, outWidth, layer.weightFracBits, b, relu);
        step = relu === "none" ? 1 : 2;
        break;
      }
      case "relu":
        emit(`// layer ${li}: relu`);
        emit(`component ${name}Relu[${width}];`);
        emit(`signal ${name}[${width}];`);
        emit(`for (var o = 0; o < ${width}; o++) {`);
        emit(`    ${name}Relu[o] = ReLU(${b});`);
        emit(`    ${name}Relu[o].in <== ${current}[o];`);
        emit(`    ${name}[o] <== ${name}Relu[o].out;`);
        emit("}");
        break;
      case "sigmoid":
      case "tanh": {
        const [what, template] = layer.type === "sigmoid" ? ["Sigmoid", "SigmoidPWL"] : ["Tanh", "TanhPWL"];
        emit(`// layer ${li}: ${layer.type} (piecewise linear) of signed ${b}-bit values`);
        emit(`component ${name}${what}[${width}];`);
        emit(`signal ${name}[${width}];`);
        emit(`for (var o = 0; o < ${width}; o++) {`);
        emit(`    ${name}${what}[o] = ${template}(${f}, ${b});`);
        emit(`    ${name}${what}[o].in <== ${current}[o];`);
        emit(`    ${name}[o] <== ${name}${what}[o].out;`);
        emit("}");
        break;
      }
      case "maxpool":
      case "avgpool": {
        const g = window(layer, inShape);
        const [c, h, w] = g.inShape;
        const geometry = `${c}, ${h}, ${w}, ${g.kernel[0]}, ${g.kernel[1]}, ${literal(g.strides)}, ${literal(g.pads)}`;
        const includePad = layer.type === "avgpool" && layer.countIncludePad === true;
        emit(
          `// layer ${li}: ${layer.type} [${c}, ${h}, ${w}] → [${shapes[li].join(", ")}], ${describeWindow(g.kernel, g.strides, g.pads)}${
            layer.type === "maxpool"
              ? ", padding never wins"
              : includePad
                ? ", divided by the kernel's area"
                : ", divided by the number of in-image taps"
          }`,
        );
        emit(
          `component ${name}Pool = ${layer.type === "maxpool" ? `MaxPool2d(${geometry}, ${b})` : `AvgPool2d(${geometry}, ${includePad ? 1 : 0}, ${b})`};`,
        );
        emit(`${name}Pool.in <== ${current};`);
        emit(`signal ${name}[${outWidth}];`);
        emit(`${name} <== ${name}Pool.out;`);
        break;
      }
      case "globalavgpool": {
        const [c, h, w] = inShape;
        emit(
          `// layer ${li}: globalavgpool [${c}, ${h}, ${w}] → [${c}, 1, 1], the floor of each channel's mean`,
        );
        emit(`component ${name}Pool = GlobalAvgPool(${c}, ${h * w}, ${b});`);
        emit(`${name}Pool.in <== ${current};`);
        emit(`signal ${name}[${outWidth}];`);
        emit(`${name} <== ${name}Pool.out;`);
        break;
      }
      case "add": {
        const other = layer.from === -1 ? "x" : signals[layer.from];
        // reluAfter never fuses away an output that an add reads
        if (other === undefined) throw new Error(`layer ${li}: layer ${layer.from} has no output signal`);
        emit(
          `// layer ${li}: add ${layer.from === -1 ? "the input x" : `layer ${layer.from}'s output ${other}`} (residual), range-checked to signed ${b} bits`,
        );
        emit(`component ${name}Add[${width}];`);
        emit(`signal ${name}[${width}];`);
        emit(`for (var o = 0; o < ${width}; o++) {`);
        emit(`    ${name}Add[o] = ResidualAdd(${b});`);
        emit(`    ${name}Add[o].a <== ${current}[o];`);
        emit(`    ${name}Add[o].c <== ${other}[o];`);
        emit(`    ${name}[o] <== ${name}Add[o].out;`);
        emit("}");
        break;
      }
      case "argmax":
        emit(`// layer ${li}: argmax over ${width} rescaled (range-checked) values`);
        emit(`component ${name}ArgMax = ArgMax(${width}, ${b});`);
        emit(`${name}ArgMax.in <== ${current};`);
        emit(`signal ${name}[1];`);
        emit(`${name}[0] <== ${name}ArgMax.out;`);
        break;
      default: {
        const unknown: never = layer;
        throw new ModelFormatError(
          `model ${model.name}: layer ${li} has type ${JSON.stringify((unknown as { type: unknown }).type)}, which has no circuit`,
        );
      }
    }
    current = signals[li + step - 1]!;
    li += step;
  }
  return { signal: current, width: sizeOf(shapes[shapes.length - 1]) };
}

/** The rescale of a dense or conv2d layer's accumulators, with the relu after it fused or split. */
function emitRescales(
  emit: (line?: string) => void,
  li: number,
  accumulators: string,
  n: number,
  weightFracBits: number,
  b: number,
  relu: "none" | "fused" | "split",
): void {
  const name = `l${li}`;
  emit(`component ${name}Scale[${n}];`);
  emit(`signal ${name}[${n}];`);
  if (relu === "split") emit(`signal l${li + 1}[${n}];`);
  emit(`for (var o = 0; o < ${n}; o++) {`);
  emit(`    ${name}Scale[o] = ${relu === "fused" ? "RescaleReLU" : "Rescale"}(${weightFracBits}, ${b});`);
  emit(`    ${name}Scale[o].in <== ${accumulators}[o];`);
  emit(`    ${name}[o] <== ${name}Scale[o].out;`);
  if (relu === "split") emit(`    l${li + 1}[o] <== ${name}Scale[o].out * ${name}Scale[o].nonNeg;`);
  emit("}");
}

function reluNote(
  relu: "none" | "fused" | "split",
  li: number,
  model: Pick<QuantizedModel, "layers">,
): string {
  if (relu === "none") return "";
  if (relu === "fused") return `, then layer ${li + 1}: relu (fused)`;
  const readers = model.layers.flatMap((l, k) => (l.type === "add" && l.from === li ? [k] : []));
  return `, then layer ${li + 1}: relu (by the rescale's sign bit; layer ${readers.join(", ")} adds the pre-relu output)`;
}

function describeWindow(
  kernel: readonly number[],
  strides: readonly number[],
  pads: readonly number[],
): string {
  return `kernel ${kernel.join("×")}, strides [${strides.join(", ")}], pads [${pads.join(", ")}]`;
}

/** A Circom array literal of integers, nested as deep as `v`. */
type Nested = bigint | number | readonly Nested[];
function literal(v: Nested): string {
  return typeof v === "object" ? `[${v.map(literal).join(", ")}]` : String(v);
}
