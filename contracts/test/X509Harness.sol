// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {X509} from "../libraries/X509.sol";

/// @title X509Harness
/// @notice TEST ONLY. Exposes the X509 certificate reader for unit tests against node:crypto.
contract X509Harness {
    /// @notice `X509.parse`.
    function parse(bytes calldata der) external pure returns (X509.Parsed memory) {
        return X509.parse(der);
    }

    /// @notice `X509.parse`, returning only the gas it used inside the call.
    function measure(bytes calldata der) external view returns (uint256 parseGas) {
        uint256 before = gasleft();
        X509.parse(der);
        return before - gasleft();
    }
}
