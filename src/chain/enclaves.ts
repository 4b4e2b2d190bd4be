import { type Provider, type Signer, ZeroAddress, getAddress, hexlify, keccak256 } from "ethers";

import { ChainError } from "../errors.js";
import type { Logger } from "../log.js";
import { coreContract, deployCore } from "../env.js";
import { verifierOf } from "../tee/register.js";
import type { EnclaveRegistry, InferencePrecompile } from "../../typechain-types/index.js";

/**
 * TEE mode's on-chain set-up: the precompile's enclave registry (one per precompile) with its
 * attestation verifier (pinned to the root certificate it trusts, and holding the cache of
 * verified certificates), and each model's enclave allow-list.
 */

/** The oldest a registration document may be by the chain's clock (default: one hour, room for
 * the certificate transactions of a cold registration on a public chain). */
export const DEFAULT_MAX_DOCUMENT_AGE = 3600n;
/** The oldest a signed answer may be when it is delivered (default: five minutes). */
export const DEFAULT_MAX_ANSWER_AGE = 300n;

export interface EnclaveRegistryOptions {
  /** DER of the root certificate to pin: the AWS Nitro root, or a development root (`loadOrCreateDevCa`) */
  rootDer: Uint8Array;
  maxDocumentAge?: bigint;
  maxAnswerAge?: bigint;
}

/**
 * The precompile's enclave registry. When it has none and `signer` is the precompile's admin,
 * deploys one pinned to `rootDer` and sets it (`setEnclaveRegistry` works once). Refuses an
 * existing registry that pins another root: its documents would never verify for this enclave.
 */
export async function ensureEnclaveRegistry(
  precompile: InferencePrecompile,
  signer: Signer,
  opts: EnclaveRegistryOptions,
): Promise<EnclaveRegistry> {
  const wantedRoot = keccak256(opts.rootDer);
  const current = await precompile.enclaveRegistry();
  if (current !== ZeroAddress) {
    const registry = coreContract<EnclaveRegistry>("EnclaveRegistry", current, signer);
    const pinned = await (await verifierOf(registry)).root();
    if (pinned !== wantedRoot)
      throw new ChainError(
        `the precompile's enclave registry ${current} pins root ${pinned}, not this enclave's root ${wantedRoot}`,
        "run the enclave under the root the registry pins (the AWS Nitro root on real hardware, the project's development root locally), or reinstall Sibyl on a development chain (sibyl:deploy --reset)",
      );
    return registry;
  }
  const admin = await precompile.admin();
  if (getAddress(admin) !== getAddress(await signer.getAddress()))
    throw new ChainError(
      `the precompile has no enclave registry and only its admin ${admin} may set one`,
      "run this as the precompile's admin (the account that deployed Sibyl)",
    );
  const verifier = await deployCore("AttestationVerifier", signer, hexlify(opts.rootDer));
  const deployed = await deployCore(
    "EnclaveRegistry",
    signer,
    await verifier.getAddress(),
    await precompile.getAddress(),
    opts.maxDocumentAge ?? DEFAULT_MAX_DOCUMENT_AGE,
    opts.maxAnswerAge ?? DEFAULT_MAX_ANSWER_AGE,
  );
  const address = await deployed.getAddress();
  await (await precompile.connect(signer).setEnclaveRegistry(address)).wait();
  return coreContract<EnclaveRegistry>("EnclaveRegistry", address, signer);
}

/** The precompile's enclave registry, or a clear error when TEE mode is off. */
export async function enclaveRegistryOf(
  precompile: InferencePrecompile,
  runner: Signer,
): Promise<EnclaveRegistry> {
  const address = await precompile.enclaveRegistry();
  if (address === ZeroAddress)
    throw new ChainError(
      "this precompile has no enclave registry: TEE mode is off",
      "its admin turns it on: sibyl:node --tee with account #0 as the admin sets the registry up (the library: ensureEnclaveRegistry)",
    );
  return coreContract<EnclaveRegistry>("EnclaveRegistry", address, runner);
}

/**
 * Allows enclaves with `measurement` (keccak256(PCR0 ‖ PCR1 ‖ PCR2)) to answer for a model,
 * as its owner. Returns false when it was allowed already (nothing sent).
 */
export async function allowMeasurement(
  registry: EnclaveRegistry,
  owner: Signer,
  modelId: string,
  measurement: string,
): Promise<boolean> {
  if (await registry.isMeasurementAllowed(modelId, measurement)) return false;
  await (await registry.connect(owner).setMeasurement(modelId, measurement, true)).wait();
  return true;
}

/**
 * Moves a development chain's clock up to the wall clock, which an enclave's documents carry.
 * Hardhat 3 starts the clock of every in-process network at the time the process loaded its
 * config, so a network created minutes later runs minutes behind, and a document stamped now
 * would look as if it came from the future. A chain that refuses `evm_increaseTime` (not a
 * development chain) is left as it is. Returns the seconds the clock moved.
 */
export async function catchUpDevClock(provider: Provider, log: Logger): Promise<number> {
  const latest = await provider.getBlock("latest");
  const lag = Math.floor(Date.now() / 1000) - (latest?.timestamp ?? 0);
  if (!latest || lag <= 1) return 0;
  const rpc = provider as Provider & { send(method: string, params: unknown[]): Promise<unknown> };
  if (typeof rpc.send !== "function") return 0;
  try {
    await rpc.send("evm_increaseTime", [lag]);
    await rpc.send("evm_mine", []);
  } catch {
    return 0; // not a development chain: its clock is the network's own
  }
  log.info(`  the development chain's clock was ${lag} s behind the wall clock; moved it forward`);
  return lag;
}
