// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "../interfaces/IInference.sol";

/// @title Sibyl
/// @notice Where Sibyl lives on a chain, and the small constants consumers share with it.
library Sibyl {
    /// @notice The inference precompile. On Hardhat it is installed here with `hardhat_setCode`.
    address internal constant INFERENCE = 0x00000000000000000000000000000000000000F4;

    /// @notice `onInferenceFailed` reason: nobody answered within the answer window.
    uint8 internal constant FAILED_EXPIRED = 1;
    /// @notice `onInferenceFailed` reason: the answer was not proved by its settlement deadline.
    uint8 internal constant FAILED_SLASHED = 2;

    /// @notice The precompile as a typed handle.
    function inference() internal pure returns (IInference) {
        return IInference(INFERENCE);
    }
}
