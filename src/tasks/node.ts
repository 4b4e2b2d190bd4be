import type { Signer } from "ethers";
import type { SibylEnv } from "../env.js";

import { builtModelOf } from "../pipeline/finalizeCeremony.js";
import { sibylAction } from "./action.js";
import {
  batchSizesOption,
  redisOptions,
  portOption,
  etherOption,
  secondsOption,
  intOption,
  listOption,
  modelFileOption,
} from "./args.js";
import { connectSibyl } from "../chain/connect.js";
import { ChainError } from "../errors.js";
import { type Logger, consoleLogger } from "../log.js";
import { inProcessProvers, releaseProverThreads } from "../zk/prover.js";
import { type QueueProvers, queueProvers } from "../queue/client.js";
import { displayRedisUrl } from "../queue/url.js";
import { InferenceNode, type ServedModel } from "../node/node.js";
import type { InferencePrecompile, ModelRegistry } from "../../typechain-types/index.js";
import { type NodePolicyOptions, formatEth, resolvePolicy } from "../node/policy.js";
import { checkServable, checkedModelId } from "../chain/registration.js";
import { type StartedEnclaves, setUpBatches, startEnclaves } from "../chain/stack.js";
import { coreContract } from "../env.js";
import { sameAddress } from "../node/rpc.js";
import type { AssignmentOptions } from "../node/assignment.js";
import { type MetricsEndpoint, startNodeMetrics } from "../metrics/start.js";
import type { MetricsServer } from "../metrics/server.js";

export interface StandaloneNodeOptions {
  /** model files (built with sibyl:build) */
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
  /** run each model in a local enclave process and answer TEE-mode requests (`startEnclaves`) */
  tee?: boolean;
  /** settle in batches of these sizes (their verifiers registered: `sibyl:register --batch`) */
  batchSizes?: number[];
  /** batches: how close to its deadline a waiting answer settles (ms) */
  batchMarginMs?: number;
  /** several nodes: follow the assignment rule with these timings (docs/operating.md) */
  assignment?: AssignmentOptions;
  /** prove through the Redis job queue at this URL, served by sibyl:prover workers (default: in this process) */
  redis?: string;
  /** with `redis`: prove in this process while Redis is unreachable (else proofs wait for it) */
  proveLocally?: boolean;
  /** serve Prometheus metrics here (docs/operating.md) */
  metrics?: MetricsEndpoint;
}

/**
 * The set-up `sibyl:node` and `sibyl:proxy` share: connects to the installation on the task's
 * network, checks each model's registration against its local build (`checkedModelId`) and
 * that it may be served, registers the signer as a node with `bond` if it is not one yet, warns
 * when the free bond cannot back a model's stake, starts the models' enclaves with `tee`, and
 * starts the node. The caller stops it, then closes the enclaves (`close`).
 */
export async function startStandaloneNode(
  env: SibylEnv,
  opts: StandaloneNodeOptions,
): Promise<{
  node: InferenceNode;
  precompile: InferencePrecompile;
  models: ServedModel[];
  /** the proving queue with `redis`: its depth and "redis" events, for metrics */
  queue?: QueueProvers;
  /** the metrics server, with `metrics` */
  metrics?: MetricsServer;
  /** stops the node's enclaves and closes its proving queue (after the node) */
  close(): Promise<void>;
}> {
  const log = consoleLogger;
  const policy = resolvePolicy(opts.policy); // a bad option fails before anything is sent
  const { precompile, registry } = await connectSibyl(env);
  const signers = await env.ethers.getSigners();
  const signer = signers[opts.signerIndex];
  if (!signer)
    throw new ChainError(`no account #${opts.signerIndex} on network ${env.networkName}`, "pass --signer");

  if (opts.ids && opts.ids.length !== opts.models.length)
    throw new ChainError(
      `--ids names ${opts.ids.length} model ids for ${opts.models.length} models (${opts.models.join(", ")})`,
      "give one id per model, in the order of --models",
    );
  const served: ServedModel[] = [];
  for (const [i, path] of opts.models.entries()) {
    const artifacts = builtModelOf(path);
    const name = artifacts.name;
    const modelId = await checkedModelId(env, registry, artifacts, opts.ids?.[i]);
    await checkServable(registry, artifacts, modelId, opts.minSettlementWindow);
    log.info(`model ${name}: ${modelId} (matches the local build)`);
    const batches = await setUpBatches(registry, modelId, name, opts.batchSizes ?? [], log, {
      register: false,
    });
    served.push({ modelId, artifacts, ...(batches.length ? { batches } : {}) });
  }

  const nodeHandle = precompile.connect(signer);
  if (!(await nodeHandle.nodeOf(signer.address)).registered) {
    log.info(`registering ${signer.address} as a node with a ${formatEth(opts.bond)} bond`);
    await (await nodeHandle.registerNode({ value: opts.bond })).wait();
  }
  await warnIfBondTooSmall(nodeHandle, signer.address, registry, served);
  const tee = opts.tee ? await startNodeEnclaves(precompile, served, signers[0], signer, log) : undefined;
  const models = served.map((m) => ({
    ...m,
    ...(tee ? { enclave: tee.enclaves[m.artifacts.name].enclave } : {}),
  }));
  let queue: QueueProvers | undefined;
  let metrics: MetricsServer | undefined;
  const close = async () => {
    await tee?.close();
    await queue?.close();
    await metrics?.close();
  };
  try {
    const latest = await env.ethers.provider.getBlockNumber();
    if (opts.redis) {
      queue = queueProvers({
        url: opts.redis,
        log,
        ...(opts.proveLocally ? { fallback: inProcessProvers } : {}),
      });
      const shown = displayRedisUrl(opts.redis);
      log.info(
        `proving through the Redis queue at ${shown}` +
          (opts.proveLocally ? " (in this process while it is unreachable)" : "") +
          `; workers: npx hardhat sibyl:prover --redis ${shown} --models ${opts.models.join(",")}` +
          (opts.batchSizes?.length ? ` --batch ${opts.batchSizes.join(",")}` : ""),
      );
    }
    const node = new InferenceNode({
      precompile: nodeHandle,
      models,
      log,
      pollMs: opts.pollMs,
      policy,
      fromBlock: opts.fromBlock ?? Math.max(0, latest - 1000),
      ...(opts.batchMarginMs === undefined ? {} : { batchMarginMs: opts.batchMarginMs }),
      ...(opts.assignment ? { assignment: opts.assignment } : {}),
      ...(queue ? { provers: queue.factory } : {}),
    });
    if (opts.metrics) {
      const names = new Map(models.map((m) => [m.modelId.toLowerCase(), m.artifacts.name]));
      metrics = await startNodeMetrics(node, {
        ...opts.metrics,
        chain: { reader: nodeHandle, address: () => signer.address },
        modelLabel: (id) => names.get(id.toLowerCase()) ?? id,
        ...(queue ? { queue } : {}),
      });
      log.info(`metrics at ${metrics.url}`);
    }
    await node.start();
    return { node, precompile, models, ...(queue ? { queue } : {}), ...(metrics ? { metrics } : {}), close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * The enclaves of a standalone node: account #0 sets up the enclave registry and allows the
 * measurements where it may (it is the precompile's admin, the models' owner); otherwise the
 * registry must exist and allow them already, and the error says who must act.
 */
async function startNodeEnclaves(
  precompile: InferencePrecompile,
  served: ServedModel[],
  first: Signer,
  operator: Signer,
  log: Logger,
): Promise<StartedEnclaves> {
  const account = await first.getAddress();
  const isAdmin = sameAddress(await precompile.admin(), account);
  const registry = (await precompile.registry()) as string;
  const owners = await Promise.all(
    served.map(
      async (m) =>
        (await coreContract<ModelRegistry>("ModelRegistry", registry, first).getModel(m.modelId)).owner,
    ),
  );
  return startEnclaves(precompile, served, {
    ...(isAdmin ? { admin: first } : {}),
    ...(owners.every((o) => sameAddress(o, account)) ? { owner: first } : {}),
    operator,
    log,
  });
}

/** Resolves at the first SIGINT or SIGTERM (Ctrl-C), saying that the process is stopping. */
export function untilInterrupted(log: Logger = consoleLogger): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      log.info("stopping: waiting for answers and proofs in flight…");
      resolve();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

/**
 * `sibyl:node`: a long-running node against the task's network (e.g. `--network localhost`).
 * It serves only registrations that match the local builds (`checkedModelId`).
 */
export async function runStandaloneNode(env: SibylEnv, opts: StandaloneNodeOptions): Promise<void> {
  const { node, close } = await startStandaloneNode(env, opts);
  consoleLogger.info("node running; Ctrl-C to stop");
  await untilInterrupted();
  await node.stop();
  await close();
  await releaseProverThreads();
}

/** The policy options of `sibyl:node` (ETH amounts as decimal strings), checked. */
export function policyFromCli(args: {
  minFee?: string;
  maxCallbackGas?: string;
  maxStake?: string;
}): NodePolicyOptions {
  return {
    minFee: etherOption(args.minFee, "--min-fee"),
    maxCallbackGasLimit: intOption(args.maxCallbackGas, "--max-callback-gas"),
    maxStake: etherOption(args.maxStake, "--max-stake"),
  };
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

/** The options of `sibyl:node` as the CLI gives them (`sibyl:proxy` takes the same). */
export interface NodeCliArgs {
  models: string;
  ids?: string;
  bond: string;
  signer: number;
  pollMs: number;
  fromBlock?: string;
  minFee?: string;
  maxCallbackGas?: string;
  maxStake?: string;
  minSettlementWindow: number;
  tee?: boolean;
  batch?: string;
  batchMargin?: string;
  takeoverGrace?: string;
  takeoverMargin?: string;
  redis?: string;
  proveLocally?: boolean;
  metricsPort?: string;
  metricsHost?: string;
}

/** `sibyl:node`'s CLI options, checked, as `startStandaloneNode` takes them. */
export function standaloneOptionsFromCli(args: NodeCliArgs): StandaloneNodeOptions {
  return {
    models: listOption(args.models, "--models").map((m) => modelFileOption(m, "--models")),
    ids: args.ids === undefined ? undefined : listOption(args.ids, "--ids"),
    bond: etherOption(args.bond, "--bond") as bigint,
    signerIndex: args.signer,
    pollMs: args.pollMs,
    fromBlock: intOption(args.fromBlock, "--from-block"),
    policy: policyFromCli(args),
    minSettlementWindow: BigInt(args.minSettlementWindow),
    tee: args.tee ?? false,
    batchSizes: batchSizesOption(args.batch),
    ...(args.batchMargin === undefined
      ? {}
      : { batchMarginMs: secondsOption(args.batchMargin, "--batch-margin") }),
    ...assignmentFromCli(args),
    ...redisOptions(args),
    ...metricsEndpointFromCli(args),
  };
}

/** `--metrics-port` (and `--metrics-host`) of sibyl:node, sibyl:proxy and sibyl:prover. */
export function metricsEndpointFromCli(args: { metricsPort?: string; metricsHost?: string }): {
  metrics?: MetricsEndpoint;
} {
  const port = portOption(args.metricsPort, "--metrics-port");
  if (port === undefined) {
    if (args.metricsHost !== undefined)
      throw new ChainError("--metrics-host needs --metrics-port", "pass --metrics-port <port> too");
    return {};
  }
  return { metrics: { port, ...(args.metricsHost ? { host: args.metricsHost } : {}) } };
}

/** `--takeover-grace` turns the assignment rule on; `--takeover-margin` needs it. */
function assignmentFromCli(args: NodeCliArgs): { assignment?: AssignmentOptions } {
  if (args.takeoverGrace === undefined) {
    if (args.takeoverMargin !== undefined)
      throw new ChainError(
        "--takeover-margin applies to the assignment rule, which --takeover-grace turns on",
        "pass --takeover-grace <seconds> too (the same value on every node of the set)",
      );
    return {};
  }
  return {
    assignment: {
      graceMs: secondsOption(args.takeoverGrace, "--takeover-grace"),
      ...(args.takeoverMargin === undefined
        ? {}
        : { takeoverMarginMs: secondsOption(args.takeoverMargin, "--takeover-margin") }),
    },
  };
}

/** `sibyl:node`: runs until Ctrl-C. */
export default sibylAction(async (args: NodeCliArgs, env): Promise<void> => {
  await runStandaloneNode(env, standaloneOptionsFromCli(args));
});
