import { HardhatPluginError } from "hardhat/plugins";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { SibylError } from "../src/errors";

/**
 * Wraps a task: compiles first (a fresh clone has no artifacts or contract typings, which
 * the library imports; compile is incremental, so this costs ~1 s when nothing changed),
 * and turns Sibyl's own errors into clean CLI messages. Tasks that only touch files pass
 * `{ compile: false }`.
 */
export function action<A>(
  fn: (args: A, hre: HardhatRuntimeEnvironment) => Promise<void>,
  opts = { compile: true },
) {
  return async (args: A, hre: HardhatRuntimeEnvironment) => {
    try {
      if (opts.compile) await hre.run("compile", { quiet: true });
      await fn(args, hre);
    } catch (e) {
      if (e instanceof SibylError) throw new HardhatPluginError("sibyl", e.message);
      throw e;
    }
  };
}
