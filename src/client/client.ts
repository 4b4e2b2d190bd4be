import type { ContractTransactionReceipt } from "ethers";

import { explainRevert } from "../protocol/revert.js";
import { ChainError } from "../errors.js";
import { Mode, RequestState } from "../protocol/state.js";
import type { InferencePrecompile, ModelRegistry } from "../../typechain-types/index.js";
import { coreContract } from "../env.js";

/** Requesting inferences and waiting for their answer and settlement from TypeScript. */

export { Mode } from "../protocol/state.js";

export interface RequestOptions {
  mode?: Mode;
  /** exact gas for each of the requester's hooks (default 0: no hooks) */
  callbackGasLimit?: number;
  /**
   * wei sent with the request; defaults to what the registry asks for this callback gas
   * limit (`ModelRegistry.feeFor`)
   */
  fee?: bigint;
  /**
   * wei the requester may act on before the answer is proved: a slash of the answer credits
   * the requester at least this much (default 0n: the model's stake covers it)
   */
  valueAtRisk?: bigint;
}

export interface SentRequest {
  requestId: string;
  receipt: ContractTransactionReceipt;
}

/**
 * Sends `request` from the precompile handle's signer and returns the new request id. A revert
 * is thrown as a RevertError naming Sibyl's custom error and its arguments
 * (`Inference__FeeTooLow(required, sent)`), the provider's error as its cause.
 */
export async function requestInference(
  precompile: InferencePrecompile,
  modelId: string,
  input: readonly bigint[],
  opts: RequestOptions = {},
): Promise<SentRequest> {
  try {
    const callbackGasLimit = opts.callbackGasLimit ?? 0;
    const fee = opts.fee ?? (await feeFor(precompile, modelId, callbackGasLimit));
    const tx = await precompile.request(
      modelId,
      [...input],
      opts.mode ?? Mode.ZK,
      callbackGasLimit,
      opts.valueAtRisk ?? 0n,
      { value: fee },
    );
    const receipt = await tx.wait();
    if (!receipt) throw new ChainError(`request transaction ${tx.hash} was not mined`);
    return { requestId: requestIdFrom(precompile, receipt), receipt };
  } catch (e) {
    throw explainRevert(e, `the request for model ${modelId}`);
  }
}

/**
 * The fee the precompile's registry asks for a request for `modelId` with `callbackGasLimit` gas
 * per hook (a RevertError `Registry__UnknownModel(modelId)` for a model it does not know).
 */
export async function feeFor(
  precompile: InferencePrecompile,
  modelId: string,
  callbackGasLimit: number,
): Promise<bigint> {
  try {
    const registry = coreContract<ModelRegistry>(
      "ModelRegistry",
      await precompile.registry(),
      precompile.runner,
    );
    return await registry.feeFor(modelId, callbackGasLimit);
  } catch (e) {
    throw explainRevert(e, `reading the fee of model ${modelId}`);
  }
}

/** The request id from a receipt's InferenceRequested event (works for consumer contracts too). */
export function requestIdFrom(precompile: InferencePrecompile, receipt: ContractTransactionReceipt): string {
  const target = String(precompile.target).toLowerCase();
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== target) continue;
    const parsed = precompile.interface.parseLog(log);
    if (parsed?.name === "InferenceRequested") return parsed.args.requestId as string;
  }
  throw new ChainError(`transaction ${receipt.hash} emitted no InferenceRequested event`);
}

/** Polls a request until it reaches one of `states`; times out with its current state named. */
export async function waitForState(
  precompile: InferencePrecompile,
  requestId: string,
  states: readonly RequestState[],
  opts: { timeoutMs?: number; pollMs?: number } = {},
): Promise<RequestState> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    const state = Number(await precompile.stateOf(requestId)) as RequestState;
    if (states.includes(state)) return state;
    if (Date.now() > deadline)
      throw new ChainError(
        `request ${requestId} is still ${RequestState[state]} after ${opts.timeoutMs ?? 120_000} ms`,
        "is a node running for this model (npx hardhat sibyl:node)?",
      );
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
  }
}
