// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title EmptyReturnVerifier
/// @notice TEST ONLY: a "verifier" whose every call succeeds and returns no data at all. The
/// precompile must not count a successful call as a valid proof unless it returns the word 1.
contract EmptyReturnVerifier {
    /// @notice Succeeds with empty return data for any selector.
    fallback() external {}
}
