/**
 * The batch part of `npm run bench` (docs/batching.md): per model and batch size k, one full
 * batch of k answered requests settled with one proof: `settleGas` (the settleBatch
 * transaction), `gasPerInference`, `proveMs` and the batch verifier's own gas on that proof, for
 * every k whose circuit fits a ptau file at hand (the development ones go up to 2^16).
 */
import { type Signer, id } from "ethers";

import { batchLayout } from "../src/circuit/batch.js";
import type { StackModel, SibylStack } from "../src/chain/stack.js";
import { setUpBatches } from "../src/chain/stack.js";
import { requestInference } from "../src/client/client.js";
import type { Logger } from "../src/log.js";
import { findPtau, requiredPower } from "../src/zk/ptau.js";
import { proveBatch } from "../src/pipeline/batchProver.js";
import { toSolidityProof } from "../src/zk/prover.js";

export interface BatchPoint {
  k: number;
  /** the settleBatch transaction of a full batch */
  settleGas: number;
  gasPerInference: number;
  proveMs: number;
  /**
   * the verifier alone on the same proof, as a transaction: snarkjs's own exported verifier
   * (`snarkjs zkey export solidityverifier`), which is what Sibyl registers
   */
  plainVerifierGas: number;
  constraints: number;
  publicSignals: number;
  ptauPower: number;
  setupMs?: number;
}

/** Sizes measured when the circuit fits the development ptau files. */
export const BATCH_SIZES = [1, 4, 8, 16, 32, 64];

/**
 * Whether the batch circuit for k fits a ptau file at hand (the development ones go up to 2^16),
 * estimating a slot's constraints from the model's own circuit and the slot gadget's.
 */
function fits(model: StackModel, k: number): boolean {
  const { quantized, constraints } = model.artifacts;
  const layout = batchLayout(quantized);
  const slot = constraints + (layout.compact ? layout.inBits + layout.outBits + 133 : layout.slotSignals + 3);
  return findPtau(requiredPower(k * slot, k * layout.slotSignals)) !== undefined;
}

export async function benchBatch(
  stack: SibylStack,
  model: StackModel,
  requester: Signer,
  nodeSigner: Signer,
  input: bigint[],
  output: bigint[],
  log: Logger,
): Promise<BatchPoint[]> {
  const { artifacts, modelId } = model;
  const sizes = BATCH_SIZES.filter((k) => fits(model, k));
  log.info(`  batch settlement: k = ${sizes.join(", ")} (building and registering the batch circuits…)`);
  const batches = await setUpBatches(stack.registry, modelId, artifacts.name, sizes, log);
  const { fee, stake } = (await stack.registry.getModel(modelId)).config;
  const node = stack.precompile.connect(nodeSigner);
  const points: BatchPoint[] = [];
  for (const batch of batches) {
    // k answers lock k stakes at once: top the bond up for them
    await (await node.registerNode({ value: stake * BigInt(batch.k) })).wait();
    const entries = [];
    for (let i = 0; i < batch.k; i++) {
      const { requestId } = await requestInference(stack.precompile.connect(requester), modelId, input, {
        fee,
      });
      await (await node.answer(requestId, output)).wait();
      entries.push({ requestId, input, output });
    }
    const proof = await proveBatch(batch, entries);
    const words = toSolidityProof(proof.proof);
    const verifyGas = await stack.precompile.runner!.provider!.estimateGas({
      to: (await stack.registry.batchVerifierOf(modelId, batch.k)).verifier,
      data: verifyCalldata(batch.publicSignals, words, proof.publicSignals),
    });
    const receipt = await (await node.settleBatch(modelId, batch.k, proof.requestIds, words)).wait();
    const settleGas = Number(receipt!.gasUsed);
    points.push({
      k: batch.k,
      settleGas,
      gasPerInference: Math.round(settleGas / batch.k),
      proveMs: proof.ms,
      plainVerifierGas: Number(verifyGas),
      constraints: batch.constraints,
      publicSignals: batch.publicSignals,
      ptauPower: batch.ptau.power,
      setupMs: batch.timings.setupMs,
    });
    log.info(
      `    k = ${batch.k}: ${settleGas} gas (${Math.round(settleGas / batch.k)} per inference), proof ${proof.ms} ms`,
    );
  }
  return points;
}

/** `verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[n])` calldata for a proof and its signals. */
function verifyCalldata(n: number, proof: bigint[], signals: string[]): string {
  const selector = generateSelector(n);
  const words = [...proof, ...signals.map((s) => BigInt(s))].map((w) => w.toString(16).padStart(64, "0"));
  return `${selector}${words.join("")}`;
}

function generateSelector(n: number): string {
  const signature = `verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[${n}])`;
  return id(signature).slice(0, 10);
}
