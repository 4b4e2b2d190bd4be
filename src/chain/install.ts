import { type SibylEnv, coreArtifact, coreContract, deployCore } from "../env.js";
import { type Signer, formatEther, getAddress, keccak256, parseEther, ZeroAddress, ZeroHash } from "ethers";

import { ChainError } from "../errors.js";
import { MAX_ANSWER_WINDOW } from "../protocol/constants.js";
import { type InferencePrecompile, type ModelRegistry } from "../../typechain-types/index.js";

/** Where the precompile lives on a Hardhat chain (`Sibyl.INFERENCE` in Solidity). */
export const INFERENCE_ADDRESS = "0x00000000000000000000000000000000000000F4";

/** Minimum node bond used when `installPrecompile` is not told otherwise. */
export const DEFAULT_MIN_BOND = parseEther("1");

/** Seconds an unanswered request waits before anyone may expire it, unless told otherwise. */
export const DEFAULT_ANSWER_WINDOW = 3600n;

/** Networks that accept `hardhat_setCode` and `hardhat_setStorageAt` (Hardhat 3 calls the in-process one "default"). */
const SET_CODE_NETWORKS = new Set(["default", "hardhat", "localhost", "node"]);

/**
 * The storage slots of InferencePrecompile that hold its initialisation, by state variable
 * (solc's storage layout; test/chain/install.test.ts checks it against the compiler's):
 * slot 0 `_lock` (0 = not initialised), 1 `_admin`, 2 `_registry | _answerWindow`,
 * 3 `_minBond`, 9 `_pendingAdmin`, 10 `_pendingRegistry | _registryEffectiveAt`, 15 `_adapter`,
 * 17 `_enclaves` (the enclave registry).
 * `resetPrecompile` zeroes exactly these. It keeps slot 4 (`_nonce`), so request ids issued
 * after a reset never repeat one left in storage, and it cannot clear the mappings (slots 5–8
 * and 11: requests, their words, node bonds, pending withdrawals, node policies) because
 * storage cannot be enumerated: they stay behind, orphaned.
 */
export const INITIALIZATION_SLOTS: Readonly<Record<string, number>> = {
  _lock: 0,
  _admin: 1,
  _registry: 2,
  _answerWindow: 2,
  _minBond: 3,
  _pendingAdmin: 9,
  _pendingRegistry: 10,
  _registryEffectiveAt: 10,
  _adapter: 15,
  _enclaves: 17,
};

export interface InstallOptions {
  /** where to place the precompile (default `INFERENCE_ADDRESS`) */
  address?: string;
  /** account allowed to change the registry later (default: the first signer) */
  admin?: string;
  /** minimum bond of a first node registration, in wei (default 1 ETH) */
  minBond?: bigint;
  /** seconds before an unanswered request can be expired (default 3600, at most 1 day) */
  answerWindow?: bigint;
  /**
   * When the precompile is already initialised, take the `minBond` and `answerWindow` not given
   * from it instead of the defaults, so a re-run without them adopts the installation as it is
   * (`sibyl:deploy` does). Values that are given must still match. Default false.
   */
  adoptParameters?: boolean;
}

export interface InstalledSibyl {
  precompile: InferencePrecompile;
  registry: ModelRegistry;
  /** true when this call initialised the precompile, false when it adopted an installation */
  initialized: boolean;
}

/** What an initialised precompile holds, and who initialised it (when its event can be found). */
export interface PrecompileState {
  admin: string;
  registry: string;
  minBond: bigint;
  answerWindow: bigint;
  /** the sender of the transaction that emitted the last `Initialized` event */
  initializedBy?: string;
  initializedIn?: string;
}

/** The admin and parameters an installation is asked for, defaults filled in. */
export interface WantedInstallation {
  admin: string;
  minBond: bigint;
  answerWindow: bigint;
}

/**
 * Installs Sibyl on a Hardhat chain: places the InferencePrecompile runtime code at
 * `0x…F4` with `hardhat_setCode`, deploys a ModelRegistry and initialises the precompile.
 *
 * On a shared chain (`npx hardhat node`) anyone can call `initialize` first, so an existing
 * initialisation is adopted only when it is exactly what was asked for: the admin (default:
 * the first signer), `minBond` and `answerWindow` (defaults included) and a registry running
 * this project's ModelRegistry code. Anything else, including losing the race to our own
 * `initialize`, is refused with a ChainError that says who initialised it with what, and how
 * to reinstall (`sibyl:deploy --reset`, see `resetPrecompile`). Re-running with the same
 * options only returns handles.
 *
 * Code from an older build is replaced, keeping its storage, which is why the precompile's
 * storage layout is append-only. The contract has no immutables, so the artifact's
 * `deployedBytecode` is exactly what a normal deployment leaves on-chain.
 */
export async function installPrecompile(env: SibylEnv, opts: InstallOptions = {}): Promise<InstalledSibyl> {
  requireSetCodeNetwork(env, "installPrecompile places code with hardhat_setCode");
  const address = getAddress(opts.address ?? INFERENCE_ADDRESS);
  const [deployer] = await env.ethers.getSigners();
  const wanted = wantedInstallation(opts, deployer.address);

  const artifact = coreArtifact("InferencePrecompile");
  const code = await env.ethers.provider.getCode(address);
  if (code.toLowerCase() !== artifact.deployedBytecode.toLowerCase())
    await env.ethers.provider.send("hardhat_setCode", [address, artifact.deployedBytecode]);
  const precompile = coreContract<InferencePrecompile>("InferencePrecompile", address, deployer);

  if ((await precompile.registry()) !== ZeroAddress) {
    if (opts.adoptParameters) {
      wanted.minBond = opts.minBond ?? (await precompile.minBond());
      wanted.answerWindow = opts.answerWindow ?? BigInt(await precompile.answerWindow());
    }
    const registry = await checkInstallation(env, precompile, wanted, resetHint(env, wanted));
    await ensureAdapter(precompile, deployer);
    return { precompile, registry, initialized: false };
  }

  const registry = (await deployCore("ModelRegistry", deployer)) as unknown as ModelRegistry;
  await registry.waitForDeployment();
  try {
    await (
      await precompile.initialize(
        wanted.admin,
        await registry.getAddress(),
        wanted.minBond,
        wanted.answerWindow,
      )
    ).wait();
  } catch (e) {
    // Someone initialised it between our check and our transaction: adopt it only if it is ours.
    if ((await precompile.registry()) === ZeroAddress) throw e;
    const adopted = await checkInstallation(
      env,
      precompile,
      wanted,
      resetHint(env, wanted),
      "lost the race: ",
    );
    await ensureAdapter(precompile, deployer);
    return { precompile, registry: adopted, initialized: false };
  }
  // our initialize succeeded, so the state is ours: initialize can run only once
  await ensureAdapter(precompile, deployer);
  return { precompile, registry, initialized: true };
}

/**
 * Gives the precompile its OpenGradient adapter (the stateless contract that answers
 * OpenGradient's ABI through the precompile's fallback) when it has none and `signer` is its
 * admin: deploys one and sets it (`setAdapter` works once). Returns the adapter's address, or
 * undefined when none is set and `signer` may not set one.
 */
export async function ensureAdapter(
  precompile: InferencePrecompile,
  signer: Signer,
): Promise<string | undefined> {
  const current = await precompile.adapter();
  if (current !== ZeroAddress) return current;
  if (getAddress(await precompile.admin()) !== getAddress(await signer.getAddress())) return undefined;
  const adapter = await deployCore("OpenGradientAdapter", signer);
  await adapter.waitForDeployment();
  const address = await adapter.getAddress();
  await (await precompile.connect(signer).setAdapter(address)).wait();
  return address;
}

/** The admin and parameters asked for, defaults filled in; refuses values `initialize` would reject. */
export function wantedInstallation(
  opts: Omit<InstallOptions, "address">,
  defaultAdmin: string,
): WantedInstallation {
  const wanted = {
    admin: getAddress(opts.admin ?? defaultAdmin),
    minBond: opts.minBond ?? DEFAULT_MIN_BOND,
    answerWindow: opts.answerWindow ?? DEFAULT_ANSWER_WINDOW,
  };
  if (wanted.admin === ZeroAddress)
    throw new ChainError(
      "the admin must not be the zero address",
      "pass another admin, or none for the first signer",
    );
  if (wanted.minBond <= 0n)
    throw new ChainError(
      `minBond must be above 0, got ${wanted.minBond} wei`,
      "pass a positive minimum bond (e.g. --min-bond 1)",
    );
  if (wanted.answerWindow <= 0n || wanted.answerWindow > MAX_ANSWER_WINDOW)
    throw new ChainError(
      `answerWindow must be 1…${MAX_ANSWER_WINDOW} seconds, got ${wanted.answerWindow}`,
      "pass an answer window of at most one day (e.g. --answer-window 3600)",
    );
  return wanted;
}

/** The precompile's admin, registry and parameters, and who initialised it when the log is available. */
export async function readPrecompileState(precompile: InferencePrecompile): Promise<PrecompileState> {
  const [admin, registry, minBond, answerWindow] = await Promise.all([
    precompile.admin(),
    precompile.registry(),
    precompile.minBond(),
    precompile.answerWindow(),
  ]);
  const state: PrecompileState = { admin, registry, minBond, answerWindow: BigInt(answerWindow) };
  try {
    const logs = await precompile.queryFilter(precompile.filters.Initialized(), 0);
    const last = logs.at(-1);
    if (last) {
      const tx = await last.getTransaction();
      state.initializedBy = getAddress(tx.from);
      state.initializedIn = last.transactionHash;
    }
  } catch {
    // a node without old logs: the state alone still says what it holds
  }
  return state;
}

/**
 * Checks an initialised precompile against what was asked and returns its registry; throws a
 * ChainError naming who initialised it with what, and `hint`, when anything differs.
 */
export async function checkInstallation(
  env: SibylEnv,
  precompile: InferencePrecompile,
  wanted: WantedInstallation,
  hint: string,
  prefix = "",
): Promise<ModelRegistry> {
  const state = await readPrecompileState(precompile);
  const differences: string[] = [];
  if (state.admin !== wanted.admin) differences.push(`admin ${state.admin}, asked ${wanted.admin}`);
  if (state.minBond !== wanted.minBond)
    differences.push(`minBond ${formatEther(state.minBond)} ETH, asked ${formatEther(wanted.minBond)} ETH`);
  if (state.answerWindow !== wanted.answerWindow)
    differences.push(`answerWindow ${state.answerWindow} s, asked ${wanted.answerWindow} s`);
  const parametersOnly = differences.length > 0 && state.admin === wanted.admin;
  const registryProblem = await checkRegistryCode(env, state.registry);
  if (registryProblem) differences.push(registryProblem);
  if (differences.length > 0)
    throw new ChainError(
      `${prefix}the precompile at ${await precompile.getAddress()} on network "${env.networkName}" is not the ` +
        `installation asked for: ${describeState(state)}. It differs in: ${differences.join("; ")}`,
      parametersOnly && !registryProblem
        ? `to adopt it as it is, pass --min-bond ${formatEther(state.minBond)} --answer-window ${state.answerWindow} ` +
            `(sibyl:deploy without --min-bond and --answer-window adopts it too); ${hint}`
        : hint,
    );
  const [runner] = await env.ethers.getSigners();
  return coreContract<ModelRegistry>("ModelRegistry", state.registry, runner);
}

/** Undefined when `registry` runs this project's ModelRegistry code, else what is wrong with it. */
export async function checkRegistryCode(env: SibylEnv, registry: string): Promise<string | undefined> {
  const artifact = coreArtifact("ModelRegistry");
  const code = await env.ethers.provider.getCode(registry);
  if (code === "0x") return `registry ${registry} has no code`;
  // ModelRegistry has no immutables: its runtime code is the artifact's, byte for byte.
  if (keccak256(code) !== keccak256(artifact.deployedBytecode))
    return `registry ${registry} does not run this project's ModelRegistry code (code hash ${keccak256(code)})`;
  return undefined;
}

/** "initialised by X (tx T) with admin A, registry R, minBond B ETH, answerWindow W s". */
export function describeState(state: PrecompileState): string {
  const by = state.initializedBy
    ? `initialised by ${state.initializedBy}${state.initializedIn ? ` (tx ${state.initializedIn})` : ""}`
    : "initialised";
  return (
    `${by} with admin ${state.admin}, registry ${state.registry}, ` +
    `minBond ${formatEther(state.minBond)} ETH, answerWindow ${state.answerWindow} s`
  );
}

/** How to reinstall with what was asked; the parameters are named when they are not the defaults. */
function resetHint(env: SibylEnv, wanted: WantedInstallation): string {
  const options =
    (wanted.minBond !== DEFAULT_MIN_BOND ? ` --min-bond ${formatEther(wanted.minBond)}` : "") +
    (wanted.answerWindow !== DEFAULT_ANSWER_WINDOW ? ` --answer-window ${wanted.answerWindow}` : "");
  return (
    `on a development chain, reinstall it with you as admin: npx hardhat sibyl:deploy --network ${env.networkName} ` +
    `--reset${options} (old requests and bonds in its storage are orphaned)`
  );
}

/**
 * Clears the precompile's initialisation on a development chain, so `installPrecompile` can
 * install it afresh with the caller as admin: zeroes the `INITIALIZATION_SLOTS` with
 * `hardhat_setStorageAt`. The mappings stay in storage: requests, node bonds and pending
 * withdrawals from before are orphaned (their models belong to the old registry), which is
 * only acceptable on a throwaway chain. Returns the state it cleared (undefined if none).
 */
export async function resetPrecompile(
  env: SibylEnv,
  address: string = INFERENCE_ADDRESS,
): Promise<PrecompileState | undefined> {
  requireSetCodeNetwork(env, "resetPrecompile rewrites storage with hardhat_setStorageAt");
  const target = getAddress(address);
  let previous: PrecompileState | undefined;
  if ((await env.ethers.provider.getCode(target)) !== "0x") {
    const precompile = coreContract<InferencePrecompile>("InferencePrecompile", target, env.ethers.provider);
    try {
      if ((await precompile.registry()) !== ZeroAddress) previous = await readPrecompileState(precompile);
    } catch {
      // other code than ours: nothing to report, the slots are cleared all the same
    }
  }
  for (const slot of new Set(Object.values(INITIALIZATION_SLOTS)))
    await env.ethers.provider.send("hardhat_setStorageAt", [target, `0x${slot.toString(16)}`, ZeroHash]);
  return previous;
}

function requireSetCodeNetwork(env: SibylEnv, what: string): void {
  if (!env.inProcess && !SET_CODE_NETWORKS.has(env.networkName))
    throw new ChainError(
      `${what}, which network "${env.networkName}" does not offer`,
      "on other networks use `npx hardhat sibyl:deploy`, which deploys through CREATE2 at a deterministic address",
    );
}
