// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {RawConsumer} from "./RawConsumer.sol";

/// @title GasProbeConsumer
/// @notice TEST ONLY. Measures the gas a hook starts with. `calibrate` calls the same hook on
/// itself with an exact gas amount, so a test can tell exactly how much gas the precompile gave
/// the hook's call frame. With `minEntryGas` set, a hook reverts when it starts with less: it
/// fails exactly when it was starved, which a node must never be able to bring about.
/// @dev The hooks have no access control: only tests call them, and `calibrate` needs to.
contract GasProbeConsumer is RawConsumer {
    /// @notice `gasleft()` at the first statement of each hook call, in order.
    uint256[] public entryGas;
    /// @notice When non-zero, a hook that starts with less gas than this reverts.
    uint256 public minEntryGas;

    /// @notice The hook started with less gas than `minEntryGas`.
    error GasProbeConsumer__Starved(uint256 entryGas, uint256 minEntryGas);

    constructor(address inference_) RawConsumer(inference_) {}

    /// @notice Sets the gas below which a hook reverts (0 = never).
    function setMinEntryGas(uint256 minEntryGas_) external {
        minEntryGas = minEntryGas_;
    }

    /// @notice Calls `onInferenceAnswered` on this contract with exactly `gas` gas (the caller
    /// must send enough for the 63/64 rule to leave it whole).
    function calibrate(bytes32 requestId, int256[] calldata output, uint256 gas) external {
        this.onInferenceAnswered{gas: gas}(requestId, output);
    }

    /// @notice Number of recorded hook calls.
    function probeCount() external view returns (uint256) {
        return entryGas.length;
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceAnswered(bytes32, int256[] calldata) external {
        _probe(gasleft());
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceSettled(bytes32, int256[] calldata) external {
        _probe(gasleft());
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceFailed(bytes32, uint8) external {
        _probe(gasleft());
    }

    function _probe(uint256 gasAtEntry) private {
        uint256 minimum = minEntryGas;
        if (gasAtEntry < minimum) revert GasProbeConsumer__Starved(gasAtEntry, minimum);
        entryGas.push(gasAtEntry);
    }
}
