/**
 * Witness utilities of the bench's tamper test: a witness addressed by signal name, the r1cs
 * constraints a witness violates, signal names grouped for a report, and the `.wtns` file
 * snarkjs proves from.
 */
import { BN254_P, fromField, toField } from "../../circuit/field.js";
import type { R1cs } from "../../circuit/r1cs.js";
import { type CircuitInput as WitnessInput, calculateWitness } from "../../circuit/witness.js";
import { SibylError } from "../../errors.js";
import { type CompiledCircuit, symbolsOf } from "./compile.js";

/**
 * A witness addressed by signal name (`main.relu[3].out`). Signals the --O2 simplifier
 * substituted away have no wire: they are linear combinations of the others, so writing the
 * wired signals consistently makes them consistent too, and `set` skips them.
 */
export class NamedWitness {
  constructor(
    readonly symbols: Map<string, number>,
    readonly values: bigint[],
  ) {}

  /** The honest witness of `circuit` for `input`, computed by its witness calculator. */
  static async of(
    circuit: Pick<CompiledCircuit, "wasmPath" | "symPath">,
    input: WitnessInput,
  ): Promise<NamedWitness> {
    return new NamedWitness(await symbolsOf(circuit), await calculateWitness(circuit.wasmPath, input));
  }

  copy(): NamedWitness {
    return new NamedWitness(this.symbols, [...this.values]);
  }

  wireOf(name: string): number | undefined {
    const wire = this.symbols.get(name);
    return wire === undefined || wire < 0 ? undefined : wire;
  }

  /** Whether the circuit has a signal of that name at all (with a wire or substituted away). */
  hasSignal(name: string): boolean {
    return this.symbols.has(name);
  }

  /** The signed value of a wired signal. */
  get(name: string): bigint {
    const wire = this.wireOf(name);
    if (wire === undefined) throw new SibylError(`the witness has no wire for ${name}`);
    return fromField(this.values[wire]);
  }

  /** Writes a signal's value (reduced into the field); false when the signal has no wire. */
  set(name: string, value: bigint): boolean {
    const wire = this.wireOf(name);
    if (wire === undefined) return false;
    this.values[wire] = toField(value);
    return true;
  }

  /**
   * Copies every signal of `helper` (a template compiled alone as `main`) into the component at
   * `prefix`: the helper's `main.x.y` becomes `<prefix>.x.y`. Returns how many wires it wrote.
   */
  adopt(helper: NamedWitness, prefix: string): number {
    let written = 0;
    for (const [name, wire] of helper.symbols) {
      if (wire < 0 || !name.startsWith("main.")) continue;
      if (this.set(`${prefix}${name.slice("main".length)}`, helper.values[wire])) written++;
    }
    return written;
  }

  /** The names of the wired signals on `wires`, in wire order. */
  namesOf(wires: Iterable<number>): string[] {
    const byWire = new Map<number, string>();
    for (const [name, wire] of this.symbols) if (wire >= 0) byWire.set(wire, name);
    return [...new Set(wires)]
      .sort((a, b) => a - b)
      .map((w) => byWire.get(w) ?? (w === 0 ? "1" : `wire ${w}`));
  }
}

/** The indices of the r1cs constraints that `witness` violates (A·w × B·w ≠ C·w mod p). */
export function unsatisfiedConstraints(r1cs: R1cs, witness: readonly bigint[]): number[] {
  const dot = (lc: Map<number, bigint>) => {
    let acc = 0n;
    for (const [wire, coeff] of lc) acc += coeff * witness[wire];
    return acc % BN254_P;
  };
  const violated: number[] = [];
  r1cs.constraints.forEach(({ a, b, c }, i) => {
    if ((dot(a) * dot(b)) % BN254_P !== dot(c)) violated.push(i);
  });
  return violated;
}

/** `main.x.bits[1]`, `main.x.bits[2]`, … → `main.x.bits[1..2]`: signal names grouped by their last index. */
export function groupNames(names: readonly string[]): string[] {
  const groups = new Map<string, number[]>();
  for (const name of names) {
    const m = /^(.*)\[(\d+)\]$/.exec(name);
    const [base, index] = m ? [m[1], Number(m[2])] : [name, -1];
    groups.set(base, [...(groups.get(base) ?? []), index]);
  }
  return [...groups].map(([base, indices]) => {
    if (indices.includes(-1)) return base;
    indices.sort((a, b) => a - b);
    const runs: string[] = [];
    for (let i = 0; i < indices.length;) {
      let j = i;
      while (j + 1 < indices.length && indices[j + 1] === indices[j] + 1) j++;
      runs.push(i === j ? `${indices[i]}` : `${indices[i]}..${indices[j]}`);
      i = j + 1;
    }
    return `${base}[${runs.join(",")}]`;
  });
}

/**
 * A witness in snarkjs's `.wtns` format: "wtns", version 2, two sections — the header (n8, the
 * prime, the count) and the values, each n8 bytes little-endian.
 */
export function wtnsFile(witness: readonly bigint[]): Uint8Array {
  const n8 = 32;
  const headerSize = 4 + n8 + 4;
  const valuesSize = witness.length * n8;
  const buf = Buffer.alloc(12 + 12 + headerSize + 12 + valuesSize);
  let pos = buf.write("wtns", 0, "latin1");
  pos = buf.writeUInt32LE(2, pos);
  pos = buf.writeUInt32LE(2, pos);
  const le = (v: bigint, at: number) => {
    for (let i = 0; i < n8; i++) buf[at + i] = Number((v >> BigInt(8 * i)) & 0xffn);
  };
  pos = buf.writeUInt32LE(1, pos);
  buf.writeBigUInt64LE(BigInt(headerSize), pos);
  pos += 8;
  pos = buf.writeUInt32LE(n8, pos);
  le(BN254_P, pos);
  pos += n8;
  pos = buf.writeUInt32LE(witness.length, pos);
  pos = buf.writeUInt32LE(2, pos);
  buf.writeBigUInt64LE(BigInt(valuesSize), pos);
  pos += 8;
  witness.forEach((v, i) => le(v, pos + i * n8));
  return buf;
}
