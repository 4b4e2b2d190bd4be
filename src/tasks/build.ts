import { compileProject } from "../env.js";
import { buildModel, type BuildReport } from "../pipeline/buildModel.js";
import { consoleLogger } from "../log.js";
import { sibylAction } from "./action.js";
import { type ImportArgs, importOptionsOf, modelFileOption } from "./args.js";

export interface BuildArgs extends ImportArgs {
  model?: string;
  force: boolean;
  noPtauGeneration: boolean;
  ptau?: string;
}

/** `sibyl:build`: quantize → circuit → compile → setup → verifier; the verifier joins the project's contracts. */
export default sibylAction(
  async (args: BuildArgs, _env, hre): Promise<BuildReport> => {
    const model = modelFileOption(args.model);
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
    return report;
  },
  { chain: false },
);
