import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type {} from "@nomicfoundation/hardhat-ethers/internal/type-extensions";
import { getAddress, parseEther, ZeroAddress } from "ethers";

import { ChainError } from "../errors";
import {
  InferencePrecompile__factory,
  ModelRegistry__factory,
  type InferencePrecompile,
  type ModelRegistry,
} from "../../typechain-types";

/** Where the precompile lives on a Hardhat chain (`Sibyl.INFERENCE` in Solidity). */
export const INFERENCE_ADDRESS = "0x00000000000000000000000000000000000000F4";

/** Minimum node bond used when `installPrecompile` is not told otherwise. */
export const DEFAULT_MIN_BOND = parseEther("1");

/** Seconds an unanswered request waits before anyone may expire it, unless told otherwise. */
export const DEFAULT_ANSWER_WINDOW = 3600n;

/** Networks that accept `hardhat_setCode`. */
const SET_CODE_NETWORKS = new Set(["hardhat", "localhost"]);

export interface InstallOptions {
  /** where to place the precompile (default `INFERENCE_ADDRESS`) */
  address?: string;
  /** account allowed to change the registry later (default: the first signer) */
  admin?: string;
  /** minimum bond of a first node registration, in wei (default 1 ETH) */
  minBond?: bigint;
  /** seconds before an unanswered request can be expired (default 3600) */
  answerWindow?: bigint;
}

export interface InstalledSibyl {
  precompile: InferencePrecompile;
  registry: ModelRegistry;
}

/**
 * Installs Sibyl on a Hardhat chain: places the InferencePrecompile runtime code at
 * `0x…F4` with `hardhat_setCode`, deploys a ModelRegistry and initialises the precompile.
 *
 * Idempotent: when the address already holds the current code and is initialised, it only
 * returns handles (the options are then ignored, since storage is already set). Code from an
 * older build is replaced, keeping its storage, which is why the precompile's storage layout
 * is append-only.
 *
 * The contract has no immutables, so the artifact's `deployedBytecode` is exactly what a
 * normal deployment would leave on-chain (its constructor only initialises storage, which
 * `initialize` does here).
 */
export async function installPrecompile(
  hre: HardhatRuntimeEnvironment,
  opts: InstallOptions = {},
): Promise<InstalledSibyl> {
  if (!SET_CODE_NETWORKS.has(hre.network.name))
    throw new ChainError(
      `installPrecompile places code with hardhat_setCode, which network "${hre.network.name}" does not offer`,
      "on other networks use `npx hardhat sibyl:deploy`, which deploys through CREATE2 at a deterministic address",
    );

  const address = getAddress(opts.address ?? INFERENCE_ADDRESS);
  const [deployer] = await hre.ethers.getSigners();
  const artifact = await hre.artifacts.readArtifact("InferencePrecompile");
  const code = await hre.ethers.provider.getCode(address);
  if (code.toLowerCase() !== artifact.deployedBytecode.toLowerCase())
    await hre.network.provider.send("hardhat_setCode", [address, artifact.deployedBytecode]);

  const precompile = InferencePrecompile__factory.connect(address, deployer);
  const current = await precompile.registry();
  if (current !== ZeroAddress)
    return { precompile, registry: ModelRegistry__factory.connect(current, deployer) };

  const registry = await new ModelRegistry__factory(deployer).deploy();
  await registry.waitForDeployment();
  const tx = await precompile.initialize(
    opts.admin ?? deployer.address,
    await registry.getAddress(),
    opts.minBond ?? DEFAULT_MIN_BOND,
    opts.answerWindow ?? DEFAULT_ANSWER_WINDOW,
  );
  await tx.wait();
  return { precompile, registry };
}
