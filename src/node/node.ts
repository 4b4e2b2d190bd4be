import { EventEmitter } from "node:events";
import type { ContractTransactionResponse, Provider, TransactionReceipt } from "ethers";

import { type ModelArtifacts, weightSecretsOf } from "../build/artifacts";
import { circuitInputFor } from "../circuit/inputs";
import { unpack } from "../circuit/packing";
import { type Logger, consoleLogger, prefixed } from "../log";
import { runQuantized } from "../runtime/fixed";
import { type ProofResult, type Prover, SnarkjsProver, toSolidityProof, verifyProof } from "../zk/prover";
import type { InferencePrecompile } from "../../typechain-types";

/**
 * The inference node: watch requests → run the model once (fixed-point runtime) → answer
 * at once → prove in the background (snarkjs Groth16) → settle. The same class runs
 * in-process (tests, demo, bench) and standalone (`sibyl:node`) against any JSON-RPC chain.
 *
 * The RPC endpoint is allowed to fail. Every read is retried with a growing pause; every
 * transaction is preceded by a fresh look at the request's on-chain state; and a
 * transaction whose outcome is unknown (its send or its receipt fetch failed) is never
 * sent again before the node has asked the chain whether it landed, and then only with
 * the same nonce, so that at most one of the two can ever be mined. A request that
 * outlasts the retries is set aside and taken up again later, not dropped.
 */

/** Request states as the precompile numbers them (IInference.RequestState). */
export enum RequestState {
  None = 0,
  Requested = 1,
  Answered = 2,
  Settled = 3,
  Slashed = 4,
  Expired = 5,
}

export interface ServedModel {
  modelId: string;
  artifacts: ModelArtifacts;
  prover?: Prover;
}

export interface NodeOptions {
  /** the precompile, connected to the node's signer */
  precompile: InferencePrecompile;
  models: ServedModel[];
  log?: Logger;
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
}

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
  proveMs: number;
  txHash: string;
  gasUsed: bigint;
}
export interface FailedEvent {
  requestId: string;
  stage: "answer" | "prove" | "settle";
  error: Error;
}

/** A request this node has taken on and not finished with. */
interface Job {
  requestId: string;
  modelId: string;
  model: ServedModel & { prover: Prover };
  input: bigint[];
  output: bigint[];
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
}

/** One of this node's transactions (the job's stage), and how to tell whether it is still needed. */
interface TxPlan {
  job: Job;
  /** whether the request's on-chain state still calls for the transaction */
  needed(state: RequestState): boolean;
  /** the hash of this node's transaction that already did it, looked up in the request's events */
  landed(fromBlock: number): Promise<string | undefined>;
  send(overrides: { nonce: number }): Promise<ContractTransactionResponse>;
}

export class InferenceNode extends EventEmitter {
  private readonly precompile: InferencePrecompile;
  private readonly models = new Map<string, ServedModel & { prover: Prover }>();
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly txAttempts: number;
  private readonly readAttempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly receiptTimeoutMs: number;
  private readonly retryAfterMs: number;
  private readonly maxRounds: number;
  private readonly fromBlock: number;
  private nextBlock: number;
  private pollFailures = 0;
  /** the start-up search for unsettled answers failed and must be run again */
  private recoveryDue = false;
  private recoveryAt = 0;
  private timer?: NodeJS.Timeout;
  private running = false;
  private ticking?: Promise<void>;
  /** every request this node has taken on (answer or settle), so duplicates are ignored */
  private readonly seen = new Set<string>();
  /** requests taken on and not finished: in flight, or set aside until `retryAt` */
  private readonly jobs = new Map<string, Job>();
  private txChain: Promise<unknown> = Promise.resolve();
  private proofChain: Promise<unknown> = Promise.resolve();
  private readonly inFlight = new Set<Promise<unknown>>();
  private address = "";

  constructor(opts: NodeOptions) {
    super();
    this.precompile = opts.precompile;
    this.log = opts.log ?? consoleLogger;
    this.pollMs = opts.pollMs ?? 250;
    this.txAttempts = opts.txAttempts ?? 5;
    this.readAttempts = opts.readAttempts ?? 5;
    this.backoffMs = opts.backoffMs ?? 100;
    this.maxBackoffMs = opts.maxBackoffMs ?? 5_000;
    this.receiptTimeoutMs = opts.receiptTimeoutMs ?? 60_000;
    this.retryAfterMs = opts.retryAfterMs ?? 10_000;
    this.maxRounds = opts.maxRounds ?? 5;
    this.fromBlock = this.nextBlock = opts.fromBlock ?? 0;
    for (const m of opts.models)
      this.models.set(m.modelId.toLowerCase(), {
        ...m,
        prover: m.prover ?? new SnarkjsProver(m.artifacts.wasmPath, m.artifacts.zkeyPath),
      });
  }

  /** Starts watching; first settles any of this node's answers left unsettled (after a restart). */
  async start(): Promise<void> {
    if (this.running) return;
    const runner = this.precompile.runner;
    if (!runner?.provider || !("getAddress" in runner))
      throw new Error("the node's precompile handle needs a signer with a provider");
    this.address = await (runner as { getAddress(): Promise<string> }).getAddress();
    this.running = true;
    await this.recoverOrDefer();
    this.log.info(
      `serving ${[...this.models.values()].map((m) => m.artifacts.name).join(", ")} as ${this.address} from block ${this.nextBlock}`,
    );
    this.schedule(0);
  }

  /** Stops polling and waits for answers and proofs already under way. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    await this.idle();
  }

  /** Resolves when no answer, proof or settlement is in flight. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private get provider(): Provider {
    return this.precompile.runner!.provider!;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() =>
        // after failed polls, back off: an endpoint that is down is not hammered
        this.schedule(this.pollFailures > 0 ? this.backoff(this.pollFailures, this.pollMs) : this.pollMs),
      );
    }, ms);
  }

  /**
   * One poll: read new InferenceRequested events (on RPC failure, the same range is read
   * again next time), then take up the requests set aside whose time has come.
   */
  private async tick(): Promise<void> {
    try {
      const latest = await this.provider.getBlockNumber();
      if (latest >= this.nextBlock) {
        const events = await this.precompile.queryFilter(
          this.precompile.filters.InferenceRequested(),
          this.nextBlock,
          latest,
        );
        this.nextBlock = latest + 1;
        for (const ev of events) {
          if (!("args" in ev)) continue; // a log this event cannot decode: not one of ours
          const { requestId, modelId, input } = ev.args;
          this.track(this.handleRequest(requestId, modelId, [...input]));
        }
      }
      this.pollFailures = 0;
    } catch (e) {
      this.pollFailures++;
      this.log.warn(
        `poll failed (${brief(e)}); retrying from block ${this.nextBlock} in ${this.backoff(this.pollFailures, this.pollMs)} ms`,
      );
    }
    await this.takeUpSetAside();
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async handleRequest(requestId: string, modelId: string, input: bigint[]): Promise<void> {
    const log = prefixed(this.log, `[${short(requestId)}]`);
    if (this.seen.has(requestId)) return;
    this.seen.add(requestId);
    const model = this.models.get(modelId.toLowerCase());
    if (!model) {
      log.info(`model ${short(modelId)} is not served by this node; skipping`);
      return;
    }
    const seenAt = Date.now();
    let output: bigint[];
    try {
      output = runQuantized(model.artifacts.quantized, input).output;
    } catch (e) {
      return this.fail(requestId, "answer", e as Error);
    }
    const job: Job = {
      requestId,
      modelId,
      model,
      input,
      output,
      stage: "answer",
      seenAt,
      maybeSent: false,
      rounds: 0,
    };
    this.jobs.set(requestId, job);
    await this.answer(job);
  }

  private async answer(job: Job): Promise<void> {
    const { requestId, output } = job;
    const log = prefixed(this.log, `[${short(requestId)}]`);
    let receipt;
    try {
      receipt = await this.sendTx({
        job,
        needed: (state) => state === RequestState.Requested,
        landed: async (fromBlock) => {
          const events = await this.precompile.queryFilter(
            this.precompile.filters.InferenceAnswered(requestId, this.address),
            fromBlock,
          );
          return events[0]?.transactionHash;
        },
        send: (overrides) => this.precompile.answer(requestId, output, overrides),
      });
    } catch (e) {
      return this.setAside(job, e as Error);
    }
    if (!receipt) {
      log.info("already answered or closed; skipping");
      this.jobs.delete(requestId);
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
    log.info(`answered [${output.join(", ")}] (${answered.answerMs} ms, ${receipt.gasUsed} gas); proving…`);
    this.emit("answered", answered);
    Object.assign(job, { stage: "settle", maybeSent: false, rounds: 0 });
    this.enqueueProof(job);
  }

  private enqueueProof(job: Job): void {
    const p = (this.proofChain = this.proofChain.then(() => this.proveAndSettle(job)));
    this.track(p);
  }

  private async proveAndSettle(job: Job): Promise<void> {
    const { requestId, model, input, output } = job;
    const log = prefixed(this.log, `[${short(requestId)}]`);
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
        this.jobs.delete(requestId);
        return this.fail(requestId, "prove", e as Error);
      }
    }
    const proof = job.proof;
    let receipt;
    try {
      receipt = await this.sendTx({
        job,
        needed: (state) => state === RequestState.Answered,
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
      });
    } catch (e) {
      return this.setAside(job, e as Error);
    }
    this.jobs.delete(requestId);
    if (!receipt) {
      log.info("no longer awaiting settlement; skipping");
      return;
    }
    log.info(`settled (proof ${proof.ms} ms, ${receipt.gasUsed} gas)`);
    const settled: SettledEvent = {
      requestId,
      proveMs: proof.ms,
      txHash: receipt.hash,
      gasUsed: receipt.gasUsed,
    };
    this.emit("settled", settled);
  }

  /**
   * Sends one of this node's transactions and returns its receipt, or undefined when the
   * chain no longer calls for it. Transactions go one at a time (one signer, one nonce
   * sequence). Before each attempt the node reads the request's state; once an attempt may
   * have reached the chain, it first looks for that transaction's event, and a retry reuses
   * the nonce unless the chain has mined it: a lost response never becomes a second
   * transaction. A revert is final unless the state shows the transaction is no longer
   * needed (another settler was faster); other errors are retried with a growing pause.
   */
  private sendTx(plan: TxPlan): Promise<TransactionReceipt | undefined> {
    const { job } = plan;
    const { requestId, stage: what } = job;
    const run = async (): Promise<TransactionReceipt | undefined> => {
      job.since ??= await this.read("block number", requestId, () => this.provider.getBlockNumber());
      const fromBlock = job.since;
      const check = async (): Promise<TransactionReceipt | "needed" | "moot"> => {
        if (job.maybeSent) {
          const hash = await this.read(`${what} lookup`, requestId, () => plan.landed(fromBlock));
          const receipt =
            hash &&
            (await this.read(`${what} receipt`, requestId, () => this.provider.getTransactionReceipt(hash)));
          if (receipt) {
            this.log.info(
              `[${short(requestId)}] found its ${what} transaction ${receipt.hash} on-chain; not sending again`,
            );
            return receipt;
          }
        }
        const state = Number(await this.read("state", requestId, () => this.precompile.stateOf(requestId)));
        return plan.needed(state) ? "needed" : "moot";
      };
      let nonce: number | undefined;
      for (let attempt = 1; ; attempt++) {
        const status = await check();
        if (status === "moot") return undefined;
        if (status !== "needed") return status;
        try {
          nonce = await this.nonceFor(requestId, nonce);
          job.maybeSent = true;
          const tx = await plan.send({ nonce });
          const receipt = await tx.wait(1, this.receiptTimeoutMs);
          if (!receipt) throw new Error(`${what} transaction ${tx.hash} has no receipt`);
          return receipt;
        } catch (e) {
          if (isRevert(e)) {
            // refused by the chain: fine if the request no longer needs it, final otherwise
            const after = await check();
            if (after === "moot") return undefined;
            if (after !== "needed") return after;
            throw e;
          }
          if (attempt >= this.txAttempts) throw e;
          const ms = this.backoff(attempt);
          this.log.warn(
            `[${short(requestId)}] ${what} attempt ${attempt} of ${this.txAttempts} failed (${brief(e)}); checking the chain, then retrying in ${ms} ms`,
          );
          await sleep(ms);
        }
      }
    };
    const p = this.txChain.then(run, run);
    this.txChain = p.catch(() => undefined);
    return p;
  }

  /**
   * The nonce for the next attempt: the previous attempt's as long as the chain has not
   * mined a transaction with it (then at most one of them can ever be mined), else the
   * account's next one.
   */
  private async nonceFor(requestId: string, previous: number | undefined): Promise<number> {
    if (previous !== undefined) {
      const mined = await this.read("nonce", requestId, () =>
        this.provider.getTransactionCount(this.address, "latest"),
      );
      if (mined <= previous) return previous;
    }
    return this.read("nonce", requestId, () => this.provider.getTransactionCount(this.address, "pending"));
  }

  /** A chain read, retried with a growing pause on RPC failures (a revert is thrown at once). */
  private async read<T>(what: string, requestId: string | undefined, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (isRevert(e) || attempt >= this.readAttempts) throw e;
        const ms = this.backoff(attempt);
        this.log.warn(
          `${requestId ? `[${short(requestId)}] ` : ""}reading ${what} failed (${brief(e)}); retry ${attempt} of ${this.readAttempts - 1} in ${ms} ms`,
        );
        await sleep(ms);
      }
    }
  }

  /** The pause before attempt `attempt + 1`: doubling from `base`, capped. */
  private backoff(attempt: number, base = this.backoffMs): number {
    return Math.min(base * 2 ** (attempt - 1), this.maxBackoffMs);
  }

  /**
   * A stage could not finish. A revert is final and reported as `failed`. RPC failures
   * that outlasted the retries set the request aside: the node takes it up again after
   * `retryAfterMs`, and reports it only after `maxRounds` rounds.
   */
  private setAside(job: Job, error: Error): void {
    job.rounds++;
    if (isRevert(error) || job.rounds >= this.maxRounds) {
      this.jobs.delete(job.requestId);
      return this.fail(job.requestId, job.stage, error);
    }
    job.retryAt = Date.now() + this.retryAfterMs;
    this.log.warn(
      `[${short(job.requestId)}] ${job.stage} interrupted by RPC failures (${brief(error)}); taking it up again in ${this.retryAfterMs} ms (round ${job.rounds + 1} of ${this.maxRounds})`,
    );
  }

  /** Takes up the requests set aside whose time has come, and a recovery that failed at start. */
  private async takeUpSetAside(): Promise<void> {
    const now = Date.now();
    if (this.recoveryDue && now >= this.recoveryAt) await this.recoverOrDefer();
    for (const job of this.jobs.values()) {
      if (job.retryAt === undefined || job.retryAt > now) continue;
      job.retryAt = undefined;
      this.log.info(`[${short(job.requestId)}] taking up its ${job.stage} again`);
      if (job.stage === "answer") this.track(this.answer(job));
      else this.enqueueProof(job);
    }
  }

  private fail(requestId: string, stage: FailedEvent["stage"], error: Error): void {
    this.log.error(`[${short(requestId)}] ${stage} failed: ${error.message}`);
    const failed: FailedEvent = { requestId, stage, error };
    this.emit("failed", failed);
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
    const events = await this.read("unsettled answers", undefined, () =>
      this.precompile.queryFilter(
        this.precompile.filters.InferenceAnswered(undefined, this.address),
        this.fromBlock,
      ),
    );
    for (const ev of events) {
      if (!("args" in ev)) continue;
      const requestId = ev.args.requestId;
      if (this.seen.has(requestId)) continue;
      const state = Number(await this.read("state", requestId, () => this.precompile.stateOf(requestId)));
      if (state !== RequestState.Answered) continue;
      const req = await this.read("request", requestId, () => this.precompile.getRequest(requestId));
      const model = this.models.get(req.modelId.toLowerCase());
      if (!model) continue;
      const q = model.artifacts.quantized;
      const input = unpack([...req.inPacked], q.inputLength, q.inputBits);
      const output = [...(await this.read("output", requestId, () => this.precompile.outputOf(requestId)))];
      if (this.seen.has(requestId)) continue; // taken on by the poll meanwhile
      this.seen.add(requestId);
      const job: Job = {
        requestId,
        modelId: req.modelId,
        model,
        input,
        output,
        stage: "settle",
        seenAt: Date.now(),
        since: ev.blockNumber,
        maybeSent: false,
        rounds: 0,
      };
      this.jobs.set(requestId, job);
      this.log.info(`[${short(requestId)}] recovered an unsettled answer; proving`);
      this.enqueueProof(job);
    }
  }
}

function short(id: string): string {
  return `${id.slice(0, 10)}…`;
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Whether an error is the chain refusing a call or transaction (retrying cannot help), as
 * opposed to the RPC failing to deliver it. ethers reports any JSON-RPC error to an
 * `eth_call` or `eth_estimateGas` as a CALL_EXCEPTION: only one that carries revert data,
 * a reason or a mined receipt is a revert.
 */
function isRevert(e: unknown): boolean {
  const err = e as { code?: unknown; data?: unknown; reason?: unknown; receipt?: unknown; message?: unknown };
  if (err.code === "CALL_EXCEPTION")
    return err.receipt != null || err.reason != null || (typeof err.data === "string" && err.data.length > 2);
  return typeof err.message === "string" && /revert/i.test(err.message);
}

/** The first line of an error, with the JSON-RPC error ethers wraps when it has one. */
function brief(e: unknown): string {
  const err = e as {
    shortMessage?: string;
    message?: string;
    error?: { message?: string };
    info?: { error?: { message?: string } };
  };
  let text = err.shortMessage ?? err.message ?? String(e);
  const inner = err.error?.message ?? err.info?.error?.message;
  if (inner && !text.includes(inner)) text = `${text}: ${inner}`;
  const line = text.split("\n")[0];
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}
