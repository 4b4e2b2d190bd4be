import type { SibylEnv } from "../env.js";
import type { Logger } from "../log.js";
import type { InferenceNode } from "../node/node.js";
import type { InferencePrecompile } from "../../typechain-types/index.js";
import { attachPipe } from "./attach.js";
import { PipeLayer } from "./layer.js";

/**
 * Puts a pre-execution layer served by `node` in front of the env's Hardhat connection (the
 * in-process network, or any network Hardhat connects to), through the plugin's network hook:
 * from then on, transactions sent on that connection can call models synchronously. Returns
 * the layer and the function that takes it away (do so before stopping the node: without a
 * layer, a synchronous call reverts `Inference__NotPrepared`, as it should).
 */
export function startInProcessPipe(
  env: SibylEnv,
  precompile: InferencePrecompile,
  node: InferenceNode,
  log?: Logger,
): { layer: PipeLayer; detach: () => void } {
  const layer = new PipeLayer({ precompile, node, log });
  return { layer, detach: attachPipe(env.connection, layer) };
}
