import { expect } from "chai";
import hre, { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { getAddress, keccak256 } from "ethers";

import { type SibylStack, setUpStack, startNode } from "../../src/chain/stack.js";
import { modelConfig, modelIdFor, termsOf, verifierRuntimeCode } from "../../src/chain/models.js";
import { type RequestOptions, requestInference, waitForState } from "../../src/client/client.js";
import { ChainError, FixedPointRangeError, ProofError } from "../../src/errors.js";
import { sibylEnv } from "../../src/env.js";
import { silentLogger } from "../../src/log.js";
import { quantizeInput } from "../../src/model/quantize.js";
import {
  type AnsweredEvent,
  type DeclinedEvent,
  type FailedEvent,
  InferenceNode,
  type NodeOptions,
  RequestState,
  type SettledEvent,
} from "../../src/node/node.js";
import { NodeTracker } from "../../src/node/tracker.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { releaseProverThreads } from "../../src/zk/prover.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";
import { RecordingLogger } from "../helpers/recording-logger.js";

/**
 * InferenceNode against the real precompile, registry and Iris verifier on the in-process
 * network: what it skips, what it refuses, what it never does twice, and what it picks up
 * again after a restart.
 */

const connection = await network.create();
const { ethers } = connection;
const env = await sibylEnv(hre, connection);

/** The node's log prefix for a request or model id. */
const short = (id: string): string => `${id.slice(0, 10)}…`;

/** Every event a node emitted, recorded from before it starts. */
interface Recorded {
  answered: AnsweredEvent[];
  settled: SettledEvent[];
  failed: FailedEvent[];
  declined: DeclinedEvent[];
}

function record(node: InferenceNode): Recorded {
  const r: Recorded = { answered: [], settled: [], failed: [], declined: [] };
  node.on("answered", (e: AnsweredEvent) => r.answered.push(e));
  node.on("settled", (e: SettledEvent) => r.settled.push(e));
  node.on("failed", (e: FailedEvent) => r.failed.push(e));
  node.on("declined", (e: DeclinedEvent) => r.declined.push(e));
  return r;
}

const NOTHING: Recorded = { answered: [], settled: [], failed: [], declined: [] };

describe("node/InferenceNode on the in-process network", function () {
  // a node that never acts should fail a test in a minute, not at the 5-minute mocha default
  this.timeout(60_000);
  let stack: SibylStack;
  let requester: HardhatEthersSigner;
  let nodeSigner: HardhatEthersSigner;
  let unservedModelId: string;
  const running: InferenceNode[] = [];

  const SETOSA = [5.1, 3.5, 1.4, 0.2];
  const iris = () => stack.models.iris;
  const q = () => iris().artifacts.quantized;

  before(async function () {
    stack = await setUpStack(env, { modelPaths: [IRIS_MODEL_PATH], log: silentLogger });
    // accounts no other test file uses, so this node's events and nonces are its own
    const signers = await ethers.getSigners();
    requester = signers[12];
    nodeSigner = signers[13];
    const precompile = stack.precompile.connect(nodeSigner);
    if (!(await precompile.nodeOf(nodeSigner.address)).registered)
      await (await precompile.registerNode({ value: ethers.parseEther("2") })).wait();

    // A second registration of the same build, under other terms (so another id), that no
    // node in this file serves.
    const code = await verifierRuntimeCode(env, iris().artifacts);
    const config = modelConfig(iris().artifacts, termsOf({ settlementWindow: 601n }));
    const owner = signers[0];
    unservedModelId = modelIdFor(getAddress(owner.address), keccak256(code), config);
    if (!(await stack.registry.isActive(unservedModelId)))
      await (await stack.registry.connect(owner).register(config, code, "unserved")).wait();
  });

  afterEach(async function () {
    for (const node of running.splice(0)) await node.stop();
  });

  after(releaseProverThreads);

  /** A node for Iris with its events recorded from before it starts. */
  async function irisNode(
    log: RecordingLogger,
    fromBlock: number,
    opts: Partial<NodeOptions> = {},
  ): Promise<[InferenceNode, Recorded]> {
    const node = new InferenceNode({
      precompile: stack.precompile.connect(nodeSigner),
      models: [{ modelId: iris().modelId, artifacts: iris().artifacts }],
      fromBlock,
      pollMs: 20,
      log,
      ...opts,
    });
    const events = record(node);
    running.push(node);
    await node.start();
    return [node, events];
  }

  /** A request from the requester EOA, with the fee the registry asks (`feeFor`). */
  async function request(modelId: string, input: bigint[], opts: RequestOptions = {}) {
    return requestInference(stack.precompile.connect(requester), modelId, input, opts);
  }

  async function countEvents(requestId: string) {
    const p = stack.precompile;
    return {
      answered: (await p.queryFilter(p.filters.InferenceAnswered(requestId))).length,
      settled: (await p.queryFilter(p.filters.InferenceSettled(requestId))).length,
    };
  }

  it("skips a request for a model it does not serve, and leaves it Requested", async function () {
    const log = new RecordingLogger();
    const node = await startNode(stack, { signer: nodeSigner, serve: ["iris"], pollMs: 20, log });
    running.push(node);
    const events = record(node);
    const { requestId } = await request(unservedModelId, quantizeInput(q(), SETOSA));

    const line = await log.waitFor(`[${short(requestId)}]`);
    expect(line).to.equal(
      `[${short(requestId)}] model ${short(unservedModelId)} is not served by this node; skipping`,
    );
    await node.idle();
    expect(events).to.deep.equal(NOTHING);
    expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Requested);
    expect(await countEvents(requestId)).to.deep.equal({ answered: 0, settled: 0 });
  });

  it("does not answer an input whose activations overflow: emits 'failed' at 'answer' and logs the request", async function () {
    const log = new RecordingLogger();
    const node = await startNode(stack, { signer: nodeSigner, serve: ["iris"], pollMs: 20, log });
    running.push(node);
    const events = record(node);
    const failed = new Promise<FailedEvent>((resolve) => node.once("failed", resolve));
    const max = (1n << 23n) - 1n; // a valid 24-bit input, accepted on-chain
    const { requestId } = await request(iris().modelId, [max, max, max, max]);

    const f = await failed;
    expect(f.requestId).to.equal(requestId);
    expect(f.stage).to.equal("answer");
    expect(f.error).to.be.instanceOf(FixedPointRangeError);
    expect(f.error.message).to.contain("activation overflow in layer 0 (dense)");
    const errors = log.messages("error");
    expect(errors).to.have.length(1);
    expect(errors[0]).to.contain(`[${short(requestId)}] answer failed: activation overflow`);
    await node.idle();
    expect(events.answered).to.deep.equal([]);
    expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Requested);
    expect(await countEvents(requestId)).to.deep.equal({ answered: 0, settled: 0 });
  });

  it("a restarted node replaying old blocks does not answer or settle a settled request again", async function () {
    const start = await ethers.provider.getBlockNumber();
    const [first] = await irisNode(new RecordingLogger(), start);
    const tracker = new NodeTracker(first);
    const { requestId, receipt } = await request(iris().modelId, quantizeInput(q(), SETOSA));
    await tracker.waitSettled(requestId, 30_000);
    await first.stop();
    expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Settled);
    const nonce = await ethers.provider.getTransactionCount(nodeSigner.address);

    // same signer, a fresh process: it sees the request again from the block it was made in
    const log = new RecordingLogger();
    const [second, events] = await irisNode(log, receipt.blockNumber);
    await log.waitFor(`[${short(requestId)}] already answered or closed; skipping`);
    await second.idle();
    expect(events).to.deep.equal(NOTHING);
    expect(await ethers.provider.getTransactionCount(nodeSigner.address)).to.equal(nonce);
    expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Settled);
    expect(await countEvents(requestId)).to.deep.equal({ answered: 1, settled: 1 });
  });

  it("after a restart, settles its own answer that was left unsettled, without answering again", async function () {
    const input = quantizeInput(q(), SETOSA);
    const { requestId, receipt } = await request(iris().modelId, input);
    const output = runQuantized(q(), input).output;
    await (await stack.precompile.connect(nodeSigner).answer(requestId, output)).wait();
    expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Answered);

    const log = new RecordingLogger();
    const node = new InferenceNode({
      precompile: stack.precompile.connect(nodeSigner),
      models: [{ modelId: iris().modelId, artifacts: iris().artifacts }],
      fromBlock: receipt.blockNumber,
      pollMs: 20,
      log,
    });
    running.push(node);
    const tracker = new NodeTracker(node);
    const events = record(node);
    await node.start();

    const settled = await tracker.waitSettled(requestId, 30_000);
    expect(log.messages("info")).to.include(`[${short(requestId)}] recovered an unsettled answer; proving`);
    expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Settled);
    expect(await stack.precompile.outputOf(requestId)).to.deep.equal(output);
    const tx = await ethers.provider.getTransaction(settled.txHash);
    expect(tx?.from).to.equal(nodeSigner.address);
    await node.idle();
    expect(events.answered).to.deep.equal([]);
    expect(events.failed).to.deep.equal([]);
    expect(await countEvents(requestId)).to.deep.equal({ answered: 1, settled: 1 });
  });

  it("after a restart, reports an unsettled answer it cannot prove as failed at 'prove'", async function () {
    const input = quantizeInput(q(), SETOSA);
    const { requestId, receipt } = await request(iris().modelId, input);
    const honest = runQuantized(q(), input).output;
    const lie = [(honest[0] + 1n) % 3n];
    await (await stack.precompile.connect(nodeSigner).answer(requestId, lie)).wait();

    const log = new RecordingLogger();
    // circom's witness calculator prints the failed constraint to the console; keep the run quiet
    const { log: consoleLog, error: consoleError } = console;
    console.log = console.error = () => {};
    let node: InferenceNode;
    let events: Recorded;
    let failure: FailedEvent;
    try {
      [node, events] = await irisNode(log, receipt.blockNumber);
      failure = await new Promise<FailedEvent>((resolve) => {
        const hit = events.failed.find((f) => f.requestId === requestId);
        if (hit) resolve(hit);
        else node.on("failed", (f: FailedEvent) => f.requestId === requestId && resolve(f));
      });
    } finally {
      console.log = consoleLog;
      console.error = consoleError;
    }
    expect(failure.stage).to.equal("prove");
    expect(failure.error).to.be.instanceOf(ProofError);
    expect(log.messages("error").some((m) => m.startsWith(`[${short(requestId)}] prove failed:`))).to.equal(
      true,
    );
    await node.idle();
    expect(events.settled).to.deep.equal([]);
    expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Answered);
  });
});

describe("client/waitForState", function () {
  let stack: SibylStack;

  before(async function () {
    stack = await setUpStack(env, { modelPaths: [IRIS_MODEL_PATH], log: silentLogger });
  });

  async function unansweredRequest(): Promise<string> {
    const requester = (await ethers.getSigners())[12];
    const modelId = stack.models.iris.modelId;
    const input = quantizeInput(stack.models.iris.artifacts.quantized, [5.1, 3.5, 1.4, 0.2]);
    return (await requestInference(stack.precompile.connect(requester), modelId, input)).requestId;
  }

  it("returns the state at once when the request is already in one of the wanted states", async function () {
    const requestId = await unansweredRequest();
    expect(
      await waitForState(stack.precompile, requestId, [RequestState.Answered, RequestState.Requested], {
        timeoutMs: 1_000,
      }),
    ).to.equal(RequestState.Requested);
  });

  it("times out with a ChainError naming the current state", async function () {
    const requestId = await unansweredRequest();
    let caught: unknown;
    try {
      await waitForState(stack.precompile, requestId, [RequestState.Settled], { timeoutMs: 150, pollMs: 30 });
    } catch (e) {
      caught = e;
    }
    expect(caught).to.be.instanceOf(ChainError);
    const err = caught as ChainError;
    expect(err.message).to.contain(`request ${requestId} is still Requested after 150 ms`);
    expect(err.hint).to.equal("is a node running for this model (npx hardhat sibyl:node)?");
  });
});
