// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "../interfaces/IInference.sol";

/// @title FixedPointPacking
/// @notice Packs signed fixed-point vectors into BN254 field elements exactly as the model
/// circuits do (docs/protocol.md, "Public signals"): `K = 253 / b` values share a word, and
/// value `j` is stored, offset by `2^(b-1)` so it is non-negative, at bit `b * (j % K)` of
/// word `j / K`.
/// @dev Every function assumes `2 <= valueBits <= 126`, which the ModelRegistry enforces.
/// Since `K * b <= 253`, a word is below `2^253`, hence below the field modulus.
library FixedPointPacking {
    /// @notice Bits of a field element that carry packed values.
    uint256 internal constant WORD_BITS = 253;

    /// @notice How many `valueBits`-bit values share one word.
    function valuesPerWord(uint8 valueBits) internal pure returns (uint256) {
        return WORD_BITS / valueBits;
    }

    /// @notice How many words a vector of `length` values packs into.
    function wordCount(uint256 length, uint8 valueBits) internal pure returns (uint256) {
        uint256 k = WORD_BITS / valueBits;
        return (length + k - 1) / k;
    }

    /// @notice Whether `value` is a signed `valueBits`-bit integer: `-2^(b-1) <= value < 2^(b-1)`.
    function inRange(int256 value, uint8 valueBits) internal pure returns (bool) {
        int256 half = int256(1) << (valueBits - 1);
        return value >= -half && value < half;
    }

    /// @notice Range-checks and packs `values`.
    /// @dev Reverts with `IInference.Inference__ValueOutOfRange(index, value, valueBits)` at the
    /// first value outside the signed range.
    function pack(int256[] calldata values, uint8 valueBits) internal pure returns (uint256[] memory words) {
        return pack(values, valueBits, 0);
    }

    /// @notice Packs `values` as `pack(values, valueBits)` does, then appends `extraWord` as one
    /// more word unless it is zero (the precompile stores a private-weights model's commitment
    /// right after the input words, where the circuit expects it among the public signals).
    function pack(
        int256[] calldata values,
        uint8 valueBits,
        uint256 extraWord
    ) internal pure returns (uint256[] memory words) {
        uint256 k = WORD_BITS / valueBits;
        uint256 n = values.length;
        uint256 packed = (n + k - 1) / k;
        words = new uint256[](extraWord == 0 ? packed : packed + 1);
        int256 half = int256(1) << (valueBits - 1);
        for (uint256 i; i < n; ++i) {
            int256 v = values[i];
            if (v < -half || v >= half) revert IInference.Inference__ValueOutOfRange(i, v, valueBits);
            // Safe: `0 <= v + half < 2^b` once in range, and `b * (i % k) + b <= 253`, so the
            // shifted value stays inside the word and never overlaps a neighbour.
            unchecked {
                words[i / k] |= uint256(v + half) << (valueBits * (i % k));
            }
        }
        if (extraWord != 0) words[packed] = extraWord;
    }

    /// @notice Unpacks `length` values from `words` (the inverse of `pack`).
    function unpack(
        uint256[] memory words,
        uint256 length,
        uint8 valueBits
    ) internal pure returns (int256[] memory values) {
        uint256 k = WORD_BITS / valueBits;
        uint256 mask = (uint256(1) << valueBits) - 1;
        int256 half = int256(1) << (valueBits - 1);
        values = new int256[](length);
        for (uint256 i; i < length; ++i) {
            // Safe: the masked field is below 2^126, so it fits an int256 and subtracting
            // `half` cannot overflow.
            unchecked {
                values[i] = int256((words[i / k] >> (valueBits * (i % k))) & mask) - half;
            }
        }
    }
}
