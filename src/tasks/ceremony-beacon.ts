import { consoleLogger } from "../log.js";
import { applyBeacon } from "../zk/ceremony.js";
import { sibylAction } from "./action.js";
import { printContributions } from "./ceremony-print.js";
import { required } from "./args.js";

/** `sibyl:ceremony-beacon`: the final random-beacon contribution. */
export default sibylAction(
  async (args: { in?: string; out?: string; beacon?: string; iterations: number }) => {
    const r = await applyBeacon({
      inPath: required(args.in, "--in", "iris_0002.zkey"),
      outPath: required(args.out, "--out", "iris_final.zkey"),
      beaconHex: required(args.beacon, "--beacon", "0x<a future block hash>"),
      iterationsExp: args.iterations,
      log: consoleLogger,
    });
    console.log(`\nwrote ${r.outPath}  (zkeyHash ${r.zkeyHash})`);
    printContributions([r.contribution], false);
    console.log(`next: npx hardhat sibyl:ceremony-verify --model <model file> --zkey ${r.outPath}`);
    return r;
  },
  { chain: false },
);
