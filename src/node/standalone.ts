import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { loadArtifacts } from "../build/artifacts";
import { connectSibyl } from "../chain/connect";
import { modelConfig } from "../chain/models";
import { ChainError } from "../errors";
import { consoleLogger } from "../log";
import { releaseProverThreads } from "../zk/prover";
import { InferenceNode } from "./node";

/** `sibyl:node`: a long-running node against the task's network (e.g. `--network localhost`). */
export async function runStandaloneNode(
  hre: HardhatRuntimeEnvironment,
  opts: { models: string[]; bond: bigint; signerIndex: number; pollMs: number; fromBlock?: number },
): Promise<void> {
  const log = consoleLogger;
  const { precompile, registry } = await connectSibyl(hre);
  const signers = await hre.ethers.getSigners();
  const signer = signers[opts.signerIndex];
  if (!signer)
    throw new ChainError(`no account #${opts.signerIndex} on network ${hre.network.name}`, "pass --signer");

  const served = [];
  for (const name of opts.models) {
    const artifacts = loadArtifacts(name);
    const modelId = await registry.modelIdOf(modelConfig(artifacts, hre.ethers.ZeroAddress));
    if (!(await registry.isActive(modelId)))
      throw new ChainError(
        `model ${name} (${modelId}) is not registered on ${hre.network.name}`,
        `run: npx hardhat sibyl:register --model ${artifacts.modelPath} --network ${hre.network.name}`,
      );
    served.push({ modelId, artifacts });
  }

  const nodeHandle = precompile.connect(signer);
  if (!(await nodeHandle.nodeOf(signer.address)).registered) {
    log.info(`registering ${signer.address} as a node with a ${hre.ethers.formatEther(opts.bond)} ETH bond`);
    await (await nodeHandle.registerNode({ value: opts.bond })).wait();
  }
  const latest = await hre.ethers.provider.getBlockNumber();
  const node = new InferenceNode({
    precompile: nodeHandle,
    models: served,
    log,
    pollMs: opts.pollMs,
    fromBlock: opts.fromBlock ?? Math.max(0, latest - 1000),
  });
  await node.start();
  log.info("node running; Ctrl-C to stop");
  await new Promise<void>((resolve) => {
    const stop = () => {
      log.info("stopping: waiting for answers and proofs in flight…");
      resolve();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await node.stop();
  await releaseProverThreads();
}
