import type { SibylEnv } from "../env.js";
import type { Signer } from "ethers";
import { parseEther } from "ethers";

import type { ModelArtifacts } from "../pipeline/artifacts.js";
import { buildModel } from "../pipeline/buildModel.js";
import { type BatchArtifacts, buildBatch } from "../pipeline/buildBatch.js";
import { checkedBatchVerifier, registerBatchVerifier } from "./batch.js";
import { type Logger, consoleLogger } from "../log.js";
import { InferenceNode, type NodeOptions } from "../node/node.js";
import { type EnclaveRegistration, registerEnclave } from "../tee/register.js";
import { loadOrCreateDevCa } from "../tee/devCa.js";
import type { Enclave } from "../tee/enclave.js";
import { LocalEnclaveProcess } from "../tee/localEnclaveProcess.js";
import { TEE_DEV_DIR } from "../paths.js";
import { allowMeasurement, catchUpDevClock, enclaveRegistryOf, ensureEnclaveRegistry } from "./enclaves.js";
import { ChainError } from "../errors.js";
import { installPrecompile } from "./install.js";
import { checkServable } from "./registration.js";
import { type RegisterOptions, type RegisteredModel, registerModel } from "./models.js";
import type { EnclaveRegistry, InferencePrecompile, ModelRegistry } from "../../typechain-types/index.js";

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
  /** its batch circuits with registered verifiers (`StackOptions.batchSizes`) */
  batches?: BatchArtifacts[];
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
  /**
   * batch sizes to settle answers with (docs/batching.md): each model's batch circuit for each
   * size is built (cached) and its verifier registered; a node started on the stack settles in
   * batches. Default none: one proof per request.
   */
  batchSizes?: number[];
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
    if (opts.batchSizes?.length)
      models[artifacts.name].batches = await setUpBatches(
        registry,
        reg.modelId,
        artifacts.name,
        opts.batchSizes,
        log,
      );
  }
  return { precompile, registry, models };
}

/** The bond `startNode` posts for a new node unless told otherwise. */
/**
 * Builds a model's batch circuits (cached) and registers their verifiers (once per size; the
 * registry's signer must be the model's owner), or, with `register: false`, only checks that
 * this build's verifiers are registered (a node that is not the owner).
 */
export async function setUpBatches(
  registry: ModelRegistry,
  modelId: string,
  name: string,
  sizes: readonly number[],
  log: Logger,
  opts: { register?: boolean } = {},
): Promise<BatchArtifacts[]> {
  const batches: BatchArtifacts[] = [];
  for (const k of sizes) {
    const { artifacts } = await buildBatch(name, k, { log });
    if (opts.register === false) {
      const found = await checkedBatchVerifier(registry, modelId, artifacts);
      log.info(`model ${name}: settles in batches of up to ${k} (verifier ${found.verifier})`);
    } else {
      const reg = await registerBatchVerifier(registry, modelId, artifacts);
      log.info(
        `batch verifier of ${name} for ${k} ${reg.created ? "registered" : "already registered"}: ${reg.verifier}`,
      );
    }
    batches.push(artifacts);
  }
  return batches;
}

export const DEFAULT_NODE_BOND = parseEther("2");

export interface NodeStartOptions extends Partial<Omit<NodeOptions, "precompile" | "models">> {
  signer: Signer;
  /** bond to post if the signer is not yet a node (default 2 ETH: the 1 ETH minimum bond that must
   * stay free, plus room for the stakes its answers lock) */
  bond?: bigint;
  /** which stack models to serve (default all) */
  serve?: string[];
  /** attested enclaves that run models for TEE-mode requests, by model name (`startEnclaves`) */
  enclaves?: Record<string, Enclave>;
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
    models: names.map((n) => ({
      modelId: stack.models[n].modelId,
      artifacts: stack.models[n].artifacts,
      ...(opts.enclaves?.[n] ? { enclave: opts.enclaves[n] } : {}),
      ...(stack.models[n].batches ? { batches: stack.models[n].batches } : {}),
    })),
    fromBlock: opts.fromBlock ?? (await opts.signer.provider!.getBlockNumber()),
  });
  await node.start();
  return node;
}

export interface EnclaveStartOptions {
  /** the precompile's admin: sets up the enclave registry if the precompile has none */
  admin?: Signer;
  /** the models' owner: allows each enclave's measurement for its model when it is not yet allowed */
  owner?: Signer;
  /** the node account that registers the enclave keys and will submit their answers */
  operator: Signer;
  /** where the development root CA is kept (default `build/tee`) */
  caDir?: string;
  log?: Logger;
}

export interface StartedEnclave {
  enclave: Enclave;
  registration: EnclaveRegistration;
}

export interface StartedEnclaves {
  registry: EnclaveRegistry;
  /** by model name */
  enclaves: Record<string, StartedEnclave>;
  /** stops every enclave process */
  close(): Promise<void>;
}

/**
 * TEE mode on a development chain: starts one local enclave process per model (under the
 * project's development root CA, NOT hardware-backed), pins that root in the precompile's
 * enclave registry (set up by `admin` on first use), has `owner` allow each enclave's measurement
 * for its model, and registers each answer key on-chain for `operator`, the attestation document
 * verified there. Pass the enclaves to the node (`ServedModel.enclave`) so it answers TEE-mode
 * requests with them.
 */
export async function startEnclaves(
  precompile: InferencePrecompile,
  models: readonly { modelId: string; artifacts: ModelArtifacts }[],
  opts: EnclaveStartOptions,
): Promise<StartedEnclaves> {
  const log = opts.log ?? consoleLogger;
  const ca = await loadOrCreateDevCa(opts.caDir ?? TEE_DEV_DIR);
  const registry = opts.admin
    ? await ensureEnclaveRegistry(precompile, opts.admin, { rootDer: ca.rootDer })
    : await enclaveRegistryOf(precompile, opts.operator);
  // the documents carry the wall clock's time; a development chain may run behind it
  await catchUpDevClock(precompile.runner!.provider!, log);
  const started: Record<string, StartedEnclave> = {};
  const processes: Enclave[] = [];
  const close = async () => {
    await Promise.all(processes.map((e) => e.close()));
  };
  try {
    for (const model of models) {
      const name = model.artifacts.name;
      const enclave = await LocalEnclaveProcess.start({ ca, model: model.artifacts.quantized, log });
      processes.push(enclave);
      log.info(`enclave for ${name}: ${enclave.describe()}`);
      await allowed(registry, model.modelId, name, enclave.measurement, opts.owner, log);
      const registration = await registerEnclave({
        registry: registry.connect(opts.operator),
        enclave,
        modelId: model.modelId,
        log,
      });
      started[name] = { enclave, registration };
      log.info(
        `  key ${registration.key} registered: ${registration.steps.length} transaction(s), ${registration.gasUsed} gas` +
          (registration.cached > 0 ? ` (${registration.cached} certificate(s) already verified)` : ""),
      );
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { registry, enclaves: started, close };
}

/** Makes sure the model allows the enclave's measurement: as its owner if given, else says who must. */
async function allowed(
  registry: EnclaveRegistry,
  modelId: string,
  name: string,
  measurement: string,
  owner: Signer | undefined,
  log: Logger,
): Promise<void> {
  if (await registry.isMeasurementAllowed(modelId, measurement)) return;
  if (!owner)
    throw new ChainError(
      `model ${name} does not allow enclaves with measurement ${measurement}`,
      `its owner allows it with setMeasurement(${modelId}, ${measurement}, true) on the enclave registry ${await registry.getAddress()}`,
    );
  await allowMeasurement(registry, owner, modelId, measurement);
  log.info(`  model ${name} now allows enclave measurement ${measurement}`);
}
