import { convertOnnx } from "../model/load.js";
import type { ModelFile } from "../model/schema.js";
import { sibylAction } from "./action.js";
import { type ImportArgs, importOptionsOf, required } from "./args.js";

/** `sibyl:import`: an ONNX MLP to a sibyl-model/1 file, without building it. */
export default sibylAction(
  async (args: { onnx?: string; out?: string } & ImportArgs): Promise<ModelFile> => {
    const onnx = required(args.onnx, "--onnx", "model.onnx");
    const out = required(args.out, "--out", "models/mine/model.json");
    const model = convertOnnx(onnx, out, importOptionsOf(args));
    const layers = model.layers.map((l) => (l.type === "dense" ? `dense ${l.weights.length}` : l.type));
    console.log(`wrote ${out}: model ${model.name}, ${model.inputLength} inputs → ${layers.join(" → ")}`);
    return model;
  },
  { chain: false },
);
