import type { HardhatUserConfig } from "hardhat/config";
import hardhatMocha from "@nomicfoundation/hardhat-mocha";
import hardhatEthersChaiMatchers from "@nomicfoundation/hardhat-ethers-chai-matchers";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";
import hardhatTypechain from "@nomicfoundation/hardhat-typechain";

import sibyl, { sibylSolidity } from "./src/plugin/index.js";

// Sibyl's own project uses its plugin exactly as a user's project does.
const config: HardhatUserConfig = {
  plugins: [sibyl, hardhatMocha, hardhatEthersChaiMatchers, hardhatNetworkHelpers, hardhatTypechain],
  // The machines Sibyl targets are often offline: compile with the solc npm package (WASM).
  // Contracts written against OpenGradient's interface decode its nested structs, which only
  // the IR pipeline compiles without "stack too deep". The precompile goes through the IR
  // pipeline too: with TEE mode its legacy-pipeline code (25.9 KB) would exceed the 24,576-byte
  // limit; the IR pipeline's is 20.6 KB.
  solidity: {
    compilers: [sibylSolidity()],
    overrides: {
      "contracts/InferencePrecompile.sol": sibylSolidity({ viaIR: true }),
      "contracts/examples/opengradient/IrisClassifierOG.sol": sibylSolidity({ viaIR: true }),
      "contracts/examples/opengradient/OGRouter.sol": sibylSolidity({ viaIR: true }),
      "contracts/examples/opengradient/legacy/IrisClassifierLegacyOG.sol": sibylSolidity({ viaIR: true }),
    },
  },
  networks: {
    localhost: { type: "http", url: process.env.SIBYL_RPC_URL ?? "http://127.0.0.1:8545" },
  },
  typechain: { outDir: "typechain-types" },
  test: { mocha: { timeout: 300_000 } },
};

export default config;
