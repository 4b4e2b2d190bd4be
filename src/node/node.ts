import { EventEmitter } from "node:events";
import type { Provider, TransactionReceipt } from "ethers";

import { type ModelArtifacts, weightSecretsOf } from "../pipeline/artifacts.js";
import type { BatchArtifacts } from "../pipeline/buildBatch.js";
import { circuitInputFor } from "../circuit/inputs.js";
import { ChainError } from "../errors.js";
import { type Logger, consoleLogger, prefixed } from "../log.js";
import { runQuantized } from "../runtime/fixed.js";
import {
  type ProofResult,
  type Prover,
  type ProverFactory,
  holdProverThreads,
  inProcessProvers,
  toSolidityProof,
  verifyProof,
} from "../zk/prover.js";
import type { InferencePrecompile } from "../../typechain-types/index.js";
import {
  type BondState,
  type DeclineReason,
  type NodePolicy,
  type NodePolicyOptions,
  type RequestTerms,
  checkTerms,
  decide,
  describePolicy,
  resolvePolicy,
} from "./policy.js";
import { type BlockMark, type ChainChange, ChainWatch } from "./chainWatch.js";
import { publishPolicy } from "./publish.js";
import { findUnsettledAnswers } from "./recovery.js";
import { type BatchSettledEvent, BatchSettler } from "./batchSettle.js";
import { Retrier, brief, isRevert, sameAddress, short, sleep } from "./rpc.js";
import { Mode, RequestState } from "../protocol/state.js";
import type { Enclave, TeeAnswer } from "../tee/enclave.js";
import { type AttestedEvent, attestAnswer } from "./tee.js";
import { TxSender } from "./txSender.js";
import { ProofLanes } from "./lanes.js";
import type { AssignmentOptions } from "./assignment.js";
import { Takeovers, type WatchedAnswer } from "./takeover.js";
import { type PreparedSync, type SyncCall, SyncDesk } from "./sync.js";

/**
 * The inference node: watch requests → apply its policy → run the model once (fixed-point
 * runtime) → answer at once → prove in the background (snarkjs Groth16) → settle. The same
 * class runs in-process (tests, demo, bench) and standalone (`sibyl:node`) against any
 * JSON-RPC chain. Its parts: the poll loop and the jobs here, the policy (`policy.ts`,
 * published by `publish.ts`), the transaction sender (`txSender.ts`), the RPC retries
 * (`rpc.ts`), the recovery of unsettled answers after a restart (`recovery.ts`) and the watch
 * on the chain itself (`chainWatch.ts`): a chain restarted or replaced under the node is
 * noticed, said in the log, and served afresh (see `resync`).
 *
 * The RPC endpoint is allowed to fail. Every read is retried with a growing pause; every
 * transaction is preceded by a fresh look at the request's on-chain state; and a
 * transaction whose outcome is unknown is never sent twice (see `TxSender`). A request
 * that outlasts the retries is set aside and taken up again later, not dropped.
 */

export { RequestState } from "../protocol/state.js";

export interface ServedModel {
  modelId: string;
  artifacts: ModelArtifacts;
  /** proves this model's answers (default: the node's `provers`) */
  prover?: Prover;
  /** the attested enclave that runs the model for TEE-mode requests (registered on-chain) */
  enclave?: Enclave;
  /**
   * built batch circuits whose verifiers are registered for this model: its answers are then
   * settled in batches (docs/batching.md); none: one proof per request
   */
  batches?: BatchArtifacts[];
}

export type { AttestedEvent } from "./tee.js";

export interface NodeOptions {
  /** the precompile, connected to the node's signer */
  precompile: InferencePrecompile;
  models: ServedModel[];
  log?: Logger;
  /**
   * what the node answers, published on-chain at start (`setNodePolicy`) when the chain holds
   * another policy. Defaults (`DEFAULT_NODE_POLICY`): any fee the model's terms allow
   * (`minFee` 0), up to 1,000,000 callback gas per hook (`maxCallbackGasLimit`), and any stake
   * its free bond can back (`maxStake` undefined). The bond rule always applies: an answer
   * needs `bond − locked ≥ stake + minBond`.
   */
  policy?: NodePolicyOptions;
  /** how often to poll for new blocks (ms) */
  pollMs?: number;
  /** first block to scan for requests and for this node's unsettled answers */
  fromBlock?: number;
  /** attempts for each transaction before the request is set aside (default 5) */
  txAttempts?: number;
  /** attempts for each chain read (state, logs, receipts, nonce) before giving up on it (default 5) */
  readAttempts?: number;
  /** first pause between two attempts (ms); it doubles at each attempt up to `maxBackoffMs` (default 100) */
  backoffMs?: number;
  /** longest pause between two attempts, and between two failed polls (ms, default 5000) */
  maxBackoffMs?: number;
  /** how long to wait for a sent transaction to be mined before asking the chain what became of it (ms, default 60 s) */
  receiptTimeoutMs?: number;
  /** how long a request set aside after RPC failures waits before the node takes it up again (ms, default 10 s) */
  retryAfterMs?: number;
  /** how many times a request is taken up after RPC failures before it is reported as failed (default 5) */
  maxRounds?: number;
  /**
   * when the chain is restarted or replaced under the node: how many blocks below the new
   * chain's head it scans for requests and its unsettled answers (default 1000; a chain
   * shorter than that is scanned from block 0)
   */
  resyncBlocks?: number;
  /**
   * batch settlement: an answer waits for its batch to fill until its settlement deadline is
   * this close, then settles with the answers waiting with it (ms, default 120 s; it must cover
   * proving a batch and getting a transaction mined)
   */
  batchMarginMs?: number;
  /**
   * makes the prover of each circuit the node proves with (each model's, each batch size's):
   * by default a warm prover in this process; `queueProvers(...).factory` hands the proofs to
   * `sibyl:prover` workers through Redis (docs/operating.md)
   */
  provers?: ProverFactory;
  /**
   * several nodes serving one precompile: follow the assignment rule (`assignment.ts`,
   * docs/operating.md), answering a request at once only as its primary, and taking over a
   * peer's request or unsettled answer in turn. Off by default: the node answers every
   * request it may at once.
   */
  assignment?: AssignmentOptions;
}

/** How close to its settlement deadline a batched answer stops waiting, unless told otherwise. */
export const DEFAULT_BATCH_MARGIN_MS = 120_000;

export interface AnsweredEvent {
  requestId: string;
  modelId: string;
  output: bigint[];
  txHash: string;
  gasUsed: bigint;
  /** ms from the node seeing the request to the answer being mined */
  answerMs: number;
}
export interface SettledEvent {
  requestId: string;
  modelId: string;
  proveMs: number;
  /** ms from the node taking the request on (seeing it, or recovering its answer) to the settlement mined */
  latencyMs: number;
  txHash: string;
  /** the settlement transaction's gas (the whole batch's, for a batch) */
  gasUsed: bigint;
  /** set when the request was settled in a batch */
  batch?: { k: number; size: number };
}
export interface FailedEvent {
  requestId: string;
  stage: "answer" | "prove" | "settle";
  error: Error;
}
/**
 * The node took over a peer's work under the assignment rule: a request its primary left
 * unanswered (`answer`), or an answer its node left unsettled near its deadline (`settle`).
 */
export interface TakeoverEvent {
  requestId: string;
  stage: "answer" | "settle";
  /** the request's primary (answer) or the node that answered it (settle) */
  from: string;
}
/**
 * Something went wrong on the node's side, reported once per occurrence for operators
 * (metrics count them by kind): a poll or a transaction stopped by RPC failures (`rpc`), a
 * transaction the chain refused (`revert`), a proof that failed (`prove`).
 */
export interface FaultEvent {
  kind: "rpc" | "revert" | "prove";
  requestId?: string;
  message: string;
}
/**
 * The chain under the node was restarted or replaced: the node dropped what it had in flight
 * on the old chain and serves the new one from `fromBlock`.
 */
export interface ChainRestartedEvent {
  previousGenesis: string;
  genesis: string;
  /** the highest block the node had seen on the old chain */
  previousHead: number;
  head: number;
  /** the requests in flight on the old chain, dropped */
  dropped: string[];
  fromBlock: number;
}
/** A request the node's policy or bond does not allow it to answer; it is not taken up again. */
/** The node prepared results for a synchronous transaction (`prepareSync`). */
export interface PreparedEvent {
  origin: string;
  prepared: PreparedSync[];
  txHash: string;
  gasUsed: bigint;
}

export interface DeclinedEvent {
  requestId: string;
  modelId: string;
  reason: DeclineReason;
  /** the rule it breaks, as `sibyl:status` words it: "callback gas 5,000,000 above its limit 1,000,000" */
  detail: string;
}

/** A request this node has taken on and not finished with. */
interface Job {
  /** the chain the job belongs to: the node's `epoch` when it was taken on */
  epoch: number;
  requestId: string;
  modelId: string;
  model: ServedModel & { prover: Prover };
  input: bigint[];
  output: bigint[];
  /** what the request asks of its node (answer jobs; a recovered answer has none) */
  terms?: RequestTerms;
  /** a TEE-mode request's answer, signed by the model's enclave: final when it lands */
  attested?: TeeAnswer;
  stage: "answer" | "settle";
  seenAt: number;
  /** the block before this node's first transaction for the request: its own events are looked up from there */
  since?: number;
  /** this stage's transaction may have been sent already, with an unknown outcome */
  maybeSent: boolean;
  /** times this stage was set aside after RPC failures */
  rounds: number;
  /** when a set-aside job is due to be taken up again (ms since the epoch) */
  retryAt?: number;
  /** kept so that a settlement retried later does not prove again */
  proof?: ProofResult;
  /** set when the bond check right before the answer declined it */
  declined?: { reason: DeclineReason; message: string };
  /** declined for want of free bond: looked at again every `retryAfterMs` while still Requested */
  waitingForBond?: boolean;
  /** assignment: the nodes in the order they take the request up (this one among them) */
  ranking?: string[];
}

/** What the node needs to settle a peer's answer it watches (`Takeovers`). */
type PeerWork = Pick<Job, "epoch" | "modelId" | "model" | "input">;

export class InferenceNode extends EventEmitter {
  private readonly precompile: InferencePrecompile;
  private readonly models = new Map<string, ServedModel & { prover: Prover }>();
  private readonly log: Logger;
  /** the policy this node applies before answering */
  readonly policy: NodePolicy;
  private readonly pollMs: number;
  private readonly txAttempts: number;
  private readonly receiptTimeoutMs: number;
  private readonly retryAfterMs: number;
  private readonly maxRounds: number;
  private readonly resyncBlocks: number;
  /** first block of the search for unsettled answers (moves to the new chain's after a restart) */
  private fromBlock: number;
  /** counts the chains served: a job of an earlier one is stale and stops at its next step */
  private epoch = 0;
  private readonly watch: ChainWatch;
  private readonly retrier: Retrier;
  private sender?: TxSender;
  private nextBlock: number;
  private pollFailures = 0;
  /** the start-up search for unsettled answers failed and must be run again */
  private recoveryDue = false;
  private recoveryAt = 0;
  /** publishing the policy failed on RPC errors and must be tried again */
  private publicationDue = false;
  private publicationAt = 0;
  private minBond?: bigint;
  private timer?: NodeJS.Timeout;
  private running = false;
  /** keeps the prover's threads alive while the node runs */
  private releaseProver?: () => void;
  private ticking?: Promise<void>;
  /** every request this node has taken on, skipped or declined, so duplicates are ignored */
  private readonly seen = new Set<string>();
  /** requests taken on and not finished: in flight, or set aside until `retryAt` */
  private readonly jobs = new Map<string, Job>();
  /** proofs run one at a time in this process, or as many at once as a queue of workers takes */
  private readonly lanes = new ProofLanes();
  private readonly inFlight = new Set<Promise<unknown>>();
  private address = "";
  private chainId = 0n;
  private precompileAddress = "";
  /** prepares synchronous results and follows them until consumed or expired */
  private desk?: SyncDesk;
  /** settles the answers of models with batch circuits in batches */
  private readonly batcher: BatchSettler<Job>;
  /** the assignment rule, when several nodes serve the precompile */
  private readonly takeovers?: Takeovers<PeerWork>;

  constructor(opts: NodeOptions) {
    super();
    this.precompile = opts.precompile;
    this.log = opts.log ?? consoleLogger;
    this.policy = resolvePolicy(opts.policy);
    this.pollMs = opts.pollMs ?? 250;
    this.txAttempts = opts.txAttempts ?? 5;
    this.receiptTimeoutMs = opts.receiptTimeoutMs ?? 60_000;
    this.retryAfterMs = opts.retryAfterMs ?? 10_000;
    this.maxRounds = opts.maxRounds ?? 5;
    this.resyncBlocks = opts.resyncBlocks ?? 1000;
    this.watch = new ChainWatch({
      head: () => this.head(),
      hashAt: async (n) => (await this.provider.getBlock(n))?.hash ?? undefined,
    });
    this.retrier = new Retrier(
      {
        readAttempts: opts.readAttempts ?? 5,
        backoffMs: opts.backoffMs ?? 100,
        maxBackoffMs: opts.maxBackoffMs ?? 5_000,
      },
      this.log,
    );
    this.fromBlock = this.nextBlock = opts.fromBlock ?? 0;
    if (opts.assignment)
      this.takeovers = new Takeovers(opts.assignment, this.precompile, this.retrier, this.log);
    this.batcher = new BatchSettler<Job>({
      precompile: this.precompile,
      address: () => this.address,
      txSender: () => this.txSender,
      retrier: this.retrier,
      log: this.log,
      marginMs: opts.batchMarginMs ?? DEFAULT_BATCH_MARGIN_MS,
      provers: opts.provers ?? inProcessProvers,
      run: (prover, work) => this.lanes.run(prover, work),
      settled: (job, receipt, batch) => this.batchSettled(job, receipt, batch),
      fallBack: (job) => {
        if (!this.stale(job)) this.enqueueProof(job);
      },
    });
    const provers = opts.provers ?? inProcessProvers;
    for (const m of opts.models) {
      const { name, wasmPath, zkeyPath, zkeyHash } = m.artifacts;
      this.models.set(m.modelId.toLowerCase(), {
        ...m,
        prover: m.prover ?? provers({ name, wasmPath, zkeyPath, zkeyHash }),
      });
    }
    for (const m of opts.models) this.batcher.addModel(m.modelId, m.batches ?? []);
  }

  /**
   * Starts watching: publishes the node's policy if the chain holds another one, settles any
   * of its answers left unsettled (after a restart), then polls for requests.
   */
  async start(): Promise<void> {
    if (this.running) return;
    const runner = this.precompile.runner;
    if (!runner?.provider || !("getAddress" in runner))
      throw new Error("the node's precompile handle needs a signer with a provider");
    this.address = await (runner as { getAddress(): Promise<string> }).getAddress();
    this.precompileAddress = await this.precompile.getAddress();
    this.chainId = (await this.provider.getNetwork()).chainId;
    this.sender = this.newTxSender();
    this.log.info(`policy: ${describePolicy(this.policy)}`);
    if (this.takeovers) this.log.info(this.takeovers.describe());
    try {
      await this.watch.start(await this.head());
    } catch {
      // the RPC failed: the first poll that reaches the chain starts the watch
    }
    await this.publishOrDefer(true);
    this.running = true;
    this.releaseProver = holdProverThreads();
    await this.warmProvers();
    await this.recoverOrDefer();
    this.log.info(
      `serving ${[...this.models.values()].map((m) => m.artifacts.name).join(", ")} as ${this.address} from block ${this.nextBlock}`,
    );
    this.schedule(0);
  }

  /**
   * Stops polling and waits for answers and proofs already under way; answers waiting for a
   * batch are settled now, in the batches they have.
   */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    await this.idle();
    await this.batcher.settleDue(true);
    await this.idle();
    this.releaseProver?.();
    this.releaseProver = undefined;
  }

  /**
   * Gets every prover ready before the first request (keys loaded, the curve's threads
   * built), so the first answer does not wait for it. A prover that cannot warm up is reported
   * here; its proofs will say what is wrong when they are asked for.
   */
  private async warmProvers(): Promise<void> {
    const start = Date.now();
    const provers = [
      ...new Set([...[...this.models.values()].map((m) => m.prover), ...this.batcher.provers()]),
    ];
    const results = await Promise.allSettled(provers.map((p) => p.warm?.()));
    for (const r of results)
      if (r.status === "rejected") this.log.warn(`a prover could not warm up: ${brief(r.reason)}`);
    this.log.info(`${provers.length} prover(s) warm in ${Date.now() - start} ms`);
  }

  /** Resolves when no answer, proof or settlement is in flight. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private get provider(): Provider {
    return this.precompile.runner!.provider!;
  }

  private get txSender(): TxSender {
    if (!this.sender) throw new Error("the node has not been started");
    return this.sender;
  }

  private newTxSender(): TxSender {
    return new TxSender({
      provider: this.provider,
      address: this.address,
      retrier: this.retrier,
      log: this.log,
      txAttempts: this.txAttempts,
      receiptTimeoutMs: this.receiptTimeoutMs,
    });
  }

  /** A job taken on for a chain the node no longer serves. */
  private stale(job: Job): boolean {
    return job.epoch !== this.epoch;
  }

  /** Forgets a finished job, unless a job of the new chain has taken its request id meanwhile. */
  private forget(job: Job): void {
    if (this.jobs.get(job.requestId) === job) this.jobs.delete(job.requestId);
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() =>
        // after failed polls, back off: an endpoint that is down is not hammered
        this.schedule(
          this.pollFailures > 0 ? this.retrier.backoff(this.pollFailures, this.pollMs) : this.pollMs,
        ),
      );
    }, ms);
  }

  /**
   * One poll: look at the chain's head (a chain restarted or replaced under the node is
   * served afresh, blocks that went back are scanned again), read new InferenceRequested
   * events (on RPC failure, the same range is read again next time), then take up the
   * requests set aside whose time has come.
   */
  private async tick(): Promise<void> {
    try {
      const latest = (await this.observe()).number;
      await this.takeovers?.refresh(latest);
      if (latest >= this.nextBlock) {
        const events = await this.precompile.queryFilter(
          this.precompile.filters.InferenceRequested(),
          this.nextBlock,
          latest,
        );
        if (this.desk && this.desk.size > 0) await this.desk.watch(this.nextBlock, latest);
        this.nextBlock = latest + 1;
        for (const ev of events) {
          if (!("args" in ev)) continue; // a log this event cannot decode: not one of ours
          const { requestId, modelId, input, mode, fee, callbackGasLimit, stake } = ev.args;
          const terms = { fee, callbackGasLimit: Number(callbackGasLimit), stake };
          this.track(this.handleRequest(requestId, modelId, [...input], terms, Number(mode) as Mode));
        }
      }
      this.pollFailures = 0;
      this.track(this.batcher.settleDue());
    } catch (e) {
      this.pollFailures++;
      this.fault("rpc", `poll failed: ${brief(e)}`);
      this.log.warn(
        `poll failed (${brief(e)}); retrying from block ${this.nextBlock} in ${this.retrier.backoff(this.pollFailures, this.pollMs)} ms`,
      );
    }
    await this.takeUpSetAside();
  }

  /** The node's account (known once it has started). */
  get account(): string {
    return this.address;
  }

  /**
   * The model's output for a synchronous call, for the pre-execution layer's preview (no
   * transaction). Throws a ChainError when this node does not serve the model.
   */
  previewSync(modelId: string, input: bigint[]): bigint[] {
    return this.syncDesk.preview(modelId, input);
  }

  /**
   * Prepares on-chain the results of the synchronous calls a coming transaction from `origin`
   * will make (see `sync.ts`); resolves once the `prepare` transaction is mined. Deferred
   * results are proved and settled after the transaction consumes them.
   */
  async prepareSync(origin: string, calls: readonly SyncCall[]): Promise<PreparedSync[]> {
    if (!this.running)
      throw new ChainError("the node is not running", "start it before sending synchronous calls");
    const { prepared, receipt } = await this.syncDesk.prepare(origin, calls);
    this.log.info(
      `prepared ${prepared.length} synchronous result(s) for ${short(origin)} (${receipt.gasUsed} gas)`,
    );
    const event: PreparedEvent = { origin, prepared, txHash: receipt.hash, gasUsed: receipt.gasUsed };
    this.emit("prepared", event);
    return prepared;
  }

  /** The desk, made on first use (it needs the address and chain the node learns at start). */
  private get syncDesk(): SyncDesk {
    this.desk ??= new SyncDesk({
      precompile: this.precompile,
      precompileAddress: this.precompileAddress,
      chainId: this.chainId,
      address: this.address,
      modelOf: (id) => this.models.get(id.toLowerCase()),
      log: this.log,
      provider: this.provider,
      retrier: this.retrier,
      sender: () => this.txSender,
      track: (p) => this.track(p),
      settle: (prepared, block, txHash) => this.settleConsumed(prepared, block, txHash),
    });
    return this.desk;
  }

  /** A deferred synchronous result was consumed: it is an Answered request now; prove and settle it. */
  private settleConsumed(prepared: PreparedSync, block: number, txHash: string): void {
    const { requestId } = prepared;
    if (this.seen.has(requestId)) return;
    this.seen.add(requestId);
    const job: Job = {
      epoch: this.epoch,
      requestId,
      modelId: prepared.modelId,
      model: this.models.get(prepared.modelId.toLowerCase())!,
      input: prepared.input,
      output: prepared.output,
      stage: "settle",
      seenAt: Date.now(),
      since: block - 1,
      maybeSent: false,
      rounds: 0,
    };
    this.jobs.set(requestId, job);
    this.log.info(`[${short(requestId)}] synchronous result consumed; proving`);
    this.emit("consumed", { requestId, txHash });
    this.enqueueProof(job);
  }

  /** The chain's latest block (its timestamp noted for the assignment rule's clock). */
  private async head(): Promise<BlockMark> {
    const block = await this.provider.getBlock("latest");
    if (!block?.hash) throw new Error("the endpoint returned no latest block");
    this.takeovers?.noteHead(block.timestamp);
    return { number: block.number, hash: block.hash };
  }

  /**
   * Reads the chain's head and compares it with the chain the node has been serving: a chain
   * restarted or replaced is served afresh (`resync`), blocks that went back are scanned again.
   * Returns the head to scan up to.
   */
  private async observe(): Promise<BlockMark> {
    const { head, change } = await this.watch.observe();
    if (change.kind === "restarted") await this.resync(change, head);
    else if (change.kind === "rewound") this.rescan(change);
    return head;
  }

  /** Blocks went back or were replaced on the same chain: scans them again (duplicates are ignored). */
  private rescan(change: Extract<ChainChange, { kind: "rewound" }>): void {
    const from = Math.max(this.fromBlock, change.forkAfter + 1);
    if (from >= this.nextBlock) return;
    this.log.info(
      `the chain's head went from block ${change.previousHead} to ${change.head}, its blocks up to ${change.forkAfter} unchanged; scanning again from block ${from}`,
    );
    this.nextBlock = from;
  }

  /**
   * The chain was restarted or replaced under the node: what it had in flight belongs to a
   * chain that is gone. Drops it (requests in flight, the requests seen, the next block to
   * scan, the minimum bond read), then runs its start-up path again on the new chain:
   * publishes its policy and recovers its unsettled answers, scanning from `resyncBlocks`
   * below the new head (from block 0 on a short chain), and keeps serving.
   */
  private async resync(change: Extract<ChainChange, { kind: "restarted" }>, head: BlockMark): Promise<void> {
    // read the new chain first: if that fails, nothing is dropped and the next poll sees the restart again
    await this.watch.start(head);
    const dropped = [...this.jobs.keys()];
    this.epoch++;
    this.jobs.clear();
    this.batcher.clear();
    this.takeovers?.clear();
    this.seen.clear();
    this.desk = undefined; // its results belong to the chain that is gone
    this.minBond = undefined;
    this.publicationDue = this.recoveryDue = false;
    // the old sender may be waiting for a receipt the new chain will never have
    this.sender = this.newTxSender();
    const fromBlock = Math.max(0, head.number - this.resyncBlocks);
    this.fromBlock = this.nextBlock = fromBlock;
    const { previousGenesis, genesis, previousHead } = change;
    const genesisChange =
      genesis === previousGenesis
        ? `genesis ${genesis} unchanged, every later block it had seen replaced`
        : `genesis ${previousGenesis} → ${genesis}`;
    this.log.warn(
      `the chain was restarted or replaced under the node (head block ${previousHead} → ${head.number}, ${genesisChange}): ` +
        `dropping ${dropped.length} request(s) in flight on the old chain; serving the new chain from block ${fromBlock} ` +
        "(Sibyl, the models and this node's bond must be on it too)",
    );
    const event: ChainRestartedEvent = {
      previousGenesis,
      genesis,
      previousHead,
      head: head.number,
      dropped,
      fromBlock,
    };
    this.emit("chainRestarted", event);
    await this.publishOrDefer(false);
    await this.recoverOrDefer();
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async handleRequest(
    requestId: string,
    modelId: string,
    input: bigint[],
    terms: RequestTerms,
    mode: Mode,
  ): Promise<void> {
    const log = prefixed(this.log, `[${short(requestId)}]`);
    if (this.seen.has(requestId)) return;
    this.seen.add(requestId);
    const model = this.models.get(modelId.toLowerCase());
    if (!model) {
      log.info(`model ${short(modelId)} is not served by this node; skipping`);
      return;
    }
    if (mode === Mode.TEE && !model.enclave) {
      log.info(`TEE-mode request, but this node runs no enclave for ${model.artifacts.name}; skipping`);
      return;
    }
    const verdict = checkTerms(terms, this.policy);
    if (!verdict.answer) return this.decline(requestId, modelId, verdict);
    const seenAt = Date.now();
    const epoch = this.epoch;
    let ranking: string[] | undefined;
    if (this.takeovers && mode !== Mode.TEE) {
      try {
        this.minBond ??= await this.retrier.read("minimum bond", requestId, () => this.precompile.minBond());
        ranking = await this.takeovers.ranking(requestId, terms, this.address, this.minBond);
      } catch (e) {
        return this.fail(requestId, "answer", e as Error);
      }
      const waitMs = this.takeovers.waitMs(ranking, this.address);
      if (waitMs > 0) {
        log.info(`its primary is ${short(ranking[0])}; taking it over in ${waitMs} ms if still unanswered`);
        await sleep(waitMs);
        if (!this.running || epoch !== this.epoch) return;
      }
    }
    let output: bigint[];
    let attested: TeeAnswer | undefined;
    try {
      if (mode === Mode.TEE) {
        attested = await attestAnswer(this.attestContext, model, requestId, modelId, input);
        output = attested.output;
      } else {
        output = runQuantized(model.artifacts.quantized, input).output;
      }
    } catch (e) {
      return this.fail(requestId, "answer", e as Error);
    }
    const job: Job = {
      epoch: this.epoch,
      requestId,
      modelId,
      model,
      input,
      output,
      terms,
      ...(attested ? { attested } : {}),
      ...(ranking ? { ranking } : {}),
      stage: "answer",
      seenAt,
      maybeSent: false,
      rounds: 0,
    };
    this.jobs.set(requestId, job);
    await this.answer(job);
  }

  private get attestContext() {
    return { provider: this.provider, chainId: this.chainId, precompileAddress: this.precompileAddress };
  }

  private async answer(job: Job): Promise<void> {
    const { requestId, output } = job;
    const log = prefixed(this.log, `[${short(requestId)}]`);
    let receipt;
    try {
      // taken up again after RPC failures: a fresh signature, so the answer is not stale
      if (job.attested && job.rounds > 0 && !job.maybeSent)
        job.attested = await attestAnswer(this.attestContext, job.model, requestId, job.modelId, job.input);
      const attested = job.attested;
      receipt = await this.txSender.send({
        subject: job,
        needed: () => this.answerNeeded(job),
        landed: async (fromBlock) => {
          const events = await this.precompile.queryFilter(
            this.precompile.filters.InferenceAnswered(requestId, this.address),
            fromBlock,
          );
          return events[0]?.transactionHash;
        },
        send: (overrides) =>
          attested
            ? this.precompile.answerAttested(
                requestId,
                output,
                attested.attestedAt,
                attested.signature,
                overrides,
              )
            : this.precompile.answer(requestId, output, overrides),
        cancelled: () => this.stale(job),
      });
    } catch (e) {
      return this.setAside(job, e as Error);
    }
    if (this.stale(job)) return;
    if (!receipt) {
      const declined = job.declined;
      job.declined = undefined;
      if (declined?.reason === "bond") return this.waitForBond(job, declined);
      this.forget(job);
      if (declined) return this.decline(requestId, job.modelId, declined);
      log.info("already answered or closed; skipping");
      if (job.ranking && this.takeovers) {
        const { epoch, modelId, model, input } = job;
        this.track(
          this.takeovers.watch(requestId, job.ranking, this.address, { epoch, modelId, model, input }, () =>
            this.stale(job),
          ),
        );
      }
      return;
    }
    if (job.ranking && !sameAddress(job.ranking[0], this.address)) {
      const event: TakeoverEvent = { requestId, stage: "answer", from: job.ranking[0] };
      this.emit("takeover", event);
    }
    if (job.attested) {
      this.forget(job);
      const event: AttestedEvent = {
        requestId,
        modelId: job.modelId,
        output,
        attestedAt: job.attested.attestedAt,
        txHash: receipt.hash,
        gasUsed: receipt.gasUsed,
        finalMs: Date.now() - job.seenAt,
      };
      log.info(
        `answered [${output.join(", ")}] with the enclave's signature: final (${event.finalMs} ms, ${receipt.gasUsed} gas)`,
      );
      this.emit("attested", event);
      return;
    }
    const answered: AnsweredEvent = {
      requestId,
      modelId: job.modelId,
      output,
      txHash: receipt.hash,
      gasUsed: receipt.gasUsed,
      answerMs: Date.now() - job.seenAt,
    };
    const batched = this.batcher.serves(job.modelId);
    log.info(
      `answered [${output.join(", ")}] (${answered.answerMs} ms, ${receipt.gasUsed} gas); ${batched ? "waiting for its batch" : "proving…"}`,
    );
    this.emit("answered", answered);
    Object.assign(job, { stage: "settle", maybeSent: false, rounds: 0, waitingForBond: false });
    if (batched) this.track(this.queueForBatch(job, receipt.blockNumber));
    else this.enqueueProof(job);
  }

  /**
   * Queues an answer for batch settlement, due by its settlement deadline (on the chain's
   * clock, turned into the wall clock's); if the deadline cannot be read, it settles alone.
   */
  private async queueForBatch(job: Job, answeredInBlock: number): Promise<void> {
    try {
      const [deadline, block] = await Promise.all([
        this.retrier.read("deadline", job.requestId, () => this.precompile.settlementDeadline(job.requestId)),
        this.retrier.read("block", job.requestId, () => this.provider.getBlock(answeredInBlock)),
      ]);
      const left = Number(deadline) - (block?.timestamp ?? Math.floor(Date.now() / 1000));
      if (this.stale(job)) return;
      this.batcher.add(job, Date.now() + left * 1000);
    } catch (e) {
      this.log.warn(
        `[${short(job.requestId)}] reading its settlement deadline failed (${brief(e)}); settling it alone`,
      );
      this.enqueueProof(job);
    }
  }

  /** A request was settled in a batch. */
  private batchSettled(job: Job, receipt: TransactionReceipt, batch: BatchSettledEvent): void {
    if (this.stale(job)) return;
    this.forget(job);
    const settled: SettledEvent = {
      requestId: job.requestId,
      modelId: job.modelId,
      proveMs: batch.proveMs,
      latencyMs: Date.now() - job.seenAt,
      txHash: receipt.hash,
      gasUsed: receipt.gasUsed,
      batch: { k: batch.k, size: batch.requestIds.length },
    };
    this.emit("settled", settled);
  }

  /**
   * Whether the answer is still to be sent: the request is still Requested and, before the
   * first attempt, the node's policy and free bond allow it. The bond is read here, in the
   * transaction queue, so that every earlier answer's lock is already on-chain.
   */
  private async answerNeeded(job: Job): Promise<boolean> {
    const { requestId } = job;
    const state = Number(
      await this.retrier.read("state", requestId, () => this.precompile.stateOf(requestId)),
    );
    if (state !== RequestState.Requested) return false;
    // an earlier attempt may still be mined: declining now could leave an answer unproved;
    // a TEE answer locks no stake, so the bond has no say
    if (job.maybeSent || !job.terms || job.attested) return true;
    const verdict = decide(job.terms, this.policy, await this.bond(requestId));
    if (verdict.answer) return true;
    job.declined = verdict;
    return false;
  }

  /** The node's bond and the precompile's minimum free bond, read now. */
  private async bond(requestId: string): Promise<BondState> {
    this.minBond ??= await this.retrier.read("minimum bond", requestId, () => this.precompile.minBond());
    const node = await this.retrier.read("bond", requestId, () => this.precompile.nodeOf(this.address));
    return { bond: node.bond, locked: node.locked, minBond: this.minBond };
  }

  /**
   * The free bond cannot back this answer now, but settlements will free some: report the
   * decline once, then look again every `retryAfterMs` for as long as the request is still
   * Requested (it leaves the jobs when another node answers it or it expires).
   */
  private waitForBond(job: Job, why: { reason: DeclineReason; message: string }): void {
    if (!job.waitingForBond) this.decline(job.requestId, job.modelId, why);
    job.waitingForBond = true;
    job.retryAt = Date.now() + this.retryAfterMs;
  }

  private decline(requestId: string, modelId: string, why: { reason: DeclineReason; message: string }): void {
    this.log.info(`[${short(requestId)}] declined: ${why.message}`);
    const declined: DeclinedEvent = { requestId, modelId, reason: why.reason, detail: why.message };
    this.emit("declined", declined);
  }

  private enqueueProof(job: Job): void {
    this.track(this.lanes.run(job.model.prover, () => this.proveAndSettle(job)));
  }

  private async proveAndSettle(job: Job): Promise<void> {
    const { requestId, model, input, output } = job;
    const log = prefixed(this.log, `[${short(requestId)}]`);
    if (this.stale(job)) return;
    if (!job.proof) {
      try {
        const result = await model.prover.prove(
          circuitInputFor(
            model.artifacts.quantized,
            requestId,
            input,
            output,
            weightSecretsOf(model.artifacts),
          ),
        );
        if (!(await verifyProof(model.artifacts.vk, result.publicSignals, result.proof)))
          throw new Error("the proof does not verify off-chain against the model's verification key");
        job.proof = result;
      } catch (e) {
        if (this.stale(job)) return;
        this.forget(job);
        return this.fail(requestId, "prove", e as Error);
      }
    }
    const proof = job.proof;
    let receipt;
    try {
      receipt = await this.txSender.send({
        subject: job,
        needed: async () =>
          Number(await this.retrier.read("state", requestId, () => this.precompile.stateOf(requestId))) ===
          RequestState.Answered,
        landed: async (fromBlock) => {
          const events = await this.precompile.queryFilter(
            this.precompile.filters.InferenceSettled(requestId),
            fromBlock,
          );
          return events.find((ev) => "args" in ev && sameAddress(ev.args.settler, this.address))
            ?.transactionHash;
        },
        send: (overrides) =>
          this.precompile.settle(requestId, toSolidityProof(proof.proof) as never, overrides),
        cancelled: () => this.stale(job),
      });
    } catch (e) {
      return this.setAside(job, e as Error);
    }
    if (this.stale(job)) return;
    this.forget(job);
    if (!receipt) {
      log.info("no longer awaiting settlement; skipping");
      return;
    }
    log.info(`settled (proof ${proof.ms} ms, ${receipt.gasUsed} gas)`);
    const settled: SettledEvent = {
      requestId,
      modelId: job.modelId,
      proveMs: proof.ms,
      latencyMs: Date.now() - job.seenAt,
      txHash: receipt.hash,
      gasUsed: receipt.gasUsed,
    };
    this.emit("settled", settled);
  }

  /**
   * A stage could not finish. A revert is final and reported as `failed`. RPC failures
   * that outlasted the retries set the request aside: the node takes it up again after
   * `retryAfterMs`, and reports it only after `maxRounds` rounds.
   */
  private setAside(job: Job, error: Error): void {
    if (this.stale(job)) return; // its chain is gone
    job.rounds++;
    this.fault(isRevert(error) ? "revert" : "rpc", `${job.stage}: ${brief(error)}`, job.requestId);
    if (isRevert(error) || job.rounds >= this.maxRounds) {
      this.forget(job);
      return this.fail(job.requestId, job.stage, error);
    }
    job.retryAt = Date.now() + this.retryAfterMs;
    this.log.warn(
      `[${short(job.requestId)}] ${job.stage} interrupted by RPC failures (${brief(error)}); taking it up again in ${this.retryAfterMs} ms (round ${job.rounds + 1} of ${this.maxRounds})`,
    );
  }

  /** Takes up the requests set aside whose time has come, and a publication or recovery that failed. */
  private async takeUpSetAside(): Promise<void> {
    const now = Date.now();
    if (this.publicationDue && now >= this.publicationAt) await this.publishOrDefer(false);
    if (this.recoveryDue && now >= this.recoveryAt) await this.recoverOrDefer();
    for (const peer of this.takeovers?.due(now) ?? []) this.track(this.takeOverSettlement(peer));
    for (const job of this.jobs.values()) {
      if (job.retryAt === undefined || job.retryAt > now) continue;
      job.retryAt = undefined;
      if (!job.waitingForBond) this.log.info(`[${short(job.requestId)}] taking up its ${job.stage} again`);
      if (job.stage === "answer") this.track(this.answer(job));
      else this.enqueueProof(job);
    }
  }

  /** A peer's answer is still unsettled near its deadline: prove it and settle it in its place. */
  private async takeOverSettlement({ requestId, answeredBy, work }: WatchedAnswer<PeerWork>): Promise<void> {
    const gone = () => work.epoch !== this.epoch || this.jobs.has(requestId);
    if (gone()) return;
    let output: bigint[] | undefined;
    try {
      output = await this.takeovers!.stillUnsettled(requestId);
    } catch (e) {
      return this.log.warn(`[${short(requestId)}] cannot take over its settlement (${brief(e)})`);
    }
    if (!output || gone()) return;
    this.log.info(
      `[${short(requestId)}] its answer by ${short(answeredBy)} is still unsettled near its deadline; settling it`,
    );
    const event: TakeoverEvent = { requestId, stage: "settle", from: answeredBy };
    this.emit("takeover", event);
    const job: Job = {
      ...work,
      requestId,
      output,
      stage: "settle",
      seenAt: Date.now(),
      maybeSent: false,
      rounds: 0,
    };
    this.jobs.set(requestId, job);
    this.enqueueProof(job);
  }

  private fault(kind: FaultEvent["kind"], message: string, requestId?: string): void {
    const event: FaultEvent = { kind, message, ...(requestId ? { requestId } : {}) };
    this.emit("fault", event);
  }

  private fail(requestId: string, stage: FailedEvent["stage"], error: Error): void {
    if (stage === "prove") this.fault("prove", error.message, requestId);
    this.log.error(`[${short(requestId)}] ${stage} failed: ${error.message}`);
    const failed: FailedEvent = { requestId, stage, error };
    this.emit("failed", failed);
  }

  /**
   * Publishes the policy if the chain holds another one. RPC failures defer it (the node
   * applies its policy all the same; only what `sibyl:status` reads is stale meanwhile; a
   * second `setNodePolicy` with the same values is harmless). A revert at start is thrown:
   * the signer is not a registered node.
   */
  private async publishOrDefer(atStart: boolean): Promise<void> {
    try {
      const receipt = await publishPolicy({
        precompile: this.precompile,
        address: this.address,
        policy: this.policy,
        sender: this.txSender,
        retrier: this.retrier,
      });
      this.publicationDue = false;
      if (receipt) this.log.info(`published its policy on-chain (transaction ${receipt.hash})`);
    } catch (e) {
      if (isRevert(e)) {
        this.publicationDue = false;
        if (atStart)
          throw new ChainError(
            `${this.address} could not publish its policy: ${brief(e)}`,
            "is it a registered node? post a bond with registerNode first (sibyl:node does it with --bond)",
            { cause: e },
          );
        this.log.error(`publishing its policy failed: ${brief(e)}`);
        return;
      }
      this.publicationDue = true;
      this.publicationAt = Date.now() + this.retryAfterMs;
      this.log.warn(`publishing its policy failed (${brief(e)}); trying again in ${this.retryAfterMs} ms`);
    }
  }

  /** Runs the recovery; if the RPC fails it, tries again later instead of losing the answers. */
  private async recoverOrDefer(): Promise<void> {
    try {
      await this.recover();
      this.recoveryDue = false;
    } catch (e) {
      this.recoveryDue = true;
      this.recoveryAt = Date.now() + this.retryAfterMs;
      this.log.warn(
        `looking for this node's unsettled answers failed (${brief(e)}); trying again in ${this.retryAfterMs} ms`,
      );
    }
  }

  /** Finds this node's answers that are still unsettled and queues their proofs. */
  private async recover(): Promise<void> {
    const found = await findUnsettledAnswers({
      precompile: this.precompile,
      node: this.address,
      fromBlock: this.fromBlock,
      retrier: this.retrier,
      artifactsOf: (modelId) => this.models.get(modelId.toLowerCase())?.artifacts,
      skip: (requestId) => this.seen.has(requestId),
    });
    for (const answer of found) {
      const { requestId } = answer;
      if (this.seen.has(requestId)) continue; // taken on by the poll meanwhile
      this.seen.add(requestId);
      const job: Job = {
        epoch: this.epoch,
        requestId,
        modelId: answer.modelId,
        model: this.models.get(answer.modelId.toLowerCase())!,
        input: answer.input,
        output: answer.output,
        stage: "settle",
        seenAt: Date.now(),
        since: answer.answeredInBlock,
        maybeSent: false,
        rounds: 0,
      };
      this.jobs.set(requestId, job);
      this.log.info(`[${short(requestId)}] recovered an unsettled answer; proving`);
      this.enqueueProof(job);
    }
  }
}
