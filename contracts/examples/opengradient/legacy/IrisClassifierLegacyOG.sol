// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    OG_INFERENCE_CONTRACT,
    ModelInferenceMode,
    ModelInferenceRequest,
    ModelOutput,
    TensorLib
} from "../../../opengradient/legacy/OGInference.sol";

/// @title IrisClassifierLegacyOG
/// @notice An iris classifier written against the first-generation OGInference interface
/// (`opengradient-neuroml`), tensors built by hand as contracts of that generation do.
contract IrisClassifierLegacyOG {
    /// @notice The model, named by its content id.
    string public modelCID;
    /// @notice How each inference is secured.
    ModelInferenceMode public immutable MODE;

    /// @notice The species of the most recent recorded classification.
    int128 public lastSpecies;
    /// @notice The decimals of `lastSpecies`.
    int128 public lastDecimals;
    /// @notice How many classifications have been recorded.
    uint256 public classifications;

    /// @notice A classification was recorded.
    event Classified(address indexed caller, int128 species, int128 decimals);

    /// @notice The precompile answered without a number to read.
    error EmptyOutput();

    /// @param cid the model's content id
    /// @param mode how inferences are secured
    constructor(string memory cid, ModelInferenceMode mode) {
        modelCID = cid;
        MODE = mode;
    }

    /// @notice Classifies the flower measured `cm`, each `value * 10^-decimals` cm. Returns 0
    /// and records nothing while the transaction is being simulated.
    function classify(int128[4] calldata cm, int128 decimals) external returns (int128 species) {
        TensorLib.Number[] memory values = new TensorLib.Number[](4);
        for (uint256 i = 0; i < 4; ++i) values[i] = TensorLib.Number(cm[i], decimals);
        uint32[] memory shape = new uint32[](1);
        shape[0] = 4;

        ModelInferenceRequest memory request;
        request.mode = MODE;
        request.modelCID = modelCID;
        request.input.numbers = new TensorLib.MultiDimensionalNumberTensor[](1);
        request.input.numbers[0] = TensorLib.MultiDimensionalNumberTensor("input", values, shape);

        ModelOutput memory output = OG_INFERENCE_CONTRACT.runModelInference(request);
        if (output.is_simulation_result) return 0;
        if (output.numbers.length == 0 || output.numbers[0].values.length == 0) revert EmptyOutput();

        TensorLib.Number memory result = output.numbers[0].values[0];
        lastSpecies = result.value;
        lastDecimals = result.decimals;
        ++classifications;
        emit Classified(msg.sender, result.value, result.decimals);
        return result.value;
    }
}
