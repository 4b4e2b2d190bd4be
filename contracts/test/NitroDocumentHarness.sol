// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {NitroDocument} from "../libraries/NitroDocument.sol";

/// @title NitroDocumentHarness
/// @notice TEST ONLY. Exposes NitroDocument for unit tests against src/tee/attestation.ts.
contract NitroDocumentHarness {
    /// @notice `NitroDocument.decodeCose`.
    function decodeCose(bytes calldata doc) external pure returns (NitroDocument.Cose memory) {
        return NitroDocument.decodeCose(doc);
    }

    /// @notice `NitroDocument.sigStructure`.
    function sigStructure(
        bytes calldata protectedHeader,
        bytes calldata payload
    ) external pure returns (bytes memory) {
        return NitroDocument.sigStructure(protectedHeader, payload);
    }

    /// @notice `NitroDocument.decodePayload`.
    function decodePayload(bytes calldata payload) external pure returns (NitroDocument.Payload memory) {
        return NitroDocument.decodePayload(payload);
    }

    /// @notice `decodeCose` then `decodePayload` of a whole document, returning the payload.
    function decodeDocument(bytes calldata doc) external pure returns (NitroDocument.Payload memory) {
        return NitroDocument.decodePayload(NitroDocument.decodeCose(doc).payload);
    }

    /// @notice `decodeCose` then `decodePayload`, returning only small values so that the gas of
    /// a call is the gas of decoding (not of ABI-encoding kilobytes of certificates), plus the
    /// gas the two library calls used inside the call.
    function measure(
        bytes calldata doc
    )
        external
        view
        returns (uint64 timestampMs, bytes32 pcr0Hash, bool debug, uint256 cabundleLength, uint256 decodeGas)
    {
        uint256 before = gasleft();
        NitroDocument.Payload memory p = NitroDocument.decodePayload(NitroDocument.decodeCose(doc).payload);
        decodeGas = before - gasleft();
        return (p.timestampMs, p.pcr0Hash, p.debug, p.cabundle.length, decodeGas);
    }
}
