import { parseEther, parseUnits } from "ethers";

import { SibylError } from "../errors.js";
import type { OnnxImportOptions } from "../model/onnx.js";
import type { WeightVisibility } from "../model/schema.js";

/** Parsing of task options, with errors that name the option and show a valid value. */

/** A required option (Hardhat 3 options have no "required" flag). */
export function required(value: string | undefined, option: string, example: string): string {
  if (value === undefined || value.trim() === "")
    throw new SibylError(`${option} is required`, `e.g. ${option} ${example}`);
  return value;
}

/** An optional integer option given as text. */
export function intOption(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim())) throw new SibylError(`${option} must be an integer, got "${value}"`);
  return Number(value);
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
    throw new SibylError(`${option} has an empty entry (#${empty + 1}) in "${value}"`, "separate the entries with single commas");
  return parts;
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
