import { keccak256, solidityPacked } from "ethers";

import type { InferencePrecompile } from "../../typechain-types/index.js";
import { type NodePolicy, type RequestTerms, checkTerms, fromPublished } from "./policy.js";
import type { Retrier } from "./rpc.js";

/**
 * Who answers a request when several bonded nodes serve one precompile (docs/operating.md).
 *
 * Every node computes the same order for a request from on-chain facts only: the nodes that
 * published a policy, kept to those whose policy takes the request's terms and whose free
 * bond backs its stake, ranked by rendezvous hashing, `keccak256(requestId ‖ node)` from the
 * highest. The first is the request's primary and answers at once; the node ranked r waits
 * r × `graceMs`, then answers only if the request is still unanswered. A node that drops out
 * only moves its own requests, one grace period later, and no two live nodes pay for the same
 * answer. Settlement follows the same order: an answer still unsettled `takeoverMarginMs`
 * before its deadline is proved and settled by the other nodes in turn (the fee still goes to
 * the node that answered; the rescuer spares the consumer the slash and the bond the loss).
 */

export interface AssignmentOptions {
  /** how long each rank waits after the one before it (ms, default 5 s) */
  graceMs?: number;
  /** how long before its settlement deadline a peer's unsettled answer is taken over (ms, default 60 s) */
  takeoverMarginMs?: number;
  /** how long a peer's bond read stays fresh (ms, default 2 s) */
  bondRefreshMs?: number;
}

export const DEFAULT_GRACE_MS = 5_000;
export const DEFAULT_TAKEOVER_MARGIN_MS = 60_000;

/** The nodes in the order they take up `requestId`: its primary first. */
export function rankNodes(requestId: string, nodes: readonly string[]): string[] {
  const score = (node: string) =>
    BigInt(keccak256(solidityPacked(["bytes32", "address"], [requestId, node])));
  return [...new Set(nodes.map((n) => n.toLowerCase()))]
    .map((node) => ({ node, score: score(node) }))
    .sort((a, b) => (a.score === b.score ? 0 : a.score > b.score ? -1 : 1))
    .map((x) => x.node);
}

/**
 * The nodes serving the precompile, as the chain shows them: every node that published a
 * policy (`NodePolicyUpdated`, read from block 0 once, then block by block) with its latest
 * policy, and its bond, read again when older than `bondRefreshMs`.
 */
export class PeerSet {
  private scannedTo = -1;
  private readonly policies = new Map<string, NodePolicy>();
  private readonly bonds = new Map<string, { at: number; free: bigint }>();
  private readonly bondRefreshMs: number;

  constructor(
    private readonly precompile: InferencePrecompile,
    private readonly retrier: Retrier,
    opts: { bondRefreshMs?: number } = {},
  ) {
    this.bondRefreshMs = opts.bondRefreshMs ?? 2_000;
  }

  /** Reads the policies published up to block `head`. */
  async refresh(head: number): Promise<void> {
    if (head <= this.scannedTo) return;
    const events = await this.precompile.queryFilter(
      this.precompile.filters.NodePolicyUpdated(),
      this.scannedTo + 1,
      head,
    );
    for (const ev of events) {
      if (!("args" in ev)) continue;
      const { node, minFee, maxCallbackGasLimit, maxStake } = ev.args;
      const policy = fromPublished({ minFee, maxCallbackGasLimit, maxStake, published: true });
      if (policy) this.policies.set(node.toLowerCase(), policy);
    }
    this.scannedTo = head;
  }

  /** Forgets everything (the chain was replaced). */
  clear(): void {
    this.scannedTo = -1;
    this.policies.clear();
    this.bonds.clear();
  }

  /** The nodes that would answer a request with these terms now. */
  async eligible(requestId: string, terms: RequestTerms, minBond: bigint): Promise<string[]> {
    const out: string[] = [];
    for (const [node, policy] of this.policies) {
      if (!checkTerms(terms, policy).answer) continue;
      if ((await this.freeBond(requestId, node)) < terms.stake + minBond) continue;
      out.push(node);
    }
    return out;
  }

  private async freeBond(requestId: string, node: string): Promise<bigint> {
    const cached = this.bonds.get(node);
    if (cached && Date.now() - cached.at < this.bondRefreshMs) return cached.free;
    const record = await this.retrier.read("peer bond", requestId, () => this.precompile.nodeOf(node));
    const free = record.bond - record.locked;
    this.bonds.set(node, { at: Date.now(), free });
    return free;
  }
}
