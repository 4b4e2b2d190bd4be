import { EventEmitter } from "node:events";
import type { ContractTransactionResponse } from "ethers";

import { type ModelArtifacts, weightSecretsOf } from "../build/artifacts";
import { circuitInputFor } from "../circuit/inputs";
import { unpack } from "../circuit/packing";
import { type Logger, consoleLogger, prefixed } from "../log";
import { runQuantized } from "../runtime/fixed";
import { type Prover, SnarkjsProver, toSolidityProof, verifyProof } from "../zk/prover";
import type { InferencePrecompile } from "../../typechain-types";

/**
 * The inference node: watch requests → run the model once (fixed-point runtime) → answer
 * at once → prove in the background (snarkjs Groth16) → settle. The same class runs
 * in-process (tests, demo, bench) and standalone (`sibyl:node`) against any JSON-RPC chain.
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
  /** attempts for each transaction before the request is reported as failed */
  txAttempts?: number;
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

interface ProofJob {
  requestId: string;
  model: ServedModel & { prover: Prover };
  input: bigint[];
  output: bigint[];
}

export class InferenceNode extends EventEmitter {
  private readonly precompile: InferencePrecompile;
  private readonly models = new Map<string, ServedModel & { prover: Prover }>();
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly txAttempts: number;
  private nextBlock: number;
  private timer?: NodeJS.Timeout;
  private running = false;
  private ticking?: Promise<void>;
  /** every request this node has taken on (answer or settle), so duplicates are ignored */
  private readonly seen = new Set<string>();
  private txChain: Promise<unknown> = Promise.resolve();
  private proofChain: Promise<unknown> = Promise.resolve();
  private readonly inFlight = new Set<Promise<unknown>>();
  private address = "";

  constructor(opts: NodeOptions) {
    super();
    this.precompile = opts.precompile;
    this.log = opts.log ?? consoleLogger;
    this.pollMs = opts.pollMs ?? 250;
    this.txAttempts = opts.txAttempts ?? 3;
    this.nextBlock = opts.fromBlock ?? 0;
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
    if (!runner || !("getAddress" in runner)) throw new Error("the node's precompile handle needs a signer");
    this.address = await (runner as { getAddress(): Promise<string> }).getAddress();
    this.running = true;
    await this.recover();
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

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => this.schedule(this.pollMs));
    }, ms);
  }

  /** One poll: read new InferenceRequested events; on RPC failure, retry the same range next time. */
  private async tick(): Promise<void> {
    try {
      const latest = await this.precompile.runner!.provider!.getBlockNumber();
      if (latest < this.nextBlock) return;
      const events = await this.precompile.queryFilter(
        this.precompile.filters.InferenceRequested(),
        this.nextBlock,
        latest,
      );
      this.nextBlock = latest + 1;
      for (const ev of events) {
        const { requestId, modelId, input } = ev.args;
        this.track(this.handleRequest(requestId, modelId, [...input]));
      }
    } catch (e) {
      this.log.warn(`poll failed, will retry from block ${this.nextBlock}: ${(e as Error).message}`);
    }
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
    let receipt;
    try {
      receipt = await this.sendTx(`answer`, requestId, async () => {
        if (Number(await this.precompile.stateOf(requestId)) !== RequestState.Requested) return undefined;
        return this.precompile.answer(requestId, output);
      });
    } catch (e) {
      return this.fail(requestId, "answer", e as Error);
    }
    if (!receipt) {
      log.info("already answered or closed; skipping");
      return;
    }
    const answered: AnsweredEvent = {
      requestId,
      modelId,
      output,
      txHash: receipt.hash,
      gasUsed: receipt.gasUsed,
      answerMs: Date.now() - seenAt,
    };
    log.info(`answered [${output.join(", ")}] (${answered.answerMs} ms, ${receipt.gasUsed} gas); proving…`);
    this.emit("answered", answered);
    this.enqueueProof({ requestId, model, input, output });
  }

  private enqueueProof(job: ProofJob): void {
    const p = (this.proofChain = this.proofChain.then(() => this.proveAndSettle(job)));
    this.track(p);
  }

  private async proveAndSettle({ requestId, model, input, output }: ProofJob): Promise<void> {
    const log = prefixed(this.log, `[${short(requestId)}]`);
    let proof;
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
      proof = result;
    } catch (e) {
      return this.fail(requestId, "prove", e as Error);
    }
    try {
      const receipt = await this.sendTx("settle", requestId, async () => {
        if (Number(await this.precompile.stateOf(requestId)) !== RequestState.Answered) return undefined;
        return this.precompile.settle(requestId, toSolidityProof(proof.proof) as never);
      });
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
    } catch (e) {
      return this.fail(requestId, "settle", e as Error);
    }
  }

  /**
   * Sends one transaction at a time (one signer, one nonce sequence), retrying transient
   * failures. `send` re-checks the on-chain state first and returns undefined when the
   * transaction is no longer needed, so a retry never answers or settles twice.
   */
  private sendTx(
    what: string,
    requestId: string,
    send: () => Promise<ContractTransactionResponse | undefined>,
  ): Promise<Awaited<ReturnType<ContractTransactionResponse["wait"]>> | undefined> {
    const run = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const tx = await send();
          if (!tx) return undefined;
          const receipt = await tx.wait();
          if (!receipt || receipt.status !== 1) throw new Error(`${what} transaction ${tx.hash} failed`);
          return receipt;
        } catch (e) {
          if (attempt >= this.txAttempts || isRevert(e)) throw e;
          this.log.warn(
            `[${short(requestId)}] ${what} attempt ${attempt} failed (${(e as Error).message}); retrying`,
          );
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
    };
    const p = this.txChain.then(run, run);
    this.txChain = p.catch(() => undefined);
    return p;
  }

  private fail(requestId: string, stage: FailedEvent["stage"], error: Error): void {
    this.log.error(`[${short(requestId)}] ${stage} failed: ${error.message}`);
    const failed: FailedEvent = { requestId, stage, error };
    this.emit("failed", failed);
  }

  /** Finds this node's answers that are still unsettled and queues their proofs. */
  private async recover(): Promise<void> {
    const events = await this.precompile.queryFilter(
      this.precompile.filters.InferenceAnswered(undefined, this.address),
      this.nextBlock,
    );
    for (const ev of events) {
      const requestId = ev.args.requestId;
      if (this.seen.has(requestId)) continue;
      if (Number(await this.precompile.stateOf(requestId)) !== RequestState.Answered) continue;
      const req = await this.precompile.getRequest(requestId);
      const model = this.models.get(req.modelId.toLowerCase());
      if (!model) continue;
      this.seen.add(requestId);
      const q = model.artifacts.quantized;
      const input = unpack([...req.inPacked], q.inputLength, q.inputBits);
      const output = [...(await this.precompile.outputOf(requestId))];
      this.log.info(`[${short(requestId)}] recovered an unsettled answer; proving`);
      this.enqueueProof({ requestId, model, input, output });
    }
  }
}

function short(id: string): string {
  return `${id.slice(0, 10)}…`;
}

/** A revert is final: retrying the same transaction cannot help. */
function isRevert(e: unknown): boolean {
  const err = e as { code?: string; data?: unknown; message?: string };
  return err.code === "CALL_EXCEPTION" || /revert/i.test(err.message ?? "");
}
