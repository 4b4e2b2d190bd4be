import { expect } from "chai";

import { type BatchEntry, batchCircuitInput, batchPublicSignals } from "../../src/circuit/batch.js";
import { circuitInputFor, publicSignalsFor } from "../../src/circuit/inputs.js";
import { quantizeInput } from "../../src/model/quantize.js";
import type { ModelArtifacts } from "../../src/pipeline/artifacts.js";
import type { BatchArtifacts } from "../../src/pipeline/buildBatch.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import type { VerificationKey } from "../../src/zk/setup.js";
import { type CircuitInput, type ProofResult, verifyProof } from "../../src/zk/prover.js";

/** Proof requests for the queue tests: a circuit input and the public signals its proof must carry. */
export interface ProofCase {
  input: CircuitInput;
  expected: string[];
}

/** Iris flowers (sepal and petal lengths and widths, cm): one of each class and a near one. */
const FLOWERS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.3, 3.3, 6.0, 2.5],
  [5.8, 2.7, 4.1, 1.0],
  [4.9, 3.0, 1.4, 0.2],
];

function entry(model: ModelArtifacts, i: number): BatchEntry {
  const q = model.quantized;
  const input = quantizeInput(q, FLOWERS[i % FLOWERS.length]);
  return {
    requestId: `0x${(0x5150 + i).toString(16).padStart(64, "0")}`,
    input,
    output: runQuantized(q, input).output,
  };
}

/** The proof of request #i of a public-weights model (its circuit input and public signals). */
export function singleCase(model: ModelArtifacts, i: number): ProofCase {
  const { requestId, input, output } = entry(model, i);
  return {
    input: circuitInputFor(model.quantized, requestId, input, output),
    expected: publicSignalsFor(model.quantized, requestId, input, output).map(String),
  };
}

/** One batch proof of requests #from.. (as many as the batch holds, ids ascending). */
export function batchCase(batch: BatchArtifacts, from = 0): ProofCase {
  const entries = Array.from({ length: batch.k }, (_, i) => entry(batch.model, from + i));
  return {
    input: batchCircuitInput(batch.model.quantized, batch.k, entries),
    expected: batchPublicSignals(batch.model.quantized, batch.k, entries).map(String),
  };
}

/** The proof carries the expected public signals and verifies against the circuit's key. */
export async function expectValidProof(
  vk: VerificationKey,
  result: ProofResult,
  expected: string[],
): Promise<void> {
  expect(result.publicSignals).to.deep.equal(expected);
  expect(await verifyProof(vk, result.publicSignals, result.proof)).to.equal(true);
}

type Emitter<T> = {
  on(name: string, l: (e: T) => void): unknown;
  off(name: string, l: (e: T) => void): unknown;
};

/**
 * Resolves with the first event `name` of any of `sources` whose payload passes `match`; rejects
 * after `timeoutMs`. Either way it leaves no listener or timer behind.
 */
export function nextEvent<T>(
  sources: Emitter<T> | Emitter<T>[],
  name: string,
  match: (e: T) => boolean = () => true,
  timeoutMs = 60_000,
): Promise<T> {
  const all = Array.isArray(sources) ? sources : [sources];
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      for (const s of all) s.off(name, listener);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no "${name}" event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (e: T) => {
      if (!match(e)) return;
      done();
      resolve(e);
    };
    for (const s of all) s.on(name, listener);
  });
}
