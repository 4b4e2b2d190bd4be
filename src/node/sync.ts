import { AbiCoder, type Provider, hexlify, keccak256, randomBytes, type TransactionReceipt } from "ethers";

import { circuitInputFor } from "../circuit/inputs.js";
import { ChainError } from "../errors.js";
import type { Logger } from "../log.js";
import { type ModelArtifacts, weightSecretsOf } from "../pipeline/artifacts.js";
import { Finality, RequestState } from "../protocol/state.js";
import { runQuantized } from "../runtime/fixed.js";
import { type Prover, toSolidityProof, verifyProof } from "../zk/prover.js";
import type { InferencePrecompile } from "../../typechain-types/index.js";
import { type Retrier, brief, short } from "./rpc.js";
import type { TxSender } from "./txSender.js";
import type { Enclave } from "../tee/enclave.js";
import { attestAnswer } from "./tee.js";

/**
 * The node's part in synchronous calls (`ISyncInference`): run a call's model for the
 * pre-execution layer's preview, and prepare results on-chain for a coming transaction, each
 * bound to the transaction's origin and the exact call. A proof-carrying result is proved
 * here, before the transaction is sent; a deferred one is proved and settled later, like an
 * answer, once the transaction has consumed it (the node watches for that).
 */

/** One synchronous call a transaction will make, as the pre-execution layer found it. */
export interface SyncCall {
  /** the contract that makes the call */
  consumer: string;
  modelId: string;
  finality: Finality;
  /** answer an OpenGradient caller in the earlier layout */
  legacyLayout: boolean;
  /** fixed-point input */
  input: bigint[];
}

/** A result prepared on-chain for a call. */
export interface PreparedSync extends SyncCall {
  requestId: string;
  output: bigint[];
  /** proving time of a proof-carrying result (ms) */
  proveMs?: number;
}

/** What `prepareSync` needs of the node. */
export interface SyncContext {
  precompile: InferencePrecompile;
  precompileAddress: string;
  chainId: bigint;
  /** the node's address */
  address: string;
  modelOf(modelId: string): { artifacts: ModelArtifacts; prover: Prover; enclave?: Enclave } | undefined;
  sender: TxSender;
  log: Logger;
  provider: Provider;
}

/** The request id `prepare` gives a result: `keccak256(abi.encode(chainid, precompile, node, salt))`. */
export function preparedRequestId(chainId: bigint, precompile: string, node: string, salt: string): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["uint256", "address", "address", "bytes32"],
      [chainId, precompile, node, salt],
    ),
  );
}

/** The model's output for `input`, computed with the fixed-point runtime (what the node answers). */
export function runServedModel(
  ctx: Pick<SyncContext, "modelOf">,
  modelId: string,
  input: bigint[],
): bigint[] {
  return runQuantized(servedModel(ctx, modelId).artifacts.quantized, input).output;
}

function servedModel(ctx: Pick<SyncContext, "modelOf">, modelId: string) {
  const model = ctx.modelOf(modelId);
  if (!model)
    throw new ChainError(
      `model ${modelId} is not served by this node`,
      "start the node (or sibyl:proxy) with that model's file in --models",
    );
  return model;
}

/**
 * Prepares results for `calls`, the synchronous calls of one transaction from `origin`, in one
 * `prepare` transaction: runs each model, proves the proof-carrying ones (checking each proof
 * off-chain first), and waits until the transaction is mined. The fees come out of the
 * origin's credit; a deferred result locks the model's stake of the node's bond.
 */
export async function prepareSync(
  ctx: SyncContext,
  origin: string,
  calls: readonly SyncCall[],
): Promise<{ prepared: PreparedSync[]; receipt: TransactionReceipt }> {
  const prepared: PreparedSync[] = [];
  const items: Parameters<InferencePrecompile["prepare"]>[0] = [];
  for (const call of calls) {
    const salt = hexlify(randomBytes(32));
    const requestId = preparedRequestId(ctx.chainId, ctx.precompileAddress, ctx.address, salt);
    let output: bigint[];
    let proof: bigint[] = new Array<bigint>(8).fill(0n);
    let proveMs: number | undefined;
    let attestedAt = 0n;
    let signature = "0x";
    if (call.finality === Finality.Attested) {
      // the enclave runs the model and signs; the precompile checks the signature in `prepare`
      const signed = await attestAnswer(
        ctx,
        servedModel(ctx, call.modelId),
        requestId,
        call.modelId,
        call.input,
      );
      ({ output, attestedAt, signature } = signed);
    } else {
      output = runServedModel(ctx, call.modelId, call.input);
    }
    if (call.finality === Finality.ProofCarrying) {
      const model = servedModel(ctx, call.modelId);
      const result = await model.prover.prove(
        circuitInputFor(
          model.artifacts.quantized,
          requestId,
          call.input,
          output,
          weightSecretsOf(model.artifacts),
        ),
      );
      if (!(await verifyProof(model.artifacts.vk, result.publicSignals, result.proof)))
        throw new ChainError(
          `the proof for ${short(requestId)} does not verify off-chain against the model's verification key`,
          "rebuild the model (sibyl:build) so its zkey, verifier and registration agree",
        );
      proof = toSolidityProof(result.proof);
      proveMs = result.ms;
    }
    prepared.push({ ...call, requestId, output, ...(proveMs === undefined ? {} : { proveMs }) });
    items.push({
      origin,
      consumer: call.consumer,
      modelId: call.modelId,
      finality: call.finality,
      legacyLayout: call.legacyLayout,
      salt,
      input: call.input,
      output,
      proof,
      attestedAt,
      signature,
    });
  }
  const first = prepared[0].requestId;
  const subject = { requestId: first, stage: "prepare", maybeSent: false };
  const receipt = await ctx.sender.send({
    subject,
    // a prepared id is fresh (random salt): the transaction is needed until it has landed
    needed: async () => Number(await ctx.precompile.stateOf(first)) === 0,
    landed: async (fromBlock) => {
      const events = await ctx.precompile.queryFilter(
        ctx.precompile.filters.InferencePrepared(first, ctx.address),
        fromBlock,
      );
      return events[0]?.transactionHash;
    },
    send: (overrides) => ctx.precompile.prepare(items, overrides),
  });
  if (!receipt)
    throw new ChainError(`the prepare transaction for ${short(first)} was not sent`, "see the node's log");
  return { prepared, receipt };
}

/** A prepared result the node follows until a transaction consumes it or it expires. */
interface Waiting extends PreparedSync {
  /** the chain time of the prepare transaction's block */
  preparedAt: bigint;
}

/**
 * The node's prepared results that no transaction has consumed yet. A consumed deferred one
 * is handed back to be proved and settled like an answer; one left past the answer window is
 * expired by the node itself, which releases its stake and collects the fee the origin paid.
 */
export class PreparedResults {
  private readonly waiting = new Map<string, Waiting>();

  get size(): number {
    return this.waiting.size;
  }

  add(prepared: readonly PreparedSync[], preparedAt: bigint): void {
    for (const p of prepared) this.waiting.set(p.requestId, { ...p, preparedAt });
  }

  /** Forgets the consumed results among `requestIds`; returns the deferred ones (to prove and settle). */
  consumed(requestIds: readonly string[]): PreparedSync[] {
    const deferred: PreparedSync[] = [];
    for (const id of requestIds) {
      const p = this.waiting.get(id);
      if (!p) continue;
      this.waiting.delete(id);
      if (p.finality === Finality.Deferred) deferred.push(p);
    }
    return deferred;
  }

  /** The results past the answer window at chain time `now` (no transaction can consume them). */
  stale(now: bigint, answerWindow: bigint): PreparedSync[] {
    return [...this.waiting.values()].filter((p) => now > p.preparedAt + answerWindow);
  }

  forget(requestId: string): void {
    this.waiting.delete(requestId);
  }

  clear(): void {
    this.waiting.clear();
  }
}

/** What the node lends its synchronous desk. */
export interface SyncDeskOptions extends Omit<SyncContext, "sender"> {
  retrier: Retrier;
  /** the node's transaction sender now (it is replaced when the chain restarts) */
  sender(): TxSender;
  /** keeps a background job in the node's in-flight set */
  track(job: Promise<unknown>): void;
  /** a deferred result was consumed in block `block` by transaction `txHash`: prove and settle it */
  settle(prepared: PreparedSync, block: number, txHash: string): void;
}

/**
 * The node's synchronous desk: it prepares results for the pre-execution layer and follows
 * them until a transaction consumes them (a consumed deferred one goes to the node to be
 * proved and settled like an answer) or the answer window closes on them (the desk expires
 * them: the stake comes back, the fee the origin paid is credited to the node).
 */
export class SyncDesk {
  private readonly waiting = new PreparedResults();
  private answerWindow?: bigint;

  constructor(private readonly opts: SyncDeskOptions) {}

  /** Results prepared and not yet consumed or expired. */
  get size(): number {
    return this.waiting.size;
  }

  /** Forgets everything (the chain under the node was replaced). */
  reset(): void {
    this.waiting.clear();
    this.answerWindow = undefined;
  }

  preview(modelId: string, input: bigint[]): bigint[] {
    return runServedModel(this.opts, modelId, input);
  }

  /** Prepares `calls` on-chain for a coming transaction of `origin`, and follows them. */
  async prepare(
    origin: string,
    calls: readonly SyncCall[],
  ): Promise<{ prepared: PreparedSync[]; receipt: TransactionReceipt }> {
    const done = await prepareSync({ ...this.opts, sender: this.opts.sender() }, origin, calls);
    const block = await this.opts.provider.getBlock(done.receipt.blockNumber);
    this.waiting.add(done.prepared, BigInt(block?.timestamp ?? 0));
    return done;
  }

  /** Looks at blocks `from`…`to`: consumed results leave the list (deferred ones to be settled), stale ones are expired. */
  async watch(from: number, to: number): Promise<void> {
    const { precompile } = this.opts;
    const events = await precompile.queryFilter(precompile.filters.SyncInferenceConsumed(), from, to);
    const consumed = events.flatMap((ev) => ("args" in ev ? [ev] : []));
    for (const prepared of this.waiting.consumed(consumed.map((ev) => ev.args.requestId))) {
      const ev = consumed.find((e) => e.args.requestId === prepared.requestId)!;
      this.opts.settle(prepared, ev.blockNumber, ev.transactionHash);
    }
    if (this.waiting.size > 0) await this.expireStale(to);
  }

  private async expireStale(block: number): Promise<void> {
    const { precompile, provider, retrier, log } = this.opts;
    this.answerWindow ??= await retrier.read("answer window", undefined, () => precompile.answerWindow());
    const now = BigInt((await provider.getBlock(block))?.timestamp ?? 0);
    for (const { requestId } of this.waiting.stale(now, this.answerWindow)) {
      this.waiting.forget(requestId);
      const expiring = this.opts
        .sender()
        .send({
          subject: { requestId, stage: "expire", maybeSent: false },
          needed: async () => Number(await precompile.stateOf(requestId)) === RequestState.Prepared,
          landed: async (fromBlock) =>
            (await precompile.queryFilter(precompile.filters.InferenceExpired(requestId), fromBlock))[0]
              ?.transactionHash,
          send: (overrides) => precompile.expire(requestId, overrides),
        })
        .then(
          (receipt) => {
            if (receipt)
              log.info(`[${short(requestId)}] expired its unconsumed synchronous result (stake released)`);
          },
          (e: Error) => log.warn(`[${short(requestId)}] expiring its unconsumed result failed: ${brief(e)}`),
        );
      this.opts.track(expiring);
    }
  }
}
