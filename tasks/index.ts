import { task, types } from "hardhat/config";
import type { ConfigurableTaskDefinition } from "hardhat/types";

import { SibylError } from "../src/errors";
import { action } from "./action";
import "./ceremony";
import "./verify";
import type { OnnxImportOptions } from "../src/model/onnx";
import type { WeightVisibility } from "../src/model/schema";

/**
 * Sibyl's Hardhat tasks. Each one is a thin wrapper over the library in src/; run
 * `npx hardhat help <task>` for its options. Library modules are imported lazily so that
 * `hardhat compile` works before the contracts' typings exist.
 */

/** The ONNX import options shared by sibyl:build and sibyl:import. */
const IMPORT_HELP = {
  name: "ONNX import: model name (default: the file name, sanitized)",
  fracBits: "ONNX import: fraction bits of the fixed point (default 8)",
  valueBits: "ONNX import: bits of every activation (default 24)",
  inputBits: "ONNX import: bits of every input (default: valueBits)",
  weights: "ONNX import: public or private weights (default public)",
};
interface ImportArgs {
  name?: string;
  fracBits?: number;
  valueBits?: number;
  inputBits?: number;
  weights?: string;
}
/** The options that shape an ONNX import, shared by sibyl:build and sibyl:import. */
function withImportParams(t: ConfigurableTaskDefinition): ConfigurableTaskDefinition {
  return t
    .addOptionalParam("name", IMPORT_HELP.name)
    .addOptionalParam("fracBits", IMPORT_HELP.fracBits, undefined, types.int)
    .addOptionalParam("valueBits", IMPORT_HELP.valueBits, undefined, types.int)
    .addOptionalParam("inputBits", IMPORT_HELP.inputBits, undefined, types.int)
    .addOptionalParam("weights", IMPORT_HELP.weights);
}
function importOptionsOf(args: ImportArgs): OnnxImportOptions | undefined {
  const { name, fracBits, valueBits, inputBits, weights } = args;
  if ([name, fracBits, valueBits, inputBits, weights].every((v) => v === undefined)) return undefined;
  return {
    name,
    quantization: { fracBits, valueBits, inputBits, weights: weights as WeightVisibility | undefined },
  };
}

withImportParams(
  task(
    "sibyl:build",
    "Builds a model: quantize → generate circuit → compile → Groth16 setup → export verifier",
  )
    .addParam(
      "model",
      "path to the model file (sibyl-model/1 JSON, or .onnx to import)",
      undefined,
      types.inputFile,
    )
    .addFlag("force", "rebuild every step, ignoring the cache")
    .addFlag("noPtauGeneration", "fail instead of generating a development ptau when none fits")
    .addOptionalParam(
      "ptau",
      "powers-of-tau file to use (e.g. a public powersOfTau28_hez_final_<power>.ptau) instead of the development ones",
      undefined,
      types.inputFile,
    ),
).setAction(
  action(
    async (
      args: { model: string; force: boolean; noPtauGeneration: boolean; ptau?: string } & ImportArgs,
      hre,
    ) => {
      const { buildModel } = await import("../src/build/buildModel");
      const { consoleLogger } = await import("../src/log");
      const report = await buildModel(args.model, {
        log: consoleLogger,
        force: args.force,
        generatePtau: !args.noPtauGeneration,
        import: importOptionsOf(args),
        ptauPath: args.ptau,
      });
      // the new verifier joins the project's contracts
      if (report.verifierChanged) await hre.run("compile", { quiet: true });
      const a = report.artifacts;
      console.log(`\nbuilt ${a.name}: ${a.constraints} constraints, ${a.publicSignals} public signals`);
      console.log(`  circuit   ${a.circuitPath}`);
      console.log(`  zkey      ${a.zkeyPath}`);
      console.log(`  verifier  ${a.verifierPath} (contract ${a.verifierContract})`);
      console.log(`  vkHash    ${a.vkHash}\n  modelHash ${a.modelHash}`);
    },
  ),
);

withImportParams(
  task("sibyl:import", "Converts an ONNX model (an MLP) to a sibyl-model/1 file, without building it")
    .addParam("onnx", "path to the .onnx file", undefined, types.inputFile)
    .addParam("out", "where to write the model file (JSON)"),
).setAction(
  action(
    async (args: { onnx: string; out: string } & ImportArgs) => {
      const { convertOnnx } = await import("../src/model/load");
      const model = convertOnnx(args.onnx, args.out, importOptionsOf(args));
      const layers = model.layers.map((l) => (l.type === "dense" ? `dense ${l.weights.length}` : l.type));
      console.log(
        `wrote ${args.out}: model ${model.name}, ${model.inputLength} inputs → ${layers.join(" → ")}`,
      );
    },
    { compile: false },
  ),
);

task("sibyl:ptau", "Generates an INSECURE development powers-of-tau file into the build cache")
  .addParam("power", "log2 of the maximum circuit size (e.g. 14 for 16k constraints)", undefined, types.int)
  .setAction(
    action(
      async (args: { power: number }) => {
        const { generateDevPtau } = await import("../src/zk/ptau");
        const { consoleLogger } = await import("../src/log");
        const file = await generateDevPtau(args.power, consoleLogger);
        console.log(`wrote ${file.path} (development only: one random contribution, no beacon; NOT secure)`);
      },
      { compile: false },
    ),
  );

task(
  "sibyl:deploy",
  "Installs the inference precompile and model registry (0x…F4 on hardhat/localhost); refuses an " +
    "installation someone else initialised, or one with other parameters",
)
  .addOptionalParam("minBond", "minimum node bond in ETH", "1")
  .addOptionalParam(
    "answerWindow",
    "seconds a request may wait for an answer before it can expire (at most 86400)",
    3600,
    types.int,
  )
  .addFlag(
    "reset",
    "hardhat/localhost only: clear the precompile's initialisation and install afresh with you as admin. " +
      "Requests, bonds and balances left in its storage are orphaned: a development chain only",
  )
  .setAction(
    action(async (args: { minBond: string; answerWindow: number; reset: boolean }, hre) => {
      const { deploySibyl } = await import("../src/chain/deploy");
      const { describeState } = await import("../src/chain/install");
      const { precompile, registry, deterministic, cleared } = await deploySibyl(hre, {
        minBond: hre.ethers.parseEther(args.minBond),
        answerWindow: BigInt(args.answerWindow),
        reset: args.reset,
      });
      if (cleared)
        console.log(
          `cleared the previous installation (${describeState(cleared)}); its requests and bonds are orphaned`,
        );
      console.log(
        `precompile ${await precompile.getAddress()}${deterministic ? " (deterministic CREATE2 address)" : ""}`,
      );
      console.log(`registry   ${await registry.getAddress()}`);
      console.log(
        `admin      ${await precompile.admin()}, minBond ${hre.ethers.formatEther(await precompile.minBond())} ETH, ` +
          `answerWindow ${await precompile.answerWindow()} s`,
      );
    }),
  );

task(
  "sibyl:register",
  "Registers a built model: the registry deploys its verifier's code; prints the model id",
)
  .addParam("model", "path to the model file (built with sibyl:build)", undefined, types.inputFile)
  .addOptionalParam("fee", "fee per request in ETH (default 0.001)")
  .addOptionalParam(
    "callbackGasPrice",
    "price of each unit of callback gas a request asks for, in gwei (default 1)",
  )
  .addOptionalParam("stake", "node bond locked per unsettled answer, in ETH (default 0.1; 0 when --unbonded)")
  .addOptionalParam(
    "window",
    "settlement window in seconds (default 600, at most 86400)",
    undefined,
    types.int,
  )
  .addFlag("unbonded", "answers lock no stake: nothing repays a wrong answer before its proof")
  .setAction(
    action(
      async (
        args: {
          model: string;
          fee?: string;
          callbackGasPrice?: string;
          stake?: string;
          window?: number;
          unbonded: boolean;
        },
        hre,
      ) => {
        const { buildModels } = await import("../src/chain/stack");
        const { connectSibyl } = await import("../src/chain/connect");
        const { registerModel } = await import("../src/chain/models");
        const { consoleLogger } = await import("../src/log");
        const { parseEther, parseUnits, formatEther, formatUnits } = hre.ethers;
        const [artifacts] = await buildModels(hre, [args.model], consoleLogger);
        const { registry } = await connectSibyl(hre);
        const reg = await registerModel(hre, registry, artifacts, {
          fee: args.fee === undefined ? undefined : parseEther(args.fee),
          callbackGasPrice:
            args.callbackGasPrice === undefined ? undefined : parseUnits(args.callbackGasPrice, "gwei"),
          stake: args.stake === undefined ? undefined : parseEther(args.stake),
          settlementWindow: args.window === undefined ? undefined : BigInt(args.window),
          unbonded: args.unbonded,
        });
        const t = reg.terms;
        console.log(`${reg.created ? "registered" : "already registered"} ${artifacts.name}`);
        console.log(`  modelId           ${reg.modelId}`);
        console.log(`  owner             ${reg.owner}`);
        console.log(`  verifier          ${reg.verifier}`);
        console.log(`  verifier code     ${reg.verifierCodeHash}`);
        console.log(
          `  terms             fee ${formatEther(t.fee)} ETH, callback gas price ${formatUnits(t.callbackGasPrice, "gwei")} gwei, ` +
            `stake ${formatEther(t.stake)} ETH, window ${t.settlementWindow} s${t.unbonded ? ", unbonded" : ""}`,
        );
        console.log(
          `  registration gas  ${reg.gasUsed === undefined ? "none (already registered)" : reg.gasUsed}`,
        );
      },
    ),
  );

task("sibyl:node", "Runs an inference node: answers requests at once, proves and settles them")
  .addOptionalParam("models", "comma-separated model names to serve (built under build/models)", "iris")
  .addOptionalParam(
    "ids",
    "comma-separated model ids, one per model (default: the ids sibyl:register recorded)",
  )
  .addOptionalParam(
    "bond",
    "bond to post in ETH if the signer is not yet a node (the minimum bond stays free; the rest backs answers)",
    "2",
  )
  .addOptionalParam("signer", "index of the Hardhat account that runs the node", 1, types.int)
  .addOptionalParam("pollMs", "poll interval in ms", 500, types.int)
  .addOptionalParam("fromBlock", "first block to scan (default: 1000 blocks back)", undefined, types.int)
  .addOptionalParam("minFee", "policy: the least fee in ETH a request must carry (default 0)")
  .addOptionalParam(
    "maxCallbackGas",
    "policy: the most callback gas per hook a request may ask for (default 1000000)",
    undefined,
    types.int,
  )
  .addOptionalParam(
    "maxStake",
    "policy: the largest stake in ETH to lock behind one answer (default: no limit)",
  )
  .addOptionalParam(
    "minSettlementWindow",
    "refuse to serve a registration whose settlement window is shorter than this many seconds",
    60,
    types.int,
  )
  .setAction(
    action(
      async (
        args: {
          models: string;
          ids?: string;
          bond: string;
          signer: number;
          pollMs: number;
          fromBlock?: number;
          minFee?: string;
          maxCallbackGas?: number;
          maxStake?: string;
          minSettlementWindow: number;
        },
        hre,
      ) => {
        const { runStandaloneNode, policyFromCli } = await import("../src/node/standalone");
        const list = (s: string) => s.split(",").map((x) => x.trim());
        await runStandaloneNode(hre, {
          models: list(args.models),
          ids: args.ids === undefined ? undefined : list(args.ids),
          bond: hre.ethers.parseEther(args.bond),
          signerIndex: args.signer,
          pollMs: args.pollMs,
          fromBlock: args.fromBlock,
          policy: policyFromCli(args),
          minSettlementWindow: BigInt(args.minSettlementWindow),
        });
      },
    ),
  );

task("sibyl:infer", "Sends one inference request from the CLI and waits for its answer and settlement")
  .addParam("model", "model name (built under build/models)")
  .addOptionalParam("id", "the model id to request (default: the id sibyl:register recorded)")
  .addParam("input", 'comma-separated real values, e.g. "5.1,3.5,1.4,0.2"')
  .addFlag("raw", "the input is already fixed-point integers")
  .addOptionalParam("timeout", "seconds to wait for settlement", 120, types.int)
  .setAction(
    action(
      async (args: { model: string; id?: string; input: string; raw: boolean; timeout: number }, hre) => {
        const { inferFromCli } = await import("../src/client/cli");
        await inferFromCli(hre, { ...args, timeoutMs: args.timeout * 1000 });
      },
    ),
  );

task(
  "sibyl:status",
  "Explains a request: its state, who answered and when, its deadline, the bond behind it, and why it is pending",
)
  .addParam("id", "the request id (0x followed by 64 hex digits)")
  .setAction(
    action(async (args: { id: string }, hre) => {
      if (!/^0x[0-9a-fA-F]{64}$/.test(args.id))
        throw new SibylError(
          `--id must be a request id (0x followed by 64 hex digits), got ${args.id}`,
          "take it from the InferenceRequested event, or from sibyl:infer's output",
        );
      const { connectSibyl } = await import("../src/chain/connect");
      const { explainRequest } = await import("../src/client/status");
      const { precompile } = await connectSibyl(hre);
      console.log((await explainRequest(precompile, args.id)).lines.join("\n"));
    }),
  );

task("sibyl:accuracy", "Accuracy report: float model vs quantized runtime vs circuit (vs on-chain decoding)")
  .addParam("model", "path to the model file", undefined, types.inputFile)
  .addParam("data", "data set: iris or mnist")
  .addOptionalParam("split", "test (the held-out split recorded in the model) or all", "test")
  .addFlag("noCircuit", "skip the witness check (float vs quantized only; no build needed)")
  .addOptionalParam(
    "onchain",
    "also decode this many outputs through the precompile (in-process network)",
    0,
    types.int,
  )
  .setAction(
    action(
      async (
        args: { model: string; data: string; split: string; noCircuit: boolean; onchain: number },
        hre,
      ) => {
        if (args.split !== "test" && args.split !== "all")
          throw new SibylError(`--split must be test or all, got ${args.split}`);
        const { runAccuracyReport } = await import("../src/reports/accuracy");
        await runAccuracyReport(hre, { ...args, split: args.split, circuit: !args.noCircuit });
      },
    ),
  );

task("sibyl:demo", "The end-to-end demo on the in-process Hardhat network")
  .addOptionalParam("requests", "number of credit applications to send", 3, types.int)
  .setAction(
    action(async (args: { requests: number }, hre) => {
      if (hre.network.name !== "hardhat")
        throw new SibylError("the demo runs on the in-process network", "run it without --network");
      const { runDemo } = await import("../src/demo/runDemo");
      await runDemo(hre, { requests: args.requests });
    }),
  );
