import { Mode } from "../protocol/state.js";
import { type ChainMoment, PHASES, type Phase, type TrackedRequest, type TrustGapModel } from "./model.js";

/**
 * The JSON the dashboard serves (`GET /api/state`, and the `snapshot` events of `GET
 * /api/events`): plain data the page draws without knowing the chain. Amounts are wei as decimal
 * strings (JSON has no big integers); times are block timestamps in unix seconds.
 */

export interface RequestView {
  id: string;
  modelId: string;
  /** the name the model was registered under, or its id shortened */
  model: string;
  consumer: string;
  node: string | null;
  mode: keyof typeof Mode;
  /** what an answer locks of the node's bond: `max(model stake, the declared value at risk)` (wei) */
  stake: string;
  fee: string;
  state: Phase;
  requestedAt: number;
  answeredAt: number | null;
  settledAt: number | null;
  slashedAt: number | null;
  expiredAt: number | null;
  /** the settlement deadline of a deferred answer: anyone may slash it after this second */
  deadline: number | null;
  /** the batch proof that settled it, if one did */
  batch: { k: number; count: number; tx: string } | null;
  slash: { compensation: string; reward: string; refund: string } | null;
}

export interface NodeView {
  address: string;
  bond: string;
  locked: string;
  history: Array<ChainMoment & { bond: string; locked: string }>;
}

/** Whether the chain answers, as the page's banner shows it. */
export interface RpcStatus {
  ok: boolean;
  /** the last failure's first line, while failing */
  error: string | null;
  /** when the failures began (ms since the epoch, the dashboard's clock) */
  failingSince: number | null;
  /** when a poll last went through */
  lastOkAt: number | null;
}

/** What changes without the picture changing: sent alone as a `status` event. */
export interface DashboardStatus {
  version: number;
  rpc: RpcStatus;
  head: ChainMoment | null;
  /** the last block the picture includes */
  syncedBlock: number | null;
  /**
   * the chain's clock minus the wall clock (seconds): the page draws "now" at
   * `max(head.time, Date.now() / 1000 + clockOffset)`, so open bars grow between blocks
   */
  clockOffset: number;
}

export interface DashboardSnapshot extends DashboardStatus {
  chainId: string | null;
  precompile: string;
  fromBlock: number | null;
  /** the bond a node must keep free beyond its locked stakes (wei) */
  minBond: string | null;
  /** seconds a request may wait for an answer before anyone may expire it */
  answerWindow: number | null;
  counts: Record<Phase, number>;
  total: number;
  /** the stakes behind answered, not yet final requests, now (wei) */
  valueAtRisk: string;
  valueAtRiskSeries: Array<ChainMoment & { wei: string }>;
  nodes: NodeView[];
  /** the newest requests, newest first */
  requests: RequestView[];
  /** how many older requests are counted but not listed */
  omitted: number;
}

export interface ChainInfo {
  chainId: string | null;
  precompile: string;
  fromBlock: number | null;
  minBond: bigint | null;
  answerWindow: number | null;
}

/** The picture as JSON, with the newest `maxRequests` requests. */
export function snapshotOf(
  model: TrustGapModel,
  status: DashboardStatus,
  chain: ChainInfo,
  names: ReadonlyMap<string, string>,
  maxRequests: number,
): DashboardSnapshot {
  const all = [...model.requests.values()];
  const counts = Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
  for (const r of all) counts[r.phase]++;
  const newest = all.sort(newestFirst).slice(0, maxRequests);
  return {
    ...status,
    chainId: chain.chainId,
    precompile: chain.precompile,
    fromBlock: chain.fromBlock,
    minBond: chain.minBond === null ? null : chain.minBond.toString(),
    answerWindow: chain.answerWindow,
    counts,
    total: all.length,
    valueAtRisk: model.valueAtRisk.toString(),
    valueAtRiskSeries: model.valueAtRiskSeries.map((p) => ({
      block: p.block,
      time: p.time,
      wei: p.wei.toString(),
    })),
    nodes: [...model.nodes.values()].map((n) => ({
      address: n.address,
      bond: n.bond.toString(),
      locked: n.locked.toString(),
      history: n.history.map((h) => ({
        block: h.block,
        time: h.time,
        bond: h.bond.toString(),
        locked: h.locked.toString(),
      })),
    })),
    requests: newest.map((r) => requestView(r, names)),
    omitted: all.length - newest.length,
  };
}

function newestFirst(a: TrackedRequest, b: TrackedRequest): number {
  return b.requestedAt - a.requestedAt || b.seen.block - a.seen.block || b.seen.order - a.seen.order;
}

function requestView(r: TrackedRequest, names: ReadonlyMap<string, string>): RequestView {
  const closed = (phase: Phase) => (r.phase === phase ? (r.closedAt ?? null) : null);
  return {
    id: r.id,
    modelId: r.modelId,
    model: names.get(r.modelId) ?? shortId(r.modelId),
    consumer: r.consumer,
    node: r.node ?? null,
    mode: Mode[r.mode] as keyof typeof Mode,
    stake: r.stake.toString(),
    fee: r.fee.toString(),
    state: r.phase,
    requestedAt: r.requestedAt,
    answeredAt: r.answeredAt ?? null,
    settledAt: closed("settled"),
    slashedAt: closed("slashed"),
    expiredAt: closed("expired"),
    deadline: r.deadline ?? null,
    batch: r.batch ?? null,
    slash: r.slash
      ? {
          compensation: r.slash.compensation.toString(),
          reward: r.slash.reward.toString(),
          refund: r.slash.refund.toString(),
        }
      : null,
  };
}

/** `0x1234abcd…` */
export const shortId = (id: string): string => `${id.slice(0, 10)}…`;
