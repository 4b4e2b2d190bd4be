import { expect } from "chai";
import { EventEmitter } from "node:events";

import { NodeMetrics } from "../../src/metrics/nodeMetrics.js";
import type { BondReader, QueueDepth } from "../../src/metrics/sources.js";
import type {
  AnsweredEvent,
  AttestedEvent,
  ChainRestartedEvent,
  DeclinedEvent,
  FailedEvent,
  FaultEvent,
  SettledEvent,
  TakeoverEvent,
} from "../../src/node/node.js";
import { sample, scrape } from "./exposition.js";

/**
 * NodeMetrics from the events a node emits and the reads it makes at scrape time. A plain
 * EventEmitter stands in for the InferenceNode's event emitter only (the metrics see nothing
 * else of the node); the real node is in inference-node.test.ts.
 */

const IRIS = "0x" + "11".repeat(32);
const MNIST = "0x" + "22".repeat(32);
const NODE = "0x" + "ab".repeat(20);
const ETH = 10n ** 18n;

const answered = (requestId: string, over: Partial<AnsweredEvent> = {}): AnsweredEvent => ({
  requestId,
  modelId: IRIS,
  output: [1n],
  txHash: `0xa${requestId}`,
  gasUsed: 72_624n,
  answerMs: 400,
  ...over,
});

const settled = (requestId: string, over: Partial<SettledEvent> = {}): SettledEvent => ({
  requestId,
  modelId: IRIS,
  proveMs: 800,
  latencyMs: 3_000,
  txHash: `0xs${requestId}`,
  gasUsed: 251_569n,
  ...over,
});

const failed = (requestId: string, stage: FailedEvent["stage"]): FailedEvent => ({
  requestId,
  stage,
  error: new Error("reverted"),
});

/** A bond reader whose answers and failures the test sets, counting its reads. */
class FakeBondReader implements BondReader {
  bond = 3n * ETH;
  locked = ETH / 2n;
  fail?: Error;
  hang = false;
  reads = 0;

  async nodeOf(node: string) {
    this.reads++;
    expect(node).to.equal(NODE);
    return this.answer({ bond: this.bond, locked: this.locked });
  }

  async outstandingOf(node: string) {
    expect(node).to.equal(NODE);
    return this.answer(this.locked);
  }

  private answer<T>(value: T): Promise<T> {
    if (this.hang) return new Promise(() => {});
    return this.fail ? Promise.reject(this.fail) : Promise.resolve(value);
  }
}

describe("metrics/NodeMetrics", function () {
  let node: EventEmitter;
  let metrics: NodeMetrics;

  beforeEach(function () {
    node = new EventEmitter();
    metrics = new NodeMetrics({ modelLabel: (id) => (id === IRIS ? "iris" : id === MNIST ? "mnist" : id) });
    metrics.observe(node);
  });

  const text = (name: string) => scrape(metrics.registry, name);

  describe("from the node's events", function () {
    it("counts each request outcome under sibyl_requests_total{state}, every state present from the start", async function () {
      const before = await text("sibyl_requests_total");
      for (const state of ["answered", "attested", "consumed", "declined", "settled", "failed"])
        expect(sample(before, "sibyl_requests_total", { state }), state).to.equal(0);

      node.emit("answered", answered("1"));
      node.emit("answered", answered("2"));
      node.emit("settled", settled("1"));
      node.emit("failed", failed("2", "settle"));
      const declined: DeclinedEvent = { requestId: "3", modelId: IRIS, reason: "fee", detail: "fee too low" };
      node.emit("declined", declined);
      node.emit("consumed", { requestId: "4", txHash: "0xc4" });

      const after = await text("sibyl_requests_total");
      expect(sample(after, "sibyl_requests_total", { state: "answered" })).to.equal(2);
      expect(sample(after, "sibyl_requests_total", { state: "settled" })).to.equal(1);
      expect(sample(after, "sibyl_requests_total", { state: "failed" })).to.equal(1);
      expect(sample(after, "sibyl_requests_total", { state: "declined" })).to.equal(1);
      expect(sample(after, "sibyl_requests_total", { state: "consumed" })).to.equal(1);
      expect(sample(after, "sibyl_requests_total", { state: "attested" })).to.equal(0);
    });

    it("times answers, settlements and proofs in seconds, per model label", async function () {
      node.emit("answered", answered("1", { answerMs: 1_500 }));
      node.emit("answered", answered("2", { modelId: MNIST, answerMs: 60 }));
      node.emit("settled", settled("1", { latencyMs: 42_000, proveMs: 800 }));

      const answers = await text("sibyl_answer_latency_seconds");
      expect(sample(answers, "sibyl_answer_latency_seconds_count", { model: "iris" })).to.equal(1);
      expect(sample(answers, "sibyl_answer_latency_seconds_sum", { model: "iris" })).to.equal(1.5);
      expect(sample(answers, "sibyl_answer_latency_seconds_bucket", { model: "iris", le: "1" })).to.equal(0);
      expect(sample(answers, "sibyl_answer_latency_seconds_bucket", { model: "iris", le: "2" })).to.equal(1);
      expect(sample(answers, "sibyl_answer_latency_seconds_sum", { model: "mnist" })).to.equal(0.06);

      const settles = await text("sibyl_settle_latency_seconds");
      expect(sample(settles, "sibyl_settle_latency_seconds_sum", { model: "iris" })).to.equal(42);
      expect(sample(settles, "sibyl_settle_latency_seconds_bucket", { model: "iris", le: "30" })).to.equal(0);
      expect(sample(settles, "sibyl_settle_latency_seconds_bucket", { model: "iris", le: "60" })).to.equal(1);
      const proofs = await text("sibyl_proof_seconds");
      expect(sample(proofs, "sibyl_proof_seconds_count", { model: "iris" })).to.equal(1);
      expect(sample(proofs, "sibyl_proof_seconds_sum", { model: "iris" })).to.equal(0.8);
    });

    it("records each answer's and settlement's gas", async function () {
      node.emit("answered", answered("1", { gasUsed: 72_624n }));
      node.emit("settled", settled("1", { gasUsed: 251_569n }));
      expect(sample(await text("sibyl_answer_gas"), "sibyl_answer_gas_sum", { model: "iris" })).to.equal(
        72_624,
      );
      expect(sample(await text("sibyl_settle_gas"), "sibyl_settle_gas_sum", { model: "iris" })).to.equal(
        251_569,
      );
    });

    it("counts a TEE answer as attested and times it as an answer, leaving nothing unsettled", async function () {
      const attested: AttestedEvent = {
        requestId: "1",
        modelId: IRIS,
        output: [2n],
        attestedAt: 1_700_000_000n,
        txHash: "0xt1",
        gasUsed: 90_000n,
        finalMs: 250,
      };
      node.emit("attested", attested);
      expect(
        sample(await text("sibyl_requests_total"), "sibyl_requests_total", { state: "attested" }),
      ).to.equal(1);
      const answers = await text("sibyl_answer_latency_seconds");
      expect(sample(answers, "sibyl_answer_latency_seconds_sum", { model: "iris" })).to.equal(0.25);
      expect(sample(await text("sibyl_requests_unsettled"), "sibyl_requests_unsettled")).to.equal(0);
    });

    it("counts a batch's proof and gas once, however many requests its transaction settles", async function () {
      for (const id of ["1", "2", "3"]) node.emit("answered", answered(id));
      for (const id of ["1", "2", "3"])
        node.emit("settled", settled(id, { txHash: "0xbatch", proveMs: 4_000, batch: { k: 4, size: 3 } }));

      expect(
        sample(await text("sibyl_requests_total"), "sibyl_requests_total", { state: "settled" }),
      ).to.equal(3);
      const proofs = await text("sibyl_proof_seconds");
      expect(sample(proofs, "sibyl_proof_seconds_count", { model: "iris" })).to.equal(1);
      expect(sample(proofs, "sibyl_proof_seconds_sum", { model: "iris" })).to.equal(4);
      expect(sample(await text("sibyl_settle_gas"), "sibyl_settle_gas_count", { model: "iris" })).to.equal(1);
      const settles = await text("sibyl_settle_latency_seconds");
      expect(sample(settles, "sibyl_settle_latency_seconds_count", { model: "iris" })).to.equal(3);
    });

    it("counts the peers' work the node took over, by stage", async function () {
      const takeover = (stage: TakeoverEvent["stage"]): TakeoverEvent => ({
        requestId: "1",
        stage,
        from: NODE,
      });
      node.emit("takeover", takeover("answer"));
      node.emit("takeover", takeover("settle"));
      node.emit("takeover", takeover("settle"));
      const takeovers = await text("sibyl_takeovers_total");
      expect(sample(takeovers, "sibyl_takeovers_total", { stage: "answer" })).to.equal(1);
      expect(sample(takeovers, "sibyl_takeovers_total", { stage: "settle" })).to.equal(2);
    });

    it("keeps answered requests in sibyl_requests_unsettled until settled, failed, or dropped with a restarted chain", async function () {
      const unsettled = async () =>
        sample(await text("sibyl_requests_unsettled"), "sibyl_requests_unsettled");
      for (const id of ["a", "b", "c", "d"]) node.emit("answered", answered(id));
      expect(await unsettled()).to.equal(4);
      node.emit("settled", settled("a"));
      node.emit("failed", failed("b", "prove"));
      expect(await unsettled()).to.equal(2);
      const restart: ChainRestartedEvent = {
        previousGenesis: "0x01",
        genesis: "0x02",
        previousHead: 10,
        head: 0,
        dropped: ["c"],
        fromBlock: 0,
      };
      node.emit("chainRestarted", restart);
      expect(await unsettled()).to.equal(1);
      node.emit("consumed", { requestId: "e", txHash: "0xc" });
      expect(await unsettled()).to.equal(2);
      // a recovered answer the node never reported answering settles without going negative
      node.emit("settled", settled("recovered"));
      node.emit("settled", settled("d"));
      node.emit("settled", settled("e"));
      expect(await unsettled()).to.equal(0);
    });

    it("counts the node's faults by kind, and a failed request by stage without counting its error twice", async function () {
      const fault = (kind: FaultEvent["kind"]): FaultEvent => ({ kind, message: `${kind} trouble` });
      node.emit("fault", fault("rpc"));
      node.emit("fault", fault("rpc"));
      node.emit("fault", { ...fault("revert"), requestId: "1" });
      node.emit("fault", { ...fault("prove"), requestId: "2" });
      node.emit("failed", failed("1", "settle"));
      node.emit("failed", failed("2", "prove"));

      const errors = await text("sibyl_errors_total");
      expect(sample(errors, "sibyl_errors_total", { kind: "rpc" })).to.equal(2);
      expect(sample(errors, "sibyl_errors_total", { kind: "revert" })).to.equal(1);
      expect(sample(errors, "sibyl_errors_total", { kind: "prove" })).to.equal(1);
      expect(sample(errors, "sibyl_errors_total", { kind: "queue" })).to.equal(0);
      const failures = await text("sibyl_failures_total");
      expect(sample(failures, "sibyl_failures_total", { stage: "settle" })).to.equal(1);
      expect(sample(failures, "sibyl_failures_total", { stage: "prove" })).to.equal(1);
      expect(sample(failures, "sibyl_failures_total", { stage: "answer" })).to.equal(0);
    });

    it("never throws into the node's emit, even for a malformed event", async function () {
      expect(() => node.emit("answered", { requestId: "1" })).to.not.throw();
      expect(() => node.emit("fault", {})).to.not.throw();
      node.emit("answered", answered("2"));
      expect(sample(await text("sibyl_answer_gas"), "sibyl_answer_gas_count", { model: "iris" })).to.equal(1);
    });

    it("stops counting once the subscription is undone", async function () {
      const other = new EventEmitter();
      const stop = metrics.observe(other);
      other.emit("answered", answered("1"));
      stop();
      other.emit("answered", answered("2"));
      expect(other.eventNames()).to.deep.equal([]);
      expect(
        sample(await text("sibyl_requests_total"), "sibyl_requests_total", { state: "answered" }),
      ).to.equal(1);
    });
  });

  describe("at scrape time", function () {
    let reader: FakeBondReader;
    let address: string;

    beforeEach(function () {
      reader = new FakeBondReader();
      address = NODE;
      metrics = new NodeMetrics({ chain: { reader, address: () => address }, readTimeoutMs: 200 });
    });

    it("reads the bond and the value at risk once per scrape, for every gauge that shows them", async function () {
      const all = await metrics.registry.metrics();
      expect(reader.reads).to.equal(1);
      expect(sample(all, "sibyl_bond_wei", { part: "free" })).to.equal(Number(reader.bond - reader.locked));
      expect(sample(all, "sibyl_bond_wei", { part: "locked" })).to.equal(Number(reader.locked));
      expect(sample(all, "sibyl_value_at_risk_wei")).to.equal(Number(reader.locked));
      expect(sample(all, "sibyl_chain_read_timestamp_seconds")).to.be.greaterThan(0);

      reader.locked = 0n;
      const next = await metrics.registry.metrics();
      expect(reader.reads).to.equal(2);
      expect(sample(next, "sibyl_bond_wei", { part: "free" })).to.equal(Number(reader.bond));
      expect(sample(next, "sibyl_value_at_risk_wei")).to.equal(0);
    });

    it("keeps serving the last values when the chain read fails, and counts an rpc error in the same scrape", async function () {
      await metrics.registry.metrics();
      const readAt = sample(
        await text("sibyl_chain_read_timestamp_seconds"),
        "sibyl_chain_read_timestamp_seconds",
      );
      const { bond, locked } = reader;
      reader.fail = new Error("connect ECONNREFUSED 127.0.0.1:8545");
      reader.bond = 9n * ETH;

      const all = await metrics.registry.metrics();
      expect(sample(all, "sibyl_errors_total", { kind: "rpc" })).to.equal(1);
      expect(sample(all, "sibyl_bond_wei", { part: "free" })).to.equal(Number(bond - locked));
      expect(sample(all, "sibyl_value_at_risk_wei")).to.equal(Number(locked));
      expect(sample(all, "sibyl_chain_read_timestamp_seconds")).to.equal(readAt);

      reader.fail = undefined;
      const healed = await metrics.registry.metrics();
      expect(sample(healed, "sibyl_bond_wei", { part: "free" })).to.equal(Number(9n * ETH - locked));
      expect(sample(healed, "sibyl_errors_total", { kind: "rpc" })).to.equal(1);
    });

    it("gives up on a chain read that hangs and still answers the scrape", async function () {
      reader.hang = true;
      const all = await metrics.registry.metrics();
      expect(sample(all, "sibyl_errors_total", { kind: "rpc" })).to.equal(1);
      expect(sample(all, "sibyl_bond_wei", { part: "free" })).to.equal(undefined);
    });

    it("reads nothing while the node has no account yet", async function () {
      address = "";
      const all = await metrics.registry.metrics();
      expect(reader.reads).to.equal(0);
      expect(sample(all, "sibyl_bond_wei", { part: "free" })).to.equal(undefined);
      expect(sample(all, "sibyl_errors_total", { kind: "rpc" })).to.equal(0);
    });

    it("shows the queue's depth by state, keeping the last depth when the queue cannot be read", async function () {
      let depth: QueueDepth | Error = { waiting: 3, active: 1, delayed: 0, failed: 2 };
      const queued = new NodeMetrics({
        queue: { depth: async () => (depth instanceof Error ? Promise.reject(depth) : depth) },
      });
      const first = await queued.registry.metrics();
      expect(sample(first, "sibyl_queue_depth", { state: "waiting" })).to.equal(3);
      expect(sample(first, "sibyl_queue_depth", { state: "active" })).to.equal(1);
      expect(sample(first, "sibyl_queue_depth", { state: "delayed" })).to.equal(0);
      expect(sample(first, "sibyl_queue_depth", { state: "failed" })).to.equal(2);

      depth = new Error("Connection is closed.");
      const second = await queued.registry.metrics();
      expect(sample(second, "sibyl_queue_depth", { state: "waiting" })).to.equal(3);
      expect(sample(second, "sibyl_errors_total", { kind: "queue" })).to.equal(1);
    });

    it("follows the queue's Redis connection in sibyl_redis_up", async function () {
      const redis = new EventEmitter();
      expect(metrics.registry.getSingleMetric("sibyl_redis_up")).to.equal(undefined);
      metrics.observeRedis(redis);
      redis.emit("redis", { up: true });
      expect(sample(await text("sibyl_redis_up"), "sibyl_redis_up")).to.equal(1);
      redis.emit("redis", { up: false });
      expect(sample(await text("sibyl_redis_up"), "sibyl_redis_up")).to.equal(0);
    });

    it("shows no chain or queue gauges when given neither", async function () {
      const bare = new NodeMetrics();
      const all = await bare.registry.metrics();
      for (const name of ["sibyl_bond_wei", "sibyl_value_at_risk_wei", "sibyl_queue_depth", "sibyl_redis_up"])
        expect(all).to.not.contain(`# TYPE ${name} `);
    });

    it("adds the process's default metrics when asked", async function () {
      const withDefaults = new NodeMetrics({ defaultMetrics: true });
      expect(await withDefaults.registry.metrics()).to.contain("process_cpu_user_seconds_total");
      expect(await new NodeMetrics().registry.metrics()).to.not.contain("process_cpu_user_seconds_total");
    });
  });
});
