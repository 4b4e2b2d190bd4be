import { createHash } from "node:crypto";

import { SibylError } from "../errors.js";
import type { CircuitInput, ProofResult } from "../zk/prover.js";

/**
 * What a proving job is, as the node (`QueueProver`) and the workers (`ProverWorker`) both read
 * it: which queue it goes to, what it carries, its id, and how BullMQ keeps it. Everything here
 * is a pure function of the circuit's proving key and the input, so any number of nodes and
 * workers agree on it without talking to each other.
 */

/** The key prefix of Sibyl's queues in Redis (BullMQ's `prefix`), unless told otherwise. */
export const DEFAULT_QUEUE_PREFIX = "sibyl";

/** What a job carries: JSON as BullMQ stores it (the input's field elements are decimal strings). */
export interface ProofJobData {
  /** the circuit's name, for logs and metrics ("iris", "iris/batch-k4") */
  circuit: string;
  /** "0x" + sha256 of the proving key the proof must be made with */
  zkeyHash: string;
  input: CircuitInput;
}

/** What a worker returns for a job: the proof, its public signals and the worker's proving time. */
export type ProofJobResult = ProofResult;

/** The 64 hex digits of a zkey hash ("0x…" or bare), lower-case; refuses anything else. */
export function zkeyHex(zkeyHash: string): string {
  const hex = zkeyHash.toLowerCase().replace(/^0x/, "");
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw new SibylError(
      `a proving key's hash must be 0x followed by 64 hex digits, got "${zkeyHash}"`,
      "take it from the build's manifest (zkeyHash), as loadArtifacts and loadBatchArtifacts give it",
    );
  return hex;
}

/**
 * The queue of one proving key: `proofs-<first 16 hex digits of its zkey hash>`. A worker
 * listens only on the queues of the keys it holds, so it is never handed a job it cannot prove;
 * two builds of a circuit (another setup) get two queues, not a mixed one.
 */
export function queueNameOf(zkeyHash: string): string {
  return `proofs-${zkeyHex(zkeyHash).slice(0, 16)}`;
}

/**
 * The job's id: a hash of the proving key and the input. Asking twice for the same proof (a
 * node retrying, two nodes settling the same request) names the same job, and BullMQ ignores an
 * add whose id exists, so the proof is made once.
 */
export function proofJobId(zkeyHash: string, input: CircuitInput): string {
  const h = createHash("sha256").update(zkeyHex(zkeyHash)).update("\n").update(canonicalJson(input));
  // BullMQ refuses ids that read as integers; the letters keep it a name
  return `proof-${h.digest("hex")}`;
}

/** JSON with object keys in sorted order, so equal inputs hash equally whatever built them. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object")
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value);
}

/** How long BullMQ keeps finished jobs (seconds and counts; it evicts when another job finishes). */
export const KEEP_COMPLETED = { age: 3600, count: 10_000 } as const;
export const KEEP_FAILED = { age: 24 * 3600, count: 10_000 } as const;

/**
 * The options every proving job is added with. `attempts` covers a worker's thrown errors (a
 * stalled job, one whose worker died, is put back by the stalled check instead, up to the
 * workers' `maxStalledCount`). Completed jobs stay an hour: a node asking again for a proof
 * just made gets it from Redis without a second proof.
 */
export function proofJobOptions(jobId: string, attempts: number) {
  return {
    jobId,
    attempts,
    backoff: { type: "fixed" as const, delay: 1000 },
    removeOnComplete: KEEP_COMPLETED,
    removeOnFail: KEEP_FAILED,
  };
}

/** A job's return value as BullMQ hands it back (parsed, or the JSON text), checked for shape. */
export function proofResultOf(returnvalue: unknown): ProofJobResult {
  const value = typeof returnvalue === "string" ? (JSON.parse(returnvalue) as unknown) : returnvalue;
  const r = value as Partial<ProofJobResult> | null;
  if (!r || typeof r !== "object" || !r.proof || !Array.isArray(r.publicSignals) || typeof r.ms !== "number")
    throw new SibylError(
      "a proving job completed without a proof in its result",
      "check that every worker runs a version of Sibyl that speaks the same job format (sibyl:prover)",
    );
  return { proof: r.proof, publicSignals: r.publicSignals, ms: r.ms };
}
