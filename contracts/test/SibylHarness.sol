// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Sibyl} from "../libraries/SibylAddresses.sol";

/// @title SibylHarness
/// @notice TEST ONLY. Exposes the `Sibyl` library's pure economics (stake grossing-up, slash
/// compensation, required fee) so tests can check them against formulas written out in TypeScript.
contract SibylHarness {
    /// @notice `Sibyl.stakeFor`, exposed.
    function stakeFor(uint256 valueAtRisk) external pure returns (uint256) {
        return Sibyl.stakeFor(valueAtRisk);
    }

    /// @notice `Sibyl.slashCompensation`, exposed.
    function slashCompensation(uint256 stake) external pure returns (uint256) {
        return Sibyl.slashCompensation(stake);
    }

    /// @notice `Sibyl.requiredFee`, exposed.
    function requiredFee(
        uint256 baseFee,
        uint256 callbackGasPrice,
        uint256 callbackGasLimit
    ) external pure returns (uint256) {
        return Sibyl.requiredFee(baseFee, callbackGasPrice, callbackGasLimit);
    }
}
