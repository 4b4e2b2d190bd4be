import type { Contract, Log, Signer, TransactionReceipt } from "ethers";
import { formatEther, parseEther } from "ethers";

import { type SibylEnv, deployCore } from "../env.js";
import { SibylError } from "../errors.js";
import { sibylAction } from "./action.js";

import { requestIdFrom } from "../client/client.js";
import { type SibylStack, setUpStack, startNode } from "../chain/stack.js";
import { type Logger, consoleLogger, prefixed } from "../log.js";
import { quantizeInput } from "../model/quantize.js";
import { loadModelFile } from "../model/schema.js";
import type { InferenceNode, PreparedEvent } from "../node/node.js";
import { NodeTracker } from "../node/tracker.js";
import { modelCid } from "../pipe/cid.js";
import { startInProcessPipe } from "../pipe/inProcess.js";
import { Finality, RequestState } from "../protocol/state.js";
import { PACKAGE_ROOT } from "../paths.js";
import { releaseProverThreads } from "../zk/prover.js";

/**
 * The end-to-end demo: on the in-process Hardhat network, install the precompile at
 * 0x…F4, build (or reuse) the Iris model, register it, start a node, deploy the example
 * CreditLine consumer and let borrowers apply (asynchronous: request → answered → settled).
 * Prints each request's timeline; then the synchronous calls beside it (see `syncCalls`).
 */

export interface DemoOptions {
  /** how many applications to send (cycles through one sample of each Iris class) */
  requests?: number;
  log?: Logger;
  pollMs?: number;
}

export interface ConsumerAction {
  event: string;
  args: string;
}

export interface DemoTimeline {
  borrower: string;
  features: number[];
  requestId: string;
  requestGas: bigint;
  output: bigint[];
  label: string;
  answerLatencyMs: number;
  answerGas: bigint;
  settledLatencyMs: number;
  proveMs: number;
  settleGas: bigint;
  onAnswered: ConsumerAction[];
  onSettled: ConsumerAction[];
}

// One borrower per Iris class, as raw measurements in cm.
const SAMPLES: Array<{ features: number[]; species: string }> = [
  { features: [5.1, 3.5, 1.4, 0.2], species: "setosa" },
  { features: [6.4, 3.2, 4.5, 1.5], species: "versicolor" },
  { features: [6.3, 3.3, 6.0, 2.5], species: "virginica" },
];

/** One synchronous call of the demo: a contract gets the model's output inside its own transaction. */
export interface SyncDemoCall {
  interface: "OpenGradient runModelInference" | "Sibyl infer";
  finality: "deferred" | "proof-carrying";
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

export interface DemoResult {
  timelines: DemoTimeline[];
  sync: SyncDemoCall[];
}

export async function runDemo(env: SibylEnv, opts: DemoOptions = {}): Promise<DemoResult> {
  const log = opts.log ?? consoleLogger;
  const count = opts.requests ?? 3;
  log.info("Sibyl demo — verifiable inference on the in-process Hardhat network\n");

  const stack = await setUpStack(env, { modelPaths: [`${PACKAGE_ROOT}/models/iris/model.json`], log });
  const iris = stack.models.iris;
  const [deployer, nodeSigner, ...borrowers] = await env.ethers.getSigners();
  log.info(
    `precompile at ${await stack.precompile.getAddress()}, registry at ${await stack.registry.getAddress()}`,
  );

  const node = await startNode(stack, {
    signer: nodeSigner,
    pollMs: opts.pollMs ?? 50,
    log: prefixed(log, "  node"),
  });
  const tracker = new NodeTracker(node);
  const creditLine = await deployCreditLine(env, stack, deployer);
  log.info(`CreditLine consumer at ${await creditLine.getAddress()}\n`);

  // the model's base fee plus its price for the 200,000 gas each of CreditLine's hooks may use
  const fee: bigint = await creditLine.applicationFee();
  const timelines: DemoTimeline[] = [];
  let sync: SyncDemoCall[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const sample = SAMPLES[i % SAMPLES.length];
      const borrower = borrowers[i % borrowers.length];
      const input = quantizeInput(iris.artifacts.quantized, sample.features);
      log.info(
        `── application ${i + 1}: borrower ${borrower.address.slice(0, 10)}…  features ${JSON.stringify(sample.features)} cm (a ${sample.species})`,
      );
      const t0 = Date.now();
      const tx = await (creditLine.connect(borrower) as Contract).applyForCredit(input, { value: fee });
      const receipt = await tx.wait();
      const requestId = requestIdFrom(stack.precompile, receipt);
      log.info(
        `   requested  block ${receipt.blockNumber}  gas ${fmt(receipt.gasUsed)}  id ${requestId.slice(0, 18)}…`,
      );

      const answered = await tracker.waitAnswered(requestId);
      const label = iris.artifacts.classes?.[Number(answered.output[0])] ?? String(answered.output[0]);
      const onAnswered = await consumerActions(env, creditLine, answered.txHash);
      log.info(
        `   answered   +${answered.at - t0} ms  gas ${fmt(answered.gasUsed)}  output [${answered.output.join(", ")}] = ${label}`,
      );
      for (const a of onAnswered) log.info(`              ↳ CreditLine ${a.event}(${a.args})`);

      const settled = await tracker.waitSettled(requestId);
      const onSettled = await consumerActions(env, creditLine, settled.txHash);
      log.info(
        `   settled    +${settled.at - t0} ms  proof ${settled.proveMs} ms  gas ${fmt(settled.gasUsed)}  (Groth16 verified on-chain)`,
      );
      for (const a of onSettled) log.info(`              ↳ CreditLine ${a.event}(${a.args})`);
      log.info("");

      timelines.push({
        borrower: borrower.address,
        features: sample.features,
        requestId,
        requestGas: receipt.gasUsed,
        output: answered.output,
        label,
        answerLatencyMs: answered.at - t0,
        answerGas: answered.gasUsed,
        settledLatencyMs: settled.at - t0,
        proveMs: settled.proveMs,
        settleGas: settled.gasUsed,
        onAnswered,
        onSettled,
      });
    }
    sync = await syncCalls(env, stack, node, borrowers[0], log);
  } finally {
    await node.stop();
    await releaseProverThreads();
  }

  log.info("summary");
  console.table(
    timelines.map((t) => ({
      class: t.label,
      "request gas": Number(t.requestGas),
      "answered (ms)": t.answerLatencyMs,
      "answer gas": Number(t.answerGas),
      "prove (ms)": t.proveMs,
      "settled (ms)": t.settledLatencyMs,
      "settle gas": Number(t.settleGas),
    })),
  );
  const a = iris.artifacts;
  log.info(
    `model iris: ${a.constraints} constraints, ${a.publicSignals} public signals, ptau 2^${a.ptau.power}${a.ptau.development ? " (development, NOT secure)" : ""}`,
  );
  const metrics = loadModelFile(a.modelPath).metrics ?? {};
  const pct = (v: unknown) => (typeof v === "number" ? `${(v * 100).toFixed(1)}%` : "n/a");
  log.info(
    `accuracy on ${metrics.testSamples ?? "?"} held-out samples: float ${pct(metrics.floatTestAccuracy)}, quantized (what the circuit proves) ${pct(metrics.quantizedTestAccuracy)}`,
  );
  for (const t of timelines) {
    const limit = await (creditLine as Contract).creditLimit(t.borrower);
    log.info(`final credit limit of ${t.borrower.slice(0, 10)}… (${t.label}): ${formatEther(limit)} ETH`);
  }
  log.info("\nsynchronous calls (the output inside the caller's own transaction)");
  console.table(
    sync.map((c) => ({
      interface: c.interface,
      finality: c.finality,
      class: c.label,
      "call gas": Number(c.callGas),
      "prepare gas": Number(c.prepareGas),
      "sent → mined (ms)": c.latencyMs,
      "state after": c.stateAfter,
    })),
  );
  return { timelines, sync };
}

/**
 * The synchronous side, beside the async flow: the pre-execution layer in front of the
 * in-process network, then one contract written for OpenGradient's precompile (unmodified, its
 * `runModelInference` answered at 0x…F4) and one written with Sibyl's `infer`, each with both
 * finalities: deferred (answered now, proved later by the node: the trust gap) and
 * proof-carrying (the proof verified inside the call: final at once).
 */
async function syncCalls(
  env: SibylEnv,
  stack: SibylStack,
  node: InferenceNode,
  caller: Signer,
  log: Logger,
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
    for (const [finality, mode] of [
      ["deferred", 0],
      ["proof-carrying", 1],
    ] as const) {
      const og = await deployCore("IrisClassifierOG", caller, modelCid(iris.modelId), mode);
      const t0 = Date.now();
      const receipt = await (await (og.connect(caller) as Contract).classify(cm, 1)).wait();
      const latencyMs = Date.now() - t0;
      const species = Number(await (og as Contract).lastSpecies());
      calls.push(
        await describeSync(
          stack,
          receipt,
          "OpenGradient runModelInference",
          finality,
          prepareGas,
          latencyMs,
          iris.artifacts.classes?.[species] ?? String(species),
        ),
      );
    }
    const instant = await deployCore("InstantClassifier", caller, iris.modelId);
    const input = quantizeInput(iris.artifacts.quantized, sample.features);
    for (const [finality, value] of [
      ["deferred", Finality.Deferred],
      ["proof-carrying", Finality.ProofCarrying],
    ] as const) {
      const t0 = Date.now();
      const receipt = await (await (instant.connect(caller) as Contract).classify(input, value)).wait();
      const latencyMs = Date.now() - t0;
      const cls = Number(await (instant as Contract).lastClass());
      calls.push(
        await describeSync(
          stack,
          receipt,
          "Sibyl infer",
          finality,
          prepareGas,
          latencyMs,
          iris.artifacts.classes?.[cls] ?? String(cls),
        ),
      );
    }
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

async function deployCreditLine(env: SibylEnv, stack: SibylStack, deployer: Signer): Promise<Contract> {
  // Iris class → risk tier: setosa 0 (low), versicolor 1, virginica 2 (high)
  const tierLimits: [bigint, bigint, bigint] = [parseEther("5"), parseEther("2"), parseEther("0.5")];
  const provisionalCap = parseEther("0.05");
  return deployCore(
    "CreditLine",
    deployer,
    await stack.precompile.getAddress(),
    stack.models.iris.modelId,
    tierLimits,
    provisionalCap,
  );
}

/** The events the consumer emitted inside a transaction: what it did at that phase. */
async function consumerActions(env: SibylEnv, consumer: Contract, txHash: string): Promise<ConsumerAction[]> {
  const receipt = await env.ethers.provider.getTransactionReceipt(txHash);
  const address = (await consumer.getAddress()).toLowerCase();
  return (receipt?.logs ?? [])
    .filter((l: Log) => l.address.toLowerCase() === address)
    .map((l: Log) => consumer.interface.parseLog(l))
    .filter((p): p is NonNullable<typeof p> => p !== null)
    .map((p) => ({
      event: p.name,
      args: p.fragment.inputs.map((input, k) => `${input.name}=${formatArg(p.args[k])}`).join(", "),
    }));
}

function formatArg(v: unknown): string {
  if (typeof v === "bigint") return v > 10n ** 15n ? `${formatEther(v)} ETH` : v.toString();
  if (typeof v === "string" && v.length > 20) return `${v.slice(0, 10)}…`;
  return String(v);
}

function fmt(n: bigint): string {
  return Number(n).toLocaleString("en-US");
}

/** `sibyl:demo`: the end-to-end demo; returns each application's timeline and the synchronous calls. */
export default sibylAction(async (args: { requests: number }, env): Promise<DemoResult> => {
  if (!env.inProcess)
    throw new SibylError(
      `the demo runs on the in-process network, not "${env.networkName}"`,
      "run it without --network (npx hardhat sibyl:demo)",
    );
  return runDemo(env, { requests: args.requests });
});
