import type { Contract, Signer, TransactionReceipt } from "ethers";
import { formatEther } from "ethers";

import { type SibylEnv, deployCore } from "../env.js";
import { SibylError } from "../errors.js";
import type { SibylStack } from "../chain/stack.js";
import type { Logger } from "../log.js";
import { quantizeInput } from "../model/quantize.js";
import type { InferenceNode, PreparedEvent } from "../node/node.js";
import { modelCid } from "../pipe/cid.js";
import { startInProcessPipe } from "../pipe/inProcess.js";
import { Finality, RequestState } from "../protocol/state.js";
import { SAMPLES, fmt } from "./format.js";

/** One synchronous call of the demo: a contract gets the model's output inside its own transaction. */
export interface SyncDemoCall {
  interface: "OpenGradient runModelInference" | "Sibyl infer";
  finality: "deferred" | "proof-carrying" | "attested (TEE)";
  label: string;
  /** gas of the user's transaction */
  callGas: bigint;
  /** gas of the node's prepare transaction */
  prepareGas: bigint;
  /** ms from sending the transaction to its receipt, preparation included */
  latencyMs: number;
  /** the request's state right after the transaction: Answered (deferred) or Settled */
  stateAfter: string;
}

/**
 * The synchronous side, beside the async flow: the pre-execution layer in front of the
 * in-process network, then one contract written for OpenGradient's precompile (unmodified, its
 * `runModelInference` answered at 0x…F4) and one written with Sibyl's `infer`, each with every
 * finality: deferred (answered now, proved later by the node: the trust gap), proof-carrying
 * (the proof verified inside the call: final at once) and, when the node runs an enclave for the
 * model, attested (OpenGradient's TEE mode: the enclave's signature, final at once).
 */
export async function syncCalls(
  env: SibylEnv,
  stack: SibylStack,
  node: InferenceNode,
  caller: Signer,
  log: Logger,
  tee: boolean,
): Promise<SyncDemoCall[]> {
  const iris = stack.models.iris;
  const { layer, detach } = startInProcessPipe(env, stack.precompile, node);
  const prepareGas = new Map<string, bigint>();
  const onPrepared = (e: PreparedEvent) => {
    for (const p of e.prepared) prepareGas.set(p.requestId, e.gasUsed);
  };
  node.on("prepared", onPrepared);
  const calls: SyncDemoCall[] = [];
  try {
    const from = await caller.getAddress();
    const fee = (await stack.registry.getModel(iris.modelId)).config.fee;
    await (await stack.precompile.connect(caller).deposit(node.account, { value: 10n * fee })).wait();
    log.info(
      `\n── synchronous calls: ${from.slice(0, 10)}… deposits ${formatEther(10n * fee)} ETH of credit with the node; model CID ${modelCid(iris.modelId)}`,
    );
    const sample = SAMPLES[2];
    const cm = sample.features.map((v) => BigInt(Math.round(v * 10)));
    // OpenGradient's modes: VANILLA 0, ZK 1, TEE 2
    const ogModes = [
      ["deferred", 0],
      ["proof-carrying", 1],
      ...(tee ? ([["attested (TEE)", 2]] as const) : []),
    ] as const;
    /** Sends one classifying transaction and describes the synchronous call it made. */
    const classify = async (
      iface: SyncDemoCall["interface"],
      finality: SyncDemoCall["finality"],
      send: () => Promise<{ wait(): Promise<TransactionReceipt | null> }>,
      classOf: () => Promise<bigint>,
    ) => {
      const t0 = Date.now();
      const receipt = (await (await send()).wait())!;
      const latencyMs = Date.now() - t0;
      const cls = Number(await classOf());
      const label = iris.artifacts.classes?.[cls] ?? String(cls);
      calls.push(await describeSync(stack, receipt, iface, finality, prepareGas, latencyMs, label));
    };
    for (const [finality, mode] of ogModes) {
      const og = (await deployCore("IrisClassifierOG", caller, modelCid(iris.modelId), mode)) as Contract;
      await classify(
        "OpenGradient runModelInference",
        finality,
        () => (og.connect(caller) as Contract).classify(cm, 1),
        () => og.lastSpecies(),
      );
    }
    const instant = (await deployCore("InstantClassifier", caller, iris.modelId)) as Contract;
    const input = quantizeInput(iris.artifacts.quantized, sample.features);
    const finalities = [
      ["deferred", Finality.Deferred],
      ["proof-carrying", Finality.ProofCarrying],
      ...(tee ? ([["attested (TEE)", Finality.Attested]] as const) : []),
    ] as const;
    for (const [finality, value] of finalities)
      await classify(
        "Sibyl infer",
        finality,
        () => (instant.connect(caller) as Contract).classify(input, value),
        () => instant.lastClass(),
      );
    for (const c of calls)
      log.info(
        `   ${c.interface}, ${c.finality}: ${c.label} in the same transaction  (${c.latencyMs} ms, call gas ${fmt(c.callGas)}, prepare gas ${fmt(c.prepareGas)}; request ${c.stateAfter})`,
      );
    log.info(`   (${layer.history.length} transactions went through the pre-execution layer)`);
  } finally {
    node.off("prepared", onPrepared);
    detach();
  }
  return calls;
}

async function describeSync(
  stack: SibylStack,
  receipt: TransactionReceipt,
  iface: SyncDemoCall["interface"],
  finality: SyncDemoCall["finality"],
  prepareGas: Map<string, bigint>,
  latencyMs: number,
  label: string,
): Promise<SyncDemoCall> {
  const consumed = receipt.logs
    .map((l) => {
      try {
        return stack.precompile.interface.parseLog(l);
      } catch {
        return null;
      }
    })
    .find((e) => e?.name === "SyncInferenceConsumed");
  if (!consumed) throw new SibylError("the synchronous call consumed no prepared result");
  const requestId = consumed.args.requestId as string;
  const state = Number(await stack.precompile.stateOf(requestId));
  return {
    interface: iface,
    finality,
    label,
    callGas: receipt.gasUsed,
    prepareGas: prepareGas.get(requestId) ?? 0n,
    latencyMs,
    stateAfter: RequestState[state],
  };
}
