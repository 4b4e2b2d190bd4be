import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

import type { SibylEnv } from "../env.js";
import { displayUrl } from "../env.js";
import { ChainError } from "../errors.js";
import { consoleLogger } from "../log.js";
import { modelCid } from "../pipe/cid.js";
import { PipeLayer } from "../pipe/layer.js";
import { startPipeProxy } from "../pipe/proxy.js";
import { httpUpstream } from "../pipe/rpcServer.js";
import { releaseProverThreads } from "../zk/prover.js";
import { sibylAction } from "./action.js";
import {
  type NodeCliArgs,
  type StandaloneNodeOptions,
  standaloneOptionsFromCli,
  startStandaloneNode,
  untilInterrupted,
} from "./node.js";
import { rpcHeadersOf, rpcUrlOf } from "./rpcUrl.js";

export interface ProxyOptions extends StandaloneNodeOptions {
  port: number;
  host?: string;
}

/** What `sibyl:proxy` served, once it has stopped. */
export interface ProxyRun {
  url: string;
  /** the chain behind it */
  upstream: string;
  /** the node account that prepared the results */
  node: string;
  models: { name: string; modelId: string; cid: string }[];
}

/**
 * `sibyl:proxy`: a node and the pre-execution layer in front of the task's network, served as
 * a JSON-RPC endpoint, until Ctrl-C. Wallets and scripts pointed at it get synchronous
 * inference on a chain that has no pre-execution of its own. The chain must run apart from
 * this command (`npx hardhat node`, or any JSON-RPC chain with Sibyl installed).
 */
export async function runPipeProxy(
  env: SibylEnv,
  hre: HardhatRuntimeEnvironment,
  opts: ProxyOptions,
): Promise<ProxyRun> {
  const log = consoleLogger;
  const upstreamUrl = env.inProcess ? undefined : await rpcUrlOf(hre, env.networkName);
  if (upstreamUrl === undefined)
    throw new ChainError(
      `sibyl:proxy needs a JSON-RPC chain that outlives the command, and network "${env.networkName}" is ` +
        "Hardhat's in-process one (a fresh, empty chain that exists only inside this command)",
      "start `npx hardhat node` in another terminal, set Sibyl up on it (sibyl:deploy, sibyl:register with " +
        "--network localhost), then run npx hardhat sibyl:proxy --network localhost",
    );

  const { node, precompile, models, close } = await startStandaloneNode(env, opts);
  try {
    const layer = new PipeLayer({ precompile, node, log });
    const server = await startPipeProxy({
      upstream: httpUpstream(upstreamUrl, { headers: rpcHeadersOf(hre, env.networkName) }),
      layer,
      port: opts.port,
      host: opts.host,
      log: { ...log, info: () => {} }, // the server's own "listening" line: said below, with more
    });
    const run: ProxyRun = {
      url: server.url,
      upstream: displayUrl(upstreamUrl),
      node: node.account,
      models: models.map(({ modelId, artifacts }) => ({
        name: artifacts.name,
        modelId,
        cid: modelCid(modelId),
      })),
    };
    log.info(`Sibyl proxy on ${run.url} in front of ${run.upstream} (network ${env.networkName})`);
    for (const m of run.models) log.info(`model ${m.name}: CID ${m.cid}`);
    log.info(
      `each sender pays its synchronous calls from credit it holds with node ${run.node}:\n` +
        `  npx hardhat sibyl:deposit --node ${run.node} --amount 0.1 --network ${env.networkName}`,
    );
    log.info(`point wallets and scripts at ${run.url}; Ctrl-C to stop`);
    await untilInterrupted(log);
    await server.close();
    return run;
  } finally {
    await node.stop();
    await close();
    await releaseProverThreads();
  }
}

/** `sibyl:proxy`: runs until Ctrl-C. */
export default sibylAction(
  async (args: NodeCliArgs & { port: number; host: string }, env, hre): Promise<ProxyRun> =>
    runPipeProxy(env, hre, { ...standaloneOptionsFromCli(args), port: args.port, host: args.host }),
);
