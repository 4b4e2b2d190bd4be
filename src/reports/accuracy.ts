import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { modelBuildDir } from "../build/artifacts";
import { onChainDecoder } from "../chain/decode";
import { buildModels, setUpStack } from "../chain/stack";
import { datasetByName, split } from "../data";
import { SibylError } from "../errors";
import { type Logger, consoleLogger } from "../log";
import { type AccuracyReport, type LabelledSamples, accuracyReport, accuracyRows } from "../model/accuracy";
import { type ModelFile, loadModelFile } from "../model/schema";

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

/** The held-out samples the model was evaluated on when trained (seed and split in its metrics). */
export function heldOut(file: ModelFile, dataName: string, which: "test" | "all"): LabelledSamples {
  const data = datasetByName(dataName);
  if (data.inputs[0].length !== file.inputLength)
    throw new SibylError(
      `data set ${dataName} has ${data.inputs[0].length} features but model ${file.name} takes ${file.inputLength}`,
      "pick the data set the model was trained on",
    );
  if (which === "all") return { name: `${dataName} (all)`, inputs: data.inputs, labels: data.labels };
  const m = file.metrics ?? {};
  const [seed, train, test] = [m.seed, m.trainSamples, m.testSamples].map(Number);
  if (![seed, train, test].every(Number.isFinite))
    throw new SibylError(
      `model ${file.name} does not record its split (metrics.seed, trainSamples, testSamples)`,
      "use --split all",
    );
  const parts = split(data, test / (train + test), seed);
  return { name: `${dataName} (held-out)`, inputs: parts.test.inputs, labels: parts.test.labels };
}

export async function runAccuracyReport(
  hre: HardhatRuntimeEnvironment,
  args: AccuracyArgs,
): Promise<AccuracyReport> {
  const log = args.log ?? consoleLogger;
  const file = loadModelFile(args.model);
  const data = heldOut(file, args.data, args.split);
  if (args.onchain > 0 && hre.network.name !== "hardhat")
    throw new SibylError(
      "on-chain decoding answers requests without settling them",
      "run it on the in-process network",
    );
  let artifacts;
  let decoder;
  if (args.onchain > 0) {
    const stack = await setUpStack(hre, { modelPaths: [args.model], log });
    artifacts = stack.models[file.name].artifacts;
    const signers = await hre.ethers.getSigners();
    decoder = onChainDecoder(stack, file.name, signers[0], signers[signers.length - 1]);
  } else if (args.circuit) {
    [artifacts] = await buildModels(hre, [args.model], log);
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
