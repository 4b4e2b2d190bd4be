import { expect } from "chai";
import hre, { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { keccak256, parseEther } from "ethers";

import { modelConfig, modelIdFor, termsOf, verifierRuntimeCode } from "../../src/chain/models.js";
import { checkServable } from "../../src/chain/registration.js";
import { type SibylStack, setUpStack, startNode } from "../../src/chain/stack.js";
import { type RequestOptions, requestInference } from "../../src/client/client.js";
import { explainRequest } from "../../src/client/status.js";
import { ChainError } from "../../src/errors.js";
import { sibylEnv } from "../../src/env.js";
import { silentLogger } from "../../src/log.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { type DeclinedEvent, type InferenceNode, RequestState } from "../../src/node/node.js";
import { NO_STAKE_LIMIT, formatEth } from "../../src/node/policy.js";
import { NodeTracker } from "../../src/node/tracker.js";
import { releaseProverThreads } from "../../src/zk/prover.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";
import { errorOf } from "../helpers/errors.js";
import { RecordingLogger } from "../helpers/recording-logger.js";

/**
 * A node's policy on the in-process network, with the real precompile and Iris verifier: it
 * is published at start, a request outside it (or beyond the node's free bond) is declined
 * without a transaction and stays visible, and sibyl:status says why nobody answers it.
 */

const connection = await network.create();
const { ethers } = connection;
const env = await sibylEnv(hre, connection);

const short = (id: string): string => `${id.slice(0, 10)}…`;
const SETOSA = [5.1, 3.5, 1.4, 0.2];

describe("node/InferenceNode policy on the in-process network", function () {
  this.timeout(60_000);
  let stack: SibylStack;
  let requester: HardhatEthersSigner;
  let nodeSigner: HardhatEthersSigner;
  let otherNode: HardhatEthersSigner;
  const running: InferenceNode[] = [];

  const iris = () => stack.models.iris;
  const input = () => quantizeInput(iris().artifacts.quantized, SETOSA);

  before(async function () {
    // "no node will answer" is about every registered node: the only nodes are this file's, as
    // this file has a chain of its own (`connection`)
    stack = await setUpStack(env, { modelPaths: [IRIS_MODEL_PATH], log: silentLogger });
    const signers = await ethers.getSigners();
    [requester, nodeSigner, otherNode] = [signers[19], signers[10], signers[11]];
  });

  afterEach(async function () {
    for (const node of running.splice(0)) await node.stop();
  });

  after(releaseProverThreads);

  async function irisNode(log: RecordingLogger, policy?: Parameters<typeof startNode>[1]["policy"]) {
    const node = await startNode(stack, {
      signer: nodeSigner,
      bond: parseEther("2"),
      serve: ["iris"],
      pollMs: 20,
      log,
      policy,
    });
    running.push(node);
    const declined: DeclinedEvent[] = [];
    node.on("declined", (e: DeclinedEvent) => declined.push(e));
    return { node, declined, tracker: new NodeTracker(node) };
  }

  async function request(opts: RequestOptions = {}) {
    return requestInference(stack.precompile.connect(requester), iris().modelId, input(), opts);
  }

  it("publishes its policy at start, and sends nothing when the chain already holds it", async function () {
    const policy = {
      minFee: parseEther("0.0005"),
      maxCallbackGasLimit: 300_000,
      maxStake: parseEther("0.5"),
    };
    const log = new RecordingLogger();
    const first = await irisNode(log, policy);
    expect(log.messages("info")).to.include(
      "policy: minimum fee 0.0005 ETH, callback gas up to 300,000 per hook, stake up to 0.5 ETH",
    );
    expect(log.messages("info").some((m) => m.startsWith("published its policy on-chain"))).to.equal(true);
    const published = await stack.precompile.nodePolicyOf(nodeSigner.address);
    expect([...published]).to.deep.equal([policy.minFee, 300_000n, policy.maxStake, true]);
    await first.node.stop();

    const nonce = await ethers.provider.getTransactionCount(nodeSigner.address);
    const again = new RecordingLogger();
    await irisNode(again, policy);
    expect(again.messages("info").some((m) => m.startsWith("published its policy"))).to.equal(false);
    expect(await ethers.provider.getTransactionCount(nodeSigner.address)).to.equal(nonce);

    // the default policy: no stake limit is published as the uint88 maximum
    await running.pop()!.stop();
    await irisNode(new RecordingLogger());
    const defaults = await stack.precompile.nodePolicyOf(nodeSigner.address);
    expect([defaults.minFee, defaults.maxCallbackGasLimit, defaults.maxStake]).to.deep.equal([
      0n,
      1_000_000n,
      NO_STAKE_LIMIT,
    ]);
  });

  it("declines callback gas above its limit without a transaction, and sibyl:status says no node will answer", async function () {
    const log = new RecordingLogger();
    const { node, declined, tracker } = await irisNode(log);
    const nonce = await ethers.provider.getTransactionCount(nodeSigner.address);
    const { requestId } = await request({ callbackGasLimit: 5_000_000 });

    expect(await log.waitFor(`[${short(requestId)}] declined`)).to.equal(
      `[${short(requestId)}] declined: callback gas 5,000,000 above its limit 1,000,000`,
    );
    await node.idle();
    expect(declined).to.deep.equal([
      {
        requestId,
        modelId: iris().modelId,
        reason: "callback-gas",
        detail: "callback gas 5,000,000 above its limit 1,000,000",
      },
    ]);
    expect(log.messages("error")).to.deep.equal([]); // declined is not failed
    expect(await ethers.provider.getTransactionCount(nodeSigner.address)).to.equal(nonce);
    expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Requested);
    const waited = await tracker.waitAnswered(requestId, 1_000).then(
      () => "answered",
      (e: Error) => e.message,
    );
    expect(waited).to.equal(
      `the node declined request ${requestId}: callback gas 5,000,000 above its limit 1,000,000`,
    );

    const status = await explainRequest(stack.precompile, requestId);
    expect(status.willingNodes).to.deep.equal([]);
    expect(status.declines).to.deep.equal([
      {
        node: nodeSigner.address,
        reason: "callback-gas",
        message: "callback gas 5,000,000 above its limit 1,000,000",
      },
    ]);
    const pending = status.lines.find((l) => l.startsWith("  pending "))!;
    expect(pending).to.match(
      /^ {2}pending {4}no node will answer: callback gas 5,000,000 above every node's limit \(1,000,000\); it can be expired by anyone after /,
    );
    expect(status.lines).to.include("  nodes      0 of 1 registered node would answer it now");

    // within its policy, the same node answers and settles
    const ok = await request({ callbackGasLimit: 1_000_000 });
    await tracker.waitSettled(ok.requestId, 30_000);
    expect(await stack.precompile.stateOf(ok.requestId)).to.equal(RequestState.Settled);
    expect(declined).to.have.length(1);
  });

  it("declines a stake its free bond cannot back with the minimum bond kept free", async function () {
    const log = new RecordingLogger();
    const { node, declined } = await irisNode(log);
    const minBond = await stack.precompile.minBond();
    const { bond, locked } = await stack.precompile.nodeOf(nodeSigner.address);
    const free = bond - locked;
    const nonce = await ethers.provider.getTransactionCount(nodeSigner.address);
    // the least stake covering this value is above it: one wei more than the node can lock
    const { requestId } = await request({ valueAtRisk: free - minBond });
    const { stake } = await stack.precompile.getRequest(requestId);
    expect(stake > free - minBond).to.equal(true);

    await log.waitFor(`[${short(requestId)}] declined`);
    await node.idle();
    const detail = `free bond ${formatEth(free)} below stake ${formatEth(stake)} + minimum bond ${formatEth(minBond)}`;
    expect(declined).to.deep.equal([{ requestId, modelId: iris().modelId, reason: "bond", detail }]);
    expect(log.messages("info")).to.include(`[${short(requestId)}] declined: ${detail}`);
    expect(await ethers.provider.getTransactionCount(nodeSigner.address)).to.equal(nonce);
    expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Requested);
    // the precompile agrees: it would refuse that answer
    await expect(
      stack.precompile.connect(nodeSigner).answer.staticCall(requestId, [0n]),
    ).to.be.revertedWithCustomError(stack.precompile, "Inference__InsufficientBond");
  });

  it("sibyl:status lists each node's own reason when they differ, and a node that published no policy", async function () {
    // a stake the second node's 1.5 ETH bond cannot back with the minimum bond kept free
    const { requestId } = await request({ callbackGasLimit: 5_000_000, valueAtRisk: parseEther("0.5") });
    const precompile = stack.precompile.connect(otherNode);
    await (await precompile.registerNode({ value: parseEther("1.5") })).wait();
    const status = await explainRequest(stack.precompile, requestId);
    const minBond = await stack.precompile.minBond();
    const { stake } = await stack.precompile.getRequest(requestId);
    const poor = `free bond 1.5 ETH below stake ${formatEth(stake)} + minimum bond ${formatEth(minBond)}`;

    expect(status.declines).to.deep.equal([
      {
        node: nodeSigner.address,
        reason: "callback-gas",
        message: "callback gas 5,000,000 above its limit 1,000,000",
      },
      { node: otherNode.address, reason: "bond", message: poor },
    ]);
    expect(status.lines).to.include(
      `             ${otherNode.address} declines: ${poor} (published no policy: taken as any fee and callback gas, bond permitting)`,
    );
    expect(status.lines.find((l) => l.startsWith("  pending "))).to.contain(
      `no node will answer: ${nodeSigner.address}: callback gas 5,000,000 above its limit 1,000,000; ` +
        `${otherNode.address}: ${poor}; it can be expired`,
    );

    // once the second node can back the stake, it would answer (it published no limit on gas)
    await (await precompile.registerNode({ value: parseEther("1") })).wait();
    const after = await explainRequest(stack.precompile, requestId);
    expect(after.willingNodes).to.deep.equal([otherNode.address]);
    expect(after.lines.find((l) => l.startsWith("  pending "))).to.match(
      /^ {2}pending {4}waiting for an answer: /,
    );
  });

  it("answers a request it declined for want of free bond once settlements or a top-up free enough", async function () {
    const log = new RecordingLogger();
    const node = await startNode(stack, {
      signer: nodeSigner,
      serve: ["iris"],
      pollMs: 20,
      retryAfterMs: 100,
      log,
    });
    running.push(node);
    const tracker = new NodeTracker(node);
    const minBond = await stack.precompile.minBond();
    const { bond, locked } = await stack.precompile.nodeOf(nodeSigner.address);
    const { requestId } = await request({ valueAtRisk: bond - locked - minBond });
    await log.waitFor(`[${short(requestId)}] declined`);
    expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Requested);

    const { stake } = await stack.precompile.getRequest(requestId);
    await (await stack.precompile.connect(nodeSigner).registerNode({ value: stake })).wait();
    await tracker.waitSettled(requestId);
    expect(await stack.precompile.stateOf(requestId)).to.equal(RequestState.Settled);
    expect(log.messages("info").filter((m) => m.startsWith(`[${short(requestId)}] declined`))).to.have.length(
      1,
    );
  });

  it("refuses to serve a registration whose settlement window leaves no time to prove", async function () {
    const [owner] = await ethers.getSigners();
    const artifacts = iris().artifacts;
    const code = await verifierRuntimeCode(env, artifacts);
    const config = modelConfig(artifacts, termsOf({ settlementWindow: 30n }));
    await (await stack.registry.connect(owner).register(config, code, "iris-30s")).wait();
    const modelId = modelIdFor(owner.address, keccak256(code), config);
    const refusal = await errorOf(() => checkServable(stack.registry, artifacts, modelId));
    expect(refusal).to.be.instanceOf(ChainError);
    expect(refusal.message).to.contain(
      `model iris (${modelId}) must be settled within 30 s of each answer, below this node's minimum of 60 s`,
    );
    await checkServable(stack.registry, artifacts, modelId, 30n); // at the minimum it serves
    await checkServable(stack.registry, artifacts, iris().modelId); // the stack's 600 s window
  });
});
