import { ZeroAddress } from "ethers";

import { Mode, RequestState } from "../protocol/state.js";
import { type DeclineReason, formatEth } from "../node/policy.js";
import type { InferencePrecompile } from "../../typechain-types/index.js";
import { type NodeVerdict, registeredNodeVerdicts, whyNoNodeAnswers } from "./nodes.js";

/**
 * Explaining a request: where it is in its lifecycle, who did what and when, what backs it,
 * and, while it is not final, why it is still pending and what anyone can do about it; for a
 * request nobody answered yet, which registered nodes would answer it and why the others
 * decline (their published policies and free bonds, judged by the node's own `decide`). The
 * `sibyl:status` task prints the lines; tools can use the fields.
 *
 * The clock is the chain's: by default the latest block's timestamp. The precompile lets a
 * request be expired, and an answer be slashed, only by a transaction in a block strictly
 * later than the answer window's end or the settlement deadline.
 */

/** Why a request that is not final is still pending. */
export type PendingReason =
  /** no answer yet, within the answer window */
  | "awaiting-answer"
  /** no answer yet, past the answer window: anyone may expire it (a node may still answer first) */
  | "answer-window-passed"
  /** answered, within the settlement deadline: the node is expected to settle with a proof */
  | "awaiting-proof"
  /** answered, past the settlement deadline: anyone may slash it */
  | "overdue"
  /** a synchronous call's result, prepared and waiting for its transaction */
  | "awaiting-transaction"
  /** prepared, past the answer window: no transaction can consume it, anyone may expire it */
  | "prepared-window-passed";

/** How a final request ended, from its closing event. */
export interface Closing {
  /** the account that settled, slashed or expired it (the consumer's address for an expiry) */
  by: string;
  /** the block timestamp of the closing transaction (unix seconds) */
  at: bigint;
  txHash: string;
  /** for a slash, where the stake and the fee went (wei) */
  slash?: { compensation: bigint; reward: bigint; refund: bigint };
}

export interface RequestStatus {
  requestId: string;
  state: RequestState;
  /** Settled, Slashed and Expired never change again */
  final: boolean;
  /** the chain time the explanation was made against (unix seconds) */
  now: bigint;
  /** why it is still pending; undefined once final (and for an unknown id) */
  pending?: PendingReason;
  consumer?: string;
  modelId?: string;
  /** how it settles: ZK (a proof after the answer) or TEE (an enclave's signed answer, final at once) */
  mode?: Mode;
  /** wei escrowed with the request: the node's on settlement, the consumer's back otherwise */
  fee?: bigint;
  /** wei of the answering node's bond an answer locks */
  stake?: bigint;
  /** wei of bond locked behind the request now: the stake while Answered, else 0 */
  bondBacking?: bigint;
  /** what a slash would credit the consumer now besides its fee (`coverageOf`): while Answered, else 0 */
  coverage?: bigint;
  /** gas per hook the request asked for */
  callbackGasLimit?: number;
  /**
   * while Requested: every registered node (from its NodeBonded events) and whether it would
   * answer; undefined when the endpoint refused the log query (see `nodesError`)
   */
  nodes?: NodeVerdict[];
  /** while Requested: the nodes that would answer it now */
  willingNodes?: string[];
  /** while Requested: the nodes that would not, and why */
  declines?: Array<{ node: string; reason: DeclineReason; message: string }>;
  /** why the registered nodes could not be listed */
  nodesError?: string;
  requestedAt?: bigint;
  /** the end of the answer window: unanswered (or prepared and unconsumed), it can be expired by anyone after this time */
  expiresAfter?: bigint;
  /** for a synchronous call: the transaction sender it was prepared for (it paid the fee) */
  origin?: string;
  node?: string;
  answeredAt?: bigint;
  /** the last second the answer can be settled; anyone can slash it after this time */
  settlementDeadline?: bigint;
  /** who closed a final request and when, when its event could be read */
  closing?: Closing;
  /** a human explanation, one line per fact */
  lines: string[];
}

/** Reads everything the precompile knows about `requestId` and explains it at time `now`. */
export async function explainRequest(
  precompile: InferencePrecompile,
  requestId: string,
  now?: bigint,
): Promise<RequestStatus> {
  const provider = precompile.runner?.provider;
  if (!provider) throw new Error("the precompile handle needs a provider");
  const at = now ?? BigInt((await provider.getBlock("latest"))!.timestamp);
  const state = Number(await precompile.stateOf(requestId)) as RequestState;
  if (state === RequestState.None)
    return {
      requestId,
      state,
      final: false,
      now: at,
      lines: [
        `request ${requestId} is unknown to the precompile at ${String(precompile.target)}`,
        "  check the id and the network (--network)",
      ],
    };

  const req = await precompile.getRequest(requestId);
  const final =
    state === RequestState.Settled || state === RequestState.Slashed || state === RequestState.Expired;
  const status: RequestStatus = {
    requestId,
    state,
    final,
    now: at,
    consumer: req.consumer,
    modelId: req.modelId,
    mode: Number(req.mode) as Mode,
    fee: req.fee,
    stake: req.stake,
    bondBacking: await precompile.bondBacking(requestId),
    coverage: await precompile.coverageOf(requestId),
    callbackGasLimit: Number(req.callbackGasLimit),
    requestedAt: req.requestedAt,
    lines: [],
  };
  const answered =
    state !== RequestState.Requested && state !== RequestState.Expired && state !== RequestState.Prepared;
  const origin = await precompile.originOf(requestId);
  if (origin !== ZeroAddress) status.origin = origin;
  if (answered) {
    status.node = req.node;
    status.answeredAt = req.answeredAt;
    status.settlementDeadline = await precompile.settlementDeadline(requestId);
  } else {
    if (state === RequestState.Prepared) status.node = req.node;
    status.expiresAfter = req.requestedAt + (await precompile.answerWindow());
  }
  if (final) status.closing = await closingOf(precompile, requestId, state);
  if (state === RequestState.Requested) {
    const terms = { fee: req.fee, callbackGasLimit: Number(req.callbackGasLimit), stake: req.stake };
    try {
      status.nodes = await registeredNodeVerdicts(precompile, terms);
      status.willingNodes = status.nodes.filter((n) => n.decision.answer).map((n) => n.node);
      status.declines = status.nodes.flatMap((n) =>
        n.decision.answer ? [] : [{ node: n.node, reason: n.decision.reason, message: n.decision.message }],
      );
    } catch (e) {
      status.nodesError = (e as Error).message.split("\n")[0];
    }
  }
  if (!final) status.pending = pendingReason(status);

  const lines = status.lines;
  lines.push(`request ${requestId} is ${RequestState[state]} (${final ? "final" : "not final"})`);
  lines.push(`  consumer   ${req.consumer}`);
  if (status.origin)
    lines.push(
      `  origin     ${status.origin} (a synchronous call: prepared for this sender's transaction, paid from its credit)`,
    );
  lines.push(`  model      ${req.modelId}`);
  if (status.mode === Mode.TEE)
    lines.push(
      "  mode       TEE: answered by an attested enclave's signed output, final in the answer's transaction (no proof, no stake)",
    );
  lines.push(`  fee        ${eth(req.fee)} ${feeFate(state)}`);
  lines.push(`  requested  ${when(req.requestedAt, at)}`);
  if (answered) {
    lines.push(
      `  answered   by ${req.node} at ${iso(req.answeredAt)} (${span(req.answeredAt - req.requestedAt)} after the request)`,
    );
  }
  if (answered && status.mode !== Mode.TEE) {
    const deadline = status.settlementDeadline!;
    const met = state === RequestState.Settled ? " (met)" : state === RequestState.Slashed ? " (missed)" : "";
    lines.push(`  deadline   ${met ? `${iso(deadline)}${met}` : when(deadline, at)}`);
  }
  lines.push(
    `  bond       ${status.mode === Mode.TEE && state === RequestState.Settled ? "none: a TEE answer locks no stake" : bondLine(status)}`,
  );
  if (state === RequestState.Requested) lines.push(...nodeLines(status));
  if (status.closing) {
    const c = status.closing;
    lines.push(`  closed     ${closingVerb(state)} by ${c.by} at ${iso(c.at)} (transaction ${c.txHash})`);
    if (c.slash)
      lines.push(
        `  slashed    ${eth(c.slash.compensation)} of the stake and the ${eth(c.slash.refund)} fee to the consumer, ` +
          `${eth(c.slash.reward)} to the slasher`,
      );
  } else if (final) {
    lines.push(`  closed     ${closingVerb(state)} (its event was not found from block 0)`);
  }
  if (status.pending) lines.push(`  pending    ${pendingLine(status)}`);
  return status;
}

function pendingReason(s: RequestStatus): PendingReason {
  if (s.state === RequestState.Prepared)
    return s.now > s.expiresAfter! ? "prepared-window-passed" : "awaiting-transaction";
  if (s.state === RequestState.Requested)
    return s.now > s.expiresAfter! ? "answer-window-passed" : "awaiting-answer";
  return s.now > s.settlementDeadline! ? "overdue" : "awaiting-proof";
}

function pendingLine(s: RequestStatus): string {
  if (s.nodes && s.willingNodes!.length === 0 && s.state === RequestState.Requested) {
    const why = `no node will answer: ${whyNoNodeAnswers(s.nodes, {
      fee: s.fee!,
      callbackGasLimit: s.callbackGasLimit!,
      stake: s.stake!,
    })}`;
    return s.pending === "awaiting-answer"
      ? `${why}; it can be expired by anyone after ${iso(s.expiresAfter!)} (${span(s.expiresAfter! - s.now)} from now), ` +
          "which refunds the fee to the consumer"
      : `${why}; since ${iso(s.expiresAfter!)} (${span(s.now - s.expiresAfter!)} ago) anyone can call expire to ` +
          "refund the fee to the consumer";
  }
  switch (s.pending!) {
    case "awaiting-transaction":
      return (
        `prepared by ${s.node ?? "its node"} for a coming transaction of ${s.origin}; if none consumes it by ` +
        `${iso(s.expiresAfter!)} (${span(s.expiresAfter! - s.now)} from now), anyone can expire it: the node's stake ` +
        "is released and the fee, already paid from the origin's credit, goes to the node"
      );
    case "prepared-window-passed":
      return (
        `prepared, never consumed: since ${iso(s.expiresAfter!)} (${span(s.now - s.expiresAfter!)} ago) no ` +
        "transaction can use it and anyone can call expire (the stake returns to the node, the fee goes to it)"
      );
    case "awaiting-answer":
      return (
        `waiting for an answer: no node has answered yet; it can be expired by anyone after ` +
        `${iso(s.expiresAfter!)} (${span(s.expiresAfter! - s.now)} from now), which refunds the fee to the consumer`
      );
    case "answer-window-passed":
      return (
        `waiting for an answer, past its answer window: no node has answered, and since ${iso(s.expiresAfter!)} ` +
        `(${span(s.now - s.expiresAfter!)} ago) anyone can call expire to refund the fee to the consumer; ` +
        `until someone does, a node may still answer`
      );
    case "awaiting-proof":
      return (
        `answered, proof pending: the node has until ${iso(s.settlementDeadline!)} ` +
        `(${span(s.settlementDeadline! - s.now)} from now) to settle; after that anyone can slash it and ` +
        `the consumer receives the stake (less the slasher's reward) and its fee back`
      );
    case "overdue":
      return (
        `overdue: the deadline passed ${span(s.now - s.settlementDeadline!)} ago; anyone can call slash ` +
        `(settling now reverts with Inference__DeadlinePassed)`
      );
  }
}

function feeFate(state: RequestState): string {
  switch (state) {
    case RequestState.Settled:
      return "(credited to the node)";
    case RequestState.Slashed:
    case RequestState.Expired:
      return "(refunded to the consumer)";
    case RequestState.Prepared:
      return "(paid from the origin's credit; escrowed)";
    default:
      return "(escrowed)";
  }
}

function bondLine(s: RequestStatus): string {
  switch (s.state) {
    case RequestState.Requested:
      return `none yet: an answer will lock ${eth(s.stake!)} of the answering node's bond`;
    case RequestState.Answered:
      return (
        `${eth(s.bondBacking!)} of ${s.node}'s bond is locked behind this answer until it is settled or slashed; ` +
        `a slash would credit the consumer ${eth(s.coverage!)} and refund its fee`
      );
    case RequestState.Prepared:
      return `${eth(s.bondBacking!)} of ${s.node}'s bond is locked behind this prepared result until it is consumed and proved, or expires`;
    case RequestState.Settled:
      return `none: the ${eth(s.stake!)} locked behind the answer was released when it was proved`;
    case RequestState.Slashed:
      return `none: the ${eth(s.stake!)} locked behind the answer was taken from ${s.node}'s bond`;
    default:
      return "none: the request was never answered";
  }
}

/** The "nodes" line and one line per registered node, for a request nobody answered yet. */
function nodeLines(s: RequestStatus): string[] {
  if (!s.nodes) return [`  nodes      could not be listed: ${s.nodesError}`];
  if (s.nodes.length === 0) return ["  nodes      none registered"];
  const count = `${s.willingNodes!.length} of ${s.nodes.length} registered node${s.nodes.length === 1 ? "" : "s"}`;
  return [
    `  nodes      ${count} would answer it now`,
    ...(s.willingNodes!.length > 0
      ? [
          "             (by published policy and free bond: which models a node serves, and whether it runs, is not on-chain)",
        ]
      : []),
    ...s.nodes.map((n) => {
      const verdict = n.decision.answer ? "would answer" : `declines: ${n.decision.message}`;
      const policy = n.policy
        ? ""
        : " (published no policy: taken as any fee and callback gas, bond permitting)";
      return `             ${n.node} ${verdict}${policy}`;
    }),
  ];
}

function closingVerb(state: RequestState): string {
  return state === RequestState.Settled ? "settled" : state === RequestState.Slashed ? "slashed" : "expired";
}

/** The event that made a request final: who sent it, when it was mined, and for a slash the amounts. */
async function closingOf(
  precompile: InferencePrecompile,
  requestId: string,
  state: RequestState,
): Promise<Closing | undefined> {
  let ev;
  let by: string;
  let slash: Closing["slash"];
  try {
    if (state === RequestState.Settled) {
      [ev] = await precompile.queryFilter(precompile.filters.InferenceSettled(requestId), 0);
      if (!ev) return undefined;
      by = ev.args.settler;
    } else if (state === RequestState.Slashed) {
      [ev] = await precompile.queryFilter(precompile.filters.InferenceSlashed(requestId), 0);
      if (!ev) return undefined;
      const { compensation, reward, refund } = ev.args;
      by = ev.args.slasher;
      slash = { compensation, reward, refund };
    } else {
      [ev] = await precompile.queryFilter(precompile.filters.InferenceExpired(requestId), 0);
      if (!ev) return undefined;
      by = (await ev.getTransaction()).from; // the event does not name who called expire
    }
  } catch {
    return undefined; // some endpoints refuse log queries over the whole chain
  }
  const block = await ev.getBlock();
  return { by, at: BigInt(block.timestamp), txHash: ev.transactionHash, slash };
}

const eth = formatEth;

/** A unix time as an ISO 8601 UTC string. */
function iso(t: bigint): string {
  return new Date(Number(t) * 1000).toISOString().replace(".000Z", "Z");
}

/** A time with how long ago, or from now, it is. */
function when(t: bigint, now: bigint): string {
  if (t === now) return `${iso(t)} (now)`;
  return t < now ? `${iso(t)} (${span(now - t)} ago)` : `${iso(t)} (${span(t - now)} from now)`;
}

/** A duration in seconds, in its two largest units: "4 min 57 s", "2 h", "3 d 1 h". */
export function span(seconds: bigint): string {
  const s = seconds < 0n ? -seconds : seconds;
  const units = [
    ["d", 86_400n],
    ["h", 3_600n],
    ["min", 60n],
    ["s", 1n],
  ] as const;
  const i = units.findIndex(([, size]) => s >= size);
  if (i < 0) return "0 s";
  const [unit, size] = units[i];
  const first = `${s / size} ${unit}`;
  if (i === units.length - 1) return first;
  const [nextUnit, nextSize] = units[i + 1];
  const rest = (s % size) / nextSize;
  return rest === 0n ? first : `${first} ${rest} ${nextUnit}`;
}
