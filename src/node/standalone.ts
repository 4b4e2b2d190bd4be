import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { parseEther } from "ethers";

import { loadArtifacts } from "../build/artifacts";
import { connectSibyl } from "../chain/connect";
import { ChainError } from "../errors";
import { consoleLogger } from "../log";
import { releaseProverThreads } from "../zk/prover";
import { InferenceNode, type ServedModel } from "./node";
import type { InferencePrecompile, ModelRegistry } from "../../typechain-types";
import { type NodePolicyOptions, PolicyError, formatEth, resolvePolicy } from "./policy";
import { checkServable, checkedModelId } from "../chain/registration";

export interface StandaloneNodeOptions {
  /** model names (built under build/models) */
  models: string[];
  /** their ids, in the same order; by default the ids `sibyl:register` recorded */
  ids?: string[];
  /** bond to post if the signer is not yet a node (wei) */
  bond: bigint;
  signerIndex: number;
  pollMs: number;
  fromBlock?: number;
  policy?: NodePolicyOptions;
  /** the shortest settlement window of a registration to serve (seconds) */
  minSettlementWindow?: bigint;
}

/**
 * `sibyl:node`: a long-running node against the task's network (e.g. `--network localhost`).
 * It serves only registrations that match the local builds (`checkedModelId`).
 */
export async function runStandaloneNode(
  hre: HardhatRuntimeEnvironment,
  opts: StandaloneNodeOptions,
): Promise<void> {
  const log = consoleLogger;
  const policy = resolvePolicy(opts.policy); // a bad option fails before anything is sent
  const { precompile, registry } = await connectSibyl(hre);
  const signers = await hre.ethers.getSigners();
  const signer = signers[opts.signerIndex];
  if (!signer)
    throw new ChainError(`no account #${opts.signerIndex} on network ${hre.network.name}`, "pass --signer");

  if (opts.ids && opts.ids.length !== opts.models.length)
    throw new ChainError(
      `--ids names ${opts.ids.length} model ids for ${opts.models.length} models (${opts.models.join(", ")})`,
      "give one id per model, in the order of --models",
    );
  const served: ServedModel[] = [];
  for (const [i, name] of opts.models.entries()) {
    const artifacts = loadArtifacts(name);
    const modelId = await checkedModelId(hre, registry, artifacts, opts.ids?.[i]);
    await checkServable(registry, artifacts, modelId, opts.minSettlementWindow);
    log.info(`model ${name}: ${modelId} (matches the local build)`);
    served.push({ modelId, artifacts });
  }

  const nodeHandle = precompile.connect(signer);
  if (!(await nodeHandle.nodeOf(signer.address)).registered) {
    log.info(`registering ${signer.address} as a node with a ${formatEth(opts.bond)} bond`);
    await (await nodeHandle.registerNode({ value: opts.bond })).wait();
  }
  await warnIfBondTooSmall(nodeHandle, signer.address, registry, served);
  const latest = await hre.ethers.provider.getBlockNumber();
  const node = new InferenceNode({
    precompile: nodeHandle,
    models: served,
    log,
    pollMs: opts.pollMs,
    policy,
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

/** The policy options of `sibyl:node` (ETH amounts as decimal strings), checked. */
export function policyFromCli(args: {
  minFee?: string;
  maxCallbackGas?: number;
  maxStake?: string;
}): NodePolicyOptions {
  return {
    minFee: args.minFee === undefined ? undefined : etherOption("--min-fee", args.minFee),
    maxCallbackGasLimit: args.maxCallbackGas,
    maxStake: args.maxStake === undefined ? undefined : etherOption("--max-stake", args.maxStake),
  };
}

function etherOption(name: string, value: string): bigint {
  try {
    return parseEther(value);
  } catch {
    throw new PolicyError(`${name} must be an amount in ETH, got "${value}"`, `e.g. ${name} 0.01`);
  }
}

/**
 * A node must keep `minBond` free beyond every stake it locks: with less than that plus a
 * model's stake free, it declines every request for the model. Said once at start.
 */
async function warnIfBondTooSmall(
  precompile: InferencePrecompile,
  node: string,
  registry: ModelRegistry,
  served: ServedModel[],
): Promise<void> {
  const [{ bond, locked }, minBond] = await Promise.all([precompile.nodeOf(node), precompile.minBond()]);
  const free = bond - locked;
  for (const { modelId, artifacts } of served) {
    const { stake } = (await registry.getModel(modelId)).config;
    if (free < stake + minBond)
      consoleLogger.warn(
        `free bond ${formatEth(free)} is below ${artifacts.name}'s stake ${formatEth(stake)} + minimum bond ` +
          `${formatEth(minBond)}: every request for it will be declined; top the bond up (registerNode)`,
      );
  }
}
