import type { Provider } from "ethers";

import { ChainError } from "../errors.js";
import { type ModelArtifacts, weightSecretsOf } from "../pipeline/artifacts.js";
import type { Enclave, TeeAnswer } from "../tee/enclave.js";

/**
 * The node's part in TEE mode: the model runs inside the enclave, which signs the answer with
 * its attested key; the node only carries the signed answer to the chain (`answerAttested`, or
 * `prepare` for a synchronous call), where it is final at once.
 */

/** A TEE request was answered with the enclave's signature: the request is Settled. */
export interface AttestedEvent {
  requestId: string;
  modelId: string;
  output: bigint[];
  /** when the enclave signed (unix seconds) */
  attestedAt: bigint;
  txHash: string;
  gasUsed: bigint;
  /** ms from the node seeing the request to the final answer being mined */
  finalMs: number;
}

/** What signing an answer needs of the node. */
export interface AttestContext {
  provider: Provider;
  chainId: bigint;
  precompileAddress: string;
}

/**
 * Has the model's enclave run `input` and sign the answer for `requestId`. The answer is
 * stamped with the chain's latest block time: the precompile measures the answer's age by the
 * chain's clock, which on a development chain need not be the wall clock.
 */
export async function attestAnswer(
  ctx: AttestContext,
  model: { artifacts: ModelArtifacts; enclave?: Enclave },
  requestId: string,
  modelId: string,
  input: readonly bigint[],
): Promise<TeeAnswer> {
  const enclave = enclaveOf(model);
  const latest = await ctx.provider.getBlock("latest");
  return enclave.answer({
    chainId: ctx.chainId,
    precompile: ctx.precompileAddress,
    requestId,
    modelId,
    input,
    weightCommitment: weightSecretsOf(model.artifacts)?.commitment,
    ...(latest ? { attestedAt: BigInt(latest.timestamp) } : {}),
  });
}

/** The model's enclave, or a clear error when this node serves the model without one. */
export function enclaveOf(model: { artifacts: ModelArtifacts; enclave?: Enclave }): Enclave {
  if (!model.enclave)
    throw new ChainError(
      `TEE-mode request for model ${model.artifacts.name}, but this node runs no enclave for it`,
      "start the node with --tee (a local enclave process per model, registered on-chain) to serve TEE requests",
    );
  return model.enclave;
}
