// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title MockVerifier
/// @notice TEST ONLY. It exists solely to test the precompile's request state machine and its
/// bookkeeping (states, bonds, fees, hooks, deadlines). It checks NO proof: it answers any
/// `verifyProof` call with a settable bool. Proof soundness is tested with real snarkjs
/// verifiers and real proofs elsewhere; never register this contract outside tests.
/// @dev The registry deploys a verifier's runtime code itself (no constructor runs), so every
/// setting defaults to zero storage: accept, answer normally, any calldata.
contract MockVerifier {
    /// @notice How the mock answers.
    enum Behaviour {
        ReturnResult, // return abi.encode(result)
        Revert, // revert with MockVerifier__Reverted()
        ShortReturn // return a single byte 0x01
    }

    /// @dev Stored negated so that fresh storage means "accept".
    bool private _rejects;
    /// @notice The current behaviour.
    Behaviour public behaviour;
    /// @notice When non-zero, `result` is only returned if keccak256(calldata) equals this; else false.
    bytes32 public expectedCalldataHash;

    /// @notice Sets the bool returned for every call.
    function setResult(bool result_) external {
        _rejects = !result_;
    }

    /// @notice The bool returned in `ReturnResult` mode.
    function result() public view returns (bool) {
        return !_rejects;
    }

    /// @notice Makes the mock revert or return malformed data.
    function setBehaviour(Behaviour behaviour_) external {
        behaviour = behaviour_;
    }

    /// @notice Makes the mock accept only one exact calldata (to test the call encoding).
    function expectCalldata(bytes32 calldataHash) external {
        expectedCalldataHash = calldataHash;
    }

    /// @notice Raised in `Revert` mode.
    error MockVerifier__Reverted();

    /// @notice Answers any selector, like a verifier would answer `verifyProof`.
    // solhint-disable-next-line no-complex-fallback
    fallback(bytes calldata data) external returns (bytes memory) {
        Behaviour b = behaviour;
        if (b == Behaviour.Revert) revert MockVerifier__Reverted();
        if (b == Behaviour.ShortReturn) return hex"01";
        bytes32 expected = expectedCalldataHash;
        return abi.encode(!_rejects && (expected == bytes32(0) || keccak256(data) == expected));
    }
}
