import type { SibylEnv } from "../env.js";
import {
  formatEther,
  formatUnits,
  getAddress,
  getBytes,
  hexlify,
  type Interface,
  isHexString,
  keccak256,
} from "ethers";

import type { ModelArtifacts } from "../pipeline/artifacts.js";
import { ChainError, SibylError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { exportVerificationKey, verificationKeyHash } from "../zk/setup.js";
import type { IModelRegistry, ModelRegistry } from "../../typechain-types/index.js";
import { type ModelTerms, modelConfig, modelIdFor, verifierRuntimeCode } from "./models.js";
import { revertErrorName } from "../protocol/revert.js";

/**
 * Checking a registration against a local build. A model id commits to its owner, the
 * verifier's code and the config (see `modelIdFor`), so anyone holding the model file can
 * rebuild it and check, field by field, that an id they are about to rely on settles with
 * the verifier, zkey, commitments, shapes and terms they expect, and say exactly what differs.
 */

/** One compared field: what the chain holds and what the local build (or the caller) expects. */
export interface ModelCheck {
  what: string;
  ok: boolean;
  chain: string;
  local: string;
  /** why it differs, when more can be said than the two values */
  note?: string;
}

export interface ModelVerification {
  /** true when every check passed */
  ok: boolean;
  modelId: string;
  /** the registered owner */
  owner: string;
  checks: ModelCheck[];
  /** a human-readable report, one line per check, then the verdict */
  lines: string[];
}

export interface VerifyModelOptions {
  /** terms the registration must have; only the ones given are checked */
  terms?: Partial<ModelTerms>;
  /** an owner the registration must have */
  owner?: string;
  /** also verify the local zkey's phase-2 transcript against the r1cs and ptau (slow) */
  transcript?: boolean;
  log?: Logger;
}

/**
 * Reads the registration of `modelId` and compares it with the local build: the verifier's
 * code (the chain's code at the registry's copy, and the recorded code hash), zkeyHash,
 * modelHash, weightCommitment, the shapes, the terms the caller passes, whether it is active,
 * and finally the id recomputed from the registered owner, the local verifier code and the
 * local config under the registered terms. Throws a ChainError only when there is no such id.
 */
export async function verifyModel(
  env: SibylEnv,
  registry: ModelRegistry,
  artifacts: ModelArtifacts,
  modelId: string,
  opts: VerifyModelOptions = {},
): Promise<ModelVerification> {
  const model = await registeredModel(env, registry, modelId);
  const { config } = model;
  const localCode = await verifierRuntimeCode(env, artifacts);
  const localHash = keccak256(localCode);
  const chainCode = await env.ethers.provider.getCode(model.verifier);
  const checks: ModelCheck[] = [];
  const check = (what: string, chain: string, local: string, note?: string): void => {
    const ok = chain === local;
    checks.push({ what, ok, chain, local, ...(ok || !note ? {} : { note }) });
  };

  check(
    "verifier code",
    chainCode === "0x" ? "no code" : keccak256(chainCode),
    localHash,
    chainCode === "0x"
      ? `no code at ${model.verifier}`
      : codeDifference(chainCode, localCode, artifacts.verifierContract),
  );
  check(
    "verifierCodeHash",
    model.verifierCodeHash,
    localHash,
    "the registration recorded another verifier code",
  );
  check("zkeyHash", config.zkeyHash, artifacts.zkeyHash, "the verifier was registered for another zkey");
  check("modelHash", config.modelHash, artifacts.modelHash, "another model (architecture or weights)");
  check(
    "weightCommitment",
    config.weightCommitment.toString(),
    BigInt(artifacts.weightCommitment ?? 0).toString(),
    "another commitment to the private weights (other weights or salt)",
  );
  for (const key of ["inputLength", "outputLength", "fracBits", "valueBits", "inputBits"] as const)
    check(key, config[key].toString(), artifacts[key].toString());

  const registered = termsOfRegistration(model);
  const wanted = opts.terms ?? {};
  for (const key of TERM_KEYS) {
    const value = wanted[key];
    if (value !== undefined) check(key, formatTerm(key, registered[key]), formatTerm(key, value));
  }
  checks.push({
    what: "active",
    ok: model.active,
    chain: String(model.active),
    local: "true",
    ...(model.active ? {} : { note: "its owner deactivated it: requests for it revert" }),
  });
  if (opts.owner !== undefined) check("owner", model.owner, getAddress(opts.owner));
  check(
    "model id",
    modelId,
    modelIdFor(model.owner, localHash, modelConfig(artifacts, registered)),
    "the id is not what the registered owner gets for the local build under the registered terms",
  );

  if (opts.transcript)
    checks.push(await transcriptCheck(artifacts, config.zkeyHash, opts.log ?? silentLogger));

  const ok = checks.every((c) => c.ok);
  return {
    ok,
    modelId,
    owner: model.owner,
    checks,
    lines: reportLines(env, artifacts, modelId, model, checks, ok),
  };
}

/** The registration behind `modelId`, or a ChainError saying there is none and what to do. */
async function registeredModel(
  env: SibylEnv,
  registry: ModelRegistry,
  modelId: string,
): Promise<IModelRegistry.ModelStructOutput> {
  if (!isHexString(modelId, 32))
    throw new ChainError(
      `a model id is 0x followed by 64 hex digits, got ${modelId}`,
      "take it from sibyl:register's output or the ModelRegistered event",
    );
  try {
    return await registry.getModel(modelId);
  } catch (e) {
    if (revertErrorName(registry.interface, e) === "Registry__UnknownModel")
      throw new ChainError(
        `no model ${modelId} in the registry ${String(registry.target)} on network "${env.networkName}"`,
        "check the id and the --network; to register your own build: npx hardhat sibyl:register --model <file>",
      );
    throw e;
  }
}

/** The settlement terms a registration holds. */
function termsOfRegistration(model: IModelRegistry.ModelStructOutput): ModelTerms {
  const { config } = model;
  return {
    fee: config.fee,
    callbackGasPrice: config.callbackGasPrice,
    stake: config.stake,
    settlementWindow: config.settlementWindow,
    unbonded: config.unbonded,
  };
}

const TERM_KEYS = ["fee", "callbackGasPrice", "stake", "settlementWindow", "unbonded"] as const;

function formatTerm(key: keyof ModelTerms, value: bigint | boolean): string {
  if (typeof value === "boolean") return String(value);
  if (key === "fee" || key === "stake") return `${formatEther(value)} ETH`;
  if (key === "callbackGasPrice") return `${formatUnits(value, "gwei")} gwei`;
  return `${value} s`;
}

/**
 * The length of the CBOR metadata solc appends to runtime code (its last two bytes), or 0
 * when the code does not end in what looks like such a trailer.
 */
export function metadataLength(code: Uint8Array): number {
  if (code.length < 2) return 0;
  const length = (code[code.length - 2] << 8) | code[code.length - 1];
  const start = code.length - 2 - length;
  // the trailer is a CBOR map (major type 5: 0xa0 | entries)
  if (length === 0 || start < 0 || (code[start] & 0xe0) !== 0xa0) return 0;
  return length + 2;
}

/** `code` without solc's trailing metadata. */
export function stripMetadata(code: string): string {
  const bytes = getBytes(code);
  return hexlify(bytes.subarray(0, bytes.length - metadataLength(bytes)));
}

/** Why two runtime codes differ: only in solc's metadata (same compiled code), or in the code itself. */
function codeDifference(chainCode: string, localCode: string, contract: string): string {
  if (stripMetadata(chainCode) === stripMetadata(localCode))
    return (
      "the codes differ only in the trailing solc metadata: the same compiled code, from another " +
      `source text or compiler settings of ${contract}.sol; but the id commits to the whole code, metadata included`
    );
  return `the registry's verifier runs other code than the local ${contract} (another verification key or contract)`;
}

/** Verifies the local zkey's phase-2 transcript and that the verified file is the registered one. */
async function transcriptCheck(
  artifacts: ModelArtifacts,
  registeredZkeyHash: string,
  log: Logger,
): Promise<ModelCheck> {
  const what = "zkey transcript";
  const { verifyCeremony } = await import("../zk/ceremony.js");
  try {
    const verified = await verifyCeremony({
      r1csPath: artifacts.r1csPath,
      ptauPath: artifacts.ptau.path,
      zkeyPath: artifacts.zkeyPath,
      log,
    });
    const contributions = verified.contributions.length;
    const local = `${verified.zkeyHash} verifies against the r1cs and ptau (${contributions} contribution${contributions === 1 ? "" : "s"})`;
    if (contributions === 0)
      return {
        what,
        ok: false,
        chain: registeredZkeyHash,
        local,
        note: "a zkey with no contribution: anyone can forge",
      };
    // the local verifier (whose code was checked above) was exported for this verification key
    const vkHash = verificationKeyHash(await exportVerificationKey(artifacts.zkeyPath));
    if (vkHash !== artifacts.vkHash)
      return {
        what,
        ok: false,
        chain: registeredZkeyHash,
        local,
        note: `the local verifier was exported for vkHash ${artifacts.vkHash}, this zkey's is ${vkHash}: rebuild`,
      };
    if (verified.zkeyHash !== registeredZkeyHash)
      return {
        what,
        ok: false,
        chain: registeredZkeyHash,
        local,
        note: "the zkey that verifies is not the registered one",
      };
    return { what, ok: true, chain: registeredZkeyHash, local };
  } catch (e) {
    if (!(e instanceof SibylError)) throw e;
    return { what, ok: false, chain: registeredZkeyHash, local: "does not verify", note: e.message };
  }
}

function reportLines(
  env: SibylEnv,
  artifacts: ModelArtifacts,
  modelId: string,
  model: IModelRegistry.ModelStructOutput,
  checks: ModelCheck[],
  ok: boolean,
): string[] {
  const width = Math.max(...checks.map((c) => c.what.length));
  const lines = [
    `model ${artifacts.name} (${artifacts.modelPath}) against ${modelId} on network "${env.networkName}"`,
    `  owner ${model.owner}, verifier ${model.verifier}`,
    `  terms ${TERM_KEYS.map((k) => `${k} ${formatTerm(k, termsOfRegistration(model)[k])}`).join(", ")}` +
      " (what the id commits to; pass the terms you expect to check them)",
  ];
  for (const c of checks) {
    const name = c.what.padEnd(width);
    if (c.ok) lines.push(`  ok       ${name}  ${c.chain}`);
    else {
      lines.push(`  DIFFERS  ${name}  chain ${c.chain}`);
      lines.push(`           ${" ".repeat(width)}  local ${c.local}`);
      if (c.note) lines.push(`           ${" ".repeat(width)}  ${c.note}`);
    }
  }
  const differing = checks.filter((c) => !c.ok).map((c) => c.what);
  lines.push(ok ? `matches: ${modelId}` : `differs in: ${differing.join(", ")}`);
  return lines;
}

/** A registration that does not match the local build; `report` says field by field how. */
export class ModelMismatchError extends ChainError {
  constructor(
    readonly report: ModelVerification,
    artifacts: Pick<ModelArtifacts, "name" | "modelPath">,
    network?: string,
  ) {
    const differing = report.checks.filter((c) => !c.ok);
    const on = network ? ` --network ${network}` : "";
    super(
      `model id ${report.modelId} does not match the local build of ${artifacts.name}: it differs in ` +
        `${differing.map((c) => c.what).join(", ")}\n    ` +
        differing
          .map((c) => `${c.what}: chain ${c.chain}, local ${c.local}${c.note ? ` (${c.note})` : ""}`)
          .join("\n    "),
      `inspect it with npx hardhat sibyl:verify-model --model ${artifacts.modelPath} --id ${report.modelId}${on}; ` +
        `do not rely on that id: register your own build with npx hardhat sibyl:register --model ${artifacts.modelPath}${on}`,
    );
  }
}

export interface VerifyModelCommandArgs extends VerifyModelOptions {
  /** the model file (built, or built now, with `buildModels`) */
  model: string;
  /** the registered id to check */
  id: string;
}

/**
 * `sibyl:verify-model`: builds the model (or reuses its build), connects to the network's
 * installation, verifies the id and hands every report line to `print`. Throws a
 * ModelMismatchError when anything differs.
 */
export async function verifyModelCommand(
  env: SibylEnv,
  args: VerifyModelCommandArgs,
  print: (line: string) => void,
): Promise<ModelVerification> {
  const { buildModels } = await import("./stack.js");
  const { connectSibyl } = await import("./connect.js");
  const [artifacts] = await buildModels(env, [args.model], args.log ?? silentLogger);
  const { registry } = await connectSibyl(env);
  const report = await verifyModel(env, registry, artifacts, args.id, args);
  for (const line of report.lines) print(line);
  if (!report.ok) throw new ModelMismatchError(report, artifacts);
  return report;
}
