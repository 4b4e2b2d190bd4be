import { task } from "hardhat/config";
import { ArgumentType } from "hardhat/types/arguments";
import type { NewTaskDefinitionBuilder, TaskDefinition } from "hardhat/types/tasks";

/**
 * Every `sibyl:*` task: options and help text only. Each action is its own module in
 * src/tasks/ (loaded on use) that returns what it created.
 */

const STRING = ArgumentType.STRING_WITHOUT_DEFAULT;
/** An optional text option: the action gives its default or says it is required. */
const text = <N extends string>(name: N, description: string) =>
  ({ name, description, type: STRING, defaultValue: undefined }) as const;
const MODEL_FILE = "path to the model file (sibyl-model/1 JSON, e.g. models/iris/model.json)";

/** The ONNX import options shared by sibyl:build and sibyl:import. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function withImportOptions<B extends NewTaskDefinitionBuilder<any>>(t: B) {
  return t
    .addOption(text("name", "ONNX import: model name (default: the file name, sanitized)"))
    .addOption(text("fracBits", "ONNX import: fraction bits of the fixed point (default 8)"))
    .addOption(text("valueBits", "ONNX import: bits of every activation (default 24)"))
    .addOption(text("inputBits", "ONNX import: bits of every input (default: valueBits)"))
    .addOption(text("weights", "ONNX import: public or private weights (default public)"));
}

/** The options of the tasks that check a zkey against a built model. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function withZkeyCheckOptions<B extends NewTaskDefinitionBuilder<any>>(t: B, zkeyHelp: string) {
  return t
    .addOption(text("model", MODEL_FILE + " (built with sibyl:build)"))
    .addOption(text("zkey", zkeyHelp))
    .addOption(
      text(
        "ptau",
        "the powers-of-tau file the ceremony started from (default: the one the model's build used)",
      ),
    );
}

/** The options of the tasks that run a node (sibyl:node, sibyl:proxy). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function withNodeOptions<B extends NewTaskDefinitionBuilder<any>>(t: B) {
  return t
    .addOption({
      name: "models",
      description: "comma-separated model files to serve (built with sibyl:build)",
      defaultValue: "models/iris/model.json",
    })
    .addOption(
      text("ids", "comma-separated model ids, one per model (default: the ids sibyl:register recorded)"),
    )
    .addOption({
      name: "bond",
      description:
        "bond to post in ETH if the signer is not yet a node (the minimum bond stays free; the rest backs answers)",
      defaultValue: "2",
    })
    .addOption({
      name: "signer",
      description: "index of the account that runs the node",
      type: ArgumentType.INT,
      defaultValue: 1,
    })
    .addOption({
      name: "pollMs",
      description: "poll interval in ms",
      type: ArgumentType.INT,
      defaultValue: 500,
    })
    .addOption(text("fromBlock", "first block to scan (default: 1000 blocks back)"))
    .addOption(text("minFee", "policy: the least fee in ETH a request must carry (default 0)"))
    .addOption(
      text(
        "maxCallbackGas",
        "policy: the most callback gas per hook a request may ask for (default 1000000)",
      ),
    )
    .addOption(
      text("maxStake", "policy: the largest stake in ETH to lock behind one answer (default: no limit)"),
    )
    .addOption({
      name: "minSettlementWindow",
      description: "refuse to serve a registration whose settlement window is shorter than this many seconds",
      type: ArgumentType.INT,
      defaultValue: 60,
    })
    .addOption(
      text(
        "batch",
        "settle answers in batches of these sizes, e.g. 4,32 (their verifiers registered with sibyl:register --batch; default: one proof per request)",
      ),
    )
    .addOption(
      text(
        "batchMargin",
        "batches: settle a waiting answer once its settlement deadline is this many seconds away (default 120)",
      ),
    )
    .addOption(
      text(
        "takeoverGrace",
        "several nodes: follow the assignment rule (docs/operating.md), answering at once only as a request's primary and taking over after this many seconds per rank (default: off, answer everything at once)",
      ),
    )
    .addOption(
      text(
        "takeoverMargin",
        "several nodes: settle a peer's answer still unsettled this many seconds before its deadline (default 60)",
      ),
    )
    .addOption(
      text(
        "redis",
        "prove through the Redis job queue at this URL, e.g. redis://127.0.0.1:6379, served by sibyl:prover workers (default: prove in this process)",
      ),
    )
    .addOption(
      text(
        "metricsPort",
        "serve Prometheus metrics on this port at /metrics (0: a free one; default: none) (docs/operating.md)",
      ),
    )
    .addOption(text("metricsHost", "the metrics server's address (default 127.0.0.1)"))
    .addFlag({
      name: "proveLocally",
      description: "with --redis: prove in this process while Redis is unreachable (else proofs wait for it)",
    })
    .addFlag({
      name: "tee",
      description:
        "also answer TEE-mode requests: run each model in a local enclave process (NOT hardware-backed, under the " +
        "project's development root CA) and register its key on-chain (account #0 sets up the enclave registry " +
        "and allows the measurement when it is the admin and the models' owner)",
    });
}

export const sibylTasks: TaskDefinition[] = [
  withImportOptions(
    task(
      "sibyl:build",
      "Builds a model: quantize → generate circuit → compile → Groth16 setup → export verifier",
    )
      .addOption(text("model", MODEL_FILE + ", or an .onnx file to import"))
      .addFlag({ name: "force", description: "rebuild every step, ignoring the cache" })
      .addOption(
        text(
          "batch",
          "also build the batch circuits of these sizes, e.g. 4,32 (one proof settles up to k requests)",
        ),
      )
      .addFlag({
        name: "noPtauGeneration",
        description: "fail instead of generating a development ptau when none fits",
      })
      .addOption(
        text(
          "ptau",
          "powers-of-tau file to use (e.g. a public powersOfTau28_hez_final_<power>.ptau) instead of the development ones",
        ),
      ),
  )
    .setAction(() => import("../tasks/build.js"))
    .build(),

  withImportOptions(
    task(
      "sibyl:import",
      "Converts an ONNX model (an MLP or a CNN) to a sibyl-model/1 file, without building it",
    )
      .addOption(text("onnx", "path to the .onnx file"))
      .addOption(text("out", "where to write the model file (JSON)")),
  )
    .setAction(() => import("../tasks/import.js"))
    .build(),

  task("sibyl:ptau", "Generates an INSECURE development powers-of-tau file into the build cache")
    .addOption(text("power", "log2 of the maximum circuit size (e.g. 14 for 16k constraints)"))
    .setAction(() => import("../tasks/ptau.js"))
    .build(),

  task(
    "sibyl:deploy",
    "Installs the inference precompile and model registry (0x…F4 on Hardhat networks); refuses an installation someone " +
      "else initialised, or one with other parameters",
  )
    .addOption(text("minBond", "minimum node bond in ETH (default: the existing installation's, else 1)"))
    .addOption(
      text(
        "answerWindow",
        "seconds a request may wait for an answer before it can expire, at most 86400 " +
          "(default: the existing installation's, else 3600)",
      ),
    )
    .addFlag({
      name: "reset",
      description:
        "Hardhat networks only: clear the precompile's initialisation and install afresh with you as admin. Requests, " +
        "bonds and balances left in its storage are orphaned: a development chain only",
    })
    .setAction(() => import("../tasks/deploy.js"))
    .build(),

  task(
    "sibyl:register",
    "Registers a built model: the registry deploys its verifier's code; prints the model id and CID",
  )
    .addOption(text("model", MODEL_FILE + " (built now if it is not)"))
    .addOption(text("fee", "fee per request in ETH (default 0.001)"))
    .addOption(
      text("callbackGasPrice", "price of each unit of callback gas a request asks for, in gwei (default 1)"),
    )
    .addOption(
      text("stake", "node bond locked per unsettled answer, in ETH (default 0.1; 0 when --unbonded)"),
    )
    .addOption(text("window", "settlement window in seconds (default 600, at most 86400)"))
    .addOption(
      text(
        "batch",
        "also build and register the model's batch verifiers of these sizes, e.g. 4,32 (by the model's owner; once per size)",
      ),
    )
    .addFlag({
      name: "unbonded",
      description: "answers lock no stake: nothing repays a wrong answer before its proof",
    })
    .addOption(
      text(
        "bindName",
        "also bind this name to the model for good (a modelCID an existing OpenGradient contract hard-codes; first come, by the model's owner)",
      ),
    )
    .setAction(() => import("../tasks/register.js"))
    .build(),

  task(
    "sibyl:verify-model",
    "Checks a registered model id against the local build of a model file and says exactly what differs",
  )
    .addOption(text("model", MODEL_FILE + " (built now if it is not)"))
    .addOption(text("id", "the registered model id (0x followed by 64 hex digits)"))
    .addOption(text("fee", "also check the fee per request, in ETH"))
    .addOption(text("callbackGasPrice", "also check the price of callback gas, in gwei"))
    .addOption(text("stake", "also check the stake locked per unsettled answer, in ETH"))
    .addOption(text("window", "also check the settlement window, in seconds"))
    .addFlag({
      name: "unbonded",
      description: "also check that the model is unbonded (answers lock no stake)",
    })
    .addFlag({
      name: "transcript",
      description: "also verify the local zkey's phase-2 transcript against the r1cs and ptau (slow)",
    })
    .setAction(() => import("../tasks/verify-model.js"))
    .build(),

  withNodeOptions(
    task("sibyl:node", "Runs an inference node: answers requests at once, proves and settles them"),
  )
    .setAction(() => import("../tasks/node.js"))
    .build(),

  withNodeOptions(
    task(
      "sibyl:proxy",
      "Runs a node behind a JSON-RPC endpoint that pre-executes transactions, so contracts' synchronous inference " +
        "calls work from wallets and scripts pointed at it (needs a JSON-RPC chain, e.g. --network localhost)",
    ),
  )
    .addOption({
      name: "port",
      description: "port the proxy listens on",
      type: ArgumentType.INT,
      defaultValue: 8546,
    })
    .addOption({
      name: "host",
      description: "address the proxy listens on (0.0.0.0 to face the network)",
      defaultValue: "127.0.0.1",
    })
    .setAction(() => import("../tasks/proxy.js"))
    .build(),

  task(
    "sibyl:prover",
    "Runs a proving worker: takes the proving jobs that nodes run with --redis put on the Redis queue, for the circuits it holds",
  )
    .addOption({
      name: "redis",
      description: "the Redis URL the nodes use",
      defaultValue: "redis://127.0.0.1:6379",
    })
    .addOption({
      name: "models",
      description: "comma-separated model files whose circuits to prove (built with sibyl:build)",
      defaultValue: "models/iris/model.json",
    })
    .addOption(
      text(
        "batch",
        "also prove the models' batch circuits of these sizes, e.g. 4,32 (built with sibyl:build --batch)",
      ),
    )
    .addOption(
      text(
        "lockMs",
        "ms a job stays locked to this worker without renewal: how soon another worker takes the job of one that died (default 10000)",
      ),
    )
    .addOption(
      text("metricsPort", "serve Prometheus metrics on this port at /metrics (0: a free one; default: none)"),
    )
    .addOption(text("metricsHost", "the metrics server's address (default 127.0.0.1)"))
    .setAction(() => import("../tasks/prover.js"))
    .build(),

  task(
    "sibyl:deposit",
    "Deposits inference credit for an account with a node: it pays the fees of the synchronous calls the node prepares",
  )
    .addOption(text("amount", "ETH to deposit, e.g. 0.1"))
    .addOption(
      text(
        "node",
        "the node's address (default: the network's account #1, the one sibyl:node and sibyl:proxy use)",
      ),
    )
    .addOption(text("for", "the account whose credit it is (default: the signer's own)"))
    .addOption({
      name: "signer",
      description: "index of the account that pays",
      type: ArgumentType.INT,
      defaultValue: 0,
    })
    .setAction(() => import("../tasks/deposit.js"))
    .build(),

  task("sibyl:infer", "Sends one inference request from the CLI and waits for its answer and settlement")
    .addOption(text("model", MODEL_FILE + " (built and registered)"))
    .addOption(text("id", "the model id to request (default: the id sibyl:register recorded)"))
    .addOption(text("input", 'comma-separated real values, e.g. "5.1,3.5,1.4,0.2"'))
    .addFlag({ name: "raw", description: "the input is already fixed-point integers" })
    .addFlag({
      name: "tee",
      description: "ask in TEE mode: answered by an attested enclave (a node run with --tee), final at once",
    })
    .addOption({
      name: "timeout",
      description: "seconds to wait for settlement",
      type: ArgumentType.INT,
      defaultValue: 120,
    })
    .setAction(() => import("../tasks/infer.js"))
    .build(),

  task(
    "sibyl:status",
    "Explains a request: its state, who answered and when, its deadline, the bond behind it, and why it is pending",
  )
    .addOption(text("id", "the request id (0x followed by 64 hex digits)"))
    .setAction(() => import("../tasks/status.js"))
    .build(),

  task(
    "sibyl:dashboard",
    "Serves a local live page of the trust gap: each request's timeline (requested, answered, settled, slashed or " +
      "expired), the value at risk outstanding and each node's bond over time",
  )
    .addOption({
      name: "port",
      description: "port the page is served on (0 picks a free one)",
      type: ArgumentType.INT,
      defaultValue: 7077,
    })
    .addOption({
      name: "host",
      description: "address the page is served on (0.0.0.0 to face the network)",
      defaultValue: "127.0.0.1",
    })
    .addOption(text("fromBlock", "first block to follow (default: 1000 blocks below the head)"))
    .addOption({
      name: "pollMs",
      description: "how often to look for new blocks, in ms",
      type: ArgumentType.INT,
      defaultValue: 1000,
    })
    .setAction(() => import("../tasks/dashboard.js"))
    .build(),

  task(
    "sibyl:accuracy",
    "Accuracy report: float model vs quantized runtime vs circuit (vs on-chain decoding)",
  )
    .addOption(text("model", MODEL_FILE))
    .addOption(text("data", "data set: iris or mnist"))
    .addOption({
      name: "split",
      description: "test (the held-out split recorded in the model) or all",
      defaultValue: "test",
    })
    .addFlag({
      name: "noCircuit",
      description: "skip the witness check (float vs quantized only; no build needed)",
    })
    .addOption({
      name: "onchain",
      description: "also decode this many outputs through the precompile (in-process network)",
      type: ArgumentType.INT,
      defaultValue: 0,
    })
    .setAction(() => import("../tasks/accuracy.js"))
    .build(),

  task("sibyl:demo", "The end-to-end demo on the in-process Hardhat network")
    .addOption({
      name: "requests",
      description: "number of credit applications (or digits) to send",
      type: ArgumentType.INT,
      defaultValue: 3,
    })
    .addOption({
      name: "model",
      description:
        "the model to run: iris (the credit-line demo with TEE, synchronous and batch calls), or a digit model: mnist, mnist_private, mnist_cnn",
      type: ArgumentType.STRING,
      defaultValue: "iris",
    })
    .setAction(() => import("../tasks/demo.js"))
    .build(),

  task(
    "sibyl:ceremony-start",
    "Starts a Groth16 phase-2 ceremony for a built model: writes <out>/<model>_0000.zkey and <out>/ceremony.json",
  )
    .addOption(text("model", MODEL_FILE + " (built with sibyl:build)"))
    .addOption(
      text("out", "folder for the ceremony's zkeys and its ceremony.json log (must not hold a ceremony)"),
    )
    .addOption(
      text(
        "ptau",
        "powers-of-tau file (e.g. powersOfTau28_hez_final_<power>.ptau; default: the one the model's build used)",
      ),
    )
    .setAction(() => import("../tasks/ceremony-start.js"))
    .build(),

  task(
    "sibyl:ceremony-contribute",
    "Adds your contribution to a ceremony zkey. Run it on your own machine; your secret entropy never leaves the process",
  )
    .addOption(text("in", "the latest zkey of the ceremony"))
    .addOption(text("out", "where to write the zkey with your contribution (hand it to the next party)"))
    .addOption(text("name", "who you are, recorded in the zkey (at most 64 bytes)"))
    .addOption(
      text(
        "entropy",
        "extra entropy text (snarkjs mixes in 64 fresh random bytes anyway; default: 32 random bytes)",
      ),
    )
    .setAction(() => import("../tasks/ceremony-contribute.js"))
    .build(),

  task(
    "sibyl:ceremony-beacon",
    "Applies the final random-beacon contribution (a public value fixed in advance, e.g. a future block hash)",
  )
    .addOption(text("in", "the latest zkey of the ceremony"))
    .addOption(text("out", "where to write the final zkey"))
    .addOption(text("beacon", "the beacon value in hex (1 to 255 bytes)"))
    .addOption({
      name: "iterations",
      description: "log2 of the beacon's hash iterations (10..63)",
      type: ArgumentType.INT,
      defaultValue: 10,
    })
    .setAction(() => import("../tasks/ceremony-beacon.js"))
    .build(),

  withZkeyCheckOptions(
    task(
      "sibyl:ceremony-verify",
      "Verifies a ceremony zkey against the model's circuit and the ptau, and lists its contributions",
    ),
    "the zkey to verify",
  )
    .setAction(() => import("../tasks/ceremony-verify.js"))
    .build(),

  withZkeyCheckOptions(
    task(
      "sibyl:ceremony-finalize",
      "Verifies a ceremony zkey and installs it as the model's key: zkey, verification key, Solidity verifier, manifest",
    ),
    "the ceremony's final zkey (after the beacon)",
  )
    .setAction(() => import("../tasks/ceremony-finalize.js"))
    .build(),
];
