import { builtModelOf } from "../pipeline/finalizeCeremony.js";
import { consoleLogger } from "../log.js";
import { verifyCeremony } from "../zk/ceremony.js";
import { sibylAction } from "./action.js";
import { printContributions } from "./ceremony-print.js";
import { modelFileOption, required } from "./args.js";

/** `sibyl:ceremony-verify`: checks a ceremony zkey against the model's r1cs and the ptau. */
export default sibylAction(
  async (args: { model?: string; zkey?: string; ptau?: string }) => {
    const a = builtModelOf(modelFileOption(args.model));
    const v = await verifyCeremony({
      r1csPath: a.r1csPath,
      ptauPath: args.ptau ?? a.ptau.path,
      zkeyPath: required(args.zkey, "--zkey", "iris_final.zkey"),
      log: consoleLogger,
    });
    console.log(`\n${v.zkeyPath} is a valid zkey of ${a.name}  (zkeyHash ${v.zkeyHash})`);
    console.log(`${v.contributions.length} contributions, first to last:`);
    printContributions(v.contributions);
    if (v.contributions.length === 0) console.log("  none: anyone could forge proofs with this zkey");
    return v;
  },
  { chain: false },
);
