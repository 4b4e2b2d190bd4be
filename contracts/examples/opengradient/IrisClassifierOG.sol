// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    OG_INFERENCE_ADDRESS,
    OGInference,
    ModelInferenceMode,
    ModelInferenceRequest,
    ModelOutput,
    TensorLib
} from "../../opengradient/OGInference.sol";

/// @title IrisClassifierOG
/// @notice An iris classifier written the way OpenGradient users write one: against the
/// OGInference interface only, calling the precompile synchronously and reading the species
/// from the first output tensor. It knows nothing of Sibyl.
contract IrisClassifierOG {
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

    /// @notice Classifies the flower measured `cm` (sepal length, sepal width, petal length,
    /// petal width, each `value * 10^-decimals` cm). Returns 0 and records nothing while the
    /// transaction is being simulated.
    function classify(int128[4] calldata cm, int128 decimals) external returns (int128 species) {
        (bool simulated, TensorLib.Number memory result) = _infer(cm, decimals);
        if (simulated) return 0;
        _record(result);
        return result.value;
    }

    /// @notice Classifies two flowers in one transaction: two independent inferences.
    function classifyTwice(
        int128[4] calldata a,
        int128[4] calldata b,
        int128 decimals
    ) external returns (int128 first, int128 second) {
        (bool simulatedA, TensorLib.Number memory resultA) = _infer(a, decimals);
        (bool simulatedB, TensorLib.Number memory resultB) = _infer(b, decimals);
        if (simulatedA || simulatedB) return (0, 0);
        _record(resultA);
        _record(resultB);
        return (resultA.value, resultB.value);
    }

    /// @notice Classifies `cm`, then classifies it again with the first feature scaled by
    /// `1 + species`: the second inference's input depends on the first's output.
    function classifyThenScale(int128[4] calldata cm, int128 decimals) external returns (int128 species) {
        (bool simulatedFirst, TensorLib.Number memory first) = _infer(cm, decimals);
        int128[4] memory scaled = cm;
        scaled[0] = cm[0] * (1 + first.value);
        (bool simulatedSecond, TensorLib.Number memory second) = _infer(scaled, decimals);
        if (simulatedFirst || simulatedSecond) return 0;
        _record(first);
        _record(second);
        return second.value;
    }

    /// @dev Runs the model on `cm` as a tensor named "input" of shape [4] and returns the first
    /// number of the first output tensor.
    function _infer(
        int128[4] memory cm,
        int128 decimals
    ) private returns (bool simulated, TensorLib.Number memory result) {
        int128[] memory values = new int128[](4);
        for (uint256 i = 0; i < 4; ++i) values[i] = cm[i];

        ModelInferenceRequest memory request;
        request.mode = MODE;
        request.modelCID = modelCID;
        request.input = TensorLib.inputOf(TensorLib.vector("input", values, decimals));

        ModelOutput memory output = OGInference(OG_INFERENCE_ADDRESS).runModelInference(request);
        if (output.is_simulation_result) return (true, result);
        if (output.numbers.length == 0 || output.numbers[0].values.length == 0) revert EmptyOutput();
        return (false, output.numbers[0].values[0]);
    }

    function _record(TensorLib.Number memory result) private {
        lastSpecies = result.value;
        lastDecimals = result.decimals;
        ++classifications;
        emit Classified(msg.sender, result.value, result.decimals);
    }
}
