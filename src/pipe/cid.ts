import { base32 } from "multiformats/bases/base32";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";

import { SibylError } from "../errors.js";

/**
 * Content ids for registered models, so that contracts written for OpenGradient's precompile
 * (which name a model by a CID string) can name a Sibyl model.
 *
 * A model's CID is CIDv1 with multicodec `raw` and a `keccak-256` multihash whose digest *is*
 * the model id, written in lower-case base32 without padding:
 *
 *     "b" ‖ base32(0x01 0x55 0x1b 0x20 ‖ modelId)      (36 bytes → 59 characters)
 *
 * The CID is self-certifying: the precompile turns it back into the model id by decoding alone
 * (contracts/libraries/ModelCid.sol), with no table mapping CIDs to models. Nobody can claim a
 * CID for a model other than the one it spells, and there is nothing to squat or to keep in sync.
 * The model id is already a keccak-256 commitment to the model, so labelling the digest
 * `keccak-256` tells the truth about how it was made.
 */

/** Multicodec `raw`: the CID names bytes, not an IPLD structure. */
export const RAW_CODEC = 0x55;
/** Multihash code of keccak-256. */
export const KECCAK_256_CODE = 0x1b;
/** Characters in a model CID: "b" and 58 base32 digits for 36 bytes. */
export const MODEL_CID_LENGTH = 59;

/** A model id that is not 32 bytes of 0x-prefixed hex. */
export class ModelIdFormatError extends SibylError {}

const MODEL_ID = /^0x[0-9a-fA-F]{64}$/;

/**
 * The CID that names the model `modelId` (a 0x-prefixed bytes32).
 * @throws ModelIdFormatError when `modelId` is not 32 bytes of hex.
 */
export function modelCid(modelId: string): string {
  if (!MODEL_ID.test(modelId)) {
    throw new ModelIdFormatError(
      `"${modelId}" is not a model id`,
      "pass the bytes32 model id from the ModelRegistry, 0x followed by 64 hex digits",
    );
  }
  const digest = Digest.create(KECCAK_256_CODE, Buffer.from(modelId.slice(2), "hex"));
  return CID.createV1(RAW_CODEC, digest).toString(base32);
}

/**
 * The model id (lower-case 0x-hex) named by `cid`, or undefined when `cid` is not exactly a
 * model CID as `modelCid` writes it: any other version, codec, hash, digest size, multibase,
 * letter case, or non-canonical encoding is refused, as the on-chain decoder refuses it.
 */
export function modelIdFromCid(cid: string): string | undefined {
  if (cid.length !== MODEL_CID_LENGTH || !cid.startsWith("b")) return undefined;
  let parsed: CID;
  try {
    parsed = CID.parse(cid, base32);
  } catch {
    return undefined;
  }
  if (parsed.version !== 1 || parsed.code !== RAW_CODEC) return undefined;
  if (parsed.multihash.code !== KECCAK_256_CODE || parsed.multihash.size !== 32) return undefined;
  // Re-encode the bytes (`toString` would hand back the cached input): this refuses every other
  // spelling of the same bytes, such as mixed case, which the base32 decoder tolerates.
  if (base32.encode(parsed.bytes) !== cid) return undefined;
  return "0x" + Buffer.from(parsed.multihash.digest).toString("hex");
}
