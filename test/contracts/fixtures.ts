import hre, { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { ContractTransactionResponse, Log } from "ethers";
import {
  AbiCoder,
  ZeroHash,
  getCreate2Address,
  keccak256,
  parseEther,
  parseUnits,
  solidityPacked,
} from "ethers";

import { installPrecompile, INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { sibylEnv } from "../../src/env.js";
import type {
  IModelRegistry,
  InferencePrecompile,
  MockVerifier,
  ModelRegistry,
} from "../../typechain-types/index.js";

/**
 * Shared fixture for the contract tests. The precompile sits at 0x…F4, installed exactly the
 * way the demo installs it; models are registered with MockVerifier's runtime code (the registry
 * deploys its own copy), so these fixtures serve tests of the request state machine and
 * bookkeeping, not of proofs.
 */

/**
 * The chain of the contract tests: one in-process chain, created when this module is first
 * imported and shared by every file that uses these fixtures. A fixture and the test loading it
 * must use the same connection: load them with this module's `networkHelpers.loadFixture` and
 * move time with its `networkHelpers.time`.
 */
export const connection = await network.create();
export const { ethers, networkHelpers } = connection;
/** Sibyl's handle on `connection`, for the library's functions (installPrecompile, …). */
export const env = await sibylEnv(hre, connection);

export const MIN_BOND = parseEther("1");
export const ANSWER_WINDOW = 600n;
/** Enough for four answers at the model's stake while `MIN_BOND` stays free: 4 · 0.5 + 1 = 3. */
export const NODE_BOND = parseEther("3");

export const FEE = parseEther("0.01");
/** The model's price per unit of callback gas (charged for each of `PRICED_HOOKS` hooks). */
export const CALLBACK_GAS_PRICE = parseUnits("1", "gwei");
export const STAKE = parseEther("0.5");
export const SETTLEMENT_WINDOW = 300n;
export const FRAC_BITS = 8;
export const VALUE_BITS = 24;
export const INPUT_LENGTH = 4;
export const OUTPUT_LENGTH = 3;
export const CALLBACK_GAS = 300_000;

/** `Sibyl.SLASH_REWARD_BPS`: the slasher's share of a slashed stake, in basis points. */
export const SLASH_REWARD_BPS = 500n;
/** `Sibyl.MAX_CALLBACK_GAS_LIMIT` */
export const MAX_CALLBACK_GAS_LIMIT = 5_000_000;
/** `Sibyl.MAX_SETTLEMENT_WINDOW` and `Sibyl.MAX_ANSWER_WINDOW`: one day. */
export const MAX_SETTLEMENT_WINDOW = 86_400n;
export const MAX_ANSWER_WINDOW = 86_400n;
/** `InferencePrecompile.REGISTRY_CHANGE_DELAY`: the longest answer window plus the longest settlement window. */
export const REGISTRY_CHANGE_DELAY = 2n * 86_400n;
/** `Sibyl.PRICED_HOOKS`: answered, then settled or failed. */
export const PRICED_HOOKS = 2n;
/** `InferenceConsumer.DEFAULT_CALLBACK_GAS_LIMIT` */
export const DEFAULT_CALLBACK_GAS_LIMIT = 200_000;
/** What a slash of `stake` credits the slasher. */
export const slashReward = (stake: bigint) => (stake * SLASH_REWARD_BPS) / 10_000n;
/** What a slash of `stake` credits the consumer, on top of its refunded fee. */
export const slashCompensation = (stake: bigint) => stake - slashReward(stake);
/**
 * `Sibyl.stakeFor`, written out: the least s with s − ⌊s·bps/10,000⌋ ≥ v, i.e.
 * ⌊(v − 1)·10,000/(10,000 − bps)⌋ + 1 (0 for v = 0).
 */
export const stakeFor = (v: bigint) =>
  v === 0n ? 0n : ((v - 1n) * 10_000n) / (10_000n - SLASH_REWARD_BPS) + 1n;
/** The stake a bonded model's answer locks for a declared value at risk: max(model stake, stakeFor(v)). */
export const stakeOf = (valueAtRisk: bigint, modelStake: bigint = STAKE) => {
  const covering = stakeFor(valueAtRisk);
  return covering > modelStake ? covering : modelStake;
};
/** `Sibyl.requiredFee`, written out: base fee + PRICED_HOOKS · gas · callbackGasPrice. */
export const feeFor = (
  callbackGasLimit: number | bigint,
  fee: bigint = FEE,
  price: bigint = CALLBACK_GAS_PRICE,
) => fee + PRICED_HOOKS * BigInt(callbackGasLimit) * price;
/** The fee of a request with `CALLBACK_GAS` gas per hook. */
export const REQUEST_FEE = feeFor(CALLBACK_GAS);

/** `IInference.Mode` */
export const Mode = { ZK: 0, TEE: 1, VANILLA: 2 } as const;
/** `IInference.RequestState` */
export const State = {
  None: 0,
  Requested: 1,
  Answered: 2,
  Settled: 3,
  Slashed: 4,
  Expired: 5,
  /** a synchronous call's result, prepared for a coming transaction */
  Prepared: 6,
} as const;
/** `ISyncInference.Finality` */
export const Finality = { Deferred: 0, ProofCarrying: 1, Attested: 2 } as const;
/** `onInferenceFailed` reasons (`Sibyl.FAILED_*`) */
export const Failed = { Expired: 1, Slashed: 2 } as const;
/** `RecordingConsumer.Hook` */
export const Hook = { Answered: 0, Settled: 1, Failed: 2 } as const;

export const INPUT = [256n, -512n, 0n, 8_388_607n];
export const OUTPUT = [-3n, 1_000n, -8_388_608n];
/** Any eight words: the MockVerifier does not look at them. */
export const PROOF = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n] as const;

/**
 * The packing formula of docs/protocol.md, written out independently of the contracts:
 * `K = floor(253 / b)`, `word[j / K] += (v[j] + 2^(b-1)) << (b · (j mod K))`.
 */
export function packReference(values: readonly bigint[], valueBits: number): bigint[] {
  const k = Math.floor(253 / valueBits);
  const words = new Array<bigint>(Math.ceil(values.length / k)).fill(0n);
  const offset = 1n << BigInt(valueBits - 1);
  values.forEach((v, j) => {
    words[Math.floor(j / k)] += (v + offset) << BigInt(valueBits * (j % k));
  });
  return words;
}

/** The ABI type of `IModelRegistry.ModelConfig`, field by field. */
const MODEL_CONFIG_TUPLE =
  "tuple(bytes32,uint256,bytes32,uint32,uint32,uint8,uint8,uint8,uint8,uint128,uint128,uint128,uint64,bool)";

/**
 * The id a registry derives, written out independently of the contracts and of src/chain:
 * keccak256(abi.encode(owner, verifierCodeHash, config)), the config's fields in declaration order.
 */
export function modelIdReference(
  owner: string,
  verifierCodeHash: string,
  c: IModelRegistry.ModelConfigStruct,
): string {
  const fields = [
    c.modelHash,
    c.weightCommitment,
    c.zkeyHash,
    c.inputLength,
    c.outputLength,
    c.fracBits,
    c.valueBits,
    c.inputBits,
    c.outputFracBits,
    c.fee,
    c.callbackGasPrice,
    c.stake,
    c.settlementWindow,
    c.unbonded,
  ];
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["address", "bytes32", MODEL_CONFIG_TUPLE],
      [owner, verifierCodeHash, fields],
    ),
  );
}

/**
 * Where a registry deploys verifier runtime `code`, written out: CREATE2 from the registry with
 * salt 0 and initcode `PUSH2 len DUP1 PUSH1 12 PUSH1 0 CODECOPY PUSH1 0 RETURN ‖ code`.
 */
export function verifierAddressReference(registry: string, code: string): string {
  const length = (code.length - 2) / 2;
  const loader = solidityPacked(["bytes1", "uint16", "bytes9"], ["0x61", length, "0x80600c6000396000f3"]);
  return getCreate2Address(registry, ZeroHash, keccak256(solidityPacked(["bytes", "bytes"], [loader, code])));
}

/** A model config with the shared shape and terms; any field can be overridden. */
export function modelConfig(
  overrides: Partial<IModelRegistry.ModelConfigStruct> = {},
): IModelRegistry.ModelConfigStruct {
  return {
    modelHash: keccak256("0x02"),
    weightCommitment: 0n,
    zkeyHash: keccak256("0x03"),
    inputLength: INPUT_LENGTH,
    outputLength: OUTPUT_LENGTH,
    fracBits: FRAC_BITS,
    valueBits: VALUE_BITS,
    inputBits: VALUE_BITS,
    // outputs scaled like the activations, unless the test changes the scale
    outputFracBits: overrides.fracBits ?? FRAC_BITS,
    fee: FEE,
    callbackGasPrice: CALLBACK_GAS_PRICE,
    stake: STAKE,
    settlementWindow: SETTLEMENT_WINDOW,
    unbonded: false,
    ...overrides,
  };
}

/** The runtime code of a compiled test contract (what `register` takes as verifier code). */
export async function runtimeCodeOf(contractName: string): Promise<string> {
  return (await hre.artifacts.readArtifact(contractName)).deployedBytecode;
}

/**
 * Registers `config` with verifier runtime `code` as `owner` and returns the id the reference
 * formula gives (looked up, so a wrong id fails here) and the registry's copy of the verifier.
 */
export async function registerWithCode(
  registry: ModelRegistry,
  owner: HardhatEthersSigner,
  config: IModelRegistry.ModelConfigStruct,
  code: string,
  name = "model",
): Promise<{ modelId: string; verifierAddress: string }> {
  await (await registry.connect(owner).register(config, code, name)).wait();
  const modelId = modelIdReference(owner.address, keccak256(code), config);
  const model = await registry.getModel(modelId); // Registry__UnknownModel if the reference is wrong
  return { modelId, verifierAddress: model.verifier };
}

/**
 * Registers a model (the shared config with `overrides`) served by MockVerifier's runtime code and
 * returns its id, its config and a handle on the registry's own MockVerifier copy, the one every
 * request of the model is settled with. Models registered with the same code share that copy.
 */
export async function registerMockModel(
  registry: ModelRegistry,
  owner: HardhatEthersSigner,
  overrides: Partial<IModelRegistry.ModelConfigStruct> = {},
  name = "mock",
): Promise<{ modelId: string; config: IModelRegistry.ModelConfigStruct; verifier: MockVerifier }> {
  const config = modelConfig(overrides);
  const { modelId, verifierAddress } = await registerWithCode(
    registry,
    owner,
    config,
    await runtimeCodeOf("MockVerifier"),
    name,
  );
  const verifier = await ethers.getContractAt("MockVerifier", verifierAddress);
  return { modelId, config, verifier };
}

/** The request id carried by the precompile's `InferenceRequested` log in a transaction. */
export async function requestIdOf(
  precompile: InferencePrecompile,
  tx: Promise<ContractTransactionResponse> | ContractTransactionResponse,
): Promise<string> {
  const receipt = await (await tx).wait();
  for (const log of receipt!.logs as Log[]) {
    if (log.address.toLowerCase() !== String(precompile.target).toLowerCase()) continue;
    const parsed = precompile.interface.parseLog(log);
    if (parsed?.name === "InferenceRequested") return parsed.args.requestId as string;
  }
  throw new Error("no InferenceRequested log in the transaction");
}

/** The timestamp of the block that mined `tx`. */
export async function timestampOf(tx: Promise<ContractTransactionResponse> | ContractTransactionResponse) {
  const receipt = await (await tx).wait();
  const block = await ethers.provider.getBlock(receipt!.blockNumber);
  return BigInt(block!.timestamp);
}

/** Sibyl installed at 0x…F4, a model served by MockVerifier code, two bonded nodes and test consumers. */
export async function sibylFixture() {
  const [admin, node, node2, user, stranger] = await ethers.getSigners();
  const { precompile, registry } = await installPrecompile(env, {
    minBond: MIN_BOND,
    answerWindow: ANSWER_WINDOW,
  });
  const { modelId, config, verifier } = await registerMockModel(registry, admin);

  for (const n of [node, node2])
    await (await precompile.connect(n).registerNode({ value: NODE_BOND })).wait();

  const recording = await ethers.deployContract("RecordingConsumer", [INFERENCE_ADDRESS]);
  const reverting = await ethers.deployContract("RevertingConsumer", [INFERENCE_ADDRESS]);
  const burning = await ethers.deployContract("GasBurningConsumer", [INFERENCE_ADDRESS]);
  const reentrant = await ethers.deployContract("ReentrantConsumer", [INFERENCE_ADDRESS, modelId]);

  /** A request from the `user` EOA (no hooks run for an EOA), with the fee for `CALLBACK_GAS`. */
  const requestFromUser = (input: readonly bigint[] = INPUT, value: bigint = REQUEST_FEE, valueAtRisk = 0n) =>
    requestIdOf(
      precompile,
      precompile.connect(user).request(modelId, [...input], Mode.ZK, CALLBACK_GAS, valueAtRisk, { value }),
    );

  /** A request answered by `node` with OUTPUT. */
  const answeredRequest = async () => {
    const id = await requestFromUser();
    const answeredAt = await timestampOf(precompile.connect(node).answer(id, OUTPUT));
    return { id, answeredAt, deadline: answeredAt + SETTLEMENT_WINDOW };
  };

  return {
    admin,
    node,
    node2,
    user,
    stranger,
    precompile,
    registry,
    verifier,
    config,
    modelId,
    recording,
    reverting,
    burning,
    reentrant,
    requestFromUser,
    answeredRequest,
  };
}
