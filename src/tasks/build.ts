import { compileProject } from "../env.js";
import { buildModel, type BuildReport } from "../pipeline/buildModel.js";
import { consoleLogger } from "../log.js";
import { sibylAction } from "./action.js";
import { type ImportArgs, batchSizesOption, importOptionsOf, modelFileOption } from "./args.js";
import { buildBatch } from "../pipeline/buildBatch.js";

export interface BuildArgs extends ImportArgs {
  model?: string;
  force: boolean;
  noPtauGeneration: boolean;
  ptau?: string;
  batch?: string;
}

/** `sibyl:build`: quantize → circuit → compile → setup → verifier; the verifier joins the project's contracts. */
export default sibylAction(
  async (args: BuildArgs, _env, hre): Promise<BuildReport> => {
    const model = modelFileOption(args.model);
    const batchSizes = batchSizesOption(args.batch);
    const report = await buildModel(model, {
      log: consoleLogger,
      force: args.force,
      generatePtau: !args.noPtauGeneration,
      import: importOptionsOf(args),
      ptauPath: args.ptau,
    });
    // the new verifier joins the project's contracts
    if (report.verifierChanged) await compileProject(hre);
    const a = report.artifacts;
    console.log(`\nbuilt ${a.name}: ${a.constraints} constraints, ${a.publicSignals} public signals`);
    console.log(`  circuit   ${a.circuitPath}`);
    console.log(`  zkey      ${a.zkeyPath}`);
    console.log(`  verifier  ${a.verifierPath} (contract ${a.verifierContract})`);
    console.log(`  vkHash    ${a.vkHash}\n  modelHash ${a.modelHash}`);
    for (const k of batchSizes) {
      const { artifacts: b } = await buildBatch(a.name, k, {
        log: consoleLogger,
        force: args.force,
        generatePtau: !args.noPtauGeneration,
      });
      console.log(
        `  batch ${k}: ${b.constraints} constraints, ${b.publicSignals} public signals, verifier ${b.verifierContract} (${(b.verifierCode.length - 2) / 2} bytes)`,
      );
    }
    return report;
  },
  { chain: false },
);
