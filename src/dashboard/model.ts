import { ZeroAddress } from "ethers";

import { Mode } from "../protocol/state.js";

/**
 * The dashboard's picture of the trust gap, built only from the precompile's events (the
 * collector reads them; this module never touches the chain). Each request's timeline, the value
 * at risk outstanding over time, and each node's bond and its locked part over time.
 *
 * What is locked, exactly as the precompile does it (contracts/InferencePrecompile.sol,
 * precompile/InferenceStorage.sol `_lockStake`): an `answer` to a ZK request locks the request's
 * `stake` (fixed at request time) of the node's bond; a synchronous result locks it when the node
 * prepares it (only a deferred one: proof-carrying and attested results lock nothing); a TEE
 * answer locks nothing. A settlement or an expiry of a prepared result releases the lock; a slash
 * takes it out of the bond. The node's `locked` therefore equals `outstandingOf(node)`.
 *
 * The value at risk outstanding is narrower: the stakes behind answers a consumer holds and that
 * are not yet final (Answered). A prepared result locks bond too, but nobody has its output yet.
 *
 * The picture starts at the collector's first block: a request answered before it shows up when it
 * next changes, and its stake is in the value at risk only from then on (the node's bond and
 * locked part are exact: the collector reads them from the chain).
 */

/** Where a request is in its lifecycle, as the page names and colours it. */
export type Phase = "requested" | "prepared" | "answered" | "settled" | "slashed" | "expired";

export const PHASES: readonly Phase[] = [
  "requested",
  "prepared",
  "answered",
  "settled",
  "slashed",
  "expired",
];

/** A block and its timestamp (unix seconds): every time on the dashboard is the chain's. */
export interface ChainMoment {
  block: number;
  time: number;
}

/** A request's fixed terms as `getRequest` returns them (for one whose `InferenceRequested` came before the window). */
export interface RequestFacts {
  modelId: string;
  consumer: string;
  mode: Mode;
  fee: bigint;
  stake: bigint;
  requestedAt: number;
  /** answered before the window (0 if not) */
  answeredAt: number;
  /** prepared or answered by this node (the zero address if nobody yet) */
  node: string;
}

/** What the model consumes: the precompile's events, decoded, with their block's moment. */
export type TrustGapEvent = { at: ChainMoment; tx: string } & (
  | {
      kind: "requested";
      requestId: string;
      modelId: string;
      consumer: string;
      mode: Mode;
      fee: bigint;
      stake: bigint;
    }
  | { kind: "prepared"; requestId: string; node: string }
  | { kind: "answered"; requestId: string; node: string; deadline: number }
  | { kind: "settled"; requestId: string; node: string; batch?: { k: number; count: number } }
  | {
      kind: "slashed";
      requestId: string;
      node: string;
      compensation: bigint;
      reward: bigint;
      refund: bigint;
    }
  | { kind: "expired"; requestId: string }
  | { kind: "bond"; node: string; bond: bigint }
);

export interface TrackedRequest {
  id: string;
  modelId: string;
  consumer: string;
  node?: string;
  mode: Mode;
  fee: bigint;
  stake: bigint;
  /** the part of the node's bond this model saw locked behind the request (0 once released) */
  locked: bigint;
  phase: Phase;
  requestedAt: number;
  answeredAt?: number;
  /** when it became final (settled, slashed or expired) */
  closedAt?: number;
  /** the settlement deadline of a deferred answer (none for an answer final in its own transaction) */
  deadline?: number;
  batch?: { k: number; count: number; tx: string };
  slash?: { compensation: bigint; reward: bigint; refund: bigint };
  /** where the model first saw it: orders requests that share a timestamp */
  seen: { block: number; order: number };
}

export interface BondPoint extends ChainMoment {
  bond: bigint;
  locked: bigint;
}

export interface TrackedNode {
  address: string;
  bond: bigint;
  locked: bigint;
  history: BondPoint[];
}

export interface ValuePoint extends ChainMoment {
  wei: bigint;
}

/** The longest history kept per series: the oldest points go first. */
export const MAX_POINTS = 5000;

export class TrustGapModel {
  readonly requests = new Map<string, TrackedRequest>();
  readonly nodes = new Map<string, TrackedNode>();
  readonly valueAtRiskSeries: ValuePoint[] = [];
  valueAtRisk = 0n;
  /** bumped by every change, so readers can tell a new picture from the last one */
  version = 0;
  private order = 0;

  /** The first moment of the window: the value at risk starts at 0 there. */
  begin(at: ChainMoment): void {
    if (this.valueAtRiskSeries.length === 0) this.pushValue(at);
  }

  /** A request whose first event in the window is not its `InferenceRequested`. */
  know(id: string, facts: RequestFacts, at: ChainMoment): void {
    if (this.requests.has(id)) return;
    this.requests.set(id, {
      id,
      modelId: facts.modelId,
      consumer: facts.consumer,
      mode: facts.mode,
      fee: facts.fee,
      stake: facts.stake,
      locked: 0n,
      phase: "requested",
      requestedAt: facts.requestedAt,
      ...(facts.answeredAt > 0 ? { answeredAt: facts.answeredAt } : {}),
      ...(facts.node !== ZeroAddress ? { node: facts.node } : {}),
      seen: { block: at.block, order: this.order++ },
    });
    this.version++;
  }

  /** A node first met in the window, with its bond and locked part just before that. */
  seedNode(address: string, bond: bigint, locked: bigint, at: ChainMoment): void {
    if (this.nodes.has(key(address))) return;
    this.nodes.set(key(address), { address, bond, locked, history: [{ ...at, bond, locked }] });
    this.version++;
  }

  /** Sets a node to what the chain says it is at `at`, when the events left it different. */
  reconcileNode(address: string, bond: bigint, locked: bigint, at: ChainMoment): void {
    const node = this.node(address, at);
    if (node.bond === bond && node.locked === locked) return;
    node.bond = bond;
    node.locked = locked;
    this.pushBond(node, at);
  }

  apply(e: TrustGapEvent): void {
    switch (e.kind) {
      case "requested":
        return this.requested(e);
      case "prepared":
        return this.prepared(e.requestId, e.node, e.at);
      case "answered":
        return this.answered(e.requestId, e.node, e.deadline, e.at);
      case "settled":
        return this.settled(e.requestId, e.at, e.batch && { ...e.batch, tx: e.tx });
      case "slashed":
        return this.slashed(e);
      case "expired":
        return this.expired(e.requestId, e.at);
      case "bond": {
        const node = this.node(e.node, e.at);
        node.bond = e.bond;
        return this.pushBond(node, e.at);
      }
    }
  }

  private requested(e: Extract<TrustGapEvent, { kind: "requested" }>): void {
    this.requests.set(e.requestId, {
      id: e.requestId,
      modelId: e.modelId,
      consumer: e.consumer,
      mode: e.mode,
      fee: e.fee,
      stake: e.stake,
      locked: 0n,
      phase: "requested",
      requestedAt: e.at.time,
      seen: { block: e.at.block, order: this.order++ },
    });
    this.version++;
  }

  private prepared(id: string, address: string, at: ChainMoment): void {
    const r = this.request(id);
    r.phase = "prepared";
    r.node = address;
    r.requestedAt = at.time;
    this.lock(r, r.stake, at); // the record's stake is 0 for a result that leaves no gap
  }

  private answered(id: string, address: string, deadline: number, at: ChainMoment): void {
    const r = this.request(id);
    r.node = address;
    // a prepared result locked its stake already; an answer to a TEE request locks nothing
    if (r.phase === "requested" && r.mode !== Mode.TEE) this.lock(r, r.stake, at);
    r.phase = "answered";
    r.answeredAt = at.time;
    // an answer final in its own transaction (TEE, proof-carrying) reports its own time
    if (deadline > at.time) r.deadline = deadline;
    this.addValue(r.locked, at);
  }

  private settled(id: string, at: ChainMoment, batch?: TrackedRequest["batch"]): void {
    const r = this.request(id);
    if (r.phase === "answered") this.addValue(-r.locked, at);
    this.unlock(r, at, 0n);
    r.phase = "settled";
    r.closedAt = at.time;
    if (batch) r.batch = batch;
  }

  private slashed(e: Extract<TrustGapEvent, { kind: "slashed" }>): void {
    const r = this.request(e.requestId);
    if (r.phase === "answered") this.addValue(-r.locked, e.at);
    r.node ??= e.node;
    this.unlock(r, e.at, r.stake); // the stake leaves the bond, whether or not this window saw it locked
    r.phase = "slashed";
    r.closedAt = e.at.time;
    r.slash = { compensation: e.compensation, reward: e.reward, refund: e.refund };
  }

  private expired(id: string, at: ChainMoment): void {
    const r = this.request(id);
    this.unlock(r, at, 0n); // a prepared result's stake returns to its node
    r.phase = "expired";
    r.closedAt = at.time;
  }

  private lock(r: TrackedRequest, stake: bigint, at: ChainMoment): void {
    r.locked = stake;
    this.version++;
    if (stake === 0n || !r.node) return;
    const node = this.node(r.node, at);
    node.locked += stake;
    this.pushBond(node, at);
  }

  /** Releases what the request locked, and takes `taken` out of the node's bond. */
  private unlock(r: TrackedRequest, at: ChainMoment, taken: bigint): void {
    const released = r.locked;
    r.locked = 0n;
    this.version++;
    if ((released === 0n && taken === 0n) || !r.node) return;
    const node = this.node(r.node, at);
    node.locked = clamp(node.locked - released);
    node.bond = clamp(node.bond - taken);
    this.pushBond(node, at);
  }

  private request(id: string): TrackedRequest {
    const r = this.requests.get(id);
    // the collector reads `getRequest` for every id it has not seen requested (`know`)
    if (!r) throw new Error(`the dashboard has no record of request ${id}`);
    return r;
  }

  private node(address: string, at: ChainMoment): TrackedNode {
    let node = this.nodes.get(key(address));
    if (!node) {
      node = { address, bond: 0n, locked: 0n, history: [{ ...at, bond: 0n, locked: 0n }] };
      this.nodes.set(key(address), node);
    }
    return node;
  }

  private addValue(delta: bigint, at: ChainMoment): void {
    if (delta === 0n) return;
    this.valueAtRisk = clamp(this.valueAtRisk + delta);
    this.pushValue(at);
  }

  private pushValue(at: ChainMoment): void {
    push(this.valueAtRiskSeries, { ...at, wei: this.valueAtRisk });
    this.version++;
  }

  private pushBond(node: TrackedNode, at: ChainMoment): void {
    push(node.history, { ...at, bond: node.bond, locked: node.locked });
    this.version++;
  }
}

/** Appends a point, or replaces the last one when it is for the same block (one point per block). */
function push<P extends ChainMoment>(series: P[], point: P): void {
  const last = series[series.length - 1];
  if (last && last.block === point.block) series[series.length - 1] = point;
  else series.push(point);
  if (series.length > MAX_POINTS) series.splice(0, series.length - MAX_POINTS);
}

const clamp = (v: bigint): bigint => (v < 0n ? 0n : v);
const key = (address: string): string => address.toLowerCase();
