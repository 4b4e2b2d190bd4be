// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ISimulator} from "../pipe/Simulator.sol";
import {ISyncInference} from "../interfaces/ISyncInference.sol";
import {Sibyl} from "../libraries/SibylAddresses.sol";

/// @title SyncConsumer
/// @notice TEST ONLY. Calls the precompile's synchronous API (`infer`, `inferWithId`) from
/// Solidity and records what it got: the last output and request id, and every call's output in
/// order. It can make two calls in one transaction, forward a call to another SyncConsumer (so
/// the inference runs one frame below the transaction's entry point), and return the
/// log of the simulator a simulation placed (meaningful only in an `eth_call` that overrides the
/// precompile's simulation slot and places the simulator's code). It can also forward any call,
/// as a contract that is not the precompile (to call the OpenGradient adapter directly), and
/// answer `adapter()` as a precompile would, naming the address a test set.
contract SyncConsumer {
    /// @notice The output of the most recent call.
    int256[] private _lastOutput;
    /// @notice The request id of the most recent `inferWithId` call (zero while simulating).
    bytes32 public lastRequestId;
    /// @notice How many synchronous calls this contract has completed.
    uint256 public calls;

    /// @dev What `adapter()` answers (it reverts while unset).
    address private _namedAdapter;

    /// @notice A synchronous call returned `output` for `requestId`.
    event Consumed(bytes32 indexed requestId, int256[] output);

    /// @notice `infer`, recording the output (no request id).
    function consume(
        bytes32 modelId,
        int256[] calldata input,
        ISyncInference.Finality finality
    ) external returns (int256[] memory output) {
        output = Sibyl.inference().infer(modelId, input, finality);
        _record(output, bytes32(0));
    }

    /// @notice `inferWithId`, recording the output and the request id.
    function consumeWithId(
        bytes32 modelId,
        int256[] calldata input,
        ISyncInference.Finality finality
    ) public returns (int256[] memory output, bytes32 requestId) {
        (output, requestId) = Sibyl.inference().inferWithId(modelId, input, finality);
        _record(output, requestId);
    }

    /// @notice Two `inferWithId` calls in one transaction, `a` then `b`.
    function consumeTwice(
        bytes32 modelId,
        int256[] calldata a,
        int256[] calldata b,
        ISyncInference.Finality finality
    ) external returns (int256[] memory first, int256[] memory second, bytes32 firstId, bytes32 secondId) {
        (first, firstId) = consumeWithId(modelId, a, finality);
        (second, secondId) = consumeWithId(modelId, b, finality);
    }

    /// @notice Forwards `consumeWithId` to `target`: the precompile sees `target` as the caller.
    function route(
        SyncConsumer target,
        bytes32 modelId,
        int256[] calldata input,
        ISyncInference.Finality finality
    ) external returns (int256[] memory output, bytes32 requestId) {
        return target.consumeWithId(modelId, input, finality);
    }

    /// @notice `inferWithId` on `a` then `b`, then the log of the simulator the simulation placed.
    function consumeAndLog(
        bytes32 modelId,
        int256[] calldata a,
        int256[] calldata b,
        ISyncInference.Finality finality,
        ISimulator simulator
    ) external returns (int256[] memory first, int256[] memory second, bytes memory log) {
        (first, ) = consumeWithId(modelId, a, finality);
        if (b.length != 0) (second, ) = consumeWithId(modelId, b, finality);
        log = simulator.log();
    }

    /// @notice Calls `target` with `data`, returning what it returned and bubbling its revert.
    function forward(address target, bytes calldata data) external returns (bytes memory result) {
        bool ok;
        (ok, result) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
    }

    /// @notice Makes `adapter()` name `adapter_` (the zero address makes it revert again).
    function setNamedAdapter(address adapter_) external {
        _namedAdapter = adapter_;
    }

    /// @notice The adapter this contract names, as the precompile's `adapter()` does; reverts
    /// without data while unset (like a contract without the function).
    function adapter() external view returns (address) {
        address named = _namedAdapter;
        // solhint-disable-next-line reason-string
        if (named == address(0)) revert(); // no data, on purpose: like a contract without the function
        return named;
    }

    /// @notice The output of the most recent call.
    function lastOutput() external view returns (int256[] memory) {
        return _lastOutput;
    }

    function _record(int256[] memory output, bytes32 requestId) private {
        _lastOutput = output;
        lastRequestId = requestId;
        ++calls;
        emit Consumed(requestId, output);
    }
}
