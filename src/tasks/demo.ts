import type { Contract, Signer } from "ethers";
import { formatEther, parseEther } from "ethers";

import { type SibylEnv, deployCore } from "../env.js";
import { SibylError } from "../errors.js";
import { sibylAction } from "./action.js";

import { requestIdFrom } from "../client/client.js";
import { type SibylStack, setUpStack, startEnclaves, startNode } from "../chain/stack.js";
import { type ConsumerAction, SAMPLES, consumerActions, fmt } from "../demo/format.js";
import { type SyncDemoCall, syncCalls } from "../demo/sync.js";
import { type TeeDemo, showRegistration, teeApplication } from "../demo/tee.js";
import { type BatchDemo, batchApplications } from "../demo/batch.js";
import { type DigitTimeline, demoModel, runDigitDemo } from "../demo/digits.js";
import { type Logger, consoleLogger, prefixed } from "../log.js";
import { quantizeInput } from "../model/quantize.js";
import { loadModelFile } from "../model/schema.js";
import { NodeTracker } from "../node/tracker.js";
import { PACKAGE_ROOT } from "../paths.js";
import { releaseProverThreads } from "../zk/prover.js";

/**
 * The end-to-end demo: on the in-process Hardhat network, install the precompile at
 * 0x…F4, build (or reuse) the Iris model, register it, start a node, deploy the example
 * CreditLine consumer and let borrowers apply (asynchronous: request → answered → settled).
 * Prints each request's timeline; then an application in TEE mode, answered by an attested
 * (local, NOT hardware-backed) enclave and final at once (`demo/tee.ts`); then the synchronous
 * calls beside them (`demo/sync.ts`); then four applications settled with one batch proof
 * (`demo/batch.ts`).
 */

export interface DemoOptions {
  /** how many applications to send (cycles through one sample of each Iris class) */
  requests?: number;
  log?: Logger;
  pollMs?: number;
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

export interface DemoResult {
  timelines: DemoTimeline[];
  tee: TeeDemo;
  sync: SyncDemoCall[];
  batch: BatchDemo;
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

  log.info("starting a local enclave process for iris and registering it on-chain (TEE mode)…");
  const tee = await startEnclaves(stack.precompile, [iris], {
    admin: deployer,
    owner: deployer,
    operator: nodeSigner,
    log: prefixed(log, "  tee"),
  });
  const node = await startNode(stack, {
    signer: nodeSigner,
    pollMs: opts.pollMs ?? 50,
    log: prefixed(log, "  node"),
    enclaves: { iris: tee.enclaves.iris.enclave },
  });
  const tracker = new NodeTracker(node);
  const creditLine = await deployCreditLine(env, stack, deployer);
  log.info(`CreditLine consumer at ${await creditLine.getAddress()}\n`);

  // the model's base fee plus its price for the 200,000 gas each of CreditLine's hooks may use
  const fee: bigint = await creditLine.applicationFee();
  const timelines: DemoTimeline[] = [];
  let sync: SyncDemoCall[] = [];
  let teeDemo: TeeDemo;
  let batch: BatchDemo;
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
    showRegistration(tee.enclaves.iris, log);
    teeDemo = await teeApplication(
      env,
      stack,
      tracker,
      creditLine,
      borrowers[count % borrowers.length],
      tee.enclaves.iris,
      log,
    );
    sync = await syncCalls(env, stack, node, borrowers[0], log, true);
    // the batching node uses the same account: this one settles what it has first
    await node.stop();
    batch = await batchApplications(env, stack, nodeSigner, creditLine, borrowers, log);
  } finally {
    await node.stop();
    await tee.close();
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
  log.info(
    `\nTEE mode: ${teeDemo.label} final ${teeDemo.finalMs} ms after the request (answer gas ${fmt(teeDemo.finalGas)}), ` +
      `vs ZK settled ${timelines[0]?.settledLatencyMs ?? "?"} ms after it; enclave registration ${fmt(teeDemo.registrationGas)} gas, once`,
  );
  const single = timelines[0]?.settleGas;
  log.info(
    `batch settlement: ${batch.k} requests in one transaction, ${fmt(batch.settleGas)} gas = ${fmt(batch.settleGas / BigInt(batch.k))} per request` +
      (single === undefined ? "" : ` (one proof per request: ${fmt(single)})`),
  );
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
  return { timelines, tee: teeDemo, sync, batch };
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

/**
 * `sibyl:demo`: the end-to-end demo; returns each application's timeline and the synchronous
 * calls. With `--model mnist_cnn` (or mnist, mnist_private) it runs that digit model instead
 * (`demo/digits.ts`) and returns each digit's timeline.
 */
export default sibylAction(
  async (args: { requests: number; model?: string }, env): Promise<DemoResult | DigitTimeline[]> => {
    if (!env.inProcess)
      throw new SibylError(
        `the demo runs on the in-process network, not "${env.networkName}"`,
        "run it without --network (npx hardhat sibyl:demo)",
      );
    const model = demoModel(args.model ?? "iris");
    if (model !== "iris") return runDigitDemo(env, model, { requests: args.requests, log: consoleLogger });
    return runDemo(env, { requests: args.requests });
  },
);
