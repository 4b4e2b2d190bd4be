import { BuildError, ProofError } from "../errors.js";
import type { QuantizedModel } from "../runtime/fixed.js";
import { privateWeightLayout, type WeightSecrets } from "./commitment.js";
import { emitWeightCommitment, generateCircuit, templateNameOf } from "./generate.js";
import { type CircuitInput, circuitInputFor } from "./inputs.js";
import {
  type SignalLayout,
  batchBinding,
  compactSignal,
  pack,
  packedLength,
  signalLayout,
} from "./packing.js";

/**
 * Batch circuits (docs/batching.md): one Groth16 proof for up to `k` answered requests of one
 * model. The circuit holds k copies of the model's circuit; slot i proves request i, or is
 * padding when its public signals are all zero. Each slot exposes either the single circuit's
 * signals `[binding, inPacked…, (weightCommitment,) outPacked…]` or, when everything fits one
 * field element, one compact signal `outWord + 2^V·binding + 2^(V+128)·inWord`. The
 * precompile's `settleBatch` and the registry's `registerBatchVerifier` compute the same
 * layout from the model's config.
 */

/** Largest batch the registry accepts (`ModelRegistry.MAX_BATCH_SIZE`). */
export const MAX_BATCH_SIZE = 256;

/** The slot layout of a model's batch circuits, as `ModelRegistry.batchSlotSignals` computes it. */
export type BatchLayout = SignalLayout;
export const batchLayout = signalLayout;
export { batchBinding };

export function batchTemplateName(modelName: string, k: number): string {
  return `${templateNameOf(modelName).replace(/^SibylModel_/, "SibylBatch_")}_k${k}`;
}

export function checkBatchSize(k: number): void {
  if (!Number.isInteger(k) || k < 1 || k > MAX_BATCH_SIZE)
    throw new BuildError(`batch size ${k} is not an integer from 1 to ${MAX_BATCH_SIZE}`);
}

export interface GeneratedBatchCircuit {
  templateName: string;
  source: string;
  publicSignals: number;
  layout: BatchLayout;
}

/** The Circom source of the batch circuit of `model` for `k` requests. */
export function generateBatchCircuit(
  model: QuantizedModel,
  modelHashHex: string,
  k: number,
): GeneratedBatchCircuit {
  checkBatchSize(k);
  // A private-weights model's copies share one set of weights: its commitment is checked once,
  // below, not in every copy.
  const single = generateCircuit(model, modelHashHex, { weightCommitment: false, compactPublic: false });
  const layout = batchLayout(model);
  const { slotSignals: S } = layout;
  const P = packedLength(model.inputLength, model.inputBits);
  const Q = packedLength(model.outputLength, model.valueBits);
  const priv = model.weights === "private";
  const weightSlots = priv ? privateWeightLayout(model).slots : [];
  const templateName = batchTemplateName(model.name, k);

  // The model's template, without its `component main` and with batch.circom included.
  const modelSource = single.source
    .split("\n")
    .filter((line) => !line.startsWith("component main"))
    .join("\n")
    .replace(/^(pragma circom [^\n]*\n)/m, `$1include "batch.circom";\n`);

  const body: string[] = [];
  const emit = (line = "") => body.push(line ? `    ${line}` : "");
  emit(`signal input pub[${k * S}];`);
  emit(`signal input binding[${k}];`);
  emit(`signal input inPacked[${k}][${P}];`);
  emit(`signal input outPacked[${k}][${Q}];`);
  emit(`signal input x[${k}][${model.inputLength}];`);
  if (priv) {
    emit("signal input weightCommitment;");
    for (const s of weightSlots) {
      emit(`signal input w${s.layer}[${s.nOut}][${s.nIn}];`);
      emit(`signal input b${s.layer}[${s.nOut}];`);
    }
    emit("signal input salt;");
  }
  emit();
  emit(`component model[${k}];`);
  emit(`component slot[${k}];`);
  emit(`for (var i = 0; i < ${k}; i++) {`);
  emit(`    model[i] = ${single.templateName}();`);
  emit("    model[i].requestBinding <== binding[i];");
  emit("    model[i].inPacked <== inPacked[i];");
  emit("    model[i].outPacked <== outPacked[i];");
  emit("    model[i].x <== x[i];");
  if (priv) {
    for (const s of weightSlots) {
      emit(`    model[i].w${s.layer} <== w${s.layer};`);
      emit(`    model[i].b${s.layer} <== b${s.layer};`);
    }
  }
  if (layout.compact) {
    emit(`    slot[i] = BatchSlotCompact(${layout.inBits}, ${layout.outBits});`);
    emit("    slot[i].binding <== binding[i];");
    emit("    slot[i].inWord <== inPacked[i][0];");
    emit("    slot[i].outWord <== outPacked[i][0];");
    emit("    slot[i].pub <== pub[i];");
  } else {
    emit(`    slot[i] = BatchSlotWords(${S - 1});`);
    emit("    slot[i].binding <== binding[i];");
    emit(`    for (var j = 0; j < ${P}; j++) slot[i].words[j] <== inPacked[i][j];`);
    if (priv) emit(`    slot[i].words[${P}] <== weightCommitment;`);
    emit(`    for (var j = 0; j < ${Q}; j++) slot[i].words[${S - 1 - Q} + j] <== outPacked[i][j];`);
    emit(`    for (var j = 0; j < ${S}; j++) slot[i].pub[j] <== pub[i * ${S} + j];`);
  }
  emit("}");
  if (priv) emitWeightCommitment(emit, model.weightBits, privateWeightLayout(model));

  const source = [
    modelSource.trimEnd(),
    "",
    `// Batch of ${k}: slot i proves one request of ${model.name}, or is padding (all its public`,
    `// signals zero). ${
      layout.compact
        ? `Compact slots: pub[i] = outWord + 2^${layout.outBits}·binding + 2^${layout.outBits + 128}·inWord.`
        : `Slots of ${S} signals: [binding, inPacked…${priv ? ", weightCommitment" : ""}, outPacked…].`
    }`,
    `template ${templateName}() {`,
    ...body,
    "}",
    "",
    `component main {public [pub]} = ${templateName}();`,
    "",
  ].join("\n");
  return { templateName, source, publicSignals: k * S, layout };
}

/** One answered request in a batch: its id and the fixed-point input and output. */
export interface BatchEntry {
  requestId: string;
  input: readonly bigint[];
  output: readonly bigint[];
}

type BatchModel = QuantizedModel;

/** A slot's public signals (`entry` undefined: padding, all zero). */
function slotSignals(
  model: BatchModel,
  layout: BatchLayout,
  entry?: BatchEntry,
  commitment?: bigint,
): bigint[] {
  if (!entry) return new Array<bigint>(layout.slotSignals).fill(0n);
  const binding = batchBinding(entry.requestId);
  const inWords = pack(entry.input, model.inputBits);
  const outWords = pack(entry.output, model.valueBits);
  if (layout.compact) return [compactSignal(binding, inWords[0], outWords[0], layout.outBits)];
  return [binding, ...inWords, ...(commitment === undefined ? [] : [commitment]), ...outWords];
}

/**
 * The batch's public signals in circuit order, as the precompile's `batchSignalsOf` returns
 * them: the entries' slots (in the order given: the precompile takes ids ascending), then
 * padding.
 */
export function batchPublicSignals(
  model: BatchModel,
  k: number,
  entries: readonly BatchEntry[],
  weightCommitment?: bigint,
): bigint[] {
  checkEntries(k, entries);
  const layout = batchLayout(model);
  const signals: bigint[] = [];
  for (let i = 0; i < k; i++) signals.push(...slotSignals(model, layout, entries[i], weightCommitment));
  return signals;
}

/**
 * The full input of a batch circuit: the entries in slots 0…n−1 and padding after them, with
 * binding 0 (its model copy evaluates the first entry again: an input the model is known to
 * take, unlike an arbitrary one that could overflow). `secrets` as for `circuitInputFor`.
 */
export function batchCircuitInput(
  model: BatchModel,
  k: number,
  entries: readonly BatchEntry[],
  secrets?: WeightSecrets,
): CircuitInput {
  checkEntries(k, entries);
  const padding = { input: entries[0].input, output: entries[0].output };
  const slots = Array.from({ length: k }, (_, i) => {
    const e = entries[i] ?? { requestId: "0x0", ...padding };
    const single = circuitInputFor(model, 0n, e.input, e.output, secrets);
    return { single, binding: entries[i] ? batchBinding(e.requestId) : 0n };
  });
  const first = slots[0].single;
  const input: CircuitInput = {
    pub: batchPublicSignals(model, k, entries, secrets?.commitment).map(String),
    binding: slots.map((s) => s.binding.toString()),
    inPacked: slots.map((s) => s.single.inPacked as string[]),
    outPacked: slots.map((s) => s.single.outPacked as string[]),
    x: slots.map((s) => s.single.x as string[]),
  };
  // Private weights are the same in every copy: passed once.
  for (const [name, value] of Object.entries(first))
    if (!["requestBinding", "inPacked", "outPacked", "x", "pub"].includes(name)) input[name] = value;
  return input;
}

function checkEntries(k: number, entries: readonly BatchEntry[]): void {
  checkBatchSize(k);
  if (entries.length === 0 || entries.length > k)
    throw new ProofError(`a batch of ${k} takes 1 to ${k} requests, not ${entries.length}`);
}

/** Request ids sorted as `settleBatch` takes them: strictly ascending (duplicates dropped). */
export function sortForBatch(requestIds: readonly string[]): string[] {
  const unique = [...new Set(requestIds.map((id) => BigInt(id)))];
  unique.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return unique.map((id) => `0x${id.toString(16).padStart(64, "0")}`);
}
