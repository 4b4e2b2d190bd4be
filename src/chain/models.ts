import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { parseEther } from "ethers";

import type { ModelArtifacts } from "../build/artifacts";
import { ChainError } from "../errors";
import type { IModelRegistry, ModelRegistry } from "../../typechain-types";

/** Registering a built model on-chain: deploy its generated verifier, then register it. */

export interface RegisterOptions {
  /** wei a consumer pays per request (default 0.001 ETH) */
  fee?: bigint;
  /** wei of node bond locked behind each unsettled answer (default 0.1 ETH) */
  stake?: bigint;
  /** seconds an answer has to be settled (default 600) */
  settlementWindow?: bigint;
}

export interface RegisteredModel {
  modelId: string;
  verifier: string;
  /** false when the model was already registered (idempotent re-run) */
  created: boolean;
  gasUsed?: bigint;
}

export const DEFAULT_MODEL_ECONOMICS = {
  fee: parseEther("0.001"),
  stake: parseEther("0.1"),
  settlementWindow: 600n,
};

export function modelConfig(
  artifacts: ModelArtifacts,
  verifier: string,
  opts: RegisterOptions = {},
): IModelRegistry.ModelConfigStruct {
  return {
    verifier,
    vkHash: artifacts.vkHash,
    modelHash: artifacts.modelHash,
    weightCommitment: BigInt(artifacts.weightCommitment ?? 0),
    inputLength: artifacts.inputLength,
    outputLength: artifacts.outputLength,
    fracBits: artifacts.fracBits,
    valueBits: artifacts.valueBits,
    inputBits: artifacts.inputBits,
    fee: opts.fee ?? DEFAULT_MODEL_ECONOMICS.fee,
    stake: opts.stake ?? DEFAULT_MODEL_ECONOMICS.stake,
    settlementWindow: opts.settlementWindow ?? DEFAULT_MODEL_ECONOMICS.settlementWindow,
  };
}

/** Deploys the model's verifier and registers it; reuses an existing registration of the same model. */
export async function registerModel(
  hre: HardhatRuntimeEnvironment,
  registry: ModelRegistry,
  artifacts: ModelArtifacts,
  opts: RegisterOptions = {},
): Promise<RegisteredModel> {
  const probe = modelConfig(artifacts, hre.ethers.ZeroAddress, opts);
  const modelId = await registry.modelIdOf(probe);
  if (await registry.isActive(modelId)) {
    const existing = await registry.getModel(modelId);
    return { modelId, verifier: existing.config.verifier, created: false };
  }
  let factory;
  try {
    factory = await hre.ethers.getContractFactory(artifacts.verifierContract);
  } catch {
    throw new ChainError(
      `no compiled artifact for ${artifacts.verifierContract}`,
      "run `npx hardhat compile` after `sibyl:build` (the build writes the verifier into contracts/verifiers/)",
    );
  }
  const verifier = await factory.deploy();
  await verifier.waitForDeployment();
  const address = await verifier.getAddress();
  const tx = await registry.register(modelConfig(artifacts, address, opts), artifacts.name);
  const receipt = await tx.wait();
  return { modelId, verifier: address, created: true, gasUsed: receipt?.gasUsed };
}
