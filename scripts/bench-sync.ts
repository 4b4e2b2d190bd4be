/**
 * The synchronous side of the benchmark, for one model: the gas of a synchronous call (deferred
 * and proof-carrying) and of the node's `prepare` transaction, and the time from "the user sends
 * the transaction" to "mined with the result", in-process (the plugin's network hook) and
 * through `sibyl:proxy`'s server (an HTTP JSON-RPC endpoint in front of the same chain); beside
 * them the asynchronous request path (send the request → the node's answer mined), both ways.
 */
import { type Contract, JsonRpcProvider, type Signer, parseEther } from "ethers";

import type { StackModel, SibylStack } from "../src/chain/stack.js";
import { requestInference } from "../src/client/client.js";
import { type SibylEnv, deployCore } from "../src/env.js";
import type { InferenceNode, PreparedEvent } from "../src/node/node.js";
import { NodeTracker } from "../src/node/tracker.js";
import { startInProcessPipe } from "../src/pipe/inProcess.js";
import { PipeLayer } from "../src/pipe/layer.js";
import { startPipeProxy } from "../src/pipe/proxy.js";
import { Finality } from "../src/protocol/state.js";
import { median } from "../src/bench/stats.js";

export interface SyncFigures {
  /** gas of the user's transaction */
  callGas: number;
  /** gas of the node's prepare transaction (one result) */
  prepareGas: number;
  /** ms from sending the transaction to its receipt, in-process */
  latencyMs: number;
  /** the same through the proxy's HTTP endpoint */
  proxyLatencyMs: number;
}

export interface AsyncFigures {
  requestGas: number;
  /** ms from sending the request to the node's answer being mined, in-process */
  latencyMs: number;
  /** the same with the request sent through the proxy's HTTP endpoint */
  proxyLatencyMs: number;
}

export interface SyncBench {
  deferred: SyncFigures;
  proofCarrying: SyncFigures;
  async: AsyncFigures;
  runs: number;
}

/** Sends `send()`'s transaction and returns its receipt's gas and the ms until it was there. */
async function timed(
  send: () => Promise<{ hash: string }>,
  provider: { getTransactionReceipt(h: string): Promise<{ gasUsed: bigint; status: number | null } | null> },
) {
  const t0 = Date.now();
  const { hash } = await send();
  for (;;) {
    const receipt = await provider.getTransactionReceipt(hash);
    if (receipt) {
      if (receipt.status !== 1) throw new Error(`transaction ${hash} reverted`);
      return { ms: Date.now() - t0, gas: Number(receipt.gasUsed) };
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function benchSync(
  env: SibylEnv,
  stack: SibylStack,
  model: StackModel,
  node: InferenceNode,
  caller: Signer,
  input: bigint[],
  runs: number,
): Promise<SyncBench> {
  const tracker = new NodeTracker(node);
  const prepareGas: number[] = [];
  const onPrepared = (e: PreparedEvent) => prepareGas.push(Number(e.gasUsed) / e.prepared.length);
  node.on("prepared", onPrepared);
  const from = await caller.getAddress();
  await (await stack.precompile.connect(caller).deposit(node.account, { value: parseEther("1") })).wait();
  const classifier = await deployCore("InstantClassifier", caller, model.modelId);
  const fee = (await stack.registry.getModel(model.modelId)).config.fee;

  type Measured = Finality.Deferred | Finality.ProofCarrying;
  const figures: Record<
    Measured,
    { callGas: number[]; prepareGas: number[]; latency: number[]; proxy: number[] }
  > = {
    [Finality.Deferred]: {
      callGas: [] as number[],
      prepareGas: [] as number[],
      latency: [] as number[],
      proxy: [] as number[],
    },
    [Finality.ProofCarrying]: {
      callGas: [] as number[],
      prepareGas: [] as number[],
      latency: [] as number[],
      proxy: [] as number[],
    },
  };
  const asyncRuns = { gas: [] as number[], latency: [] as number[], proxy: [] as number[] };

  const asyncOnce = async (precompile: typeof stack.precompile, into: number[]) => {
    const t0 = Date.now();
    const { requestId, receipt } = await requestInference(precompile, model.modelId, input, { fee });
    const answered = await tracker.waitAnswered(requestId);
    into.push(answered.at - t0);
    return Number(receipt.gasUsed);
  };

  // in-process: the plugin's network hook routes the connection through the layer
  const { detach } = startInProcessPipe(env, stack.precompile, node);
  try {
    for (let i = 0; i < runs; i++) {
      for (const finality of [Finality.Deferred, Finality.ProofCarrying] as const) {
        const before = prepareGas.length;
        const { ms, gas } = await timed(
          () => (classifier.connect(caller) as Contract).classify(input, finality),
          env.ethers.provider,
        );
        figures[finality].latency.push(ms);
        figures[finality].callGas.push(gas);
        figures[finality].prepareGas.push(...prepareGas.slice(before));
      }
      asyncRuns.gas.push(await asyncOnce(stack.precompile.connect(caller), asyncRuns.latency));
    }
  } finally {
    detach();
  }

  // through the proxy: an HTTP JSON-RPC endpoint in front of the same chain
  const upstream = (method: string, params: unknown[]) => env.connection.provider.request({ method, params });
  const layer = new PipeLayer({ precompile: stack.precompile, node });
  const server = await startPipeProxy({ upstream, layer, port: 0 });
  const provider = new JsonRpcProvider(server.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
  provider.pollingInterval = 10;
  try {
    const signer = await provider.getSigner(from);
    const viaProxy = classifier.connect(signer) as Contract;
    for (let i = 0; i < runs; i++) {
      for (const finality of [Finality.Deferred, Finality.ProofCarrying] as const) {
        const { ms } = await timed(() => viaProxy.classify(input, finality), provider);
        figures[finality].proxy.push(ms);
      }
      await asyncOnce(stack.precompile.connect(signer), asyncRuns.proxy);
    }
  } finally {
    provider.destroy();
    await server.close();
    node.off("prepared", onPrepared);
  }

  const summary = (f: (typeof figures)[Measured]): SyncFigures => ({
    callGas: median(f.callGas),
    prepareGas: median(f.prepareGas),
    latencyMs: median(f.latency),
    proxyLatencyMs: median(f.proxy),
  });
  return {
    deferred: summary(figures[Finality.Deferred]),
    proofCarrying: summary(figures[Finality.ProofCarrying]),
    async: {
      requestGas: median(asyncRuns.gas),
      latencyMs: median(asyncRuns.latency),
      proxyLatencyMs: median(asyncRuns.proxy),
    },
    runs,
  };
}
