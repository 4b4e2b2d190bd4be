import type { SibylEnv } from "../env.js";
import type { Signer } from "ethers";
import { parseEther } from "ethers";

import type { ModelArtifacts } from "../pipeline/artifacts.js";
import { buildModel } from "../pipeline/buildModel.js";
import { type Logger, consoleLogger } from "../log.js";
import { InferenceNode, type NodeOptions } from "../node/node.js";
import { installPrecompile } from "./install.js";
import { checkServable } from "./registration.js";
import { type RegisterOptions, type RegisteredModel, registerModel } from "./models.js";
import type { InferencePrecompile, ModelRegistry } from "../../typechain-types/index.js";

/**
 * One call from nothing to a working Sibyl chain: build the models (cached), compile
 * their verifiers, install the precompile and registry, register the models. The demo,
 * the end-to-end tests and the bench all start here.
 */

export interface StackModel {
  modelId: string;
  /** the registry's deployment of the model's verifier code */
  verifier: string;
  artifacts: ModelArtifacts;
  /** who registered it, under which terms, and the registration's gas when this call made it */
  registration: RegisteredModel;
}

export interface SibylStack {
  precompile: InferencePrecompile;
  registry: ModelRegistry;
  models: Record<string, StackModel>;
}

export interface StackOptions {
  modelPaths: string[];
  log?: Logger;
  register?: RegisterOptions;
}

/** Builds every model and recompiles Solidity when a verifier is new or changed. */
export async function buildModels(
  env: SibylEnv,
  modelPaths: string[],
  log: Logger,
): Promise<ModelArtifacts[]> {
  const built: ModelArtifacts[] = [];
  let recompile = false;
  for (const path of modelPaths) {
    const report = await buildModel(path, { log });
    built.push(report.artifacts);
    recompile ||=
      report.verifierChanged || !(await env.artifacts.artifactExists(report.artifacts.verifierContract));
  }
  if (recompile) {
    log.info("▸ compiling contracts (new verifier)…");
    await env.compile();
  }
  return built;
}

export async function setUpStack(env: SibylEnv, opts: StackOptions): Promise<SibylStack> {
  const log = opts.log ?? consoleLogger;
  const built = await buildModels(env, opts.modelPaths, log);
  const { precompile, registry } = await installPrecompile(env);
  const models: Record<string, StackModel> = {};
  for (const artifacts of built) {
    const reg = await registerModel(env, registry, artifacts, opts.register);
    models[artifacts.name] = { modelId: reg.modelId, verifier: reg.verifier, artifacts, registration: reg };
    log.info(`model ${artifacts.name} ${reg.created ? "registered" : "already registered"}: ${reg.modelId}`);
  }
  return { precompile, registry, models };
}

/** The bond `startNode` posts for a new node unless told otherwise. */
export const DEFAULT_NODE_BOND = parseEther("2");

export interface NodeStartOptions extends Partial<Omit<NodeOptions, "precompile" | "models">> {
  signer: Signer;
  /** bond to post if the signer is not yet a node (default 2 ETH: the 1 ETH minimum bond that must
   * stay free, plus room for the stakes its answers lock) */
  bond?: bigint;
  /** which stack models to serve (default all) */
  serve?: string[];
}

/** Registers the signer as a node if needed, then starts an in-process node for the stack's models. */
export async function startNode(stack: SibylStack, opts: NodeStartOptions): Promise<InferenceNode> {
  const precompile = stack.precompile.connect(opts.signer);
  const address = await opts.signer.getAddress();
  const info = await precompile.nodeOf(address);
  if (!info.registered)
    await (await precompile.registerNode({ value: opts.bond ?? DEFAULT_NODE_BOND })).wait();
  const names = opts.serve ?? Object.keys(stack.models);
  for (const n of names)
    await checkServable(stack.registry, stack.models[n].artifacts, stack.models[n].modelId);
  const node = new InferenceNode({
    ...opts,
    precompile,
    models: names.map((n) => ({ modelId: stack.models[n].modelId, artifacts: stack.models[n].artifacts })),
    fromBlock: opts.fromBlock ?? (await opts.signer.provider!.getBlockNumber()),
  });
  await node.start();
  return node;
}
