import { type SibylEnv, coreArtifact, coreContract, runnerOf } from "../env.js";
import { keccak256, ZeroAddress } from "ethers";

import { ChainError } from "../errors.js";
import type { InferencePrecompile, ModelRegistry } from "../../typechain-types/index.js";
import { checkRegistryCode, describeState, INFERENCE_ADDRESS, readPrecompileState } from "./install.js";

/**
 * Without --network a command runs on Hardhat's in-process network, which starts empty for
 * every command: what sibyl:deploy and sibyl:register did in an earlier command is not there.
 */
export const IN_PROCESS_HINT =
  "the in-process network (what a command without --network runs on) is a fresh, empty chain for each " +
  "command, so nothing an earlier sibyl:deploy or sibyl:register did is on it. Run `npx hardhat node` in " +
  "another terminal, and pass --network localhost to sibyl:deploy, sibyl:register, sibyl:node and this command";

/**
 * Handles to an already installed precompile and its registry on the current network.
 * Refuses an installation that is not this project's: other code at the precompile's address,
 * or a registry that does not run this project's ModelRegistry code (whoever initialised a
 * shared chain first chose it, and a registry decides which verifier settles every model).
 */
export async function connectSibyl(
  env: SibylEnv,
  address = INFERENCE_ADDRESS,
): Promise<{ precompile: InferencePrecompile; registry: ModelRegistry }> {
  const network = env.networkName;
  const code = await env.ethers.provider.getCode(address);
  if (code === "0x")
    throw new ChainError(
      `no Sibyl precompile at ${address} on ${env.inProcess ? `the in-process network "${network}"` : `network "${network}"`}`,
      env.inProcess ? IN_PROCESS_HINT : `install it first: npx hardhat sibyl:deploy --network ${network}`,
    );
  const artifact = coreArtifact("InferencePrecompile");
  if (keccak256(code) !== keccak256(artifact.deployedBytecode))
    throw new ChainError(
      `the code at ${address} on network "${network}" is not this project's InferencePrecompile ` +
        "(another build, or another contract)",
      `reinstall it: npx hardhat sibyl:deploy --network ${network} (on a Hardhat chain this replaces the code ` +
        "and keeps the state)",
    );
  const precompile = coreContract<InferencePrecompile>("InferencePrecompile", address, await runnerOf(env));
  const registryAddress = await precompile.registry();
  if (registryAddress === ZeroAddress)
    throw new ChainError(
      `the precompile at ${address} on network "${network}" is not initialised`,
      env.inProcess ? IN_PROCESS_HINT : `run npx hardhat sibyl:deploy --network ${network}`,
    );
  const problem = await checkRegistryCode(env, registryAddress);
  if (problem)
    throw new ChainError(
      `the precompile at ${address} on network "${network}" was ${describeState(await readPrecompileState(precompile))}, ` +
        `and its ${problem}`,
      `do not use it; on a development chain reinstall it: npx hardhat sibyl:deploy --network ${network} --reset ` +
        "(old requests and bonds in its storage are orphaned)",
    );
  const registry = coreContract<ModelRegistry>("ModelRegistry", registryAddress, await runnerOf(env));
  return { precompile, registry };
}
