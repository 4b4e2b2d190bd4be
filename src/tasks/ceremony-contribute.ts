import { consoleLogger } from "../log.js";
import { contribute } from "../zk/ceremony.js";
import { sibylAction } from "./action.js";
import { printContributions } from "./ceremony-print.js";
import { required } from "./args.js";

/** `sibyl:ceremony-contribute`: one party's contribution; the secret entropy never leaves the process. */
export default sibylAction(
  async (args: { in?: string; out?: string; name?: string; entropy?: string }) => {
    const r = await contribute({
      inPath: required(args.in, "--in", "ceremony/iris_0000.zkey"),
      outPath: required(args.out, "--out", "iris_0001.zkey"),
      name: required(args.name, "--name", "alice"),
      entropy: args.entropy,
      log: consoleLogger,
    });
    console.log(`\nwrote ${r.outPath}  (zkeyHash ${r.zkeyHash})`);
    console.log(`your contribution hash — publish it, so anyone can find it in the final zkey:`);
    printContributions([r.contribution], false);
    return r;
  },
  { chain: false },
);
