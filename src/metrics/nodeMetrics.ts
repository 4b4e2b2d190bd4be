import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

import type {
  AnsweredEvent,
  AttestedEvent,
  ChainRestartedEvent,
  FailedEvent,
  FaultEvent,
  SettledEvent,
  TakeoverEvent,
} from "../node/node.js";
import { ANSWER_SECONDS, GAS, PROOF_SECONDS, SETTLE_SECONDS } from "./buckets.js";
import { ScrapeGauges } from "./scrapeGauges.js";
import {
  type ChainSource,
  type EventSource,
  type QueueDepthSource,
  type RedisStatus,
  type RedisStatusSource,
  subscribe,
} from "./sources.js";

/**
 * Prometheus metrics for an inference node: what happened to its requests and how long each
 * step took (from the node's events), what it has at stake (from the chain, read at scrape
 * time), and, when proving goes through a queue, the queue's depth and its Redis connection.
 */

export interface NodeMetricsOptions {
  /** where the metrics are registered; default a registry of their own */
  registry?: Registry;
  /** also collect the process's default metrics (CPU, memory, event-loop lag, `process_*`, `nodejs_*`) */
  defaultMetrics?: boolean;
  /** the `model` label of a model id, e.g. its name; default the id, lower-cased */
  modelLabel?: (modelId: string) => string;
  /** read the bond gauges from here at scrape time (the precompile and `() => node.account`) */
  chain?: ChainSource;
  /** read `sibyl_queue_depth` from here at scrape time */
  queue?: QueueDepthSource;
  /** how long a scrape waits for the chain or the queue before keeping the last values (ms, default 3000) */
  readTimeoutMs?: number;
}

/** The request outcomes `sibyl_requests_total` counts, one per node event. */
export const REQUEST_STATES = ["answered", "attested", "consumed", "declined", "settled", "failed"] as const;
/** The errors `sibyl_errors_total` counts: the node's `fault` kinds (a scrape's own failed reads count as `rpc` or `queue`). */
export const ERROR_KINDS = ["rpc", "revert", "prove", "queue"] as const;
const FAILED_STAGES: readonly FailedEvent["stage"][] = ["answer", "prove", "settle"];
const TAKEOVER_STAGES: readonly TakeoverEvent["stage"][] = ["answer", "settle"];

/** A batch settles many requests in one transaction: its proof and gas are counted once. */
const RECENT_BATCHES = 256;

export class NodeMetrics {
  readonly registry: Registry;
  private readonly modelLabel: (modelId: string) => string;
  private readonly requests: Counter<"state">;
  private readonly unsettledGauge: Gauge;
  private readonly answerSeconds: Histogram<"model">;
  private readonly settleSeconds: Histogram<"model">;
  private readonly proofSeconds: Histogram<"model">;
  private readonly answerGas: Histogram<"model">;
  private readonly settleGas: Histogram<"model">;
  private readonly errors: Counter<"kind">;
  private readonly failures: Counter<"stage">;
  private readonly takeovers: Counter<"stage">;
  private redisUp?: Gauge;
  private readonly scrape: ScrapeGauges;
  /** requests answered and not yet settled or failed, as the node has reported them */
  private readonly unsettled = new Set<string>();
  /** settlement transactions of batches already counted, oldest first */
  private readonly batchTxs = new Set<string>();

  constructor(opts: NodeMetricsOptions = {}) {
    this.registry = opts.registry ?? new Registry();
    this.modelLabel = opts.modelLabel ?? ((id) => id.toLowerCase());
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.scrape = new ScrapeGauges({
      registry: this.registry,
      chain: opts.chain,
      queue: opts.queue,
      readTimeoutMs: opts.readTimeoutMs ?? 3000,
      failed: (kind) => this.errors.inc({ kind }),
    });
    this.requests = new Counter({
      name: "sibyl_requests_total",
      help: "Requests by what the node did with them: answered (deferred), attested (TEE, final), consumed (synchronous, deferred), declined, settled, failed",
      labelNames: ["state"],
      registers,
    });
    this.unsettledGauge = new Gauge({
      name: "sibyl_requests_unsettled",
      help: "Requests this node answered and has not yet settled or failed, as the node sees them (the chain's view is sibyl_value_at_risk_wei)",
      registers,
      collect: () => this.unsettledGauge.set(this.unsettled.size),
    });
    this.answerSeconds = histogram(
      "sibyl_answer_latency_seconds",
      "Request seen → answer mined",
      ANSWER_SECONDS,
    );
    this.settleSeconds = histogram(
      "sibyl_settle_latency_seconds",
      "Request seen → settlement mined",
      SETTLE_SECONDS,
    );
    this.proofSeconds = histogram(
      "sibyl_proof_seconds",
      "Proving time, once per settlement transaction (a batch's proof counts once)",
      PROOF_SECONDS,
    );
    this.answerGas = histogram("sibyl_answer_gas", "Gas of each answer transaction", GAS);
    this.settleGas = histogram(
      "sibyl_settle_gas",
      "Gas of each settlement transaction (a batch counts once)",
      GAS,
    );
    this.errors = new Counter({
      name: "sibyl_errors_total",
      help: "Errors the node met (its fault events), and failed reads of the chain (rpc) or the queue during a scrape",
      labelNames: ["kind"],
      registers,
      // this scrape's failed reads are counted before the counter is read
      collect: () => this.scrape.refresh(),
    });
    this.failures = new Counter({
      name: "sibyl_failures_total",
      help: "Requests the node gave up on, by the stage that failed",
      labelNames: ["stage"],
      registers,
    });
    this.takeovers = new Counter({
      name: "sibyl_takeovers_total",
      help: "Peers' work this node took over under the assignment rule: unanswered requests (answer), unsettled answers near their deadline (settle)",
      labelNames: ["stage"],
      registers,
    });
    // series that exist from the start, so a rate over them is defined before the first event
    for (const state of REQUEST_STATES) this.requests.inc({ state }, 0);
    for (const kind of ERROR_KINDS) this.errors.inc({ kind }, 0);
    for (const stage of FAILED_STAGES) this.failures.inc({ stage }, 0);
    for (const stage of TAKEOVER_STAGES) this.takeovers.inc({ stage }, 0);

    function histogram(name: string, help: string, buckets: number[]): Histogram<"model"> {
      return new Histogram({ name, help, labelNames: ["model"], buckets, registers });
    }
  }

  /** Counts the node's events from now on; returns what stops counting. */
  observe(node: EventSource): () => void {
    return subscribe(node, {
      answered: (e: AnsweredEvent) => this.answered(e),
      attested: (e: AttestedEvent) => this.attested(e),
      consumed: (e: { requestId: string }) => this.consumed(e),
      declined: () => this.requests.inc({ state: "declined" }),
      settled: (e: SettledEvent) => this.settled(e),
      failed: (e: FailedEvent) => this.failed(e),
      fault: (e: FaultEvent) => this.errors.inc({ kind: e.kind }),
      takeover: (e: TakeoverEvent) => this.takeovers.inc({ stage: e.stage }),
      chainRestarted: (e: ChainRestartedEvent) => this.chainRestarted(e),
    });
  }

  /**
   * Follows the job queue's Redis connection (`"redis"` events with `{ up }`); `sibyl_redis_up`
   * appears with the first call. Returns what stops following.
   */
  observeRedis(source: RedisStatusSource): () => void {
    const up = (this.redisUp ??= new Gauge({
      name: "sibyl_redis_up",
      help: "1 while the job queue's Redis connection is up, 0 while it is down",
      registers: [this.registry],
    }));
    return subscribe(source, { redis: (e: RedisStatus) => up.set(e.up ? 1 : 0) });
  }

  private answered(e: AnsweredEvent): void {
    const model = this.modelLabel(e.modelId);
    this.requests.inc({ state: "answered" });
    this.unsettled.add(e.requestId);
    observeMs(this.answerSeconds, model, e.answerMs);
    this.answerGas.observe({ model }, Number(e.gasUsed));
  }

  /** A TEE answer is final when mined: an answer to time, nothing left to settle. */
  private attested(e: AttestedEvent): void {
    const model = this.modelLabel(e.modelId);
    this.requests.inc({ state: "attested" });
    observeMs(this.answerSeconds, model, e.finalMs);
    this.answerGas.observe({ model }, Number(e.gasUsed));
  }

  /** A synchronous call consumed a deferred result: it is an answered request the node now settles. */
  private consumed(e: { requestId: string }): void {
    this.requests.inc({ state: "consumed" });
    this.unsettled.add(e.requestId);
  }

  private settled(e: SettledEvent): void {
    const model = this.modelLabel(e.modelId);
    this.requests.inc({ state: "settled" });
    this.unsettled.delete(e.requestId);
    observeMs(this.settleSeconds, model, e.latencyMs);
    if (e.batch && !this.firstOfBatch(e.txHash)) return;
    observeMs(this.proofSeconds, model, e.proveMs);
    this.settleGas.observe({ model }, Number(e.gasUsed));
  }

  /**
   * Counts a request the node gave up on. Its error is counted by the `fault` the node emits
   * for it: counting it here too would count one revert twice.
   */
  private failed(e: FailedEvent): void {
    this.requests.inc({ state: "failed" });
    this.failures.inc({ stage: e.stage });
    this.unsettled.delete(e.requestId);
  }

  /** What was in flight on a chain that is gone will never settle there. */
  private chainRestarted(e: ChainRestartedEvent): void {
    for (const requestId of e.dropped) this.unsettled.delete(requestId);
  }

  /** Whether this is the first request seen of the batch settled by `txHash`. */
  private firstOfBatch(txHash: string): boolean {
    if (this.batchTxs.has(txHash)) return false;
    this.batchTxs.add(txHash);
    if (this.batchTxs.size > RECENT_BATCHES) this.batchTxs.delete(this.batchTxs.values().next().value!);
    return true;
  }
}

/** Observes a duration given in ms, in seconds (Prometheus' base unit); a negative or non-finite one is dropped. */
function observeMs(h: Histogram<"model">, model: string, ms: number): void {
  if (Number.isFinite(ms) && ms >= 0) h.observe({ model }, ms / 1000);
}
