import { createRequire } from "node:module";

import { BuildError } from "../errors.js";

const require = createRequire(import.meta.url);

interface SolcOutput {
  errors?: { severity: string; formattedMessage: string }[];
  contracts?: Record<string, Record<string, { evm: { deployedBytecode: { object: string } } }>>;
}

/**
 * Compiles one self-contained Solidity source with the bundled solc (the `solc` npm package,
 * the compiler and settings Sibyl's Hardhat config uses) and returns the contract's runtime
 * code: what the registry deploys for a batch verifier, which lives outside the Hardhat
 * project's sources (build/models/<name>/batch-k<k>/).
 */
export function compileRuntimeCode(fileName: string, source: string, contractName: string): string {
  const solc = require("solc") as { compile(input: string): string };
  const input = {
    language: "Solidity",
    sources: { [fileName]: { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      outputSelection: { [fileName]: { [contractName]: ["evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0)
    throw new BuildError(
      `solc failed to compile ${fileName}: ${errors.map((e) => e.formattedMessage).join("\n")}`,
    );
  const code = output.contracts?.[fileName]?.[contractName]?.evm.deployedBytecode.object;
  if (!code) throw new BuildError(`solc produced no runtime code for ${contractName} in ${fileName}`);
  return `0x${code}`;
}
