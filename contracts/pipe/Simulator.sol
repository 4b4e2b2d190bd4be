// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "../interfaces/IInference.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {ISyncInference} from "../interfaces/ISyncInference.sol";
import {FixedPointPacking} from "../libraries/FixedPointPacking.sol";

/// @notice What the precompile asks of the simulator while simulating.
interface ISimulator {
    /// @notice Checks, records and answers one synchronous call of a simulated transaction.
    /// @return output the layer's preview of the output, or zeros of the output's length
    /// @return flags bit 0: a simulated result (no preview); bit 1: legacy OpenGradient layout
    function simulate(
        bytes32 callKey,
        address consumer,
        bytes32 modelId,
        int256[] calldata input,
        ISyncInference.Finality finality,
        bool legacyLayout
    ) external returns (int256[] memory output, uint8 flags);

    /// @notice The calls recorded so far, in order: one `abi.encode(bytes32 callKey, address
    /// consumer, bytes32 modelId, uint8 finality, bool legacyLayout, bool previewed,
    /// int256[] input)` after another.
    function log() external view returns (bytes memory);
}

/// @title Simulator
/// @notice Never deployed: the pre-execution layer places this code at an address of its choice
/// for one `eth_call` (a state override) and names it in the precompile's simulation slot. The
/// precompile then hands it every synchronous call of the simulated transaction. It checks the
/// call as `prepare` would (so bad input fails the simulation with the same custom error),
/// records it, and answers with the layer's preview of the output if the layer stored one (a
/// later round, for a call whose input depends on an earlier output) or with zeros, which the
/// OpenGradient adapter turns into an empty `is_simulation_result` answer.
/// @dev Previews live in this contract's overridden storage: the output for the
/// `occurrence`-th call (from 0) with key `callKey` is at `p = keccak256(abi.encode(callKey,
/// occurrence, PREVIEW_SLOT))`, its length at `p` and value `i` at `p + 1 + i`.
contract Simulator is ISimulator {
    bytes32 public constant PREVIEW_SLOT = keccak256("sibyl.pipe.preview");
    /// @dev Transient counter of the calls with one key seen so far in this simulation.
    bytes32 private constant _OCCURRENCE_SLOT = keccak256("sibyl.pipe.occurrence");

    uint8 private constant _FLAG_SIMULATED = 1;
    uint8 private constant _FLAG_LEGACY = 2;

    bytes private _log;

    /// @inheritdoc ISimulator
    function simulate(
        bytes32 callKey,
        address consumer,
        bytes32 modelId,
        int256[] calldata input,
        ISyncInference.Finality finality,
        bool legacyLayout
    ) external returns (int256[] memory output, uint8 flags) {
        uint256 outputLength = _check(modelId, input);
        output = _preview(callKey, _nextOccurrence(callKey), outputLength);
        bool previewed = output.length != 0;
        _log = bytes.concat(
            _log,
            abi.encode(callKey, consumer, modelId, finality, legacyLayout, previewed, input)
        );
        if (legacyLayout) flags = _FLAG_LEGACY;
        if (!previewed) {
            output = new int256[](outputLength);
            flags |= _FLAG_SIMULATED;
        }
    }

    /// @inheritdoc ISimulator
    function log() external view returns (bytes memory) {
        return _log;
    }

    /// @dev The checks `prepare` makes of an input; returns the model's output length.
    function _check(bytes32 modelId, int256[] calldata input) private view returns (uint256) {
        IModelRegistry registry = IModelRegistry(IInference(msg.sender).registry());
        if (!registry.isActive(modelId)) revert IInference.Inference__UnknownModel(modelId);
        IModelRegistry.ModelConfig memory config = registry.getModel(modelId).config;
        if (input.length != config.inputLength)
            revert IInference.Inference__WrongLength(config.inputLength, input.length);
        FixedPointPacking.pack(input, config.inputBits, config.weightCommitment);
        return config.outputLength;
    }

    /// @dev Counts this call among the simulation's calls with the same key; returns how many came before.
    function _nextOccurrence(bytes32 callKey) private returns (uint256 occurrence) {
        bytes32 counter = keccak256(abi.encode(callKey, _OCCURRENCE_SLOT));
        assembly ("memory-safe") {
            occurrence := tload(counter)
            tstore(counter, add(occurrence, 1))
        }
    }

    /// @dev The stored preview (empty if none, or if its length is not the output length).
    function _preview(
        bytes32 callKey,
        uint256 occurrence,
        uint256 outputLength
    ) private view returns (int256[] memory output) {
        uint256 base = uint256(keccak256(abi.encode(callKey, occurrence, PREVIEW_SLOT)));
        uint256 length;
        assembly ("memory-safe") {
            length := sload(base)
        }
        if (length != outputLength) return output;
        output = new int256[](length);
        for (uint256 i; i < length; ++i) {
            int256 value;
            assembly ("memory-safe") {
                value := sload(add(base, add(i, 1)))
            }
            output[i] = value;
        }
    }
}
