import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { NetworkConnection } from "hardhat/types/network";
import type { ArtifactManager } from "hardhat/types/artifacts";
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type {} from "@nomicfoundation/hardhat-ethers";
import { Contract, ContractFactory, type ContractRunner, type Signer } from "ethers";

import { ChainError } from "./errors.js";
import { CORE_ARTIFACTS_DIR, useProjectRoot } from "./paths.js";

/**
 * What the chain-facing library needs from Hardhat: one network connection (its ethers
 * helpers and name), the project's artifacts (model verifiers compiled in the user's
 * project) and a way to compile them. Tasks, tests, the demo and the bench all make one
 * with `sibylEnv`.
 */
export interface SibylEnv {
  readonly ethers: HardhatEthers;
  readonly networkName: string;
  /** The network is Hardhat's in-process simulated chain (a throwaway chain per process). */
  readonly inProcess: boolean;
  readonly artifacts: ArtifactManager;
  /** The Hardhat project's root folder. */
  readonly root: string;
  /** Compiles the project's contracts (incremental; quiet). */
  compile(): Promise<void>;
}

/**
 * A SibylEnv for `hre`, on `connection` (default: the network the task runs on, shared with
 * other callers). Also points Sibyl's project paths (build/, contracts/verifiers/) at the
 * project's root.
 */
export async function sibylEnv(
  hre: HardhatRuntimeEnvironment,
  connection?: NetworkConnection,
): Promise<SibylEnv> {
  useProjectRoot(hre.config.paths.root);
  const conn = connection ?? (await hre.network.getOrCreate());
  return {
    ethers: conn.ethers,
    networkName: conn.networkName,
    inProcess: conn.networkConfig.type === "edr-simulated",
    artifacts: hre.artifacts,
    root: hre.config.paths.root,
    compile: async () => {
      await hre.tasks.getTask("build").run({ quiet: true, noTests: true });
    },
  };
}

/** Sibyl's own contracts, compiled into the package (a user's project does not compile them). */
export type CoreContract = "InferencePrecompile" | "ModelRegistry" | "CreditLine" | "FraudGate";

export interface CoreArtifact {
  contractName: string;
  sourceName: string;
  abi: unknown[];
  bytecode: string;
  deployedBytecode: string;
}

const SOURCES: Record<CoreContract, string> = {
  InferencePrecompile: "InferencePrecompile.sol",
  ModelRegistry: "ModelRegistry.sol",
  CreditLine: "examples/CreditLine.sol",
  FraudGate: "examples/FraudGate.sol",
};

const cache = new Map<CoreContract, CoreArtifact>();

export function coreArtifact(name: CoreContract): CoreArtifact {
  const hit = cache.get(name);
  if (hit) return hit;
  const file = join(CORE_ARTIFACTS_DIR, SOURCES[name], `${name}.json`);
  let artifact: CoreArtifact;
  try {
    artifact = JSON.parse(readFileSync(file, "utf8")) as CoreArtifact;
  } catch (e) {
    throw new ChainError(
      `Sibyl's compiled ${name} is missing (${file})`,
      "in Sibyl's repository run npx hardhat build; in a project, reinstall hardhat-sibyl",
      { cause: e },
    );
  }
  cache.set(name, artifact);
  return artifact;
}

/** A typed handle on one of Sibyl's contracts at `address`. */
export function coreContract<T>(name: CoreContract, address: string, runner: ContractRunner | null): T {
  return new Contract(address, coreArtifact(name).abi as never, runner) as unknown as T;
}

/** Deploys one of Sibyl's contracts from the package's artifact. */
export async function deployCore(name: CoreContract, signer: Signer, ...args: unknown[]): Promise<Contract> {
  const { abi, bytecode } = coreArtifact(name);
  const contract = await new ContractFactory(abi as never, bytecode, signer).deploy(...args);
  await contract.waitForDeployment();
  return contract as Contract;
}

/** The network's first account, or its provider (read-only) when it has none. */
export async function runnerOf(env: SibylEnv): Promise<ContractRunner> {
  const [signer] = await env.ethers.getSigners();
  return signer ?? env.ethers.provider;
}
