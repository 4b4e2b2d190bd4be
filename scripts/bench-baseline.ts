/**
 * The baseline section of `npm run bench` alone (src/bench/baseline/): the MNIST MLP as Sibyl
 * builds it beside the same network built with circomlib-ml's templates. Prints the table and
 * writes the rows under `baseline` in bench/results.json, keeping the rest of the file.
 *
 *   npx hardhat run scripts/bench-baseline.ts     (BENCH_PROOFS=n as for npm run bench)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { network } from "hardhat";

import { baselineTable, benchBaseline } from "../src/bench/baseline/bench.js";
import { consoleLogger } from "../src/log.js";
import { loadModelFile } from "../src/model/schema.js";
import { PROJECT_ROOT } from "../src/paths.js";
import { heldOut } from "../src/pipeline/accuracy.js";
import { buildModel } from "../src/pipeline/buildModel.js";
import { releaseProverThreads } from "../src/zk/prover.js";

const MNIST = join(PROJECT_ROOT, "models", "mnist", "model.json");
/** as npm run bench */
const PROOFS = Math.max(5, Number(process.env.BENCH_PROOFS ?? 7));

async function main(): Promise<void> {
  const { artifacts } = await buildModel(MNIST, { log: consoleLogger });
  const { ethers } = await network.create();
  const baseline = await benchBaseline({
    ours: artifacts,
    samples: heldOut(loadModelFile(MNIST), "mnist", "test").inputs,
    provider: ethers.provider,
    proofs: PROOFS,
    log: consoleLogger,
  });
  await releaseProverThreads();
  console.table(baselineTable(baseline));
  const out = join(PROJECT_ROOT, "bench", "results.json");
  const results = existsSync(out) ? (JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>) : {};
  mkdirSync(join(PROJECT_ROOT, "bench"), { recursive: true });
  writeFileSync(out, JSON.stringify({ ...results, baseline }, null, 2) + "\n");
  console.log(`wrote the baseline rows into ${out}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
