import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, extname } from "node:path";

import { ModelFormatError } from "../errors.js";
import { importOnnx, type OnnxImportOptions } from "./onnx.js";
import { loadModelFile, type ModelFile } from "./schema.js";

/**
 * One entry point for every model source the tasks accept: a sibyl-model/1 JSON file, or
 * an ONNX file that is imported on the fly (src/model/onnx.ts).
 */

export function isOnnxPath(path: string): boolean {
  return extname(path).toLowerCase() === ".onnx";
}

/**
 * Loads `path` by its extension: `.onnx` is imported with `importOptions`, anything else is
 * read as sibyl-model/1 JSON. Import options on a JSON file are refused rather than ignored.
 */
export function loadModel(path: string, importOptions?: OnnxImportOptions): ModelFile {
  if (isOnnxPath(path)) return importOnnx(path, importOptions);
  if (importOptions && hasAny(importOptions))
    throw new ModelFormatError(
      `${path}: --name, --frac-bits, --value-bits, --input-bits and --weights apply to ONNX imports only`,
      "edit the model file's name and quantization instead",
    );
  return loadModelFile(path);
}

/** Writes a model file atomically (a temporary file renamed into place), creating its folder. */
export function writeModelFile(path: string, model: ModelFile): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(model, null, 1)}\n`);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Imports an ONNX file and writes the model file: nothing is written if the import fails. */
export function convertOnnx(onnxPath: string, outPath: string, importOptions?: OnnxImportOptions): ModelFile {
  const model = importOnnx(onnxPath, importOptions);
  writeModelFile(outPath, model);
  return model;
}

function hasAny(opts: OnnxImportOptions): boolean {
  return opts.name !== undefined || Object.values(opts.quantization ?? {}).some((v) => v !== undefined);
}
