import type { ModelArtifacts } from "../pipeline/artifacts.js";
import { unpack } from "../circuit/packing.js";
import type { InferencePrecompile } from "../../typechain-types/index.js";
import { RequestState } from "../protocol/state.js";
import type { Retrier } from "./rpc.js";

/**
 * After a restart: this node's answers that are still unsettled, read back from the chain
 * (its InferenceAnswered events, the stored input and the stored output), so that they can
 * be proved and settled instead of slashed.
 */

export interface UnsettledAnswer {
  requestId: string;
  modelId: string;
  input: bigint[];
  output: bigint[];
  /** the block of the answer: the settlement is looked up from there */
  answeredInBlock: number;
}

export async function findUnsettledAnswers(opts: {
  precompile: InferencePrecompile;
  node: string;
  fromBlock: number;
  retrier: Retrier;
  /** the artifacts of a served model, by id; answers for other models are left alone */
  artifactsOf(modelId: string): ModelArtifacts | undefined;
  /** requests the node has taken on already */
  skip(requestId: string): boolean;
}): Promise<UnsettledAnswer[]> {
  const { precompile, node, fromBlock, retrier } = opts;
  const events = await retrier.read("unsettled answers", undefined, () =>
    precompile.queryFilter(precompile.filters.InferenceAnswered(undefined, node), fromBlock),
  );
  const found: UnsettledAnswer[] = [];
  for (const ev of events) {
    if (!("args" in ev)) continue;
    const requestId = ev.args.requestId;
    if (opts.skip(requestId) || found.some((f) => f.requestId === requestId)) continue;
    const state = Number(await retrier.read("state", requestId, () => precompile.stateOf(requestId)));
    if (state !== RequestState.Answered) continue;
    const req = await retrier.read("request", requestId, () => precompile.getRequest(requestId));
    const artifacts = opts.artifactsOf(req.modelId);
    if (!artifacts) continue;
    const q = artifacts.quantized;
    const input = unpack([...req.inPacked], q.inputLength, q.inputBits);
    const output = [...(await retrier.read("output", requestId, () => precompile.outputOf(requestId)))];
    found.push({ requestId, modelId: req.modelId, input, output, answeredInBlock: ev.blockNumber });
  }
  return found;
}
