import { builtModelOf } from "../pipeline/finalizeCeremony.js";
import { consoleLogger } from "../log.js";
import { startCeremony } from "../zk/ceremony.js";
import { sibylAction } from "./action.js";
import { modelFileOption, required } from "./args.js";

/** `sibyl:ceremony-start`: the ceremony's first zkey (no contribution yet) and its log. */
export default sibylAction(
  async (args: { model?: string; out?: string; ptau?: string }) => {
    const a = builtModelOf(modelFileOption(args.model));
    const started = await startCeremony({
      r1csPath: a.r1csPath,
      ptauPath: args.ptau ?? a.ptau.path,
      outDir: required(args.out, "--out", "ceremony/"),
      name: a.name,
      log: consoleLogger,
    });
    console.log(`\nstarted the ceremony of ${a.name} (${a.constraints} constraints)`);
    console.log(`  zkey      ${started.zkeyPath}  (no contribution yet: do not use it)`);
    console.log(`  zkeyHash  ${started.zkeyHash}`);
    console.log(`  log       ${started.transcriptPath}`);
    console.log(
      `next: hand the zkey to the first party, who runs\n` +
        `  npx hardhat sibyl:ceremony-contribute --in ${started.zkeyPath} --out <their>.zkey --name <who>`,
    );
    return started;
  },
  { chain: false },
);
