import { type SibylEnv, coreArtifact, coreContract } from "../env.js";
import { AbiCoder, concat, getCreate2Address, id, keccak256 } from "ethers";

import { ChainError } from "../errors.js";
import type { InferencePrecompile, ModelRegistry } from "../../typechain-types/index.js";
import {
  checkInstallation,
  ensureAdapter,
  DEFAULT_ANSWER_WINDOW,
  DEFAULT_MIN_BOND,
  INFERENCE_ADDRESS,
  installPrecompile,
  type PrecompileState,
  resetPrecompile,
  wantedInstallation,
} from "./install.js";

/**
 * Deploying Sibyl. On Hardhat networks (the in-process one and `npx hardhat node`) the
 * precompile is installed at 0x…F4 with `hardhat_setCode`. Elsewhere both contracts are
 * deployed with CREATE2 through the widely deployed deterministic-deployment proxy, so
 * the addresses depend only on the code and the constructor arguments, and the
 * precompile is initialised by its constructor in the same transaction (nobody can
 * front-run `initialize`). Either way an existing installation is adopted only when its admin,
 * parameters and registry code are the ones asked for (see `installPrecompile`); on Hardhat
 * networks a parameter not given is the existing installation's, so a re-run without options
 * adopts it, and one with other values is refused with what to do.
 */

/** Arachnid's deterministic-deployment proxy, present on most public chains and testnets. */
export const DETERMINISTIC_DEPLOYER = "0x4e59b44847b379578588920ca78fbf26c0b4956c";
/** Its runtime code (calldata = salt ‖ initcode; returns the new address). */
export const DETERMINISTIC_DEPLOYER_RUNTIME =
  "0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";
export const SIBYL_SALT = id("sibyl/v1");

export interface DeployOptions {
  /** default: the first signer */
  admin?: string;
  /**
   * wei, above 0. Default: on a Hardhat network where Sibyl is installed, the installation's
   * (so a re-run without it adopts the installation); otherwise 1 ETH
   */
  minBond?: bigint;
  /** seconds, 1 … 1 day. Default as for `minBond`: the installation's, otherwise 3600 */
  answerWindow?: bigint;
  /**
   * Hardhat networks only: clear the precompile's initialisation first (`resetPrecompile`) and
   * install afresh; requests and bonds left in its storage are orphaned.
   */
  reset?: boolean;
}

export interface Deployed {
  precompile: InferencePrecompile;
  registry: ModelRegistry;
  /** true when deployed through CREATE2 rather than placed at 0x…F4 */
  deterministic: boolean;
  /** the installation `reset` cleared, if there was one */
  cleared?: PrecompileState;
}

export async function deploySibyl(env: SibylEnv, opts: DeployOptions = {}): Promise<Deployed> {
  const chainId = (await env.ethers.provider.getNetwork()).chainId;
  if (env.inProcess || chainId === 31337n) {
    const cleared = opts.reset ? await resetPrecompile(env) : undefined;
    const { precompile, registry } = await installPrecompile(env, {
      admin: opts.admin,
      minBond: opts.minBond,
      answerWindow: opts.answerWindow,
      adoptParameters: true,
    });
    return { precompile, registry, deterministic: false, cleared };
  }
  if (opts.reset)
    throw new ChainError(
      `--reset rewrites the precompile's storage, which only a Hardhat network allows (this is "${env.networkName}")`,
      "on other chains deploy with other parameters instead: the CREATE2 address depends on them",
    );
  return deployDeterministic(env, opts);
}

/** Where `deployDeterministic` puts the registry and the precompile for these arguments. */
export async function deterministicAddresses(
  env: SibylEnv,
  admin: string,
  opts: DeployOptions = {},
): Promise<{ registry: string; precompile: string; registryInit: string; precompileInit: string }> {
  const coder = AbiCoder.defaultAbiCoder();
  const registryArtifact = coreArtifact("ModelRegistry");
  const precompileArtifact = coreArtifact("InferencePrecompile");
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

export async function deployDeterministic(env: SibylEnv, opts: DeployOptions = {}): Promise<Deployed> {
  const [signer] = await env.ethers.getSigners();
  if (!signer)
    throw new ChainError(
      `no account configured for network ${env.networkName}`,
      "add `accounts` to its config",
    );
  if ((await env.ethers.provider.getCode(DETERMINISTIC_DEPLOYER)) === "0x")
    throw new ChainError(
      `the deterministic-deployment proxy ${DETERMINISTIC_DEPLOYER} is not on network ${env.networkName}`,
      "deploy Arachnid's deterministic-deployment-proxy there first (it has a pre-signed deployment transaction)",
    );
  const wanted = wantedInstallation(opts, signer.address);
  const addrs = await deterministicAddresses(env, wanted.admin, wanted);
  for (const [address, init] of [
    [addrs.registry, addrs.registryInit],
    [addrs.precompile, addrs.precompileInit],
  ] as const) {
    if ((await env.ethers.provider.getCode(address)) !== "0x") continue;
    const tx = await signer.sendTransaction({ to: DETERMINISTIC_DEPLOYER, data: concat([SIBYL_SALT, init]) });
    await tx.wait();
    if ((await env.ethers.provider.getCode(address)) === "0x")
      throw new ChainError(`CREATE2 deployment to ${address} failed (transaction ${tx.hash})`);
  }
  const precompile = coreContract<InferencePrecompile>("InferencePrecompile", addrs.precompile, signer);
  // The admin and parameters are part of the address, but the admin can be transferred and the
  // registry changed since: adopt an existing deployment only if it still is what was asked,
  // with a registry that runs this project's code.
  const registry = await checkInstallation(
    env,
    precompile,
    wanted,
    `its admin or registry was changed after deployment: connect to it as it is ` +
      `(connectSibyl(env, "${addrs.precompile}")), or deploy with other parameters (another address)`,
  );
  await ensureAdapter(precompile, signer);
  return { precompile, registry, deterministic: true };
}

export { INFERENCE_ADDRESS };
