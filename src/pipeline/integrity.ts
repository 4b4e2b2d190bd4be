import { existsSync, statSync } from "node:fs";

import { sha256File } from "../zk/hash.js";

/**
 * What a build wrote into each artifact file, so a cached build can tell a file it can trust
 * from one that was truncated, overwritten or deleted since (a half-copied zkey, a disk that
 * filled up, a formatter run over contracts/verifiers/). The manifest records, per file, its
 * size, sha256 and modification time. A cached build checks the size of every file, hashes
 * the zkey every time (proofs and the registered zkeyHash depend on it, and its hash is
 * needed for the manifest anyway), and hashes the other files only when their modification
 * time is not the recorded one (hashed once, then trusted on size and mtime).
 */

/** The artifact files a build writes and checks. */
export type ArtifactRole = "r1cs" | "wasm" | "zkey" | "vk" | "verifier";

export interface FileRecord {
  /** bytes */
  size: number;
  /** 64 lower-case hex digits */
  sha256: string;
  /** the file's mtime when the build recorded it (ms since the epoch, with fractions) */
  mtimeMs: number;
}

export type FileRecords = Partial<Record<ArtifactRole, FileRecord>>;

/** A file a cached build found not to be what it recorded. */
export interface DamagedFile {
  role: ArtifactRole;
  path: string;
  /** e.g. "1024 bytes, but the build wrote 341461" */
  problem: string;
}

/** How the files are named in messages. */
export const ROLE_NAMES: Readonly<Record<ArtifactRole, string>> = {
  r1cs: "r1cs",
  wasm: "witness wasm",
  zkey: "zkey",
  vk: "verification key",
  verifier: "Solidity verifier",
};

/** The size mismatch of `path` against its record, or undefined (missing files and records: undefined). */
export function sizeProblem(path: string, record: Pick<FileRecord, "size"> | undefined): string | undefined {
  if (record === undefined || !existsSync(path)) return undefined;
  const size = statSync(path).size;
  return size === record.size ? undefined : sizeText(size, record.size);
}

function sizeText(size: number, recorded: number): string {
  return `${size} bytes, but the build wrote ${recorded}${size < recorded ? " (truncated)" : ""}`;
}

/**
 * The artifact files of one build: checks them against the previous build's records and
 * makes the new records, hashing each file at most once per build (until a step rewrites it).
 */
export class ArtifactFiles {
  private readonly hashes = new Map<string, string>();

  constructor(private readonly recorded: Partial<Record<ArtifactRole, Partial<FileRecord>>> = {}) {}

  /** True when a previous build recorded this file (so a missing or changed file is damage). */
  isRecorded(role: ArtifactRole): boolean {
    return this.recorded[role] !== undefined;
  }

  /** sha256 of the file, computed once per build unless `forget` is called. */
  sha256(path: string): string {
    let hash = this.hashes.get(path);
    if (hash === undefined) {
      hash = sha256File(path);
      this.hashes.set(path, hash);
    }
    return hash;
  }

  /** A step rewrote the file: its hash must be computed again. */
  forget(...paths: string[]): void {
    for (const p of paths) this.hashes.delete(p);
  }

  /**
   * Undefined when the file is what the previous build recorded (or exists, when nothing was
   * recorded), else what is wrong with it. `alwaysHash` hashes it even when size and mtime match.
   */
  problem(role: ArtifactRole, path: string, alwaysHash = false): string | undefined {
    if (!existsSync(path)) return "missing";
    const record = this.recorded[role];
    if (record === undefined) return undefined;
    const { size, mtimeMs } = statSync(path);
    if (record.size !== undefined && size !== record.size) return sizeText(size, record.size);
    if (record.sha256 === undefined) return undefined;
    if (!alwaysHash && record.size !== undefined && record.mtimeMs === mtimeMs) return undefined;
    const hash = this.sha256(path);
    return hash === record.sha256
      ? undefined
      : `its sha256 ${hash.slice(0, 16)}… is not the ${record.sha256.slice(0, 16)}… the build recorded`;
  }

  /** The record of the file as it is now (reusing the previous record's hash when size and mtime match). */
  record(role: ArtifactRole, path: string): FileRecord {
    const { size, mtimeMs } = statSync(path);
    const previous = this.recorded[role];
    const trusted =
      !this.hashes.has(path) &&
      previous?.sha256 !== undefined &&
      previous.size === size &&
      previous.mtimeMs === mtimeMs;
    return { size, sha256: trusted ? previous.sha256! : this.sha256(path), mtimeMs };
  }
}

/** A fresh record of a file (hashing it). */
export function fileRecord(path: string): FileRecord {
  return new ArtifactFiles().record("zkey", path);
}
