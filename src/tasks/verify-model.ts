import { type ModelVerification, verifyModelCommand } from "../chain/verify.js";
import { consoleLogger } from "../log.js";
import { sibylAction } from "./action.js";
import { etherOption, gweiOption, intOption, modelFileOption, required } from "./args.js";

export interface VerifyModelArgs {
  model?: string;
  id?: string;
  fee?: string;
  callbackGasPrice?: string;
  stake?: string;
  window?: string;
  unbonded: boolean;
  transcript: boolean;
}

/** `sibyl:verify-model`: checks a registered id against the local build, field by field. */
export default sibylAction(async (args: VerifyModelArgs, env): Promise<ModelVerification> => {
  const model = modelFileOption(args.model);
  const id = required(args.id, "--id", "<the model id sibyl:register printed>");
  const report = await verifyModelCommand(
    env,
    {
      model,
      id,
      terms: {
        fee: etherOption(args.fee, "--fee"),
        callbackGasPrice: gweiOption(args.callbackGasPrice, "--callback-gas-price"),
        stake: etherOption(args.stake, "--stake"),
        settlementWindow:
          args.window === undefined ? undefined : BigInt(intOption(args.window, "--window") as number),
        unbonded: args.unbonded ? true : undefined,
      },
      transcript: args.transcript,
      log: consoleLogger,
    },
    (line) => console.log(line),
  );
  console.log(`\n${model} matches ${report.modelId}`);
  return report;
});
