// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "../interfaces/IInference.sol";
import {ISyncInference} from "../interfaces/ISyncInference.sol";
import {Sibyl} from "../libraries/SibylAddresses.sol";

/// @title InstantClassifier
/// @notice EXAMPLE. Sibyl's own synchronous interface: the model's output comes back inside the
/// call, typed, with no tensors and no callback.
/// - `Deferred`: the output is the node's answer, proved later; until then it is backed by the
///   node's stake (`bondBacking`), so act on it only for what that stake covers.
/// - `ProofCarrying`: the proof was verified inside this very call; the output is final.
/// Either way the transaction must go through Sibyl's pre-execution layer (the in-process
/// network with a node running, or `sibyl:proxy`); sent around it, `infer` reverts
/// `Inference__NotPrepared`.
contract InstantClassifier {
    bytes32 public immutable MODEL_ID;

    /// @notice The last class and the request that produced it.
    int256 public lastClass;
    bytes32 public lastRequestId;

    event Classified(
        address indexed caller,
        int256 class,
        bytes32 requestId,
        ISyncInference.Finality finality
    );

    constructor(bytes32 modelId) {
        MODEL_ID = modelId;
    }

    /// @notice Classifies fixed-point features in this transaction.
    function classify(
        int256[] calldata features,
        ISyncInference.Finality finality
    ) external returns (int256 class) {
        (int256[] memory out, bytes32 requestId) = Sibyl.inference().inferWithId(
            MODEL_ID,
            features,
            finality
        );
        class = out[0];
        lastClass = class;
        lastRequestId = requestId;
        emit Classified(msg.sender, class, requestId, finality);
    }

    /// @notice Whether the last result is final: proof-carrying, or deferred and since settled.
    function lastIsFinal() external view returns (bool) {
        IInference inference = Sibyl.inference();
        return inference.stateOf(lastRequestId) == IInference.RequestState.Settled;
    }
}
