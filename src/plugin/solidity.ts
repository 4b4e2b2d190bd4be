import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** The solc version bundled with Sibyl (the `solc` npm package, a WASM build). */
export const SOLC_VERSION: string = (require("solc/package.json") as { version: string }).version;

/**
 * A Hardhat 3 `solidity` config that compiles offline with the solc npm package Sibyl
 * depends on (no compiler download), for the EVM target Sibyl's contracts need (cancun:
 * OpenZeppelin 5.7 uses `mcopy`). Pass overrides to change the optimizer settings.
 */
export function sibylSolidity(settings: { runs?: number; viaIR?: boolean } = {}) {
  return {
    version: SOLC_VERSION,
    path: require.resolve("solc/soljson.js"),
    settings: {
      optimizer: { enabled: true, runs: settings.runs ?? 200 },
      evmVersion: "cancun",
      ...(settings.viaIR ? { viaIR: true } : {}),
    },
  };
}
