// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "../interfaces/IInference.sol";
import {RecordingConsumer} from "./RecordingConsumer.sol";

/// @title PrecompileLens
/// @notice TEST ONLY. Reads everything the property tests compare with their model after every
/// step in one call: the precompile's balance, every node, every pending payment, the state of
/// every request, `isFinal` and `bondBacking` of the requests the step touched, and the hook
/// counts of recording consumers.
/// @dev Every external call costs the in-process node's tracer far more than its gas suggests, so
/// the views that follow from a request's stored state are read only when that state changes.
contract PrecompileLens {
    /// @notice What one `snapshot` returns; arrays follow the order of the arguments.
    struct Snapshot {
        uint256 balance;
        IInference.Node[] nodes;
        uint256[] outstanding;
        uint256[] pending;
        IInference.RequestState[] states;
        bool[] touchedFinal;
        uint256[] touchedBacking;
        uint256[] hookCounts;
    }

    /// @notice Reads the precompile's accounting and the requests' views.
    function snapshot(
        IInference inference,
        address[] calldata nodes,
        address[] calldata accounts,
        bytes32[] calldata requestIds,
        bytes32[] calldata touched,
        RecordingConsumer[] calldata recorders
    ) external view returns (Snapshot memory s) {
        s.balance = address(inference).balance;
        s.nodes = new IInference.Node[](nodes.length);
        s.outstanding = new uint256[](nodes.length);
        for (uint256 i; i < nodes.length; ++i) {
            s.nodes[i] = inference.nodeOf(nodes[i]);
            s.outstanding[i] = inference.outstandingOf(nodes[i]);
        }
        s.pending = new uint256[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            s.pending[i] = inference.pendingWithdrawal(accounts[i]);
        }
        s.states = new IInference.RequestState[](requestIds.length);
        for (uint256 i; i < requestIds.length; ++i) {
            s.states[i] = inference.stateOf(requestIds[i]);
        }
        s.touchedFinal = new bool[](touched.length);
        s.touchedBacking = new uint256[](touched.length);
        for (uint256 i; i < touched.length; ++i) {
            s.touchedFinal[i] = inference.isFinal(touched[i]);
            s.touchedBacking[i] = inference.bondBacking(touched[i]);
        }
        s.hookCounts = new uint256[](recorders.length);
        for (uint256 i; i < recorders.length; ++i) {
            s.hookCounts[i] = recorders[i].callCount();
        }
    }
}
