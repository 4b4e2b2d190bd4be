import { expect } from "chai";
import hre, { network } from "hardhat";
import type { EdrNetworkHDAccountsConfig } from "hardhat/types/config";
import type { JsonRpcServer, NetworkConnection } from "hardhat/types/network";
import type { HardhatEthers, HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { HDNodeWallet, JsonRpcProvider, Transaction } from "ethers";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { type SibylStack, setUpStack } from "../../src/chain/stack.js";
import { requestInference } from "../../src/client/client.js";
import { sibylEnv } from "../../src/env.js";
import { silentLogger } from "../../src/log.js";
import { quantizeInput } from "../../src/model/quantize.js";
import {
  type AnsweredEvent,
  type FailedEvent,
  InferenceNode,
  type NodeOptions,
  RequestState,
  type SettledEvent,
} from "../../src/node/node.js";
import { publishedForm, resolvePolicy } from "../../src/node/policy.js";
import { NodeTracker } from "../../src/node/tracker.js";
import {
  type CircuitInput,
  type ProofResult,
  type Prover,
  SnarkjsProver,
  releaseProverThreads,
} from "../../src/zk/prover.js";
import { InferencePrecompile__factory } from "../../typechain-types/index.js";
import { FaultyRpc, type RpcCall } from "../helpers/faulty-rpc.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";
import { RecordingLogger } from "../helpers/recording-logger.js";

/**
 * InferenceNode behind a JSON-RPC endpoint that fails: an in-process chain is served over
 * HTTP on 127.0.0.1 (the server `npx hardhat node` runs; this test reaches it over HTTP too,
 * as the `localhost` network), and the node reaches it only
 * through a fault-injecting proxy, as a remote node with its own key would. Whatever the
 * proxy does, every request must end Settled exactly once, by exactly one answer and one
 * settlement transaction of the node.
 */

/** The node's log prefix for a request id. */
const short = (id: string): string => `${id.slice(0, 10)}…`;

/** Accounts no other test file uses, so this node's nonces are its own. */
const NODE_ACCOUNT = 17;
const REQUESTER_ACCOUNT = 18;

const FEATURES = [
  [5.1, 3.5, 1.4, 0.2],
  [6.3, 3.3, 6.0, 2.5],
  [5.9, 3.0, 4.2, 1.5],
];

/** A prover that counts the proofs it makes. */
class CountingProver implements Prover {
  proofs = 0;
  constructor(private readonly inner: Prover) {}
  prove(input: CircuitInput): Promise<ProofResult> {
    this.proofs++;
    return this.inner.prove(input);
  }
}

interface Recorded {
  answered: AnsweredEvent[];
  settled: SettledEvent[];
  failed: FailedEvent[];
}

describe("node/InferenceNode behind a failing RPC endpoint", function () {
  this.timeout(90_000);
  let stack: SibylStack;
  let server: JsonRpcServer;
  let upstream: string;
  let connection: NetworkConnection;
  let ethers: HardhatEthers;
  let requester: HardhatEthersSigner;
  let nodeKey: HDNodeWallet;
  let fee: bigint;
  let proxy: FaultyRpc;
  const providers: JsonRpcProvider[] = [];
  const running: InferenceNode[] = [];
  /** the running node's log, printed when a test fails: it says which call broke what */
  let nodeLog: RecordingLogger | undefined;

  const iris = () => stack.models.iris;

  before(async function () {
    // a chain of the in-process kind ("default"), served over HTTP as `npx hardhat node` serves it
    server = await network.createServer("default", "127.0.0.1", 0);
    const { port } = await server.listen();
    upstream = `http://127.0.0.1:${port}`;
    connection = await network.create({ network: "localhost", override: { url: upstream } });
    ethers = connection.ethers;
    stack = await setUpStack(await sibylEnv(hre, connection), {
      modelPaths: [IRIS_MODEL_PATH],
      log: silentLogger,
    });

    const signers = await ethers.getSigners();
    requester = signers[REQUESTER_ACCOUNT];
    const accounts = hre.config.networks.default.accounts as EdrNetworkHDAccountsConfig;
    nodeKey = HDNodeWallet.fromPhrase(
      await accounts.mnemonic.get(),
      await accounts.passphrase.get(),
      `${accounts.path}/${accounts.initialIndex + NODE_ACCOUNT}`,
    );
    expect(nodeKey.address).to.equal(signers[NODE_ACCOUNT].address);
    const asNode = stack.precompile.connect(signers[NODE_ACCOUNT]);
    if (!(await asNode.nodeOf(nodeKey.address)).registered)
      await (await asNode.registerNode({ value: ethers.parseEther("5") })).wait();
    // the node's default policy, published before any test counts the node's transactions
    const { minFee, maxCallbackGasLimit, maxStake } = publishedForm(resolvePolicy());
    await (await asNode.setNodePolicy(minFee, maxCallbackGasLimit, maxStake)).wait();
    fee = await stack.registry.feeFor(iris().modelId, 0);
  });

  beforeEach(async function () {
    proxy = await FaultyRpc.start(upstream);
  });

  afterEach(async function () {
    if (this.currentTest?.state === "failed")
      for (const l of nodeLog?.lines ?? []) console.log(`    node ${l.level}: ${l.msg}`);
    for (const node of running.splice(0)) await node.stop();
    for (const provider of providers.splice(0)) provider.destroy();
    await proxy.close();
  });

  after(async function () {
    await connection?.close();
    await server?.close();
    await releaseProverThreads();
  });

  /** A node for Iris that reaches the chain only through the proxy, signing with its own key. */
  async function nodeBehindProxy(
    log: RecordingLogger,
    { prover, ...opts }: Partial<NodeOptions> & { prover?: Prover } = {},
  ): Promise<{ node: InferenceNode; tracker: NodeTracker; events: Recorded }> {
    const provider = new JsonRpcProvider(proxy.url, 31337, {
      staticNetwork: true,
      pollingInterval: 50,
      cacheTimeout: -1, // every read asks the chain: a cached state would hide what the test checks
      batchMaxCount: 1, // one call per HTTP request, so that each rule hits exactly the calls it names
    });
    providers.push(provider);
    const node = new InferenceNode({
      precompile: InferencePrecompile__factory.connect(INFERENCE_ADDRESS, nodeKey.connect(provider)),
      models: [{ modelId: iris().modelId, artifacts: iris().artifacts, prover }],
      // from the next block: an answer an earlier test left unsettled is not this test's business
      fromBlock: (await ethers.provider.getBlockNumber()) + 1,
      pollMs: 50,
      backoffMs: 20,
      maxBackoffMs: 200,
      retryAfterMs: 200,
      log,
      ...opts,
    });
    nodeLog = log;
    const events: Recorded = { answered: [], settled: [], failed: [] };
    node.on("answered", (e: AnsweredEvent) => events.answered.push(e));
    node.on("settled", (e: SettledEvent) => events.settled.push(e));
    node.on("failed", (e: FailedEvent) => events.failed.push(e));
    const tracker = new NodeTracker(node);
    running.push(node);
    await node.start();
    return { node, tracker, events };
  }

  /** Sends the Iris requests straight to the chain (not through the proxy). */
  async function sendRequests(count = FEATURES.length): Promise<string[]> {
    const ids: string[] = [];
    for (const features of FEATURES.slice(0, count)) {
      const input = quantizeInput(iris().artifacts.quantized, features);
      const { requestId } = await requestInference(
        stack.precompile.connect(requester),
        iris().modelId,
        input,
        {
          fee,
        },
      );
      ids.push(requestId);
    }
    return ids;
  }

  /** The node's transactions mined since `fromBlock`, as [function name, request id, succeeded]. */
  async function nodeTransactions(fromBlock: number): Promise<Array<[string, string, boolean]>> {
    const txs: Array<[string, string, boolean]> = [];
    const latest = await ethers.provider.getBlockNumber();
    for (let n = fromBlock; n <= latest; n++) {
      const block = await ethers.provider.getBlock(n, true);
      for (const tx of block!.prefetchedTransactions) {
        if (tx.from !== nodeKey.address) continue;
        const call = stack.precompile.interface.parseTransaction(tx)!;
        const receipt = await ethers.provider.getTransactionReceipt(tx.hash);
        txs.push([call.name, call.args[0] as string, receipt!.status === 1]);
      }
    }
    return txs;
  }

  /**
   * Every request Settled, by one InferenceAnswered and one InferenceSettled event, and the
   * node's nonce advanced by exactly one answer and one settlement per request, none reverted.
   */
  async function expectSettledExactlyOnce(ids: string[], fromBlock: number, nonceBefore: number) {
    const p = stack.precompile;
    for (const id of ids) {
      expect(await p.stateOf(id), id).to.equal(RequestState.Settled);
      expect(await p.queryFilter(p.filters.InferenceAnswered(id)), `answers of ${id}`).to.have.length(1);
      expect(await p.queryFilter(p.filters.InferenceSettled(id)), `settlements of ${id}`).to.have.length(1);
    }
    const expected = ids.flatMap((id) => [
      ["answer", id, true],
      ["settle", id, true],
    ]);
    expect(await nodeTransactions(fromBlock)).to.have.deep.members(expected);
    expect(await ethers.provider.getTransactionCount(nodeKey.address)).to.equal(nonceBefore + 2 * ids.length);
  }

  /** The node's events: each request answered and settled once, nothing failed. */
  function expectEventsOncePerRequest(events: Recorded, ids: string[]) {
    expect(events.failed.map((f) => `${f.stage}: ${f.error.message}`)).to.deep.equal([]);
    expect(events.answered.map((e) => e.requestId)).to.have.members(ids);
    expect(events.settled.map((e) => e.requestId)).to.have.members(ids);
  }

  async function chainPosition() {
    return {
      fromBlock: (await ethers.provider.getBlockNumber()) + 1,
      nonce: await ethers.provider.getTransactionCount(nodeKey.address),
    };
  }

  /** The request id a raw `answer`/`settle` transaction is for, and the function's name. */
  function decodeRaw(call: RpcCall): { name: string; requestId: string; nonce: number } {
    const tx = Transaction.from(call.params![0] as string);
    const parsed = stack.precompile.interface.parseTransaction({ data: tx.data })!;
    return { name: parsed.name, requestId: parsed.args[0] as string, nonce: tx.nonce };
  }

  it("settles every request exactly once while calls fail with HTTP 500s, JSON-RPC errors and dropped connections", async function () {
    proxy.rules = [
      { methods: ["eth_call"], when: (_, n) => n % 3 === 1, fault: "rpc-error" },
      { methods: ["eth_getTransactionReceipt"], when: (_, n) => n % 2 === 1, fault: "http-500" },
      { methods: ["eth_getLogs", "eth_blockNumber"], when: (_, n) => n % 4 === 0, fault: "drop-request" },
      { methods: ["eth_sendRawTransaction"], when: (_, n) => n % 3 === 1, fault: "rpc-error" },
      {
        methods: ["eth_estimateGas", "eth_getTransactionCount"],
        when: (_, n) => n % 4 === 2,
        fault: "http-500",
      },
    ];
    const before = await chainPosition();
    const log = new RecordingLogger();
    const { tracker, events, node } = await nodeBehindProxy(log);
    const ids = await sendRequests();
    for (const id of ids) await tracker.waitSettled(id, 60_000);
    await node.idle();

    await expectSettledExactlyOnce(ids, before.fromBlock, before.nonce);
    expectEventsOncePerRequest(events, ids);
    // every receipt fetch right after a send failed: each request's answer and settlement
    // were retried, and found on-chain instead of being sent again
    const warnings = log.messages("warn");
    for (const id of ids) {
      expect(
        warnings.some((m) => m.startsWith(`[${short(id)}] answer attempt 1 of 5 failed`)),
        id,
      ).to.equal(true);
      expect(
        warnings.some((m) => m.startsWith(`[${short(id)}] settle attempt 1 of 5 failed`)),
        id,
      ).to.equal(true);
      expect(log.messages("info")).to.include.members([
        `[${short(id)}] found its answer transaction ${events.answered.find((e) => e.requestId === id)!.txHash} on-chain; not sending again`,
        `[${short(id)}] found its settle transaction ${events.settled.find((e) => e.requestId === id)!.txHash} on-chain; not sending again`,
      ]);
    }
    expect(
      warnings.some((m) =>
        / reading state failed \(.*injected fault: internal error.*\); retry 1 of 4/.test(m),
      ),
    ).to.equal(true);
    expect(new Set(proxy.injected.map((f) => f.fault))).to.deep.equal(
      new Set(["rpc-error", "http-500", "drop-request"]),
    );
  });

  it("never sends a transaction twice when its response is lost, whether or not it reached the chain", async function () {
    // The first send of every nonce is lost: after it was forwarded (even nonces: it is
    // mined, the node never hears) or before (odd nonces: it never reaches the chain).
    const sentBefore = new Set<number>();
    const firstSendOf = (call: RpcCall, parity: number): boolean => {
      const { nonce } = decodeRaw(call);
      if (nonce % 2 !== parity || sentBefore.has(nonce)) return false;
      sentBefore.add(nonce);
      return true;
    };
    proxy.rules = [
      { methods: ["eth_sendRawTransaction"], when: (call) => firstSendOf(call, 0), fault: "drop-response" },
      { methods: ["eth_sendRawTransaction"], when: (call) => firstSendOf(call, 1), fault: "drop-request" },
    ];
    const before = await chainPosition();
    const log = new RecordingLogger();
    const { tracker, events, node } = await nodeBehindProxy(log);
    const ids = await sendRequests();
    for (const id of ids) await tracker.waitSettled(id, 60_000);
    await node.idle();

    await expectSettledExactlyOnce(ids, before.fromBlock, before.nonce);
    expectEventsOncePerRequest(events, ids);
    const lost = proxy.injected.map((f) => [f.fault, decodeRaw(f).name]);
    expect(lost).to.have.length(2 * ids.length);
    expect(lost.filter(([fault]) => fault === "drop-response")).to.have.length(ids.length);
    // a transaction that landed is found, not sent again
    const found = log.messages("info").filter((m) => / found its (answer|settle) transaction /.test(m));
    expect(found).to.have.length(ids.length);
  });

  it("answers and settles once despite duplicated, re-ordered and re-delivered eth_getLogs results", async function () {
    proxy.logs = { duplicate: true, reverse: true, replayPrevious: true };
    const before = await chainPosition();
    const log = new RecordingLogger();
    const { tracker, events, node } = await nodeBehindProxy(log);
    const ids = await sendRequests();
    for (const id of ids) await tracker.waitSettled(id, 60_000);
    await node.idle();

    await expectSettledExactlyOnce(ids, before.fromBlock, before.nonce);
    expectEventsOncePerRequest(events, ids);
    expect(events.answered).to.have.length(ids.length);
    expect(events.settled).to.have.length(ids.length);
    expect(proxy.calls.get("eth_getLogs")).to.be.greaterThan(1);
  });

  it("sets aside a settlement that outlasts its retries and takes it up again, without proving twice", async function () {
    // the first four attempts to send a settlement never reach the chain: two rounds of two attempts
    let settleSends = 0;
    proxy.rules = [
      {
        methods: ["eth_sendRawTransaction"],
        when: (call) => decodeRaw(call).name === "settle" && ++settleSends <= 4,
        fault: "rpc-error",
      },
    ];
    const a = iris().artifacts;
    const prover = new CountingProver(new SnarkjsProver(a.wasmPath, a.zkeyPath));
    const before = await chainPosition();
    const log = new RecordingLogger();
    const { tracker, events, node } = await nodeBehindProxy(log, { txAttempts: 2, maxRounds: 5, prover });
    const [id] = await sendRequests(1);
    await tracker.waitSettled(id, 60_000);
    await node.idle();

    await expectSettledExactlyOnce([id], before.fromBlock, before.nonce);
    expectEventsOncePerRequest(events, [id]);
    const warnings = log.messages("warn");
    expect(
      warnings.filter((m) => m.startsWith(`[${short(id)}] settle interrupted by RPC failures`)),
    ).to.have.length(2);
    expect(
      log.messages("info").filter((m) => m === `[${short(id)}] taking up its settle again`),
    ).to.have.length(2);
    expect(settleSends).to.equal(5);
    expect(prover.proofs).to.equal(1);
  });

  it("reports a request as failed at 'settle' once its rounds are used up, and leaves it Answered", async function () {
    proxy.rules = [
      {
        methods: ["eth_sendRawTransaction"],
        when: (call) => decodeRaw(call).name === "settle",
        fault: "rpc-error",
      },
    ];
    const log = new RecordingLogger();
    const { events, node } = await nodeBehindProxy(log, { txAttempts: 2, maxRounds: 2 });
    const failed = new Promise<FailedEvent>((resolve) => node.once("failed", resolve));
    const [id] = await sendRequests(1);

    const failure = await failed;
    expect(failure.requestId).to.equal(id);
    expect(failure.stage).to.equal("settle");
    expect(log.messages("error")).to.have.length(1);
    expect(log.messages("error")[0]).to.match(new RegExp(`^\\[${short(id)}\\] settle failed: `));
    await node.idle();
    // two rounds of two attempts, then nothing more
    expect(proxy.injected.filter((f) => f.method === "eth_sendRawTransaction")).to.have.length(4);
    expect(events.settled).to.deep.equal([]);
    expect(await stack.precompile.stateOf(id)).to.equal(RequestState.Answered);
  });

  it("keeps polling through an outage and serves the requests made during it", async function () {
    let outage = true;
    proxy.rules = [{ when: () => outage, fault: "http-500" }];
    const before = await chainPosition();
    const log = new RecordingLogger();
    const { tracker, events, node } = await nodeBehindProxy(log);
    const ids = await sendRequests(2);
    await log.waitFor("poll failed");
    outage = false;
    for (const id of ids) await tracker.waitSettled(id, 60_000);
    await node.idle();

    await expectSettledExactlyOnce(ids, before.fromBlock, before.nonce);
    expectEventsOncePerRequest(events, ids);
    expect(log.messages("warn")).to.satisfy((lines: string[]) =>
      lines.some((m) => m.startsWith("looking for this node's unsettled answers failed")),
    );
  });
});
