import { join } from "node:path";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { type BytesLike, Signature, type Signer, getBytes, parseEther, toBeArray, toBeHex } from "ethers";

import { circuitInputFor } from "../circuit/inputs.js";
import { requestInference } from "../client/client.js";
import { loadIris, loadMnist } from "../data/index.js";
import { SibylError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { quantizeInput } from "../model/quantize.js";
import { PROJECT_ROOT } from "../paths.js";
import { weightSecretsOf } from "../pipeline/artifacts.js";
import { Mode } from "../protocol/state.js";
import { runQuantized } from "../runtime/fixed.js";
import type { Enclave, TeeAnswer, TeeAnswerRequest } from "../tee/enclave.js";
import { type SibylTestbed, deploySibyl } from "../testing/index.js";
import { SnarkjsProver, toSolidityProof } from "../zk/prover.js";
import { proveBatch } from "../pipeline/batchProver.js";
import { setUpBatches } from "../chain/stack.js";
import type { BatchArtifacts } from "../pipeline/buildBatch.js";
import { GAS_SNAPSHOT_COMMENT, type GasSnapshot } from "./gasSnapshot.js";

/**
 * Measuring the gas snapshot (`gasSnapshot.ts`): every operation on every model, with real
 * transactions on a fresh in-process chain.
 */

/** A model to measure, with the input every request of it sends. */
export interface SnapshotModel {
  /** the model file */
  path: string;
  /** real-valued features, quantized for the model (the same on every run) */
  features: () => readonly number[];
  /** batch sizes whose full-batch settlement is measured (`settleBatch.k<k>`; default none) */
  batchSizes?: readonly number[];
}

/** The models of the committed snapshot, each with the first sample of its data set. */
export const SNAPSHOT_MODELS: readonly SnapshotModel[] = [
  {
    path: join(PROJECT_ROOT, "models", "iris", "model.json"),
    features: () => loadIris().inputs[0],
    batchSizes: [4, 16],
  },
  {
    path: join(PROJECT_ROOT, "models", "iris_private", "model.json"),
    features: () => loadIris().inputs[0],
    batchSizes: [4],
  },
  {
    path: join(PROJECT_ROOT, "models", "mnist", "model.json"),
    features: () => loadMnist().inputs[0],
    batchSizes: [4],
  },
];

/**
 * One model on the measuring chain: each action sends its transaction and returns the gas it
 * used, `gasWithNonZero` of the bytes that differ between runs.
 */
export interface ModelGas {
  /** gas of the model's registration by `deploySibyl` (the registry deployed its verifier's code) */
  readonly registered: number;
  /** sends a request from the consumer (an EOA: no hooks run) with the model's fixed input */
  request(mode?: Mode): Promise<{ id: string; gas: number }>;
  /** the node answers `id` with the model's output */
  answer(id: string): Promise<number>;
  /** the node settles the answered `id` with a Groth16 proof */
  settle(id: string): Promise<number>;
  /** moves the clock past the answered `id`'s settlement deadline; a bystander slashes it */
  slash(id: string): Promise<number>;
  /** moves the clock past the unanswered `id`'s answer window; a bystander expires it */
  expire(id: string): Promise<number>;
  /** `k` requests answered by the node, then settled with one batch proof (the whole transaction) */
  settleBatch(k: number): Promise<number>;
  /** the node delivers the enclave's signed answer (`v` = 28) to the TEE-mode `id`, which makes it final */
  answerAttested(id: string): Promise<number>;
}

/** An operation of the snapshot, measured on every model as `<model>.<key>`. */
export interface GasOperation {
  /** the figure's key after `<model>.` (README describes it: `GAS_OPERATION_LABELS`) */
  key: string;
  /**
   * run once and record that (default: run twice and record the second run, the steady state
   * where storage the first run made non-zero, like the precompile's request counter or an
   * account's first pending withdrawal, is non-zero already)
   */
  once?: boolean;
  /** sets up what the operation needs, sends it, and returns its gas */
  gas(model: ModelGas): Promise<number>;
}

const answered = async (m: ModelGas) => {
  const { id } = await m.request();
  await m.answer(id);
  return id;
};

/**
 * The operations measured, in the order of README's table: adding a figure is one entry here
 * (and, for a new kind of transaction, one action in `ModelGas`).
 */
export const GAS_OPERATIONS: readonly GasOperation[] = [
  // A rebuilt model's verifier embeds other key constants, whose zero bytes move the registration's
  // calldata cost by a few dozen gas: within the tolerance, and the same on every run of one build.
  {
    key: "register",
    once: true,
    gas: async (m) => m.registered,
  },
  { key: "request", gas: async (m) => (await m.request()).gas },
  {
    key: "answer",
    gas: async (m) => m.answer((await m.request()).id),
  },
  { key: "settle", gas: async (m) => m.settle(await answered(m)) },
  {
    key: "slash",
    gas: async (m) => m.slash(await answered(m)),
  },
  {
    key: "expire",
    gas: async (m) => m.expire((await m.request()).id),
  },
  {
    key: "teeAnswer",
    gas: async (m) => m.answerAttested((await m.request(Mode.TEE)).id),
  },
];

/** Settling a full batch of `k` (`<model>.settleBatch.k<k>`). */
function batchOperation(k: number): GasOperation {
  return { key: `settleBatch.k${k}`, gas: (m) => m.settleBatch(k) };
}

/** What `measureGasSnapshot` measures, and where its progress goes. */
export interface MeasureOptions {
  /** the models (default `SNAPSHOT_MODELS`) */
  models?: readonly SnapshotModel[];
  /** the operations (default `GAS_OPERATIONS`) */
  operations?: readonly GasOperation[];
  /** progress (default: silent) */
  log?: Logger;
}

/** The node's bond: far beyond every stake the operations lock and every slash takes. */
const NODE_BOND = parseEther("100");

/**
 * Measures every operation on every model with real transactions, on a fresh in-process chain
 * set up by `deploySibyl` (the models built or reused from `build/`, registered, a local enclave
 * per model for TEE mode) with its node stopped: the node's account answers, proves and settles
 * here, one transaction at a time, so no timing enters the figures. The consumer is the same EOA
 * on every run, each request sends the model's fixed input, and a bystander slashes and expires.
 */
export async function measureGasSnapshot(
  hre: HardhatRuntimeEnvironment,
  opts: MeasureOptions = {},
): Promise<GasSnapshot> {
  const log = opts.log ?? silentLogger;
  const models = opts.models ?? SNAPSHOT_MODELS;
  const operations = opts.operations ?? GAS_OPERATIONS;
  // always Hardhat's in-process network, whatever --network says: a chain that starts empty
  const connection = await hre.network.create("default");
  const entries: Record<string, number> = {};
  try {
    const bed = await deploySibyl(hre, connection, {
      models: models.map((m) => m.path),
      node: false,
      credit: 0n,
      tee: true,
      log,
    });
    try {
      const [consumer, , bystander] = await bed.env.ethers.getSigners();
      await (await bed.precompile.connect(bed.nodeSigner).registerNode({ value: NODE_BOND })).wait();
      for (const spec of models) {
        const name = Object.values(bed.models).find((m) => m.artifacts.modelPath === spec.path)?.artifacts
          .name;
        if (!name) throw new SibylError(`deploySibyl registered no model from ${spec.path}`);
        log.info(`measuring ${name}: ${operations.map((o) => o.key).join(", ")}`);
        const batches = await setUpBatches(bed.registry, bed.modelId(name), name, spec.batchSizes ?? [], log);
        const model = await modelGas(bed, name, spec.features(), consumer, bystander, batches);
        for (const op of [...operations, ...batches.map((b) => batchOperation(b.k))]) {
          let gas = await op.gas(model);
          if (!op.once) gas = await op.gas(model);
          entries[`${name}.${op.key}`] = gas;
        }
      }
    } finally {
      await bed.close();
    }
  } finally {
    await connection.close();
  }
  return { $comment: GAS_SNAPSHOT_COMMENT, entries };
}

/** What a zero calldata byte costs less than a non-zero one (EIP-2028: 4 gas against 16). */
const ZERO_BYTE_DISCOUNT = 12;

/**
 * `gasUsed` with every zero byte of `varying` priced as a non-zero calldata byte. A Groth16
 * proof is randomized, an enclave's key is new on each run, a timestamp follows the wall clock,
 * and ids hash the model's build and the requests sent before: how many of their bytes are zero
 * (1 in 256 on average) changes from run to run. Priced this way the figure does not: it is the
 * transaction's gas when none of those bytes is zero, at most 12 gas per such byte above it.
 */
function gasWithNonZero(gasUsed: bigint, ...varying: BytesLike[]): number {
  const zeros = varying.reduce<number>((n, v) => n + getBytes(v).filter((b) => b === 0).length, 0);
  return Number(gasUsed) + ZERO_BYTE_DISCOUNT * zeros;
}

async function modelGas(
  bed: SibylTestbed,
  name: string,
  features: readonly number[],
  consumer: Signer,
  bystander: Signer,
  batches: readonly BatchArtifacts[],
): Promise<ModelGas> {
  const { precompile, nodeSigner, env } = bed;
  const { modelId, artifacts, registration } = bed.models[name];
  const enclave = bed.enclaves?.[name]?.enclave;
  const input = quantizeInput(artifacts.quantized, features);
  const output = runQuantized(artifacts.quantized, input).output;
  const prover = new SnarkjsProver(artifacts.wasmPath, artifacts.zkeyPath);
  const provider = env.ethers.provider;
  const teeDomain = {
    chainId: (await provider.getNetwork()).chainId,
    precompile: await precompile.getAddress(),
  };
  const gasOf = async (
    sent: Promise<{ wait(): Promise<{ gasUsed: bigint } | null> }>,
    ...varying: BytesLike[]
  ) => {
    const receipt = await (await sent).wait();
    if (!receipt) throw new SibylError("a measured transaction was not mined");
    return gasWithNonZero(receipt.gasUsed, ...varying);
  };
  const passTime = async (seconds: bigint) => {
    await provider.send("evm_increaseTime", [Number(seconds) + 1]);
    await provider.send("evm_mine", []);
  };
  const model: ModelGas = {
    registered: Number(registration.gasUsed),
    async request(mode = Mode.ZK) {
      const { requestId, receipt } = await requestInference(precompile.connect(consumer), modelId, input, {
        mode,
      });
      return { id: requestId, gas: gasWithNonZero(receipt.gasUsed, modelId) };
    },
    answer: (id) => gasOf(precompile.connect(nodeSigner).answer(id, output), id),
    async settle(id) {
      const { proof } = await prover.prove(
        circuitInputFor(artifacts.quantized, id, input, output, weightSecretsOf(artifacts)),
      );
      const words = toSolidityProof(proof);
      return gasOf(precompile.connect(nodeSigner).settle(id, words), id, ...words.map((w) => toBeHex(w, 32)));
    },
    async settleBatch(k) {
      const batch = batches.find((b) => b.k === k);
      if (!batch) throw new SibylError(`no batch circuit of ${k} was set up for ${name}`);
      const entries = [];
      for (let i = 0; i < k; i++) {
        const { id } = await model.request();
        await model.answer(id);
        entries.push({ requestId: id, input, output });
      }
      const { proof, requestIds } = await proveBatch(batch, entries);
      const words = toSolidityProof(proof);
      return gasOf(
        precompile.connect(nodeSigner).settleBatch(modelId, k, requestIds, words),
        modelId,
        ...requestIds,
        ...words.map((w) => toBeHex(w, 32)),
      );
    },
    async slash(id) {
      await bed.passSettlementWindow(id);
      return gasOf(precompile.connect(bystander).slash(id), id);
    },
    async expire(id) {
      await passTime(await precompile.answerWindow());
      return gasOf(precompile.connect(bystander).expire(id), id);
    },
    async answerAttested(id) {
      if (!enclave)
        throw new SibylError(`no enclave runs model ${name}`, "measure with deploySibyl's tee: true");
      const latest = await provider.getBlock("latest");
      if (!latest) throw new SibylError("the chain has no latest block");
      const attested = await attestWithV28(
        enclave,
        {
          ...teeDomain,
          requestId: id,
          modelId,
          input,
          weightCommitment: weightSecretsOf(artifacts)?.commitment,
        },
        latest.timestamp,
      );
      return gasOf(
        precompile
          .connect(nodeSigner)
          .answerAttested(id, attested.output, attested.attestedAt, attested.signature),
        id,
        toBeArray(attested.attestedAt),
        attested.signature,
      );
    },
  };
  return model;
}

/** The stamps `attestWithV28` tries, a second apart: far fewer than the answer may be old (300 s). */
const STAMPS_TRIED = 32;

/**
 * The enclave's answer to `request`, stamped `now` or, until the signature's `v` is 28, a second
 * earlier each time. `v` is 27 or 28 by chance, and the enclave registry's check
 * `v != 27 && v != 28` costs ≈ 20 gas more for 28: the figure is always that costlier case. The
 * enclave signs deterministically (RFC 6979), so a new stamp is what gives another `v`.
 */
async function attestWithV28(
  enclave: Enclave,
  request: Omit<TeeAnswerRequest, "attestedAt">,
  now: number,
): Promise<TeeAnswer> {
  for (let back = 0; back < STAMPS_TRIED; back++) {
    const answer = await enclave.answer({ ...request, attestedAt: now - back });
    if (Signature.from(answer.signature).v === 28) return answer;
  }
  throw new SibylError(
    `the enclave signed ${STAMPS_TRIED} answers to ${request.requestId}, none with v = 28`,
  );
}
