import hre from "hardhat";
import { reset } from "@nomicfoundation/hardhat-network-helpers";
import type { ContractTransactionResponse, Log } from "ethers";
import { AbiCoder, keccak256, parseEther } from "ethers";

import { installPrecompile, INFERENCE_ADDRESS } from "../../src/chain/install";
import type { IModelRegistry, InferencePrecompile } from "../../typechain-types";

/**
 * Shared fixture for the contract tests. The precompile sits at 0x…F4, installed exactly the
 * way the demo installs it; models are registered against a MockVerifier, so these fixtures
 * serve tests of the request state machine and bookkeeping, not of proofs.
 */

export const MIN_BOND = parseEther("1");
export const ANSWER_WINDOW = 600n;
export const NODE_BOND = parseEther("2");

export const FEE = parseEther("0.01");
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
/** What a slash of `stake` credits the slasher. */
export const slashReward = (stake: bigint) => (stake * SLASH_REWARD_BPS) / 10_000n;
/** What a slash of `stake` credits the consumer, on top of its refunded fee. */
export const slashCompensation = (stake: bigint) => stake - slashReward(stake);

/** `IInference.Mode` */
export const Mode = { ZK: 0, TEE: 1, VANILLA: 2 } as const;
/** `IInference.RequestState` */
export const State = { None: 0, Requested: 1, Answered: 2, Settled: 3, Slashed: 4, Expired: 5 } as const;
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

/** The id a registry derives: keccak256(abi.encode(vkHash, modelHash, commitment, in, out, fracBits, valueBits, inputBits)). */
export function modelIdReference(c: IModelRegistry.ModelConfigStruct): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["bytes32", "bytes32", "uint256", "uint32", "uint32", "uint8", "uint8", "uint8"],
      [
        c.vkHash,
        c.modelHash,
        c.weightCommitment,
        c.inputLength,
        c.outputLength,
        c.fracBits,
        c.valueBits,
        c.inputBits,
      ],
    ),
  );
}

export function modelConfig(
  verifier: string,
  overrides: Partial<IModelRegistry.ModelConfigStruct> = {},
): IModelRegistry.ModelConfigStruct {
  return {
    verifier,
    vkHash: keccak256("0x01"),
    modelHash: keccak256("0x02"),
    weightCommitment: 0n,
    inputLength: INPUT_LENGTH,
    outputLength: OUTPUT_LENGTH,
    fracBits: FRAC_BITS,
    valueBits: VALUE_BITS,
    inputBits: VALUE_BITS,
    fee: FEE,
    stake: STAKE,
    settlementWindow: SETTLEMENT_WINDOW,
    ...overrides,
  };
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
  const block = await hre.ethers.provider.getBlock(receipt!.blockNumber);
  return BigInt(block!.timestamp);
}

/** Sibyl installed at 0x…F4, a model on a MockVerifier, two bonded nodes and test consumers. */
export async function sibylFixture() {
  // Another suite of the same mocha run may have installed Sibyl already, and installPrecompile,
  // being idempotent, would hand back its state: start these tests from a fresh chain instead.
  if ((await hre.ethers.provider.getCode(INFERENCE_ADDRESS)) !== "0x") await reset();
  const [admin, node, node2, user, stranger] = await hre.ethers.getSigners();
  const { precompile, registry } = await installPrecompile(hre, {
    minBond: MIN_BOND,
    answerWindow: ANSWER_WINDOW,
  });
  const verifier = await hre.ethers.deployContract("MockVerifier");
  const config = modelConfig(await verifier.getAddress());
  await (await registry.register(config, "mock")).wait();
  const modelId = modelIdReference(config);

  for (const n of [node, node2])
    await (await precompile.connect(n).registerNode({ value: NODE_BOND })).wait();

  const recording = await hre.ethers.deployContract("RecordingConsumer", [INFERENCE_ADDRESS]);
  const reverting = await hre.ethers.deployContract("RevertingConsumer", [INFERENCE_ADDRESS]);
  const burning = await hre.ethers.deployContract("GasBurningConsumer", [INFERENCE_ADDRESS]);
  const reentrant = await hre.ethers.deployContract("ReentrantConsumer", [INFERENCE_ADDRESS, modelId]);

  /** A request from the `user` EOA (no hooks), with the model's fee. */
  const requestFromUser = (input: readonly bigint[] = INPUT, value: bigint = FEE, valueAtRisk = 0n) =>
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
