import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { HardhatPluginError } from "hardhat/plugins";

import { explainRevert } from "../protocol/revert.js";
import { type SibylEnv, sibylEnv, compileProject } from "../env.js";
import { SibylError } from "../errors.js";
import { useProjectRoot } from "../paths.js";
import { releaseIdleProverThreads } from "../zk/prover.js";

/**
 * Every `sibyl:*` task's action goes through here: it points Sibyl at the project, compiles
 * first when the task reads contracts (incremental: ~1 s when nothing changed), connects to
 * the task's network, and turns Sibyl's errors (and decoded custom-error reverts) into clean
 * CLI messages. The action's result is the task's result, so scripts and tests can run a task
 * (`hre.tasks.getTask("sibyl:deploy").run({...})`) and use what it created.
 */
export interface TaskOptions {
  /** compile the project and connect to the network first (default true) */
  chain?: boolean;
}

export function sibylAction<A, R>(
  fn: (args: A, env: SibylEnv, hre: HardhatRuntimeEnvironment) => Promise<R>,
  opts?: { chain?: true },
): (args: A, hre: HardhatRuntimeEnvironment) => Promise<R>;
export function sibylAction<A, R>(
  fn: (args: A, env: undefined, hre: HardhatRuntimeEnvironment) => Promise<R>,
  opts: { chain: false },
): (args: A, hre: HardhatRuntimeEnvironment) => Promise<R>;
export function sibylAction<A, R>(
  fn: (args: A, env: never, hre: HardhatRuntimeEnvironment) => Promise<R>,
  opts: TaskOptions = {},
) {
  return async (args: A, hre: HardhatRuntimeEnvironment): Promise<R> => {
    try {
      useProjectRoot(hre.config.paths.root);
      let env: SibylEnv | undefined;
      if (opts.chain !== false) {
        await compileProject(hre);
        env = await sibylEnv(hre);
      }
      return await fn(args, env as never, hre);
    } catch (e) {
      const explained = explainRevert(e);
      if (explained instanceof SibylError)
        throw new HardhatPluginError("hardhat-sibyl", explained.message, explained);
      throw e;
    } finally {
      // snarkjs's worker threads would keep the CLI process alive after the task
      await releaseIdleProverThreads();
    }
  };
}
