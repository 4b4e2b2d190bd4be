import { expect } from "chai";
import hre, { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import {
  type ContractTransactionReceipt,
  HDNodeWallet,
  JsonRpcProvider,
  type Signer,
  parseEther,
} from "ethers";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { type SibylStack, setUpStack, startNode } from "../../src/chain/stack.js";
import { type SibylEnv, sibylEnv } from "../../src/env.js";
import { ChainError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import type { InferenceNode } from "../../src/node/node.js";
import { modelCid } from "../../src/pipe/cid.js";
import { PipeLayer } from "../../src/pipe/layer.js";
import { startPipeProxy } from "../../src/pipe/proxy.js";
import { type RpcServer, httpUpstream } from "../../src/pipe/rpcServer.js";
import { Finality, RequestState } from "../../src/protocol/state.js";
import { runQuantized } from "../../src/runtime/fixed.js";
import { depositCredit } from "../../src/tasks/deposit.js";
import { rpcUrlOf } from "../../src/tasks/rpcUrl.js";
import { releaseIdleProverThreads } from "../../src/zk/prover.js";
import {
  type InferencePrecompile,
  InferencePrecompile__factory,
  type IrisClassifierOG,
  IrisClassifierOG__factory,
} from "../../typechain-types/index.js";
import { errorOf, taskErrorOf } from "../helpers/errors.js";
import { type HardhatProcess, startHardhatNode } from "../helpers/hardhat-node.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";
import { ogToFixed } from "../helpers/opengradient.js";

/**
 * `sibyl:proxy`'s server: the pre-execution layer as a JSON-RPC endpoint in front of a
 * `hardhat node` process. Everything a wallet or a script does goes through plain ethers
 * providers on the proxy's URL: OpenGradient-style contracts call the real Iris model (real
 * Groth16 proofs) inside their own transactions, sent signed by the chain
 * (`eth_sendTransaction`) or by the sender (`eth_sendRawTransaction`).
 */

/** `ModelInferenceMode` */
const VANILLA = 0;
const ZK = 1;
/** Hardhat's development mnemonic: `hardhat node` unlocks its first 20 accounts. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";
const devWallet = (i: number) => HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`);
const CREDIT = parseEther("0.1");
const NODE_ACCOUNT = 1;

/** Centimetres as value·10^-1, as the classifier takes them. */
type Cm = [bigint, bigint, bigint, bigint];
const SETOSA: Cm = [51n, 35n, 14n, 2n];
const VERSICOLOR: Cm = [59n, 30n, 42n, 15n];
const VIRGINICA: Cm = [63n, 33n, 60n, 25n];
const BETWEEN: Cm = [61n, 28n, 47n, 12n];

describe("pipe/proxy: the pre-execution layer as a JSON-RPC server, in front of a hardhat node process", function () {
  this.timeout(300_000);
  let chain: HardhatProcess;
  let chainUrl: string;
  let connection: NetworkConnection;
  let env: SibylEnv;
  let stack: SibylStack;
  let node: InferenceNode;
  let server: RpcServer;
  /** through the proxy */
  let provider: JsonRpcProvider;
  /** straight to the chain */
  let direct: JsonRpcProvider;
  let cid: string;
  let fracBits: number;
  let expectedOf: (cm: readonly bigint[]) => bigint;

  before(async function () {
    ({ chain, url: chainUrl } = await startHardhatNode());
    connection = await network.create({ network: "localhost", override: { url: chainUrl } });
    env = await sibylEnv(hre, connection);
    stack = await setUpStack(env, { modelPaths: [IRIS_MODEL_PATH], log: silentLogger });
    const signers = await connection.ethers.getSigners();
    node = await startNode(stack, { signer: signers[NODE_ACCOUNT], log: silentLogger, pollMs: 50 });
    const layer = new PipeLayer({ precompile: stack.precompile, node });
    server = await startPipeProxy({ upstream: httpUpstream(chainUrl), layer, port: 0 });
    // cacheTimeout -1: ethers otherwise answers a repeated request within 250 ms from its cache, and a
    // wallet's next transaction on a fast chain would take the nonce its previous one took
    const options = { staticNetwork: true, pollingInterval: 50, cacheTimeout: -1 };
    provider = new JsonRpcProvider(server.url, 31337, options);
    direct = new JsonRpcProvider(chainUrl, 31337, options);

    const { modelId, artifacts } = stack.models.iris;
    cid = modelCid(modelId);
    fracBits = artifacts.quantized.fracBits;
    expectedOf = (cm) =>
      runQuantized(
        artifacts.quantized,
        cm.map((v) => ogToFixed(v, 1n, fracBits)),
      ).output[0];
  });

  after(async function () {
    await server?.close();
    await node?.stop();
    provider?.destroy();
    direct?.destroy();
    await connection?.close();
    if (chain) {
      chain.kill("SIGKILL");
      await chain.exited;
    }
    await releaseIdleProverThreads();
  });

  /** The precompile through the proxy, as `signer` sees it. */
  const precompileFor = (signer: Signer): InferencePrecompile =>
    InferencePrecompile__factory.connect(INFERENCE_ADDRESS, signer);

  async function deployIris(signer: Signer, mode: number): Promise<IrisClassifierOG> {
    const iris = await new IrisClassifierOG__factory(signer).deploy(cid, mode);
    await iris.waitForDeployment();
    return iris;
  }

  async function depositOwn(signer: Signer): Promise<void> {
    await (await precompileFor(signer).deposit(node.account, { value: CREDIT })).wait();
  }

  /** The precompile's SyncInferenceConsumed events in a receipt. */
  function consumedIn(receipt: ContractTransactionReceipt | null) {
    const iface = InferencePrecompile__factory.createInterface();
    return (receipt?.logs ?? [])
      .filter((l) => l.address.toLowerCase() === INFERENCE_ADDRESS.toLowerCase())
      .map((l) => iface.parseLog(l))
      .filter((e) => e?.name === "SyncInferenceConsumed")
      .map((e) => ({ requestId: e!.args.requestId as string, finality: Number(e!.args.finality) }));
  }

  it("serves eth_sendTransaction from an unlocked account: the species is there in the same transaction (VANILLA, settled later)", async function () {
    const signer = await provider.getSigner(2);
    await depositOwn(signer);
    const iris = await deployIris(signer, VANILLA);

    const receipt = await (await iris.classify(SETOSA, 1)).wait();

    expect(await iris.lastSpecies()).to.equal(expectedOf(SETOSA));
    expect(await iris.lastDecimals()).to.equal(0n);
    expect(await iris.classifications()).to.equal(1n);
    const [consumed] = consumedIn(receipt);
    expect(consumed.finality).to.equal(Finality.Deferred);
    // deferred: answered in the transaction, proved and settled by the node afterwards
    const precompile = precompileFor(signer);
    for (
      let i = 0;
      i < 600 && Number(await precompile.stateOf(consumed.requestId)) !== RequestState.Settled;
      i++
    )
      await new Promise((r) => setTimeout(r, 50));
    expect(Number(await precompile.stateOf(consumed.requestId))).to.equal(RequestState.Settled);
  });

  it("serves eth_sendRawTransaction from a wallet that signs its own transactions", async function () {
    const wallet = devWallet(3).connect(provider);
    await depositOwn(wallet);
    const iris = await deployIris(wallet, VANILLA);

    const receipt = await (await iris.classify(VIRGINICA, 1)).wait();

    expect(consumedIn(receipt)).to.have.length(1);
    expect(await iris.lastSpecies()).to.equal(expectedOf(VIRGINICA));
    expect(await iris.classifications()).to.equal(1n);
  });

  it("mode ZK: the proof is verified in the transaction and the request is Settled at once", async function () {
    const signer = await provider.getSigner(2);
    const iris = await deployIris(signer, ZK);

    const receipt = await (await iris.classify(VERSICOLOR, 1)).wait();

    expect(await iris.lastSpecies()).to.equal(expectedOf(VERSICOLOR));
    const [consumed] = consumedIn(receipt);
    expect(consumed.finality).to.equal(Finality.ProofCarrying);
    // read at the transaction's own block: final there, not later
    const state = await precompileFor(signer).stateOf(consumed.requestId, { blockTag: receipt!.blockNumber });
    expect(Number(state)).to.equal(RequestState.Settled);
  });

  it("answers eth_call with the real species and prepares nothing on-chain", async function () {
    const signer = await provider.getSigner(2);
    const iris = await deployIris(signer, VANILLA);
    const precompile = precompileFor(signer);
    const block = await direct.getBlockNumber();
    const credit = await precompile.creditOf(await signer.getAddress(), node.account);

    expect(await iris.classify.staticCall(VIRGINICA, 1)).to.equal(expectedOf(VIRGINICA));
    expect(await iris.classify.staticCall(SETOSA, 1)).to.equal(expectedOf(SETOSA));

    expect(await direct.getBlockNumber()).to.equal(block);
    expect(await precompile.creditOf(await signer.getAddress(), node.account)).to.equal(credit);
    expect(await iris.classifications()).to.equal(0n);
  });

  it("a transaction sent straight to the chain, around the proxy, reverts Inference__NotPrepared", async function () {
    const viaProxy = await provider.getSigner(2);
    const iris = await deployIris(viaProxy, VANILLA);
    const around = iris.connect(await direct.getSigner(2));

    await expect(around.classify(SETOSA, 1)).to.be.revertedWithCustomError(
      precompileFor(viaProxy),
      "Inference__NotPrepared",
    );
  });

  it("serves concurrent transactions from four senders, each with its own input and result", async function () {
    const inputs = [SETOSA, VERSICOLOR, VIRGINICA, BETWEEN];
    const senders = await Promise.all([4, 5, 6, 7].map((i) => provider.getSigner(i)));
    const payer = await provider.getSigner(0);
    const consumers: IrisClassifierOG[] = [];
    for (const sender of senders) {
      await (
        await precompileFor(payer).depositFor(await sender.getAddress(), node.account, { value: CREDIT })
      ).wait();
      consumers.push(await deployIris(sender, VANILLA));
    }

    const receipts = await Promise.all(
      consumers.map(async (iris, i) => (await iris.classify(inputs[i], 1)).wait()),
    );

    for (const [i, iris] of consumers.entries()) {
      expect(consumedIn(receipts[i]), `sender ${i}`).to.have.length(1);
      expect(await iris.lastSpecies(), `sender ${i}`).to.equal(expectedOf(inputs[i]));
      expect(await iris.classifications(), `sender ${i}`).to.equal(1n);
    }
  });

  it("a sender without credit is told to deposit, and nothing is sent", async function () {
    const broke = await provider.getSigner(8);
    const iris = await deployIris(broke, VANILLA);
    const nonce = await direct.getTransactionCount(await broke.getAddress());

    const error = (await errorOf(() => iris.classify(SETOSA, 1))) as Error & {
      info?: { error?: { message?: string } };
    };
    // ethers reports any failed estimate as CALL_EXCEPTION; the layer's words are in `info`
    expect(String(error.info?.error?.message)).to.match(
      /has 0\.0 ETH of inference credit with node[\s\S]*sibyl:deposit/,
    );
    expect(await direct.getTransactionCount(await broke.getAddress())).to.equal(nonce);
  });

  describe("sibyl:deposit", function () {
    it("deposits for another account with the network's node account by default, and says the credit after", async function () {
      const [, nodeSigner, , , , , , , , beneficiary] = await connection.ethers.getSigners();
      const before = await stack.precompile.creditOf(beneficiary.address, nodeSigner.address);

      const done = await depositCredit(env, {
        amount: parseEther("0.05"),
        account: beneficiary.address,
        signerIndex: 0,
        log: silentLogger,
      });

      expect(done.node).to.equal(nodeSigner.address);
      expect(done.node).to.equal(node.account);
      expect(done.account).to.equal(beneficiary.address);
      expect(done.credit).to.equal(before + parseEther("0.05"));
      expect(await stack.precompile.creditOf(beneficiary.address, nodeSigner.address)).to.equal(done.credit);
    });

    it("refuses an address that is not a registered node", async function () {
      const [, , , , , , , , , , notANode] = await connection.ethers.getSigners();
      const error = await errorOf(() =>
        depositCredit(env, { amount: CREDIT, node: notANode.address, signerIndex: 0 }),
      );
      expect(error).to.be.instanceOf(ChainError);
      expect(error.message).to.include(`${notANode.address} is not a registered node`);
    });

    it("refuses the in-process network, saying to start a hardhat node", async function () {
      const error = await taskErrorOf(() => hre.tasks.getTask("sibyl:deposit").run({ amount: "0.1" }));
      expect(error).to.be.instanceOf(ChainError);
      expect(error.message).to.match(/in-process[\s\S]*npx hardhat node[\s\S]*--network localhost/);
    });
  });

  describe("sibyl:proxy", function () {
    it("refuses the in-process network, saying to start a hardhat node", async function () {
      const error = await taskErrorOf(() => hre.tasks.getTask("sibyl:proxy").run({}));
      expect(error).to.be.instanceOf(ChainError);
      expect(error.message).to.match(/in-process[\s\S]*npx hardhat node[\s\S]*--network localhost/);
    });

    it("takes its upstream from the network's url", async function () {
      expect(await rpcUrlOf(hre, "localhost"))
        .to.be.a("string")
        .that.matches(/^http/);
      expect(await rpcUrlOf(hre, "default")).to.equal(undefined);
    });
  });
});
