import type { SibylEnv } from "../env.js";
import { isHexString } from "ethers";

import type { ModelArtifacts } from "../pipeline/artifacts.js";
import { recordedModelId } from "./models.js";
import { ModelMismatchError, verifyModel } from "./verify.js";
import { ChainError } from "../errors.js";
import type { ModelRegistry } from "../../typechain-types/index.js";

/**
 * The model id a node serves, or a CLI requests, for a local build: the one given, else the
 * one `registerModel` recorded for this chain and registry. Either way it is only used once
 * the registration has been checked against the local artifacts (`verifyModel`): an id
 * whose verifier, zkey, commitments or shapes are not the local build's is refused.
 */
export async function checkedModelId(
  env: SibylEnv,
  registry: ModelRegistry,
  artifacts: ModelArtifacts,
  explicitId?: string,
): Promise<string> {
  const network = env.networkName;
  if (explicitId !== undefined && !isHexString(explicitId, 32))
    throw new ChainError(
      `model id ${explicitId} for ${artifacts.name} is not 0x followed by 64 hex digits`,
      "take it from sibyl:register's output or the ModelRegistered event",
    );
  const modelId = explicitId ?? (await recordedModelId(env, registry, artifacts));
  if (!modelId)
    throw new ChainError(
      `no registration of ${artifacts.name} is recorded for the registry ${String(registry.target)} on ${network}`,
      `register it (npx hardhat sibyl:register --model ${artifacts.modelPath} --network ${network}), ` +
        "or pass the id of an existing registration",
    );
  const report = await verifyModel(env, registry, artifacts, modelId);
  if (!report.ok) throw new ModelMismatchError(report, artifacts, network);
  return modelId;
}

/** The shortest settlement window a node serves unless told otherwise (seconds). */
export const DEFAULT_MIN_SETTLEMENT_WINDOW = 60n;

/**
 * Refuses, for a node about to serve `modelId`, a registration whose settlement window leaves
 * no time to prove: anyone can register a build's artifacts under terms of their own, and a
 * window shorter than proving would get every answer slashed.
 */
export async function checkServable(
  registry: ModelRegistry,
  artifacts: Pick<ModelArtifacts, "name">,
  modelId: string,
  minSettlementWindow = DEFAULT_MIN_SETTLEMENT_WINDOW,
): Promise<void> {
  const window = (await registry.getModel(modelId)).config.settlementWindow;
  if (window < minSettlementWindow)
    throw new ChainError(
      `model ${artifacts.name} (${modelId}) must be settled within ${window} s of each answer, below this ` +
        `node's minimum of ${minSettlementWindow} s: its answers could be slashed before a proof is ready`,
      "serve a registration with a longer window (npx hardhat sibyl:register --window …), or lower the node's minimum",
    );
}
