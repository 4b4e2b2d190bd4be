import type { SibylEnv } from "../env.js";
import { sibylAction } from "./action.js";
import { modelFileOption, required } from "./args.js";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { modelBuildDir } from "../pipeline/artifacts.js";
import { onChainDecoder } from "../chain/decode.js";
import { buildModels, setUpStack } from "../chain/stack.js";
import { SibylError } from "../errors.js";
import { type Logger, consoleLogger } from "../log.js";
import { type AccuracyReport, accuracyReport, accuracyRows, heldOut } from "../pipeline/accuracy.js";
import { loadModelFile } from "../model/schema.js";

/**
 * `sibyl:accuracy`: float model vs quantized runtime vs circuit (vs on-chain decoding) on
 * a data set, printed as a table and written to build/models/<name>/accuracy.json.
 */

export interface AccuracyArgs {
  model: string;
  data: string;
  /** "test": the held-out split recorded in the model's metrics; "all": every sample */
  split: "test" | "all";
  /** also check the circuit's witness for every sample */
  circuit: boolean;
  /** decode this many outputs on-chain (in-process network only) */
  onchain: number;
  log?: Logger;
}

export async function runAccuracyReport(env: SibylEnv, args: AccuracyArgs): Promise<AccuracyReport> {
  const log = args.log ?? consoleLogger;
  const file = loadModelFile(args.model);
  const data = heldOut(file, args.data, args.split);
  if (args.onchain > 0 && !env.inProcess)
    throw new SibylError(
      "on-chain decoding answers requests without settling them",
      "run it on the in-process network",
    );
  let artifacts;
  let decoder;
  if (args.onchain > 0) {
    const stack = await setUpStack(env, { modelPaths: [args.model], log });
    artifacts = stack.models[file.name].artifacts;
    const signers = await env.ethers.getSigners();
    decoder = onChainDecoder(stack, file.name, signers[0], signers[signers.length - 1]);
  } else if (args.circuit) {
    [artifacts] = await buildModels(env, [args.model], log);
  }
  log.info(`evaluating ${file.name} on ${data.inputs.length} samples of ${data.name}…`);
  let last = Date.now();
  const report = await accuracyReport(file, data, {
    artifacts,
    onChain: decoder,
    onChainSamples: args.onchain,
    onProgress: (done, total) => {
      if (Date.now() - last > 2000 || done === total) {
        last = Date.now();
        log.info(`  ${done}/${total}`);
      }
    },
  });
  console.table(accuracyRows(report));
  log.info(
    `quantization cost: ${((report.floatAccuracy - report.quantizedAccuracy) * 100).toFixed(2)} percentage points; ` +
      `fracBits ${report.fracBits} (largest safe on this data: ${report.calibration.maxSafeFracBits}); overflows: ${report.overflows}`,
  );
  const dir = modelBuildDir(file.name);
  mkdirSync(dir, { recursive: true });
  const out = join(dir, "accuracy.json");
  writeFileSync(out, JSON.stringify(report, null, 2) + "\n");
  log.info(`wrote ${out}`);
  return report;
}

/** `sibyl:accuracy`: prints the report and returns it. */
export default sibylAction(
  async (
    args: { model?: string; data?: string; split: string; noCircuit: boolean; onchain: number },
    env,
  ): Promise<AccuracyReport> => {
    const model = modelFileOption(args.model);
    const data = required(args.data, "--data", "iris");
    if (args.split !== "test" && args.split !== "all")
      throw new SibylError(`--split must be test or all, got ${args.split}`);
    return runAccuracyReport(env, {
      model,
      data,
      onchain: args.onchain,
      split: args.split,
      circuit: !args.noCircuit,
    });
  },
);
