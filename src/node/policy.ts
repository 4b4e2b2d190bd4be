import { formatEther } from "ethers";

import { SibylError } from "../errors.js";
import { MAX_CALLBACK_GAS_LIMIT, MAX_UINT128 } from "../protocol/constants.js";

/**
 * A node's answering policy and the one decision made with it: would this node answer this
 * request now? Pure, so that the node (before answering) and `sibyl:status` (explaining why
 * a request waits) reach the same verdict with the same words.
 *
 * The precompile does not enforce a policy: a node publishes it (`setNodePolicy`) so that
 * anyone can tell why nobody answers, and applies it itself. The bond rule is the
 * precompile's: an answer needs `bond − locked ≥ stake + minBond`.
 */

/** What a node is willing to answer. */
export interface NodePolicy {
  /** the least fee (wei) a request must carry */
  minFee: bigint;
  /** the most callback gas per hook a request may ask for */
  maxCallbackGasLimit: number;
  /** the largest stake (wei) the node locks behind one answer; undefined: no limit beyond its free bond */
  maxStake?: bigint;
}

/** The policy options a node is started with; each one left out takes its default. */
export type NodePolicyOptions = Partial<NodePolicy>;

export { MAX_CALLBACK_GAS_LIMIT } from "../protocol/constants.js";
/** The most a published `maxStake` can say (uint88): published, it means "no limit". */
export const NO_STAKE_LIMIT = (1n << 88n) - 1n;
const MAX_UINT32 = 2 ** 32 - 1;

/**
 * The defaults: any fee the model's terms allow (the precompile already requires its fee),
 * up to 1,000,000 callback gas per hook (each hook runs inside the node's own transactions),
 * and any stake its free bond can back.
 */
export const DEFAULT_NODE_POLICY: Readonly<NodePolicy> = {
  minFee: 0n,
  maxCallbackGasLimit: 1_000_000,
  maxStake: undefined,
};

/** How `sibyl:status` judges a node that never published a policy: any fee and gas, still bond-limited. */
export const UNPUBLISHED_POLICY: Readonly<NodePolicy> = {
  minFee: 0n,
  maxCallbackGasLimit: MAX_UINT32,
  maxStake: undefined,
};

/** A policy option is out of the range the precompile can publish. */
export class PolicyError extends SibylError {}

/** The policy with defaults filled in, checked against what `setNodePolicy` can publish. */
export function resolvePolicy(opts: NodePolicyOptions = {}): NodePolicy {
  const policy: NodePolicy = {
    minFee: opts.minFee ?? DEFAULT_NODE_POLICY.minFee,
    maxCallbackGasLimit: opts.maxCallbackGasLimit ?? DEFAULT_NODE_POLICY.maxCallbackGasLimit,
    maxStake: opts.maxStake ?? DEFAULT_NODE_POLICY.maxStake,
  };
  if (policy.minFee < 0n || policy.minFee > MAX_UINT128)
    throw new PolicyError(
      `minimum fee ${policy.minFee} wei is out of range`,
      "give 0 or more, below 2^128 wei",
    );
  const gas = policy.maxCallbackGasLimit;
  if (!Number.isInteger(gas) || gas < 0 || gas > MAX_UINT32)
    throw new PolicyError(
      `maximum callback gas ${gas} is not a whole number from 0 to ${formatGas(MAX_UINT32)}`,
      `requests can ask for at most ${formatGas(MAX_CALLBACK_GAS_LIMIT)} per hook`,
    );
  if (policy.maxStake !== undefined && (policy.maxStake < 0n || policy.maxStake >= NO_STAKE_LIMIT))
    throw new PolicyError(
      `maximum stake ${policy.maxStake} wei is out of range`,
      "give 0 or more, below 2^88 − 1 wei, or leave it out for no limit beyond the bond",
    );
  return policy;
}

/** The arguments of `setNodePolicy(minFee, maxCallbackGasLimit, maxStake)`. */
export function publishedForm(policy: NodePolicy): {
  minFee: bigint;
  maxCallbackGasLimit: number;
  maxStake: bigint;
} {
  return {
    minFee: policy.minFee,
    maxCallbackGasLimit: policy.maxCallbackGasLimit,
    maxStake: policy.maxStake ?? NO_STAKE_LIMIT,
  };
}

/** The policy `nodePolicyOf` returns, or undefined when the node never published one. */
export function fromPublished(p: {
  minFee: bigint;
  maxCallbackGasLimit: bigint | number;
  maxStake: bigint;
  published: boolean;
}): NodePolicy | undefined {
  if (!p.published) return undefined;
  return {
    minFee: p.minFee,
    maxCallbackGasLimit: Number(p.maxCallbackGasLimit),
    maxStake: p.maxStake === NO_STAKE_LIMIT ? undefined : p.maxStake,
  };
}

/** Whether two policies publish the same values. */
export function samePolicy(a: NodePolicy, b: NodePolicy): boolean {
  const x = publishedForm(a);
  const y = publishedForm(b);
  return (
    x.minFee === y.minFee && x.maxCallbackGasLimit === y.maxCallbackGasLimit && x.maxStake === y.maxStake
  );
}

/** One line: "minimum fee 0 ETH, callback gas up to 1,000,000 per hook, stake up to its free bond". */
export function describePolicy(policy: NodePolicy): string {
  const stake =
    policy.maxStake === undefined
      ? "any stake its free bond backs"
      : `stake up to ${formatEth(policy.maxStake)}`;
  return `minimum fee ${formatEth(policy.minFee)}, callback gas up to ${formatGas(policy.maxCallbackGasLimit)} per hook, ${stake}`;
}

/** What a request asks of the node that answers it, as its InferenceRequested event says. */
export interface RequestTerms {
  /** wei escrowed with the request */
  fee: bigint;
  /** gas per hook */
  callbackGasLimit: number;
  /** wei of the node's bond an answer locks */
  stake: bigint;
}

/** A node's bond as the precompile holds it, and the minimum it must keep free. */
export interface BondState {
  bond: bigint;
  locked: bigint;
  minBond: bigint;
}

/** Why a node declines a request. */
export type DeclineReason =
  /** the fee is below the node's minimum */
  | "fee"
  /** the callback gas limit is above the node's maximum */
  | "callback-gas"
  /** the stake is above the largest the node locks behind one answer */
  | "stake"
  /** the node's free bond cannot back the stake and still keep `minBond` free (the precompile would revert) */
  | "bond";

export type Decision = { answer: true } | { answer: false; reason: DeclineReason; message: string };

/**
 * Whether a request's terms fit the policy, leaving the bond aside (the node checks them as
 * soon as it sees a request; the bond is checked right before its answer is sent).
 */
export function checkTerms(request: RequestTerms, policy: NodePolicy): Decision {
  if (request.fee < policy.minFee)
    return decline("fee", `fee ${formatEth(request.fee)} below its minimum ${formatEth(policy.minFee)}`);
  if (request.callbackGasLimit > policy.maxCallbackGasLimit)
    return decline(
      "callback-gas",
      `callback gas ${formatGas(request.callbackGasLimit)} above its limit ${formatGas(policy.maxCallbackGasLimit)}`,
    );
  if (policy.maxStake !== undefined && request.stake > policy.maxStake)
    return decline(
      "stake",
      `stake ${formatEth(request.stake)} above its maximum ${formatEth(policy.maxStake)}`,
    );
  return { answer: true };
}

/** Whether a node with this policy and bond answers the request: the first rule it breaks, if any. */
export function decide(request: RequestTerms, policy: NodePolicy, bond: BondState): Decision {
  const terms = checkTerms(request, policy);
  if (!terms.answer) return terms;
  const free = bond.bond - bond.locked;
  if (free < request.stake + bond.minBond)
    return decline(
      "bond",
      `free bond ${formatEth(free)} below stake ${formatEth(request.stake)} + minimum bond ${formatEth(bond.minBond)}`,
    );
  return { answer: true };
}

function decline(reason: DeclineReason, message: string): Decision {
  return { answer: false, reason, message };
}

/** Wei as ETH without a trailing ".0": "1 ETH", "0.001 ETH". */
export function formatEth(wei: bigint): string {
  return `${formatEther(wei).replace(/\.0$/, "")} ETH`;
}

/** Gas with thousands separators: "5,000,000". */
export function formatGas(gas: number | bigint): string {
  return BigInt(gas).toLocaleString("en-US");
}
