import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

import { PROOF_SECONDS } from "./buckets.js";
import { type EventSource, type WorkerFailedEvent, type WorkerProvedEvent, subscribe } from "./sources.js";

/**
 * Prometheus metrics for a prover worker: the proofs it made and how long each took, the jobs
 * it failed, and the jobs the queue took back from it as stalled. Labelled by circuit, since one
 * worker proves for many models and batch sizes and their proving times differ by orders of
 * magnitude.
 */

export interface WorkerMetricsOptions {
  /** where the metrics are registered; default a registry of their own */
  registry?: Registry;
  /** also collect the process's default metrics (CPU, memory, event-loop lag) */
  defaultMetrics?: boolean;
}

export class WorkerMetrics {
  readonly registry: Registry;
  private readonly proofs: Counter<"circuit">;
  private readonly proofSeconds: Histogram<"circuit">;
  private readonly failures: Counter<"circuit">;
  private readonly stalled: Counter;

  constructor(opts: WorkerMetricsOptions = {}) {
    this.registry = opts.registry ?? new Registry();
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.proofs = new Counter({
      name: "sibyl_worker_proofs_total",
      help: "Proofs this worker made, by circuit",
      labelNames: ["circuit"],
      registers,
    });
    this.proofSeconds = new Histogram({
      name: "sibyl_worker_proof_seconds",
      help: "Time this worker took to make one proof, by circuit",
      labelNames: ["circuit"],
      buckets: PROOF_SECONDS,
      registers,
    });
    this.failures = new Counter({
      name: "sibyl_worker_failures_total",
      help: "Proving jobs this worker failed, by circuit",
      labelNames: ["circuit"],
      registers,
    });
    this.stalled = new Counter({
      name: "sibyl_worker_stalled_total",
      help: "Jobs the queue took back from a worker that stopped renewing its lock (crashed or hung)",
      registers,
    });
  }

  /** Counts the worker's events from now on; returns what stops counting. */
  observe(worker: EventSource): () => void {
    return subscribe(worker, {
      proved: (e: WorkerProvedEvent) => this.proved(e),
      failed: (e: WorkerFailedEvent) => this.failures.inc({ circuit: e.circuit }),
      stalled: () => this.stalled.inc(),
    });
  }

  private proved(e: WorkerProvedEvent): void {
    this.proofs.inc({ circuit: e.circuit });
    if (Number.isFinite(e.ms) && e.ms >= 0) this.proofSeconds.observe({ circuit: e.circuit }, e.ms / 1000);
  }
}
