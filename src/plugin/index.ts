import type { HardhatPlugin } from "hardhat/types/plugins";

import { sibylTasks } from "./tasks.js";

export { sibylSolidity, SOLC_VERSION } from "./solidity.js";

/**
 * The Hardhat 3 plugin: every `sibyl:*` task. Add it to `plugins` in hardhat.config.ts.
 * This module stays light (task definitions only); each task's action is loaded on use.
 */
const sibyl: HardhatPlugin = {
  id: "hardhat-sibyl",
  npmPackage: "hardhat-sibyl",
  dependencies: () => [import("@nomicfoundation/hardhat-ethers")],
  tasks: sibylTasks,
  // synchronous inference: routes a connection's transactions through its pre-execution layer, if it has one
  hookHandlers: { network: () => import("../pipe/hook.js") },
};

export default sibyl;
