import type { SibylEnv } from "../env.js";
import { SibylError } from "../errors.js";
import { requestInference } from "../client/client.js";
import { setUpStack, startNode } from "../chain/stack.js";
import { fmt } from "./format.js";
import { type Logger, prefixed } from "../log.js";
import { quantizeInput } from "../model/quantize.js";
import { loadModelFile } from "../model/schema.js";
import { NodeTracker } from "../node/tracker.js";
import { PACKAGE_ROOT } from "../paths.js";
import { heldOut } from "../pipeline/accuracy.js";
import { releaseProverThreads } from "../zk/prover.js";

/**
 * The demo with a digit model instead of Iris (`sibyl:demo --model mnist_cnn`): build and
 * register the model, start a node, request a few held-out digits straight from the
 * precompile, and show each one's timeline: answered at once, then settled with its proof.
 */

/** The example models the demo can run, with the data set each was trained on. */
export const DEMO_MODELS = {
  iris: "iris",
  mnist: "mnist",
  mnist_private: "mnist",
  mnist_cnn: "mnist28",
} as const;
export type DemoModel = keyof typeof DEMO_MODELS;

export interface DigitTimeline {
  label: number;
  output: number;
  requestGas: bigint;
  answerLatencyMs: number;
  proveMs: number;
  settledLatencyMs: number;
  settleGas: bigint;
}

export function demoModel(name: string): DemoModel {
  if (name in DEMO_MODELS) return name as DemoModel;
  throw new SibylError(
    `the demo has no model "${name}"`,
    `choose one of: ${Object.keys(DEMO_MODELS).join(", ")}`,
  );
}

export async function runDigitDemo(
  env: SibylEnv,
  name: Exclude<DemoModel, "iris">,
  opts: { requests: number; log: Logger; pollMs?: number },
): Promise<DigitTimeline[]> {
  const { log } = opts;
  const path = `${PACKAGE_ROOT}/models/${name}/model.json`;
  log.info(`Sibyl demo — ${name} on the in-process Hardhat network\n`);
  const stack = await setUpStack(env, { modelPaths: [path], log });
  const model = stack.models[name];
  const q = model.artifacts.quantized;
  const samples = heldOut(loadModelFile(path), DEMO_MODELS[name], "test");
  const [, nodeSigner, requester] = await env.ethers.getSigners();
  const node = await startNode(stack, {
    signer: nodeSigner,
    pollMs: opts.pollMs ?? 50,
    log: prefixed(log, "  node"),
  });
  const tracker = new NodeTracker(node);
  const fee = (await stack.registry.getModel(model.modelId)).config.fee;
  const timelines: DigitTimeline[] = [];
  try {
    for (let i = 0; i < opts.requests; i++) {
      // spread over the held-out set: a different digit each time
      const k = Math.floor((i * samples.inputs.length) / Math.max(1, opts.requests)) + i;
      const pixels = samples.inputs[k % samples.inputs.length];
      const label = samples.labels[k % samples.labels.length];
      log.info(`── digit ${i + 1}: a held-out "${label}"`);
      for (const line of renderDigit(pixels)) log.info(`   ${line}`);
      const t0 = Date.now();
      const { requestId, receipt } = await requestInference(
        stack.precompile.connect(requester),
        model.modelId,
        quantizeInput(q, pixels),
        { fee },
      );
      log.info(
        `   requested  block ${receipt.blockNumber}  gas ${fmt(receipt.gasUsed)}  id ${requestId.slice(0, 18)}…`,
      );
      const answered = await tracker.waitAnswered(requestId);
      const output = Number(answered.output[0]);
      log.info(
        `   answered   +${answered.at - t0} ms  output ${output}${output === label ? "" : ` (the label is ${label})`}`,
      );
      const settled = await tracker.waitSettled(requestId);
      log.info(
        `   settled    +${settled.at - t0} ms  proof ${settled.proveMs} ms  gas ${fmt(settled.gasUsed)}  (Groth16 verified on-chain)\n`,
      );
      timelines.push({
        label,
        output,
        requestGas: receipt.gasUsed,
        answerLatencyMs: answered.at - t0,
        proveMs: settled.proveMs,
        settledLatencyMs: settled.at - t0,
        settleGas: settled.gasUsed,
      });
    }
  } finally {
    await node.stop();
    await releaseProverThreads();
  }
  const a = model.artifacts;
  log.info(
    `model ${name}: ${a.constraints} constraints, ${a.publicSignals} public signals, ptau 2^${a.ptau.power}${a.ptau.development ? " (development, NOT secure)" : ""}`,
  );
  console.table(
    timelines.map((t) => ({
      digit: t.label,
      output: t.output,
      "request gas": Number(t.requestGas),
      "answered (ms)": t.answerLatencyMs,
      "prove (ms)": t.proveMs,
      "settled (ms)": t.settledLatencyMs,
      "settle gas": Number(t.settleGas),
    })),
  );
  return timelines;
}

/** A square grey-scale image in [0, 1] as text, two characters per pixel, 2×2 blocks above 14 rows. */
export function renderDigit(pixels: readonly number[]): string[] {
  const side = Math.round(Math.sqrt(pixels.length));
  const step = side > 14 ? 2 : 1;
  const shades = " .:-=+*#%@";
  const lines: string[] = [];
  for (let r = 0; r < side; r += step) {
    let line = "";
    for (let c = 0; c < side; c += step) {
      let sum = 0;
      for (let dy = 0; dy < step; dy++)
        for (let dx = 0; dx < step; dx++) sum += pixels[(r + dy) * side + c + dx];
      const v = Math.min(1, Math.max(0, sum / (step * step)));
      line += shades[Math.round(v * (shades.length - 1))].repeat(2);
    }
    lines.push(line.trimEnd());
  }
  return lines;
}
