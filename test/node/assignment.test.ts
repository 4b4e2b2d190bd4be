import { expect } from "chai";
import { Wallet, hexlify, randomBytes } from "ethers";

import { rankNodes } from "../../src/node/assignment.js";
import { ChainClock } from "../../src/node/chainClock.js";
import { ProofLanes } from "../../src/node/lanes.js";
import type { ProofResult, Prover } from "../../src/zk/prover.js";

/**
 * The pure parts of running several nodes and several workers: the ranking every node
 * computes alike, the chain clock that turns deadlines into wall-clock moments, and the
 * lanes that bound how many proofs run at once.
 */
describe("node/assignment: ranking, chain clock, proof lanes", function () {
  const nodes = Array.from({ length: 5 }, () => Wallet.createRandom().address);

  describe("rankNodes", function () {
    it("gives every node the same order whatever order or case it lists the nodes in", function () {
      const id = hexlify(randomBytes(32));
      const ranking = rankNodes(id, nodes);
      expect(ranking).to.have.length(nodes.length);
      expect(rankNodes(id, [...nodes].reverse())).to.deep.equal(ranking);
      expect(
        rankNodes(
          id,
          nodes.map((n) => n.toUpperCase().replace("0X", "0x")),
        ),
      ).to.deep.equal(ranking);
      expect(rankNodes(id, [...nodes, nodes[0]])).to.deep.equal(ranking); // a duplicate counts once
    });

    it("keeps the others' order when a node leaves: only its own requests move", function () {
      for (let i = 0; i < 50; i++) {
        const id = hexlify(randomBytes(32));
        const full = rankNodes(id, nodes);
        const without = rankNodes(id, nodes.slice(1));
        expect(without).to.deep.equal(full.filter((n) => n !== nodes[0].toLowerCase()));
      }
    });

    it("spreads the primaries over the nodes", function () {
      const primaries = new Map<string, number>();
      for (let i = 0; i < 500; i++) {
        const first = rankNodes(hexlify(randomBytes(32)), nodes)[0];
        primaries.set(first, (primaries.get(first) ?? 0) + 1);
      }
      expect(primaries.size).to.equal(nodes.length);
      // 100 expected each; below 50 would mean a skewed hash (p < 1e-7 for a fair one)
      for (const count of primaries.values()) expect(count).to.be.greaterThan(50);
    });
  });

  describe("ChainClock", function () {
    it("maps a chain time to when the first head at or after it was seen", function () {
      const clock = new ChainClock();
      clock.note(100, 1_000);
      clock.note(101, 1_400);
      clock.note(101, 1_900); // the same head seen again: the first sighting stands
      clock.note(105, 2_000);
      expect(clock.wallTimeOf(99)).to.equal(1_000);
      expect(clock.wallTimeOf(101)).to.equal(1_400);
      expect(clock.wallTimeOf(103)).to.equal(2_000);
      // past the latest head: projected at a second per second
      expect(clock.wallTimeOf(110)).to.equal(7_000);
    });

    it("takes chain time as wall time before it saw any head, and keeps only the latest marks", function () {
      const clock = new ChainClock(2);
      expect(clock.wallTimeOf(50)).to.equal(50_000);
      clock.note(1, 10);
      clock.note(2, 20);
      clock.note(3, 30);
      expect(clock.wallTimeOf(1)).to.equal(20); // the mark for 1 was dropped
      clock.clear();
      expect(clock.wallTimeOf(7)).to.equal(7_000);
    });
  });

  describe("ProofLanes", function () {
    /** A prover that only counts how many of its proofs run at once (it stands in for the prover, not for what is tested). */
    class Gate implements Prover {
      running = 0;
      peak = 0;
      readonly release: Array<() => void> = [];
      constructor(readonly concurrency?: number) {}
      async prove(): Promise<ProofResult> {
        this.running++;
        this.peak = Math.max(this.peak, this.running);
        await new Promise<void>((r) => this.release.push(r));
        this.running--;
        return {
          proof: { pi_a: [], pi_b: [], pi_c: [], protocol: "groth16", curve: "bn128" },
          publicSignals: [],
          ms: 0,
        };
      }
    }
    const settle = () => new Promise((r) => setImmediate(r));

    it("runs in-process proofs one at a time across provers, a queue's up to its concurrency", async function () {
      const lanes = new ProofLanes();
      const local = [new Gate(), new Gate(1)];
      const queue = new Gate(3);
      const work = [
        ...[0, 1, 0, 1].map((i) => lanes.run(local[i], () => local[i].prove())),
        ...Array.from({ length: 5 }, () => lanes.run(queue, () => queue.prove())),
      ];
      for (let round = 0; round < 10; round++) {
        await settle();
        expect(local[0].running + local[1].running).to.be.at.most(1);
        expect(queue.running).to.be.at.most(3);
        for (const g of [...local, queue]) g.release.shift()?.();
      }
      await Promise.all(work);
      expect(local[0].peak + local[1].peak).to.equal(2); // each ran alone
      expect(queue.peak).to.equal(3);
    });

    it("frees the slot of a proof that throws", async function () {
      const lanes = new ProofLanes();
      const p = new Gate();
      await lanes.run(p, () => Promise.reject(new Error("boom"))).catch(() => undefined);
      const next = lanes.run(p, () => p.prove());
      await settle();
      expect(p.running).to.equal(1);
      p.release.shift()!();
      await next;
    });
  });
});
