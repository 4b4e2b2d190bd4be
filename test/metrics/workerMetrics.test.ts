import { expect } from "chai";
import { EventEmitter } from "node:events";

import { NodeMetrics } from "../../src/metrics/nodeMetrics.js";
import { WorkerMetrics } from "../../src/metrics/workerMetrics.js";
import type { WorkerFailedEvent, WorkerProvedEvent } from "../../src/metrics/sources.js";
import { sample, scrape } from "./exposition.js";

/**
 * WorkerMetrics from a prover worker's events. A plain EventEmitter stands in for the worker's
 * event emitter only: the metrics see nothing else of it.
 */

describe("metrics/WorkerMetrics", function () {
  let worker: EventEmitter;
  let metrics: WorkerMetrics;

  beforeEach(function () {
    worker = new EventEmitter();
    metrics = new WorkerMetrics();
    metrics.observe(worker);
  });

  const text = (name: string) => scrape(metrics.registry, name);
  const proved = (circuit: string, ms: number, jobId = "1"): WorkerProvedEvent => ({ circuit, jobId, ms });

  it("counts proofs and times them in seconds, per circuit", async function () {
    worker.emit("proved", proved("iris", 120));
    worker.emit("proved", proved("iris", 380));
    worker.emit("proved", proved("iris_batch_k16", 9_000));

    const total = await text("sibyl_worker_proofs_total");
    expect(sample(total, "sibyl_worker_proofs_total", { circuit: "iris" })).to.equal(2);
    expect(sample(total, "sibyl_worker_proofs_total", { circuit: "iris_batch_k16" })).to.equal(1);
    const seconds = await text("sibyl_worker_proof_seconds");
    expect(sample(seconds, "sibyl_worker_proof_seconds_count", { circuit: "iris" })).to.equal(2);
    expect(sample(seconds, "sibyl_worker_proof_seconds_sum", { circuit: "iris" })).to.equal(0.5);
    expect(sample(seconds, "sibyl_worker_proof_seconds_bucket", { circuit: "iris", le: "0.25" })).to.equal(1);
    expect(sample(seconds, "sibyl_worker_proof_seconds_bucket", { circuit: "iris", le: "0.5" })).to.equal(2);
    expect(sample(seconds, "sibyl_worker_proof_seconds_sum", { circuit: "iris_batch_k16" })).to.equal(9);
  });

  it("counts failed jobs per circuit and stalled jobs overall, and times no failed proof", async function () {
    const failed: WorkerFailedEvent = { circuit: "mnist", jobId: "7", error: new Error("witness failed") };
    worker.emit("failed", failed);
    worker.emit("failed", { ...failed, jobId: "8" });
    worker.emit("stalled", { jobId: "9" });

    expect(
      sample(await text("sibyl_worker_failures_total"), "sibyl_worker_failures_total", { circuit: "mnist" }),
    ).to.equal(2);
    expect(sample(await text("sibyl_worker_stalled_total"), "sibyl_worker_stalled_total")).to.equal(1);
    const seconds = await text("sibyl_worker_proof_seconds");
    expect(sample(seconds, "sibyl_worker_proof_seconds_count", { circuit: "mnist" })).to.equal(undefined);
  });

  it("shares a registry with the node's metrics without a name clash", async function () {
    const node = new NodeMetrics();
    const both = new WorkerMetrics({ registry: node.registry });
    both.observe(worker);
    worker.emit("proved", proved("iris", 100));
    const all = await node.registry.metrics();
    expect(sample(all, "sibyl_worker_proofs_total", { circuit: "iris" })).to.equal(1);
    expect(sample(all, "sibyl_requests_total", { state: "settled" })).to.equal(0);
  });

  it("never throws into the worker's emit, and stops counting once unsubscribed", async function () {
    expect(() => worker.emit("proved", {})).to.not.throw();
    const other = new EventEmitter();
    const stop = metrics.observe(other);
    stop();
    other.emit("stalled", { jobId: "1" });
    expect(other.eventNames()).to.deep.equal([]);
    expect(sample(await text("sibyl_worker_stalled_total"), "sibyl_worker_stalled_total")).to.equal(0);
  });
});
