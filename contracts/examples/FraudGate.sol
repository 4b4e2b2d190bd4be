// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {InferenceConsumer} from "../InferenceConsumer.sol";
import {Sibyl} from "../libraries/SibylAddresses.sol";

/// @title FraudGate
/// @notice Screens payees with a fraud classifier (output [1] = fraud, [0] = clean): holds a
/// payee at once on an answer, and clears or blocks it for good only once the answer is proved.
contract FraudGate is InferenceConsumer {
    /// @notice The registered fraud classifier.
    bytes32 public immutable MODEL_ID;

    /// @notice The payee each screening request is about.
    mapping(bytes32 requestId => address payee) public payeeOf;
    /// @notice Provisional: the payee is held while a fraud answer awaits its proof.
    mapping(address payee => bool) public held;
    /// @notice Final: the classifier's proved answer was "clean".
    mapping(address payee => bool) public cleared;

    /// @notice A screening result arrived; `proved` is false for an answer, true once settled.
    event Screened(bytes32 indexed requestId, address indexed payee, bool fraud, bool proved);

    /// @param modelId the registered fraud classifier
    constructor(bytes32 modelId) InferenceConsumer(Sibyl.INFERENCE) {
        MODEL_ID = modelId;
    }

    /// @notice Screens `payee`; `msg.value` pays the model's fee (at least `_feeFor(MODEL_ID, DEFAULT_CALLBACK_GAS_LIMIT)`).
    function screen(address payee, int256[] calldata features) external payable returns (bytes32 requestId) {
        RequestOptions memory options = _defaultOptions(); // ZK mode, 200k gas per hook
        options.fee = msg.value;
        requestId = _requestInference(MODEL_ID, features, options);
        payeeOf[requestId] = payee;
    }

    /// @dev Optimistic: a node's answer, backed only by its locked stake. Act on it only in
    /// ways that are cheap to undo: a hold is.
    function _onAnswered(bytes32 requestId, int256[] memory output) internal override {
        address payee = payeeOf[requestId];
        held[payee] = output[0] == 1;
        emit Screened(requestId, payee, output[0] == 1, false);
    }

    /// @dev Final: the output is proved against the model's verifier. Irreversible decisions go here.
    function _onSettled(bytes32 requestId, int256[] memory output) internal override {
        address payee = payeeOf[requestId];
        held[payee] = output[0] == 1;
        cleared[payee] = output[0] == 0;
        emit Screened(requestId, payee, output[0] == 1, true);
    }

    /// @dev Expired (reason 1) or slashed (reason 2): no trustworthy answer. Release the hold;
    /// the payee can be screened again.
    function _onFailed(bytes32 requestId, uint8) internal override {
        held[payeeOf[requestId]] = false;
    }
}
