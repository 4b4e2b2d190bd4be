import type { TransactionReceipt } from "ethers";

import type { BatchEntry } from "../circuit/batch.js";
import type { Logger } from "../log.js";
import type { BatchArtifacts } from "../pipeline/buildBatch.js";
import { RequestState } from "../protocol/state.js";
import { proveBatch } from "../pipeline/batchProver.js";
import { type ProofResult, type Prover, type ProverFactory, toSolidityProof } from "../zk/prover.js";
import type { InferencePrecompile } from "../../typechain-types/index.js";
import { BatchQueue, type DueBatch } from "./batcher.js";
import { type Retrier, brief, sameAddress } from "./rpc.js";
import type { TxSender } from "./txSender.js";

/**
 * The node's batch settlement (docs/batching.md): answered requests of a model with batch
 * verifiers wait in a `BatchQueue`; a due batch is proved with one proof and settled with one
 * `settleBatch` transaction. Whatever goes wrong with a batch (a proof that fails, a request
 * settled or closed meanwhile, a revert, RPC failures past the retries) sends each of its
 * requests back to the node's one-by-one settlement, which checks each request's state
 * afresh: a request never waits on a batch that cannot settle.
 */

/** A request waiting for batch settlement (the node's job for it). */
export interface BatchItem extends BatchEntry {
  modelId: string;
  /** the block before the answer: this node's transactions for it are looked up from there */
  since?: number;
}

export interface BatchSettledEvent {
  modelId: string;
  k: number;
  requestIds: string[];
  txHash: string;
  gasUsed: bigint;
  proveMs: number;
  reason: DueBatch<unknown>["reason"];
}

export interface BatchSettlerOptions<T extends BatchItem> {
  precompile: InferencePrecompile;
  /** the node's address (the settler its events name) */
  address: () => string;
  txSender: () => TxSender;
  retrier: Retrier;
  log: Logger;
  /** settle a waiting answer once its deadline is this close (ms) */
  marginMs: number;
  /** makes the prover of each batch circuit */
  provers: ProverFactory;
  /** runs a proof in its prover's lane, with the node's other proofs (`ProofLanes`) */
  run: <R>(prover: Prover, work: () => Promise<R>) => Promise<R>;
  /** a request of the batch was settled by it */
  settled(item: T, receipt: TransactionReceipt, batch: BatchSettledEvent): void;
  /** the batch could not settle this request: settle it alone */
  fallBack(item: T, why: string): void;
}

interface ModelBatches<T> {
  queue: BatchQueue<T>;
  artifacts: Map<number, BatchArtifacts>;
  provers: Map<number, Prover>;
}

export class BatchSettler<T extends BatchItem> {
  private readonly models = new Map<string, ModelBatches<T>>();

  constructor(private readonly opts: BatchSettlerOptions<T>) {}

  /** Serves `modelId` in batches with these built and registered batch circuits. */
  addModel(modelId: string, batches: readonly BatchArtifacts[]): void {
    if (batches.length === 0) return;
    const proverOf = (b: BatchArtifacts): Prover =>
      this.opts.provers({
        name: `${b.name}/batch-k${b.k}`,
        wasmPath: b.wasmPath,
        zkeyPath: b.zkeyPath,
        zkeyHash: b.zkeyHash,
      });
    this.models.set(modelId.toLowerCase(), {
      queue: new BatchQueue<T>({ sizes: batches.map((b) => b.k), marginMs: this.opts.marginMs }),
      artifacts: new Map(batches.map((b) => [b.k, b])),
      provers: new Map(batches.map((b) => [b.k, proverOf(b)])),
    });
  }

  /** Every batch circuit's prover (the node warms them at start). */
  provers(): Prover[] {
    return [...this.models.values()].flatMap((m) => [...m.provers.values()]);
  }

  /** Whether answers of this model are settled in batches. */
  serves(modelId: string): boolean {
    return this.models.has(modelId.toLowerCase());
  }

  /** Queues an answer whose settlement deadline is `deadlineMs` (wall clock). */
  add(item: T, deadlineMs: number): void {
    this.models.get(item.modelId.toLowerCase())?.queue.add(item, deadlineMs);
  }

  /** Drops every waiting answer (their chain is gone). */
  clear(): void {
    for (const m of this.models.values()) while (m.queue.take(0, true).length > 0);
  }

  /** Settles the batches due now (all of them with `flush`); resolves when they are done. */
  async settleDue(flush = false): Promise<void> {
    const work: Promise<void>[] = [];
    for (const [modelId, m] of this.models)
      for (const due of m.queue.take(Date.now(), flush)) work.push(this.settle(modelId, m, due));
    await Promise.all(work);
  }

  private async settle(modelId: string, m: ModelBatches<T>, due: DueBatch<T>): Promise<void> {
    const { log } = this.opts;
    const artifacts = m.artifacts.get(due.k)!;
    const ids = due.items.map((i) => i.requestId);
    const label = `[batch of ${due.items.length}/${due.k} for ${artifacts.name}]`;
    log.info(
      `${label} ${due.reason === "full" ? "full" : due.reason === "deadline" ? "deadline near" : "flushing"}; proving…`,
    );
    let proof: ProofResult & { requestIds: string[] };
    try {
      const prover = m.provers.get(due.k)!;
      proof = await this.opts.run(prover, () => proveBatch(artifacts, due.items, prover));
    } catch (e) {
      return this.fallBackAll(due.items, `${label} proving failed (${brief(e)})`);
    }
    const subject = { stage: "settle batch", maybeSent: false, since: minSince(due.items) };
    let receipt: TransactionReceipt | undefined;
    try {
      receipt = await this.opts.txSender().send({
        subject,
        needed: () => this.allAnswered(ids),
        landed: (fromBlock) => this.landed(ids[0], fromBlock),
        send: (overrides) =>
          this.opts.precompile.settleBatch(
            modelId,
            due.k,
            proof.requestIds,
            toSolidityProof(proof.proof) as never,
            overrides,
          ),
      });
    } catch (e) {
      return this.fallBackAll(due.items, `${label} settlement failed (${brief(e)})`);
    }
    if (!receipt)
      return this.fallBackAll(due.items, `${label} not every request is still awaiting settlement`);
    const event: BatchSettledEvent = {
      modelId,
      k: due.k,
      requestIds: proof.requestIds,
      txHash: receipt.hash,
      gasUsed: receipt.gasUsed,
      proveMs: proof.ms,
      reason: due.reason,
    };
    log.info(
      `${label} settled (proof ${proof.ms} ms, ${receipt.gasUsed} gas: ${Math.round(Number(receipt.gasUsed) / due.items.length)} per request)`,
    );
    for (const item of due.items) this.opts.settled(item, receipt, event);
  }

  private async allAnswered(ids: readonly string[]): Promise<boolean> {
    for (const id of ids) {
      const state = await this.opts.retrier.read("state", id, () => this.opts.precompile.stateOf(id));
      if (Number(state) !== RequestState.Answered) return false;
    }
    return true;
  }

  /** This node's settleBatch transaction that settled `requestId`, if one landed. */
  private async landed(requestId: string, fromBlock: number): Promise<string | undefined> {
    const events = await this.opts.precompile.queryFilter(
      this.opts.precompile.filters.InferenceSettled(requestId),
      fromBlock,
    );
    return events.find((ev) => "args" in ev && sameAddress(ev.args.settler, this.opts.address()))
      ?.transactionHash;
  }

  private fallBackAll(items: readonly T[], why: string): void {
    this.opts.log.warn(`${why}; settling its requests one by one`);
    for (const item of items) this.opts.fallBack(item, why);
  }
}

function minSince(items: readonly BatchItem[]): number | undefined {
  const known = items.map((i) => i.since).filter((s): s is number => s !== undefined);
  return known.length ? Math.min(...known) : undefined;
}
