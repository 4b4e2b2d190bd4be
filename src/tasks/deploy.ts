import { formatEther } from "ethers";

import { type Deployed, deploySibyl } from "../chain/deploy.js";
import { describeState } from "../chain/install.js";
import { sibylAction } from "./action.js";
import { etherOption, intOption } from "./args.js";

/** `sibyl:deploy`: installs the precompile and registry (0x…F4 on Hardhat networks, CREATE2 elsewhere). */
export default sibylAction(
  async (args: { minBond?: string; answerWindow?: string; reset: boolean }, env): Promise<Deployed> => {
    const answerWindow = intOption(args.answerWindow, "--answer-window");
    // options not given keep an existing installation's values (defaults on a fresh chain)
    const deployed = await deploySibyl(env, {
      minBond: etherOption(args.minBond, "--min-bond"),
      answerWindow: answerWindow === undefined ? undefined : BigInt(answerWindow),
      reset: args.reset,
    });
    const { precompile, registry, deterministic, cleared } = deployed;
    if (cleared)
      console.log(
        `cleared the previous installation (${describeState(cleared)}); its requests and bonds are orphaned`,
      );
    console.log(
      `precompile ${await precompile.getAddress()}${deterministic ? " (deterministic CREATE2 address)" : ""}`,
    );
    console.log(`registry   ${await registry.getAddress()}`);
    console.log(
      `admin      ${await precompile.admin()}, minBond ${formatEther(await precompile.minBond())} ETH, ` +
        `answerWindow ${await precompile.answerWindow()} s`,
    );
    if (env.inProcess)
      console.log(
        "note: this is the in-process network, a fresh empty chain that lives only as long as this command; " +
          "to keep Sibyl installed, run `npx hardhat node` in another terminal and pass --network localhost",
      );
    return deployed;
  },
);
