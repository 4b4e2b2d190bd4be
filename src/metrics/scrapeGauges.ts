import { Gauge, type Registry } from "prom-client";

import type { ChainSource, QueueDepth, QueueDepthSource } from "./sources.js";

/** What a failed scrape-time read is counted as in `sibyl_errors_total`. */
export type ReadFailure = "rpc" | "queue";

export interface ScrapeGaugesOptions {
  registry: Registry;
  chain?: ChainSource;
  queue?: QueueDepthSource;
  /** how long one read may take before it counts as failed (ms) */
  readTimeoutMs: number;
  /** called once for each read that failed or timed out */
  failed(kind: ReadFailure): void;
}

const QUEUE_STATES: readonly (keyof QueueDepth)[] = ["waiting", "active", "delayed", "failed"];

/**
 * Gauges read from the chain and the job queue when Prometheus scrapes, rather than on a timer:
 * an idle node costs its RPC endpoint nothing, and every scrape shows the chain as it is then.
 * A scrape collects all metrics at once, so the collectors share one read (`refresh` joins a
 * read already under way). A read that fails or outlasts `readTimeoutMs` keeps the last values
 * and is counted: the scrape itself must still answer, or the node's other metrics would go
 * dark exactly when its RPC endpoint is in trouble.
 */
export class ScrapeGauges {
  private readonly bond?: Gauge<"part">;
  private readonly atRisk?: Gauge;
  private readonly readAt?: Gauge;
  private readonly depth?: Gauge<"state">;
  private reading?: Promise<void>;

  constructor(private readonly opts: ScrapeGaugesOptions) {
    const registers = [opts.registry];
    const collect = () => this.refresh();
    if (opts.chain) {
      this.bond = new Gauge({
        name: "sibyl_bond_wei",
        help: "The node's bond on-chain (nodeOf): free = bond − locked, locked = the stakes behind unsettled answers",
        labelNames: ["part"],
        registers,
        collect,
      });
      this.atRisk = new Gauge({
        name: "sibyl_value_at_risk_wei",
        help: "Stake locked behind the node's answered, unsettled requests (outstandingOf): slashable if not settled in time",
        registers,
        collect,
      });
      this.readAt = new Gauge({
        name: "sibyl_chain_read_timestamp_seconds",
        help: "When the bond gauges were last read from the chain (unix seconds); older than the scrape means stale values",
        registers,
        collect,
      });
    }
    if (opts.queue)
      this.depth = new Gauge({
        name: "sibyl_queue_depth",
        help: "Proving jobs in the queue, by state",
        labelNames: ["state"],
        registers,
        collect,
      });
  }

  /** Reads the chain and the queue, or joins the read already under way. Never rejects. */
  refresh(): Promise<void> {
    this.reading ??= Promise.all([this.readChain(), this.readQueue()]).then(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async readChain(): Promise<void> {
    const chain = this.opts.chain;
    const address = chain?.address();
    if (!chain || !address) return; // the node has not started: there is no account to read yet
    try {
      const [node, outstanding] = await this.within(() =>
        Promise.all([chain.reader.nodeOf(address), chain.reader.outstandingOf(address)]),
      );
      // wei as float64, as Prometheus stores every value: exact up to 2^53 wei, close enough beyond
      this.bond!.set({ part: "free" }, Number(node.bond - node.locked));
      this.bond!.set({ part: "locked" }, Number(node.locked));
      this.atRisk!.set(Number(outstanding));
      this.readAt!.set(Date.now() / 1000);
    } catch {
      this.opts.failed("rpc");
    }
  }

  private async readQueue(): Promise<void> {
    const queue = this.opts.queue;
    if (!queue) return;
    try {
      const depth = await this.within(() => queue.depth());
      for (const state of QUEUE_STATES) this.depth!.set({ state }, depth[state]);
    } catch {
      this.opts.failed("queue");
    }
  }

  /** Runs a read, rejecting if it takes longer than `readTimeoutMs` (the read itself is left to finish). */
  private async within<T>(read: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timed out")), this.opts.readTimeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve().then(read), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
