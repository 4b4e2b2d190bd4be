// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title NitroDocument
/// @notice Reads an AWS Nitro Enclaves attestation document on-chain: the COSE_Sign1 envelope
/// `[protected, unprotected, payload, signature]` and the CBOR payload map, by the same rules as
/// `parseAttestation` in src/tee/attestation.ts. Structure only: nothing decoded here is trusted
/// until the certificate chain and the ES384 signature over `sigStructure` are checked.
/// @dev Works on offsets into the input and copies only the byte strings it returns. CBOR heads
/// with 0/1/2/4/8-byte arguments are read; indefinite-length arrays and maps are read, indefinite
/// byte and text strings are refused (Nitro never writes them).
library NitroDocument {
    /// @notice The envelope's parts, copied out of the document.
    struct Cose {
        bytes protectedHeader;
        bytes payload;
        bytes signature;
    }

    /// @notice The payload's fields. An absent or null optional field is an empty byte string.
    struct Payload {
        uint64 timestampMs;
        /// keccak256 of PCR0.
        bytes32 pcr0Hash;
        bytes pcr0;
        bytes pcr1;
        bytes pcr2;
        bytes certificate;
        bytes[] cabundle;
        bytes publicKey;
        bytes userData;
        bytes nonce;
        /// PCR0 is all zero: the enclave ran in debug mode.
        bool debug;
    }

    /// @notice The CBOR at `offset` is malformed, out of bounds, or not what Nitro writes there.
    error NitroDocument__Malformed(uint256 offset);
    /// @notice The protected header is not exactly the CBOR of {1: -35} (alg ES384).
    error NitroDocument__NotES384();
    /// @notice The signature is not a raw 96-byte ES384 r‖s.
    error NitroDocument__BadSignatureLength(uint256 length);
    /// @notice A required payload field (or PCR0) is missing.
    error NitroDocument__MissingField(bytes32 name);

    /// @dev `arg` of an indefinite-length head (additional info 31).
    uint256 private constant INDEFINITE = type(uint256).max;
    /// @dev Nesting limit when skipping values of unknown keys.
    uint256 private constant MAX_DEPTH = 16;
    uint256 private constant PCR_LENGTH = 48;
    uint256 private constant SIGNATURE_LENGTH = 96;
    /// @dev CBOR {1: -35}, left-aligned.
    bytes4 private constant ES384_HEADER = 0xa1013822;
    /// @dev CBOR tag 18 (COSE_Sign1), accepted before the array as the TypeScript reader does.
    uint256 private constant TAG_SIGN1 = 18;

    // Payload keys, left-aligned (compared together with their lengths).
    bytes32 private constant KEY_MODULE_ID = "module_id";
    bytes32 private constant KEY_DIGEST = "digest";
    bytes32 private constant KEY_TIMESTAMP = "timestamp";
    bytes32 private constant KEY_PCRS = "pcrs";
    bytes32 private constant KEY_CERTIFICATE = "certificate";
    bytes32 private constant KEY_CABUNDLE = "cabundle";
    bytes32 private constant KEY_PUBLIC_KEY = "public_key";
    bytes32 private constant KEY_USER_DATA = "user_data";
    bytes32 private constant KEY_NONCE = "nonce";
    bytes32 private constant SHA384 = "SHA384";

    // One bit per known key, to refuse duplicates and find missing fields.
    uint256 private constant F_MODULE_ID = 1;
    uint256 private constant F_DIGEST = 2;
    uint256 private constant F_TIMESTAMP = 4;
    uint256 private constant F_PCRS = 8;
    uint256 private constant F_CERTIFICATE = 16;
    uint256 private constant F_CABUNDLE = 32;
    uint256 private constant F_PUBLIC_KEY = 64;
    uint256 private constant F_USER_DATA = 128;
    uint256 private constant F_NONCE = 256;

    // ------------------------------------------------------------------ COSE_Sign1 (calldata)

    /// @notice Split a COSE_Sign1 document (untagged, or tag 18) into its signed parts. Requires
    /// a 4-item array, the protected header bytes `a1 01 38 22`, an unprotected map (skipped), a
    /// byte-string payload, a 96-byte signature, and nothing after the array.
    function decodeCose(bytes calldata doc) internal pure returns (Cose memory cose) {
        (uint256 major, uint256 arg, uint256 off) = _headCd(doc, 0);
        if (major == 6 && arg == TAG_SIGN1) (major, arg, off) = _headCd(doc, off);
        if (major != 4 || arg != 4) revert NitroDocument__Malformed(0);

        uint256 start;
        uint256 length;
        (start, length, off) = _stringCd(doc, off, 2);
        if (length != 4 || bytes4(doc[start:start + 4]) != ES384_HEADER) revert NitroDocument__NotES384();
        cose.protectedHeader = doc[start:start + 4];

        (major, , ) = _headCd(doc, off);
        if (major != 5) revert NitroDocument__Malformed(off);
        off = _skipCd(doc, off, 0);

        (start, length, off) = _stringCd(doc, off, 2);
        cose.payload = doc[start:start + length];

        (start, length, off) = _stringCd(doc, off, 2);
        if (length != SIGNATURE_LENGTH) revert NitroDocument__BadSignatureLength(length);
        cose.signature = doc[start:start + length];

        if (off != doc.length) revert NitroDocument__Malformed(off);
    }

    /// @notice The COSE Sig_structure `["Signature1", protectedHeader, h'', payload]` (RFC 9052
    /// §4.4): the exact bytes an ES384 signature of the document covers.
    function sigStructure(
        bytes memory protectedHeader,
        bytes memory payload
    ) internal pure returns (bytes memory) {
        return
            abi.encodePacked(
                hex"846a", // array(4), text(10)
                "Signature1",
                _encodeHead(2, protectedHeader.length),
                protectedHeader,
                hex"40", // bstr h''
                _encodeHead(2, payload.length),
                payload
            );
    }

    // ------------------------------------------------------------------ payload (memory)

    /// @notice Decode the payload map (definite or indefinite length). Unknown keys are skipped;
    /// known keys may appear once. Requires `module_id` (text), `digest` = "SHA384", `timestamp`
    /// (positive uint), `pcrs` (non-empty map of index 0..31 → 48 bytes, with PCR0),
    /// `certificate` (bytes) and `cabundle` (non-empty array of bytes); `public_key`,
    /// `user_data` and `nonce` are bytes, null or absent. Nothing may follow the map.
    function decodePayload(bytes memory payload) internal pure returns (Payload memory p) {
        (uint256 major, uint256 count, uint256 off) = _head(payload, 0);
        if (major != 5) revert NitroDocument__Malformed(0);
        uint256 seen;
        for (uint256 i; count == INDEFINITE || i < count; ++i) {
            if (count == INDEFINITE && _byteAt(payload, off) == 0xff) {
                ++off;
                break;
            }
            uint256 field = _keyAt(payload, off);
            if (field == 0) {
                // An unknown key: skip it and its value.
                off = _skip(payload, _skip(payload, off, 0), 0);
                continue;
            }
            if (seen & field != 0) revert NitroDocument__Malformed(off);
            seen |= field;
            (, , off) = _string(payload, off, 3); // past the key
            off = _field(payload, off, field, p);
        }
        if (off != payload.length) revert NitroDocument__Malformed(off);
        _requireAll(seen);
    }

    /// @dev Decode the value at `off` of the known key `field` into `p`; returns the offset past it.
    function _field(
        bytes memory b,
        uint256 off,
        uint256 field,
        Payload memory p
    ) private pure returns (uint256) {
        uint256 start;
        uint256 length;
        if (field == F_MODULE_ID) {
            (, , off) = _string(b, off, 3);
        } else if (field == F_DIGEST) {
            (start, length, ) = _string(b, off, 3);
            if (length != 6 || _word(b, start, 6) != SHA384) revert NitroDocument__Malformed(off);
            off = start + length;
        } else if (field == F_TIMESTAMP) {
            (uint256 major, uint256 arg, uint256 next) = _head(b, off);
            if (major != 0 || arg == 0 || arg > type(uint64).max) revert NitroDocument__Malformed(off);
            p.timestampMs = uint64(arg);
            off = next;
        } else if (field == F_PCRS) {
            off = _pcrs(b, off, p);
        } else if (field == F_CERTIFICATE) {
            (start, length, off) = _string(b, off, 2);
            p.certificate = _copy(b, start, length);
        } else if (field == F_CABUNDLE) {
            off = _cabundle(b, off, p);
        } else {
            bytes memory value;
            (value, off) = _optionalBytes(b, off);
            if (field == F_PUBLIC_KEY) p.publicKey = value;
            else if (field == F_USER_DATA) p.userData = value;
            else p.nonce = value;
        }
        return off;
    }

    /// @dev `pcrs`: a non-empty map of distinct indexes 0..31 to 48-byte strings, with PCR0.
    function _pcrs(bytes memory b, uint256 off, Payload memory p) private pure returns (uint256) {
        (uint256 major, uint256 count, uint256 next) = _head(b, off);
        if (major != 5 || count == 0) revert NitroDocument__Malformed(off);
        off = next;
        uint256 seen;
        for (uint256 i; count == INDEFINITE || i < count; ++i) {
            if (count == INDEFINITE && _byteAt(b, off) == 0xff) {
                ++off;
                break;
            }
            uint256 index;
            (major, index, next) = _head(b, off);
            if (major != 0 || index > 31 || seen & (1 << index) != 0) revert NitroDocument__Malformed(off);
            seen |= 1 << index;
            uint256 start;
            uint256 length;
            (start, length, next) = _string(b, next, 2);
            if (length != PCR_LENGTH) revert NitroDocument__Malformed(off);
            if (index == 0) {
                bool zero;
                assembly ("memory-safe") {
                    let ptr := add(add(b, 32), start)
                    zero := iszero(or(mload(ptr), shr(128, mload(add(ptr, 32)))))
                }
                p.debug = zero;
                p.pcr0 = _copy(b, start, length);
                p.pcr0Hash = keccak256(p.pcr0);
            } else if (index == 1) {
                p.pcr1 = _copy(b, start, length);
            } else if (index == 2) {
                p.pcr2 = _copy(b, start, length);
            }
            off = next;
        }
        if (seen == 0) revert NitroDocument__Malformed(off); // an empty indefinite map
        if (seen & 1 == 0) revert NitroDocument__MissingField("PCR0");
        return off;
    }

    /// @dev `cabundle`: a non-empty array of byte strings, copied in order.
    function _cabundle(bytes memory b, uint256 off, Payload memory p) private pure returns (uint256) {
        (uint256 major, uint256 count, uint256 first) = _head(b, off);
        if (major != 4 || count == 0) revert NitroDocument__Malformed(off);
        uint256 next = first;
        bool indefinite = count == INDEFINITE;
        if (indefinite) {
            // First pass: count the entries (each must be a byte string).
            for (count = 0; _byteAt(b, next) != 0xff; ++count) (, , next) = _string(b, next, 2);
            if (count == 0) revert NitroDocument__Malformed(off);
        } else if (count > b.length - first) {
            revert NitroDocument__Malformed(off); // more entries than bytes left
        }
        bytes[] memory bundle = new bytes[](count);
        next = first;
        for (uint256 i; i < count; ++i) {
            uint256 start;
            uint256 length;
            (start, length, next) = _string(b, next, 2);
            bundle[i] = _copy(b, start, length);
        }
        p.cabundle = bundle;
        return indefinite ? next + 1 : next; // past the break
    }

    /// @dev A byte string, or null / undefined (an empty result).
    function _optionalBytes(
        bytes memory b,
        uint256 off
    ) private pure returns (bytes memory value, uint256 next) {
        uint256 ib = _byteAt(b, off);
        if (ib == 0xf6 || ib == 0xf7) return (value, off + 1);
        uint256 start;
        uint256 length;
        (start, length, next) = _string(b, off, 2);
        value = _copy(b, start, length);
    }

    /// @dev The F_* bit of the text key at `off`, or 0 for any other key (text or not).
    function _keyAt(bytes memory b, uint256 off) private pure returns (uint256) {
        (uint256 major, uint256 length, uint256 start) = _head(b, off);
        if (major != 3 || length < 4 || length > 11) return 0;
        if (length > b.length - start) revert NitroDocument__Malformed(off);
        bytes32 key = _word(b, start, length);
        if (length == 9) {
            if (key == KEY_MODULE_ID) return F_MODULE_ID;
            if (key == KEY_TIMESTAMP) return F_TIMESTAMP;
            if (key == KEY_USER_DATA) return F_USER_DATA;
        } else if (length == 4) {
            if (key == KEY_PCRS) return F_PCRS;
        } else if (length == 5) {
            if (key == KEY_NONCE) return F_NONCE;
        } else if (length == 6) {
            if (key == KEY_DIGEST) return F_DIGEST;
        } else if (length == 8) {
            if (key == KEY_CABUNDLE) return F_CABUNDLE;
        } else if (length == 10) {
            if (key == KEY_PUBLIC_KEY) return F_PUBLIC_KEY;
        } else if (length == 11) {
            if (key == KEY_CERTIFICATE) return F_CERTIFICATE;
        }
        return 0;
    }

    /// @dev Revert with the name of the first required field missing from `seen`.
    function _requireAll(uint256 seen) private pure {
        if (seen & F_MODULE_ID == 0) revert NitroDocument__MissingField(KEY_MODULE_ID);
        if (seen & F_DIGEST == 0) revert NitroDocument__MissingField(KEY_DIGEST);
        if (seen & F_TIMESTAMP == 0) revert NitroDocument__MissingField(KEY_TIMESTAMP);
        if (seen & F_PCRS == 0) revert NitroDocument__MissingField(KEY_PCRS);
        if (seen & F_CERTIFICATE == 0) revert NitroDocument__MissingField(KEY_CERTIFICATE);
        if (seen & F_CABUNDLE == 0) revert NitroDocument__MissingField(KEY_CABUNDLE);
    }

    // ------------------------------------------------------------------ CBOR reader (memory)

    /// @dev The byte at `off`; reverts past the end.
    function _byteAt(bytes memory b, uint256 off) private pure returns (uint256 v) {
        if (off >= b.length) revert NitroDocument__Malformed(off);
        assembly ("memory-safe") {
            v := byte(0, mload(add(add(b, 32), off)))
        }
    }

    /// @dev The `length` (≤ 32) bytes at `start`, left-aligned; the caller has checked bounds.
    function _word(bytes memory b, uint256 start, uint256 length) private pure returns (bytes32 w) {
        assembly ("memory-safe") {
            w := and(mload(add(add(b, 32), start)), not(shr(shl(3, length), not(0))))
        }
    }

    /// @dev The head at `off`: major type, argument (INDEFINITE for additional info 31) and the
    /// offset after the head. Reverts on reserved additional info 28..30 or a truncated head.
    function _head(
        bytes memory b,
        uint256 off
    ) private pure returns (uint256 major, uint256 arg, uint256 next) {
        uint256 ib = _byteAt(b, off);
        major = ib >> 5;
        uint256 info = ib & 31;
        unchecked {
            next = off + 1;
        }
        if (info < 24) return (major, info, next);
        if (info == 31) return (major, INDEFINITE, next);
        if (info > 27) revert NitroDocument__Malformed(off);
        uint256 n = 1 << (info - 24); // 1, 2, 4 or 8 bytes
        if (n > b.length - next) revert NitroDocument__Malformed(off);
        assembly ("memory-safe") {
            arg := shr(sub(256, shl(3, n)), mload(add(add(b, 32), next)))
        }
        unchecked {
            next += n;
        }
    }

    /// @dev A definite byte (major 2) or text (major 3) string at `off`: its content's offset and
    /// length, and the offset after it. Reverts if it runs past the end.
    function _string(
        bytes memory b,
        uint256 off,
        uint256 wantMajor
    ) private pure returns (uint256 start, uint256 length, uint256 next) {
        uint256 major;
        (major, length, start) = _head(b, off);
        if (major != wantMajor || length > b.length - start) revert NitroDocument__Malformed(off);
        unchecked {
            next = start + length;
        }
    }

    /// @dev The offset after the whole value at `off`.
    function _skip(bytes memory b, uint256 off, uint256 depth) private pure returns (uint256) {
        if (depth > MAX_DEPTH) revert NitroDocument__Malformed(off);
        (uint256 major, uint256 arg, uint256 next) = _head(b, off);
        if (major == 2 || major == 3) {
            if (arg > b.length - next) revert NitroDocument__Malformed(off); // also refuses INDEFINITE
            unchecked {
                return next + arg;
            }
        }
        if (major == 4 || major == 5) {
            uint256 perItem = major == 5 ? 2 : 1;
            if (arg == INDEFINITE) {
                while (_byteAt(b, next) != 0xff) {
                    for (uint256 j; j < perItem; ++j) next = _skip(b, next, depth + 1);
                }
                return next + 1;
            }
            if (arg > b.length - next) revert NitroDocument__Malformed(off); // each item takes a byte
            for (uint256 i; i < arg * perItem; ++i) next = _skip(b, next, depth + 1);
            return next;
        }
        if (arg == INDEFINITE) revert NitroDocument__Malformed(off); // a stray break, or 0x1f/0x3f/0xdf
        if (major == 6) return _skip(b, next, depth + 1);
        return next; // integers and simple values / floats
    }

    /// @dev A copy of `length` bytes at `start`; the caller has checked bounds.
    function _copy(bytes memory b, uint256 start, uint256 length) private pure returns (bytes memory out) {
        assembly ("memory-safe") {
            out := mload(0x40)
            mstore(out, length)
            let data := add(out, 32)
            mcopy(data, add(add(b, 32), start), length)
            let end := add(data, length)
            mstore(end, 0) // zero the last word's padding
            mstore(0x40, and(add(end, 31), not(31)))
        }
    }

    /// @dev The head of major type `major` with argument `arg`, shortest form.
    function _encodeHead(uint8 major, uint256 arg) private pure returns (bytes memory) {
        uint8 m = major << 5;
        if (arg < 24) return abi.encodePacked(m | uint8(arg));
        if (arg <= type(uint8).max) return abi.encodePacked(m | 24, uint8(arg));
        if (arg <= type(uint16).max) return abi.encodePacked(m | 25, uint16(arg));
        if (arg <= type(uint32).max) return abi.encodePacked(m | 26, uint32(arg));
        return abi.encodePacked(m | 27, uint64(arg));
    }

    // ------------------------------------------------------------------ CBOR reader (calldata)

    /// @dev `_head` over calldata.
    function _headCd(
        bytes calldata b,
        uint256 off
    ) private pure returns (uint256 major, uint256 arg, uint256 next) {
        if (off >= b.length) revert NitroDocument__Malformed(off);
        uint256 ib = uint8(b[off]);
        major = ib >> 5;
        uint256 info = ib & 31;
        unchecked {
            next = off + 1;
        }
        if (info < 24) return (major, info, next);
        if (info == 31) return (major, INDEFINITE, next);
        if (info > 27) revert NitroDocument__Malformed(off);
        uint256 n = 1 << (info - 24);
        if (n > b.length - next) revert NitroDocument__Malformed(off);
        assembly {
            arg := shr(sub(256, shl(3, n)), calldataload(add(b.offset, next)))
        }
        unchecked {
            next += n;
        }
    }

    /// @dev `_string` over calldata.
    function _stringCd(
        bytes calldata b,
        uint256 off,
        uint256 wantMajor
    ) private pure returns (uint256 start, uint256 length, uint256 next) {
        uint256 major;
        (major, length, start) = _headCd(b, off);
        if (major != wantMajor || length > b.length - start) revert NitroDocument__Malformed(off);
        unchecked {
            next = start + length;
        }
    }

    /// @dev `_skip` over calldata (for the unprotected header).
    function _skipCd(bytes calldata b, uint256 off, uint256 depth) private pure returns (uint256) {
        if (depth > MAX_DEPTH) revert NitroDocument__Malformed(off);
        (uint256 major, uint256 arg, uint256 next) = _headCd(b, off);
        if (major == 2 || major == 3) {
            if (arg > b.length - next) revert NitroDocument__Malformed(off);
            unchecked {
                return next + arg;
            }
        }
        if (major == 4 || major == 5) {
            uint256 perItem = major == 5 ? 2 : 1;
            if (arg == INDEFINITE) {
                while (true) {
                    if (next >= b.length) revert NitroDocument__Malformed(next);
                    if (uint8(b[next]) == 0xff) return next + 1;
                    for (uint256 j; j < perItem; ++j) next = _skipCd(b, next, depth + 1);
                }
            }
            if (arg > b.length - next) revert NitroDocument__Malformed(off);
            for (uint256 i; i < arg * perItem; ++i) next = _skipCd(b, next, depth + 1);
            return next;
        }
        if (arg == INDEFINITE) revert NitroDocument__Malformed(off);
        if (major == 6) return _skipCd(b, next, depth + 1);
        return next;
    }
}
