import { expect } from "chai";
import hre from "hardhat";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

import { manifestPath, modelBuildDir } from "../../src/pipeline/artifacts.js";
import { SibylError } from "../../src/errors.js";
import { PROJECT_ROOT } from "../../src/paths.js";
import { modelFileOption } from "../../src/tasks/args.js";
import { taskErrorOf } from "../helpers/errors.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";

/**
 * --model takes the model FILE's path in every task (sibyl:infer and sibyl:node took a model
 * name once): a value that is not a file says so and suggests the file it probably means.
 */
const NAME = "unitmodeloption"; // a "built" model: only its manifest, which is all the hint reads

function optionError(value: string | undefined, option?: string): SibylError {
  try {
    modelFileOption(value, option);
  } catch (e) {
    expect(e).to.be.instanceOf(SibylError);
    return e as SibylError;
  }
  expect.fail(`modelFileOption accepted ${value}`);
}

describe("modelFileOption (--model of every task)", function () {
  let dir: string;
  let builtFrom: string;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), "sibyl-model-option-"));
    builtFrom = join(dir, "mine.json");
    writeFileSync(builtFrom, "{}");
    mkdirSync(modelBuildDir(NAME), { recursive: true });
    writeFileSync(manifestPath(NAME), JSON.stringify({ name: NAME, modelPath: builtFrom }));
  });

  after(function () {
    rmSync(modelBuildDir(NAME), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it("returns a model file's path as given", function () {
    expect(modelFileOption(IRIS_MODEL_PATH)).to.equal(IRIS_MODEL_PATH);
    expect(modelFileOption(builtFrom, "--models")).to.equal(builtFrom);
  });

  it("is required", function () {
    expect(optionError(undefined).message).to.contain("--model is required");
    expect(optionError("  ").message).to.contain("--model is required");
  });

  it("given a built model's name, suggests the model file its manifest records", function () {
    const e = optionError(NAME);
    expect(e.message).to.contain(`--model takes the model file's path: there is no file "${NAME}"`);
    expect(e.hint).to.equal(`did you mean ${builtFrom}? (model "${NAME}" was built from it)`);
    // a name with an extension, or a path that ends in the name, means the same model
    expect(optionError(`${NAME}.json`).hint).to.contain(`did you mean ${builtFrom}?`);
    expect(optionError(`models/${NAME}`).hint).to.contain(`did you mean ${builtFrom}?`);
  });

  it("shows the suggestion relative to the working directory when it is inside it", function () {
    writeFileSync(manifestPath(NAME), JSON.stringify({ name: NAME, modelPath: IRIS_MODEL_PATH }));
    try {
      expect(optionError(NAME).hint).to.equal(
        `did you mean ${relative(process.cwd(), IRIS_MODEL_PATH)}? (model "${NAME}" was built from it)`,
      );
    } finally {
      writeFileSync(manifestPath(NAME), JSON.stringify({ name: NAME, modelPath: builtFrom }));
    }
  });

  it("given a folder, says it is a folder and suggests its model.json", function () {
    const folder = join(PROJECT_ROOT, "models", "iris");
    const e = optionError(folder);
    expect(e.message).to.contain(`--model takes the model file's path: "${folder}" is a folder`);
    expect(e.hint).to.equal(`did you mean ${relative(process.cwd(), IRIS_MODEL_PATH)}?`);
  });

  it("given an unknown name, says what it takes with an example and guesses nothing", function () {
    const e = optionError("nosuchmodel");
    expect(e.message).to.contain(`--model takes the model file's path: there is no file "nosuchmodel"`);
    expect(e.hint).to.not.contain("did you mean");
    expect(e.hint).to.contain("e.g. --model models/iris/model.json");
  });

  it("names --models for sibyl:node's entries", function () {
    const e = optionError(NAME, "--models");
    expect(e.message).to.contain(`--models takes model files' paths: there is no file "${NAME}"`);
    expect(e.hint).to.contain(`did you mean ${builtFrom}?`);
  });

  describe("in every task with a model option", function () {
    const irisHint = `did you mean ${relative(process.cwd(), IRIS_MODEL_PATH)}?`;
    for (const task of [
      "sibyl:build",
      "sibyl:register",
      "sibyl:verify-model",
      "sibyl:infer",
      "sibyl:accuracy",
      "sibyl:ceremony-start",
      "sibyl:ceremony-verify",
      "sibyl:ceremony-finalize",
    ])
      it(`${task} --model iris says it takes the file's path and suggests it`, async function () {
        const error = await taskErrorOf(() => hre.tasks.getTask(task).run({ model: "iris" }));
        expect(error.message).to.contain(`--model takes the model file's path: there is no file "iris"`);
        expect(error.hint).to.contain(irisHint);
      });

    it("sibyl:node --models with a name among files points at that entry", async function () {
      const error = await taskErrorOf(() =>
        hre.tasks.getTask("sibyl:node").run({ models: `${IRIS_MODEL_PATH},iris` }),
      );
      expect(error.message).to.contain(`--models takes model files' paths: there is no file "iris"`);
      expect(error.hint).to.contain(irisHint);
    });
  });
});
