import { Interface, type ErrorDescription, isHexString } from "ethers";

import { coreArtifact, type CoreContract } from "../env.js";
import { SibylError } from "../errors.js";

/**
 * Turns revert data into Sibyl's custom errors by name, whichever contract raised them and
 * however the error reached us (in-process, or as raw `data` from a JSON-RPC node, possibly
 * bubbled up through a consumer contract whose ABI does not declare it).
 */

const ABI_SOURCES: CoreContract[] = ["InferencePrecompile", "ModelRegistry", "CreditLine", "FraudGate"];
let combined: Interface | undefined;

/** Every custom error of Sibyl's contracts (precompile, registry, consumer base, examples). */
export function sibylErrorsInterface(): Interface {
  if (combined) return combined;
  const seen = new Set<string>();
  const fragments: unknown[] = [];
  for (const name of ABI_SOURCES)
    for (const f of coreArtifact(name).abi as { type: string; name: string; inputs: { type: string }[] }[]) {
      if (f.type !== "error") continue;
      const sig = `${f.name}(${f.inputs.map((i) => i.type).join(",")})`;
      if (!seen.has(sig)) fragments.push(f), seen.add(sig);
    }
  combined = new Interface(fragments as never);
  return combined;
}

/** The revert data carried by an error from ethers or a provider, if any. */
export function revertDataOf(e: unknown, depth = 0): string | undefined {
  if (depth > 6 || e === null || typeof e !== "object") return undefined;
  const o = e as Record<string, unknown>;
  for (const key of ["data", "revertData"]) {
    const v = o[key];
    if (typeof v === "string" && isHexString(v) && v.length >= 10) return v;
    if (v && typeof v === "object") {
      const inner = revertDataOf(v, depth + 1);
      if (inner) return inner;
    }
  }
  for (const key of ["error", "info", "cause", "parentError"]) {
    const inner = revertDataOf(o[key], depth + 1);
    if (inner) return inner;
  }
  return undefined;
}

/** The name of the custom error of `iface` that `error` carries, or undefined. */
export function revertErrorName(iface: Interface, error: unknown): string | undefined {
  const data = revertDataOf(error);
  if (!data) return undefined;
  try {
    return iface.parseError(data)?.name;
  } catch {
    return undefined; // not one of this interface's errors
  }
}

export interface DecodedRevert {
  name: string;
  args: unknown[];
  /** "Inference__WrongState(0x12…, 2)" */
  text: string;
}

function formatArg(v: unknown): string {
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return `[${v.map(formatArg).join(", ")}]`;
  return String(v);
}

/** The Sibyl custom error (or Error(string)/Panic) behind `e`, decoded; undefined if there is none. */
export function decodeRevert(e: unknown): DecodedRevert | undefined {
  const data = revertDataOf(e);
  if (!data) return undefined;
  let parsed: ErrorDescription | null = null;
  try {
    parsed = sibylErrorsInterface().parseError(data);
  } catch {
    parsed = null;
  }
  if (!parsed) {
    const builtin = new Interface(["error Error(string)", "error Panic(uint256)"]);
    try {
      parsed = builtin.parseError(data);
    } catch {
      return undefined;
    }
    if (!parsed) return undefined;
  }
  const args = [...parsed.args];
  return { name: parsed.name, args, text: `${parsed.name}(${args.map(formatArg).join(", ")})` };
}

/** A transaction or call reverted with one of Sibyl's custom errors (decoded). */
export class RevertError extends SibylError {
  constructor(
    readonly revert: DecodedRevert,
    context: string,
    hint?: string,
    cause?: unknown,
  ) {
    super(`${context} reverted: ${revert.text}`, hint, { cause });
  }
}

/** `e` as a RevertError when it carries decodable revert data, else `e` itself. */
export function explainRevert(e: unknown, context = "the transaction"): unknown {
  if (e instanceof SibylError) return e;
  const revert = decodeRevert(e);
  return revert ? new RevertError(revert, context, undefined, e) : e;
}
