import { expect } from "chai";
import hre, { network } from "hardhat";

import { DashboardCollector } from "../../src/dashboard/collector.js";
import type { DashboardSnapshot, RequestView } from "../../src/dashboard/snapshot.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { type SibylTestbed, deploySibyl } from "../../src/testing/index.js";
import { breakableProvider } from "../helpers/breakable-provider.js";

/**
 * The dashboard's collector against a real stack on the in-process network (the Iris model, a
 * real node proving with Groth16): what it reports for each request's lifecycle (settled,
 * slashed, expired), the value at risk outstanding and the node's bond, all checked against the
 * chain itself; what it does when the endpoint fails; and that it follows the chain by itself.
 */

const connection = await network.create();
const { ethers } = connection;

const SETOSA = [5.1, 3.5, 1.4, 0.2];

describe("dashboard/DashboardCollector on a real stack", function () {
  this.timeout(120_000);
  let sibyl: SibylTestbed;
  let node: string;
  const collectors: DashboardCollector[] = [];

  before(async function () {
    sibyl = await deploySibyl(hre, connection);
    node = await sibyl.nodeSigner.getAddress();
  });

  after(async function () {
    for (const c of collectors) await c.stop();
    await sibyl?.close();
  });

  /** A collector over the whole chain (or from `fromBlock`), polled by hand with `refresh`. */
  function collector(opts: Partial<ConstructorParameters<typeof DashboardCollector>[0]> = {}) {
    const c = new DashboardCollector({
      precompile: sibyl.precompile,
      registry: sibyl.registry,
      fromBlock: 0,
      pollMs: 20,
      ...opts,
    });
    collectors.push(c);
    return c;
  }

  async function synced(c: DashboardCollector): Promise<DashboardSnapshot> {
    await c.refresh();
    return c.snapshot();
  }

  function requestIn(s: DashboardSnapshot, id: string): RequestView {
    const r = s.requests.find((x) => x.id === id);
    if (!r) throw new Error(`request ${id} is not in the snapshot`);
    return r;
  }

  /** The timestamp of the block that emitted the request's closing event. */
  async function closedAt(state: "settled" | "slashed" | "expired", id: string): Promise<number> {
    const p = sibyl.precompile;
    const [ev] =
      state === "settled"
        ? await p.queryFilter(p.filters.InferenceSettled(id), 0)
        : state === "slashed"
          ? await p.queryFilter(p.filters.InferenceSlashed(id), 0)
          : await p.queryFilter(p.filters.InferenceExpired(id), 0);
    return (await ev.getBlock()).timestamp;
  }

  const nodeIn = (s: DashboardSnapshot) =>
    s.nodes.find((n) => n.address.toLowerCase() === node.toLowerCase())!;
  const input = () => sibyl.quantize(SETOSA);

  it("follows a request from requested to settled, at the block times of its events", async function () {
    const c = collector();
    const id = await sibyl.request(input());
    await sibyl.waitSettled(id);
    const s = await synced(c);

    const onChain = await sibyl.precompile.getRequest(id);
    const r = requestIn(s, id);
    expect(r.state).to.equal("settled");
    expect(r.model).to.equal("iris");
    expect(r.mode).to.equal("ZK");
    expect(r.node).to.equal(node);
    expect(r.consumer).to.equal(onChain.consumer);
    expect(r.stake).to.equal(onChain.stake.toString());
    expect(r.fee).to.equal(onChain.fee.toString());
    expect(r.requestedAt).to.equal(Number(onChain.requestedAt));
    expect(r.answeredAt).to.equal(Number(onChain.answeredAt));
    expect(r.settledAt).to.equal(await closedAt("settled", id));
    expect(r.deadline).to.equal(Number(await sibyl.precompile.settlementDeadline(id)));
    expect(r.slashedAt).to.equal(null);
    expect(s.counts.settled).to.equal(1);
    expect(s.syncedBlock).to.equal(await ethers.provider.getBlockNumber());

    // the gap opened at the answer and closed at the settlement
    expect(s.valueAtRisk).to.equal("0");
    expect(s.valueAtRiskSeries.map((p) => p.wei)).to.include(onChain.stake.toString());
    const answered = s.valueAtRiskSeries.find((p) => p.wei === onChain.stake.toString())!;
    expect(answered.time).to.equal(r.answeredAt);
    const n = nodeIn(s);
    expect(n.history.some((h) => h.locked === onChain.stake.toString() && h.time === r.answeredAt)).to.equal(
      true,
    );
    const chainNode = await sibyl.precompile.nodeOf(node);
    expect([n.bond, n.locked]).to.deep.equal([chainNode.bond.toString(), chainNode.locked.toString()]);
  });

  it("holds the trust gap open while an answer is unproved, then shows its slash and the bond it took", async function () {
    const c = collector();
    await sibyl.stopNode();
    const id = await sibyl.request(input());
    const { output } = runQuantized(sibyl.models.iris.artifacts.quantized, input());
    await sibyl.answerWithoutProof(id, output);
    const stake = (await sibyl.precompile.getRequest(id)).stake;

    const open = await synced(c);
    expect(requestIn(open, id).state).to.equal("answered");
    expect(open.counts.answered).to.equal(1);
    expect(open.valueAtRisk).to.equal(stake.toString());
    expect(open.valueAtRisk).to.equal((await sibyl.precompile.bondBacking(id)).toString());
    expect(nodeIn(open).locked).to.equal((await sibyl.precompile.outstandingOf(node)).toString());
    const bondBefore = BigInt(nodeIn(open).bond);

    await sibyl.passSettlementWindow(id);
    const receipt = await sibyl.slash(id);
    const [slashEvent] = await sibyl.precompile.queryFilter(
      sibyl.precompile.filters.InferenceSlashed(id),
      receipt.blockNumber,
    );

    const closed = await synced(c);
    const r = requestIn(closed, id);
    expect(r.state).to.equal("slashed");
    expect(r.slashedAt).to.equal(await closedAt("slashed", id));
    expect(r.slash).to.deep.equal({
      compensation: slashEvent.args.compensation.toString(),
      reward: slashEvent.args.reward.toString(),
      refund: slashEvent.args.refund.toString(),
    });
    expect(closed.counts.answered).to.equal(0);
    expect(closed.counts.slashed).to.equal(1);
    expect(closed.valueAtRisk).to.equal("0");
    const n = nodeIn(closed);
    expect(BigInt(n.bond)).to.equal(bondBefore - stake);
    expect(n.bond).to.equal((await sibyl.precompile.nodeOf(node)).bond.toString());
    expect(n.locked).to.equal("0");
  });

  it("shows a request nobody answered as expired once anyone expires it", async function () {
    const c = collector();
    const id = await sibyl.request(input()); // the node is still stopped
    const waiting = await synced(c);
    expect(requestIn(waiting, id).state).to.equal("requested");
    expect(waiting.counts.requested).to.equal(1);

    const window = await sibyl.precompile.answerWindow();
    await ethers.provider.send("evm_increaseTime", [Number(window) + 1]);
    await (await sibyl.precompile.expire(id)).wait();

    const s = await synced(c);
    const r = requestIn(s, id);
    expect(r.state).to.equal("expired");
    expect(r.expiredAt).to.equal(await closedAt("expired", id));
    expect(r.answeredAt).to.equal(null);
    expect(s.counts).to.include({ requested: 0, answered: 0, settled: 1, slashed: 1, expired: 1 });
    expect(s.total).to.equal(3);
    expect(s.valueAtRisk).to.equal("0");
  });

  it("started after a request was made, explains it from the chain when its next event comes", async function () {
    const id = await sibyl.request(input());
    const { output } = runQuantized(sibyl.models.iris.artifacts.quantized, input());
    const receipt = await sibyl.answerWithoutProof(id, output);
    const onChain = await sibyl.precompile.getRequest(id);

    // the window starts at the answer: the request itself is below it
    const s = await synced(collector({ fromBlock: receipt.blockNumber }));
    expect(s.fromBlock).to.equal(receipt.blockNumber);
    expect(s.total).to.equal(1);
    const r = requestIn(s, id);
    expect(r.state).to.equal("answered");
    expect(r.requestedAt).to.equal(Number(onChain.requestedAt));
    expect(r.model).to.equal("iris");
    expect(s.valueAtRisk).to.equal(onChain.stake.toString());
    const chainNode = await sibyl.precompile.nodeOf(node);
    expect([nodeIn(s).bond, nodeIn(s).locked]).to.deep.equal([
      chainNode.bond.toString(),
      chainNode.locked.toString(),
    ]);
  });

  it("keeps the last picture and says the endpoint is unreachable while it fails, then catches up", async function () {
    const { provider, cut } = breakableProvider(connection);
    const c = collector({ precompile: sibyl.precompile.connect(provider) });
    const before = await synced(c);
    expect(before.rpc.ok).to.equal(true);

    cut(true);
    const id = await sibyl.request(input()); // on the chain, which the collector cannot see now
    const failing = await synced(c);
    expect(failing.rpc.ok).to.equal(false);
    expect(failing.rpc.error).to.contain("ECONNREFUSED");
    expect(failing.rpc.failingSince).to.be.a("number");
    expect(failing.requests.map((r) => r.id)).to.deep.equal(before.requests.map((r) => r.id));
    expect(failing.counts).to.deep.equal(before.counts);

    cut(false);
    const again = await synced(c);
    expect(again.rpc).to.include({ ok: true, error: null, failingSince: null });
    expect(requestIn(again, id).state).to.equal("requested");
  });

  it("follows a synchronous call: its result prepared (stake locked), answered in the call, then settled", async function () {
    const c = collector();
    await sibyl.startNode();
    const [, , caller] = await ethers.getSigners();
    const og = await ethers.deployContract("IrisClassifierOG", [sibyl.modelCid(), 0]); // VANILLA: deferred
    const receipt = await (await og.connect(caller).classify([64n, 32n, 45n, 15n], 1)).wait();
    const [consumed] = await sibyl.precompile.queryFilter(
      sibyl.precompile.filters.SyncInferenceConsumed(),
      receipt!.blockNumber,
      receipt!.blockNumber,
    );
    const id = consumed.args.requestId;
    await sibyl.waitSettled(id);
    const s = await synced(c);

    const onChain = await sibyl.precompile.getRequest(id);
    const r = requestIn(s, id);
    expect(r.state).to.equal("settled");
    expect(r.consumer).to.equal(await og.getAddress());
    expect(r.requestedAt).to.equal(Number(onChain.requestedAt)); // when the node prepared it
    expect(r.answeredAt).to.equal((await ethers.provider.getBlock(receipt!.blockNumber))!.timestamp);
    expect(r.deadline).to.equal(Number(await sibyl.precompile.settlementDeadline(id)));
    // the stake was locked by the preparation, and counted as at risk from the call on
    const [prepared] = await sibyl.precompile.queryFilter(sibyl.precompile.filters.InferencePrepared(id));
    const step = <P extends { block: number }>(points: P[], block: number, get: (p: P) => string) => {
      const i = points.findIndex((p) => p.block === block);
      expect(i, `a point at block ${block}`).to.be.greaterThan(0);
      return BigInt(get(points[i])) - BigInt(get(points[i - 1]));
    };
    expect(step(nodeIn(s).history, prepared.blockNumber, (h) => h.locked)).to.equal(onChain.stake);
    expect(step(s.valueAtRiskSeries, receipt!.blockNumber, (p) => p.wei)).to.equal(onChain.stake);
    expect(s.valueAtRisk).to.equal("0");
    expect(nodeIn(s).locked).to.equal((await sibyl.precompile.outstandingOf(node)).toString());
  });

  it("follows new blocks by itself and tells its listeners", async function () {
    const c = collector();
    const kinds: string[] = [];
    const seen = new Promise<void>((resolve) => {
      c.onChange((kind) => {
        kinds.push(kind);
        if (kind === "snapshot" && c.snapshot().requests.some((r) => r.id === pending)) resolve();
      });
    });
    let pending = "";
    await c.start();
    await sibyl.startNode(); // (running already after the test before)
    pending = await sibyl.request(input());
    await seen;
    expect(kinds).to.include("snapshot");
    await sibyl.waitSettled(pending);
    await c.refresh();
    expect(requestIn(c.snapshot(), pending).state).to.equal("settled");
  });
});
