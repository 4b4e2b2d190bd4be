// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ToggleVerifier
/// @notice TEST ONLY: an attacker's verifier whose behaviour its deployer can change at will
/// (accept everything, then reject everything). It reproduces the "mutable verifier" attack: the
/// registry runs its own copy of the code, where no constructor ran, so nobody owns the switch.
contract ToggleVerifier {
    /// @notice Who may flip the switch (set by the constructor; zero in the registry's copy).
    address public owner;
    /// @notice Whether every proof is rejected.
    bool public rejecting;

    /// @notice Only the owner may flip the switch.
    error ToggleVerifier__NotOwner(address caller);

    constructor() {
        owner = msg.sender;
    }

    /// @notice Makes this deployment accept (false) or reject (true) every proof.
    function setRejecting(bool rejecting_) external {
        if (msg.sender != owner) revert ToggleVerifier__NotOwner(msg.sender);
        rejecting = rejecting_;
    }

    /// @notice Answers any `verifyProof` call with the switch's position.
    fallback(bytes calldata) external returns (bytes memory) {
        return abi.encode(!rejecting);
    }
}
