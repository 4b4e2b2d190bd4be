import { expect } from "chai";
import { JsonRpcProvider } from "ethers";

import { loadArtifacts } from "../../src/pipeline/artifacts.js";
import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { requestInference } from "../../src/client/client.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { RequestState } from "../../src/node/node.js";
import { InferencePrecompile__factory } from "../../typechain-types/index.js";
import { FaultyRpc, type RpcCall } from "../helpers/faulty-rpc.js";
import { HardhatProcess, deployAndRegister, freePort, waitForChain } from "../helpers/hardhat-node.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";

/**
 * A node that loses nothing, with every part in its own process: a `hardhat node` chain,
 * Sibyl deployed and the Iris model registered by the CLI tasks, and the node run by
 * `sibyl:node`. The first node process answers a request and is killed with SIGKILL before
 * it can settle (its settlement is held by a proxy, so the kill always comes in between);
 * a second process with the same key must find the unsettled answer on-chain and settle it.
 */

/** `sibyl:node`'s default signer: the chain's account #1. */
const NODE_ACCOUNT = 1;

const short = (id: string): string => `${id.slice(0, 10)}…`;

describe("node/restart: a node killed between answer and settlement, against a hardhat node process", function () {
  this.timeout(150_000);
  const processes: HardhatProcess[] = [];
  let rpcUrl: string;
  let provider: JsonRpcProvider;
  let proxy: FaultyRpc | undefined;

  before(async function () {
    const port = await freePort();
    rpcUrl = `http://127.0.0.1:${port}`;
    const chain = new HardhatProcess(["node", "--hostname", "127.0.0.1", "--port", String(port)]);
    processes.push(chain);
    await waitForChain(rpcUrl, chain, 60_000);
    provider = new JsonRpcProvider(rpcUrl, 31337, { staticNetwork: true, pollingInterval: 100 });
  });

  after(async function () {
    for (const p of processes) p.kill("SIGKILL");
    await Promise.all(processes.map((p) => p.exited));
    provider?.destroy();
    await proxy?.close();
  });

  it("the restarted node finds its unsettled answer on-chain and settles it, sending no transaction twice", async function () {
    const env = { SIBYL_RPC_URL: rpcUrl };
    const modelId = await deployAndRegister(env, IRIS_MODEL_PATH);

    const precompile = InferencePrecompile__factory.connect(INFERENCE_ADDRESS, await provider.getSigner(0));
    const nodeAddress = await (await provider.getSigner(NODE_ACCOUNT)).getAddress();
    const settleSelector = precompile.interface.getFunction("settle").selector;

    // node #1 reaches the chain through a proxy that holds its settlement forever
    proxy = await FaultyRpc.start(rpcUrl);
    proxy.rules = [
      {
        methods: ["eth_sendTransaction"],
        when: (call: RpcCall) =>
          String((call.params?.[0] as { data?: string }).data).startsWith(settleSelector),
        fault: "hold",
      },
    ];
    const first = new HardhatProcess(
      ["sibyl:node", "--network", "localhost", "--models", IRIS_MODEL_PATH, "--poll-ms", "100"],
      {
        SIBYL_RPC_URL: proxy.url,
      },
    );
    processes.push(first);
    await first.waitFor("node running", 60_000);

    const input = quantizeInput(loadArtifacts("iris").quantized, [5.1, 3.5, 1.4, 0.2]);
    // the fee the registry asks (feeFor), as sibyl:infer sends it
    const { requestId } = await requestInference(precompile, modelId, input);
    await first.waitFor(`[${short(requestId)}] answered`, 30_000);
    await proxy.waitForHeld(1, 30_000);
    first.kill("SIGKILL");
    await first.exited;

    expect(first.output).not.to.contain(`[${short(requestId)}] settled`);
    // stateOf is a bigint: this file opens no Hardhat connection, so the matchers that compare a bigint
    // with a number (installed with the first connection in Hardhat 3) are not there; compare numbers
    expect(Number(await precompile.stateOf(requestId))).to.equal(RequestState.Answered);
    expect(await provider.getTransactionCount(nodeAddress)).to.equal(3); // registerNode, setNodePolicy, answer

    // node #2: same key, straight to the chain
    const second = new HardhatProcess(
      ["sibyl:node", "--network", "localhost", "--models", IRIS_MODEL_PATH, "--poll-ms", "100"],
      {
        SIBYL_RPC_URL: rpcUrl,
      },
    );
    processes.push(second);
    await second.waitFor(`[${short(requestId)}] settled`, 60_000);
    await second.stop();
    expect(second.output).to.contain(`[${short(requestId)}] recovered an unsettled answer; proving`);
    expect(second.output).not.to.contain(`[${short(requestId)}] answered`);

    expect(Number(await precompile.stateOf(requestId))).to.equal(RequestState.Settled);
    const answers = await precompile.queryFilter(precompile.filters.InferenceAnswered(requestId));
    const settlements = await precompile.queryFilter(precompile.filters.InferenceSettled(requestId));
    expect(answers).to.have.length(1);
    expect(settlements).to.have.length(1);
    expect(answers[0].args.node).to.equal(nodeAddress);
    expect(settlements[0].args.settler).to.equal(nodeAddress);
    const settledAt = (await provider.getBlock(settlements[0].blockNumber))!.timestamp;
    expect(settledAt).to.be.at.most(Number(answers[0].args.deadline));

    // the node's whole history: one registration, its policy (published once: the second
    // process finds it on-chain), one answer, one settlement
    const calls: string[] = [];
    for (let n = 0; n <= (await provider.getBlockNumber()); n++) {
      const block = await provider.getBlock(n, true);
      for (const tx of block!.prefetchedTransactions)
        if (tx.from === nodeAddress) calls.push(precompile.interface.parseTransaction(tx)!.name);
    }
    expect(calls).to.deep.equal(["registerNode", "setNodePolicy", "answer", "settle"]);
    expect(await provider.getTransactionCount(nodeAddress)).to.equal(4);
  });
});
