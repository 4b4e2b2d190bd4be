import { expect } from "chai";
import { id } from "ethers";

import { type BlockMark, type ChainReader, ChainWatch, compareChain } from "../../src/node/chainWatch.js";

/**
 * The rule by which a node tells a chain that grew from one that went back, was reorganised,
 * or was restarted or replaced under it, on chains made of block hashes (no RPC).
 */

/** A chain of `length + 1` blocks (0…length) whose hashes depend on `seed` from block `from` on. */
function chain(length: number, seed: string, base?: string[], from = 0): string[] {
  return Array.from({ length: length + 1 }, (_, n) => (base && n < from ? base[n] : id(`${seed}/${n}`)));
}

/** Reads a chain's hashes, counting the reads. */
function reader(blocks: string[]): { hashAt: (n: number) => Promise<string | undefined>; reads: number[] } {
  const reads: number[] = [];
  return {
    reads,
    hashAt: async (n) => {
      reads.push(n);
      return blocks[n];
    },
  };
}

const headOf = (blocks: string[], n = blocks.length - 1): BlockMark => ({ number: n, hash: blocks[n] });

/** A reader of whatever chain `current()` is. */
const on = (current: () => string[]): ChainReader => ({
  head: async () => headOf(current()),
  hashAt: async (n) => current()[n],
});

describe("node/chainWatch: telling a restarted chain from one that grew", function () {
  describe("compareChain", function () {
    const a = chain(50, "A");
    const known = {
      genesis: a[0],
      marks: [1, 30, 40, 50].map((n) => ({ number: n, hash: a[n] })),
    };

    it("the same chain, grown or not: `same`, reading only the newest mark's block", async function () {
      const grown = chain(60, "A");
      const r = reader(grown);
      expect(await compareChain(known, headOf(grown), r.hashAt)).to.deep.equal({ kind: "same" });
      expect(r.reads).to.deep.equal([50]);
      const still = reader(a);
      expect(await compareChain(known, headOf(a), still.hashAt)).to.deep.equal({ kind: "same" });
      expect(still.reads).to.deep.equal([]); // the head is the newest mark itself
    });

    it("a restart to a shorter chain with the same genesis (a Hardhat chain): `restarted`, genesis unchanged", async function () {
      const b = chain(12, "B", a, 1); // block 0 shared, every later block different
      expect(await compareChain(known, headOf(b), reader(b).hashAt)).to.deep.equal({
        kind: "restarted",
        previousGenesis: a[0],
        genesis: a[0],
        previousHead: 50,
        head: 12,
      });
    });

    it("a fresh chain back at block 0: `restarted`", async function () {
      const b = chain(0, "B", a, 1);
      expect(await compareChain(known, headOf(b), reader(b).hashAt)).to.deep.include({
        kind: "restarted",
        previousHead: 50,
        head: 0,
      });
    });

    it("a chain with another genesis that already passed the old height: `restarted`, naming both genesis hashes", async function () {
      const c = chain(80, "C");
      expect(await compareChain(known, headOf(c), reader(c).hashAt)).to.deep.equal({
        kind: "restarted",
        previousGenesis: a[0],
        genesis: c[0],
        previousHead: 50,
        head: 80,
      });
    });

    it("the same genesis and height but every block replaced: `restarted`", async function () {
      const b = chain(50, "B", a, 1);
      expect((await compareChain(known, headOf(b), reader(b).hashAt)).kind).to.equal("restarted");
    });

    it("blocks replaced above a remembered one (a reorganisation): `rewound` after the highest unchanged mark", async function () {
      const reorg = chain(55, "R", a, 36); // blocks 0…35 kept
      expect(await compareChain(known, headOf(reorg), reader(reorg).hashAt)).to.deep.equal({
        kind: "rewound",
        forkAfter: 30,
        previousHead: 50,
        head: 55,
      });
    });

    it("a head behind the newest mark on the same chain (an endpoint behind the others): `rewound`, nothing replaced", async function () {
      const behind = a.slice(0, 41); // head 40, every block the same
      expect(await compareChain(known, headOf(behind), reader(behind).hashAt)).to.deep.equal({
        kind: "rewound",
        forkAfter: 40,
        previousHead: 50,
        head: 40,
      });
    });
  });

  describe("ChainWatch", function () {
    it("remembers block 1 and recent heads, and forgets the marks above a rewind", async function () {
      let blocks = chain(10, "A");
      const watch = new ChainWatch(
        on(() => blocks),
        3,
      );
      expect(watch.started).to.equal(false);
      await watch.start(headOf(blocks));
      expect(watch.genesis).to.equal(blocks[0]);
      for (const length of [12, 14, 16, 18, 20]) {
        blocks = chain(length, "A");
        expect((await watch.check(headOf(blocks))).kind).to.equal("same");
      }
      // keeps block 1 and the 3 newest heads (16, 18, 20): a head of 15 is compared with block 1
      const back = blocks.slice(0, 16);
      expect(await watch.check(headOf(back))).to.deep.equal({
        kind: "rewound",
        forkAfter: 1,
        previousHead: 20,
        head: 15,
      });
      // the marks above block 1 are forgotten: the next head compares with 15
      const grown = chain(17, "A");
      expect(await watch.check(headOf(grown))).to.deep.equal({ kind: "same" });
    });

    it("says `restarted` once the chain is replaced, and `same` again after start() on the new chain", async function () {
      let blocks = chain(30, "A");
      const watch = new ChainWatch(on(() => blocks));
      await watch.start(headOf(blocks));
      blocks = chain(4, "B", blocks, 1);
      const change = await watch.check(headOf(blocks));
      expect(change).to.deep.include({ kind: "restarted", previousHead: 30, head: 4 });
      // until restarted, the watch keeps comparing with the old chain
      expect((await watch.check(headOf(blocks))).kind).to.equal("restarted");
      await watch.start(headOf(blocks));
      blocks = chain(6, "B", blocks, 1);
      expect(await watch.check(headOf(blocks))).to.deep.equal({ kind: "same" });
    });

    it("observe() starts the watch, then confirms a restart on a second read of the head", async function () {
      const a = chain(10, "A");
      const b = chain(4, "B", a, 1);
      // the endpoint switches chains between the head read and the hash reads of one look
      const heads: BlockMark[] = [];
      let hashesFrom = a;
      const reader: ChainReader = {
        head: async () => heads.shift() ?? headOf(hashesFrom),
        hashAt: async (n) => hashesFrom[n],
      };
      const watch = new ChainWatch(reader);
      expect(await watch.observe()).to.deep.equal({ head: headOf(a), change: { kind: "same" } });
      expect(watch.genesis).to.equal(a[0]);

      // a look that mixes the two chains (A's head, B's blocks), then B: the restart is B's
      heads.push(headOf(chain(12, "A")));
      hashesFrom = b;
      expect(await watch.observe()).to.deep.equal({
        head: headOf(b),
        change: { kind: "restarted", previousGenesis: a[0], genesis: b[0], previousHead: 10, head: 4 },
      });
    });

    it("observe() does not report a restart that a second read of the head does not confirm", async function () {
      const a = chain(10, "A");
      const b = chain(4, "B", a, 1);
      const heads: BlockMark[] = [];
      const watch = new ChainWatch({
        head: async () => heads.shift() ?? headOf(a),
        hashAt: async (n) => a[n],
      });
      await watch.observe();
      // one read of the head answered by another chain (an endpoint behind a balancer), then A again
      heads.push(headOf(b, 1));
      expect(
        await compareChain(
          { genesis: a[0], marks: [1, 10].map((n) => ({ number: n, hash: a[n] })) },
          headOf(b, 1),
          async (n) => a[n],
        ),
      ).to.deep.include({ kind: "restarted" });
      expect(await watch.observe()).to.deep.equal({ head: headOf(a), change: { kind: "same" } });
    });

    it("a watch started at block 0 still tells a restart from a chain that grew", async function () {
      let blocks = chain(0, "A");
      const watch = new ChainWatch(on(() => blocks));
      await watch.start(headOf(blocks));
      blocks = chain(5, "A");
      expect((await watch.check(headOf(blocks))).kind).to.equal("same");
      blocks = chain(3, "B", blocks, 1);
      expect((await watch.check(headOf(blocks))).kind).to.equal("restarted");
    });
  });
});
