import { getAddress, keccak256 } from "ethers";

import { ChainError } from "../errors.js";
import type { BatchArtifacts } from "../pipeline/buildBatch.js";
import { explainRevert } from "../protocol/revert.js";
import type { ModelRegistry } from "../../typechain-types/index.js";

/**
 * Batch verifiers on-chain (docs/batching.md): registering a built batch circuit's verifier
 * under its model, and reading what the registry holds.
 */

export interface RegisteredBatchVerifier {
  modelId: string;
  k: number;
  verifier: string;
  /** public signals per request */
  slotSignals: number;
  /** requests made before this time are not settled by it */
  registeredAt: number;
  /** false when an earlier registration of the same code was found */
  created: boolean;
  gasUsed?: bigint;
}

/** The model's batch verifier for `k`, or undefined when it has none. */
export async function batchVerifierOf(
  registry: ModelRegistry,
  modelId: string,
  k: number,
): Promise<Omit<RegisteredBatchVerifier, "created"> | undefined> {
  const b = await registry.batchVerifierOf(modelId, k);
  if (BigInt(b.verifier) === 0n) return undefined;
  return {
    modelId,
    k,
    verifier: getAddress(b.verifier),
    slotSignals: Number(b.slotSignals),
    registeredAt: Number(b.registeredAt),
  };
}

/** Whether the registered batch verifier runs exactly this build's verifier code. */
async function runsBuild(
  registry: ModelRegistry,
  registered: { verifier: string },
  artifacts: BatchArtifacts,
): Promise<boolean> {
  const code = await registry.runner?.provider?.getCode(registered.verifier);
  return code !== undefined && keccak256(code) === keccak256(artifacts.verifierCode);
}

/**
 * Registers the batch verifier of `artifacts` for `modelId` from the registry's signer (the
 * model's owner). When the model already has a batch verifier for this size, it is adopted if
 * it runs exactly this build's code, and refused (ChainError) otherwise: batch verifiers never
 * change.
 */
export async function registerBatchVerifier(
  registry: ModelRegistry,
  modelId: string,
  artifacts: BatchArtifacts,
): Promise<RegisteredBatchVerifier> {
  const { k, verifierCode } = artifacts;
  const existing = await batchVerifierOf(registry, modelId, k);
  if (existing)
    return { ...(await checkedBatchVerifier(registry, modelId, artifacts, existing)), created: false };
  let receipt;
  try {
    receipt = await (
      await registry.registerBatchVerifier(modelId, k, verifierCode, artifacts.zkeyHash)
    ).wait();
  } catch (e) {
    throw explainRevert(e, `registering the batch verifier of ${artifacts.name} for ${k}`);
  }
  const registered = await batchVerifierOf(registry, modelId, k);
  if (!registered) throw new ChainError(`the batch verifier of ${artifacts.name} for ${k} is not registered`);
  return { ...registered, created: true, gasUsed: receipt?.gasUsed };
}

/**
 * The model's registered batch verifier for the build's size, checked to run exactly this
 * build's code; a ChainError says what to do when there is none or it is another build's.
 */
export async function checkedBatchVerifier(
  registry: ModelRegistry,
  modelId: string,
  artifacts: BatchArtifacts,
  registered?: Omit<RegisteredBatchVerifier, "created">,
): Promise<Omit<RegisteredBatchVerifier, "created">> {
  const { k, name } = artifacts;
  const found = registered ?? (await batchVerifierOf(registry, modelId, k));
  if (!found)
    throw new ChainError(
      `${name} has no batch verifier for ${k} on-chain`,
      `its owner registers it: npx hardhat sibyl:register --model <model file> --batch ${k}`,
    );
  if (!(await runsBuild(registry, found, artifacts)))
    throw new ChainError(
      `the batch verifier of ${name} for ${k} on-chain (${found.verifier}) is not this build's`,
      `batch verifiers never change: copy build/models/${name}/batch-k${k}/ from the machine that registered it, ` +
        "or register the model again under new terms",
    );
  return found;
}
