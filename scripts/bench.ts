/**
 * Sibyl benchmark: per model, constraints, proving time (median of ≥ 5 proofs), verifier
 * and settlement gas, and request → answered / settled latency with an in-process node.
 * Prints a table and writes bench/results.json.
 *
 *   npm run bench                 (BENCH_REQUESTS=n, BENCH_PROOFS=n to change the sample sizes)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import hre from "hardhat";

import { circuitInputFor } from "../src/circuit/inputs";
import { requestInference } from "../src/client/client";
import { setUpStack, startNode } from "../src/chain/stack";
import { prefixed, consoleLogger, silentLogger } from "../src/log";
import { quantizeInput } from "../src/model/quantize";
import { NodeTracker } from "../src/node/tracker";
import { PROJECT_ROOT } from "../src/paths";
import { runQuantized } from "../src/runtime/fixed";
import { SnarkjsProver, releaseProverThreads, toSolidityProof } from "../src/zk/prover";

const MODELS: Array<{ path: string; sample: number[] }> = [
  { path: join(PROJECT_ROOT, "models", "iris", "model.json"), sample: [5.9, 3.0, 5.1, 1.8] },
];
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 5);
const PROOFS = Math.max(5, Number(process.env.BENCH_PROOFS ?? 7));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : Math.round((s[m - 1] + s[m]) / 2);
}

async function main(): Promise<void> {
  const log = consoleLogger;
  const stack = await setUpStack(hre, { modelPaths: MODELS.map((m) => m.path), log });
  const [requester, nodeSigner] = await hre.ethers.getSigners();
  const results = [];

  for (const { path, sample } of MODELS) {
    const model = Object.values(stack.models).find((m) => m.artifacts.modelPath === path)!;
    const a = model.artifacts;
    const q = a.quantized;
    const input = quantizeInput(q, sample);
    const output = runQuantized(q, input).output;
    log.info(`\nbenchmarking ${a.name}: ${PROOFS} proofs, ${REQUESTS} requests`);

    // proving time, warm, in-process (the first proof also loads the zkey)
    const prover = new SnarkjsProver(a.wasmPath, a.zkeyPath);
    await prover.prove(circuitInputFor(q, 1n, input, output));
    const proveMs: number[] = [];
    let lastProof;
    for (let i = 0; i < PROOFS; i++) {
      const r = await prover.prove(circuitInputFor(q, BigInt(i + 2) << 3n, input, output));
      proveMs.push(r.ms);
      lastProof = r;
    }

    // the verifier alone, as a transaction
    const verifier = await hre.ethers.getContractAt(a.verifierContract, model.verifier);
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
            modelFee: fee,
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

    results.push({
      name: a.name,
      constraints: a.constraints,
      publicSignals: a.publicSignals,
      ptauPower: a.ptau.power,
      proveMsMedian: median(proveMs),
      proveMs,
      verifyGas: Number(verifyGas),
      settleGas: median(gas.settle),
      requestGas: median(gas.request),
      answerGas: median(gas.answer),
      answerLatencyMs: median(answerLatency),
      settledLatencyMs: median(settledLatency),
      requests: REQUESTS,
      compileMs: a.timings.compileMs,
      setupMs: a.timings.setupMs,
    });
  }
  await releaseProverThreads();

  console.log("");
  console.table(
    results.map((r) => ({
      model: r.name,
      constraints: r.constraints,
      "prove ms (median)": r.proveMsMedian,
      "verify gas": r.verifyGas,
      "request gas": r.requestGas,
      "answer gas": r.answerGas,
      "settle gas": r.settleGas,
      "→answered ms": r.answerLatencyMs,
      "→settled ms": r.settledLatencyMs,
    })),
  );
  const out = join(PROJECT_ROOT, "bench", "results.json");
  mkdirSync(join(PROJECT_ROOT, "bench"), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        generatedAt: new Date().toISOString(),
        machine: { cpus: require("node:os").cpus().length, node: process.version },
        models: results,
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
