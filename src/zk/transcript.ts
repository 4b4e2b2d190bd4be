import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import type { Logger } from "../log.js";

/**
 * ceremony.json: a convenience log of a phase-2 ceremony, kept next to its zkeys. It is
 * NOT trusted: the contribution chain lives in the zkey itself, and only
 * `verifyCeremony` (sibyl:ceremony-verify) says whether a zkey is sound.
 */
export const TRANSCRIPT_FILE = "ceremony.json";
export const TRANSCRIPT_FORMAT = "sibyl-ceremony/1";

export interface TranscriptStep {
  step: "start" | "contribute" | "beacon";
  /** the zkey this step wrote (file name, relative to the transcript's folder) */
  file: string;
  /** "0x" + sha256 of that zkey */
  zkeyHash: string;
  /** the contributor's name (contribute, beacon) */
  name?: string;
  /** the contribution hash snarkjs reports (128 hex digits, blake2b-512) */
  contributionHash?: string;
  beacon?: { hash: string; iterationsExp: number };
  at: string;
}

export interface CeremonyTranscript {
  format: typeof TRANSCRIPT_FORMAT;
  note: string;
  circuit: { r1csPath: string; r1csSha256: string; constraints: number };
  ptau: { path: string; sha256: string; power: number; development: boolean };
  steps: TranscriptStep[];
}

export function transcriptPath(dir: string): string {
  return join(dir, TRANSCRIPT_FILE);
}

export function writeTranscript(dir: string, transcript: CeremonyTranscript): string {
  const path = transcriptPath(dir);
  writeFileSync(path, `${JSON.stringify(transcript, null, 1)}\n`);
  return path;
}

/**
 * Appends a step to the ceremony.json in `dir`, if there is one: a contributor working on
 * another machine with only the zkey has none, and needs none.
 */
export function appendTranscriptStep(dir: string, step: TranscriptStep, log: Logger): void {
  const path = transcriptPath(dir);
  if (!existsSync(path)) return;
  try {
    const transcript = JSON.parse(readFileSync(path, "utf8")) as CeremonyTranscript;
    if (transcript.format !== TRANSCRIPT_FORMAT || !Array.isArray(transcript.steps))
      throw new Error("format");
    transcript.steps.push(step);
    writeFileSync(path, `${JSON.stringify(transcript, null, 1)}\n`);
  } catch {
    log.warn(`${path} is not a ${TRANSCRIPT_FORMAT} transcript; left it alone (the zkey is what counts)`);
  }
}
