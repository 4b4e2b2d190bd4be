// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAttestationVerifier} from "../interfaces/IAttestationVerifier.sol";

/// @title X509
/// @notice Reads a DER X.509 v3 certificate (RFC 5280) signed with ecdsa-with-SHA384 over a
/// P-384 key, as the AWS Nitro Enclaves chain is. Structure only: nothing read here is trusted
/// until the signature over `tbs` is checked with the issuer's key.
/// @dev Every element's length is checked against its parent's, and every constructed element
/// must be consumed exactly. Lengths must be DER (definite, minimal, at most 4 bytes); each tag is
/// the one X.509 puts there. Names are not decoded: they are compared by the keccak256 of their
/// DER. Extensions other than basicConstraints are skipped, critical or not: the verifier pins its
/// root, and the chains under it (AWS Nitro's) mark only basicConstraints and keyUsage critical.
/// An empty extension list (RFC 5280 asks for at least one; some encoders write it) is read as none.
library X509 {
    /// @notice What a certificate says, as read by `parse`.
    /// @param tbs the DER of the TBSCertificate (the bytes the issuer signed)
    /// @param issuerHash keccak256 of the DER of the issuer Name
    /// @param subjectHash keccak256 of the DER of the subject Name
    /// @param notBefore start of validity (unix seconds; 0 for a time before 1970)
    /// @param notAfter end of validity (unix seconds; 0 for a time before 1970)
    /// @param ca basicConstraints cA (false without basicConstraints)
    /// @param pathLen basicConstraints pathLenConstraint, 255 when absent or above 254; 0 when not a CA
    /// @param publicKey the P-384 point x ‖ y (96 bytes)
    /// @param signature the issuer's ECDSA signature r ‖ s (48 bytes each)
    struct Parsed {
        bytes tbs;
        bytes32 issuerHash;
        bytes32 subjectHash;
        uint64 notBefore;
        uint64 notAfter;
        bool ca;
        uint8 pathLen;
        bytes publicKey;
        bytes signature;
    }

    uint256 private constant BOOLEAN = 0x01;
    uint256 private constant INTEGER = 0x02;
    uint256 private constant BIT_STRING = 0x03;
    uint256 private constant OCTET_STRING = 0x04;
    uint256 private constant OID = 0x06;
    uint256 private constant UTC_TIME = 0x17;
    uint256 private constant GENERALIZED_TIME = 0x18;
    uint256 private constant SEQUENCE = 0x30;
    /// @dev TBSCertificate's `version [0] EXPLICIT`.
    uint256 private constant VERSION = 0xa0;
    /// @dev TBSCertificate's `issuerUniqueID [1] IMPLICIT` and `subjectUniqueID [2] IMPLICIT`.
    uint256 private constant ISSUER_UID = 0x81;
    uint256 private constant SUBJECT_UID = 0x82;
    /// @dev TBSCertificate's `extensions [3] EXPLICIT`.
    uint256 private constant EXTENSIONS = 0xa3;

    /// @dev AlgorithmIdentifier { ecdsa-with-SHA384 (1.2.840.10045.4.3.3) }, without parameters
    /// (RFC 5758 §3.2), left-aligned: 30 0a 06 08 2a 86 48 ce 3d 04 03 03.
    bytes32 private constant ECDSA_SHA384 = bytes32(bytes12(0x300a06082a8648ce3d040303));
    uint256 private constant ECDSA_SHA384_LENGTH = 12;
    /// @dev AlgorithmIdentifier { id-ecPublicKey (1.2.840.10045.2.1), secp384r1 (1.3.132.0.34) },
    /// left-aligned: 30 10 06 07 2a 86 48 ce 3d 02 01 06 05 2b 81 04 00 22.
    bytes32 private constant EC_P384 = bytes32(bytes18(0x301006072a8648ce3d020106052b81040022));
    uint256 private constant EC_P384_LENGTH = 18;
    /// @dev The extension id basicConstraints (2.5.29.19) with its OID header: 06 03 55 1d 13, left-aligned.
    bytes32 private constant BASIC_CONSTRAINTS = bytes32(bytes5(0x0603551d13));

    uint256 private constant COORDINATE = 48;
    /// @dev BIT STRING content of an uncompressed P-384 point: 0 unused bits, 0x04, x, y.
    uint256 private constant POINT_BITS_LENGTH = 98;
    uint256 private constant UNLIMITED = 255;
    /// @dev Days from 0000-03-01 to 1970-01-01 in the proleptic Gregorian calendar.
    uint256 private constant EPOCH_DAYS = 719468;

    /// @notice Reads the certificate `der` (exactly one DER Certificate, nothing after it).
    /// Reverts `Enclave__MalformedCertificate(offset)` where the DER or the X.509 structure is
    /// broken, and `Enclave__UnsupportedAlgorithm()` for a signature algorithm other than
    /// ecdsa-with-SHA384 (inner or outer) or a key that is not an uncompressed P-384 point.
    function parse(bytes memory der) internal pure returns (Parsed memory c) {
        // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
        (uint256 start, uint256 end) = _expect(der, 0, der.length, SEQUENCE);
        if (end != der.length) _malformed(end);
        (uint256 tbsStart, uint256 tbsEnd) = _expect(der, start, end, SEQUENCE);
        c.tbs = _copy(der, start, tbsEnd - start);
        _tbsCertificate(der, tbsStart, tbsEnd, c);
        uint256 off = _signatureAlgorithm(der, tbsEnd, end);
        (uint256 bits, uint256 bitsEnd) = _expect(der, off, end, BIT_STRING);
        if (bitsEnd != end) _malformed(bitsEnd);
        c.signature = _ecdsaSignature(der, bits, bitsEnd);
    }

    // ------------------------------------------------------------------ TBSCertificate

    /// @dev version, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo,
    /// then the optional unique ids and extensions, within [off, end).
    function _tbsCertificate(bytes memory der, uint256 off, uint256 end, Parsed memory c) private pure {
        uint256 version; // v1 when absent
        uint256 start;
        uint256 stop;
        if (_tagAt(der, off, end) == VERSION) {
            (start, stop) = _expect(der, off, end, VERSION);
            uint256 inner;
            (inner, off) = _expect(der, start, stop, INTEGER);
            if (off != stop || off - inner != 1 || uint8(der[inner]) > 2) _malformed(start);
            version = uint8(der[inner]);
        }
        (start, off) = _expect(der, off, end, INTEGER); // serialNumber
        if (off == start) _malformed(start);
        off = _signatureAlgorithm(der, off, end);

        (, stop) = _expect(der, off, end, SEQUENCE); // issuer Name
        c.issuerHash = _hash(der, off, stop - off);
        off = stop;

        (start, stop) = _expect(der, off, end, SEQUENCE); // validity
        (c.notBefore, start) = _time(der, start, stop);
        (c.notAfter, start) = _time(der, start, stop);
        if (start != stop) _malformed(start);
        off = stop;

        (, stop) = _expect(der, off, end, SEQUENCE); // subject Name
        c.subjectHash = _hash(der, off, stop - off);
        off = stop;

        off = _subjectPublicKeyInfo(der, off, end, c);

        if (version > 0) {
            if (_tagAt(der, off, end) == ISSUER_UID) (, off) = _expect(der, off, end, ISSUER_UID);
            if (_tagAt(der, off, end) == SUBJECT_UID) (, off) = _expect(der, off, end, SUBJECT_UID);
        }
        if (version == 2 && _tagAt(der, off, end) == EXTENSIONS) off = _extensions(der, off, end, c);
        if (off != end) _malformed(off);
    }

    /// @dev An AlgorithmIdentifier that must be ecdsa-with-SHA384; returns the offset past it.
    function _signatureAlgorithm(bytes memory der, uint256 off, uint256 end) private pure returns (uint256) {
        (, uint256 stop) = _expect(der, off, end, SEQUENCE);
        if (stop - off != ECDSA_SHA384_LENGTH || _word(der, off, ECDSA_SHA384_LENGTH) != ECDSA_SHA384) {
            revert IAttestationVerifier.Enclave__UnsupportedAlgorithm();
        }
        return stop;
    }

    /// @dev SubjectPublicKeyInfo { id-ecPublicKey secp384r1, BIT STRING 0x04 ‖ x ‖ y }.
    function _subjectPublicKeyInfo(
        bytes memory der,
        uint256 off,
        uint256 end,
        Parsed memory c
    ) private pure returns (uint256) {
        (uint256 start, uint256 stop) = _expect(der, off, end, SEQUENCE);
        (, uint256 algEnd) = _expect(der, start, stop, SEQUENCE);
        if (algEnd - start != EC_P384_LENGTH || _word(der, start, EC_P384_LENGTH) != EC_P384) {
            revert IAttestationVerifier.Enclave__UnsupportedAlgorithm();
        }
        (uint256 bits, uint256 bitsEnd) = _expect(der, algEnd, stop, BIT_STRING);
        if (bitsEnd != stop || bits == bitsEnd || uint8(der[bits]) != 0) _malformed(algEnd);
        // an uncompressed point only (no compressed or hybrid encodings)
        if (bitsEnd - bits != POINT_BITS_LENGTH || uint8(der[bits + 1]) != 0x04) {
            revert IAttestationVerifier.Enclave__UnsupportedAlgorithm();
        }
        c.publicKey = _copy(der, bits + 2, 2 * COORDINATE);
        return stop;
    }

    /// @dev `extensions [3] EXPLICIT SEQUENCE OF Extension`; reads basicConstraints (at most once).
    function _extensions(
        bytes memory der,
        uint256 off,
        uint256 end,
        Parsed memory c
    ) private pure returns (uint256) {
        (uint256 start, uint256 stop) = _expect(der, off, end, EXTENSIONS);
        (uint256 p, uint256 listEnd) = _expect(der, start, stop, SEQUENCE);
        // RFC 5280 asks for at least one extension; an empty list (as some encoders write) is none
        if (listEnd != stop) _malformed(listEnd);
        bool seen;
        while (p < listEnd) {
            bool basic;
            (basic, p) = _extension(der, p, listEnd, c);
            if (basic && seen) _malformed(p);
            seen = seen || basic;
        }
        return stop;
    }

    /// @dev Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET
    /// STRING }; reads it into `c` if it is basicConstraints (and says so). Returns the offset past it.
    function _extension(
        bytes memory der,
        uint256 off,
        uint256 end,
        Parsed memory c
    ) private pure returns (bool basic, uint256 stop) {
        uint256 p;
        (p, stop) = _expect(der, off, end, SEQUENCE);
        uint256 id = p;
        (, p) = _expect(der, p, stop, OID);
        basic = p - id == 5 && _word(der, id, 5) == BASIC_CONSTRAINTS;
        if (_tagAt(der, p, stop) == BOOLEAN) (, p) = _boolean(der, p, stop);
        uint256 value;
        (value, p) = _expect(der, p, stop, OCTET_STRING);
        if (p != stop) _malformed(p);
        if (basic) _basicConstraints(der, value, stop, c);
    }

    /// @dev BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }.
    function _basicConstraints(bytes memory der, uint256 off, uint256 end, Parsed memory c) private pure {
        (uint256 p, uint256 stop) = _expect(der, off, end, SEQUENCE);
        if (stop != end) _malformed(stop);
        bool ca;
        uint256 pathLen = UNLIMITED;
        if (_tagAt(der, p, stop) == BOOLEAN) (ca, p) = _boolean(der, p, stop);
        if (_tagAt(der, p, stop) == INTEGER) {
            uint256 start;
            (start, p) = _expect(der, p, stop, INTEGER);
            if (p == start || uint8(der[start]) >= 0x80) _malformed(start); // empty or negative
            while (start < p - 1 && der[start] == 0) ++start;
            // more than one significant byte: far above any real chain's length
            if (p - start == 1 && uint8(der[start]) < UNLIMITED) pathLen = uint8(der[start]);
        }
        if (p != stop) _malformed(p);
        c.ca = ca;
        c.pathLen = ca ? uint8(pathLen) : 0;
    }

    // ------------------------------------------------------------------ values

    /// @dev A DER BOOLEAN (0xff or 0x00); returns it and the offset past it.
    function _boolean(bytes memory der, uint256 off, uint256 end) private pure returns (bool, uint256) {
        (uint256 start, uint256 stop) = _expect(der, off, end, BOOLEAN);
        if (stop - start != 1) _malformed(off);
        uint8 v = uint8(der[start]);
        if (v != 0 && v != 0xff) _malformed(start);
        return (v == 0xff, stop);
    }

    /// @dev A UTCTime (YYMMDDHHMMSSZ; YY >= 50 is 19YY, else 20YY, RFC 5280 §4.1.2.5.1) or a
    /// GeneralizedTime (YYYYMMDDHHMMSSZ), as unix seconds (0 before 1970); returns the offset past it.
    function _time(bytes memory der, uint256 off, uint256 end) private pure returns (uint64, uint256) {
        uint256 tag = _tagAt(der, off, end);
        (uint256 p, uint256 stop) = _expect(der, off, end, tag);
        uint256 year;
        if (tag == UTC_TIME && stop - p == 13) {
            year = _digits(der, p, off);
            year += year >= 50 ? 1900 : 2000;
            p += 2;
        } else if (tag == GENERALIZED_TIME && stop - p == 15) {
            year = _digits(der, p, off) * 100 + _digits(der, p + 2, off);
            p += 4;
        } else {
            _malformed(off);
        }
        uint256 month = _digits(der, p, off);
        uint256 day = _digits(der, p + 2, off);
        uint256 hour = _digits(der, p + 4, off);
        uint256 minute = _digits(der, p + 6, off);
        uint256 second = _digits(der, p + 8, off);
        if (
            der[p + 10] != "Z" ||
            month == 0 ||
            month > 12 ||
            day == 0 ||
            day > _daysInMonth(year, month) ||
            hour > 23 ||
            minute > 59 ||
            second > 59
        ) _malformed(off);
        if (year < 1970) return (0, stop);
        return (uint64(_daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second), stop);
    }

    /// @dev Two ASCII decimal digits at `p` (the caller has checked bounds).
    function _digits(bytes memory der, uint256 p, uint256 off) private pure returns (uint256) {
        uint256 hi = uint8(der[p]);
        uint256 lo = uint8(der[p + 1]);
        if (hi < 0x30 || hi > 0x39 || lo < 0x30 || lo > 0x39) _malformed(off);
        return (hi - 0x30) * 10 + (lo - 0x30);
    }

    function _daysInMonth(uint256 year, uint256 month) private pure returns (uint256) {
        if (month == 2) return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28;
        return month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31;
    }

    /// @dev Days since 1970-01-01 of a date in 1970 or later (the proleptic Gregorian calendar,
    /// counted from 0000-03-01 in 400-year eras so that the leap day ends each year).
    function _daysFromCivil(uint256 year, uint256 month, uint256 day) private pure returns (uint256) {
        if (month <= 2) year -= 1; // year >= 1970: no underflow
        uint256 era = year / 400;
        uint256 yearOfEra = year - era * 400;
        uint256 dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
        uint256 dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
        return era * 146097 + dayOfEra - EPOCH_DAYS;
    }

    /// @dev ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }, in a BIT STRING with no
    /// unused bits, as r ‖ s (48 bytes each, big-endian, left-padded with zeros).
    function _ecdsaSignature(
        bytes memory der,
        uint256 off,
        uint256 end
    ) private pure returns (bytes memory sig) {
        if (off == end || uint8(der[off]) != 0) _malformed(off);
        (uint256 p, uint256 stop) = _expect(der, off + 1, end, SEQUENCE);
        if (stop != end) _malformed(stop);
        sig = new bytes(2 * COORDINATE);
        p = _integer48(der, p, stop, sig, 0);
        p = _integer48(der, p, stop, sig, COORDINATE);
        if (p != stop) _malformed(p);
    }

    /// @dev A non-negative INTEGER of at most 48 significant bytes, written right-aligned into
    /// `out[at : at + 48]`; returns the offset past it.
    function _integer48(
        bytes memory der,
        uint256 off,
        uint256 end,
        bytes memory out,
        uint256 at
    ) private pure returns (uint256) {
        (uint256 start, uint256 stop) = _expect(der, off, end, INTEGER);
        if (stop == start || uint8(der[start]) >= 0x80) _malformed(off); // empty or negative
        while (start < stop && der[start] == 0) ++start;
        uint256 length = stop - start;
        if (length > COORDINATE) _malformed(off);
        assembly ("memory-safe") {
            mcopy(add(add(out, 32), sub(add(at, 48), length)), add(add(der, 32), start), length)
        }
        return stop;
    }

    // ------------------------------------------------------------------ DER reader

    /// @dev The tag at `off`, or 0 (no DER tag here) when `off` is at or past `end`.
    function _tagAt(bytes memory der, uint256 off, uint256 end) private pure returns (uint256) {
        return off < end ? uint8(der[off]) : 0;
    }

    /// @dev The element at `off` must have tag `tag` and lie within `end` (<= der.length);
    /// returns the offsets of its content and of its end.
    function _expect(
        bytes memory der,
        uint256 off,
        uint256 end,
        uint256 tag
    ) private pure returns (uint256 start, uint256 stop) {
        // the tag and the first length byte
        if (end < 2 || off > end - 2 || uint8(der[off]) != tag) _malformed(off);
        uint256 length = uint8(der[off + 1]);
        start = off + 2;
        if (length >= 0x80) {
            uint256 n = length & 0x7f;
            // definite long form, 1 to 4 length bytes, within bounds, first byte non-zero
            if (n == 0 || n > 4 || n > end - start || der[start] == 0) _malformed(off);
            length = 0;
            for (uint256 i; i < n; ++i) length = (length << 8) | uint8(der[start + i]);
            start += n;
            if (length < 0x80) _malformed(off); // DER: the short form was required
        }
        if (length > end - start) _malformed(off);
        stop = start + length;
    }

    /// @dev keccak256 of `der[start : start + length]` (bounds checked by the caller).
    function _hash(bytes memory der, uint256 start, uint256 length) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            h := keccak256(add(add(der, 32), start), length)
        }
    }

    /// @dev The `length` (<= 32) bytes at `start`, left-aligned (bounds checked by the caller).
    function _word(bytes memory der, uint256 start, uint256 length) private pure returns (bytes32 w) {
        assembly ("memory-safe") {
            w := and(mload(add(add(der, 32), start)), not(shr(shl(3, length), not(0))))
        }
    }

    /// @dev A copy of `der[start : start + length]` (bounds checked by the caller).
    function _copy(bytes memory der, uint256 start, uint256 length) private pure returns (bytes memory out) {
        out = new bytes(length);
        assembly ("memory-safe") {
            mcopy(add(out, 32), add(add(der, 32), start), length)
        }
    }

    function _malformed(uint256 offset) private pure {
        revert IAttestationVerifier.Enclave__MalformedCertificate(offset);
    }
}
