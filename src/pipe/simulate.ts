import {
  AbiCoder,
  concat,
  dataSlice,
  getAddress,
  id,
  keccak256,
  toBeHex,
  toTwos,
  zeroPadValue,
} from "ethers";

import { coreArtifact } from "../env.js";
import { SibylError } from "../errors.js";
import { Finality } from "../protocol/state.js";
import type { RpcCall } from "./rpcServer.js";

/**
 * Simulation, the first half of pre-execution: run a transaction as `eth_call` with state
 * overrides that (1) place a `Simulator` and name it in the precompile's simulation slot, so
 * the transaction's synchronous calls go to it, which records them and answers with zeros
 * (OpenGradient's `is_simulation_result`), (2) put the layer's previews of earlier rounds'
 * outputs in the simulator's storage, and (3) wrap the transaction's target in
 * `SimulationProbe`, which runs the target's own code by `delegatecall` and returns what the
 * simulator recorded. Needs only `eth_call` with state overrides (`code` and `stateDiff`),
 * which Hardhat, geth, anvil and the usual providers serve.
 */

/** The precompile's simulation slot (bit 0: simulate; bit 1: OpenGradient legacy layout). */
export const SIM_SLOT = id("sibyl.pipe.simulation");
const PREVIEW_SLOT = id("sibyl.pipe.preview");
const SIMULATING = 1n;
const SIM_LEGACY = 2n;
/** Where the target's own code runs from during a simulation (an address nothing uses). */
export const SHADOW_ADDRESS = getAddress(dataSlice(id("sibyl.pipe.shadow"), 12));
/** Where the simulator is placed during a simulation. */
export const SIMULATOR_ADDRESS = getAddress(dataSlice(id("sibyl.pipe.simulator"), 12));

const abi = AbiCoder.defaultAbiCoder();
const LOG_ENTRY = ["bytes32", "address", "bytes32", "uint8", "bool", "bool", "int256[]"];

/** A transaction as the layer sees it. */
export interface TxFields {
  from: string;
  to?: string | null;
  data?: string;
  value?: bigint;
}

/** A synchronous call the simulation saw, in execution order. */
export interface SimulatedCall {
  callKey: string;
  /** how many earlier calls of this simulation had the same key */
  occurrence: number;
  consumer: string;
  modelId: string;
  finality: Finality;
  legacyLayout: boolean;
  /** answered with a preview (a real output) rather than a simulated one */
  previewed: boolean;
  input: bigint[];
}

export interface SimulationResult {
  /** whether the transaction's top call returned normally */
  ok: boolean;
  /** what it returned, or its revert data */
  returnData: string;
  calls: SimulatedCall[];
}

/** Previews of outputs, by `previewKey(callKey, occurrence)`. */
export type Previews = Map<string, bigint[]>;

export function previewKey(callKey: string, occurrence: number): string {
  return `${callKey.toLowerCase()}#${occurrence}`;
}

/** `keccak256(abi.encode(origin, consumer, modelId, finality, keccak256(abi.encodePacked(input))))`. */
export function callKeyOf(
  origin: string,
  consumer: string,
  modelId: string,
  input: readonly bigint[],
  finality: Finality,
): string {
  const packed = keccak256(concat(input.map((v) => toBeHex(toTwos(v, 256), 32))));
  return keccak256(
    abi.encode(
      ["address", "address", "bytes32", "uint8", "bytes32"],
      [origin, consumer, modelId, finality, packed],
    ),
  );
}

let probe: string | undefined;

/** The probe's runtime code with its two immutables (shadow, simulator) written in (built once). */
export function probeCode(): string {
  probe ??= buildProbeCode();
  return probe;
}

function buildProbeCode(): string {
  const artifact = coreArtifact("SimulationProbe");
  const refs = Object.entries(artifact.immutableReferences ?? {}).sort(([a], [b]) => Number(a) - Number(b));
  if (refs.length !== 2)
    throw new SibylError(
      "Sibyl's compiled SimulationProbe does not have its two immutables",
      "rebuild Sibyl's contracts (npx hardhat build)",
    );
  const code = Buffer.from(artifact.deployedBytecode.slice(2), "hex");
  for (const [[, places], address] of refs.map(
    (r, i) => [r, i === 0 ? SHADOW_ADDRESS : SIMULATOR_ADDRESS] as const,
  )) {
    const word = Buffer.from(zeroPadValue(address, 32).slice(2), "hex");
    for (const { start, length } of places) word.copy(code, start, 32 - length);
  }
  return `0x${code.toString("hex")}`;
}

/** The simulator's storage: the previews. */
function previewStorage(previews: Previews): Record<string, string> {
  const diff: Record<string, string> = {};
  for (const [key, output] of previews) {
    const [callKey, occurrence] = key.split("#");
    const base = BigInt(
      keccak256(abi.encode(["bytes32", "uint256", "bytes32"], [callKey, BigInt(occurrence), PREVIEW_SLOT])),
    );
    diff[toBeHex(base, 32)] = toBeHex(output.length, 32);
    output.forEach((v, i) => {
      diff[toBeHex(base + 1n + BigInt(i), 32)] = toBeHex(toTwos(v, 256), 32);
    });
  }
  return diff;
}

/**
 * Runs `tx` once as a simulation against the latest block and returns what its top call did
 * and the synchronous calls it made (calls inside frames that reverted are not seen).
 */
export async function simulate(
  rpc: RpcCall,
  tx: TxFields,
  opts: { precompile: string; targetCode: string; previews: Previews; legacy: boolean },
): Promise<SimulationResult> {
  const to = getAddress(tx.to!);
  const flags = SIMULATING | (opts.legacy ? SIM_LEGACY : 0n) | (BigInt(SIMULATOR_ADDRESS) << 8n);
  const overrides = {
    [getAddress(opts.precompile)]: { stateDiff: { [SIM_SLOT]: toBeHex(flags, 32) } },
    [SIMULATOR_ADDRESS]: { code: simulatorCode(), stateDiff: previewStorage(opts.previews) },
    [to]: { code: probeCode() },
    [SHADOW_ADDRESS]: { code: opts.targetCode },
  };
  const call: Record<string, string> = { from: tx.from, to, data: tx.data ?? "0x" };
  if (tx.value) call.value = toBeHex(tx.value);
  const raw = (await rpc("eth_call", [call, "latest", overrides])) as string;
  const [ok, returnData, log] = abi.decode(["bool", "bytes", "bytes"], raw);
  const seen = new Map<string, number>();
  const calls = decodeLog(log as string).map(
    ([callKey, consumer, modelId, finality, legacyLayout, previewed, input]) => {
      const occurrence = seen.get(callKey) ?? 0;
      seen.set(callKey, occurrence + 1);
      return {
        callKey,
        occurrence,
        consumer: getAddress(consumer),
        modelId,
        finality: Number(finality) as Finality,
        legacyLayout,
        previewed,
        input: [...input],
      };
    },
  );
  return { ok: ok as boolean, returnData: returnData as string, calls };
}

/** The simulator's runtime code (it has no immutables). */
function simulatorCode(): string {
  return coreArtifact("Simulator").deployedBytecode;
}

type LogEntry = [string, string, string, bigint, boolean, boolean, bigint[]];

/** The simulator's log: `abi.encode`d entries one after another (7 head words, then the input array). */
function decodeLog(log: string): LogEntry[] {
  const bytes = log.slice(2);
  const entries: LogEntry[] = [];
  for (let at = 0; at < bytes.length;) {
    const inputLength = Number(BigInt(`0x${bytes.slice(at + 7 * 64, at + 8 * 64)}`));
    const size = (8 + inputLength) * 64;
    const decoded = abi.decode(LOG_ENTRY, `0x${bytes.slice(at, at + size)}`);
    entries.push([...decoded] as unknown as LogEntry);
    at += size;
  }
  return entries;
}
