import type { SibylEnv } from "../env.js";
import { readFile } from "node:fs/promises";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AbiCoder, getAddress, keccak256, parseEther, parseUnits } from "ethers";

import type { ModelArtifacts } from "../pipeline/artifacts.js";
import { ChainError } from "../errors.js";
import { MAX_SETTLEMENT_WINDOW, MAX_UINT128, PRICED_HOOKS } from "../protocol/constants.js";
import type { IModelRegistry, ModelRegistry } from "../../typechain-types/index.js";
import { ModelMismatchError, verifyModel } from "./verify.js";
import { explainRevert, revertErrorName } from "../protocol/revert.js";

/**
 * Registering a built model on-chain. A model id commits to the registrant, the verifier's
 * code and every term that decides how requests settle (see docs/security.md), so the id
 * is computed here from local artifacts exactly as the registry computes it, and an
 * existing registration is only ever adopted after it has been checked against them.
 */

/** The settlement terms an owner chooses when registering a model (all part of its id). */
export interface ModelTerms {
  /** base wei a consumer pays per request */
  fee: bigint;
  /** wei per unit of callback gas, charged for each priced hook on top of `fee` */
  callbackGasPrice: bigint;
  /** least wei of node bond locked behind each unsettled answer (0 only when unbonded) */
  stake: bigint;
  /** seconds an answer has to be settled (at most `MAX_SETTLEMENT_WINDOW`) */
  settlementWindow: bigint;
  /** answers lock no stake: nothing repays a wrong answer before its proof */
  unbonded: boolean;
}

export type RegisterOptions = Partial<ModelTerms>;

export interface RegisteredModel {
  modelId: string;
  /** the registry's own deployment of the verifier code */
  verifier: string;
  /** keccak256 of the verifier's runtime code (part of the id) */
  verifierCodeHash: string;
  owner: string;
  terms: ModelTerms;
  /** false when this owner had already registered exactly this model (idempotent re-run) */
  created: boolean;
  gasUsed?: bigint;
}

export const DEFAULT_MODEL_TERMS: ModelTerms = {
  fee: parseEther("0.001"),
  callbackGasPrice: parseUnits("1", "gwei"),
  stake: parseEther("0.1"),
  settlementWindow: 600n,
  unbonded: false,
};

export { MAX_ANSWER_WINDOW, MAX_SETTLEMENT_WINDOW, PRICED_HOOKS } from "../protocol/constants.js";

/** `Sibyl.requiredFee`: the fee a request with `callbackGasLimit` gas per hook must carry. */
export function requiredFee(
  terms: Pick<ModelTerms, "fee" | "callbackGasPrice">,
  callbackGasLimit: number,
): bigint {
  return terms.fee + PRICED_HOOKS * BigInt(callbackGasLimit) * terms.callbackGasPrice;
}

export function termsOf(opts: RegisterOptions = {}): ModelTerms {
  const unbonded = opts.unbonded ?? DEFAULT_MODEL_TERMS.unbonded;
  return {
    fee: opts.fee ?? DEFAULT_MODEL_TERMS.fee,
    callbackGasPrice: opts.callbackGasPrice ?? DEFAULT_MODEL_TERMS.callbackGasPrice,
    stake: opts.stake ?? (unbonded ? 0n : DEFAULT_MODEL_TERMS.stake),
    settlementWindow: opts.settlementWindow ?? DEFAULT_MODEL_TERMS.settlementWindow,
    unbonded,
  };
}

/**
 * Refuses terms the registry would revert on, before anything is sent, saying which option
 * to change (the registry checks the same rules: Registry__InvalidSettlementWindow,
 * Registry__InvalidStake).
 */
export function checkTerms(terms: ModelTerms): ModelTerms {
  const w = terms.settlementWindow;
  if (w < 1n || w > MAX_SETTLEMENT_WINDOW)
    throw new ChainError(
      `settlement window ${w} s is out of range`,
      `give 1 to ${MAX_SETTLEMENT_WINDOW} seconds (--window): every answer must be settled or slashable within a day`,
    );
  if (terms.unbonded !== (terms.stake === 0n))
    throw new ChainError(
      terms.unbonded
        ? `an unbonded model locks no stake, but a stake of ${terms.stake} wei was given`
        : "a bonded model needs a stake above 0",
      terms.unbonded
        ? "leave --stake out with --unbonded"
        : "give --stake, or --unbonded for a model whose answers lock nothing",
    );
  for (const key of ["fee", "callbackGasPrice", "stake"] as const)
    if (terms[key] < 0n || terms[key] > MAX_UINT128)
      throw new ChainError(`${key} ${terms[key]} wei is out of range`, "give 0 or more, below 2^128 wei");
  return terms;
}

/** The scale of a model's outputs: 0 for a class index (a model ending in argmax), else its fracBits. */
export function outputFracBitsOf(artifacts: Pick<ModelArtifacts, "quantized" | "fracBits">): number {
  return artifacts.quantized.layers.at(-1)?.type === "argmax" ? 0 : artifacts.fracBits;
}

/** The registry config for a built model under `terms`. */
export function modelConfig(artifacts: ModelArtifacts, terms: ModelTerms): IModelRegistry.ModelConfigStruct {
  return {
    modelHash: artifacts.modelHash,
    weightCommitment: BigInt(artifacts.weightCommitment ?? 0),
    zkeyHash: artifacts.zkeyHash,
    inputLength: artifacts.inputLength,
    outputLength: artifacts.outputLength,
    fracBits: artifacts.fracBits,
    valueBits: artifacts.valueBits,
    inputBits: artifacts.inputBits,
    outputFracBits: outputFracBitsOf(artifacts),
    fee: terms.fee,
    callbackGasPrice: terms.callbackGasPrice,
    stake: terms.stake,
    settlementWindow: terms.settlementWindow,
    unbonded: terms.unbonded,
  };
}

const CONFIG_TUPLE =
  "tuple(bytes32 modelHash, uint256 weightCommitment, bytes32 zkeyHash, uint32 inputLength, uint32 outputLength, " +
  "uint8 fracBits, uint8 valueBits, uint8 inputBits, uint8 outputFracBits, uint128 fee, uint128 callbackGasPrice, uint128 stake, " +
  "uint64 settlementWindow, bool unbonded)";

/** The id the registry gives `config` registered by `owner` with verifier code of hash `verifierCodeHash`. */
export function modelIdFor(
  owner: string,
  verifierCodeHash: string,
  config: IModelRegistry.ModelConfigStruct,
): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["address", "bytes32", CONFIG_TUPLE],
      [owner, verifierCodeHash, config],
    ),
  );
}

/** The source text a contract was compiled from, as its Hardhat 3 build info records it ("" if unknown). */
async function compiledSource(env: SibylEnv, fqn: string): Promise<string> {
  const id = await env.artifacts.getBuildInfoId(fqn);
  const path = id === undefined ? undefined : await env.artifacts.getBuildInfoPath(id);
  if (path === undefined) return "";
  const info = JSON.parse(await readFile(path, "utf8")) as {
    userSourceNameMap: Record<string, string>;
    input: { sources: Record<string, { content?: string }> };
  };
  const inputName = info.userSourceNameMap[fqn.slice(0, fqn.lastIndexOf(":"))];
  return (inputName && info.input.sources[inputName]?.content) || "";
}

/** The runtime code of the model's compiled verifier: what the registry deploys and the id commits to. */
export async function verifierRuntimeCode(env: SibylEnv, artifacts: ModelArtifacts): Promise<string> {
  const compile =
    "run `npx hardhat build` after `sibyl:build` (the build writes the verifier into contracts/verifiers/)";
  let artifact;
  try {
    artifact = await env.artifacts.readArtifact(artifacts.verifierContract);
  } catch {
    throw new ChainError(`no compiled artifact for ${artifacts.verifierContract}`, compile);
  }
  // The compiled code must come from the verifier the build exported for this zkey (its header
  // names the vkHash): an artifact left from an earlier build would register another key.
  const source = await compiledSource(env, `${artifact.sourceName}:${artifact.contractName}`);
  if (!source.includes(`vkHash ${artifacts.vkHash}`))
    throw new ChainError(
      `the compiled ${artifacts.verifierContract} was not compiled from the verifier exported for ${artifacts.name}'s ` +
        `current zkey (vkHash ${artifacts.vkHash})`,
      compile,
    );
  return artifact.deployedBytecode;
}

/**
 * Registers the model from the registry's first signer (or `opts.owner`). Re-running with the
 * same artifacts and terms finds the same id and adopts the registration only after
 * `verifyModel` checks it field by field against the local build (else a ModelMismatchError).
 */
export async function registerModel(
  env: SibylEnv,
  registry: ModelRegistry,
  artifacts: ModelArtifacts,
  opts: RegisterOptions = {},
): Promise<RegisteredModel> {
  const terms = checkTerms(termsOf(opts));
  const runner = registry.runner as { getAddress?: () => Promise<string> } | null;
  if (!runner?.getAddress)
    throw new ChainError(
      "the registry handle needs a signer to register a model",
      "connect it to an account",
    );
  const owner = getAddress(await runner.getAddress());
  const code = await verifierRuntimeCode(env, artifacts);
  const config = modelConfig(artifacts, terms);
  const modelId = modelIdFor(owner, keccak256(code), config);

  let result: RegisteredModel;
  if (await isRegistered(registry, modelId)) {
    // adopted only after every field checks against the local build (it names what differs)
    const report = await verifyModel(env, registry, artifacts, modelId, { terms, owner });
    if (!report.ok) throw new ModelMismatchError(report, artifacts);
    const existing = await registry.getModel(modelId);
    result = {
      modelId,
      verifier: existing.verifier,
      verifierCodeHash: keccak256(code),
      owner,
      terms,
      created: false,
    };
  } else {
    let receipt;
    try {
      receipt = await (await registry.register(config, code, artifacts.name)).wait();
    } catch (e) {
      throw explainRevert(e, `registering ${artifacts.name}`);
    }
    const model = await registry.getModel(modelId);
    result = {
      modelId,
      verifier: model.verifier,
      verifierCodeHash: model.verifierCodeHash,
      owner,
      terms,
      created: true,
      gasUsed: receipt?.gasUsed,
    };
  }
  const { chainId } = await env.ethers.provider.getNetwork();
  recordRegistration(artifacts, {
    chainId: chainId.toString(),
    registry: getAddress(String(registry.target)),
    modelId,
    owner,
  });
  return result;
}

async function isRegistered(registry: ModelRegistry, modelId: string): Promise<boolean> {
  try {
    await registry.getModel(modelId);
    return true;
  } catch (e) {
    if (revertErrorName(registry.interface, e) === "Registry__UnknownModel") return false;
    throw e;
  }
}

/** Where a model was registered, as `registerModel` records it next to the build. */
export interface RegistrationRecord {
  chainId: string;
  registry: string;
  modelId: string;
  owner: string;
}

const REGISTRATIONS_FILE = "registrations.json";

function readRegistrations(artifacts: ModelArtifacts): RegistrationRecord[] {
  const path = join(artifacts.dir, REGISTRATIONS_FILE);
  if (!existsSync(path)) return [];
  try {
    return JSON.parse(readFileSync(path, "utf8")) as RegistrationRecord[];
  } catch {
    return [];
  }
}

function recordRegistration(artifacts: ModelArtifacts, record: RegistrationRecord): void {
  const others = readRegistrations(artifacts).filter(
    (r) => !(r.chainId === record.chainId && r.registry === record.registry && r.modelId === record.modelId),
  );
  writeFileSync(join(artifacts.dir, REGISTRATIONS_FILE), JSON.stringify([...others, record], null, 1));
}

/**
 * The id this build was last registered under on this chain and registry (by `registerModel`),
 * or undefined. Callers verify it before trusting it (`verifyModel`).
 */
export async function recordedModelId(
  env: SibylEnv,
  registry: ModelRegistry,
  artifacts: ModelArtifacts,
): Promise<string | undefined> {
  const { chainId } = await env.ethers.provider.getNetwork();
  const address = getAddress(String(registry.target));
  const matches = readRegistrations(artifacts).filter(
    (r) => r.chainId === chainId.toString() && r.registry === address,
  );
  return matches.at(-1)?.modelId;
}
