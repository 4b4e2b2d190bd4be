import { expect } from "chai";
import hre, { network } from "hardhat";
import type { EdrNetworkHDAccountsConfig } from "hardhat/types/config";
import type { JsonRpcServer, NetworkConnection, NetworkConnectionParams } from "hardhat/types/network";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { HDNodeWallet, JsonRpcProvider } from "ethers";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { type SibylStack, setUpStack } from "../../src/chain/stack.js";
import { requestInference, waitForState } from "../../src/client/client.js";
import { sibylEnv } from "../../src/env.js";
import { silentLogger } from "../../src/log.js";
import { quantizeInput } from "../../src/model/quantize.js";
import {
  type AnsweredEvent,
  type ChainRestartedEvent,
  type FailedEvent,
  InferenceNode,
  RequestState,
  type SettledEvent,
} from "../../src/node/node.js";
import { publishedForm, resolvePolicy } from "../../src/node/policy.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import {
  type CircuitInput,
  type ProofResult,
  type Prover,
  SnarkjsProver,
  releaseProverThreads,
} from "../../src/zk/prover.js";
import { InferencePrecompile__factory } from "../../typechain-types/index.js";
import { FaultyRpc } from "../helpers/faulty-rpc.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";
import { RecordingLogger } from "../helpers/recording-logger.js";

/**
 * A node whose chain restarts under it, for real: chains served over HTTP (as `npx hardhat
 * node` serves them), Sibyl installed and Iris registered on each, and the node reaching them
 * through one URL (a proxy) that is switched from one chain to another, as a restarted
 * `npx hardhat node` on the same port would be. The node must say so in its log, drop what it
 * had in flight on the old chain, run its start-up path on the new one (publish its policy,
 * settle its unsettled answers) and answer and settle the new chain's requests, even those
 * whose ids the old chain had used.
 */

const NODE_ACCOUNT = 7;
const REQUESTER_ACCOUNT = 8;

const SETOSA = [5.1, 3.5, 1.4, 0.2];
const VIRGINICA = [6.3, 3.3, 6.0, 2.5];
const VERSICOLOR = [5.9, 3.0, 4.2, 1.5];

/** A prover that can be made to wait before proving, and says when a proof is waiting. */
class GatedProver implements Prover {
  proofs = 0;
  private gate?: Promise<void>;
  private open?: () => void;
  private waiting: Array<() => void> = [];
  private waitingCount = 0;

  constructor(private readonly inner: Prover) {}

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  /** Resolves once a proof waits at the gate. */
  async aProofIsWaiting(): Promise<void> {
    if (this.waitingCount > 0) return;
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  async prove(input: CircuitInput): Promise<ProofResult> {
    this.proofs++;
    if (this.gate) {
      const gate = this.gate;
      this.waitingCount++;
      for (const w of this.waiting.splice(0)) w();
      await gate;
      this.waitingCount--;
    }
    return this.inner.prove(input);
  }
}

/** A chain served over HTTP with Sibyl installed, Iris registered and the node account bonded. */
interface ServedChain {
  server: JsonRpcServer;
  url: string;
  connection: NetworkConnection;
  stack: SibylStack;
  requester: HardhatEthersSigner;
  /** the node account, as the chain's own unlocked account (for setting the scene) */
  nodeSigner: HardhatEthersSigner;
  genesis: string;
}

interface Recorded {
  answered: AnsweredEvent[];
  settled: SettledEvent[];
  failed: FailedEvent[];
  restarted: ChainRestartedEvent[];
}

describe("node/InferenceNode: the chain restarts under it", function () {
  this.timeout(180_000);
  const chains: ServedChain[] = [];
  let a: ServedChain;
  let b: ServedChain;
  let c: ServedChain;
  let nodeKey: HDNodeWallet;
  let proxy: FaultyRpc;
  const providers: JsonRpcProvider[] = [];
  const running: InferenceNode[] = [];
  const gated: GatedProver[] = [];
  let nodeLog: RecordingLogger | undefined;

  async function serve(
    params: NetworkConnectionParams | string,
    emptyBlocksFirst: number,
  ): Promise<ServedChain> {
    const server = await network.createServer(params, "127.0.0.1", 0);
    const { port } = await server.listen();
    const url = `http://127.0.0.1:${port}`;
    const connection = await network.create({ network: "localhost", override: { url } });
    if (emptyBlocksFirst > 0)
      await connection.provider.request({
        method: "hardhat_mine",
        params: [`0x${emptyBlocksFirst.toString(16)}`],
      });
    const stack = await setUpStack(await sibylEnv(hre, connection), {
      modelPaths: [IRIS_MODEL_PATH],
      log: silentLogger,
    });
    const signers = await connection.ethers.getSigners();
    const nodeSigner = signers[NODE_ACCOUNT];
    await (
      await stack.precompile.connect(nodeSigner).registerNode({ value: connection.ethers.parseEther("5") })
    ).wait();
    const genesis = (await connection.ethers.provider.getBlock(0))!.hash!;
    const chain = {
      server,
      url,
      connection,
      stack,
      requester: signers[REQUESTER_ACCOUNT],
      nodeSigner,
      genesis,
    };
    chains.push(chain);
    return chain;
  }

  const iris = (chain: ServedChain) => chain.stack.models.iris;
  const inputFor = (chain: ServedChain, features: number[]) =>
    quantizeInput(iris(chain).artifacts.quantized, features);
  const blockNumber = (chain: ServedChain) => chain.connection.ethers.provider.getBlockNumber();

  async function request(chain: ServedChain, features: number[]): Promise<string> {
    const { requestId } = await requestInference(
      chain.stack.precompile.connect(chain.requester),
      iris(chain).modelId,
      inputFor(chain, features),
    );
    return requestId;
  }

  /** The node account's transactions mined on `chain` from `fromBlock`, as "function(request id or '')". */
  async function nodeTransactions(chain: ServedChain, fromBlock: number): Promise<string[]> {
    const txs: string[] = [];
    const provider = chain.connection.ethers.provider;
    const latest = await provider.getBlockNumber();
    for (let n = fromBlock; n <= latest; n++) {
      const block = await provider.getBlock(n, true);
      for (const tx of block!.prefetchedTransactions) {
        if (tx.from !== nodeKey.address) continue;
        const call = chain.stack.precompile.interface.parseTransaction(tx)!;
        const receipt = await provider.getTransactionReceipt(tx.hash);
        expect(receipt!.status, `${call.name} in block ${n}`).to.equal(1);
        txs.push(call.name === "setNodePolicy" ? call.name : `${call.name}(${call.args[0] as string})`);
      }
    }
    return txs;
  }

  before(async function () {
    // A: the chain the node starts on, taller than B
    a = await serve("default", 0);
    await a.connection.provider.request({ method: "hardhat_mine", params: ["0x28"] });
    // B: a restarted Hardhat chain: the same genesis block, every later block different, shorter than A
    b = await serve("default", 1);
    // C: another chain (another genesis block), taller than A and B
    c = await serve({ network: "default", override: { initialDate: new Date("2024-01-01T00:00:00Z") } }, 300);
    expect(b.genesis).to.equal(a.genesis);
    expect(c.genesis).to.not.equal(a.genesis);
    for (const chain of [a, b, c]) expect(iris(chain).modelId).to.equal(iris(a).modelId);

    const accounts = hre.config.networks.default.accounts as EdrNetworkHDAccountsConfig;
    nodeKey = HDNodeWallet.fromPhrase(
      await accounts.mnemonic.get(),
      await accounts.passphrase.get(),
      `${accounts.path}/${accounts.initialIndex + NODE_ACCOUNT}`,
    );
    expect(nodeKey.address).to.equal(a.nodeSigner.address);
  });

  afterEach(async function () {
    if (this.currentTest?.state === "failed")
      for (const l of nodeLog?.lines ?? []) console.log(`    node ${l.level}: ${l.msg}`);
    for (const prover of gated.splice(0)) prover.release(); // a failed test leaves no proof waiting
    for (const node of running.splice(0)) await node.stop();
    for (const provider of providers.splice(0)) provider.destroy();
    await proxy?.close();
  });

  after(async function () {
    for (const chain of chains) {
      await chain.connection.close();
      await chain.server.close();
    }
    await releaseProverThreads();
  });

  /** A node for Iris that reaches `chain` through the proxy, with its own key. */
  async function nodeBehindProxy(
    chain: ServedChain,
    log: RecordingLogger,
    opts: { prover?: Prover; resyncBlocks?: number } = {},
  ): Promise<{ node: InferenceNode; events: Recorded }> {
    proxy = await FaultyRpc.start(chain.url);
    const provider = new JsonRpcProvider(proxy.url, 31337, {
      staticNetwork: true,
      pollingInterval: 50,
      cacheTimeout: -1,
    });
    providers.push(provider);
    const node = new InferenceNode({
      precompile: InferencePrecompile__factory.connect(INFERENCE_ADDRESS, nodeKey.connect(provider)),
      models: [{ modelId: iris(chain).modelId, artifacts: iris(chain).artifacts, prover: opts.prover }],
      resyncBlocks: opts.resyncBlocks,
      fromBlock: (await blockNumber(chain)) + 1,
      pollMs: 50,
      backoffMs: 20,
      maxBackoffMs: 200,
      retryAfterMs: 200,
      log,
    });
    nodeLog = log;
    const events: Recorded = { answered: [], settled: [], failed: [], restarted: [] };
    node.on("answered", (e: AnsweredEvent) => events.answered.push(e));
    node.on("settled", (e: SettledEvent) => events.settled.push(e));
    node.on("failed", (e: FailedEvent) => events.failed.push(e));
    node.on("chainRestarted", (e: ChainRestartedEvent) => events.restarted.push(e));
    running.push(node);
    await node.start();
    return { node, events };
  }

  it("restarted to a shorter chain with the same genesis: says so, drops its work on the old chain, and serves the new one", async function () {
    const artifacts = iris(a).artifacts;
    const prover = new GatedProver(new SnarkjsProver(artifacts.wasmPath, artifacts.zkeyPath));
    gated.push(prover);
    // on B, before the switch: an answer of this node's left unsettled (as if it had crashed)
    const b1 = await request(b, SETOSA);
    const b1Output = runQuantized(artifacts.quantized, inputFor(b, SETOSA)).output;
    await (await b.stack.precompile.connect(b.nodeSigner).answer(b1, b1Output)).wait();
    expect(await b.stack.precompile.stateOf(b1)).to.equal(RequestState.Answered);
    expect((await b.stack.precompile.nodePolicyOf(nodeKey.address)).published).to.equal(false);

    const log = new RecordingLogger();
    const { node, events } = await nodeBehindProxy(a, log, { prover });
    // on A: one request served in full, a second one answered and still being proved
    const a1 = await request(a, VIRGINICA);
    await waitForState(a.stack.precompile, a1, [RequestState.Settled], { timeoutMs: 60_000 });
    prover.hold();
    const a2 = await request(a, VERSICOLOR);
    await prover.aProofIsWaiting();
    expect(await a.stack.precompile.stateOf(a2)).to.equal(RequestState.Answered);
    const aHead = await blockNumber(a);
    const bHead = await blockNumber(b);
    expect(bHead).to.be.lessThan(aHead);

    // `npx hardhat node` restarted on the same port
    proxy.switchUpstream(b.url);
    const warning = await log.waitFor("the chain was restarted or replaced under the node");
    prover.release();
    expect(log.messages("warn")).to.include(warning);
    expect(events.restarted).to.have.length(1);
    const [restart] = events.restarted;
    // the old chain's head as the node last saw it: at least the block that asked for a2
    const a2Block = (
      await a.stack.precompile.queryFilter(a.stack.precompile.filters.InferenceRequested(a2))
    )[0].blockNumber;
    expect(restart.previousHead).to.be.within(a2Block, aHead);
    expect(restart).to.deep.include({
      previousGenesis: a.genesis,
      genesis: b.genesis,
      head: bHead,
      dropped: [a2],
      fromBlock: 0, // B is shorter than the 1000 blocks looked back at
    });
    expect(warning).to.equal(
      `the chain was restarted or replaced under the node (head block ${restart.previousHead} → ${bHead}, ` +
        `genesis ${b.genesis} unchanged, every later block it had seen replaced): dropping 1 request(s) in flight ` +
        "on the old chain; serving the new chain from block 0 (Sibyl, the models and this node's bond must be on it too)",
    );

    // a request on B (it reuses the id a2 had on A: the node must not take it for one it has seen)
    const b2 = await request(b, SETOSA);
    expect(b2).to.equal(a2);
    await waitForState(b.stack.precompile, b2, [RequestState.Settled], { timeoutMs: 60_000 });
    await waitForState(b.stack.precompile, b1, [RequestState.Settled], { timeoutMs: 60_000 });
    await node.idle();

    // on B: its policy published, its unsettled answer settled, the new request answered and settled, nothing else
    const published = await b.stack.precompile.nodePolicyOf(nodeKey.address);
    const expected = publishedForm(resolvePolicy());
    expect([
      published.published,
      published.minFee,
      Number(published.maxCallbackGasLimit),
      published.maxStake,
    ]).to.deep.equal([true, expected.minFee, expected.maxCallbackGasLimit, expected.maxStake]);
    expect(await nodeTransactions(b, bHead + 1)).to.have.members([
      "setNodePolicy",
      `settle(${b1})`,
      `answer(${b2})`,
      `settle(${b2})`,
    ]);
    expect(await nodeTransactions(b, bHead + 1)).to.have.length(4);
    const b2Answer = await b.stack.precompile.queryFilter(b.stack.precompile.filters.InferenceAnswered(b2));
    expect(b2Answer).to.have.length(1);
    expect(b2Answer[0].args.output.map(Number)).to.deep.equal(
      runQuantized(artifacts.quantized, inputFor(b, SETOSA)).output.map(Number),
    );
    expect(log.messages("info")).to.include(`[${b1.slice(0, 10)}…] recovered an unsettled answer; proving`);
    // the request dropped with the old chain was never settled there (and its proof never sent anywhere)
    expect(await a.stack.precompile.stateOf(a2)).to.equal(RequestState.Answered);
    expect(events.failed.map((f) => `${f.stage}: ${f.error.message}`)).to.deep.equal([]);
    expect(events.answered.map((e) => e.requestId)).to.deep.equal([a1, a2, b2]);
    expect(events.settled.map((e) => e.requestId)).to.have.members([a1, b1, b2]);
    expect(events.settled).to.have.length(3);
  });

  it("replaced by a chain with another genesis that already passed the old height: says so and serves it", async function () {
    const log = new RecordingLogger();
    // it looks back 100 blocks on a new chain: C is taller than that
    const { node, events } = await nodeBehindProxy(b, log, { resyncBlocks: 100 });
    const bHead = await blockNumber(b);
    const cHead = await blockNumber(c);
    expect(cHead).to.be.greaterThan(bHead + 100);

    proxy.switchUpstream(c.url);
    const warning = await log.waitFor("the chain was restarted or replaced under the node");
    expect(warning).to.equal(
      `the chain was restarted or replaced under the node (head block ${bHead} → ${cHead}, genesis ${b.genesis} → ${c.genesis}): ` +
        `dropping 0 request(s) in flight on the old chain; serving the new chain from block ${cHead - 100} ` +
        "(Sibyl, the models and this node's bond must be on it too)",
    );
    expect(events.restarted).to.deep.equal([
      {
        previousGenesis: b.genesis,
        genesis: c.genesis,
        previousHead: bHead,
        head: cHead,
        dropped: [],
        fromBlock: cHead - 100,
      },
    ]);

    const c1 = await request(c, VIRGINICA);
    await waitForState(c.stack.precompile, c1, [RequestState.Settled], { timeoutMs: 60_000 });
    await node.idle();
    expect(await nodeTransactions(c, cHead + 1)).to.have.members([
      "setNodePolicy",
      `answer(${c1})`,
      `settle(${c1})`,
    ]);
    expect(events.failed).to.deep.equal([]);
    expect(events.settled.map((e) => e.requestId)).to.deep.equal([c1]);
  });
});
