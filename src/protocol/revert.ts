import { Interface, type ErrorDescription, isHexString } from "ethers";

import { coreArtifact, type CoreContract } from "../env.js";
import { SibylError } from "../errors.js";

/**
 * Turns revert data into Sibyl's custom errors by name, whichever contract raised them and
 * however the error reached us (in-process, or as raw `data` from a JSON-RPC node, possibly
 * bubbled up through a consumer contract whose ABI does not declare it).
 */

const ABI_SOURCES: CoreContract[] = [
  "InferencePrecompile",
  "ModelRegistry",
  "EnclaveRegistry",
  "AttestationVerifier",
  "CreditLine",
  "FraudGate",
];
let combined: Interface | undefined;

/** Every custom error of Sibyl's contracts (precompile, registries, consumer base, examples). */
export function sibylErrorsInterface(): Interface {
  if (combined) return combined;
  const seen = new Set<string>();
  const fragments: unknown[] = [];
  for (const name of ABI_SOURCES)
    for (const f of coreArtifact(name).abi as { type: string; name: string; inputs: { type: string }[] }[]) {
      if (f.type !== "error") continue;
      const sig = `${f.name}(${f.inputs.map((i) => i.type).join(",")})`;
      if (!seen.has(sig)) (fragments.push(f), seen.add(sig));
    }
  combined = new Interface(fragments as never);
  return combined;
}

/** Revert data written into a string, as some nodes do ("Reverted 0x…", "execution reverted: 0x…"). */
const HEX_IN_TEXT =
  /(?:^Reverted |return data: |execution reverted: |reverted with data:? )(0x(?:[0-9a-fA-F]{2}){4,})/;

function hexOf(v: string): string | undefined {
  if (isHexString(v, true) && v.length >= 10) return v;
  return HEX_IN_TEXT.exec(v)?.[1];
}

/** A JSON-RPC response body kept as text (`body`, `responseBody`), parsed. */
function parsedBody(v: unknown): unknown {
  if (typeof v !== "string" || !v.startsWith("{")) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    return undefined;
  }
}

/**
 * The revert data carried by an error from ethers or a provider, if any. Each client nests it
 * its own way: `data` (Hardhat's in-process and HTTP providers, ethers' CALL_EXCEPTION),
 * `info.error.data` (ethers' JsonRpcProvider), `error.data.data` or `data.originalError.data`
 * (nodes and wallets that wrap it in an object), `"Reverted 0x…"` (Nethermind), a JSON body
 * kept as text, or only the message ("… return data: 0x…" from a chain that does not know
 * the contract). The message is read only when no field holds the data.
 */
export function revertDataOf(e: unknown): string | undefined {
  return fieldData(e, 0) ?? messageData(e, 0);
}

function fieldData(e: unknown, depth: number): string | undefined {
  if (depth > 6 || e === null || typeof e !== "object") return undefined;
  const o = e as Record<string, unknown>;
  for (const key of ["data", "revertData"]) {
    const v = o[key];
    if (typeof v === "string") {
      const hex = hexOf(v);
      if (hex) return hex;
    } else if (v && typeof v === "object") {
      const inner = fieldData(v, depth + 1);
      if (inner) return inner;
    }
  }
  for (const key of ["error", "info", "cause", "parentError", "originalError"]) {
    const inner = fieldData(o[key], depth + 1);
    if (inner) return inner;
  }
  for (const key of ["body", "responseBody"]) {
    const inner = fieldData(parsedBody(o[key]), depth + 1);
    if (inner) return inner;
  }
  return undefined;
}

function messageData(e: unknown, depth: number): string | undefined {
  if (depth > 6 || e === null || typeof e !== "object") return undefined;
  const o = e as Record<string, unknown>;
  if (typeof o.message === "string") {
    const hex = HEX_IN_TEXT.exec(o.message)?.[1];
    if (hex) return hex;
  }
  for (const key of ["error", "info", "cause", "parentError", "originalError", "data"]) {
    const inner = messageData(o[key], depth + 1);
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

/** What to do about the custom errors a user runs into most. */
const HINTS: Record<string, string> = {
  Inference__FeeTooLow: "send at least the required fee: ModelRegistry.feeFor(modelId, callbackGasLimit)",
  Inference__UnknownModel:
    "is the model registered on this chain? (sibyl:register; a restarted chain has forgotten it)",
  Registry__UnknownModel:
    "is the model registered on this chain? (sibyl:register; a restarted chain has forgotten it)",
  Inference__NotNode:
    "register the account as a node first: registerNode with a bond (sibyl:node --bond does it)",
  Inference__NotInitialized: "install Sibyl on this chain first (sibyl:deploy)",
};

/** A transaction or call reverted with one of Sibyl's custom errors (decoded). */
export class RevertError extends SibylError {
  constructor(
    readonly revert: DecodedRevert,
    context: string,
    hint: string | undefined = HINTS[revert.name],
    cause?: unknown,
  ) {
    super(`${context} reverted: ${revert.text}`, hint, { cause });
  }
}

/**
 * `e` as a RevertError (its cause: `e`) when it carries revert data Sibyl can decode, else `e`
 * itself: an error Sibyl raised already, and a revert with an unknown selector, are left alone.
 */
export function explainRevert(e: unknown, context = "the transaction"): unknown {
  if (e instanceof SibylError) return e;
  const revert = decodeRevert(e);
  return revert ? new RevertError(revert, context, undefined, e) : e;
}
