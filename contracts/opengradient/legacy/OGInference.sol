// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

// The earlier generation of OpenGradient's precompile interface (the `opengradient-neuroml`
// package's OGInference.sol), written from its ABI so that contracts importing it keep working
// against Sibyl's precompile. It differs from ../OGInference.sol in two ABI-visible ways:
// `ModelOutput` has no `jsons`, and LLMs are reached through `runLLMInference`.
// `runModelInference` has the same selector (0x7289e9c2) in both generations.

// Where the inference precompile answers.
address constant OG_INFERENCE_ADDRESS = 0x00000000000000000000000000000000000000F4;

// The precompile, typed.
OGInference constant OG_INFERENCE_CONTRACT = OGInference(OG_INFERENCE_ADDRESS);

/// @notice How a classical model's result is secured.
enum ModelInferenceMode {
    VANILLA,
    ZK,
    TEE
}

/// @notice How an LLM's result is secured.
enum LlmInferenceMode {
    VANILLA,
    TEE
}

/// @notice Run the model `modelCID` on `input`.
struct ModelInferenceRequest {
    ModelInferenceMode mode;
    string modelCID;
    ModelInput input;
}

/// @notice A model's named input tensors.
struct ModelInput {
    TensorLib.MultiDimensionalNumberTensor[] numbers;
    TensorLib.StringTensor[] strings;
}

/// @notice A model's named output tensors; `is_simulation_result` flags placeholder values
/// returned while the transaction is only simulated.
struct ModelOutput {
    TensorLib.MultiDimensionalNumberTensor[] numbers;
    TensorLib.StringTensor[] strings;
    bool is_simulation_result;
}

/// @notice Complete `prompt` with the LLM `modelCID`. `temperature` is a fixed-point value.
struct LlmInferenceRequest {
    LlmInferenceMode mode;
    string modelCID;
    string prompt;
    uint32 max_tokens;
    string[] stop_sequence;
    uint32 temperature;
}

/// @notice The completion text.
struct LlmResponse {
    string answer;
}

/// @title OGInference (legacy)
/// @notice The inference precompile at `OG_INFERENCE_ADDRESS`, as the first generation saw it.
/// @dev Named as OpenGradient names it (no `I` prefix): consumers import it by this name.
// solhint-disable-next-line interface-starts-with-i
interface OGInference {
    /// @notice Runs a classical model.
    function runModelInference(ModelInferenceRequest memory request) external returns (ModelOutput memory);

    /// @notice Runs an LLM text completion.
    function runLLMInference(LlmInferenceRequest memory request) external returns (LlmResponse memory);
}

/// @title TensorLib (legacy)
/// @notice Tensor types of the precompile ABI.
library TensorLib {
    /// @notice A fixed-point number: `value * 10^-decimals`.
    struct Number {
        int128 value;
        int128 decimals;
    }

    /// @notice A named tensor of numbers, flattened row-major; `shape` gives its dimensions.
    struct MultiDimensionalNumberTensor {
        string name;
        Number[] values;
        uint32[] shape;
    }

    /// @notice A named one-dimensional tensor of strings.
    struct StringTensor {
        string name;
        string[] values;
    }
}
