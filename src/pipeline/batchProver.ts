import { type BatchEntry, batchCircuitInput, sortForBatch } from "../circuit/batch.js";
import { ProofError } from "../errors.js";
import { weightSecretsOf } from "./artifacts.js";
import type { BatchArtifacts } from "./buildBatch.js";
import { type ProofResult, type Prover, SnarkjsProver, verifyProof } from "../zk/prover.js";

/**
 * One Groth16 proof for a batch of answered requests (docs/batching.md): the entries go into
 * the slots in ascending id order, as `settleBatch` takes the ids, padding fills the rest, and
 * the proof is checked off-chain before anyone pays gas for it.
 */
export async function proveBatch(
  batch: BatchArtifacts,
  entries: readonly BatchEntry[],
  prover: Prover = new SnarkjsProver(batch.wasmPath, batch.zkeyPath),
): Promise<ProofResult & { requestIds: string[] }> {
  const requestIds = sortForBatch(entries.map((e) => e.requestId));
  if (requestIds.length !== entries.length)
    throw new ProofError("a batch lists a request twice", "settle each request once");
  const byId = new Map(entries.map((e) => [BigInt(e.requestId), e]));
  const ordered = requestIds.map((id) => byId.get(BigInt(id)) as BatchEntry);
  const input = batchCircuitInput(batch.model.quantized, batch.k, ordered, weightSecretsOf(batch.model));
  const result = await prover.prove(input);
  if (!(await verifyProof(batch.vk, result.publicSignals, result.proof)))
    throw new ProofError(
      `the batch proof does not verify off-chain against the verification key of batch-k${batch.k}`,
    );
  return { ...result, requestIds };
}
