import type { ModelArtifacts } from "../pipeline/artifacts.js";
import { type BatchArtifacts, loadBatchArtifacts } from "../pipeline/buildBatch.js";
import type { CircuitFiles } from "../zk/prover.js";

/**
 * The circuits of built models as provers see them, named as the node names them: the model's
 * own circuit is "<model>", a batch circuit "<model>/batch-k<k>".
 */

export function modelCircuit(a: ModelArtifacts): CircuitFiles {
  return { name: a.name, wasmPath: a.wasmPath, zkeyPath: a.zkeyPath, zkeyHash: a.zkeyHash };
}

export function batchCircuit(b: BatchArtifacts): CircuitFiles {
  return {
    name: `${b.name}/batch-k${b.k}`,
    wasmPath: b.wasmPath,
    zkeyPath: b.zkeyPath,
    zkeyHash: b.zkeyHash,
  };
}

/**
 * Every circuit of these built models: each model's, and its batch circuits of `batchSizes`
 * (a missing one is a BuildError that names `sibyl:build --batch`).
 */
export function circuitsOf(
  models: readonly ModelArtifacts[],
  batchSizes: readonly number[] = [],
): CircuitFiles[] {
  return models.flatMap((m) => [
    modelCircuit(m),
    ...batchSizes.map((k) => batchCircuit(loadBatchArtifacts(m.name, k))),
  ]);
}
