import { convertOnnx } from "../model/load.js";
import { type ModelFile, modelShapes } from "../model/schema.js";
import { sibylAction } from "./action.js";
import { type ImportArgs, importOptionsOf, required } from "./args.js";

/** `sibyl:import`: an ONNX model (MLP or CNN) to a sibyl-model/1 file, without building it. */
export default sibylAction(
  async (args: { onnx?: string; out?: string } & ImportArgs): Promise<ModelFile> => {
    const onnx = required(args.onnx, "--onnx", "model.onnx");
    const out = required(args.out, "--out", "models/mine/model.json");
    const model = convertOnnx(onnx, out, importOptionsOf(args));
    const shapes = modelShapes(model);
    const layers = model.layers.map((l, i) =>
      l.type === "argmax" ? l.type : `${l.type} [${shapes[i].join("×")}]`,
    );
    const input = model.inputShape ? `a ${model.inputShape.join("×")} input` : `${model.inputLength} inputs`;
    console.log(`wrote ${out}: model ${model.name}, ${input} → ${layers.join(" → ")}`);
    return model;
  },
  { chain: false },
);
