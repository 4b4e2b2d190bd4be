import { expect } from "chai";
import { JsonRpcProvider } from "ethers";

import { INFERENCE_ADDRESS } from "../../src/chain/install.js";
import { requestInference } from "../../src/client/client.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { loadArtifacts } from "../../src/pipeline/artifacts.js";
import { SibylError } from "../../src/errors.js";
import { RequestState } from "../../src/protocol/state.js";
import { batchSizesOption, secondsOption } from "../../src/tasks/args.js";
import { InferencePrecompile__factory } from "../../typechain-types/index.js";
import { HardhatProcess, deployAndRegister, runTask, startHardhatNode } from "../helpers/hardhat-node.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";

/**
 * Batch settlement from the command line, as a user runs it against a `hardhat node` process:
 * `sibyl:register --batch 2` registers the batch verifier, `sibyl:node --batch 2` settles two
 * requests in one settleBatch transaction; a node asked for a size
 * nobody registered refuses to start and says who must register it.
 */
describe("e2e/batch-cli: sibyl:register --batch and sibyl:node --batch against a hardhat node process", function () {
  this.timeout(600_000);
  const processes: HardhatProcess[] = [];
  let provider: JsonRpcProvider | undefined;

  after(async function () {
    for (const p of processes) p.kill("SIGKILL");
    await Promise.all(processes.map((p) => p.exited));
    provider?.destroy();
  });

  it("--batch and --batch-margin are checked before anything runs", function () {
    expect(batchSizesOption(undefined)).to.deep.equal([]);
    expect(batchSizesOption("32, 4,4")).to.deep.equal([4, 32]);
    for (const bad of ["0", "257", "4,,8", "four"])
      expect(() => batchSizesOption(bad), bad).to.throw(SibylError, /--batch/);
    expect(secondsOption("90", "--batch-margin")).to.equal(90_000);
    expect(() => secondsOption("-1", "--batch-margin")).to.throw(SibylError, /0 or more seconds/);
  });

  it("settles two requests in one batch; a size nobody registered is refused at start", async function () {
    const { chain, url } = await startHardhatNode();
    processes.push(chain);
    provider = new JsonRpcProvider(url, 31337, { staticNetwork: true, pollingInterval: 100 });
    const env = { SIBYL_RPC_URL: url };
    const modelId = await deployAndRegister(env, IRIS_MODEL_PATH);

    // a size with no verifier on-chain: refused, naming the command that registers one
    const refused = await runTask(
      ["sibyl:node", "--network", "localhost", "--models", IRIS_MODEL_PATH, "--batch", "2"],
      env,
    ).then(
      () => "",
      (e: Error) => e.message,
    );
    expect(refused).to.match(/iris has no batch verifier for 2 on-chain/);
    expect(refused).to.contain("sibyl:register --model <model file> --batch 2");

    const registered = await runTask(
      ["sibyl:register", "--network", "localhost", "--model", IRIS_MODEL_PATH, "--batch", "2"],
      env,
      300_000,
    );
    expect(registered).to.match(/batch 2 +verifier registered \(1 public signal\(s\) per request\)/);

    const node = new HardhatProcess(
      [
        "sibyl:node",
        "--network",
        "localhost",
        "--models",
        IRIS_MODEL_PATH,
        "--poll-ms",
        "100",
        "--batch",
        "2",
      ],
      env,
    );
    processes.push(node);
    await node.waitFor("node running", 120_000);
    expect(node.output).to.contain("settles in batches of up to 2");

    // two requests from a user's script (parallel sibyl:infer runs would race on Hardhat's compile cache)
    const precompile = InferencePrecompile__factory.connect(INFERENCE_ADDRESS, await provider.getSigner(0));
    const model = loadArtifacts("iris");
    const ids: string[] = [];
    for (const features of [
      [5.1, 3.5, 1.4, 0.2],
      [6.3, 3.3, 6.0, 2.5],
    ])
      ids.push(
        (await requestInference(precompile, modelId, quantizeInput(model.quantized, features))).requestId,
      );
    await node.waitFor("[batch of 2/2 for iris] settled", 60_000);

    for (const id of ids) expect(Number(await precompile.stateOf(id))).to.equal(RequestState.Settled);
    const events = await precompile.queryFilter(precompile.filters.BatchSettled());
    expect(events).to.have.length(1);
    expect(events[0].args.count).to.equal(2n);
    await node.stop();
  });
});
