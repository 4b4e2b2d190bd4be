import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as snarkjs from "snarkjs";

import { BuildError } from "../errors";
import { type Logger, snarkjsLogger, step } from "../log";
import { PTAU_CACHE_DIR, SHARED_PTAU_DIR } from "../paths";

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
      found.push({
        path: join(dir, file),
        power: Number(m[1]),
        development: file.startsWith("dev-") || dir === PTAU_CACHE_DIR,
      });
    }
  }
  return found;
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
