// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

// OpenGradient's current inference precompile interface, written from its published ABI so
// that contracts written for OpenGradient compile and run unchanged against Sibyl's precompile.
// Every struct, field and function below is ABI-visible: names may be read by tools, and types
// and order fix the selectors (`runModelInference` is 0x7289e9c2). Do not reorder or retype.
// The legacy generation (`runLLMInference`) lives in ./legacy/OGInference.sol.

// Where the inference precompile answers.
address constant OG_INFERENCE_ADDRESS = 0x00000000000000000000000000000000000000F4;

/// @notice How a classical model's result is secured.
enum ModelInferenceMode {
    VANILLA,
    ZK,
    TEE
}

/// @notice How an LLM's result is secured.
enum LLMInferenceMode {
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

/// @notice A model's named output tensors. `is_simulation_result` is true while the transaction
/// is only being simulated (e.g. by `eth_estimateGas`): the values are placeholders, and a
/// contract should not act on them.
struct ModelOutput {
    TensorLib.MultiDimensionalNumberTensor[] numbers;
    TensorLib.StringTensor[] strings;
    TensorLib.JsonScalar[] jsons;
    bool is_simulation_result;
}

/// @notice Complete `prompt` with the LLM `modelCID`. `temperature` is a fixed-point value.
struct LLMCompletionRequest {
    LLMInferenceMode mode;
    string modelCID;
    string prompt;
    uint32 max_tokens;
    string[] stop_sequence;
    uint32 temperature;
}

/// @notice The completion text.
struct LLMCompletionResponse {
    string answer;
}

/// @notice Continue the conversation `messages` with the LLM `modelCID`, offering it `tools`.
struct LLMChatRequest {
    LLMInferenceMode mode;
    string modelCID;
    ChatMessage[] messages;
    ToolDefinition[] tools;
    string tool_choice;
    uint32 max_tokens;
    string[] stop_sequence;
    uint32 temperature;
}

/// @notice One turn of a chat; `tool_call_id` and `tool_calls` tie tool results to requests.
struct ChatMessage {
    string role;
    string content;
    string name;
    string tool_call_id;
    ToolCall[] tool_calls;
}

/// @notice A tool invocation the model asked for; `arguments` is JSON.
struct ToolCall {
    string id;
    string name;
    string arguments;
}

/// @notice A tool the model may call; `parameters` is a JSON schema.
struct ToolDefinition {
    string description;
    string name;
    string parameters;
}

/// @notice The model's reply and why it stopped.
struct LLMChatResponse {
    string finish_reason;
    ChatMessage message;
}

/// @title OGInference
/// @notice The inference precompile at `OG_INFERENCE_ADDRESS`.
/// @dev Named as OpenGradient names it (no `I` prefix): consumers import it by this name.
// solhint-disable-next-line interface-starts-with-i
interface OGInference {
    /// @notice Runs a classical model (ONNX on OpenGradient, a registered circuit model on Sibyl).
    function runModelInference(ModelInferenceRequest memory request) external returns (ModelOutput memory);

    /// @notice Runs an LLM text completion.
    function runLLMCompletion(
        LLMCompletionRequest memory request
    ) external returns (LLMCompletionResponse memory);

    /// @notice Runs an LLM chat turn.
    function runLLMChat(LLMChatRequest memory request) external returns (LLMChatResponse memory);
}

/// @title TensorLib
/// @notice Tensor types of the precompile ABI, and small builders for them.
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

    /// @notice A named JSON value, as text.
    struct JsonScalar {
        string name;
        string value;
    }

    /// @notice `value * 10^-decimals` as a Number.
    function number(int128 value, int128 decimals) internal pure returns (Number memory) {
        return Number(value, decimals);
    }

    /// @notice A one-dimensional tensor named `name` of `values`, all with `decimals` decimals.
    function vector(
        string memory name,
        int128[] memory values,
        int128 decimals
    ) internal pure returns (MultiDimensionalNumberTensor memory tensor) {
        uint256 n = values.length;
        tensor.name = name;
        tensor.values = new Number[](n);
        for (uint256 i = 0; i < n; ++i) tensor.values[i] = Number(values[i], decimals);
        tensor.shape = new uint32[](1);
        tensor.shape[0] = uint32(n);
    }

    /// @notice A model input made of the single number tensor `tensor`.
    function inputOf(
        MultiDimensionalNumberTensor memory tensor
    ) internal pure returns (ModelInput memory input) {
        input.numbers = new MultiDimensionalNumberTensor[](1);
        input.numbers[0] = tensor;
    }
}
