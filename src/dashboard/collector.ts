import type { Log, LogDescription, Provider } from "ethers";

import { SibylError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { Mode } from "../protocol/state.js";
import type { InferencePrecompile, ModelRegistry } from "../../typechain-types/index.js";
import { type ChainMoment, type RequestFacts, type TrustGapEvent, TrustGapModel } from "./model.js";
import {
  type ChainInfo,
  type DashboardSnapshot,
  type DashboardStatus,
  shortId,
  snapshotOf,
} from "./snapshot.js";

/**
 * Follows the precompile's events through any ethers provider and keeps the dashboard's picture
 * (`TrustGapModel`). It polls: every `pollMs` it reads the logs of the new blocks in ranges of
 * `blockRange` (log subscriptions are not offered by every endpoint, ranges are), reads what the
 * events leave out (block timestamps, the terms of a request first met after its request, each
 * node's bond at the range's end), and only then applies the range, so a failed read leaves the
 * picture as it was and the range is read again at the next poll. While the endpoint fails the
 * last picture stays, flagged (`rpc.ok` false), and polling goes on.
 *
 * A head below the last block read means the chain was reset (a restarted `hardhat node`): the
 * picture starts over. Reorganisations of a live chain are not followed (a local tool).
 */

/** The events the dashboard follows; the others (credit, admin, policy) say nothing about the gap. */
export const FOLLOWED_EVENTS = [
  "InferenceRequested",
  "InferencePrepared",
  "InferenceAnswered",
  "InferenceSettled",
  "InferenceSlashed",
  "InferenceExpired",
  "BatchSettled",
  "NodeBonded",
  "BondWithdrawn",
] as const;

export interface CollectorOptions {
  /** the installation to follow (`connectSibyl`); its runner's provider is the one polled */
  precompile: InferencePrecompile;
  /** to show models by their registered name (default: their ids, shortened) */
  registry?: ModelRegistry;
  /** the first block to read (default: `window` blocks below the head; at most the head) */
  fromBlock?: number;
  /** how far below the head to start without `fromBlock` (default 1000 blocks) */
  window?: number;
  /** how often to look for new blocks (default 1000 ms) */
  pollMs?: number;
  /** blocks per log query (default 1000; some endpoints refuse wider ranges) */
  blockRange?: number;
  /** how many of the newest requests a snapshot lists (default 500; all are counted) */
  maxRequests?: number;
  /** RPC failures and recoveries (default: silent) */
  log?: Logger;
}

/** `snapshot` when the picture changed, `status` when only the head or the endpoint's health did. */
export type ChangeKind = "snapshot" | "status";

/** What a range adds to the picture, all of it read before any of it is applied. */
interface Range {
  events: TrustGapEvent[];
  /** terms of requests first met by another event than their request, with where they were met */
  facts: Map<string, RequestFacts>;
  /** nodes first met in the range: their bond and locked part just before */
  seeds: Map<string, { bond: bigint; locked: bigint; at: ChainMoment }>;
  /** every node the range touched (by address), as the chain has it at the range's last block */
  ends: Map<string, { bond: bigint; locked: bigint }>;
  end: ChainMoment;
}

const READ_CONCURRENCY = 8;

export class DashboardCollector {
  private model = new TrustGapModel();
  private readonly names = new Map<string, string>();
  private readonly provider: Provider;
  private readonly listeners = new Set<(kind: ChangeKind) => void>();
  private readonly opts: Required<Omit<CollectorOptions, "registry" | "fromBlock" | "log">>;
  private readonly log: Logger;
  private chain: ChainInfo;
  private status: DashboardStatus;
  /** the next block to read; undefined until the first poll has found the window */
  private next: number | undefined;
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private modelVersion = -1;

  constructor(private readonly options: CollectorOptions) {
    const provider = options.precompile.runner?.provider;
    if (!provider)
      throw new SibylError(
        "the dashboard needs a precompile handle connected to a provider",
        "pass the precompile connectSibyl returns",
      );
    this.provider = provider;
    this.log = options.log ?? silentLogger;
    this.opts = {
      precompile: options.precompile,
      window: options.window ?? 1000,
      pollMs: options.pollMs ?? 1000,
      blockRange: Math.max(1, options.blockRange ?? 1000),
      maxRequests: options.maxRequests ?? 500,
    };
    this.chain = {
      chainId: null,
      precompile: String(options.precompile.target),
      fromBlock: null,
      minBond: null,
      answerWindow: null,
    };
    this.status = {
      version: 0,
      rpc: { ok: true, error: null, failingSince: null, lastOkAt: null },
      head: null,
      syncedBlock: null,
      clockOffset: 0,
    };
  }

  /** Reads up to the head once (a failure is kept in the status, not thrown), then polls. */
  async start(): Promise<void> {
    this.stopping = false;
    await this.refresh();
    this.schedule();
  }

  /** Stops polling; resolves when a poll in flight has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.queue;
  }

  /** Reads up to the current head now (after any poll in flight). Never rejects. */
  refresh(): Promise<void> {
    this.queue = this.queue.then(() => this.poll());
    return this.queue;
  }

  /** Calls `listener` after each change; returns the function that unsubscribes it. */
  onChange(listener: (kind: ChangeKind) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The picture now, as the server sends it. */
  snapshot(): DashboardSnapshot {
    return snapshotOf(this.model, this.statusNow(), this.chain, this.names, this.opts.maxRequests);
  }

  /** The head, the clock and the endpoint's health, without the picture. */
  statusNow(): DashboardStatus {
    return structuredClone(this.status);
  }

  private schedule(): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      void this.refresh().then(() => this.schedule());
    }, this.opts.pollMs);
  }

  private async poll(): Promise<void> {
    const before = this.statusKey();
    try {
      const head = await this.provider.getBlockNumber();
      if (this.next === undefined || head < this.next - 1) await this.begin(head);
      // the head first, so no snapshot shows an event later than its own clock
      await this.observeHead(head);
      while (this.next! <= head && !this.stopping) {
        const to = Math.min(head, this.next! + this.opts.blockRange - 1);
        this.applyRange(await this.readRange(this.next!, to));
        this.next = to + 1;
        this.status.syncedBlock = to;
        this.changed();
      }
      this.succeeded();
    } catch (e) {
      this.failed(e);
    }
    if (this.statusKey() !== before) this.emit("status");
  }

  /** Finds the window's first block and the installation's constants; starts over after a reset. */
  private async begin(head: number): Promise<void> {
    if (this.next !== undefined) {
      this.log.warn(
        `the chain's head (block ${head}) is below the last block the dashboard read (${this.next - 1}): ` +
          "the chain was reset or replaced; starting over",
      );
      this.model = new TrustGapModel();
      this.modelVersion = -1;
      this.status.head = null;
    }
    const { precompile } = this.opts;
    const wanted = this.options.fromBlock ?? head - this.opts.window;
    const from = Math.max(0, Math.min(wanted, head));
    const [network, minBond, answerWindow, first] = await Promise.all([
      this.provider.getNetwork(),
      precompile.minBond(),
      precompile.answerWindow(),
      this.blockTime(from),
    ]);
    this.chain = {
      ...this.chain,
      chainId: network.chainId.toString(),
      fromBlock: from,
      minBond,
      answerWindow: Number(answerWindow),
    };
    this.model.begin({ block: from, time: first });
    this.next = from;
  }

  /** Reads everything a range of blocks adds; throws, changing nothing, if the endpoint fails. */
  private async readRange(from: number, to: number): Promise<Range> {
    const logs = await this.provider.getLogs({
      address: this.chain.precompile,
      fromBlock: from,
      toBlock: to,
      topics: [FOLLOWED_EVENTS.map((name) => this.opts.precompile.interface.getEvent(name).topicHash)],
    });
    const decoded = inChainOrder(logs).flatMap((log) => {
      const desc = this.opts.precompile.interface.parseLog(log);
      return desc ? [{ log, desc }] : [];
    });
    const blocks = [...new Set([...decoded.map((d) => d.log.blockNumber), to])];
    const times = new Map(await mapLimit(blocks, async (b) => [b, await this.blockTime(b)] as const));
    const batches = batchesByTransaction(decoded);
    const events = decoded.flatMap(({ log, desc }) => {
      const e = eventOf(desc, { block: log.blockNumber, time: times.get(log.blockNumber)! }, log, batches);
      return e ? [e] : [];
    });
    const end = { block: to, time: times.get(to)! };
    const facts = await this.readFacts(events);
    const [seeds, ends] = await Promise.all([this.readSeeds(events), this.readNodes(events, to)]);
    await this.readNames([
      ...events.flatMap((e) => (e.kind === "requested" ? [e.modelId] : [])),
      ...[...facts.values()].map((f) => f.modelId),
    ]);
    return { events, facts, seeds, ends, end };
  }

  /** `getRequest` for every request an event names that the picture does not have yet. */
  private async readFacts(events: TrustGapEvent[]): Promise<Map<string, RequestFacts>> {
    const requestedHere = new Set(events.flatMap((e) => (e.kind === "requested" ? [e.requestId] : [])));
    const missing = new Set(
      events.flatMap((e) =>
        "requestId" in e && !requestedHere.has(e.requestId) && !this.model.requests.has(e.requestId)
          ? [e.requestId]
          : [],
      ),
    );
    const read = await mapLimit([...missing], async (id) => {
      const r = await this.opts.precompile.getRequest(id);
      const facts: RequestFacts = {
        modelId: r.modelId,
        consumer: r.consumer,
        mode: Number(r.mode) as Mode,
        fee: r.fee,
        stake: r.stake,
        requestedAt: Number(r.requestedAt),
        answeredAt: Number(r.answeredAt),
        node: r.node,
      };
      return [id, facts] as const;
    });
    return new Map(read);
  }

  /**
   * The bond of each node first met in this range, as it was just before (a historical read:
   * an endpoint without that state leaves the node at 0 until the range's end corrects it).
   */
  private async readSeeds(events: TrustGapEvent[]): Promise<Range["seeds"]> {
    const firstSeen = new Map<string, ChainMoment>();
    for (const e of events) {
      const node = "node" in e ? e.node : undefined;
      if (node && !this.hasNode(node) && !firstSeen.has(node.toLowerCase()))
        firstSeen.set(node.toLowerCase(), e.at);
    }
    const seeds: Range["seeds"] = new Map();
    await mapLimit([...firstSeen], async ([node, at]) => {
      if (at.block === 0) return seeds.set(node, { bond: 0n, locked: 0n, at });
      try {
        const n = await this.opts.precompile.nodeOf(node, { blockTag: at.block - 1 });
        seeds.set(node, { bond: n.bond, locked: n.locked, at: { block: at.block - 1, time: at.time } });
      } catch {
        // no historical state: the range's end sets the node right
      }
    });
    return seeds;
  }

  /** Each node the range touched as the chain has it at block `to`: the events' sums are checked against it. */
  private async readNodes(events: TrustGapEvent[], to: number): Promise<Range["ends"]> {
    const touched = new Map(
      events.flatMap((e) => ("node" in e ? [[e.node.toLowerCase(), e.node] as const] : [])),
    );
    const ends: Range["ends"] = new Map();
    await mapLimit([...touched.values()], async (address) => {
      try {
        const n = await this.opts.precompile.nodeOf(address, { blockTag: to });
        ends.set(address, { bond: n.bond, locked: n.locked });
      } catch {
        // an endpoint that lost the state of `to` already: the events' sums stand
      }
    });
    return ends;
  }

  /** The registered names of models met for the first time (best effort: the id otherwise). */
  private async readNames(modelIds: string[]): Promise<void> {
    const registry = this.options.registry;
    const fresh = [...new Set(modelIds)].filter((id) => !this.names.has(id));
    if (!registry) return;
    await mapLimit(fresh, async (id) => {
      try {
        const [ev] = await registry.queryFilter(registry.filters.ModelRegistered(id), 0);
        this.names.set(id, ev?.args.name || shortId(id));
      } catch {
        this.names.set(id, shortId(id)); // an endpoint that refuses a query from block 0: not asked again
      }
    });
  }

  private applyRange(range: Range): void {
    for (const e of range.events) {
      if ("requestId" in e) {
        const facts = range.facts.get(e.requestId);
        if (facts) this.model.know(e.requestId, facts, e.at);
      }
      if ("node" in e) {
        const seed = range.seeds.get(e.node.toLowerCase());
        if (seed) this.model.seedNode(e.node, seed.bond, seed.locked, seed.at);
      }
      this.model.apply(e);
    }
    for (const [address, { bond, locked }] of range.ends)
      this.model.reconcileNode(address, bond, locked, range.end);
  }

  /**
   * Records the head and the chain's clock against the wall clock. A head that moved between two
   * polls was mined since the last one, so its time minus now is the chain's offset (Hardhat's
   * `evm_increaseTime` moves it); the first head seen may be old, so it only ever raises it above 0.
   */
  private async observeHead(head: number): Promise<void> {
    if (this.status.head?.block === head) return;
    const time = await this.blockTime(head);
    const offset = time - Date.now() / 1000;
    this.status.clockOffset = this.status.head ? offset : Math.max(0, offset);
    this.status.head = { block: head, time };
  }

  private async blockTime(block: number): Promise<number> {
    const b = await this.provider.getBlock(block);
    if (!b) throw new Error(`block ${block} is not available from the endpoint`);
    return b.timestamp;
  }

  private hasNode(address: string): boolean {
    return this.model.nodes.has(address.toLowerCase());
  }

  private succeeded(): void {
    if (!this.status.rpc.ok) this.log.info("the chain answers again; the dashboard is live");
    this.status.rpc = { ok: true, error: null, failingSince: null, lastOkAt: Date.now() };
  }

  private failed(e: unknown): void {
    const error = firstLine(e);
    if (this.status.rpc.ok)
      this.log.warn(
        `the dashboard cannot reach the chain (${error}); it shows the last picture and retries every ${this.opts.pollMs} ms`,
      );
    this.status.rpc = {
      ok: false,
      error,
      failingSince: this.status.rpc.failingSince ?? Date.now(),
      lastOkAt: this.status.rpc.lastOkAt,
    };
  }

  /** Bumps the version when the picture changed, and tells the listeners. */
  private changed(): void {
    if (this.model.version === this.modelVersion) return;
    this.modelVersion = this.model.version;
    this.status.version++;
    this.emit("snapshot");
  }

  private statusKey(): string {
    const { version, rpc, head, syncedBlock, clockOffset } = this.status;
    return JSON.stringify([version, rpc.ok, rpc.error, head, syncedBlock, clockOffset]);
  }

  private emit(kind: ChangeKind): void {
    for (const listener of this.listeners) {
      try {
        listener(kind);
      } catch (e) {
        this.log.error(`a dashboard listener failed: ${firstLine(e)}`);
      }
    }
  }
}

/** One decoded event as the model takes it (`BatchSettled` only annotates the settlements of its transaction). */
function eventOf(
  desc: LogDescription,
  at: ChainMoment,
  log: Log,
  batches: ReadonlyMap<string, { k: number; count: number }>,
): TrustGapEvent | undefined {
  const a = desc.args;
  const base = { at, tx: log.transactionHash };
  switch (desc.name) {
    case "InferenceRequested":
      return {
        ...base,
        kind: "requested",
        requestId: a.requestId,
        modelId: a.modelId,
        consumer: a.consumer,
        mode: Number(a.mode) as Mode,
        fee: a.fee,
        stake: a.stake,
      };
    case "InferencePrepared":
      return { ...base, kind: "prepared", requestId: a.requestId, node: a.node };
    case "InferenceAnswered":
      return {
        ...base,
        kind: "answered",
        requestId: a.requestId,
        node: a.node,
        deadline: Number(a.deadline),
      };
    case "InferenceSettled": {
      const batch = batches.get(log.transactionHash);
      return { ...base, kind: "settled", requestId: a.requestId, node: a.node, ...(batch ? { batch } : {}) };
    }
    case "InferenceSlashed":
      return {
        ...base,
        kind: "slashed",
        requestId: a.requestId,
        node: a.node,
        compensation: a.compensation,
        reward: a.reward,
        refund: a.refund,
      };
    case "InferenceExpired":
      return { ...base, kind: "expired", requestId: a.requestId };
    case "NodeBonded":
    case "BondWithdrawn":
      return { ...base, kind: "bond", node: a.node, bond: a.bond };
    default:
      return undefined;
  }
}

/** The batch of each transaction that settled one (its `BatchSettled` event). */
function batchesByTransaction(
  decoded: Array<{ log: Log; desc: LogDescription }>,
): Map<string, { k: number; count: number }> {
  const batches = new Map<string, { k: number; count: number }>();
  for (const { log, desc } of decoded)
    if (desc.name === "BatchSettled")
      batches.set(log.transactionHash, { k: Number(desc.args.k), count: Number(desc.args.count) });
  return batches;
}

/** Logs sorted by block and position, each once (some endpoints repeat or reorder them). */
function inChainOrder(logs: readonly Log[]): Log[] {
  const seen = new Set<string>();
  return [...logs]
    .sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index)
    .filter((l) => {
      const id = `${l.blockHash}:${l.index}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
}

/** `fn` over `items`, at most `READ_CONCURRENCY` at a time, results in order. */
async function mapLimit<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, items.length) }, worker));
  return results;
}

function firstLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.split("\n")[0].slice(0, 300);
}
