import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { ModelFormatError } from "../../src/errors.js";
import { DEFAULT_QUANTIZATION, loadModelFile, outputLength, parseModel } from "../../src/model/schema.js";
import { IRIS_MODEL_PATH } from "../helpers/models.js";

/** A small valid model: 2 → 3 → relu → 2 → argmax, with labels. A fresh copy each call. */
function validModel(): Record<string, any> {
  return {
    format: "sibyl-model/1",
    name: "unit_schema",
    description: "schema fixture",
    inputLength: 2,
    inputNames: ["a", "b"],
    classes: ["no", "yes"],
    quantization: { fracBits: 6, valueBits: 20 },
    layers: [
      {
        type: "dense",
        weights: [
          [0.5, -1],
          [0.25, 2],
          [-0.75, 0],
        ],
        bias: [0, 0.1, -0.2],
      },
      { type: "relu" },
      {
        type: "dense",
        weights: [
          [1, 2, 3],
          [-1, -2, -3],
        ],
        bias: [0.5, -0.5],
      },
      { type: "argmax" },
    ],
    metrics: { floatTestAccuracy: 0.9, note: "fixture" },
  };
}

/** Asserts that parsing `json` fails with a ModelFormatError naming `path` and containing every fragment. */
function expectFormatError(json: unknown, path: string, ...fragments: string[]): ModelFormatError {
  let caught: unknown;
  try {
    parseModel(json, "fixture.json");
  } catch (e) {
    caught = e;
  }
  expect(caught, `parsing should fail at ${path}`).to.be.instanceOf(ModelFormatError);
  const err = caught as ModelFormatError;
  expect(err.message).to.contain(`fixture.json: ${path}: `);
  for (const f of fragments) expect(err.message).to.contain(f);
  expect(err.hint).to.equal("see docs/model-format.md for the sibyl-model/1 format");
  return err;
}

describe("model/schema: parseModel", function () {
  it("parses a valid model and keeps every field", function () {
    const m = parseModel(validModel());
    expect(m.format).to.equal("sibyl-model/1");
    expect(m.name).to.equal("unit_schema");
    expect(m.description).to.equal("schema fixture");
    expect(m.inputLength).to.equal(2);
    expect(m.inputNames).to.deep.equal(["a", "b"]);
    expect(m.classes).to.deep.equal(["no", "yes"]);
    expect(m.quantization).to.deep.equal({ fracBits: 6, valueBits: 20 });
    expect(m.layers.map((l) => l.type)).to.deep.equal(["dense", "relu", "dense", "argmax"]);
    expect(m.layers[2]).to.deep.equal(validModel().layers[2]);
    expect(m.metrics).to.deep.equal({ floatTestAccuracy: 0.9, note: "fixture" });
  });

  it("uses the default quantization when none is given", function () {
    const json = validModel();
    delete json.quantization;
    expect(parseModel(json).quantization).to.deep.equal(DEFAULT_QUANTIZATION);
    expect(DEFAULT_QUANTIZATION).to.deep.equal({ fracBits: 8, valueBits: 24 });
  });

  it("accepts a model without the optional labels, description and metrics", function () {
    const json = validModel();
    for (const k of ["inputNames", "classes", "description", "metrics"]) delete json[k];
    const m = parseModel(json);
    expect(m.inputNames).to.equal(undefined);
    expect(m.classes).to.equal(undefined);
    expect(m.description).to.equal(undefined);
    expect(m.metrics).to.equal(undefined);
  });

  it("refuses a value that is not an object at $", function () {
    expectFormatError([validModel()], "$", "expected a JSON object");
    expectFormatError(null, "$", "expected a JSON object");
  });

  it("refuses another format at $.format", function () {
    const json = validModel();
    json.format = "sibyl-model/2";
    expectFormatError(json, "$.format", 'expected "sibyl-model/1", got "sibyl-model/2"');
    delete json.format;
    expectFormatError(json, "$.format", "got undefined");
  });

  it("refuses a name that is not a lower-case identifier at $.name", function () {
    for (const name of ["Iris", "1iris", "iris model", "iris-2", "", 7]) {
      const json = validModel();
      json.name = name;
      expectFormatError(json, "$.name", "expected a lower-case identifier", `got ${JSON.stringify(name)}`);
    }
  });

  it("refuses an inputLength that is not a positive integer at $.inputLength", function () {
    for (const n of [0, -1, 2.5, "2"]) {
      const json = validModel();
      json.inputLength = n;
      expectFormatError(json, "$.inputLength", "expected a positive integer", `got ${JSON.stringify(n)}`);
    }
  });

  it("refuses fracBits outside 1..32 at $.quantization.fracBits", function () {
    for (const fracBits of [0, 33, 1.5]) {
      const json = validModel();
      json.quantization = { fracBits, valueBits: 40 };
      expectFormatError(json, "$.quantization.fracBits", "expected an integer in 1..32", `got ${fracBits}`);
    }
  });

  it("refuses valueBits outside fracBits+1..64 at $.quantization.valueBits", function () {
    for (const valueBits of [6, 5, 65]) {
      const json = validModel();
      json.quantization = { fracBits: 6, valueBits };
      expectFormatError(json, "$.quantization.valueBits", "expected an integer in fracBits+1..64");
    }
    const ok = validModel();
    ok.quantization = { fracBits: 6, valueBits: 7 };
    expect(parseModel(ok).quantization.valueBits).to.equal(7);
  });

  it("refuses an empty layer list at $.layers", function () {
    const json = validModel();
    json.layers = [];
    expectFormatError(json, "$.layers", "expected a non-empty array");
  });

  it("refuses a weight row of the wrong width at $.layers[1].weights[0]", function () {
    const json = validModel();
    // layer 1 is a second dense layer whose input width is 3
    json.layers = [json.layers[0], { type: "dense", weights: [[0.1, 0.2]], bias: [0] }];
    expectFormatError(
      json,
      "$.layers[1].weights[0]",
      "expected 3 numbers (the layer's input width), got [0.1,0.2]",
    );
  });

  it("refuses a bias of the wrong length at $.layers[i].bias", function () {
    const json = validModel();
    json.layers[2].bias = [0.5];
    expectFormatError(json, "$.layers[2].bias", "expected 2 numbers (one per output), got [0.5]");
  });

  it("refuses a non-finite or non-numeric weight or bias, naming its element", function () {
    const inf = validModel();
    inf.layers[0].weights[1][0] = Infinity;
    expectFormatError(inf, "$.layers[0].weights[1][0]", "not a finite number");
    const str = validModel();
    str.layers[2].weights[0][2] = "3";
    expectFormatError(str, "$.layers[2].weights[0][2]", "not a finite number");
    const nan = validModel();
    nan.layers[0].bias[2] = NaN;
    expectFormatError(nan, "$.layers[0].bias[2]", "not a finite number");
  });

  it("refuses an unknown layer type and lists the supported ones", function () {
    const json = validModel();
    json.layers[1] = { type: "softmax" };
    expectFormatError(
      json,
      "$.layers[1].type",
      'unknown layer type "softmax"',
      "supported: dense, conv2d, relu, sigmoid, tanh, maxpool, avgpool, globalavgpool, add, argmax",
    );
  });

  it("refuses a layer after argmax", function () {
    const json = validModel();
    json.layers.push({ type: "relu" });
    expectFormatError(json, "$.layers[4]", "argmax must be the last layer");
  });

  it("refuses argmax over fewer than two values", function () {
    const json = validModel();
    delete json.classes;
    json.layers = [{ type: "dense", weights: [[1, 1]], bias: [0] }, { type: "argmax" }];
    expectFormatError(json, "$.layers[1]", "argmax needs at least two inputs");
  });

  it("refuses a model without a dense or conv2d layer", function () {
    const json = validModel();
    delete json.classes;
    json.layers = [{ type: "relu" }, { type: "argmax" }];
    expectFormatError(json, "$.layers", "a model needs at least one dense or conv2d layer");
  });

  it("refuses class labels on a model that does not end in argmax", function () {
    const json = validModel();
    json.layers.pop();
    expectFormatError(json, "$.classes", "class labels need a model that ends in argmax");
  });

  it("refuses a class count that differs from the last dense layer's width", function () {
    const json = validModel();
    json.classes = ["a", "b", "c"];
    expectFormatError(json, "$.classes", "expected 2 labels");
    json.classes = ["a", 2];
    expectFormatError(json, "$.classes", "expected an array of strings");
  });

  it("refuses inputNames of the wrong length or type", function () {
    const json = validModel();
    json.inputNames = ["a", "b", "c"];
    expectFormatError(json, "$.inputNames", "expected 2 strings");
    json.inputNames = ["a", 1];
    expectFormatError(json, "$.inputNames", "expected 2 strings");
  });

  it("names the source in the message when given one", function () {
    const json = validModel();
    json.format = "x";
    expect(() => parseModel(json, "models/bad.json")).to.throw(
      ModelFormatError,
      /^models\/bad\.json: \$\.format: /,
    );
  });
});

describe("model/schema: loadModelFile", function () {
  let dir: string;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), "sibyl-schema-"));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it("loads a valid file", function () {
    const path = join(dir, "ok.json");
    writeFileSync(path, JSON.stringify(validModel()));
    expect(loadModelFile(path)).to.deep.equal(parseModel(validModel(), path));
  });

  it("loads the example Iris model", function () {
    const m = loadModelFile(IRIS_MODEL_PATH);
    expect(m.name).to.equal("iris");
    expect(m.inputLength).to.equal(4);
    expect(m.classes).to.deep.equal(["setosa", "versicolor", "virginica"]);
    expect(outputLength(m)).to.equal(1);
  });

  it("says when the file cannot be read", function () {
    const path = join(dir, "missing.json");
    expect(() => loadModelFile(path)).to.throw(ModelFormatError, `cannot read model file ${path}`);
  });

  it("says when the file is not valid JSON", function () {
    const path = join(dir, "broken.json");
    writeFileSync(path, '{ "format": "sibyl-model/1", ');
    expect(() => loadModelFile(path)).to.throw(ModelFormatError, `model file ${path} is not valid JSON`);
  });

  it("prefixes validation errors with the file path", function () {
    const path = join(dir, "bad.json");
    const json = validModel();
    json.layers[0].weights[0] = [0.1];
    writeFileSync(path, JSON.stringify(json));
    expect(() => loadModelFile(path)).to.throw(
      ModelFormatError,
      `${path}: $.layers[0].weights[0]: expected 2 numbers (the layer's input width), got [0.1]`,
    );
  });
});

describe("model/schema: outputLength", function () {
  it("is 1 after argmax", function () {
    expect(outputLength(parseModel(validModel()))).to.equal(1);
  });

  it("is the last dense layer's width when relu follows it", function () {
    const json = validModel();
    json.layers = [json.layers[0], { type: "relu" }];
    delete json.classes;
    expect(outputLength(parseModel(json))).to.equal(3);
  });

  it("is the last dense layer's width without argmax", function () {
    const json = validModel();
    json.layers.pop();
    delete json.classes;
    expect(outputLength(parseModel(json))).to.equal(2);
  });

  it("is the input width when no layer changes it", function () {
    expect(outputLength({ inputLength: 5, layers: [{ type: "relu" }] })).to.equal(5);
  });
});
