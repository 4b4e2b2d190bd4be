import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { AbiCoder, concat, getCreate2Address, id, keccak256 } from "ethers";

import { ChainError } from "../errors";
import type { InferencePrecompile, ModelRegistry } from "../../typechain-types";
import { DEFAULT_ANSWER_WINDOW, DEFAULT_MIN_BOND, INFERENCE_ADDRESS, installPrecompile } from "./install";

/**
 * Deploying Sibyl. On Hardhat networks (the in-process one and `npx hardhat node`) the
 * precompile is installed at 0x…F4 with `hardhat_setCode`. Elsewhere both contracts are
 * deployed with CREATE2 through the widely deployed deterministic-deployment proxy, so
 * the addresses depend only on the code and the constructor arguments, and the
 * precompile is initialised by its constructor in the same transaction (nobody can
 * front-run `initialize`).
 */

/** Arachnid's deterministic-deployment proxy, present on most public chains and testnets. */
export const DETERMINISTIC_DEPLOYER = "0x4e59b44847b379578588920ca78fbf26c0b4956c";
/** Its runtime code (calldata = salt ‖ initcode; returns the new address). */
export const DETERMINISTIC_DEPLOYER_RUNTIME =
  "0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";
export const SIBYL_SALT = id("sibyl/v1");

export interface DeployOptions {
  admin?: string;
  minBond?: bigint;
  answerWindow?: bigint;
}

export interface Deployed {
  precompile: InferencePrecompile;
  registry: ModelRegistry;
  /** true when deployed through CREATE2 rather than placed at 0x…F4 */
  deterministic: boolean;
}

export async function deploySibyl(
  hre: HardhatRuntimeEnvironment,
  opts: DeployOptions = {},
): Promise<Deployed> {
  const chainId = (await hre.ethers.provider.getNetwork()).chainId;
  if (hre.network.name === "hardhat" || chainId === 31337n) {
    const { precompile, registry } = await installPrecompile(hre, opts);
    return { precompile, registry, deterministic: false };
  }
  return deployDeterministic(hre, opts);
}

/** Where `deployDeterministic` puts the registry and the precompile for these arguments. */
export async function deterministicAddresses(
  hre: HardhatRuntimeEnvironment,
  admin: string,
  opts: DeployOptions = {},
): Promise<{ registry: string; precompile: string; registryInit: string; precompileInit: string }> {
  const coder = AbiCoder.defaultAbiCoder();
  const registryArtifact = await hre.artifacts.readArtifact("ModelRegistry");
  const precompileArtifact = await hre.artifacts.readArtifact("InferencePrecompile");
  const registryInit = registryArtifact.bytecode; // the registry takes no constructor arguments
  const registry = getCreate2Address(DETERMINISTIC_DEPLOYER, SIBYL_SALT, keccak256(registryInit));
  const precompileInit = concat([
    precompileArtifact.bytecode,
    coder.encode(
      ["address", "address", "uint256", "uint64"],
      [admin, registry, opts.minBond ?? DEFAULT_MIN_BOND, opts.answerWindow ?? DEFAULT_ANSWER_WINDOW],
    ),
  ]);
  const precompile = getCreate2Address(DETERMINISTIC_DEPLOYER, SIBYL_SALT, keccak256(precompileInit));
  return { registry, precompile, registryInit, precompileInit };
}

export async function deployDeterministic(
  hre: HardhatRuntimeEnvironment,
  opts: DeployOptions = {},
): Promise<Deployed> {
  const [signer] = await hre.ethers.getSigners();
  if (!signer)
    throw new ChainError(
      `no account configured for network ${hre.network.name}`,
      "add `accounts` to its config",
    );
  if ((await hre.ethers.provider.getCode(DETERMINISTIC_DEPLOYER)) === "0x")
    throw new ChainError(
      `the deterministic-deployment proxy ${DETERMINISTIC_DEPLOYER} is not on network ${hre.network.name}`,
      "deploy Arachnid's deterministic-deployment-proxy there first (it has a pre-signed deployment transaction)",
    );
  const admin = opts.admin ?? signer.address;
  const addrs = await deterministicAddresses(hre, admin, opts);
  for (const [address, init] of [
    [addrs.registry, addrs.registryInit],
    [addrs.precompile, addrs.precompileInit],
  ] as const) {
    if ((await hre.ethers.provider.getCode(address)) !== "0x") continue;
    const tx = await signer.sendTransaction({ to: DETERMINISTIC_DEPLOYER, data: concat([SIBYL_SALT, init]) });
    await tx.wait();
    if ((await hre.ethers.provider.getCode(address)) === "0x")
      throw new ChainError(`CREATE2 deployment to ${address} failed (transaction ${tx.hash})`);
  }
  const registry = (await hre.ethers.getContractAt(
    "ModelRegistry",
    addrs.registry,
  )) as unknown as ModelRegistry;
  const precompile = (await hre.ethers.getContractAt(
    "InferencePrecompile",
    addrs.precompile,
  )) as unknown as InferencePrecompile;
  return { precompile, registry, deterministic: true };
}

export { INFERENCE_ADDRESS };
