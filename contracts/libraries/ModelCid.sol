// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ModelCid
/// @notice Reads a model id out of a model CID (src/pipe/cid.ts): CIDv1, multicodec `raw`,
/// a `keccak-256` multihash whose 32-byte digest is the model id, in lower-case base32 without
/// padding. The string is "b" followed by 58 base32 digits spelling
/// `0x01 0x55 0x1b 0x20 ‖ modelId` (36 bytes, 288 bits, then 2 zero bits).
/// @dev The CID is self-certifying: the model id is decoded from it, never looked up, so a CID
/// can only ever name the one model it spells.
library ModelCid {
    /// @notice Characters in a model CID.
    uint256 internal constant LENGTH = 59;
    /// @notice CID version 1, codec `raw`, hash `keccak-256`, digest length 32.
    uint256 internal constant PREFIX = 0x01551b20;

    /// @notice The model id spelled by `cid`, with `ok` false (and a zero id) for any string that
    /// is not exactly a model CID: wrong length, multibase, letter case, digit, prefix bytes, or
    /// non-zero trailing bits.
    function modelIdOf(string memory cid) internal pure returns (bool ok, bytes32 modelId) {
        if (bytes(cid).length != LENGTH) return (false, bytes32(0));
        // Digits 1..8 give 40 bits: the 32-bit prefix and the digest's top byte. Digits 9..58
        // give 250 bits: the digest's other 31 bytes and 2 padding bits.
        uint256 head;
        uint256 tail;
        bool valid;
        assembly ("memory-safe") {
            // "a".."z" → 0..25 and "2".."7" → 26..31; anything else wraps or overshoots.
            function digit(c) -> v, good {
                good := 1
                v := sub(c, 97)
                if gt(v, 25) {
                    v := sub(c, 24)
                    if or(lt(v, 26), gt(v, 31)) {
                        good := 0
                    }
                }
            }
            let p := add(cid, 32)
            valid := eq(byte(0, mload(p)), 0x62) // "b"
            for {
                let i := 1
            } lt(i, 59) {
                i := add(i, 1)
            } {
                let v, good := digit(byte(0, mload(add(p, i))))
                valid := and(valid, good)
                switch lt(i, 9)
                case 1 {
                    head := or(shl(5, head), v)
                }
                default {
                    tail := or(shl(5, tail), v)
                }
            }
        }
        if (!valid || head >> 8 != PREFIX || tail & 3 != 0) return (false, bytes32(0));
        return (true, bytes32(((head & 0xff) << 248) | (tail >> 2)));
    }
}
