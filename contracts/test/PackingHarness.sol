// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {FixedPointPacking} from "../libraries/FixedPointPacking.sol";

/// @title PackingHarness
/// @notice TEST ONLY. Exposes FixedPointPacking for unit tests against the TypeScript reference.
contract PackingHarness {
    /// @notice `FixedPointPacking.pack`.
    function pack(int256[] calldata values, uint8 valueBits) external pure returns (uint256[] memory) {
        return FixedPointPacking.pack(values, valueBits);
    }

    /// @notice `FixedPointPacking.unpack`.
    function unpack(
        uint256[] calldata words,
        uint256 length,
        uint8 valueBits
    ) external pure returns (int256[] memory) {
        return FixedPointPacking.unpack(words, length, valueBits);
    }

    /// @notice `FixedPointPacking.inRange`.
    function inRange(int256 value, uint8 valueBits) external pure returns (bool) {
        return FixedPointPacking.inRange(value, valueBits);
    }

    /// @notice `FixedPointPacking.valuesPerWord`.
    function valuesPerWord(uint8 valueBits) external pure returns (uint256) {
        return FixedPointPacking.valuesPerWord(valueBits);
    }

    /// @notice `FixedPointPacking.wordCount`.
    function wordCount(uint256 length, uint8 valueBits) external pure returns (uint256) {
        return FixedPointPacking.wordCount(length, valueBits);
    }
}
