import { type ModelArtifacts, weightSecretsOf } from "./artifacts.js";
import { circuitInputFor } from "../circuit/inputs.js";
import { calculateWitness } from "../circuit/witness.js";
import { FixedPointRangeError } from "../errors.js";
import { runQuantized } from "../runtime/fixed.js";
import { type Calibration, checkQuantization } from "../model/calibrate.js";
import { runFloat } from "../model/float.js";
import { quantizeInput, quantizeModel } from "../model/quantize.js";
import type { ModelFile } from "../model/schema.js";
import { datasetByName, split } from "../data/index.js";
import { SibylError } from "../errors.js";

/**
 * The accuracy report: what quantization costs, and proof that the three integer
 * implementations agree. Side by side on one data set: the float model, the quantized
 * runtime, the circuit (its witness exists for exactly the runtime's output) and,
 * optionally, the output as the precompile decodes it on-chain.
 */

export interface LabelledSamples {
  name: string;
  inputs: number[][];
  labels: number[];
}

/** Decodes outputs on-chain: answers a request per input and reads `outputOf` back. */
export type OnChainDecoder = (inputs: bigint[][], outputs: bigint[][]) => Promise<bigint[][]>;

export interface AccuracyOptions {
  /** check every sample's witness against the circuit (needs built artifacts) */
  artifacts?: ModelArtifacts;
  /** decode the first `onChainSamples` outputs on-chain */
  onChain?: OnChainDecoder;
  onChainSamples?: number;
  /** called after each sample with the work done so far */
  onProgress?: (done: number, total: number) => void;
}

export interface AccuracyReport {
  model: string;
  dataset: string;
  samples: number;
  floatAccuracy: number;
  quantizedAccuracy: number;
  /** accuracy of the circuit's outputs (equal to the runtime's when they agree) */
  circuitAccuracy?: number;
  /** fraction of samples where the float and quantized predictions agree */
  floatQuantizedAgreement: number;
  /** samples whose witness was computed */
  witnessSamples: number;
  /** samples decoded on-chain */
  onChainSamples: number;
  /** fraction of checked samples where runtime, witness and on-chain output are identical */
  circuitAgreement?: number;
  /** samples the runtime refused (activation overflow): counted as wrong */
  overflows: number;
  calibration: Calibration;
  fracBits: number;
}

const REQUEST_ID = 1n << 200n; // any id: the binding does not affect the output

export async function accuracyReport(
  file: ModelFile,
  data: LabelledSamples,
  opts: AccuracyOptions = {},
): Promise<AccuracyReport> {
  const calibration = checkQuantization(file, data.inputs);
  const q = opts.artifacts?.quantized ?? quantizeModel(file);
  const secrets = opts.artifacts && weightSecretsOf(opts.artifacts);
  const n = data.inputs.length;
  const predict = (out: readonly (number | bigint)[]) =>
    out.length === 1 ? Number(out[0]) : out.reduce<number>((b, v, i) => (v > out[b] ? i : b), 0);

  let floatRight = 0;
  let quantRight = 0;
  let agreeFQ = 0;
  let overflows = 0;
  let witnessAgree = 0;
  /** per sample: runtime, witness (and on-chain output, where checked) all identical */
  const agrees: boolean[] = [];
  const quantInputs: bigint[][] = [];
  const quantOutputs: (bigint[] | undefined)[] = [];
  for (let k = 0; k < n; k++) {
    const floatPred = predict(runFloat(file, data.inputs[k]));
    floatRight += floatPred === data.labels[k] ? 1 : 0;
    const x = quantizeInput(q, data.inputs[k]);
    quantInputs.push(x);
    let out: bigint[] | undefined;
    try {
      out = runQuantized(q, x).output;
    } catch (e) {
      if (!(e instanceof FixedPointRangeError)) throw e;
      overflows++;
    }
    quantOutputs.push(out);
    if (out) {
      const p = predict(out);
      quantRight += p === data.labels[k] ? 1 : 0;
      agreeFQ += p === floatPred ? 1 : 0;
      if (opts.artifacts) {
        // The circuit constrains its packed output to equal outPacked: a witness exists
        // exactly when the circuit computes the runtime's output for this input.
        let ok = true;
        try {
          await calculateWitness(opts.artifacts.wasmPath, circuitInputFor(q, REQUEST_ID, x, out, secrets));
        } catch {
          ok = false;
        }
        witnessAgree += ok ? 1 : 0;
        agrees[k] = ok;
      }
    }
    opts.onProgress?.(k + 1, n);
  }

  let onChainSamples = 0;
  if (opts.onChain) {
    const idx = quantOutputs
      .map((o, k) => (o ? k : -1))
      .filter((k) => k >= 0)
      .slice(0, opts.onChainSamples ?? 100);
    const decoded = await opts.onChain(
      idx.map((k) => quantInputs[k]),
      idx.map((k) => quantOutputs[k]!),
    );
    onChainSamples = idx.length;
    idx.forEach((k, j) => {
      if (decoded[j].join() !== quantOutputs[k]!.join()) agrees[k] = false;
    });
  }

  const checked = n - overflows;
  return {
    model: file.name,
    dataset: data.name,
    samples: n,
    floatAccuracy: floatRight / n,
    quantizedAccuracy: quantRight / n,
    circuitAccuracy: opts.artifacts ? (witnessAgree === checked ? quantRight / n : undefined) : undefined,
    floatQuantizedAgreement: agreeFQ / n,
    witnessSamples: opts.artifacts ? checked : 0,
    onChainSamples,
    circuitAgreement: opts.artifacts && checked > 0 ? agrees.filter(Boolean).length / checked : undefined,
    overflows,
    calibration,
    fracBits: q.fracBits,
  };
}

/** The report as table rows for console.table. */
export function accuracyRows(r: AccuracyReport): Record<string, string | number>[] {
  const pct = (v?: number) => (v === undefined ? "—" : `${(v * 100).toFixed(2)}%`);
  return [
    { implementation: "float model", samples: r.samples, accuracy: pct(r.floatAccuracy), agreement: "—" },
    {
      implementation: `quantized runtime (2^-${r.fracBits})`,
      samples: r.samples,
      accuracy: pct(r.quantizedAccuracy),
      agreement: `${pct(r.floatQuantizedAgreement)} with float`,
    },
    {
      implementation: "circuit witness",
      samples: r.witnessSamples,
      accuracy: pct(r.circuitAccuracy),
      agreement: r.witnessSamples ? `${pct(r.circuitAgreement)} with runtime` : "—",
    },
    {
      implementation: "on-chain decoded output",
      samples: r.onChainSamples,
      accuracy: "—",
      agreement: r.onChainSamples ? "included above" : "—",
    },
  ];
}

/** The held-out samples the model was evaluated on when trained (seed and split in its metrics). */
export function heldOut(file: ModelFile, dataName: string, which: "test" | "all"): LabelledSamples {
  const data = datasetByName(dataName);
  if (data.inputs[0].length !== file.inputLength)
    throw new SibylError(
      `data set ${dataName} has ${data.inputs[0].length} features but model ${file.name} takes ${file.inputLength}`,
      "pick the data set the model was trained on",
    );
  if (which === "all") return { name: `${dataName} (all)`, inputs: data.inputs, labels: data.labels };
  const m = file.metrics ?? {};
  const [seed, train, test] = [m.seed, m.trainSamples, m.testSamples].map(Number);
  if (![seed, train, test].every(Number.isFinite))
    throw new SibylError(
      `model ${file.name} does not record its split (metrics.seed, trainSamples, testSamples)`,
      "use --split all",
    );
  const parts = split(data, test / (train + test), seed);
  return { name: `${dataName} (held-out)`, inputs: parts.test.inputs, labels: parts.test.labels };
}
