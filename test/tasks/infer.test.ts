import { expect } from "chai";
import hre from "hardhat";
import type { SnapshotRestorer } from "@nomicfoundation/hardhat-network-helpers/types";

import type { Deployed } from "../../src/chain/deploy.js";
import type { RegisteredModel } from "../../src/chain/models.js";
import { ChainError, FixedPointRangeError, InputShapeError, SibylError } from "../../src/errors.js";
import { quantizeModel } from "../../src/model/quantize.js";
import { loadModelFile } from "../../src/model/schema.js";
import { parseInput } from "../../src/tasks/infer.js";
import { errorOf, taskErrorOf } from "../helpers/errors.js";
import { builtModel, IRIS_MODEL_PATH } from "../helpers/models.js";

/**
 * sibyl:infer's --input: every field must be a number (an empty field is not 0), and a bad
 * input fails before anything is sent.
 */
const iris = quantizeModel(loadModelFile(IRIS_MODEL_PATH)); // 4 inputs, fixed point 2^-8
const connection = await hre.network.getOrCreate(); // the one tasks run on

function inputError(text: string, raw = false): SibylError {
  try {
    parseInput(text, iris, raw);
  } catch (e) {
    expect(e).to.be.instanceOf(SibylError);
    return e as SibylError;
  }
  expect.fail(`parseInput accepted "${text}"`);
}

describe("sibyl:infer --input (parseInput)", function () {
  it("quantizes real values, and takes fixed-point integers with --raw", function () {
    expect(parseInput("6.3,3.3,6.0,2.5", iris, false)).to.deep.equal([1613n, 845n, 1536n, 640n]);
    expect(parseInput(" -1 , .5, 2e0 ,+0.25", iris, false)).to.deep.equal([-256n, 128n, 512n, 64n]);
    expect(parseInput("1613,845,-1536,640", iris, true)).to.deep.equal([1613n, 845n, -1536n, 640n]);
  });

  it("refuses an empty field with its index (it is not 0)", function () {
    const e = inputError("6.3,,6.0,2.5");
    expect(e).to.be.instanceOf(InputShapeError);
    expect(e.message).to.contain('input[1] is empty in "6.3,,6.0,2.5"');
    expect(e.hint).to.contain("an empty field is not 0");
    expect(inputError(" ,3.3,6.0,2.5").message).to.contain("input[0] is empty");
    expect(inputError("6.3,3.3,6.0, ", true).message).to.contain("input[3] is empty");
  });

  it("refuses a trailing comma as an empty last field", function () {
    const e = inputError("6.3,3.3,6.0,2.5,");
    expect(e).to.be.instanceOf(InputShapeError);
    expect(e.message).to.contain("input[4] is empty");
  });

  it("refuses a field that is not a decimal number, with its index", function () {
    for (const [text, index, field] of [
      ["6.3,abc,6.0,2.5", 1, "abc"],
      ["6.3,3.3,6.0,0x10", 3, "0x10"],
      ["Infinity,3.3,6.0,2.5", 0, "Infinity"],
      ["6.3,3.3,1e999,2.5", 2, "1e999"],
      ["6.3,3.3,6..0,2.5", 2, "6..0"],
    ] as const) {
      const e = inputError(text);
      expect(e, text).to.be.instanceOf(InputShapeError);
      expect(e.message, text).to.contain(`input[${index}] = "${field}" is not a number`);
    }
  });

  it("with --raw, refuses a field that is not an integer, with its index", function () {
    const e = inputError("1613,845,15.5,640", true);
    expect(e).to.be.instanceOf(InputShapeError);
    expect(e.message).to.contain('input[2] = "15.5" is not an integer');
    expect(e.hint).to.contain("drop --raw");
    expect(inputError("1613,1e3,1536,640", true).message).to.contain('input[1] = "1e3" is not an integer');
  });

  it("refuses the wrong number of values", function () {
    for (const text of ["6.3,3.3,6.0", "6.3,3.3,6.0,2.5,1"]) {
      const e = inputError(text);
      expect(e, text).to.be.instanceOf(InputShapeError);
      expect(e.message, text).to.contain(`model iris takes 4 inputs, got ${text.split(",").length}`);
    }
  });

  it("refuses a value outside the input range, with its index", function () {
    const e = inputError("6.3,3.3,1e9,2.5");
    expect(e).to.be.instanceOf(FixedPointRangeError);
    expect(e.message).to.contain("input[2] = 1000000000 quantizes to");
  });
});

describe("sibyl:infer with a bad --input, on a chain where it could pay", function () {
  let fresh: SnapshotRestorer;
  let deployed: Deployed;
  let modelId: string;

  const run = (input: string) =>
    hre.tasks.getTask("sibyl:infer").run({ model: IRIS_MODEL_PATH, input, timeout: 1 });

  /** Requests the precompile has seen, and the CLI account's nonce and balance. */
  async function chainState() {
    const { ethers } = connection;
    const [me] = await ethers.getSigners();
    return {
      requests: (await deployed.precompile.queryFilter(deployed.precompile.filters.InferenceRequested(), 0))
        .length,
      nonce: await ethers.provider.getTransactionCount(me.address),
      balance: await ethers.provider.getBalance(me.address),
    };
  }

  before(async function () {
    fresh = await connection.networkHelpers.takeSnapshot();
    await builtModel(IRIS_MODEL_PATH);
    deployed = (await hre.tasks.getTask("sibyl:deploy").run({})) as Deployed;
    ({ modelId } = (await hre.tasks
      .getTask("sibyl:register")
      .run({ model: IRIS_MODEL_PATH })) as RegisteredModel);
  });

  after(async function () {
    await fresh.restore();
  });

  it("fails on an empty field before sending anything: no request, same nonce and balance", async function () {
    const before = await chainState();
    const error = await taskErrorOf(() => run("6.3,,6.0,2.5"));
    expect(error).to.be.instanceOf(InputShapeError);
    expect(error.message).to.contain('input[1] is empty in "6.3,,6.0,2.5"');
    expect(await chainState()).to.deep.equal(before);
  });

  it("while a complete input is sent and paid for (control: nothing answers it here)", async function () {
    const before = await chainState();
    const fee = await deployed.registry.feeFor(modelId, 0);
    const error = await errorOf(() => run("6.3,3.3,6.0,2.5"));
    expect(error.cause).to.be.instanceOf(ChainError);
    expect(error.message).to.contain("is still Requested after 1000 ms");
    const after = await chainState();
    expect(after.requests).to.equal(before.requests + 1);
    expect(after.nonce).to.equal(before.nonce + 1);
    expect(before.balance - after.balance > fee).to.equal(true); // the fee and the gas
  });
});
