import { compileProject } from "../env.js";
import { builtModelOf, finalizeCeremony } from "../pipeline/finalizeCeremony.js";
import { consoleLogger } from "../log.js";
import { sibylAction } from "./action.js";
import { printContributions } from "./ceremony-print.js";
import { modelFileOption, required } from "./args.js";

/** `sibyl:ceremony-finalize`: installs a verified ceremony zkey as the model's key. */
export default sibylAction(
  async (args: { model?: string; zkey?: string; ptau?: string }, _env, hre) => {
    const { name } = builtModelOf(modelFileOption(args.model));
    const r = await finalizeCeremony({
      modelName: name,
      zkeyPath: required(args.zkey, "--zkey", "iris_final.zkey"),
      ptauPath: args.ptau,
      log: consoleLogger,
    });
    // the new verifier joins the project's contracts
    if (r.verifierChanged) await compileProject(hre);
    const a = r.artifacts;
    console.log(`\ninstalled the ceremony zkey of ${a.name} (${r.contributions.length} contributions):`);
    printContributions(r.contributions);
    console.log(`  zkey      ${a.zkeyPath}`);
    console.log(`  zkeyHash  ${a.zkeyHash}  (was ${r.previousZkeyHash})`);
    console.log(`  verifier  ${a.verifierPath} (contract ${a.verifierContract})`);
    console.log(`  vkHash    ${a.vkHash}`);
    console.log("register the model again so the registry records the new verifier, vkHash and zkeyHash");
    return r;
  },
  { chain: false },
);
