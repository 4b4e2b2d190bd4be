/**
 * A small, exact reader for circom's binary `.r1cs` format (iden3 "r1cs" v1):
 * `"r1cs"`, version, section count, then sections `(type u32, size u64, body)`.
 * Section 1 is the header, section 2 the constraints; coefficients are little-endian
 * integers in standard (not Montgomery) form.
 */
import { promises as fs } from "fs";

/** A linear combination `Σ coeff · w[wire]` as a map from wire index to coefficient. */
export type LinearCombination = Map<number, bigint>;

/** One constraint `A·w × B·w = C·w`. */
export interface Constraint {
  a: LinearCombination;
  b: LinearCombination;
  c: LinearCombination;
}

/** The counts in an r1cs header. Wire 0 is the constant 1. */
export interface R1csHeader {
  prime: bigint;
  nWires: number;
  nPubOut: number;
  nPubIn: number;
  nPrvIn: number;
  nLabels: number;
  nConstraints: number;
}

export interface R1cs extends R1csHeader {
  constraints: Constraint[];
}

/** Thrown when a file is not a well-formed r1cs file. */
export class R1csFormatError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file} is not a valid r1cs file: ${detail}. Recompile the circuit.`);
    this.name = "R1csFormatError";
  }
}

const SECTION_HEADER = 1;
const SECTION_CONSTRAINTS = 2;

function readLittleEndian(buf: Buffer, offset: number, n8: number): bigint {
  let v = 0n;
  for (let i = n8 - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[offset + i]);
  return v;
}

function locateSections(file: string, buf: Buffer): Map<number, { start: number; size: number }> {
  if (buf.length < 12 || buf.toString("ascii", 0, 4) !== "r1cs") throw new R1csFormatError(file, "bad magic");
  const version = buf.readUInt32LE(4);
  if (version !== 1) throw new R1csFormatError(file, `unsupported version ${version}`);
  const nSections = buf.readUInt32LE(8);
  const sections = new Map<number, { start: number; size: number }>();
  let pos = 12;
  for (let s = 0; s < nSections; s++) {
    if (pos + 12 > buf.length) throw new R1csFormatError(file, "truncated section table");
    const type = buf.readUInt32LE(pos);
    const size = Number(buf.readBigUInt64LE(pos + 4));
    pos += 12;
    if (pos + size > buf.length) throw new R1csFormatError(file, `section ${type} is truncated`);
    if (sections.has(type)) throw new R1csFormatError(file, `duplicate section ${type}`);
    sections.set(type, { start: pos, size });
    pos += size;
  }
  return sections;
}

function parseHeader(file: string, buf: Buffer, start: number): R1csHeader & { n8: number } {
  const n8 = buf.readUInt32LE(start);
  let pos = start + 4;
  const prime = readLittleEndian(buf, pos, n8);
  pos += n8;
  const header = {
    n8,
    prime,
    nWires: buf.readUInt32LE(pos),
    nPubOut: buf.readUInt32LE(pos + 4),
    nPubIn: buf.readUInt32LE(pos + 8),
    nPrvIn: buf.readUInt32LE(pos + 12),
    nLabels: Number(buf.readBigUInt64LE(pos + 16)),
    nConstraints: buf.readUInt32LE(pos + 24),
  };
  if (n8 === 0 || n8 % 8 !== 0) throw new R1csFormatError(file, `bad field size ${n8}`);
  return header;
}

function headerOf(
  file: string,
  buf: Buffer,
): { header: R1csHeader & { n8: number }; constraintsAt?: number } {
  const sections = locateSections(file, buf);
  const h = sections.get(SECTION_HEADER);
  if (!h) throw new R1csFormatError(file, "missing header section");
  return { header: parseHeader(file, buf, h.start), constraintsAt: sections.get(SECTION_CONSTRAINTS)?.start };
}

/** Reads only the header (sizes and constraint count) of an r1cs file. */
export async function readR1csHeader(file: string): Promise<R1csHeader> {
  const { header } = headerOf(file, await fs.readFile(file));
  const { n8: _n8, ...rest } = header;
  return rest;
}

/** Reads the header and every constraint of an r1cs file. */
export async function readR1cs(file: string): Promise<R1cs> {
  const buf = await fs.readFile(file);
  const { header, constraintsAt } = headerOf(file, buf);
  if (constraintsAt === undefined) throw new R1csFormatError(file, "missing constraints section");
  const { n8, ...rest } = header;
  let pos = constraintsAt;
  const readLc = (): LinearCombination => {
    const nTerms = buf.readUInt32LE(pos);
    pos += 4;
    const lc: LinearCombination = new Map();
    for (let t = 0; t < nTerms; t++) {
      const wire = buf.readUInt32LE(pos);
      if (wire >= header.nWires) throw new R1csFormatError(file, `wire ${wire} out of range`);
      lc.set(wire, readLittleEndian(buf, pos + 4, n8));
      pos += 4 + n8;
    }
    return lc;
  };
  const constraints: Constraint[] = [];
  for (let i = 0; i < header.nConstraints; i++) {
    const a = readLc();
    const b = readLc();
    const c = readLc();
    constraints.push({ a, b, c });
  }
  return { ...rest, constraints };
}
