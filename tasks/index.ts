import { task, types } from "hardhat/config";
import { HardhatPluginError } from "hardhat/plugins";
import type { ConfigurableTaskDefinition, HardhatRuntimeEnvironment } from "hardhat/types";

import { SibylError } from "../src/errors";
import type { OnnxImportOptions } from "../src/model/onnx";
import type { WeightVisibility } from "../src/model/schema";

/**
 * Sibyl's Hardhat tasks. Each one is a thin wrapper over the library in src/; run
 * `npx hardhat help <task>` for its options. Library modules are imported lazily so that
 * `hardhat compile` works before the contracts' typings exist.
 */

/**
 * Wraps a task: compiles first (a fresh clone has no artifacts or contract typings, which
 * the library imports; compile is incremental, so this costs ~1 s when nothing changed),
 * and turns Sibyl's own errors into clean CLI messages.
 */
function action<A>(fn: (args: A, hre: HardhatRuntimeEnvironment) => Promise<void>, opts = { compile: true }) {
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
    .addFlag("noPtauGeneration", "fail instead of generating a development ptau when none fits"),
).setAction(
  action(async (args: { model: string; force: boolean; noPtauGeneration: boolean } & ImportArgs, hre) => {
    const { buildModel } = await import("../src/build/buildModel");
    const { consoleLogger } = await import("../src/log");
    const report = await buildModel(args.model, {
      log: consoleLogger,
      force: args.force,
      generatePtau: !args.noPtauGeneration,
      import: importOptionsOf(args),
    });
    // the new verifier joins the project's contracts
    if (report.verifierChanged) await hre.run("compile", { quiet: true });
    const a = report.artifacts;
    console.log(`\nbuilt ${a.name}: ${a.constraints} constraints, ${a.publicSignals} public signals`);
    console.log(`  circuit   ${a.circuitPath}`);
    console.log(`  zkey      ${a.zkeyPath}`);
    console.log(`  verifier  ${a.verifierPath} (contract ${a.verifierContract})`);
    console.log(`  vkHash    ${a.vkHash}\n  modelHash ${a.modelHash}`);
  }),
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

task("sibyl:deploy", "Installs the inference precompile and model registry (0x…F4 on hardhat/localhost)")
  .addOptionalParam("minBond", "minimum node bond in ETH", "1")
  .addOptionalParam(
    "answerWindow",
    "seconds a request may wait for an answer before it can expire",
    3600,
    types.int,
  )
  .setAction(
    action(async (args: { minBond: string; answerWindow: number }, hre) => {
      const { deploySibyl } = await import("../src/chain/deploy");
      const { precompile, registry, deterministic } = await deploySibyl(hre, {
        minBond: hre.ethers.parseEther(args.minBond),
        answerWindow: BigInt(args.answerWindow),
      });
      console.log(
        `precompile ${await precompile.getAddress()}${deterministic ? " (deterministic CREATE2 address)" : ""}`,
      );
      console.log(`registry   ${await registry.getAddress()}`);
    }),
  );

task("sibyl:register", "Deploys a built model's verifier and registers the model")
  .addParam("model", "path to the model file (built with sibyl:build)", undefined, types.inputFile)
  .addOptionalParam("fee", "fee per request in ETH", "0.001")
  .addOptionalParam("stake", "node bond locked per unsettled answer, in ETH", "0.1")
  .addOptionalParam("window", "settlement window in seconds", 600, types.int)
  .setAction(
    action(async (args: { model: string; fee: string; stake: string; window: number }, hre) => {
      const { buildModels } = await import("../src/chain/stack");
      const { connectSibyl } = await import("../src/chain/connect");
      const { registerModel } = await import("../src/chain/models");
      const { consoleLogger } = await import("../src/log");
      const [artifacts] = await buildModels(hre, [args.model], consoleLogger);
      const { registry } = await connectSibyl(hre);
      const reg = await registerModel(hre, registry, artifacts, {
        fee: hre.ethers.parseEther(args.fee),
        stake: hre.ethers.parseEther(args.stake),
        settlementWindow: BigInt(args.window),
      });
      console.log(`${reg.created ? "registered" : "already registered"} ${artifacts.name}`);
      console.log(`  modelId  ${reg.modelId}\n  verifier ${reg.verifier}`);
    }),
  );

task("sibyl:node", "Runs an inference node: answers requests at once, proves and settles them")
  .addOptionalParam("models", "comma-separated model names to serve (built under build/models)", "iris")
  .addOptionalParam("bond", "bond to post in ETH if the signer is not yet a node", "1")
  .addOptionalParam("signer", "index of the Hardhat account that runs the node", 1, types.int)
  .addOptionalParam("pollMs", "poll interval in ms", 500, types.int)
  .addOptionalParam("fromBlock", "first block to scan (default: 1000 blocks back)", undefined, types.int)
  .setAction(
    action(
      async (
        args: { models: string; bond: string; signer: number; pollMs: number; fromBlock?: number },
        hre,
      ) => {
        const { runStandaloneNode } = await import("../src/node/standalone");
        await runStandaloneNode(hre, {
          models: args.models.split(",").map((s) => s.trim()),
          bond: hre.ethers.parseEther(args.bond),
          signerIndex: args.signer,
          pollMs: args.pollMs,
          fromBlock: args.fromBlock,
        });
      },
    ),
  );

task("sibyl:infer", "Sends one inference request from the CLI and waits for its answer and settlement")
  .addParam("model", "model name (built under build/models)")
  .addParam("input", 'comma-separated real values, e.g. "5.1,3.5,1.4,0.2"')
  .addFlag("raw", "the input is already fixed-point integers")
  .addOptionalParam("timeout", "seconds to wait for settlement", 120, types.int)
  .setAction(
    action(async (args: { model: string; input: string; raw: boolean; timeout: number }, hre) => {
      const { inferFromCli } = await import("../src/client/cli");
      await inferFromCli(hre, { ...args, timeoutMs: args.timeout * 1000 });
    }),
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
