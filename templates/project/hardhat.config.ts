import type { HardhatUserConfig } from "hardhat/config";
import hardhatEthers from "@nomicfoundation/hardhat-ethers";
import hardhatEthersChaiMatchers from "@nomicfoundation/hardhat-ethers-chai-matchers";
import hardhatMocha from "@nomicfoundation/hardhat-mocha";
import sibyl, { sibylSolidity } from "hardhat-sibyl";

const config: HardhatUserConfig = {
  plugins: [sibyl, hardhatEthers, hardhatMocha, hardhatEthersChaiMatchers],
  // solc from npm (no compiler download), EVM target cancun
  solidity: sibylSolidity(),
  test: { mocha: { timeout: 600_000 } },
};

export default config;
