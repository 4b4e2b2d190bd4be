import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import * as snarkjs from "snarkjs";

import { readR1csHeader } from "../circuit/r1cs.js";
import { BuildError, SibylError } from "../errors.js";
import { type Logger, silentLogger, snarkjsLogger, step } from "../log.js";
import { hashZkey, sha256File } from "./hash.js";
import { givenPtau, type PtauFile, requiredPower } from "./ptau.js";
import {
  appendTranscriptStep,
  TRANSCRIPT_FORMAT,
  type TranscriptStep,
  transcriptPath,
  writeTranscript,
} from "./transcript.js";

/**
 * Groth16 phase 2 as a multi-party ceremony, on snarkjs zkeys. A zkey is sound as long as
 * ONE of its contributors destroyed their entropy. Each party runs `contribute` on their own
 * machine with only the zkey handed to them: the contribution chain lives in the zkey, and
 * `verifyCeremony` checks all of it against the circuit's r1cs and the ptau. Everything
 * that calls snarkjs' newZKey, contribute or beacon goes through this module.
 */

/** One contribution in a zkey, as snarkjs verification lists it. */
export interface Contribution {
  name: string;
  /** the contribution hash (blake2b-512, 128 hex digits), the value each party publishes */
  hash: string;
  /** present for a random-beacon contribution */
  beacon?: { hash: string; iterationsExp: number };
}

/** snarkjs truncates contribution names to 64 bytes; refuse longer ones instead. */
const MAX_NAME_BYTES = 64;

/** A snarkjs logger that forwards progress to `log` and records every info and error line. */
function recordingLogger(log: Logger): {
  logger: ReturnType<typeof snarkjsLogger>;
  infos: string[];
  errors: string[];
} {
  const forward = snarkjsLogger(log);
  const infos: string[] = [];
  const errors: string[] = [];
  return {
    infos,
    errors,
    logger: {
      ...forward,
      info: (m: string) => {
        infos.push(m);
        forward.info(m);
      },
      error: (m: string) => {
        errors.push(m);
        forward.error(m);
      },
    },
  };
}

function requireFile(path: string, what: string, hint: string): string {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new BuildError(`${what} ${abs} does not exist`, hint);
  return abs;
}

/** Writes through a temporary file, so an interrupted step never leaves a half-written zkey. */
async function writeAtomically<T>(outPath: string, fn: (tmp: string) => Promise<T>): Promise<T> {
  mkdirSync(dirname(outPath), { recursive: true });
  const tmp = `${outPath}.tmp`;
  try {
    const result = await fn(tmp);
    renameSync(tmp, outPath);
    return result;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function wrapSnarkjsError(e: unknown, what: string, hint: string): never {
  if (e instanceof SibylError) throw e;
  throw new BuildError(`${what}: ${(e as Error).message}`, hint);
}

/** The phase-2 starting zkey of a circuit (no contribution yet: anyone could forge with it). */
export async function newZkey(
  r1csPath: string,
  ptauPath: string,
  outPath: string,
  log: Logger,
): Promise<void> {
  const rec = recordingLogger(log);
  await writeAtomically(outPath, async (tmp) => {
    const ok: unknown = await snarkjs.zKey.newZKey(r1csPath, ptauPath, tmp, rec.logger);
    if (ok === false || ok === -1)
      throw new BuildError(
        `groth16 setup failed for ${r1csPath}${rec.errors.length ? `: ${rec.errors.join("; ")}` : ""}`,
        "is the ptau large enough and prepared for phase 2?",
      );
  });
}

export interface StartCeremonyOptions {
  r1csPath: string;
  ptauPath: string;
  outDir: string;
  /** names the first zkey: <outDir>/<name>_0000.zkey */
  name: string;
  log?: Logger;
}

export interface StartedCeremony {
  zkeyPath: string;
  zkeyHash: string;
  transcriptPath: string;
  ptau: PtauFile;
}

/** Starts a ceremony: the circuit's initial zkey and a ceremony.json log in `outDir`. */
export async function startCeremony(opts: StartCeremonyOptions): Promise<StartedCeremony> {
  const log = opts.log ?? silentLogger;
  const r1csPath = requireFile(
    opts.r1csPath,
    "r1cs file",
    "build the model first: npx hardhat sibyl:build --model <file>",
  );
  const outDir = resolve(opts.outDir);
  if (existsSync(transcriptPath(outDir)))
    throw new BuildError(
      `${outDir} already holds a ceremony (ceremony.json)`,
      "pick a new --out folder, or delete that one if its ceremony is abandoned",
    );
  const header = await readR1csHeader(r1csPath);
  const ptau = givenPtau(opts.ptauPath, requiredPower(header.nConstraints, header.nPubIn, header.nPubOut));
  if (ptau.development)
    log.warn(
      `the ceremony starts from DEVELOPMENT powers of tau ${ptau.path}: its phase 1 had one contributor, ` +
        "so the result is NOT secure whatever phase 2 does (use a public ptau, see docs/setup.md)",
    );
  mkdirSync(outDir, { recursive: true });
  const zkeyPath = join(outDir, `${opts.name}_0000.zkey`);
  await step(log, `ceremony start: initial zkey ${basename(zkeyPath)} (2^${ptau.power} ptau)`, () =>
    newZkey(r1csPath, ptau.path, zkeyPath, log),
  );
  const zkeyHash = hashZkey(zkeyPath);
  const transcript = writeTranscript(outDir, {
    format: TRANSCRIPT_FORMAT,
    note: "convenience log, not trusted: the zkey carries its contribution chain; check it with sibyl:ceremony-verify",
    circuit: { r1csPath, r1csSha256: sha256File(r1csPath), constraints: header.nConstraints },
    ptau: {
      path: ptau.path,
      sha256: sha256File(ptau.path),
      power: ptau.power,
      development: ptau.development,
    },
    steps: [{ step: "start", file: basename(zkeyPath), zkeyHash, at: new Date().toISOString() }],
  });
  log.info(`  wrote ${zkeyPath} (no contribution yet) and ${transcript}`);
  return { zkeyPath, zkeyHash, transcriptPath: transcript, ptau };
}

export interface ContributeOptions {
  inPath: string;
  outPath: string;
  /** the contributor's name, recorded in the zkey (at most 64 bytes) */
  name: string;
  /** extra entropy; snarkjs always mixes in 64 fresh random bytes too (default: 32 random bytes) */
  entropy?: string;
  log?: Logger;
}

export interface ContributionResult {
  outPath: string;
  zkeyHash: string;
  contribution: Contribution;
}

/** Adds one contribution to a zkey. Its entropy lives only in this process and is gone when it returns. */
export async function contribute(opts: ContributeOptions): Promise<ContributionResult> {
  const log = opts.log ?? silentLogger;
  const inPath = requireFile(opts.inPath, "zkey", "pass the latest zkey of the ceremony as --in");
  const outPath = resolve(opts.outPath);
  checkName(opts.name);
  if (outPath === inPath)
    throw new BuildError("--out must differ from --in", "write the contribution to a new file");
  const entropy = opts.entropy ?? randomBytes(32).toString("hex");
  const rec = recordingLogger(log);
  const hash = await step(log, `contribution "${opts.name}"`, () =>
    writeAtomically(outPath, async (tmp) => {
      try {
        return (await snarkjs.zKey.contribute(inPath, tmp, opts.name, entropy, rec.logger)) as Uint8Array;
      } catch (e) {
        return wrapSnarkjsError(
          e,
          `cannot contribute to ${inPath}`,
          "is it a zkey from a ceremony of this project?",
        );
      }
    }),
  );
  const contribution: Contribution = { name: opts.name, hash: Buffer.from(hash.result).toString("hex") };
  const zkeyHash = hashZkey(outPath);
  recordStep(
    outPath,
    { step: "contribute", name: opts.name, contributionHash: contribution.hash },
    zkeyHash,
    log,
  );
  return { outPath, zkeyHash, contribution };
}

export interface BeaconOptions {
  inPath: string;
  outPath: string;
  /** the public random value, in hex (e.g. a future block hash announced in advance) */
  beaconHex: string;
  /** 2^iterationsExp hash iterations slow a beacon-grinding attack (10..63, default 10) */
  iterationsExp?: number;
  name?: string;
  log?: Logger;
}

/** The final, public random-beacon contribution: anyone can recompute it from the beacon value. */
export async function applyBeacon(opts: BeaconOptions): Promise<ContributionResult> {
  const log = opts.log ?? silentLogger;
  const inPath = requireFile(opts.inPath, "zkey", "pass the latest zkey of the ceremony as --in");
  const outPath = resolve(opts.outPath);
  const name = opts.name ?? "final beacon";
  checkName(name);
  const beaconHex = opts.beaconHex.replace(/^0x/i, "").toLowerCase();
  if (!/^([0-9a-f]{2}){1,255}$/.test(beaconHex))
    throw new BuildError(
      `the beacon must be 1 to 255 bytes of hex, got ${JSON.stringify(opts.beaconHex)}`,
      "use a public value fixed in advance, e.g. the hash of a future block",
    );
  const iterationsExp = opts.iterationsExp ?? 10;
  if (!Number.isInteger(iterationsExp) || iterationsExp < 10 || iterationsExp > 63)
    throw new BuildError(`iterations exponent must be an integer in 10..63, got ${iterationsExp}`);
  const rec = recordingLogger(log);
  const hash = await step(log, `beacon (2^${iterationsExp} iterations)`, () =>
    writeAtomically(outPath, async (tmp) => {
      let h: unknown;
      try {
        h = await snarkjs.zKey.beacon(inPath, tmp, name, beaconHex, iterationsExp, rec.logger);
      } catch (e) {
        wrapSnarkjsError(
          e,
          `cannot apply the beacon to ${inPath}`,
          "is it a zkey from a ceremony of this project?",
        );
      }
      if (!(h instanceof Uint8Array))
        throw new BuildError(`snarkjs refused the beacon: ${rec.errors.join("; ")}`);
      return h;
    }),
  );
  const contribution: Contribution = {
    name,
    hash: Buffer.from(hash.result).toString("hex"),
    beacon: { hash: beaconHex, iterationsExp },
  };
  const zkeyHash = hashZkey(outPath);
  recordStep(
    outPath,
    { step: "beacon", name, contributionHash: contribution.hash, beacon: contribution.beacon },
    zkeyHash,
    log,
  );
  return { outPath, zkeyHash, contribution };
}

export interface VerifyCeremonyOptions {
  r1csPath: string;
  ptauPath: string;
  zkeyPath: string;
  log?: Logger;
}

export interface VerifiedCeremony {
  zkeyPath: string;
  zkeyHash: string;
  /** every contribution, first to last */
  contributions: Contribution[];
}

/**
 * Checks a zkey against the circuit's r1cs and the ptau: that it is this circuit's key and
 * that every contribution follows from the one before. Throws a BuildError if not.
 */
export async function verifyCeremony(opts: VerifyCeremonyOptions): Promise<VerifiedCeremony> {
  const log = opts.log ?? silentLogger;
  const r1csPath = requireFile(
    opts.r1csPath,
    "r1cs file",
    "build the model first: npx hardhat sibyl:build --model <file>",
  );
  const ptauPath = requireFile(
    opts.ptauPath,
    "powers-of-tau file",
    "pass the ptau the ceremony started from",
  );
  const zkeyPath = requireFile(opts.zkeyPath, "zkey", "check the --zkey path");
  const rec = recordingLogger(log);
  let ok = false;
  await step(log, `verify ${basename(zkeyPath)} against the r1cs and ptau`, async () => {
    try {
      ok = await snarkjs.zKey.verifyFromR1cs(r1csPath, ptauPath, zkeyPath, rec.logger);
    } catch (e) {
      rec.errors.push((e as Error).message);
    }
  });
  if (!ok)
    throw new BuildError(
      `${zkeyPath} does NOT verify against ${r1csPath} and ${ptauPath}` +
        (rec.errors.length ? `: ${rec.errors.join("; ")}` : ""),
      "do not use this zkey: it was made for another circuit or ptau, or it was altered. " +
        "Go back to the last zkey that verifies and redo the contributions after it",
    );
  return { zkeyPath, zkeyHash: hashZkey(zkeyPath), contributions: parseContributions(rec.infos) };
}

/**
 * The contributions snarkjs lists after a successful verification, last first:
 * "contribution #<i> <name>:" + the hash in four lines of hex, then for a beacon
 * "Beacon generator: <hex>" and "Beacon iterations Exp: <n>".
 */
export function parseContributions(lines: readonly string[]): Contribution[] {
  const byIndex = new Map<number, Contribution>();
  let current: Contribution | undefined;
  for (const line of lines) {
    const m = /^contribution #(\d+) ?(.*):\n([\s\S]*)$/.exec(line);
    if (m) {
      current = { name: m[2].trim(), hash: m[3].replace(/\s+/g, "") };
      byIndex.set(Number(m[1]), current);
      continue;
    }
    const generator = /^Beacon generator: ([0-9a-f]+)$/i.exec(line);
    if (generator && current) current.beacon = { hash: generator[1].toLowerCase(), iterationsExp: 0 };
    const iterations = /^Beacon iterations Exp: (\d+)$/.exec(line);
    if (iterations && current?.beacon) current.beacon.iterationsExp = Number(iterations[1]);
  }
  return [...byIndex.entries()].sort(([a], [b]) => a - b).map(([, c]) => c);
}

/** A contribution hash in the four-line layout snarkjs prints, for comparing by eye. */
export function formatHash(hex: string): string {
  const groups = hex.match(/.{1,8}/g) ?? [];
  const lines: string[] = [];
  for (let i = 0; i < groups.length; i += 4) lines.push(`\t\t${groups.slice(i, i + 4).join(" ")}`);
  return lines.join("\n");
}

function checkName(name: string): void {
  if (!name.trim()) throw new BuildError("a contribution needs a name", "pass --name <who you are>");
  if (Buffer.byteLength(name, "utf8") > MAX_NAME_BYTES)
    throw new BuildError(
      `contribution name "${name}" is longer than ${MAX_NAME_BYTES} bytes`,
      "use a shorter --name",
    );
}

function recordStep(
  outPath: string,
  fields: Omit<TranscriptStep, "file" | "zkeyHash" | "at">,
  zkeyHash: string,
  log: Logger,
): void {
  appendTranscriptStep(
    dirname(outPath),
    { ...fields, file: basename(outPath), zkeyHash, at: new Date().toISOString() },
    log,
  );
}
