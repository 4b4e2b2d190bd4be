/**
 * Witness generation and an exact, independent R1CS check.
 *
 * `calculateWitness` runs the WebAssembly witness generator circom writes next to the
 * `.wasm` file (`<name>_js/witness_calculator.js`); it throws when an `===` or `assert` in
 * the circuit fails. `checkWitness` then re-checks every constraint of the r1cs over the
 * BN254 field, which is what a Groth16 prover relies on, so tests can alter a witness and
 * see whether the constraints alone catch it.
 */
import { promises as fs } from "fs";
import path from "path";

import { BN254_P, toField } from "./field.js";
import { LinearCombination, R1cs, readR1cs } from "./r1cs.js";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** A circuit input value: a number, a decimal/hex string, or nested arrays of them. */
export type SignalValue = bigint | number | string | SignalValue[];

/** Circuit inputs by signal name (without the `main.` prefix). */
export type CircuitInput = Record<string, SignalValue>;

/** Thrown when the circuit rejects an input during witness generation. */
export class WitnessError extends Error {
  constructor(
    readonly wasmPath: string,
    cause: unknown,
  ) {
    super(
      `witness generation failed for ${wasmPath}: ${cause instanceof Error ? cause.message.trim() : String(cause)}` +
        " (the circuit rejects this input: check it is in range)",
      { cause },
    );
    this.name = "WitnessError";
  }
}

/** The part of circom's generated `witness_calculator.js` used here. */
interface GeneratedWitnessCalculator {
  calculateWitness(input: Record<string, unknown>, sanityCheck: boolean): Promise<bigint[]>;
}
type WitnessCalculatorBuilder = (code: Buffer, options?: object) => Promise<GeneratedWitnessCalculator>;

/**
 * Instantiated calculators by wasm path, reused while the file is unchanged. A calculator
 * is stateful, so calls on one are queued; it is dropped after a failure, since the
 * generated code accumulates error text.
 */
interface CalculatorEntry {
  stamp: string;
  wc: Promise<GeneratedWitnessCalculator>;
  tail: Promise<unknown>;
}
const calculators = new Map<string, CalculatorEntry>();

async function calculatorFor(wasmPath: string): Promise<CalculatorEntry> {
  const stat = await fs.stat(wasmPath);
  const stamp = `${stat.size}:${stat.mtimeMs}`;
  const cached = calculators.get(wasmPath);
  if (cached && cached.stamp === stamp) return cached;
  const builderPath = path.join(path.dirname(wasmPath), "witness_calculator.js");
  const wc = (async () => {
    // Generated CommonJS from circom, loaded from the build directory at run time. A copy
    // named .cjs loads as CommonJS whatever the enclosing package's "type" says.
    const cjsPath = builderPath.replace(/\.js$/, ".cjs");
    await fs.copyFile(builderPath, cjsPath);
    const builder = require(cjsPath) as WitnessCalculatorBuilder;
    return builder(await fs.readFile(wasmPath));
  })();
  const entry: CalculatorEntry = { stamp, wc, tail: Promise.resolve() };
  calculators.set(wasmPath, entry);
  return entry;
}

function normalize(v: SignalValue): SignalValue {
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === "bigint") return toField(v);
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new RangeError(`signal value ${v} is not a safe integer`);
    return toField(BigInt(v));
  }
  return toField(BigInt(v));
}

/**
 * Computes the full witness (wire values; wire 0 is the constant 1) for `input`. Negative
 * values are accepted and mapped to `p − |v|`. Throws `WitnessError` if the circuit
 * rejects the input.
 */
export async function calculateWitness(wasmPath: string, input: CircuitInput): Promise<bigint[]> {
  const fieldInput: Record<string, SignalValue> = {};
  for (const [name, value] of Object.entries(input)) fieldInput[name] = normalize(value);
  const entry = await calculatorFor(wasmPath);
  const run = entry.tail.then(async () => (await entry.wc).calculateWitness(fieldInput, true));
  entry.tail = run.catch(() => undefined);
  try {
    return await run;
  } catch (err) {
    if (calculators.get(wasmPath) === entry) calculators.delete(wasmPath);
    throw new WitnessError(wasmPath, err);
  }
}

function evaluate(lc: LinearCombination, witness: bigint[]): bigint {
  let acc = 0n;
  for (const [wire, coeff] of lc) acc += coeff * witness[wire];
  return acc % BN254_P;
}

/**
 * Checks `A·w × B·w = C·w (mod p)` for every constraint of the r1cs (a path, or an r1cs
 * already read with `readR1cs`). Returns false on the first violated constraint, or when
 * the witness has the wrong length, a wire 0 other than 1, or a value outside `[0, p)`.
 */
export async function checkWitness(r1csPath: string | R1cs, witness: bigint[]): Promise<boolean> {
  const r1cs = typeof r1csPath === "string" ? await readR1cs(r1csPath) : r1csPath;
  if (r1cs.prime !== BN254_P) throw new Error("the r1cs is not over the BN254 scalar field");
  if (witness.length !== r1cs.nWires) return false;
  if (witness[0] !== 1n) return false;
  if (witness.some((v) => v < 0n || v >= BN254_P)) return false;
  for (const { a, b, c } of r1cs.constraints) {
    if ((evaluate(a, witness) * evaluate(b, witness)) % BN254_P !== evaluate(c, witness)) return false;
  }
  return true;
}

/**
 * Reads a circom `.sym` file (`signal,wire,component,name` per line) into a map from the
 * full signal name (e.g. `main.rescale.out`) to its witness index. An index of -1 means
 * the simplifier substituted the signal away: it has no wire of its own.
 */
export async function readSymbols(symPath: string): Promise<Map<string, number>> {
  const text = await fs.readFile(symPath, "utf8");
  const symbols = new Map<string, number>();
  for (const line of text.split(/\r?\n/)) {
    if (!line) continue;
    const parts = line.split(",");
    if (parts.length < 4) throw new Error(`${symPath}: malformed line "${line}"`);
    symbols.set(parts.slice(3).join(","), Number(parts[1]));
  }
  return symbols;
}
