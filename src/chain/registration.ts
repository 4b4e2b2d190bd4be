import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { isHexString } from "ethers";

import type { ModelArtifacts } from "../build/artifacts";
import { recordedModelId } from "./models";
import { ModelMismatchError, verifyModel } from "./verify";
import { ChainError } from "../errors";
import type { ModelRegistry } from "../../typechain-types";

/**
 * The model id a node serves, or a CLI requests, for a local build: the one given, else the
 * one `registerModel` recorded for this chain and registry. Either way it is only used once
 * the registration has been checked against the local artifacts (`verifyModel`): an id
 * whose verifier, zkey, commitments or shapes are not the local build's is refused.
 */
export async function checkedModelId(
  hre: HardhatRuntimeEnvironment,
  registry: ModelRegistry,
  artifacts: ModelArtifacts,
  explicitId?: string,
): Promise<string> {
  const network = hre.network.name;
  if (explicitId !== undefined && !isHexString(explicitId, 32))
    throw new ChainError(
      `model id ${explicitId} for ${artifacts.name} is not 0x followed by 64 hex digits`,
      "take it from sibyl:register's output or the ModelRegistered event",
    );
  const modelId = explicitId ?? (await recordedModelId(hre, registry, artifacts));
  if (!modelId)
    throw new ChainError(
      `no registration of ${artifacts.name} is recorded for the registry ${String(registry.target)} on ${network}`,
      `register it (npx hardhat sibyl:register --model ${artifacts.modelPath} --network ${network}), ` +
        "or pass the id of an existing registration",
    );
  const report = await verifyModel(hre, registry, artifacts, modelId);
  if (!report.ok) throw new ModelMismatchError(report, artifacts, network);
  return modelId;
}
