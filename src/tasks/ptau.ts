import { consoleLogger } from "../log.js";
import { generateDevPtau } from "../zk/ptau.js";
import { sibylAction } from "./action.js";
import { intOption, required } from "./args.js";

/** `sibyl:ptau`: an INSECURE development powers-of-tau file in the build cache. */
export default sibylAction(
  async (args: { power?: string }) => {
    const power = intOption(required(args.power, "--power", "14"), "--power") as number;
    const file = await generateDevPtau(power, consoleLogger);
    console.log(`wrote ${file.path} (development only: one random contribution, no beacon; NOT secure)`);
    return file;
  },
  { chain: false },
);
