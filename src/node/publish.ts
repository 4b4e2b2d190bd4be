import type { TransactionReceipt } from "ethers";

import type { InferencePrecompile } from "../../typechain-types/index.js";
import { type NodePolicy, fromPublished, publishedForm, samePolicy } from "./policy.js";
import type { Retrier } from "./rpc.js";
import type { TxSender } from "./txSender.js";

/**
 * Publishing a node's policy on-chain (`setNodePolicy`), so that `sibyl:status` can tell a
 * consumer why nobody answers its request. Sent only when what is published differs.
 */

/** The policy `node` has published, or undefined when it never did. */
export async function publishedPolicy(
  precompile: InferencePrecompile,
  node: string,
  retrier: Retrier,
): Promise<NodePolicy | undefined> {
  return fromPublished(
    await retrier.read("published policy", undefined, () => precompile.nodePolicyOf(node)),
  );
}

/**
 * Publishes `policy` from the precompile handle's signer unless it is what the chain already
 * holds. Returns the receipt, or undefined when nothing had to be sent.
 */
export async function publishPolicy(opts: {
  precompile: InferencePrecompile;
  address: string;
  policy: NodePolicy;
  sender: TxSender;
  retrier: Retrier;
}): Promise<TransactionReceipt | undefined> {
  const { precompile, address, policy, sender, retrier } = opts;
  const args = publishedForm(policy);
  return sender.send({
    subject: { stage: "policy", maybeSent: false },
    needed: async () => {
      const current = await publishedPolicy(precompile, address, retrier);
      return current === undefined || !samePolicy(current, policy);
    },
    landed: async (fromBlock) => {
      const events = await precompile.queryFilter(precompile.filters.NodePolicyUpdated(address), fromBlock);
      return events.find(
        (ev) =>
          "args" in ev &&
          ev.args.minFee === args.minFee &&
          Number(ev.args.maxCallbackGasLimit) === args.maxCallbackGasLimit &&
          ev.args.maxStake === args.maxStake,
      )?.transactionHash;
    },
    send: (overrides) =>
      precompile.setNodePolicy(args.minFee, args.maxCallbackGasLimit, args.maxStake, overrides),
  });
}
