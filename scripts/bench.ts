/**
 * Sibyl benchmark: per model (iris, iris_private, mnist, mnist_private, mnist_cnn), constraints,
 * proving time (median of ≥ 5 proofs), verifier and settlement gas, request → answered / settled latency with an in-process node, and
 * synchronous calls (gas of the call and of its preparation, latency in-process and through
 * the proxy, beside the async path: `sync.deferred`, `sync.proofCarrying`, `sync.async`); and,
 * on Iris, TEE mode (`tee`: enclave registration gas cold and with cached intermediates, the gas
 * of the answer that makes a TEE request final, request → final latency beside ZK's); and batch
 * settlement per k (`batch`: one proof for k requests, `scripts/bench-batch.ts`), charted in
 * bench/batch-gas.png. Proving is measured cold (`proveColdMs`: the first proof of a process, by
 * `groth16.fullProve`), by `fullProve` once the curve is built (`fullProveMsMedian`: every proof
 * before provers were kept warm) and warm (`proveMsMedian`); and the proving queue's throughput
 * (`throughput`: 100 Iris and 30 MNIST requests through Redis with 1, 2 and 4 `sibyl:prover`
 * workers, `throughputInProcess` beside them, `scripts/bench-throughput.ts`; it needs a
 * `redis-server` on the machine or `REDIS_URL`); and the MNIST MLP beside the same network built
 * with circomlib-ml's templates (`baseline`: constraints, proving, verifier gas, the tamper test;
 * src/bench/baseline/; alone: `npx hardhat run scripts/bench-baseline.ts`). Prints tables and
 * writes bench/results.json.
 *
 *   npm run bench                 (BENCH_REQUESTS=n, BENCH_PROOFS=n, BENCH_SYNC_RUNS=n, BENCH_TEE_RUNS=n,
 *                                  BENCH_THROUGHPUT_IRIS=n, BENCH_THROUGHPUT_MNIST=n to change the sample sizes)
 */
import os from "node:os";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import hre, { network } from "hardhat";

import { weightSecretsOf } from "../src/pipeline/artifacts.js";
import { onChainDecoder } from "../src/chain/decode.js";
import { templateConstraints } from "../src/circuit/cost.js";
import { circuitInputFor } from "../src/circuit/inputs.js";
import { accuracyReport } from "../src/pipeline/accuracy.js";
import { loadModelFile } from "../src/model/schema.js";
import { heldOut } from "../src/pipeline/accuracy.js";
import { requestInference } from "../src/client/client.js";
import { setUpStack, startNode } from "../src/chain/stack.js";
import { prefixed, consoleLogger, silentLogger } from "../src/log.js";
import { quantizeInput } from "../src/model/quantize.js";
import { NodeTracker } from "../src/node/tracker.js";
import { sibylEnv } from "../src/env.js";
import { PROJECT_ROOT } from "../src/paths.js";
import { type QConv2d, type QDense, runQuantized } from "../src/runtime/fixed.js";
import { SnarkjsProver, proveCold, releaseProverThreads, toSolidityProof } from "../src/zk/prover.js";
import { createRequire } from "node:module";
import { benchSync } from "./bench-sync.js";
import { type TeeBench, benchTee } from "./bench-tee.js";
import { median } from "../src/bench/stats.js";
import { type BatchPoint, benchBatch } from "./bench-batch.js";
import { lineChart } from "../src/bench/chart.js";
import { baselineTable, benchBaseline } from "../src/bench/baseline/bench.js";
import { type ThroughputPoint, benchRedis, benchThroughput } from "./bench-throughput.js";

const require = createRequire(import.meta.url);

/** Each model with the data set it was trained on (its held-out split gives the accuracy figures). */
const MODELS: Array<{ path: string; data: string }> = [
  { path: join(PROJECT_ROOT, "models", "iris", "model.json"), data: "iris" },
  { path: join(PROJECT_ROOT, "models", "iris_private", "model.json"), data: "iris" },
  { path: join(PROJECT_ROOT, "models", "mnist", "model.json"), data: "mnist" },
  { path: join(PROJECT_ROOT, "models", "mnist_private", "model.json"), data: "mnist" },
  { path: join(PROJECT_ROOT, "models", "mnist_cnn", "model.json"), data: "mnist28" },
];
const ONCHAIN_SAMPLES = Number(process.env.BENCH_ONCHAIN ?? 50);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 5);
const PROOFS = Math.max(5, Number(process.env.BENCH_PROOFS ?? 7));
/** synchronous calls of each finality per model, each way (in-process, through the proxy) */
const SYNC_RUNS = Math.max(1, Number(process.env.BENCH_SYNC_RUNS ?? 3));
/** requests per throughput run, by model (models not listed get no throughput run) */
const THROUGHPUT_REQUESTS: Record<string, number> = {
  iris: Number(process.env.BENCH_THROUGHPUT_IRIS ?? 100),
  mnist: Number(process.env.BENCH_THROUGHPUT_MNIST ?? 30),
};
/** TEE-mode requests on Iris (each answered by the local enclave process, final at once) */
const TEE_RUNS = Math.max(1, Number(process.env.BENCH_TEE_RUNS ?? 3));

/**
 * The adversarial cases the test suite exercises, counted from its sources: every `it(` in
 * the trust-gap, consumer-hook, fault, restart and attack suites, and the property test's run count.
 */
function adversarialCases(): { total: number; byFile: Record<string, number>; propertySequences: number } {
  const files = [
    "test/contracts/TrustGap.test.ts",
    "test/contracts/ConsumerHooks.test.ts",
    "test/node/rpc-faults.test.ts",
    "test/node/restart.test.ts",
    // issue 7: the attacks on model ids, verifiers, windows, administration, collateral and fees
    "test/contracts/Attacks.test.ts",
    "test/e2e/squatting.test.ts",
    "test/chain/install.test.ts",
    "test/node/declines.test.ts",
    // issue 10: TEE mode's refusals (signatures, keys, policy) and tampered attestation documents
    "test/contracts/TeeMode.test.ts",
    "test/tee/attestation-verifier.test.ts",
  ];
  const byFile: Record<string, number> = {};
  for (const f of files)
    byFile[f] = (readFileSync(join(PROJECT_ROOT, f), "utf8").match(/\bit\(/g) ?? []).length;
  const property = readFileSync(join(PROJECT_ROOT, "test/contracts/StateMachine.property.test.ts"), "utf8");
  const runs = /const RUNS\s*=\s*([\d_]+)/.exec(property);
  return {
    total: Object.values(byFile).reduce((a, b) => a + b, 0),
    byFile,
    propertySequences: runs ? Number(runs[1].replace(/_/g, "")) : 0,
  };
}

/** Gas per inference against k for every model, beside one proof per request (bench/batch-gas.png). */
function batchChart(results: { name: string; settleGas: number; batch: BatchPoint[] }[]): Buffer {
  const colors: [number, number, number][] = [
    [31, 119, 180],
    [214, 39, 40],
    [44, 160, 44],
  ];
  return lineChart({
    title: "Settlement gas per inference against batch size",
    xLabel: "requests per proof (k)",
    yLabel: "gas per inference",
    logX: true,
    series: results.map((r, i) => ({
      name: r.name,
      color: colors[i % colors.length],
      points: r.batch.map((b) => ({ x: b.k, y: b.gasPerInference })),
    })),
    horizontalLines: [
      {
        y: results.find((r) => r.name === "iris")?.settleGas ?? results[0].settleGas,
        label: "iris: settle, one proof each",
      },
      { y: 35_000, label: "target 35k (iris, k = 32)" },
    ],
  });
}

function pct(v: number | undefined): string {
  return v === undefined ? "—" : `${(v * 100).toFixed(2)}%`;
}

async function main(): Promise<void> {
  const log = consoleLogger;
  const env = await sibylEnv(hre, await network.create());
  const { ethers } = env;
  const stack = await setUpStack(env, { modelPaths: MODELS.map((m) => m.path), log });
  const [requester, nodeSigner] = await ethers.getSigners();
  const results = [];
  let tee: TeeBench | undefined;
  const throughput: ThroughputPoint[] = [];
  const throughputInProcess: ThroughputPoint[] = [];
  const redis = await benchRedis(log);

  for (const { path, data } of MODELS) {
    const model = Object.values(stack.models).find((m) => m.artifacts.modelPath === path)!;
    const a = model.artifacts;
    const q = a.quantized;
    const file = loadModelFile(path);
    const heldOutSamples = heldOut(file, data, "test");
    const input = quantizeInput(q, heldOutSamples.inputs[0]);
    const output = runQuantized(q, input).output;
    log.info(`\nbenchmarking ${a.name}: ${PROOFS} proofs, ${REQUESTS} requests`);

    const secrets = weightSecretsOf(a); // private weights: salt and commitment; else undefined
    // cold: the first proof of a process, as every proof used to be made (groth16.fullProve from
    // the files: the curve's threads built, the wasm compiled, the zkey read)
    await releaseProverThreads();
    const proveColdMs = (
      await proveCold(a.wasmPath, a.zkeyPath, circuitInputFor(q, 1n, input, output, secrets))
    ).ms;
    // fullProve once the curve is built: the per-proof path before provers were kept warm
    const fullProveMs: number[] = [];
    for (let i = 0; i < 5; i++)
      fullProveMs.push(
        (
          await proveCold(
            a.wasmPath,
            a.zkeyPath,
            circuitInputFor(q, BigInt(i + 900) << 3n, input, output, secrets),
          )
        ).ms,
      );
    // proving time, warm, in-process: witness calculator and zkey kept in memory (warmed first)
    const prover = new SnarkjsProver(a.wasmPath, a.zkeyPath);
    await prover.warm();
    const proveMs: number[] = [];
    let lastProof;
    for (let i = 0; i < PROOFS; i++) {
      const r = await prover.prove(circuitInputFor(q, BigInt(i + 2) << 3n, input, output, secrets));
      proveMs.push(r.ms);
      lastProof = r;
    }

    // the verifier alone, as a transaction
    const verifier = await ethers.getContractAt(a.verifierContract, model.verifier);
    const p = toSolidityProof(lastProof!.proof);
    const verifyGas = await verifier.verifyProof.estimateGas(
      [p[0], p[1]],
      [
        [p[2], p[3]],
        [p[4], p[5]],
      ],
      [p[6], p[7]],
      lastProof!.publicSignals,
    );

    // the full path: request → node answers → node proves → node settles
    const node = await startNode(stack, { signer: nodeSigner, pollMs: 50, log: prefixed(silentLogger, "") });
    const tracker = new NodeTracker(node);
    const fee = (await stack.registry.getModel(model.modelId)).config.fee;
    const answerLatency: number[] = [];
    const settledLatency: number[] = [];
    const gas = { request: [] as number[], answer: [] as number[], settle: [] as number[] };
    try {
      for (let i = 0; i < REQUESTS; i++) {
        const t0 = Date.now();
        const { requestId, receipt } = await requestInference(
          stack.precompile.connect(requester),
          model.modelId,
          input,
          {
            fee,
          },
        );
        const answered = await tracker.waitAnswered(requestId);
        const settled = await tracker.waitSettled(requestId);
        answerLatency.push(answered.at - t0);
        settledLatency.push(settled.at - t0);
        gas.request.push(Number(receipt.gasUsed));
        gas.answer.push(Number(answered.gasUsed));
        gas.settle.push(Number(settled.gasUsed));
      }
    } finally {
      await node.stop();
    }

    // synchronous calls (deferred and proof-carrying) beside the async path, in-process and through the proxy
    log.info(`  synchronous calls: ${SYNC_RUNS} of each finality, in-process and through the proxy…`);
    const syncNode = await startNode(stack, {
      signer: nodeSigner,
      pollMs: 50,
      log: prefixed(silentLogger, ""),
    });
    let sync;
    try {
      sync = await benchSync(env, stack, model, syncNode, requester, input, SYNC_RUNS);
    } finally {
      await syncNode.stop();
    }

    // TEE mode (Iris): register an enclave key, then TEE requests answered final at once
    if (a.name === "iris") {
      log.info(`  TEE mode: enclave registration and ${TEE_RUNS} requests answered by the enclave…`);
      const [deployer] = await ethers.getSigners();
      tee = await benchTee(
        stack,
        model,
        input,
        deployer,
        nodeSigner,
        requester,
        {
          answerGas: median(gas.answer),
          answerLatencyMs: median(answerLatency),
          settledLatencyMs: median(settledLatency),
        },
        TEE_RUNS,
      );
    }

    // a slash: an answer nobody settles, slashed by a bystander after the settlement deadline
    const signers = await ethers.getSigners();
    const [lazyNode, bystander] = [signers[signers.length - 3], signers[signers.length - 2]];
    const lazy = stack.precompile.connect(lazyNode);
    if (!(await lazy.nodeOf(lazyNode.address)).registered)
      await (await lazy.registerNode({ value: ethers.parseEther("5") })).wait();
    const { requestId: unsettled } = await requestInference(
      stack.precompile.connect(requester),
      model.modelId,
      input,
      {
        fee,
      },
    );
    await (await lazy.answer(unsettled, output)).wait();
    const window = (await stack.registry.getModel(model.modelId)).config.settlementWindow;
    await ethers.provider.send("evm_increaseTime", [Number(window) + 1]);
    await ethers.provider.send("evm_mine", []);
    const slashReceipt = await (await stack.precompile.connect(bystander).slash(unsettled)).wait();

    // batch settlement: one proof for k requests, for every k the development ptau allows
    const batch = await benchBatch(stack, model, requester, nodeSigner, input, output, prefixed(log, ""));

    // throughput: a burst of requests proved through the Redis queue by 1, 2 and 4 workers
    let throughputRows: { queued: ThroughputPoint[]; inProcess: ThroughputPoint } | undefined;
    if (THROUGHPUT_REQUESTS[a.name] && redis)
      throughputRows = await benchThroughput(
        stack,
        model,
        requester,
        nodeSigner,
        input,
        output,
        THROUGHPUT_REQUESTS[a.name],
        redis.url,
        prefixed(log, ""),
      );
    if (throughputRows) {
      throughput.push(...throughputRows.queued);
      throughputInProcess.push(throughputRows.inProcess);
    }

    // accuracy and agreement: float vs runtime vs witness on the held-out set, on-chain on a subset
    log.info(
      `  accuracy on ${heldOutSamples.inputs.length} held-out samples (${ONCHAIN_SAMPLES} decoded on-chain)…`,
    );
    const accuracy = await accuracyReport(file, heldOutSamples, {
      artifacts: a,
      onChain: onChainDecoder(stack, a.name, requester, signers[signers.length - 1]),
      onChainSamples: ONCHAIN_SAMPLES,
    });

    // per-template costs, measured by compiling each template alone with this model's parameters
    const denseLayers = q.layers.filter((l): l is QDense => l.type === "dense");
    const weighted = q.layers.filter((l): l is QDense | QConv2d => l.type === "dense" || l.type === "conv2d");
    const classes =
      q.layers.at(-1)?.type === "argmax" ? denseLayers[denseLayers.length - 1].weights.length : 0;
    // a neuron: one output of the first dense or conv layer, rescaled with its ReLU
    const constraintsPerNeuron = await templateConstraints("fixedpoint.circom", "RescaleReLU", [
      weighted[0].weightFracBits,
      q.valueBits,
    ]);
    const weightCount = weighted.reduce((n, l) => n + l.weights.flat(3).length, 0);
    const biasCount = weighted.reduce((n, l) => n + l.bias.length, 0);
    const commitmentConstraintsPerWeight =
      q.weights === "private"
        ? (await templateConstraints("commitment.circom", "WeightCommitment", [
            weightCount,
            q.weightBits,
            biasCount,
          ])) / weightCount
        : undefined;
    const argmaxConstraints = classes
      ? await templateConstraints("argmax.circom", "ArgMax", [classes, q.valueBits])
      : 0;

    results.push({
      name: a.name,
      weightVisibility: q.weights,
      constraints: a.constraints,
      constraintsPerNeuron,
      argmaxConstraints,
      // public weights are circuit constants: a multiply-accumulate is a linear combination (0)
      macConstraintsPerWeight:
        q.weights === "public"
          ? 0
          : (await templateConstraints("dense.circom", "DensePrivate", [
              denseLayers[0].weights[0].length,
              denseLayers[0].weights.length,
            ])) /
            (denseLayers[0].weights[0].length * denseLayers[0].weights.length),
      commitmentConstraintsPerWeight,
      weights: weightCount,
      inputLength: q.inputLength,
      inputBits: q.inputBits,
      publicSignals: a.publicSignals,
      ptauPower: a.ptau.power,
      proveMsMedian: median(proveMs),
      proveMs,
      proveColdMs,
      fullProveMsMedian: median(fullProveMs),
      verifyGas: Number(verifyGas),
      // registration on a fresh chain: the registry deploys the verifier's code itself
      registerGas: Number(model.registration.gasUsed),
      settleGas: median(gas.settle),
      requestGas: median(gas.request),
      answerGas: median(gas.answer),
      slashGas: Number(slashReceipt!.gasUsed),
      batch,
      answerLatencyMs: median(answerLatency),
      settledLatencyMs: median(settledLatency),
      requests: REQUESTS,
      floatAccuracy: accuracy.floatAccuracy,
      quantizedAccuracy: accuracy.quantizedAccuracy,
      accuracySamples: accuracy.samples,
      circuitAgreement: accuracy.circuitAgreement,
      onChainSamples: accuracy.onChainSamples,
      compileMs: a.timings.compileMs,
      setupMs: a.timings.setupMs,
      sync,
    });
  }
  // the side-by-side: the MNIST MLP beside circomlib-ml's construction of it
  const mnist = Object.values(stack.models).find((m) => m.artifacts.name === "mnist")!.artifacts;
  const baseline = await benchBaseline({
    ours: mnist,
    samples: heldOut(loadModelFile(mnist.modelPath), "mnist", "test").inputs,
    provider: ethers.provider,
    proofs: PROOFS,
    log,
  });
  await releaseProverThreads();
  redis?.stop();

  console.log("");
  console.table(
    results.map((r) => ({
      model: r.name,
      weights: r.weightVisibility,
      constraints: r.constraints,
      "per neuron": r.constraintsPerNeuron,
      "commit / weight":
        r.commitmentConstraintsPerWeight === undefined ? "—" : r.commitmentConstraintsPerWeight.toFixed(2),
      argmax: r.argmaxConstraints,
      "prove ms cold": r.proveColdMs,
      "fullProve ms": r.fullProveMsMedian,
      "prove ms (warm, median)": r.proveMsMedian,
      "verify gas": r.verifyGas,
      "register gas": r.registerGas,
      "request gas": r.requestGas,
      "answer gas": r.answerGas,
      "settle gas": r.settleGas,
      "slash gas": r.slashGas,
      "→answered ms": r.answerLatencyMs,
      "→settled ms": r.settledLatencyMs,
    })),
  );
  console.table(
    results.map((r) => ({
      model: r.name,
      "held-out samples": r.accuracySamples,
      "float acc": pct(r.floatAccuracy),
      "quantized acc": pct(r.quantizedAccuracy),
      "runtime=witness=chain": pct(r.circuitAgreement),
      "decoded on-chain": r.onChainSamples,
    })),
  );
  console.table(
    results.flatMap((r) => [
      ...(["deferred", "proofCarrying"] as const).map((k) => ({
        model: r.name,
        path: `sync ${k}`,
        "call gas": r.sync[k].callGas,
        "prepare gas": r.sync[k].prepareGas,
        "sent → result (ms)": r.sync[k].latencyMs,
        "via proxy (ms)": r.sync[k].proxyLatencyMs,
      })),
      {
        model: r.name,
        path: "async request",
        "call gas": r.sync.async.requestGas,
        "prepare gas": 0,
        "sent → result (ms)": r.sync.async.latencyMs,
        "via proxy (ms)": r.sync.async.proxyLatencyMs,
      },
    ]),
  );
  console.table(
    results.flatMap((r) =>
      r.batch.map((b) => ({
        model: r.name,
        k: b.k,
        constraints: b.constraints,
        "prove ms": b.proveMs,
        "settleBatch gas": b.settleGas,
        "gas per inference": b.gasPerInference,
        "vs one proof each": `${((b.gasPerInference / r.settleGas) * 100).toFixed(1)}%`,
        "batch verifier alone": b.plainVerifierGas,
      })),
    ),
  );
  const chartPath = join(PROJECT_ROOT, "bench", "batch-gas.png");
  mkdirSync(join(PROJECT_ROOT, "bench"), { recursive: true });
  writeFileSync(chartPath, batchChart(results));
  console.log(`wrote ${chartPath}`);
  if (tee)
    console.table([
      {
        "register gas (cold)": tee.registerGasCold,
        "register gas (cached intermediates)": tee.registerGasCached,
        "final answer gas": tee.settleGas,
        "beyond an answer": tee.settleGasOverAnswer,
        "request → final ms (TEE)": tee.latencyMs.tee,
        "request → settled ms (ZK)": tee.latencyMs.zk,
      },
    ]);
  console.table(
    [...throughputInProcess, ...throughput].map((t) => ({
      model: t.model,
      provers: t.workers === 0 ? "in the node's process" : `${t.workers} worker(s) via Redis`,
      requests: t.requests,
      "proofs / min": t.proofsPerMinute,
      "p50 request→settled ms": t.p50Ms,
      "p95 ms": t.p95Ms,
      "proof ms (one at a time)": t.proveMs,
      "round trip ms": t.workers === 0 ? "" : t.roundTripMs,
      "queue overhead ms / job": t.workers === 0 ? "" : t.queueOverheadMs,
    })),
  );
  const adversarial = adversarialCases();
  console.log(
    `adversarial cases exercised by the test suite: ${adversarial.total} (${Object.entries(adversarial.byFile)
      .map(([f, n]) => `${f}: ${n}`)
      .join(", ")}), plus ${adversarial.propertySequences} random state-machine sequences`,
  );
  console.table(baselineTable(baseline));
  const out = join(PROJECT_ROOT, "bench", "results.json");
  mkdirSync(join(PROJECT_ROOT, "bench"), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        generatedAt: new Date().toISOString(),
        machine: { cpus: os.cpus().length, node: process.version },
        models: results,
        tee,
        throughput,
        throughputInProcess,
        adversarialCases: adversarial,
        baseline,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`wrote ${out}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
