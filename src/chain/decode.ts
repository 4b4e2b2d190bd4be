import type { Signer } from "ethers";

import type { OnChainDecoder } from "../pipeline/accuracy.js";
import { requestInference } from "../client/client.js";
import type { SibylStack } from "./stack.js";

/**
 * Decodes outputs the way consumers see them: for each input, a real request to the
 * precompile, a real answer from a registered node, and the output read back with
 * `outputOf` (packed into public-signal words on the way in, unpacked on the way out).
 * The answers are never settled: use it on a disposable chain (the in-process network).
 */
export function onChainDecoder(
  stack: SibylStack,
  modelName: string,
  requester: Signer,
  node: Signer,
): OnChainDecoder {
  return async (inputs, outputs) => {
    const { modelId } = stack.models[modelName];
    const model = await stack.registry.getModel(modelId);
    const asNode = stack.precompile.connect(node);
    const address = await node.getAddress();
    const info = await asNode.nodeOf(address);
    const needed = model.config.stake * BigInt(inputs.length) + (await asNode.minBond());
    const free = info.bond - info.locked;
    if (free < needed) await (await asNode.registerNode({ value: needed - free })).wait();
    const asRequester = stack.precompile.connect(requester);
    const decoded: bigint[][] = [];
    for (let k = 0; k < inputs.length; k++) {
      const { requestId } = await requestInference(asRequester, modelId, inputs[k], {
        fee: model.config.fee, // no hooks: the base fee
      });
      await (await asNode.answer(requestId, outputs[k])).wait();
      decoded.push([...(await stack.precompile.outputOf(requestId))]);
    }
    return decoded;
  };
}
