// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {RawConsumer} from "./RawConsumer.sol";

/// @title GasBurningConsumer
/// @notice TEST ONLY. Every hook burns all the gas it is given or, in return-bomb mode, returns a
/// large buffer; neither may block the precompile or make it pay more than the callback gas limit.
/// In memory-only mode a hook touches the same memory as the return bomb but returns nothing: the
/// gas difference between the two modes is what the precompile pays for the returned data.
contract GasBurningConsumer is RawConsumer {
    /// @notice When set, hooks return `RETURN_BOMB_BYTES` of zeroes instead of spinning.
    bool public returnBomb;
    /// @notice When set (and `returnBomb` is not), hooks expand memory to `RETURN_BOMB_BYTES` and
    /// return nothing.
    bool public memoryOnly;

    /// @notice Size of the return-bomb buffer.
    uint256 public constant RETURN_BOMB_BYTES = 64_000;

    constructor(address inference_) RawConsumer(inference_) {}

    /// @notice Switches between spinning and returning a large buffer.
    function setReturnBomb(bool enabled) external {
        returnBomb = enabled;
    }

    /// @notice Switches between spinning and only expanding memory.
    function setMemoryOnly(bool enabled) external {
        memoryOnly = enabled;
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceAnswered(bytes32, int256[] calldata) external view {
        _misbehave();
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceSettled(bytes32, int256[] calldata) external view {
        _misbehave();
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceFailed(bytes32, uint8) external view {
        _misbehave();
    }

    function _misbehave() private view {
        if (returnBomb) {
            // Not memory-safe on purpose: it returns memory it never allocated.
            assembly {
                return(0, RETURN_BOMB_BYTES)
            }
        }
        if (memoryOnly) {
            // Not memory-safe on purpose: it expands memory exactly as far as the return bomb does.
            assembly {
                mstore(sub(RETURN_BOMB_BYTES, 0x20), 0)
                return(0, 0)
            }
        }
        // Spin until out of gas.
        for (uint256 i; ; ++i) {}
    }
}
