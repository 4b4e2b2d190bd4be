// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ISimulator} from "./Simulator.sol";

/// @title SimulationProbe
/// @notice Never deployed. The pre-execution layer places this runtime code at a transaction's
/// target for one `eth_call` (a state override), with the target's own code moved to `shadow`.
/// The probe runs that code by `delegatecall`, so the target keeps its address, storage,
/// balance, caller and value, then reads the synchronous calls the simulation recorded (in the
/// `Simulator` the layer placed too) and returns `abi.encode(ok, returnData, calls)`. The layer learns which
/// inferences the transaction asks for, which is what OpenGradient's PIPE does inside its node.
/// @dev The two addresses (shadow, simulator) are immutables the layer writes into the runtime code
/// (`immutableReferences`). A call back into the target from its own code (`this.f()`) runs
/// the original code unchanged: a transient flag marks the outer frame.
contract SimulationProbe {
    address private immutable _SHADOW;
    address private immutable _SIMULATOR;
    /// @dev Transient slot of the target, set while the outer frame runs.
    bytes32 private constant _ACTIVE = keccak256("sibyl.pipe.probe.active");

    constructor(address shadow, address simulator) {
        _SHADOW = shadow;
        _SIMULATOR = simulator;
    }

    // solhint-disable-next-line no-complex-fallback
    fallback() external payable {
        address shadow = _SHADOW;
        bytes32 active = _ACTIVE;
        uint256 inside;
        assembly ("memory-safe") {
            inside := tload(active)
        }
        if (inside != 0) {
            // An inner call to the target: behave exactly as its own code does.
            assembly {
                calldatacopy(0, 0, calldatasize())
                let ok := delegatecall(gas(), shadow, 0, calldatasize(), 0, 0)
                returndatacopy(0, 0, returndatasize())
                if iszero(ok) {
                    revert(0, returndatasize())
                }
                return(0, returndatasize())
            }
        }
        assembly ("memory-safe") {
            tstore(active, 1)
        }
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory returnData) = shadow.delegatecall(msg.data);
        assembly ("memory-safe") {
            tstore(active, 0)
        }
        bytes memory calls = ISimulator(_SIMULATOR).log();
        bytes memory result = abi.encode(ok, returnData, calls);
        assembly ("memory-safe") {
            return(add(result, 0x20), mload(result))
        }
    }
}
