import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import * as snarkjs from "snarkjs";

import { BuildError } from "../errors.js";
import { type Logger, snarkjsLogger, step } from "../log.js";
import { PTAU_CACHE_DIR, SHARED_PTAU_DIR } from "../paths.js";

/**
 * Powers of tau. Groth16 setup needs a ptau file whose power covers the circuit. Sibyl
 * looks in $SIBYL_PTAU_DIR, then ../shared/ptau, then its own cache, and takes the
 * smallest file that fits; if none fits it generates a DEVELOPMENT ptau (one random
 * contribution, no beacon) and caches it. Development files are never secure: for
 * production, put a public ceremony file (e.g. a Hermez powersOfTau28 file) in
 * $SIBYL_PTAU_DIR.
 */

export interface PtauFile {
  path: string;
  power: number;
  /** true for development files (the shared dev-*.ptau or ones Sibyl generated) */
  development: boolean;
}

/** The smallest power snarkjs accepts for a circuit (mirrors zkey_new's domain check). */
export function requiredPower(constraints: number, publicInputs: number, outputs = 0): number {
  const n = constraints + publicInputs + outputs;
  return Math.max(1, n.toString(2).length);
}

export function ptauSearchDirs(): string[] {
  return [process.env.SIBYL_PTAU_DIR, SHARED_PTAU_DIR, PTAU_CACHE_DIR].filter((d): d is string => !!d);
}

/** Every ptau file in the search directories whose name ends in its power, e.g. dev-14.ptau. */
export function listPtauFiles(dirs = ptauSearchDirs()): PtauFile[] {
  const found: PtauFile[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir)) {
      const m = /(\d+)\.ptau$/.exec(file);
      if (!m) continue;
      const path = join(dir, file);
      found.push({ path, power: Number(m[1]), development: isDevelopmentPtau(path) });
    }
  }
  return found;
}

/**
 * Whether a ptau file is one of the insecure development files: the shared dev-*.ptau ones
 * or one Sibyl generated into its cache. Any other file is taken to be a public ceremony's.
 */
export function isDevelopmentPtau(path: string): boolean {
  return basename(path).startsWith("dev-") || resolve(dirname(path)) === resolve(PTAU_CACHE_DIR);
}

/** The smallest known ptau file with at least `power`, or undefined. */
export function findPtau(power: number, dirs = ptauSearchDirs()): PtauFile | undefined {
  return listPtauFiles(dirs)
    .filter((p) => p.power >= power)
    .sort((a, b) => a.power - b.power)[0];
}

/**
 * Generates an insecure development ptau of the given power into the cache:
 * new accumulator → one random contribution → prepare phase 2. Minutes for 2^14,
 * about 25 minutes for 2^16 on 2 cores.
 */
export async function generateDevPtau(
  power: number,
  log: Logger,
  outDir = PTAU_CACHE_DIR,
): Promise<PtauFile> {
  if (power < 1 || power > 28) throw new BuildError(`cannot generate a ptau of power ${power}`, "use 1..28");
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, `dev-${power}.ptau`);
  const tmp0 = `${out}.0.tmp`;
  const tmp1 = `${out}.1.tmp`;
  const tmp2 = `${out}.2.tmp`;
  log.warn(
    `generating a DEVELOPMENT powers of tau (2^${power}); it is NOT secure — never use it in production`,
  );
  // `curves` is exported by snarkjs but missing from @types/snarkjs
  const { curves } = snarkjs as unknown as { curves: { getCurveFromName(name: string): Promise<unknown> } };
  const curve = await curves.getCurveFromName("bn128");
  const slog = snarkjsLogger(log);
  try {
    await step(log, `ptau 2^${power}: new accumulator`, () =>
      snarkjs.powersOfTau.newAccumulator(curve, power, tmp0, slog),
    );
    await step(log, `ptau 2^${power}: random contribution`, () =>
      snarkjs.powersOfTau.contribute(
        tmp0,
        tmp1,
        "sibyl development contribution",
        randomBytes(32).toString("hex"),
        slog,
      ),
    );
    await step(log, `ptau 2^${power}: prepare phase 2 (the slow part)`, () =>
      snarkjs.powersOfTau.preparePhase2(tmp1, tmp2, slog),
    );
    renameSync(tmp2, out);
  } finally {
    for (const f of [tmp0, tmp1, tmp2]) rmSync(f, { force: true });
  }
  return { path: out, power, development: true };
}

/** Finds a fitting ptau or, if allowed, generates a development one. */
export async function ensurePtau(
  power: number,
  log: Logger,
  opts: { generate?: boolean } = {},
): Promise<PtauFile> {
  const found = findPtau(power);
  if (found) return found;
  if (opts.generate === false)
    throw new BuildError(
      `no powers-of-tau file of power ≥ ${power} in ${ptauSearchDirs().join(", ")}`,
      `put one there (named …${power}.ptau), or run: npx hardhat sibyl:ptau --power ${power}`,
    );
  return generateDevPtau(power, log);
}

/** What the header of a ptau file says (snarkjs binfile, section 1), and whether phase 2 is prepared. */
export interface PtauHeader {
  /** the file holds 2^power points: circuits up to requiredPower ≤ power fit */
  power: number;
  /** the power of the ceremony the file was cut from (28 for the Hermez files) */
  ceremonyPower: number;
  /** true when the file has the Lagrange sections (12) that Groth16 setup needs */
  preparedForPhase2: boolean;
}

const BN254_N8 = 32;

/**
 * Reads a ptau file's header without loading the file: "ptau", version, section count,
 * then sections of (type u32, size u64, data); section 1 is n8, q (n8 bytes), power and
 * ceremonyPower, all little-endian.
 */
export function readPtauHeader(path: string): PtauHeader {
  const bad = (what: string): never => {
    throw new BuildError(
      `${path} is not a usable powers-of-tau file: ${what}`,
      "pass a prepared phase-2 file such as powersOfTau28_hez_final_<power>.ptau (see docs/setup.md)",
    );
  };
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const read = (pos: number, length: number): Buffer => {
      const buf = Buffer.alloc(length);
      if (pos + length > size || readSync(fd, buf, 0, length, pos) !== length) bad("it is truncated");
      return buf;
    };
    const head = read(0, 12);
    if (head.toString("latin1", 0, 4) !== "ptau") bad('it does not start with "ptau"');
    const nSections = head.readUInt32LE(8);
    let pos = 12;
    let header: Omit<PtauHeader, "preparedForPhase2"> | undefined;
    let prepared = false;
    for (let i = 0; i < nSections; i++) {
      const sec = read(pos, 12);
      const type = sec.readUInt32LE(0);
      const length = Number(sec.readBigUInt64LE(4));
      const data = pos + 12;
      if (type === 1) {
        const n8 = read(data, 4).readUInt32LE(0);
        if (n8 !== BN254_N8) bad(`its field elements have ${n8} bytes, not ${BN254_N8} (bn128)`);
        const powers = read(data + 4 + n8, 8);
        header = { power: powers.readUInt32LE(0), ceremonyPower: powers.readUInt32LE(4) };
      }
      if (type === 12) prepared = true;
      pos = data + length;
    }
    if (!header) return bad("it has no header section");
    return { ...header, preparedForPhase2: prepared };
  } finally {
    closeSync(fd);
  }
}

/**
 * A ptau file given by path (sibyl:build --ptau): it must exist, be prepared for phase 2 and
 * be large enough for a circuit of `power`. Development unless it is a dev-*.ptau or cached file.
 */
export function givenPtau(path: string, power: number): PtauFile {
  const abs = resolve(path);
  if (!existsSync(abs))
    throw new BuildError(
      `powers-of-tau file ${abs} does not exist`,
      "check the --ptau path; public files are named powersOfTau28_hez_final_<power>.ptau (see docs/setup.md)",
    );
  const header = readPtauHeader(abs);
  if (!header.preparedForPhase2)
    throw new BuildError(
      `${abs} is not prepared for phase 2 (no Lagrange sections)`,
      "use a *_final_*.ptau file, or run: npx snarkjs powersoftau prepare phase2 <in> <out>",
    );
  if (header.power < power)
    throw new BuildError(
      `${abs} has power 2^${header.power}, but the circuit needs 2^${power}`,
      `use a larger file, e.g. powersOfTau28_hez_final_${power}.ptau`,
    );
  return { path: abs, power: header.power, development: isDevelopmentPtau(abs) };
}
