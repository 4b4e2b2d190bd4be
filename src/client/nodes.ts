import { getAddress } from "ethers";

import {
  type BondState,
  type Decision,
  type NodePolicy,
  type RequestTerms,
  UNPUBLISHED_POLICY,
  decide,
  formatEth,
  formatGas,
  fromPublished,
} from "../node/policy.js";
import type { InferencePrecompile } from "../../typechain-types/index.js";

/**
 * Which registered nodes would answer a request, judged as each node judges it (`decide`)
 * from its published policy and its bond now. A node that never published a policy is taken
 * to accept any fee and callback gas; its bond still limits it.
 */

export interface NodeVerdict {
  node: string;
  /** its published policy; undefined when it never published one */
  policy?: NodePolicy;
  bond: BondState;
  decision: Decision;
}

/** Every address that ever bonded (NodeBonded events from block 0), in order of first bond. */
export async function registeredNodes(precompile: InferencePrecompile): Promise<string[]> {
  const events = await precompile.queryFilter(precompile.filters.NodeBonded(), 0);
  const nodes: string[] = [];
  for (const ev of events) {
    if (!("args" in ev)) continue;
    const node = getAddress(ev.args.node);
    if (!nodes.includes(node)) nodes.push(node);
  }
  return nodes;
}

/** Each registered node's verdict on a request with `terms`. */
export async function registeredNodeVerdicts(
  precompile: InferencePrecompile,
  terms: RequestTerms,
): Promise<NodeVerdict[]> {
  const minBond = await precompile.minBond();
  const verdicts: NodeVerdict[] = [];
  for (const node of await registeredNodes(precompile)) {
    const [info, published] = await Promise.all([precompile.nodeOf(node), precompile.nodePolicyOf(node)]);
    const policy = fromPublished(published);
    const bond = { bond: info.bond, locked: info.locked, minBond };
    verdicts.push({ node, policy, bond, decision: decide(terms, policy ?? UNPUBLISHED_POLICY, bond) });
  }
  return verdicts;
}

/**
 * Why none of `verdicts` answers: one sentence when every node declines for the same
 * reason ("callback gas 5,000,000 above every node's limit (1,000,000)"), else each node's
 * own reason.
 */
export function whyNoNodeAnswers(verdicts: readonly NodeVerdict[], terms: RequestTerms): string {
  if (verdicts.length === 0) return "no node is registered";
  const declined = verdicts.flatMap((v) => (v.decision.answer ? [] : [{ ...v, decision: v.decision }]));
  const reasons = new Set(declined.map((v) => v.decision.reason));
  if (declined.length === verdicts.length && reasons.size === 1) {
    const policies = declined.map((v) => v.policy ?? UNPUBLISHED_POLICY);
    const bound = <T>(values: T[], word: string, format: (v: T) => string): string => {
      const distinct = [...new Set(values)];
      return distinct.length === 1 ? `(${format(distinct[0])})` : `(the ${word} is ${format(distinct[0])})`;
    };
    switch ([...reasons][0]) {
      case "fee": {
        const mins = policies.map((p) => p.minFee).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        return `fee ${formatEth(terms.fee)} below every node's minimum ${bound(mins, "lowest", formatEth)}`;
      }
      case "callback-gas": {
        const limits = policies.map((p) => p.maxCallbackGasLimit).sort((a, b) => b - a);
        return `callback gas ${formatGas(terms.callbackGasLimit)} above every node's limit ${bound(limits, "highest", formatGas)}`;
      }
      case "stake": {
        const maxima = policies.map((p) => p.maxStake!).sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
        return `stake ${formatEth(terms.stake)} above every node's maximum ${bound(maxima, "highest", formatEth)}`;
      }
      case "bond": {
        const free = declined
          .map((v) => v.bond.bond - v.bond.locked)
          .sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
        const minBond = declined[0].bond.minBond;
        return (
          `no node's free bond covers stake ${formatEth(terms.stake)} + minimum bond ${formatEth(minBond)} ` +
          `${bound(free, "most free", (f) => `${formatEth(f)} free`)}`
        );
      }
    }
  }
  return declined.map((v) => `${v.node}: ${v.decision.message}`).join("; ");
}
