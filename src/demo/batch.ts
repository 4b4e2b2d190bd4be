import type { Contract, Signer } from "ethers";

import type { SibylEnv } from "../env.js";
import { requestIdFrom } from "../client/client.js";
import { type SibylStack, setUpBatches, startNode } from "../chain/stack.js";
import { type Logger, prefixed } from "../log.js";
import { quantizeInput } from "../model/quantize.js";
import { NodeTracker } from "../node/tracker.js";
import { SAMPLES, fmt } from "./format.js";

/**
 * Batch settlement in the demo (docs/batching.md): the Iris model's batch verifier for
 * `k` is registered, a node that settles in batches starts, `k` borrowers apply at once, and
 * one proof settles all their answers in one `settleBatch` transaction.
 */

export interface BatchDemo {
  k: number;
  requestIds: string[];
  txHash: string;
  /** gas of the one settleBatch transaction */
  settleGas: bigint;
  proveMs: number;
  /** gas of the batch verifier's registration (undefined when it was registered already) */
  registrationGas?: bigint;
}

export async function batchApplications(
  env: SibylEnv,
  stack: SibylStack,
  nodeSigner: Signer,
  creditLine: Contract,
  borrowers: readonly Signer[],
  log: Logger,
  k = 4,
): Promise<BatchDemo> {
  const iris = stack.models.iris;
  log.info(`\n── batch settlement: one proof for ${k} answers`);
  const [batch] = await setUpBatches(stack.registry, iris.modelId, "iris", [k], prefixed(log, "  batch"));
  iris.batches = [batch];
  log.info(
    `   batch circuit: ${k} copies of the model, ${batch.constraints} constraints, ` +
      `${batch.layout.slotSignals} public signal per request (request id, input and output packed)`,
  );
  const node = await startNode(stack, { signer: nodeSigner, pollMs: 50, log: prefixed(log, "  node") });
  const tracker = new NodeTracker(node);
  try {
    const fee: bigint = await creditLine.applicationFee();
    const requestIds = await Promise.all(
      borrowers.slice(0, k).map(async (borrower, i) => {
        const input = quantizeInput(iris.artifacts.quantized, SAMPLES[i % SAMPLES.length].features);
        const tx = await (creditLine.connect(borrower) as Contract).applyForCredit(input, { value: fee });
        return requestIdFrom(stack.precompile, await tx.wait());
      }),
    );
    log.info(`   ${k} applications answered at once; their answers wait for the batch to fill…`);
    const settled = await Promise.all(requestIds.map((id) => tracker.waitSettled(id)));
    const { txHash, gasUsed, proveMs } = settled[0];
    log.info(
      `   settled    all ${k} in transaction ${txHash.slice(0, 18)}…  proof ${proveMs} ms  gas ${fmt(gasUsed)} ` +
        `(${fmt(gasUsed / BigInt(k))} per request)`,
    );
    return { k, requestIds, txHash, settleGas: gasUsed, proveMs };
  } finally {
    await node.stop();
  }
}
