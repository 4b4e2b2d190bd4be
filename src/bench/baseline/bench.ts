/**
 * The side-by-side of `npm run bench` (issue 13): the MNIST MLP as Sibyl builds it and as the
 * templates of circomlib-ml build it (./network.ts), measured the same way — constraints,
 * constraints per neuron, warm proving time with the same snarkjs, the exported verifier's gas on
 * an in-process chain (./groth16.ts) — and the tamper test (./tamper.ts): one hinted witness value
 * changed so that the class changes, checked against each r1cs, then proved and sent to each
 * verifier.
 */
import { templateConstraints } from "../../circuit/cost.js";
import { circuitInputFor } from "../../circuit/inputs.js";
import { SibylError } from "../../errors.js";
import { type Logger, prefixed, silentLogger } from "../../log.js";
import { quantizeInput } from "../../model/quantize.js";
import type { ModelArtifacts } from "../../pipeline/artifacts.js";
import { type QDense, runQuantized } from "../../runtime/fixed.js";
import { SnarkjsProver } from "../../zk/prover.js";
import { median } from "../stats.js";
import { type CompiledCircuit, compileBaseline } from "./compile.js";
import {
  type ChainProvider,
  forgedProofVerifies,
  proveWarm,
  setUpBaseline,
  verifierGas,
  verifierRuntime,
} from "./groth16.js";
import {
  type BaselineNetwork,
  baselineForward,
  baselineInput,
  baselineNetwork,
  circomlibMlVersion,
  neuronCount,
} from "./network.js";
import {
  type Construction,
  type TamperOutcome,
  findBaselineTamper,
  tamperBaseline,
  tamperSibyl,
} from "./tamper.js";
import { NamedWitness } from "./witness.js";

export interface BaselineOptions {
  /** our build of the MNIST MLP (`buildModel`, or the bench's stack) */
  ours: ModelArtifacts;
  /** held-out samples, real-valued: the first is proved, the tamper search and the agreement use them in order */
  samples: readonly (readonly number[])[];
  /** an in-process chain (Hardhat's network: `hardhat_setCode` installs the verifiers) */
  provider: ChainProvider;
  /** warm proofs per construction (the bench's BENCH_PROOFS) */
  proofs: number;
  /** samples, spread over the held-out set, whose class the baseline's witness is compared on (default 200) */
  agreementSamples?: number;
  log?: Logger;
}

/** What the tamper test found for one construction. */
export interface TamperSummary {
  sample: number;
  change: string;
  classBefore: number;
  classAfter: number;
  violatedConstraints: number;
  violatedSignals: string[];
  rejectedBy?: string;
  /** a Groth16 proof made from the tampered witness, sent to the construction's verifier: accepted? */
  forgedProofVerifies: boolean;
}

/** One row of the side-by-side (`bench/results.json` → `baseline`). */
export interface BaselineRow {
  name: string;
  construction: Construction;
  constraints: number;
  /** dense outputs followed by a ReLU or the argmax (32 + 10 for the MNIST MLP) */
  neurons: number;
  /** constraints / neurons */
  constraintsPerNeuron: number;
  /**
   * one neuron's activation compiled alone (the bench's `models[].constraintsPerNeuron`): Sibyl's
   * `RescaleReLU(wf, valueBits)`, circomlib-ml's `ReLU()`
   */
  activationConstraintsPerNeuron: number;
  publicSignals: number;
  ptauPower: number;
  proveMsMedian: number;
  proveMs: number[];
  verifyGas: number;
  /** true when a witness with one hint changed so that the class changes satisfies every constraint */
  tamperAccepted: boolean;
  tamper: TamperSummary;
  /** whether the weights are bound by the proof (constants of the circuit, or a commitment) */
  weightsBound: boolean;
  /** the baseline's class against Sibyl's runtime and against the independent BigInt evaluation */
  agreement?: { samples: number; withRuntime: number; withEvaluation: number };
  /** ours / baseline (Sibyl's row only) */
  ratioToBaseline?: {
    constraints: number;
    constraintsPerNeuron: number;
    proveMsMedian: number;
    verifyGas: number;
  };
  notes: string;
}

const AGREEMENT_SAMPLES = 200;

/** Measures both constructions of the MNIST MLP; returns Sibyl's row, then circomlib-ml's. */
export async function benchBaseline(opts: BaselineOptions): Promise<BaselineRow[]> {
  const log = opts.log ?? silentLogger;
  const { ours } = opts;
  const q = ours.quantized;
  const net = baselineNetwork(q);
  const inputs = opts.samples.map((s) => quantizeInput(q, s));
  const x = inputs[0];
  const output = runQuantized(q, x).output;
  log.info(`\nside by side: ${ours.name} as Sibyl builds it and with circomlib-ml's templates`);

  // the baseline's build: compile, Groth16 setup with the smallest development ptau that fits
  const circuit = await compileBaseline(net, prefixed(log, ""));
  const setup = await setUpBaseline(circuit, net, log);
  log.info(
    `  ${net.name}: ${circuit.constraints} constraints, ${setup.publicSignals} public signals, ptau 2^${setup.ptauPower}`,
  );

  // warm proving, as the bench proves our models: witness calculator and zkey in memory
  log.info(`  proving: ${opts.proofs} warm proofs each…`);
  const ourProofs = await proveWarm(new SnarkjsProver(ours.wasmPath, ours.zkeyPath), opts.proofs, (i) =>
    circuitInputFor(q, BigInt(i + 2) << 3n, x, output),
  );
  const baseProofs = await proveWarm(new SnarkjsProver(circuit.wasmPath, setup.zkeyPath), opts.proofs, () =>
    baselineInput(net, x),
  );

  // each verifier as the bench measures ours: a transaction's gas, on the last proof
  const ourCode = verifierRuntime(ours.verifierPath, ours.verifierContract);
  const ourGas = await verifierGas(opts.provider, ours.verifierContract, ourCode, ourProofs.last);
  const baseGas = await verifierGas(opts.provider, setup.contract, setup.runtimeCode, baseProofs.last);
  for (const [name, g] of [
    [ours.name, ourGas],
    [net.name, baseGas],
  ] as const)
    if (!g.accepts)
      throw new SibylError(`the ${name} verifier rejects an honest proof: the measurement is broken`);

  // the tamper test on each construction, then a proof from each tampered witness
  log.info("  tampering: one hinted value each, so that the class changes…");
  const ourTamper = await tamperSibyl(ours, x, 0);
  const found = findBaselineTamper(net, inputs);
  if (!found) throw new SibylError(`no ${net.name} sample has a ReLU whose zeroing changes the class`);
  const baseTamper = await tamperBaseline(circuit, net, inputs[found.sample], found);
  const ourForged = await forgedProofVerifies(
    opts.provider,
    ours.verifierContract,
    ourCode,
    ours.zkeyPath,
    ourTamper,
  );
  const baseForged = await forgedProofVerifies(
    opts.provider,
    setup.contract,
    setup.runtimeCode,
    setup.zkeyPath,
    baseTamper,
  );

  // agreement: the baseline's witness against our runtime (it never floors) and the BigInt evaluation
  const agreement = await baselineAgreement(
    circuit,
    net,
    spread(inputs, opts.agreementSamples ?? AGREEMENT_SAMPLES),
    (v) => Number(runQuantized(q, v).output[0]),
  );

  const neurons = neuronCount(net);
  const first = q.layers[0] as QDense;
  const ourActivation = await templateConstraints("fixedpoint.circom", "RescaleReLU", [
    first.weightFracBits,
    q.valueBits,
  ]);
  const baseActivation = await templateConstraints("circomlib-ml/circuits/ReLU.circom", "ReLU", []);
  const baseRow: BaselineRow = {
    name: net.name,
    construction: "circomlib-ml",
    constraints: circuit.constraints,
    neurons,
    constraintsPerNeuron: round1(circuit.constraints / neurons),
    activationConstraintsPerNeuron: baseActivation,
    publicSignals: setup.publicSignals,
    ptauPower: setup.ptauPower,
    proveMsMedian: median(baseProofs.ms),
    proveMs: baseProofs.ms,
    verifyGas: baseGas.gas,
    tamperAccepted: baseTamper.accepted,
    tamper: summary(baseTamper, baseForged),
    weightsBound: false,
    agreement,
    notes:
      `circomlib-ml ${circomlibMlVersion()} Dense/ReLU/ArgMax, no rescale; weights and biases are private inputs that nothing ` +
      "binds (a prover may use any weights); inputs public, class the public output",
  };
  const ourRow: BaselineRow = {
    name: ours.name,
    construction: "sibyl",
    constraints: ours.constraints,
    neurons,
    constraintsPerNeuron: round1(ours.constraints / neurons),
    activationConstraintsPerNeuron: ourActivation,
    publicSignals: ours.publicSignals,
    ptauPower: ours.ptau.power,
    proveMsMedian: median(ourProofs.ms),
    proveMs: ourProofs.ms,
    verifyGas: ourGas.gas,
    tamperAccepted: ourTamper.accepted,
    tamper: summary(ourTamper, ourForged),
    weightsBound: q.weights === "public" || ours.weightCommitment !== undefined,
    notes:
      "public weights are circuit constants; every rescale's remainder and quotient range-checked; " +
      "inputs and output packed into the public signals with the request binding",
    ratioToBaseline: {
      constraints: ratio(ours.constraints, circuit.constraints),
      constraintsPerNeuron: ratio(ours.constraints / neurons, circuit.constraints / neurons),
      proveMsMedian: ratio(median(ourProofs.ms), median(baseProofs.ms)),
      verifyGas: ratio(ourGas.gas, baseGas.gas),
    },
  };
  return [ourRow, baseRow];
}

/** The rows as `console.table` prints them: both constructions, each figure beside its ratio ours / baseline. */
export function baselineTable(rows: readonly BaselineRow[]): Record<string, string | number | boolean>[] {
  const base = rows.find((r) => r.construction === "circomlib-ml");
  // a ratio column's cell, left out (printed empty) on the baseline's own row
  const vs = (r: BaselineRow, column: string, v: (r: BaselineRow) => number) =>
    !base || r === base ? {} : { [column]: ratio(v(r), v(base)) };
  return rows.map((r) => ({
    construction: r.construction,
    constraints: r.constraints,
    ...vs(r, "÷ baseline", (x) => x.constraints),
    "per neuron": r.constraintsPerNeuron,
    ...vs(r, "per neuron ÷ baseline", (x) => x.constraintsPerNeuron),
    "activation alone": r.activationConstraintsPerNeuron,
    "prove ms (warm, median)": r.proveMsMedian,
    ...vs(r, "prove ÷ baseline", (x) => x.proveMsMedian),
    "verify gas": r.verifyGas,
    ...vs(r, "gas ÷ baseline", (x) => x.verifyGas),
    "public signals": r.publicSignals,
    "tamper accepted": r.tamperAccepted,
    "forged proof verifies": r.tamper.forgedProofVerifies,
  }));
}

/** `n` items at evenly spaced indices (held-out digits come sorted by class). */
export function spread<T>(xs: readonly T[], n: number): T[] {
  if (n >= xs.length) return [...xs];
  return Array.from({ length: n }, (_, i) => xs[Math.floor((i * xs.length) / n)]);
}

function ratio(a: number, b: number): number {
  return Math.round((a / b) * 1000) / 1000;
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

function summary(t: TamperOutcome, forgedProofVerifies: boolean): TamperSummary {
  return {
    sample: t.sample,
    change: t.change,
    classBefore: t.classBefore,
    classAfter: t.classAfter,
    violatedConstraints: t.violatedConstraints,
    violatedSignals: t.violatedSignals,
    rejectedBy: t.rejectedBy,
    forgedProofVerifies,
  };
}

/** The baseline's class by witness calculation, against Sibyl's runtime and the BigInt evaluation. */
export async function baselineAgreement(
  circuit: CompiledCircuit,
  net: BaselineNetwork,
  inputs: readonly (readonly bigint[])[],
  runtimeClass: (x: readonly bigint[]) => number,
): Promise<{ samples: number; withRuntime: number; withEvaluation: number }> {
  let runtime = 0;
  let evaluation = 0;
  for (const x of inputs) {
    const c = Number((await NamedWitness.of(circuit, baselineInput(net, x))).get("main.out"));
    if (c === runtimeClass(x)) runtime++;
    if (c === baselineForward(net, x).class) evaluation++;
  }
  return {
    samples: inputs.length,
    withRuntime: inputs.length ? runtime / inputs.length : 0,
    withEvaluation: inputs.length ? evaluation / inputs.length : 0,
  };
}
