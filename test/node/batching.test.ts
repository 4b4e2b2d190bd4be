import hre, { network } from "hardhat";
import { expect } from "chai";

import { BatchQueue } from "../../src/node/batcher.js";
import { NodeTracker } from "../../src/node/tracker.js";
import { circuitInputFor } from "../../src/circuit/inputs.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { type SibylTestbed, RequestState, deploySibyl } from "../../src/testing/index.js";
import { SnarkjsProver, toSolidityProof } from "../../src/zk/prover.js";
import { RecordingLogger } from "../helpers/recording-logger.js";

describe("the node's batch settlement", function () {
  describe("BatchQueue: full or near the deadline, whichever comes first", function () {
    const queue = (sizes = [4, 8], marginMs = 100) => new BatchQueue<string>({ sizes, marginMs });

    it("keeps answers waiting until the largest batch is full, then takes exactly that many", function () {
      const q = queue();
      for (let i = 0; i < 7; i++) q.add(`r${i}`, 10_000 + i);
      expect(q.take(0)).to.deep.equal([]);
      q.add("r7", 10_007);
      q.add("r8", 10_008);
      expect(q.take(0)).to.deep.equal([
        { k: 8, items: ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"], reason: "full" },
      ]);
      expect(q.size).to.equal(1);
    });

    it("takes a partial batch once the oldest deadline is within the margin, with the smallest size that holds it", function () {
      const q = queue([4, 8], 100);
      q.add("late", 5_000);
      q.add("early", 1_000);
      q.add("middle", 3_000);
      expect(q.nextDueMs()).to.equal(900);
      expect(q.take(899)).to.deep.equal([]);
      expect(q.take(900)).to.deep.equal([{ k: 4, items: ["early", "middle", "late"], reason: "deadline" }]);
      expect(q.size).to.equal(0);
      for (let i = 0; i < 5; i++) q.add(`s${i}`, 1_000);
      expect(q.take(950)).to.deep.equal([
        { k: 8, items: ["s0", "s1", "s2", "s3", "s4"], reason: "deadline" },
      ]);
    });

    it("flush takes everything; remove drops an answer settled elsewhere", function () {
      const q = queue([2], 10);
      q.add("a", 100);
      q.add("b", 200);
      q.add("c", 300);
      expect(q.remove("b")).to.equal(true);
      expect(q.remove("b")).to.equal(false);
      expect(q.take(0, true)).to.deep.equal([{ k: 2, items: ["a", "c"], reason: "full" }]);
      q.add("d", 100);
      expect(q.take(0, true)).to.deep.equal([{ k: 2, items: ["d"], reason: "flush" }]);
    });

    it("refuses a queue with no sizes or a negative margin", function () {
      expect(() => queue([], 1)).to.throw(/at least one batch size/);
      expect(() => queue([4], -1)).to.throw(/margin/);
    });
  });

  describe("in-process node with Iris batch verifiers for 4 (real proofs)", function () {
    this.timeout(600_000);
    let bed: SibylTestbed;
    let tracker: NodeTracker;
    const log = new RecordingLogger();

    before(async function () {
      bed = await deploySibyl(hre, await network.create(), { batchSizes: [4], log, batchMarginMs: 120_000 });
      tracker = new NodeTracker(bed.node!);
    });
    after(async () => bed.close());

    const features = (i: number) => [5.1 + i * 0.2, 3.5 - i * 0.1, 1.4 + i * 0.8, 0.2 + i * 0.3];

    it("settles four answers with one settleBatch: the same transaction, each request Settled", async function () {
      const ids = [];
      for (let i = 0; i < 4; i++) ids.push(await bed.request(bed.quantize(features(i))));
      const settled = await Promise.all(ids.map((id) => tracker.waitSettled(id)));
      expect(new Set(settled.map((s) => s.txHash)).size).to.equal(1);
      for (const s of settled) expect(s.batch).to.deep.equal({ k: 4, size: 4 });
      for (const id of ids) expect(await bed.stateOf(id)).to.equal(RequestState.Settled);
      const receipt = await bed.env.ethers.provider.getTransactionReceipt(settled[0].txHash);
      const names = receipt!.logs.map((l) => bed.precompile.interface.parseLog(l)?.name);
      expect(names.filter((n) => n === "InferenceSettled")).to.have.length(4);
      expect(names.filter((n) => n === "BatchSettled")).to.have.length(1);
    });

    it("a batch that cannot fill settles when its oldest answer nears the deadline, not after it", async function () {
      // a margin as long as the whole settlement window: due as soon as it is queued
      const eager = await deploySibyl(hre, await network.create(), {
        batchSizes: [4],
        batchMarginMs: 600_000,
      });
      try {
        const eagerTracker = new NodeTracker(eager.node!);
        const id = await eager.request(eager.quantize(features(5)));
        const settled = await eagerTracker.waitSettled(id);
        expect(settled.batch).to.deep.equal({ k: 4, size: 1 });
        expect(await eager.stateOf(id)).to.equal(RequestState.Settled);
      } finally {
        await eager.close();
      }
    });

    it("answers left waiting settle when the node stops: nothing is left for a slash", async function () {
      const ids = [
        await bed.request(bed.quantize(features(6))),
        await bed.request(bed.quantize(features(7))),
      ];
      await Promise.all(ids.map((id) => tracker.waitAnswered(id)));
      expect(await bed.stateOf(ids[0])).to.equal(RequestState.Answered);
      await bed.stopNode();
      for (const id of ids) expect(await bed.stateOf(id)).to.equal(RequestState.Settled);
      await bed.startNode();
      tracker = new NodeTracker(bed.node!);
    });

    it("a batch holding a request someone else settled meanwhile falls back to settling the rest one by one", async function () {
      const first = bed.quantize(features(8));
      const firstId = await bed.request(first);
      await tracker.waitAnswered(firstId);
      // a third party settles it alone while it waits for its batch
      const artifacts = bed.models.iris.artifacts;
      const proof = await new SnarkjsProver(artifacts.wasmPath, artifacts.zkeyPath).prove(
        circuitInputFor(artifacts.quantized, firstId, first, runQuantized(artifacts.quantized, first).output),
      );
      await (await bed.precompile.settle(firstId, toSolidityProof(proof.proof) as never)).wait();
      const rest = [];
      for (let i = 9; i < 12; i++) rest.push(await bed.request(bed.quantize(features(i))));
      const settled = await Promise.all(rest.map((id) => tracker.waitSettled(id)));
      for (const s of settled) expect(s.batch).to.equal(undefined);
      for (const id of [firstId, ...rest]) expect(await bed.stateOf(id)).to.equal(RequestState.Settled);
      expect(log.messages("warn").join("\n")).to.match(
        /not every request is still awaiting settlement; settling its requests one by one/,
      );
    });
  });
});
