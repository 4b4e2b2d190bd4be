import type { ContractTransactionResponse, Provider, TransactionReceipt } from "ethers";

import { explainRevert } from "../protocol/revert.js";
import type { Logger } from "../log.js";
import { type Retrier, brief, isRevert, short, sleep } from "./rpc.js";

/**
 * The node's transactions, one at a time (one signer, one nonce sequence), each sent at most
 * once: a transaction whose outcome is unknown (its send or its receipt fetch failed) is never
 * sent again before the chain was asked whether it landed, and then only with the same nonce,
 * so that at most one of the two can ever be mined.
 */

/** What a transaction is for; the sender updates `since` and `maybeSent` as it goes. */
export interface TxSubject {
  /** the request it is for (its log prefix), if any */
  requestId?: string;
  /** what the transaction does, for the log: "answer", "settle", "policy" */
  stage: string;
  /** the block before the first attempt: the transaction's event is looked up from there */
  since?: number;
  /** an attempt may have reached the chain, with an unknown outcome */
  maybeSent: boolean;
}

/** One transaction, and how to tell whether it is still needed or already landed. */
export interface TxPlan {
  subject: TxSubject;
  /** whether the chain still calls for the transaction (reads are the plan's to retry) */
  needed(): Promise<boolean>;
  /** the hash of this node's transaction that already did it, looked up in its events from `fromBlock` */
  landed(fromBlock: number): Promise<string | undefined>;
  send(overrides: { nonce: number }): Promise<ContractTransactionResponse>;
  /**
   * Whether the transaction was called off (its chain is gone): looked at before every check
   * and right before every send; a called-off plan ends as if no longer needed.
   */
  cancelled?(): boolean;
}

export interface TxSenderOptions {
  provider: Provider;
  /** the signer's address */
  address: string;
  retrier: Retrier;
  log: Logger;
  /** attempts for each transaction before it is given up (the caller decides what then) */
  txAttempts: number;
  /** how long to wait for a sent transaction to be mined before asking the chain what became of it (ms) */
  receiptTimeoutMs: number;
}

export class TxSender {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: TxSenderOptions) {}

  /**
   * Sends the plan's transaction and returns its receipt, or undefined when the chain no
   * longer calls for it. Before each attempt it asks `needed`; once an attempt may have
   * reached the chain, it first looks for that transaction's event, and a retry reuses the
   * nonce unless the chain has mined it. A revert is final unless the transaction is no
   * longer needed (another settler was faster), and thrown as a RevertError naming the custom
   * error when Sibyl can decode it; other errors are retried with a growing pause.
   */
  send(plan: TxPlan): Promise<TransactionReceipt | undefined> {
    const p = this.chain.then(
      () => this.run(plan),
      () => this.run(plan),
    );
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async run(plan: TxPlan): Promise<TransactionReceipt | undefined> {
    const { subject } = plan;
    const { requestId, stage: what } = subject;
    const { provider, retrier, log, txAttempts, receiptTimeoutMs } = this.opts;
    const prefix = requestId ? `[${short(requestId)}] ` : "";
    subject.since ??= await retrier.read("block number", requestId, () => provider.getBlockNumber());
    const fromBlock = subject.since;
    const check = async (): Promise<TransactionReceipt | "needed" | "moot"> => {
      if (plan.cancelled?.()) return "moot";
      if (subject.maybeSent) {
        const hash = await retrier.read(`${what} lookup`, requestId, () => plan.landed(fromBlock));
        const receipt =
          hash &&
          (await retrier.read(`${what} receipt`, requestId, () => provider.getTransactionReceipt(hash)));
        if (receipt) {
          log.info(`${prefix}found its ${what} transaction ${receipt.hash} on-chain; not sending again`);
          return receipt;
        }
      }
      return (await plan.needed()) && !plan.cancelled?.() ? "needed" : "moot";
    };
    let nonce: number | undefined;
    for (let attempt = 1; ; attempt++) {
      const status = await check();
      if (status === "moot") return undefined;
      if (status !== "needed") return status;
      try {
        nonce = await this.nonceFor(requestId, nonce);
        if (plan.cancelled?.()) return undefined;
        subject.maybeSent = true;
        const tx = await plan.send({ nonce });
        const receipt = await tx.wait(1, receiptTimeoutMs);
        if (!receipt) throw new Error(`${what} transaction ${tx.hash} has no receipt`);
        return receipt;
      } catch (e) {
        if (isRevert(e)) {
          // refused by the chain: fine if it is no longer needed, final otherwise
          const after = await check();
          if (after === "moot") return undefined;
          if (after !== "needed") return after;
          throw explainRevert(e, `the ${what} transaction`);
        }
        if (attempt >= txAttempts) throw e;
        const ms = retrier.backoff(attempt);
        log.warn(
          `${prefix}${what} attempt ${attempt} of ${txAttempts} failed (${brief(e)}); checking the chain, then retrying in ${ms} ms`,
        );
        await sleep(ms);
      }
    }
  }

  /**
   * The nonce for the next attempt: the previous attempt's as long as the chain has not
   * mined a transaction with it (then at most one of them can ever be mined), else the
   * account's next one.
   */
  private async nonceFor(requestId: string | undefined, previous: number | undefined): Promise<number> {
    const { provider, retrier, address } = this.opts;
    if (previous !== undefined) {
      const mined = await retrier.read("nonce", requestId, () =>
        provider.getTransactionCount(address, "latest"),
      );
      if (mined <= previous) return previous;
    }
    return retrier.read("nonce", requestId, () => provider.getTransactionCount(address, "pending"));
  }
}
