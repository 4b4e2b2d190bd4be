/**
 * The side-by-side of `npm run bench` (issue 13): the MNIST MLP as Sibyl builds it and as the
 * templates of circomlib-ml build it (src/bench/baselineCircuit.ts), measured the same way —
 * constraints, constraints per neuron, warm proving time with the same snarkjs, the exported
 * verifier's gas on an in-process chain — and the tamper test: one hinted witness value changed
 * so that the class changes, checked against each r1cs, then proved and sent to each verifier.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Interface, getAddress, keccak256, toUtf8Bytes } from "ethers";
import * as snarkjs from "snarkjs";

import { templateConstraints } from "../circuit/cost.js";
import { BN254_P } from "../circuit/field.js";
import { circuitInputFor } from "../circuit/inputs.js";
import { readR1csHeader } from "../circuit/r1cs.js";
import { type Logger, prefixed, silentLogger } from "../log.js";
import { quantizeInput } from "../model/quantize.js";
import type { ModelArtifacts } from "../pipeline/artifacts.js";
import { compileRuntimeCode } from "../pipeline/solc.js";
import { type QDense, runQuantized } from "../runtime/fixed.js";
import { type Groth16Proof, SnarkjsProver, toSolidityProof } from "../zk/prover.js";
import { ensurePtau, requiredPower } from "../zk/ptau.js";
import { exportVerifier, groth16Setup } from "../zk/setup.js";
import {
  type BaselineNetwork,
  type CompiledCircuit,
  type Construction,
  NamedWitness,
  type TamperOutcome,
  baselineBuildDir,
  baselineForward,
  baselineInput,
  baselineNetwork,
  compileBaseline,
  findBaselineTamper,
  neuronCount,
  tamperBaseline,
  tamperSibyl,
} from "./baselineCircuit.js";

/** The part of an ethers provider on Hardhat's in-process network that the gas measurement uses. */
export interface ChainProvider {
  send(method: string, params: unknown[]): Promise<unknown>;
  estimateGas(tx: { to: string; data: string }): Promise<bigint>;
  call(tx: { to: string; data: string }): Promise<string>;
}

export interface BaselineOptions {
  /** our build of the MNIST MLP (`buildModel`, or the bench's stack) */
  ours: ModelArtifacts;
  /** held-out samples, real-valued: the first is proved, the tamper search and the agreement use them in order */
  samples: readonly (readonly number[])[];
  /** an in-process chain (Hardhat's network: `hardhat_setCode` installs the verifiers) */
  provider: ChainProvider;
  /** warm proofs per construction (the bench's BENCH_PROOFS) */
  proofs: number;
  /** samples whose class the baseline's witness is compared on (default 200) */
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
  ratioToBaseline?: { constraints: number; constraintsPerNeuron: number; proveMsMedian: number; verifyGas: number };
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
    if (!g.accepts) throw new Error(`the ${name} verifier rejects an honest proof: the measurement is broken`);

  // the tamper test on each construction, then a proof from each tampered witness
  log.info("  tampering: one hinted value each, so that the class changes…");
  const ourTamper = await tamperSibyl(ours, x, 0);
  const found = findBaselineTamper(net, inputs);
  if (!found) throw new Error(`no ${net.name} sample has a ReLU whose zeroing changes the class`);
  const baseTamper = await tamperBaseline(circuit, net, inputs[found.sample], found);
  const ourForged = await forgedProofVerifies(opts.provider, ours.verifierContract, ourCode, ours.zkeyPath, ourTamper);
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
    inputs.slice(0, opts.agreementSamples ?? AGREEMENT_SAMPLES),
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
      "circomlib-ml 1.4.4 Dense/ReLU/ArgMax, no rescale; weights and biases are private inputs that nothing " +
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
  const vs = (r: BaselineRow, v: (r: BaselineRow) => number) =>
    !base || r === base ? "" : ratio(v(r), v(base)).toFixed(3);
  return rows.map((r) => ({
    construction: r.construction,
    constraints: r.constraints,
    "÷ baseline": vs(r, (x) => x.constraints),
    "per neuron": r.constraintsPerNeuron,
    "per neuron ÷ baseline": vs(r, (x) => x.constraintsPerNeuron),
    "activation alone": r.activationConstraintsPerNeuron,
    "prove ms (warm, median)": r.proveMsMedian,
    "prove ÷ baseline": vs(r, (x) => x.proveMsMedian),
    "verify gas": r.verifyGas,
    "gas ÷ baseline": vs(r, (x) => x.verifyGas),
    "public signals": r.publicSignals,
    "tamper accepted": r.tamperAccepted,
    "forged proof verifies": r.tamper.forgedProofVerifies,
  }));
}

/** The median, rounded, as the bench's (scripts/stats.ts). */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : Math.round((s[m - 1] + s[m]) / 2);
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
    forgedProofVerifies,
  };
}

interface Proved {
  ms: number[];
  last: { proof: Groth16Proof; publicSignals: string[] };
}

async function proveWarm(
  prover: SnarkjsProver,
  proofs: number,
  input: (i: number) => Parameters<SnarkjsProver["prove"]>[0],
): Promise<Proved> {
  await prover.warm();
  const ms: number[] = [];
  let last;
  for (let i = 0; i < proofs; i++) {
    last = await prover.prove(input(i));
    ms.push(last.ms);
  }
  if (!last) throw new Error("benchBaseline needs at least one proof");
  return { ms, last };
}

/** The baseline's Groth16 keys and verifier, built once and kept beside its circuit. */
interface BaselineSetup {
  zkeyPath: string;
  contract: string;
  runtimeCode: string;
  publicSignals: number;
  ptauPower: number;
  setupMs: number;
}

async function setUpBaseline(circuit: CompiledCircuit, net: BaselineNetwork, log: Logger): Promise<BaselineSetup> {
  const record = join(circuit.dir, "setup.json");
  const zkeyPath = join(circuit.dir, "main.zkey");
  if (existsSync(record) && existsSync(zkeyPath))
    return { zkeyPath, ...(JSON.parse(readFileSync(record, "utf8")) as Omit<BaselineSetup, "zkeyPath">) };
  const header = await readR1csHeader(circuit.r1csPath);
  const publicSignals = header.nPubOut + header.nPubIn;
  const ptau = await ensurePtau(requiredPower(circuit.constraints, header.nPubIn, header.nPubOut), log);
  log.info(`  Groth16 setup of ${net.name} with ${ptau.path} (once; cached in ${circuit.dir})…`);
  const started = Date.now();
  await groth16Setup(circuit.r1csPath, ptau.path, zkeyPath, prefixed(log, "   "));
  const setupMs = Date.now() - started;
  const contract = `${net.name
    .split("_")
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join("")}Verifier`;
  const solPath = join(circuit.dir, `${contract}.sol`);
  await exportVerifier(zkeyPath, contract, solPath, [
    "GENERATED by Sibyl's bench (src/bench/baseline.ts) with snarkjs, for the circomlib-ml baseline.",
    "Do not edit: npm run bench rebuilds it.",
  ]);
  const runtimeCode = compileRuntimeCode(`${contract}.sol`, readFileSync(solPath, "utf8"), contract);
  const setup = { contract, runtimeCode, publicSignals, ptauPower: ptau.power, setupMs };
  writeFileSync(record, JSON.stringify(setup));
  return { zkeyPath, ...setup };
}

/** A verifier's runtime code, compiled with the settings of Sibyl's Hardhat config (cached by source). */
function verifierRuntime(path: string, contract: string): string {
  const source = readFileSync(path, "utf8");
  const dir = join(baselineBuildDir(), "verifiers");
  const cached = join(dir, `${contract}-${createHash("sha256").update(source).digest("hex").slice(0, 16)}.hex`);
  if (existsSync(cached)) return readFileSync(cached, "utf8");
  const code = compileRuntimeCode(`${contract}.sol`, source, contract);
  mkdirSync(dir, { recursive: true });
  writeFileSync(cached, code);
  return code;
}

/** Installs the verifier's code at an address of its own on the in-process chain. */
async function installVerifier(provider: ChainProvider, contract: string, runtimeCode: string): Promise<string> {
  const address = getAddress(`0x${keccak256(toUtf8Bytes(`sibyl.bench.baseline.${contract}`)).slice(-40)}`);
  await provider.send("hardhat_setCode", [address, runtimeCode]);
  return address;
}

function verifyCall(proof: Groth16Proof, publicSignals: readonly string[]): string {
  const abi = new Interface([
    `function verifyProof(uint256[2], uint256[2][2], uint256[2], uint256[${publicSignals.length}]) view returns (bool)`,
  ]);
  const p = toSolidityProof(proof);
  return abi.encodeFunctionData("verifyProof", [
    [p[0], p[1]],
    [
      [p[2], p[3]],
      [p[4], p[5]],
    ],
    [p[6], p[7]],
    publicSignals,
  ]);
}

/** verifyProof's gas as a transaction (what the bench's `verifyGas` is), and whether it returns true. */
async function verifierGas(
  provider: ChainProvider,
  contract: string,
  runtimeCode: string,
  proved: { proof: Groth16Proof; publicSignals: string[] },
): Promise<{ gas: number; accepts: boolean }> {
  const to = await installVerifier(provider, contract, runtimeCode);
  const data = verifyCall(proved.proof, proved.publicSignals);
  const accepts = BigInt(await provider.call({ to, data })) === 1n;
  return { gas: Number(await provider.estimateGas({ to, data })), accepts };
}

/**
 * Proves the tampered witness with the construction's proving key (snarkjs proves whatever
 * witness it is given; only a satisfying one makes a proof that verifies) and asks its verifier.
 */
async function forgedProofVerifies(
  provider: ChainProvider,
  contract: string,
  runtimeCode: string,
  zkeyPath: string,
  tamper: TamperOutcome,
): Promise<boolean> {
  const { proof, publicSignals } = await snarkjs.groth16.prove(
    { type: "mem", data: readFileSync(zkeyPath) } as never,
    { type: "mem", data: wtnsFile(tamper.tampered) } as never,
  );
  const to = await installVerifier(provider, contract, runtimeCode);
  return BigInt(await provider.call({ to, data: verifyCall(proof as unknown as Groth16Proof, publicSignals) })) === 1n;
}

/**
 * A witness in snarkjs's `.wtns` format: "wtns", version 2, two sections — the header (n8, the
 * prime, the count) and the values, each n8 bytes little-endian.
 */
export function wtnsFile(witness: readonly bigint[]): Uint8Array {
  const n8 = 32;
  const headerSize = 4 + n8 + 4;
  const valuesSize = witness.length * n8;
  const buf = Buffer.alloc(12 + 12 + headerSize + 12 + valuesSize);
  let pos = buf.write("wtns", 0, "latin1");
  pos = buf.writeUInt32LE(2, pos);
  pos = buf.writeUInt32LE(2, pos);
  const le = (v: bigint, at: number) => {
    for (let i = 0; i < n8; i++) buf[at + i] = Number((v >> BigInt(8 * i)) & 0xffn);
  };
  pos = buf.writeUInt32LE(1, pos);
  buf.writeBigUInt64LE(BigInt(headerSize), pos);
  pos += 8;
  pos = buf.writeUInt32LE(n8, pos);
  le(BN254_P, pos);
  pos += n8;
  pos = buf.writeUInt32LE(witness.length, pos);
  pos = buf.writeUInt32LE(2, pos);
  buf.writeBigUInt64LE(BigInt(valuesSize), pos);
  pos += 8;
  witness.forEach((v, i) => le(v, pos + i * n8));
  return buf;
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
