import { task, types } from "hardhat/config";
import type { ConfigurableTaskDefinition } from "hardhat/types";

import { action } from "./action";

/**
 * The phase-2 ceremony tasks (docs/setup.md): start → contribute (each party, on their own
 * machine) → beacon → verify → finalize. Only finalize touches the project's contracts.
 */

/** The ceremony's contributions as the tasks print them. */
async function printContributions(
  contributions: { name: string; hash: string; beacon?: { hash: string; iterationsExp: number } }[],
  numbered = true,
) {
  const { formatHash } = await import("../src/zk/ceremony");
  contributions.forEach((c, i) => {
    const beacon = c.beacon
      ? ` (random beacon ${c.beacon.hash}, 2^${c.beacon.iterationsExp} iterations)`
      : "";
    console.log(`  ${numbered ? `#${i + 1} ` : ""}${c.name || "(no name)"}${beacon}`);
    console.log(formatHash(c.hash));
  });
}

/** The options of the tasks that check a zkey against a built model: --model, --zkey, --ptau. */
function withZkeyCheckParams(t: ConfigurableTaskDefinition, zkeyHelp: string): ConfigurableTaskDefinition {
  return t
    .addParam("model", "path to the model file (built with sibyl:build)", undefined, types.inputFile)
    .addParam("zkey", zkeyHelp, undefined, types.inputFile)
    .addOptionalParam(
      "ptau",
      "the powers-of-tau file the ceremony started from (default: the one the model's build used)",
      undefined,
      types.inputFile,
    );
}

task(
  "sibyl:ceremony-start",
  "Starts a Groth16 phase-2 ceremony for a built model: writes <out>/<model>_0000.zkey and <out>/ceremony.json",
)
  .addParam("model", "path to the model file (built with sibyl:build)", undefined, types.inputFile)
  .addParam("out", "folder for the ceremony's zkeys and its ceremony.json log (must not hold a ceremony)")
  .addOptionalParam(
    "ptau",
    "powers-of-tau file (e.g. powersOfTau28_hez_final_<power>.ptau; default: the one the model's build used)",
    undefined,
    types.inputFile,
  )
  .setAction(
    action(
      async (args: { model: string; out: string; ptau?: string }) => {
        const { builtModelOf } = await import("../src/build/finalizeCeremony");
        const { startCeremony } = await import("../src/zk/ceremony");
        const { consoleLogger } = await import("../src/log");
        const a = builtModelOf(args.model);
        const started = await startCeremony({
          r1csPath: a.r1csPath,
          ptauPath: args.ptau ?? a.ptau.path,
          outDir: args.out,
          name: a.name,
          log: consoleLogger,
        });
        console.log(`\nstarted the ceremony of ${a.name} (${a.constraints} constraints)`);
        console.log(`  zkey      ${started.zkeyPath}  (no contribution yet: do not use it)`);
        console.log(`  zkeyHash  ${started.zkeyHash}`);
        console.log(`  log       ${started.transcriptPath}`);
        console.log(
          `next: hand the zkey to the first party, who runs\n` +
            `  npx hardhat sibyl:ceremony-contribute --in ${started.zkeyPath} --out <their>.zkey --name <who>`,
        );
      },
      { compile: false },
    ),
  );

task(
  "sibyl:ceremony-contribute",
  "Adds your contribution to a ceremony zkey. Run it on your own machine; your secret entropy never leaves the process",
)
  .addParam("in", "the latest zkey of the ceremony", undefined, types.inputFile)
  .addParam("out", "where to write the zkey with your contribution (hand it to the next party)")
  .addParam("name", "who you are, recorded in the zkey (at most 64 bytes)")
  .addOptionalParam(
    "entropy",
    "extra entropy text (snarkjs mixes in 64 fresh random bytes anyway; default: 32 random bytes)",
  )
  .setAction(
    action(
      async (args: { in: string; out: string; name: string; entropy?: string }) => {
        const { contribute } = await import("../src/zk/ceremony");
        const { consoleLogger } = await import("../src/log");
        const r = await contribute({
          inPath: args.in,
          outPath: args.out,
          name: args.name,
          entropy: args.entropy,
          log: consoleLogger,
        });
        console.log(`\nwrote ${r.outPath}  (zkeyHash ${r.zkeyHash})`);
        console.log(`your contribution hash — publish it, so anyone can find it in the final zkey:`);
        await printContributions([r.contribution], false);
      },
      { compile: false },
    ),
  );

task(
  "sibyl:ceremony-beacon",
  "Applies the final random-beacon contribution (a public value fixed in advance, e.g. a future block hash)",
)
  .addParam("in", "the latest zkey of the ceremony", undefined, types.inputFile)
  .addParam("out", "where to write the final zkey")
  .addParam("beacon", "the beacon value in hex (1 to 255 bytes)")
  .addOptionalParam("iterations", "log2 of the beacon's hash iterations (10..63)", 10, types.int)
  .setAction(
    action(
      async (args: { in: string; out: string; beacon: string; iterations: number }) => {
        const { applyBeacon } = await import("../src/zk/ceremony");
        const { consoleLogger } = await import("../src/log");
        const r = await applyBeacon({
          inPath: args.in,
          outPath: args.out,
          beaconHex: args.beacon,
          iterationsExp: args.iterations,
          log: consoleLogger,
        });
        console.log(`\nwrote ${r.outPath}  (zkeyHash ${r.zkeyHash})`);
        await printContributions([r.contribution], false);
        console.log(`next: npx hardhat sibyl:ceremony-verify --model <model file> --zkey ${r.outPath}`);
      },
      { compile: false },
    ),
  );

withZkeyCheckParams(
  task(
    "sibyl:ceremony-verify",
    "Verifies a ceremony zkey against the model's circuit and the ptau, and lists its contributions",
  ),
  "the zkey to verify",
).setAction(
  action(
    async (args: { model: string; zkey: string; ptau?: string }) => {
      const { builtModelOf } = await import("../src/build/finalizeCeremony");
      const { verifyCeremony } = await import("../src/zk/ceremony");
      const { consoleLogger } = await import("../src/log");
      const a = builtModelOf(args.model);
      const v = await verifyCeremony({
        r1csPath: a.r1csPath,
        ptauPath: args.ptau ?? a.ptau.path,
        zkeyPath: args.zkey,
        log: consoleLogger,
      });
      console.log(`\n${v.zkeyPath} is a valid zkey of ${a.name}  (zkeyHash ${v.zkeyHash})`);
      console.log(`${v.contributions.length} contributions, first to last:`);
      await printContributions(v.contributions);
      if (v.contributions.length === 0) console.log("  none: anyone could forge proofs with this zkey");
    },
    { compile: false },
  ),
);

withZkeyCheckParams(
  task(
    "sibyl:ceremony-finalize",
    "Verifies a ceremony zkey and installs it as the model's key: zkey, verification key, Solidity verifier, manifest",
  ),
  "the ceremony's final zkey (after the beacon)",
).setAction(
  action(
    async (args: { model: string; zkey: string; ptau?: string }, hre) => {
      const { builtModelOf, finalizeCeremony } = await import("../src/build/finalizeCeremony");
      const { consoleLogger } = await import("../src/log");
      const { name } = builtModelOf(args.model);
      const r = await finalizeCeremony({
        modelName: name,
        zkeyPath: args.zkey,
        ptauPath: args.ptau,
        log: consoleLogger,
      });
      // the new verifier joins the project's contracts
      if (r.verifierChanged) await hre.run("compile", { quiet: true });
      const a = r.artifacts;
      console.log(`\ninstalled the ceremony zkey of ${a.name} (${r.contributions.length} contributions):`);
      await printContributions(r.contributions);
      console.log(`  zkey      ${a.zkeyPath}`);
      console.log(`  zkeyHash  ${a.zkeyHash}  (was ${r.previousZkeyHash})`);
      console.log(`  verifier  ${a.verifierPath} (contract ${a.verifierContract})`);
      console.log(`  vkHash    ${a.vkHash}`);
      console.log("register the model again so the registry records the new verifier, vkHash and zkeyHash");
    },
    { compile: false },
  ),
);
