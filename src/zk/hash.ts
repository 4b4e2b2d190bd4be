import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";

/** Read size of the streamed hash: memory stays constant however large the file. */
const CHUNK_BYTES = 1 << 20;

/** sha256 of a file's bytes as 64 lower-case hex digits, read in 1 MiB chunks. */
export function sha256File(path: string): string {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  const fd = openSync(path, "r");
  try {
    for (let n = readSync(fd, buf, 0, CHUNK_BYTES, null); n > 0; n = readSync(fd, buf, 0, CHUNK_BYTES, null))
      hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/** The zkey hash the build manifest (and the on-chain registry) records: "0x" + sha256 of the file. */
export function hashZkey(zkeyPath: string): string {
  return `0x${sha256File(zkeyPath)}`;
}
