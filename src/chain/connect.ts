import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { ChainError } from "../errors";
import type { InferencePrecompile, ModelRegistry } from "../../typechain-types";
import { INFERENCE_ADDRESS } from "./install";

/** Handles to an already installed precompile and its registry on the current network. */
export async function connectSibyl(
  hre: HardhatRuntimeEnvironment,
  address = INFERENCE_ADDRESS,
): Promise<{ precompile: InferencePrecompile; registry: ModelRegistry }> {
  const code = await hre.ethers.provider.getCode(address);
  if (code === "0x")
    throw new ChainError(
      `no Sibyl precompile at ${address} on network "${hre.network.name}"`,
      `install it first: npx hardhat sibyl:deploy --network ${hre.network.name}`,
    );
  const precompile = (await hre.ethers.getContractAt(
    "InferencePrecompile",
    address,
  )) as unknown as InferencePrecompile;
  const registryAddress = await precompile.registry();
  if (registryAddress === hre.ethers.ZeroAddress)
    throw new ChainError(
      `the precompile at ${address} is not initialised`,
      "run npx hardhat sibyl:deploy again",
    );
  const registry = (await hre.ethers.getContractAt(
    "ModelRegistry",
    registryAddress,
  )) as unknown as ModelRegistry;
  return { precompile, registry };
}
