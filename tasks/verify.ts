import { task, types } from "hardhat/config";

import { action } from "./action";

/**
 * `sibyl:verify-model`: checks a registered model id against a local build, field by field,
 * before anyone relies on it (see src/chain/verify.ts).
 */
task(
  "sibyl:verify-model",
  "Checks a registered model id against the local build of a model file and says exactly what differs",
)
  .addParam("model", "path to the model file (built now if it is not)", undefined, types.inputFile)
  .addParam("id", "the registered model id (0x followed by 64 hex digits)")
  .addOptionalParam("fee", "also check the fee per request, in ETH")
  .addOptionalParam("callbackGasPrice", "also check the price of callback gas, in gwei")
  .addOptionalParam("stake", "also check the stake locked per unsettled answer, in ETH")
  .addOptionalParam("window", "also check the settlement window, in seconds", undefined, types.int)
  .addFlag("unbonded", "also check that the model is unbonded (answers lock no stake)")
  .addFlag("transcript", "also verify the local zkey's phase-2 transcript against the r1cs and ptau (slow)")
  .setAction(
    action(
      async (
        args: {
          model: string;
          id: string;
          fee?: string;
          callbackGasPrice?: string;
          stake?: string;
          window?: number;
          unbonded: boolean;
          transcript: boolean;
        },
        hre,
      ) => {
        const { verifyModelCommand } = await import("../src/chain/verify");
        const { consoleLogger } = await import("../src/log");
        const { parseEther, parseUnits } = hre.ethers;
        const report = await verifyModelCommand(
          hre,
          {
            model: args.model,
            id: args.id,
            terms: {
              fee: args.fee === undefined ? undefined : parseEther(args.fee),
              callbackGasPrice:
                args.callbackGasPrice === undefined ? undefined : parseUnits(args.callbackGasPrice, "gwei"),
              stake: args.stake === undefined ? undefined : parseEther(args.stake),
              settlementWindow: args.window === undefined ? undefined : BigInt(args.window),
              unbonded: args.unbonded ? true : undefined,
            },
            transcript: args.transcript,
            log: consoleLogger,
          },
          (line) => console.log(line),
        );
        console.log(`\n${args.model} matches ${report.modelId}`);
      },
    ),
  );
