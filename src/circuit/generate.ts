import type { QuantizedModel } from "../runtime/fixed.js";
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

  let current = "x";
  let width = n;
  let li = 0;
  while (li < model.layers.length) {
    const layer = model.layers[li];
    const name = `l${li}`;
    emit();
    if (layer.type === "dense") {
      const fused = model.layers[li + 1]?.type === "relu";
      const out = layer.weights.length;
      emit(
        `// layer ${li}: dense ${width}→${out}, ${priv ? `private weights w${li}, b${li}` : "public weights"}${fused ? `, then layer ${li + 1}: relu (fused)` : ""}`,
      );
      if (priv) {
        emit(`component ${name}Dense = DensePrivate(${width}, ${out});`);
        emit(`${name}Dense.w <== w${li};`);
        emit(`${name}Dense.b <== b${li};`);
      } else {
        emit(
          `component ${name}Dense = Dense(${width}, ${out}, ${matrix(layer.weights)}, ${vector(layer.bias)});`,
        );
      }
      emit(`${name}Dense.in <== ${current};`);
      emit(`component ${name}Scale[${out}];`);
      emit(`signal ${name}[${out}];`);
      emit(`for (var o = 0; o < ${out}; o++) {`);
      emit(`    ${name}Scale[o] = ${fused ? "RescaleReLU" : "Rescale"}(${layer.weightFracBits}, ${b});`);
      emit(`    ${name}Scale[o].in <== ${name}Dense.out[o];`);
      emit(`    ${name}[o] <== ${name}Scale[o].out;`);
      emit("}");
      width = out;
      li += fused ? 2 : 1;
    } else if (layer.type === "relu") {
      emit(`// layer ${li}: relu`);
      emit(`component ${name}Relu[${width}];`);
      emit(`signal ${name}[${width}];`);
      emit(`for (var o = 0; o < ${width}; o++) {`);
      emit(`    ${name}Relu[o] = ReLU(${b});`);
      emit(`    ${name}Relu[o].in <== ${current}[o];`);
      emit(`    ${name}[o] <== ${name}Relu[o].out;`);
      emit("}");
      li += 1;
    } else if (layer.type === "sigmoid") {
      emit(`// layer ${li}: sigmoid (piecewise linear) of signed ${b}-bit values`);
      emit(`component ${name}Sigmoid[${width}];`);
      emit(`signal ${name}[${width}];`);
      emit(`for (var o = 0; o < ${width}; o++) {`);
      emit(`    ${name}Sigmoid[o] = SigmoidPWL(${f}, ${b});`);
      emit(`    ${name}Sigmoid[o].in <== ${current}[o];`);
      emit(`    ${name}[o] <== ${name}Sigmoid[o].out;`);
      emit("}");
      li += 1;
    } else {
      emit(`// layer ${li}: argmax over ${width} rescaled (range-checked) values`);
      emit(`component ${name}ArgMax = ArgMax(${width}, ${b});`);
      emit(`${name}ArgMax.in <== ${current};`);
      emit(`signal ${name}[1];`);
      emit(`${name}[0] <== ${name}ArgMax.out;`);
      width = 1;
      li += 1;
    }
    current = name;
  }

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
      // only when used, so that circuits without a sigmoid stay byte-identical
      ...(model.layers.some((l) => l.type === "sigmoid") ? ["sigmoid.circom"] : []),
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

function vector(v: bigint[]): string {
  return `[${v.join(", ")}]`;
}
function matrix(m: bigint[][]): string {
  return `[${m.map(vector).join(", ")}]`;
}
