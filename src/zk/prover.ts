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

/** Pluggable prover: the node asks for proofs; where they are computed is the prover's business. */
export interface Prover {
  prove(input: CircuitInput): Promise<ProofResult>;
}

/** In-process snarkjs Groth16 prover (witness from the circuit's wasm, proof from the zkey). */
export class SnarkjsProver implements Prover {
  constructor(
    readonly wasmPath: string,
    readonly zkeyPath: string,
  ) {}

  async prove(input: CircuitInput): Promise<ProofResult> {
    const start = Date.now();
    try {
      const { proof, publicSignals } = await snarkjs.groth16.fullProve(input, this.wasmPath, this.zkeyPath);
      return { proof: proof as unknown as Groth16Proof, publicSignals, ms: Date.now() - start };
    } catch (e) {
      throw new ProofError(
        `proving failed: ${(e as Error).message}`,
        "the witness does not satisfy the circuit: check that the input and output match the model",
      );
    }
  }
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
  if (g.curve_bn128) {
    await g.curve_bn128.terminate();
    delete g.curve_bn128;
  }
}
