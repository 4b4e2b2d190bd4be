import { readFile } from "node:fs/promises";

import { WitnessCalculatorBuilder } from "circom_runtime";
import * as snarkjs from "snarkjs";

import { ProofError } from "../errors.js";
import type { VerificationKey } from "./setup.js";

import type { CircuitInput } from "../circuit/inputs.js";

export type { CircuitInput } from "../circuit/inputs.js";

export interface Groth16Proof {
  pi_a: string[];
  pi_b: string[][];
  pi_c: string[];
  protocol: string;
  curve: string;
}

export interface ProofResult {
  proof: Groth16Proof;
  publicSignals: string[];
  ms: number;
}

/**
 * Pluggable prover: the node asks for proofs; where they are computed is the prover's business
 * (in this process, `SnarkjsProver`; on workers behind a job queue, `QueueProver`).
 */
export interface Prover {
  prove(input: CircuitInput): Promise<ProofResult>;
  /** gets ready to prove at once (loads keys, builds the curve); optional */
  warm?(): Promise<void>;
  /**
   * how many proofs the node may ask for at once: 1 (the default) for a prover in this
   * process, which uses every core on one proof; more for a queue served by workers
   */
  readonly concurrency?: number;
}

/** What a prover needs of a circuit: its witness generator and proving key, and the key's hash. */
export interface CircuitFiles {
  /** for messages and metrics: "iris", "iris/batch-k4" */
  name: string;
  wasmPath: string;
  zkeyPath: string;
  /** "0x" + sha256 of the zkey (the registry's zkeyHash): which proving key a proof is made with */
  zkeyHash: string;
}

/** Makes the prover for one circuit (the node asks once per model and per batch size). */
export type ProverFactory = (circuit: CircuitFiles) => Prover;

/** The default: a warm in-process prover per circuit. */
export const inProcessProvers: ProverFactory = (c) => new SnarkjsProver(c.wasmPath, c.zkeyPath);

type WitnessCalculator = Awaited<ReturnType<typeof WitnessCalculatorBuilder>>;

/** What a warm prover keeps in memory: the compiled witness calculator and the proving key. */
interface Warm {
  calculator: WitnessCalculator;
  zkey: Uint8Array;
}

/**
 * In-process snarkjs Groth16 prover that proves warm: the circuit's witness calculator (its
 * wasm compiled once, with one wasm memory) and the zkey's bytes stay in memory, and each
 * proof is `groth16.prove` on the witness. `groth16.fullProve` with file paths re-reads and
 * re-compiles the wasm and re-reads the zkey every proof (Iris: 111 → 67 ms warm).
 * `warm()` does the loading and builds the curve's threads ahead of the first request.
 */
export class SnarkjsProver implements Prover {
  private loaded?: Promise<Warm>;
  /** the witness calculator is stateful: one witness at a time */
  private witnessTail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly wasmPath: string,
    readonly zkeyPath: string,
  ) {}

  async warm(): Promise<void> {
    await Promise.all([this.load(), curve()]);
  }

  async prove(input: CircuitInput): Promise<ProofResult> {
    const start = Date.now();
    let warm: Warm;
    try {
      warm = await this.load();
    } catch (e) {
      this.loaded = undefined; // a file fixed meanwhile is read again next time
      throw new ProofError(
        `cannot load the circuit's prover files (${this.wasmPath}, ${this.zkeyPath}): ${(e as Error).message}`,
        "build the model first (sibyl:build)",
      );
    }
    try {
      const wtns = await this.witness(warm.calculator, input);
      const { proof, publicSignals } = await snarkjs.groth16.prove(
        { type: "mem", data: warm.zkey } as never,
        { type: "mem", data: wtns } as never,
      );
      return { proof: proof as unknown as Groth16Proof, publicSignals, ms: Date.now() - start };
    } catch (e) {
      throw new ProofError(
        `proving failed: ${(e as Error).message}`,
        "the witness does not satisfy the circuit: check that the input and output match the model",
      );
    }
  }

  private load(): Promise<Warm> {
    this.loaded ??= (async () => {
      const [wasm, zkey] = await Promise.all([readFile(this.wasmPath), readFile(this.zkeyPath)]);
      const calculator = await WitnessCalculatorBuilder(wasm, { sanityCheck: true });
      return { calculator, zkey };
    })();
    return this.loaded;
  }

  private witness(calculator: WitnessCalculator, input: CircuitInput): Promise<Uint8Array> {
    const run = this.witnessTail.then(
      () => calculator.calculateWTNSBin(input, true),
      () => calculator.calculateWTNSBin(input, true),
    );
    this.witnessTail = run.catch(() => undefined);
    return run;
  }
}

/**
 * A cold proof, as every proof was made before provers were kept warm: `groth16.fullProve`
 * from the files (the bench's `proveColdMs`, next to a fresh curve).
 */
export async function proveCold(
  wasmPath: string,
  zkeyPath: string,
  input: CircuitInput,
): Promise<ProofResult> {
  const start = Date.now();
  const { proof, publicSignals } = await snarkjs.groth16.fullProve(input, wasmPath, zkeyPath);
  return { proof: proof as unknown as Groth16Proof, publicSignals, ms: Date.now() - start };
}

/** The curve being built, shared: snarkjs builds one per caller until the first is cached. */
let building: Promise<unknown> | undefined;

/**
 * Builds BN254's curve (and its worker threads) now, or returns the one built. Provers warming
 * at once share one build: separate builds would each start threads, and only the last curve
 * would be kept (and ever terminated), leaving the others' threads to hold the process open.
 */
async function curve(): Promise<void> {
  const { curves } = snarkjs as unknown as { curves: { getCurveFromName(name: string): Promise<unknown> } };
  building ??= curves.getCurveFromName("bn128");
  await building;
}

/** Off-chain Groth16 verification (about 20 ms). */
export async function verifyProof(
  vk: VerificationKey,
  publicSignals: string[],
  proof: Groth16Proof,
): Promise<boolean> {
  return snarkjs.groth16.verify(vk, publicSignals, proof as never);
}

/**
 * The proof as the precompile's `settle` takes it: [a0, a1, b00, b01, b10, b11, c0, c1],
 * with each pair of b coordinates swapped as the Solidity verifier's pairing expects.
 */
export function toSolidityProof(proof: Groth16Proof): bigint[] {
  return [
    proof.pi_a[0],
    proof.pi_a[1],
    proof.pi_b[0][1],
    proof.pi_b[0][0],
    proof.pi_b[1][1],
    proof.pi_b[1][0],
    proof.pi_c[0],
    proof.pi_c[1],
  ].map((v) => BigInt(v));
}

/** How many long-running users (in-process nodes) still need the curve's threads. */
let holders = 0;

/** Marks the prover's threads as needed until the returned function is called (a running node). */
export function holdProverThreads(): () => void {
  holders++;
  let released = false;
  return () => {
    if (!released) holders--;
    released = true;
  };
}

/** Ends the curve's threads unless a running node still needs them (tasks call it when done). */
export async function releaseIdleProverThreads(): Promise<void> {
  if (holders === 0) await releaseProverThreads();
}

/** snarkjs keeps worker threads for the curve alive; end them so the process can exit. */
export async function releaseProverThreads(): Promise<void> {
  const g = globalThis as { curve_bn128?: { terminate(): Promise<void> } };
  await building?.catch(() => undefined);
  building = undefined;
  if (g.curve_bn128) {
    await g.curve_bn128.terminate();
    delete g.curve_bn128;
  }
}
