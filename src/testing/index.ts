import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { NetworkConnection } from "hardhat/types/network";
import { type ContractTransactionReceipt, type Signer, parseEther } from "ethers";

import {
  type SibylStack,
  type StackModel,
  type StartedEnclave,
  type StartedEnclaves,
  setUpStack,
  startEnclaves,
  startNode,
} from "../chain/stack.js";
import type { RegisterOptions } from "../chain/models.js";
import { requestIdFrom, requestInference, waitForState, type RequestOptions } from "../client/client.js";
import { type SibylEnv, sibylEnv } from "../env.js";
import { SibylError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { quantizeInput } from "../model/quantize.js";
import type { InferenceNode } from "../node/node.js";
import { PACKAGE_ROOT } from "../paths.js";
import { modelCid } from "../pipe/cid.js";
import { startInProcessPipe } from "../pipe/inProcess.js";
import type { PipeLayer } from "../pipe/layer.js";
import { RequestState } from "../protocol/state.js";
import { releaseIdleProverThreads } from "../zk/prover.js";
import type { InferencePrecompile, ModelRegistry } from "../../typechain-types/index.js";

export { RequestState } from "../protocol/state.js";

/**
 * Testing a consumer contract against real Sibyl on Hardhat's in-process network: one call
 * (`deploySibyl`) installs the precompile at 0x…F4 and its registry, builds (or reuses) each
 * model, registers it, and starts an in-process node that answers and settles with real
 * Groth16 proofs. The returned testbed has the helpers a consumer's tests need: quantize
 * inputs, the fee to send, wait for answered / settled / final, and drive the trust gap
 * (stop the node, answer without a proof, pass the settlement window, slash).
 */

/** The Iris classifier shipped with the package (4 inputs in cm → class 0, 1 or 2). */
export const IRIS_MODEL = `${PACKAGE_ROOT}/models/iris/model.json`;

export interface DeploySibylOptions {
  /** model files to build and register (default: the Iris model shipped with Sibyl) */
  models?: string[];
  /** registration terms (fee, stake, settlement window …; defaults as `sibyl:register`) */
  terms?: RegisterOptions;
  /** index of the account that runs the node (default 1; account 0 deploys) */
  nodeAccount?: number;
  /** start the node (default true) */
  node?: boolean;
  /** where build and node progress goes (default: silent) */
  log?: Logger;
  /**
   * inference credit deposited for each of the first ten accounts (the node's excepted), which
   * pays the fees of their synchronous calls (default 0.1 ETH; 0 deposits nothing)
   */
  credit?: bigint;
  /**
   * TEE mode: start a local enclave process per model (NOT hardware-backed, under the project's
   * development root CA), register its key on-chain and let the node answer TEE-mode requests
   * with it (default false: starting and registering takes a few seconds per model)
   */
  tee?: boolean;
  /**
   * batch sizes: build each model's batch circuits, register their verifiers and let the node
   * settle answers in batches (docs/batching.md; default none: one proof per request)
   */
  batchSizes?: number[];
  /** how close to its settlement deadline a batched answer stops waiting for its batch (ms) */
  batchMarginMs?: number;
}

export interface SibylTestbed {
  env: SibylEnv;
  precompile: InferencePrecompile;
  registry: ModelRegistry;
  /** by model name (the `name` in its model file) */
  models: Record<string, StackModel>;
  /** the account the node answers and settles from */
  nodeSigner: Signer;
  /** the running node, if any */
  node: InferenceNode | undefined;
  /**
   * the pre-execution layer in front of the connection while the node runs: synchronous calls
   * (`infer`, OpenGradient's `runModelInference`) in transactions sent on this connection work
   */
  pipe: PipeLayer | undefined;
  /** the enclaves answering TEE-mode requests, by model name (with `tee: true`) */
  enclaves: Record<string, StartedEnclave> | undefined;
  /** the content id of a model: what OpenGradient-style contracts pass as `modelCID` */
  modelCid(model?: string): string;
  /** deposits inference credit for `account` with the testbed's node (it pays the fees of its synchronous calls) */
  deposit(account: string, amount: bigint): Promise<void>;
  /** the registered id of a model (default: the only one) */
  modelId(model?: string): string;
  /** real-valued features → the model's fixed-point input vector */
  quantize(values: readonly number[], model?: string): bigint[];
  /** the fee a request must carry for `callbackGasLimit` gas per hook (`ModelRegistry.feeFor`) */
  fee(callbackGasLimit?: number, model?: string): Promise<bigint>;
  /** sends a request from an account (an EOA requester: no hooks) and returns its id */
  request(
    input: readonly bigint[],
    opts?: RequestOptions & { from?: Signer; model?: string },
  ): Promise<string>;
  /** the request id a transaction created (a consumer's call that requested inference) */
  requestIdOf(receipt: ContractTransactionReceipt | null): string;
  /** waits until the request is answered (or later) and returns its output */
  waitAnswered(requestId: string, timeoutMs?: number): Promise<bigint[]>;
  /** waits until the request is settled with a proof; fails if it ends otherwise */
  waitSettled(requestId: string, timeoutMs?: number): Promise<void>;
  /** waits until the request is final (settled, slashed or expired) and returns that state */
  waitFinal(requestId: string, timeoutMs?: number): Promise<RequestState>;
  /** the request's state now */
  stateOf(requestId: string): Promise<RequestState>;
  /** stops the node (answers and proofs in flight finish first): later requests stay unanswered */
  stopNode(): Promise<void>;
  /** starts the node again (it settles what it left unsettled, and answers what waits) */
  startNode(): Promise<void>;
  /** answers from the node's account without ever proving: opens a trust gap (or tells a lie) */
  answerWithoutProof(requestId: string, output: readonly bigint[]): Promise<ContractTransactionReceipt>;
  /** advances the chain's clock past the request's settlement deadline (then anyone may slash) */
  passSettlementWindow(requestId: string): Promise<void>;
  /** slashes an answer left unsettled past its deadline, from `by` (default the deployer) */
  slash(requestId: string, by?: Signer): Promise<ContractTransactionReceipt>;
  /** stops the node and the enclaves, and ends the prover's threads; call it in `after` */
  close(): Promise<void>;
}

/**
 * Installs Sibyl on the connection's chain (a Hardhat network: the in-process one, or
 * `hardhat node`), builds and registers the models, and starts a node.
 *
 * ```ts
 * const connection = await network.create();
 * const sibyl = await deploySibyl(hre, connection);
 * ```
 */
export async function deploySibyl(
  hre: HardhatRuntimeEnvironment,
  connection: NetworkConnection,
  opts: DeploySibylOptions = {},
): Promise<SibylTestbed> {
  const env = await sibylEnv(hre, connection);
  const log = opts.log ?? silentLogger;
  const stack = await setUpStack(env, {
    modelPaths: opts.models ?? [IRIS_MODEL],
    log,
    register: opts.terms,
    batchSizes: opts.batchSizes,
  });
  const signers = await env.ethers.getSigners();
  const nodeSigner = signers[opts.nodeAccount ?? 1];
  if (!nodeSigner) throw new SibylError(`no account #${opts.nodeAccount} on network "${env.networkName}"`);
  const credit = opts.credit ?? DEFAULT_CREDIT;
  if (credit > 0n)
    for (const account of signers.slice(0, 10))
      if (account !== nodeSigner)
        await (
          await stack.precompile.depositFor(account.address, await nodeSigner.getAddress(), { value: credit })
        ).wait();

  const tee = opts.tee
    ? await startEnclaves(stack.precompile, Object.values(stack.models), {
        admin: signers[0],
        owner: signers[0],
        operator: nodeSigner,
        log,
      })
    : undefined;
  const enclaves = tee
    ? Object.fromEntries(Object.entries(tee.enclaves).map(([name, e]) => [name, e.enclave]))
    : undefined;

  let node: InferenceNode | undefined;
  let pipe: PipeLayer | undefined;
  let detach: (() => void) | undefined;
  const run = async (fromBlock?: number) => {
    node = await startNode(stack, {
      signer: nodeSigner,
      log,
      pollMs: 20,
      fromBlock,
      enclaves,
      ...(opts.batchMarginMs === undefined ? {} : { batchMarginMs: opts.batchMarginMs }),
    });
    ({ layer: pipe, detach } = startInProcessPipe(env, stack.precompile, node, log));
  };
  if (opts.node !== false) await run();
  return testbed(
    env,
    stack,
    nodeSigner,
    signers[0],
    tee,
    () => ({ node, pipe }),
    async (next) => {
      if (next && !node) await run(0);
      if (!next && node) {
        detach?.();
        await node.stop();
        node = pipe = detach = undefined;
      }
    },
  );
}

/** Credit `deploySibyl` deposits for each test account unless told otherwise. */
export const DEFAULT_CREDIT = parseEther("0.1");

function testbed(
  env: SibylEnv,
  stack: SibylStack,
  nodeSigner: Signer,
  deployer: Signer,
  tee: StartedEnclaves | undefined,
  current: () => { node: InferenceNode | undefined; pipe: PipeLayer | undefined },
  setRunning: (running: boolean) => Promise<void>,
): SibylTestbed {
  const { precompile, registry, models } = stack;
  const model = (name?: string): StackModel => {
    const names = Object.keys(models);
    const key = name ?? (names.length === 1 ? names[0] : undefined);
    if (key === undefined)
      throw new SibylError(`${names.length} models are deployed (${names.join(", ")})`, "name the model");
    const m = models[key];
    if (!m) throw new SibylError(`no model "${key}" in this testbed`, `deployed: ${names.join(", ")}`);
    return m;
  };
  const stateOf = async (id: string) => Number(await precompile.stateOf(id)) as RequestState;
  const bed: SibylTestbed = {
    env,
    precompile,
    registry,
    models,
    nodeSigner,
    get node() {
      return current().node;
    },
    get pipe() {
      return current().pipe;
    },
    enclaves: tee?.enclaves,
    modelCid: (name) => modelCid(model(name).modelId),
    async deposit(account, amount) {
      await (
        await precompile
          .connect(deployer)
          .depositFor(account, await nodeSigner.getAddress(), { value: amount })
      ).wait();
    },
    modelId: (name) => model(name).modelId,
    quantize: (values, name) => quantizeInput(model(name).artifacts.quantized, [...values]),
    fee: (gas = 0, name) => registry.feeFor(model(name).modelId, gas),
    async request(input, o = {}) {
      const from = o.from ?? deployer;
      const sent = await requestInference(precompile.connect(from), model(o.model).modelId, input, o);
      return sent.requestId;
    },
    requestIdOf(receipt) {
      if (!receipt) throw new SibylError("no receipt: the transaction was not mined");
      return requestIdFrom(precompile, receipt);
    },
    async waitAnswered(id, timeoutMs) {
      const s = await waitForState(
        precompile,
        id,
        [RequestState.Answered, RequestState.Settled, RequestState.Slashed, RequestState.Expired],
        { timeoutMs, pollMs: 20 },
      );
      if (s === RequestState.Expired) throw new SibylError(`request ${id} expired unanswered`);
      return [...(await precompile.outputOf(id))];
    },
    async waitSettled(id, timeoutMs) {
      const s = await bed.waitFinal(id, timeoutMs);
      if (s !== RequestState.Settled)
        throw new SibylError(`request ${id} ended ${RequestState[s]}, not Settled`);
    },
    waitFinal: (id, timeoutMs) =>
      waitForState(precompile, id, [RequestState.Settled, RequestState.Slashed, RequestState.Expired], {
        timeoutMs,
        pollMs: 20,
      }),
    stateOf,
    stopNode: () => setRunning(false),
    startNode: () => setRunning(true),
    async answerWithoutProof(id, output) {
      const tx = await precompile.connect(nodeSigner).answer(id, [...output]);
      return (await tx.wait()) as ContractTransactionReceipt;
    },
    async passSettlementWindow(id) {
      const deadline = await precompile.settlementDeadline(id);
      const block = await env.ethers.provider.getBlock("latest");
      const wait = Number(deadline) - (block?.timestamp ?? 0) + 1;
      if (wait > 0) await env.ethers.provider.send("evm_increaseTime", [wait]);
      await env.ethers.provider.send("evm_mine", []);
    },
    async slash(id, by) {
      const tx = await precompile.connect(by ?? deployer).slash(id);
      return (await tx.wait()) as ContractTransactionReceipt;
    },
    async close() {
      await setRunning(false);
      await tee?.close();
      await releaseIdleProverThreads(); // snarkjs's threads would keep mocha's process alive
    },
  };
  return bed;
}
