// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {InferenceConsumer} from "hardhat-sibyl/contracts/InferenceConsumer.sol";
import {IInference} from "hardhat-sibyl/contracts/interfaces/IInference.sol";
import {ISyncInference} from "hardhat-sibyl/contracts/interfaces/ISyncInference.sol";
import {Sibyl} from "hardhat-sibyl/contracts/libraries/SibylAddresses.sol";

/// @notice Asks the Iris classifier which species a flower is. A node's answer arrives at
/// once (provisional, backed by its stake); the proved answer arrives when the node settles.
/// Or, synchronously: the answer and its verified proof inside the caller's own transaction.
/// Or in TEE mode: an attested enclave's signed answer, final in the transaction that delivers it.
contract SpeciesOracle is InferenceConsumer {
    bytes32 public immutable MODEL_ID;

    mapping(bytes32 requestId => int256) public provisional;
    mapping(bytes32 requestId => int256) public proved;
    mapping(bytes32 requestId => bool) public isProved;
    mapping(bytes32 requestId => uint8) public failedWith;
    mapping(address caller => int256) public classifiedNow;

    event Classified(bytes32 indexed requestId, int256 species, bool proved);

    constructor(bytes32 modelId) InferenceConsumer(Sibyl.INFERENCE) {
        MODEL_ID = modelId;
    }

    /// @notice `features` are fixed-point (see the model's fracBits); `msg.value` pays the fee.
    function classify(int256[] calldata features) external payable returns (bytes32 requestId) {
        RequestOptions memory options = _defaultOptions();
        options.fee = msg.value;
        requestId = _requestInference(MODEL_ID, features, options);
    }

    /// @notice Like `classify`, answered by an attested enclave (TEE mode): both hooks run, in
    /// order, in the one transaction that delivers the signed answer, which is already final.
    function classifyAttested(int256[] calldata features) external payable returns (bytes32 requestId) {
        RequestOptions memory options = _defaultOptions();
        options.fee = msg.value;
        options.mode = IInference.Mode.TEE;
        requestId = _requestInference(MODEL_ID, features, options);
    }

    /// @notice Classifies within this transaction, the proof verified inside the call (the fee
    /// comes from the sender's credit with the node; the transaction must go through Sibyl's
    /// pre-execution layer, which the testing fixture puts in front of the network).
    function classifyNow(int256[] calldata features) external returns (int256 species) {
        species = Sibyl.inference().infer(MODEL_ID, features, ISyncInference.Finality.ProofCarrying)[0];
        classifiedNow[msg.sender] = species;
    }

    /// @notice The fee `classify` must carry.
    function fee() external view returns (uint256) {
        return _feeFor(MODEL_ID, DEFAULT_CALLBACK_GAS_LIMIT);
    }

    function _onAnswered(bytes32 requestId, int256[] memory output) internal override {
        provisional[requestId] = output[0];
        emit Classified(requestId, output[0], false);
    }

    function _onSettled(bytes32 requestId, int256[] memory output) internal override {
        proved[requestId] = output[0];
        isProved[requestId] = true;
        emit Classified(requestId, output[0], true);
    }

    function _onFailed(bytes32 requestId, uint8 reason) internal override {
        failedWith[requestId] = reason;
    }
}
