import { existsSync, statSync } from "node:fs";
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import { parseEther, parseUnits } from "ethers";

import { MAX_BATCH_SIZE } from "../circuit/batch.js";
import { readManifest } from "../pipeline/artifacts.js";
import { SibylError } from "../errors.js";
import type { OnnxImportOptions } from "../model/onnx.js";
import type { WeightVisibility } from "../model/schema.js";
import { PROJECT_ROOT } from "../paths.js";
import { checkedRedisUrl } from "../queue/url.js";

/** Parsing of task options, with errors that name the option and show a valid value. */

/** A required option (Hardhat 3 options have no "required" flag). */
export function required(value: string | undefined, option: string, example: string): string {
  if (value === undefined || value.trim() === "")
    throw new SibylError(`${option} is required`, `e.g. ${option} ${example}`);
  return value;
}

/**
 * A model file option: `--model`, or one entry of sibyl:node's `--models` (`option`). Every task
 * takes the model FILE's path (sibyl-model/1 JSON, or .onnx for sibyl:build), not a model name:
 * a value that is not a file is refused with what the option takes and, when there is one, the
 * file the value probably means: the model file of a model built under that name (from its
 * manifest), models/<name>/model.json, or <folder>/model.json for a folder.
 */
export function modelFileOption(value: string | undefined, option = "--model"): string {
  const path = required(value, option, "models/iris/model.json");
  if (existsSync(path) && statSync(path).isFile()) return path;
  const takes =
    option === "--models" ? "--models takes model files' paths" : `${option} takes the model file's path`;
  const what = existsSync(path) ? `"${path}" is a folder` : `there is no file "${path}"`;
  const guess = guessModelFile(path);
  throw new SibylError(
    `${takes}: ${what}`,
    guess
      ? `did you mean ${shown(guess.path)}?${guess.why ? ` (${guess.why})` : ""}`
      : `e.g. ${option} models/iris/model.json (a sibyl-model/1 JSON file)`,
  );
}

/** The model file a --model value that is not a file probably means, if any. */
function guessModelFile(value: string): { path: string; why?: string } | undefined {
  if (existsSync(value) && existsSync(join(value, "model.json"))) return { path: join(value, "model.json") };
  const name = basename(value.trim()).replace(/\.(json|onnx)$/i, "");
  if (!/^[A-Za-z0-9_-]+$/.test(name)) return undefined;
  const built = readManifest(name)?.modelPath;
  if (built !== undefined)
    for (const p of isAbsolute(built) ? [built] : [built, join(PROJECT_ROOT, built)])
      if (existsSync(p)) return { path: p, why: `model "${name}" was built from it` };
  const conventional = join(PROJECT_ROOT, "models", name, "model.json");
  if (existsSync(conventional)) return { path: conventional };
  return undefined;
}

/** A path as the user would type it: relative to the working directory when inside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), resolve(path));
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/** An optional integer option given as text. */
export function intOption(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim())) throw new SibylError(`${option} must be an integer, got "${value}"`);
  return Number(value);
}

/** An optional TCP port: 0 (a free one) to 65535. */
export function portOption(value: string | undefined, option: string): number | undefined {
  const port = intOption(value, option);
  if (port !== undefined && (port < 0 || port > 65535))
    throw new SibylError(`${option} must be a port from 0 to 65535 (0: a free one), got ${port}`);
  return port;
}

/** An optional count of seconds (a non-negative integer) in ms. */
export function secondsOption(value: string | undefined, option: string): number | undefined {
  const seconds = intOption(value, option);
  if (seconds === undefined) return undefined;
  if (seconds < 0) throw new SibylError(`${option} must be 0 or more seconds, got ${seconds}`);
  return seconds * 1000;
}

/** An optional amount of ETH (decimal text) in wei. */
export function etherOption(value: string | undefined, option: string): bigint | undefined {
  if (value === undefined) return undefined;
  try {
    return parseEther(value.trim());
  } catch {
    throw new SibylError(`${option} must be an amount in ETH, got "${value}"`, `e.g. ${option} 0.01`);
  }
}

/** An optional amount of gwei (decimal text) in wei. */
export function gweiOption(value: string | undefined, option: string): bigint | undefined {
  if (value === undefined) return undefined;
  try {
    return parseUnits(value.trim(), "gwei");
  } catch {
    throw new SibylError(`${option} must be an amount in gwei, got "${value}"`, `e.g. ${option} 1`);
  }
}

/** A comma-separated list with no empty entries. */
export function listOption(value: string, option: string): string[] {
  const parts = value.split(",").map((x) => x.trim());
  const empty = parts.findIndex((p) => p === "");
  if (empty >= 0)
    throw new SibylError(
      `${option} has an empty entry (#${empty + 1}) in "${value}"`,
      "separate the entries with single commas",
    );
  return parts;
}

/** Batch sizes (`--batch 4,32`): integers from 1 to `MAX_BATCH_SIZE`, without duplicates, ascending. */
export function batchSizesOption(value: string | undefined, option = "--batch"): number[] {
  if (value === undefined) return [];
  const sizes = listOption(value, option).map((v) => {
    const k = intOption(v, option) as number;
    if (k < 1 || k > MAX_BATCH_SIZE)
      throw new SibylError(
        `${option} sizes run from 1 to ${MAX_BATCH_SIZE}, got ${k}`,
        `e.g. ${option} 4,32 (each size is its own circuit and verifier)`,
      );
    return k;
  });
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/**
 * `--redis` and `--prove-locally` of sibyl:node and sibyl:proxy: proving through the job queue
 * (off by default: the node proves in its own process, as the demo does).
 */
export function redisOptions(args: { redis?: string; proveLocally?: boolean }): {
  redis?: string;
  proveLocally?: boolean;
} {
  if (args.redis === undefined) {
    if (args.proveLocally)
      throw new SibylError(
        "--prove-locally applies to proving through Redis, which --redis turns on",
        "pass --redis redis://127.0.0.1:6379 too, or leave both out to prove in this process",
      );
    return {};
  }
  return { redis: checkedRedisUrl(args.redis, "--redis"), proveLocally: args.proveLocally ?? false };
}

/** The ONNX import options of sibyl:build and sibyl:import. */
export interface ImportArgs {
  name?: string;
  fracBits?: string;
  valueBits?: string;
  inputBits?: string;
  weights?: string;
}

export function importOptionsOf(args: ImportArgs): OnnxImportOptions | undefined {
  const { name, fracBits, valueBits, inputBits, weights } = args;
  if ([name, fracBits, valueBits, inputBits, weights].every((v) => v === undefined)) return undefined;
  if (weights !== undefined && weights !== "public" && weights !== "private")
    throw new SibylError(`--weights must be public or private, got "${weights}"`);
  return {
    name,
    quantization: {
      fracBits: intOption(fracBits, "--frac-bits"),
      valueBits: intOption(valueBits, "--value-bits"),
      inputBits: intOption(inputBits, "--input-bits"),
      weights: weights as WeightVisibility | undefined,
    },
  };
}
