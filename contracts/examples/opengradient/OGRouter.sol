// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IrisClassifierOG} from "./IrisClassifierOG.sol";

/// @title OGRouter
/// @notice Forwards a classification to an IrisClassifierOG, so the inference runs one call
/// below the transaction's entry point.
contract OGRouter {
    /// @notice A classification was forwarded to `target`.
    event Routed(address indexed target, int128 species);

    /// @notice `IrisClassifierOG(target).classify(cm, decimals)`.
    function classify(
        address target,
        int128[4] calldata cm,
        int128 decimals
    ) external returns (int128 species) {
        species = IrisClassifierOG(target).classify(cm, decimals);
        emit Routed(target, species);
    }
}
