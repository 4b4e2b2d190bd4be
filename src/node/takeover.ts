import type { InferencePrecompile } from "../../typechain-types/index.js";
import type { Logger } from "../log.js";
import { RequestState } from "../protocol/state.js";
import {
  type AssignmentOptions,
  DEFAULT_GRACE_MS,
  DEFAULT_TAKEOVER_MARGIN_MS,
  PeerSet,
  rankNodes,
} from "./assignment.js";
import { ChainClock } from "./chainClock.js";
import type { RequestTerms } from "./policy.js";
import { type Retrier, brief, sameAddress, short } from "./rpc.js";

/**
 * The node's side of the assignment rule (`assignment.ts`, docs/operating.md): the order in
 * which the nodes take a request up, how long this node waits for its turn, and the peers'
 * answers it watches so as to settle them in their node's place if they are left unsettled
 * near their deadline. The node keeps its jobs; this keeps the rule's state: the peers, the
 * chain clock and the watched answers.
 */

/** A peer's answer this node watches; `T` is what the node needs to prove it (its job's parts). */
export interface WatchedAnswer<T> {
  requestId: string;
  answeredBy: string;
  /** when to take it over (wall clock, ms) */
  dueAt: number;
  work: T;
}

export class Takeovers<T> {
  readonly graceMs: number;
  readonly takeoverMarginMs: number;
  private readonly peers: PeerSet;
  /** when this node first saw each head: turns chain times into wall-clock moments */
  private readonly clock = new ChainClock();
  private readonly watched = new Map<string, WatchedAnswer<T>>();

  constructor(
    opts: AssignmentOptions,
    private readonly precompile: InferencePrecompile,
    private readonly retrier: Retrier,
    private readonly log: Logger,
  ) {
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    this.takeoverMarginMs = opts.takeoverMarginMs ?? DEFAULT_TAKEOVER_MARGIN_MS;
    this.peers = new PeerSet(precompile, retrier, opts);
  }

  describe(): string {
    return (
      `assignment rule: answers at once as a request's primary, takes over ${this.graceMs} ms per rank later, ` +
      `settles a peer's unsettled answer ${this.takeoverMarginMs} ms before its deadline`
    );
  }

  /** A head the node just read: its timestamp sets the clock, its block bounds the peers read. */
  noteHead(timestamp: number): void {
    this.clock.note(timestamp);
  }

  refresh(head: number): Promise<void> {
    return this.peers.refresh(head);
  }

  /** Forgets the peers, the clock and the watched answers (the chain was replaced). */
  clear(): void {
    this.peers.clear();
    this.clock.clear();
    this.watched.clear();
  }

  /** The nodes that would take this request, in order, `self` among them. */
  async ranking(requestId: string, terms: RequestTerms, self: string, minBond: bigint): Promise<string[]> {
    const eligible = await this.peers.eligible(requestId, terms, minBond);
    return rankNodes(requestId, [...eligible, self]);
  }

  /** How long `self` waits before answering: a grace period per node ranked before it. */
  waitMs(ranking: readonly string[], self: string): number {
    return Math.max(0, ranking.indexOf(self.toLowerCase())) * this.graceMs;
  }

  /**
   * Another node answered a request this node was ready to take: watch the answer. It is due
   * `takeoverMarginMs` before its deadline, plus a grace period per node ranked before this
   * one (the answering node left out), counted from when the answer's block was first seen,
   * which every node saw within a poll. `stale` says the node's chain changed meanwhile.
   */
  async watch(
    requestId: string,
    ranking: readonly string[],
    self: string,
    work: T,
    stale: () => boolean,
  ): Promise<void> {
    try {
      const req = await this.retrier.read("request", requestId, () => this.precompile.getRequest(requestId));
      if (Number(req.state) !== RequestState.Answered || sameAddress(req.node, self)) return;
      const deadline = Number(
        await this.retrier.read("deadline", requestId, () => this.precompile.settlementDeadline(requestId)),
      );
      if (stale()) return;
      const answeredAt = Number(req.answeredAt);
      const turn = Math.max(0, ranking.filter((n) => !sameAddress(n, req.node)).indexOf(self.toLowerCase()));
      const dueAt =
        this.clock.wallTimeOf(answeredAt) +
        (deadline - answeredAt) * 1000 -
        this.takeoverMarginMs +
        turn * this.graceMs;
      this.watched.set(requestId, { requestId, answeredBy: req.node, dueAt, work });
      this.log.info(
        `[${short(requestId)}] watching its answer by ${short(req.node)}: settling it in its place at ${new Date(dueAt).toISOString()} if still unsettled`,
      );
    } catch (e) {
      this.log.warn(`[${short(requestId)}] cannot watch its answer by a peer (${brief(e)})`);
    }
  }

  /** The watched answers due by `now`, no longer watched. */
  due(now: number): WatchedAnswer<T>[] {
    const out = [...this.watched.values()].filter((w) => w.dueAt <= now);
    for (const w of out) this.watched.delete(w.requestId);
    return out;
  }

  /** The answer's output if it is still unsettled (then it is this node's to settle); else undefined. */
  async stillUnsettled(requestId: string): Promise<bigint[] | undefined> {
    const state = Number(
      await this.retrier.read("state", requestId, () => this.precompile.stateOf(requestId)),
    );
    if (state !== RequestState.Answered) return undefined;
    return [...(await this.retrier.read("output", requestId, () => this.precompile.outputOf(requestId)))];
  }
}
