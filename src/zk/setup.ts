import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as snarkjs from "snarkjs";
import { keccak256, toUtf8Bytes } from "ethers";

import { BuildError } from "../errors.js";
import type { Logger } from "../log.js";
import { type Contribution, contribute, newZkey } from "./ceremony.js";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/**
 * Groth16 phase 2 for one circuit with a single local contribution: whoever runs it could
 * forge proofs (docs/setup.md). A multi-party ceremony (src/zk/ceremony.ts) replaces it.
 * Returns the contribution.
 */
export async function groth16Setup(
  r1csPath: string,
  ptauPath: string,
  zkeyPath: string,
  log: Logger,
): Promise<Contribution> {
  const initial = `${zkeyPath}.0.tmp`;
  try {
    await newZkey(r1csPath, ptauPath, initial, log);
    const { contribution } = await contribute({
      inPath: initial,
      outPath: zkeyPath,
      name: "sibyl setup",
      log,
    });
    return contribution;
  } finally {
    rmSync(initial, { force: true });
  }
}

export type VerificationKey = Record<string, unknown> & { nPublic: number };

export async function exportVerificationKey(zkeyPath: string): Promise<VerificationKey> {
  return (await snarkjs.zKey.exportVerificationKey(zkeyPath)) as VerificationKey;
}

/** keccak256 of the verification key's JSON text, as registered on-chain. */
export function verificationKeyHash(vk: VerificationKey): string {
  return keccak256(toUtf8Bytes(JSON.stringify(vk)));
}

/**
 * Exports the snarkjs Solidity verifier for a zkey, renamed to `contractName` so that
 * several models can live in one Hardhat project, with a generated-file header.
 */
export async function exportVerifier(
  zkeyPath: string,
  contractName: string,
  outPath: string,
  header: string[],
): Promise<void> {
  const template = readFileSync(snarkjsTemplate("verifier_groth16.sol.ejs"), "utf8");
  const code: string = await snarkjs.zKey.exportSolidityVerifier(zkeyPath, { groth16: template });
  if (!code.includes("contract Groth16Verifier"))
    throw new BuildError("unexpected snarkjs verifier template: contract Groth16Verifier not found");
  const renamed = code.replace("contract Groth16Verifier", `contract ${contractName}`);
  const lines = renamed.split("\n");
  // Keep the SPDX line first, as solc expects, then our header.
  const spdx = lines[0].startsWith("// SPDX") ? [lines.shift() as string] : [];
  writeFileSync(outPath, [...spdx, ...header.map((h) => `// ${h}`), ...lines].join("\n"));
}

/** snarkjs does not export its templates folder; find it next to the package's entry point. */
function snarkjsTemplate(file: string): string {
  let dir = dirname(require.resolve("snarkjs"));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return join(dir, "templates", file);
}
