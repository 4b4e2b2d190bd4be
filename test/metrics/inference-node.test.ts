import { expect } from "chai";
import hre, { network } from "hardhat";

import { type SibylStack, setUpStack } from "../../src/chain/stack.js";
import { requestInference } from "../../src/client/client.js";
import { sibylEnv } from "../../src/env.js";
import { silentLogger } from "../../src/log.js";
import { NodeMetrics } from "../../src/metrics/nodeMetrics.js";
import { type MetricsServer, serveMetrics } from "../../src/metrics/server.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { InferenceNode } from "../../src/node/node.js";
import { NodeTracker } from "../../src/node/tracker.js";
import type { CircuitInput } from "../../src/circuit/inputs.js";
import { type ProofResult, type Prover, SnarkjsProver, releaseProverThreads } from "../../src/zk/prover.js";
import type { InferencePrecompile } from "../../typechain-types/index.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";
import { sample } from "./exposition.js";

/**
 * A real InferenceNode serving Iris on the in-process network, its NodeMetrics scraped over
 * HTTP as Prometheus would: the counts match the requests made, and the bond gauges match what
 * the precompile says, both while the answers wait for their proofs and once they are settled.
 */

const connection = await network.create();
const { ethers } = connection;
const env = await sibylEnv(hre, connection);

/**
 * Holds every proof until the test opens it, so the test can scrape between the answers and
 * their settlements without racing the prover. The proofs themselves are real.
 */
class GatedProver implements Prover {
  private opened!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.opened = resolve));

  constructor(private readonly inner: Prover) {}

  open(): void {
    this.opened();
  }

  async warm(): Promise<void> {
    await this.inner.warm?.();
  }

  async prove(input: CircuitInput): Promise<ProofResult> {
    await this.gate;
    return this.inner.prove(input);
  }
}

describe("metrics/NodeMetrics on a real node serving Iris", function () {
  this.timeout(120_000);
  const INPUTS = [
    [5.1, 3.5, 1.4, 0.2],
    [6.7, 3.0, 5.2, 2.3],
    [5.9, 3.0, 4.2, 1.5],
  ];
  let stack: SibylStack;
  let requester: InferencePrecompile;
  let precompile: InferencePrecompile;
  let prover: GatedProver;
  let node: InferenceNode;
  let tracker: NodeTracker;
  let server: MetricsServer;
  const requestIds: string[] = [];

  before(async function () {
    stack = await setUpStack(env, { modelPaths: [IRIS_MODEL_PATH], log: silentLogger });
    const signers = await ethers.getSigners();
    requester = stack.precompile.connect(signers[14]);
    precompile = stack.precompile.connect(signers[17]);
    await (await precompile.registerNode({ value: ethers.parseEther("2") })).wait();

    const { modelId, artifacts } = stack.models.iris;
    prover = new GatedProver(new SnarkjsProver(artifacts.wasmPath, artifacts.zkeyPath));
    node = new InferenceNode({
      precompile,
      models: [{ modelId, artifacts, prover }],
      fromBlock: await ethers.provider.getBlockNumber(),
      pollMs: 20,
      log: silentLogger,
    });
    const metrics = new NodeMetrics({
      chain: { reader: precompile, address: () => node.account },
      modelLabel: (id) => (id.toLowerCase() === modelId.toLowerCase() ? "iris" : id),
    });
    metrics.observe(node);
    tracker = new NodeTracker(node);
    await node.start();
    server = await serveMetrics({ registry: metrics.registry, port: 0 });
  });

  after(async function () {
    prover?.open(); // a node stopping waits for its proofs
    await node?.stop();
    await server?.close();
    await releaseProverThreads();
  });

  /** What Prometheus would read. */
  async function scrape(): Promise<string> {
    const res = await fetch(server.url);
    expect(res.status).to.equal(200);
    return res.text();
  }

  /** The bond gauges read back from a scrape, beside what the precompile says now. */
  async function bondSeen(text: string) {
    const chain = await precompile.nodeOf(node.account);
    return {
      scraped: {
        free: sample(text, "sibyl_bond_wei", { part: "free" }),
        locked: sample(text, "sibyl_bond_wei", { part: "locked" }),
        atRisk: sample(text, "sibyl_value_at_risk_wei"),
      },
      onChain: {
        free: Number(chain.bond - chain.locked),
        locked: Number(chain.locked),
        atRisk: Number(await precompile.outstandingOf(node.account)),
      },
    };
  }

  it("shows the stake its answers lock, as the precompile does, while their proofs wait", async function () {
    const q = stack.models.iris.artifacts.quantized;
    for (const x of INPUTS) {
      const sent = await requestInference(requester, stack.models.iris.modelId, quantizeInput(q, x));
      requestIds.push(sent.requestId);
    }
    for (const id of requestIds) await tracker.waitAnswered(id);

    const text = await scrape();
    expect(sample(text, "sibyl_requests_total", { state: "answered" })).to.equal(INPUTS.length);
    expect(sample(text, "sibyl_requests_total", { state: "settled" })).to.equal(0);
    expect(sample(text, "sibyl_requests_unsettled")).to.equal(INPUTS.length);
    expect(sample(text, "sibyl_answer_latency_seconds_count", { model: "iris" })).to.equal(INPUTS.length);
    const { scraped, onChain } = await bondSeen(text);
    expect(scraped).to.deep.equal(onChain);
    expect(onChain.atRisk).to.be.greaterThan(0);
  });

  it("after they settle, counts them settled, shows their proofs timed and nothing at risk", async function () {
    prover.open();
    for (const id of requestIds) await tracker.waitSettled(id);

    const text = await scrape();
    expect(sample(text, "sibyl_requests_total", { state: "settled" })).to.equal(requestIds.length);
    expect(sample(text, "sibyl_requests_total", { state: "failed" })).to.equal(0);
    expect(sample(text, "sibyl_requests_unsettled")).to.equal(0);
    expect(sample(text, "sibyl_proof_seconds_count", { model: "iris" })).to.equal(requestIds.length);
    expect(sample(text, "sibyl_proof_seconds_sum", { model: "iris" })).to.be.greaterThan(0);
    expect(sample(text, "sibyl_settle_latency_seconds_count", { model: "iris" })).to.equal(requestIds.length);
    expect(sample(text, "sibyl_settle_gas_count", { model: "iris" })).to.equal(requestIds.length);
    const { scraped, onChain } = await bondSeen(text);
    expect(scraped).to.deep.equal(onChain);
    expect(scraped.atRisk).to.equal(0);
    expect(scraped.locked).to.equal(0);
    expect(sample(text, "sibyl_errors_total", { kind: "rpc" })).to.equal(0);
  });
});
