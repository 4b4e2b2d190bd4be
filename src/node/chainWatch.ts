/**
 * Noticing that the chain under a running node is no longer the one it was serving: a
 * `npx hardhat node` restarted under it (the block number goes back; the genesis block of a
 * Hardhat chain is the same from run to run, but every later block differs), another chain
 * behind the same URL (another genesis), or blocks replaced by a reorganisation.
 *
 * The watch keeps a few blocks it has seen ("marks": the genesis block, block 1, and the
 * heads of recent polls) and compares each new head with them:
 * - the newest mark is still there, unchanged: the same chain, grown (`same`);
 * - a lower mark is unchanged but the newest is gone or changed: the blocks after it went
 *   back or were replaced, on the same chain (`rewound`: scan them again);
 * - no mark above the genesis block is unchanged, or the genesis block itself changed: the
 *   chain was restarted or replaced (`restarted`).
 */

/** A block as the watch remembers it. */
export interface BlockMark {
  number: number;
  hash: string;
}

/** What the watch knows of the chain it is watching. */
export interface KnownChain {
  genesis: string;
  /** blocks above the genesis block, ascending by number */
  marks: BlockMark[];
}

export type ChainChange =
  | { kind: "same" }
  | {
      kind: "rewound";
      /** the highest remembered block that is unchanged: blocks after it went back or were replaced */
      forkAfter: number;
      previousHead: number;
      head: number;
    }
  | {
      kind: "restarted";
      previousGenesis: string;
      genesis: string;
      /** the highest block the watch had seen on the old chain */
      previousHead: number;
      head: number;
    };

/** The hash of block `n` on the chain now, or undefined when there is no such block. */
export type HashAt = (n: number) => Promise<string | undefined>;

/** How the watch reads the chain. */
export interface ChainReader {
  /** the chain's latest block */
  head(): Promise<BlockMark>;
  hashAt: HashAt;
}

/**
 * Compares the chain's head now with what is known of it (see the module's comment). Reads
 * one block's hash when the chain merely grew, and walks down the marks only when something
 * changed.
 */
export async function compareChain(known: KnownChain, head: BlockMark, hashAt: HashAt): Promise<ChainChange> {
  const hashOf = (n: number): Promise<string | undefined> =>
    n === head.number ? Promise.resolve(head.hash) : hashAt(n);
  const newest = known.marks.at(-1) ?? { number: 0, hash: known.genesis };
  const previousHead = newest.number;
  if (head.number >= newest.number && (await hashOf(newest.number)) === newest.hash) return { kind: "same" };
  for (let i = known.marks.length - 1; i >= 0; i--) {
    const mark = known.marks[i];
    if (mark.number > head.number || mark === newest) continue;
    if ((await hashOf(mark.number)) === mark.hash)
      return { kind: "rewound", forkAfter: mark.number, previousHead, head: head.number };
  }
  const genesis = (await hashOf(0)) ?? "(none)";
  return { kind: "restarted", previousGenesis: known.genesis, genesis, previousHead, head: head.number };
}

/** The chain a node is serving, compared at each poll with the head it reads. */
export class ChainWatch {
  private known?: KnownChain;

  /**
   * @param reader reads the chain's head and its blocks' hashes
   * @param keep how many recent heads to remember (besides the genesis block and block 1)
   */
  constructor(
    private readonly reader: ChainReader,
    private readonly keep = 32,
  ) {}

  get started(): boolean {
    return this.known !== undefined;
  }

  /** The genesis block of the chain being watched. */
  get genesis(): string | undefined {
    return this.known?.genesis;
  }

  /**
   * One look at the chain: reads its head and compares it with the chain watched so far
   * (`check`); a restart is confirmed on a second read of the head, since reads that straddle
   * the moment an endpoint changes chains can mix the two. The first look starts the watch.
   */
  async observe(): Promise<{ head: BlockMark; change: ChainChange }> {
    let head = await this.reader.head();
    if (!this.known) {
      await this.start(head);
      return { head, change: { kind: "same" } };
    }
    let change = await this.check(head);
    if (change.kind === "restarted") {
      head = await this.reader.head();
      change = await this.check(head);
    }
    return { head, change };
  }

  /** (Re)starts watching from `head`: reads the genesis block and block 1 of the chain now. */
  async start(head: BlockMark): Promise<void> {
    const genesis = head.number === 0 ? head.hash : await this.need(0);
    const marks: BlockMark[] = [];
    if (head.number > 1) marks.push({ number: 1, hash: await this.need(1) });
    if (head.number > 0) marks.push(head);
    this.known = { genesis, marks };
  }

  /**
   * Compares `head` with the chain watched so far and remembers it. After `rewound`, the marks
   * above the unchanged block are forgotten; after `restarted`, the caller starts again (`start`).
   */
  async check(head: BlockMark): Promise<ChainChange> {
    if (!this.known) throw new Error("the chain watch has not been started");
    const change = await compareChain(this.known, head, this.reader.hashAt);
    if (change.kind === "rewound") {
      const { forkAfter } = change;
      this.known.marks = this.known.marks.filter((m) => m.number <= forkAfter);
    }
    if (change.kind !== "restarted") this.remember(head);
    return change;
  }

  private remember(head: BlockMark): void {
    const marks = this.known!.marks;
    if (head.number === 0 || marks.at(-1)?.number === head.number) return;
    marks.push(head);
    // block 1 stays: a restarted chain shorter than every recent head is still compared with it
    const first = marks[0].number === 1 ? 1 : 0;
    while (marks.length > this.keep + first) marks.splice(first, 1);
  }

  private async need(n: number): Promise<string> {
    const hash = await this.reader.hashAt(n);
    if (!hash) throw new Error(`the endpoint has no block ${n}`);
    return hash;
  }
}
