// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInference} from "./interfaces/IInference.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IOpenGradientAdapter} from "./interfaces/IOpenGradientAdapter.sol";
import {ISyncInference} from "./interfaces/ISyncInference.sol";
import {ModelCid} from "./libraries/ModelCid.sol";
import {ModelInferenceMode, ModelInferenceRequest, TensorLib} from "./opengradient/OGInference.sol";

/// @title OpenGradientAdapter
/// @notice Makes Sibyl's precompile answer OpenGradient's precompile ABI, both generations:
/// `runModelInference(ModelInferenceRequest)` returning `ModelOutput{numbers, strings, jsons,
/// is_simulation_result}` (current) or `ModelOutput{numbers, strings, is_simulation_result}`
/// (the earlier `opengradient-neuroml` interface). Both share the selector; the layout is the one
/// the pre-execution layer found the calling contract decodes, recorded with the prepared result.
/// @dev Stateless. The precompile's fallback calls it with the original caller appended to the
/// calldata; it converts the request and calls back `inferFrom` on the precompile, then encodes
/// the answer. Conversions are exact integer arithmetic:
/// - input `value · 10^-decimals` → fixed point `round(value · 2^f / 10^decimals)`, rounding half
///   to even (`f` = the model's `fracBits`), checked against the model's `inputBits` range;
/// - output `y · 2^-f` → `Number(y · 5^f, f)` exactly (`f` = `outputFracBits`; 0 for a class index).
/// Modes: `VANILLA` is a deferred result (answered now, proved later, slashable), `ZK` a
/// proof-carrying one (verified in the call), `TEE` an attested one (an enclave's signature,
/// checked when the node prepares it).
contract OpenGradientAdapter is IOpenGradientAdapter {
    /// @dev Selectors of the LLM functions of both generations (none is served).
    bytes4 private constant _RUN_LLM_COMPLETION = bytes4(
        keccak256("runLLMCompletion((uint8,string,string,uint32,string[],uint32))")
    );
    bytes4 private constant _RUN_LLM_CHAT = bytes4(
        keccak256(
            "runLLMChat((uint8,string,(string,string,string,string,(string,string,string)[])[],(string,string,string)[],string,uint32,string[],uint32))"
        )
    );
    bytes4 private constant _RUN_LLM_INFERENCE = bytes4(
        keccak256("runLLMInference((uint8,string,string,uint32,string[],uint32))")
    );

    /// @dev `inferFrom` flags (see `ISyncInference.inferFrom`).
    uint8 private constant _FLAG_SIMULATED = 1;
    uint8 private constant _FLAG_LEGACY = 2;

    /// @dev Largest decimal exponent converted: 10^76 is the largest power of ten below 2^256.
    uint256 private constant _MAX_DECIMALS = 76;

    /// @notice The name of the output tensor.
    string public constant OUTPUT_TENSOR = "output";

    /// @dev The earlier generation's output (no `jsons`).
    struct LegacyModelOutput {
        TensorLib.MultiDimensionalNumberTensor[] numbers;
        TensorLib.StringTensor[] strings;
        bool is_simulation_result;
    }

    /// @dev The current generation's output, declared here with the same ABI layout.
    struct CurrentModelOutput {
        TensorLib.MultiDimensionalNumberTensor[] numbers;
        TensorLib.StringTensor[] strings;
        TensorLib.JsonScalar[] jsons;
        bool is_simulation_result;
    }

    /// @notice OpenGradient's `runModelInference`, answered through the precompile. Returns the
    /// raw ABI encoding of the `ModelOutput` layout the caller decodes.
    function runModelInference(ModelInferenceRequest calldata request) external returns (bytes memory) {
        address consumer = _consumer();
        ISyncInference.Finality finality = _finality(request.mode);
        IInference precompile = IInference(msg.sender);
        bytes32 modelId = _resolve(precompile, request.modelCID);
        IModelRegistry.ModelConfig memory config = IModelRegistry(precompile.registry())
            .getModel(modelId)
            .config;
        int256[] memory input = _input(request, config);

        (int256[] memory output, , uint8 flags) = ISyncInference(msg.sender).inferFrom(
            consumer,
            modelId,
            input,
            finality
        );
        bytes memory encoded = _encode(output, config.outputFracBits, flags);
        assembly ("memory-safe") {
            return(add(encoded, 0x20), mload(encoded))
        }
    }

    /// @notice Every other selector: OpenGradient's LLM functions are refused with
    /// `OpenGradient__LLMNotServed`, anything else with `OpenGradient__UnknownFunction`.
    // solhint-disable-next-line no-complex-fallback
    fallback() external {
        bytes4 selector = msg.sig;
        if (selector == _RUN_LLM_COMPLETION || selector == _RUN_LLM_CHAT || selector == _RUN_LLM_INFERENCE)
            revert OpenGradient__LLMNotServed(selector);
        revert OpenGradient__UnknownFunction(selector);
    }

    // ─────────────────────────── internals ───────────────────────────

    /// @dev The caller of the precompile: the 20 bytes its fallback appended. Refuses calls that
    /// do not come through a precompile that names this adapter.
    function _consumer() private view returns (address consumer) {
        if (msg.data.length < 24 || msg.sender.code.length == 0) revert OpenGradient__NotThroughPrecompile();
        try ISyncInference(msg.sender).adapter() returns (address adapter_) {
            if (adapter_ != address(this)) revert OpenGradient__NotThroughPrecompile();
        } catch {
            revert OpenGradient__NotThroughPrecompile();
        }
        assembly ("memory-safe") {
            consumer := shr(96, calldataload(sub(calldatasize(), 20)))
        }
    }

    function _finality(ModelInferenceMode mode) private pure returns (ISyncInference.Finality) {
        if (mode == ModelInferenceMode.VANILLA) return ISyncInference.Finality.Deferred;
        if (mode == ModelInferenceMode.ZK) return ISyncInference.Finality.ProofCarrying;
        return ISyncInference.Finality.Attested;
    }

    /// @dev A Sibyl content id resolves to its own model; any other string must be a bound name.
    function _resolve(
        IInference precompile,
        string calldata modelCID
    ) private view returns (bytes32 modelId) {
        bool isCid;
        (isCid, modelId) = ModelCid.modelIdOf(modelCID);
        IModelRegistry registry = IModelRegistry(precompile.registry());
        if (!isCid) modelId = registry.modelIdOfName(modelCID);
        if (modelId == bytes32(0) || !registry.isActive(modelId))
            revert OpenGradient__UnknownModelCID(modelCID);
    }

    /// @dev The number tensors, flattened in order, converted to the model's fixed point.
    function _input(
        ModelInferenceRequest calldata request,
        IModelRegistry.ModelConfig memory config
    ) private pure returns (int256[] memory input) {
        if (request.input.strings.length != 0)
            revert OpenGradient__StringInputNotServed(request.input.strings[0].name);
        TensorLib.MultiDimensionalNumberTensor[] calldata tensors = request.input.numbers;
        uint256 total;
        for (uint256 t; t < tensors.length; ++t) total += _sizeOf(tensors[t]);
        if (total != config.inputLength) revert OpenGradient__WrongInputLength(config.inputLength, total);

        input = new int256[](total);
        uint256 next;
        for (uint256 t; t < tensors.length; ++t) {
            next = _convert(tensors[t], config.fracBits, config.inputBits, input, next);
        }
    }

    /// @dev The number of values a tensor's shape declares, which must be the number it carries.
    function _sizeOf(
        TensorLib.MultiDimensionalNumberTensor calldata tensor
    ) private pure returns (uint256 size) {
        size = 1;
        uint32[] calldata shape = tensor.shape;
        for (uint256 d; d < shape.length; ++d) size *= shape[d];
        if (size != tensor.values.length)
            revert OpenGradient__ShapeMismatch(tensor.name, size, tensor.values.length);
    }

    /// @dev Converts one tensor's values into `input` from index `start` on; returns the next index.
    function _convert(
        TensorLib.MultiDimensionalNumberTensor calldata tensor,
        uint8 fracBits,
        uint8 inputBits,
        int256[] memory input,
        uint256 start
    ) private pure returns (uint256) {
        int256 half = int256(1) << (inputBits - 1);
        TensorLib.Number[] calldata values = tensor.values;
        for (uint256 i; i < values.length; ++i) {
            (bool ok, int256 x) = _toFixed(values[i].value, values[i].decimals, fracBits);
            if (!ok)
                revert OpenGradient__NotRepresentable(tensor.name, i, values[i].value, values[i].decimals);
            if (x < -half || x >= half) revert OpenGradient__InputOutOfRange(tensor.name, i, x, inputBits);
            input[start + i] = x;
        }
        return start + values.length;
    }

    /// @dev `round(value · 2^fracBits / 10^decimals)`, half to even; `ok` false when the decimals are
    /// beyond ±76 or the result overflows.
    function _toFixed(
        int128 value,
        int128 decimals,
        uint8 fracBits
    ) private pure returns (bool ok, int256 x) {
        if (decimals > int128(int256(_MAX_DECIMALS)) || decimals < -int128(int256(_MAX_DECIMALS)))
            return (false, 0);
        // |value| < 2^127 and fracBits ≤ 125 (the registry keeps it below valueBits ≤ 126): < 2^252.
        int256 scaled = int256(value) << fracBits;
        if (decimals <= 0) {
            uint256 factor = 10 ** uint256(int256(-decimals));
            // Overflow check by division: |scaled · factor| must stay below 2^255.
            uint256 magnitude = _abs(scaled);
            if (magnitude != 0 && factor > uint256(type(int256).max) / magnitude) return (false, 0);
            return (true, scaled * int256(factor));
        }
        uint256 divisor = 10 ** uint256(int256(decimals));
        uint256 abs = _abs(scaled);
        uint256 quotient = abs / divisor;
        uint256 remainder = abs % divisor;
        // Round half to even on the magnitude; the sign is applied after, so rounding is symmetric.
        uint256 twice = remainder * 2;
        if (twice > divisor || (twice == divisor && quotient % 2 == 1)) ++quotient;
        x = scaled < 0 ? -int256(quotient) : int256(quotient);
        return (true, x);
    }

    function _abs(int256 v) private pure returns (uint256) {
        return v < 0 ? uint256(-v) : uint256(v);
    }

    /// @dev The output in the caller's layout: one number tensor `output` of shape [n], or nothing
    /// at all for a simulated result (as OpenGradient's simulation answers).
    function _encode(
        int256[] memory output,
        uint8 outputFracBits,
        uint8 flags
    ) private pure returns (bytes memory) {
        bool simulated = flags & _FLAG_SIMULATED != 0;
        TensorLib.MultiDimensionalNumberTensor[] memory numbers;
        if (simulated) {
            numbers = new TensorLib.MultiDimensionalNumberTensor[](0);
        } else {
            numbers = new TensorLib.MultiDimensionalNumberTensor[](1);
            numbers[0] = _tensor(output, outputFracBits);
        }
        TensorLib.StringTensor[] memory strings = new TensorLib.StringTensor[](0);
        if (flags & _FLAG_LEGACY != 0) {
            return abi.encode(LegacyModelOutput(numbers, strings, simulated));
        }
        return abi.encode(CurrentModelOutput(numbers, strings, new TensorLib.JsonScalar[](0), simulated));
    }

    /// @dev `y · 2^-f` is exactly `y · 5^f · 10^-f`.
    function _tensor(
        int256[] memory output,
        uint8 outputFracBits
    ) private pure returns (TensorLib.MultiDimensionalNumberTensor memory tensor) {
        // 5^55 is above int128's range: with a finer scale only a zero output is representable.
        int256 factor = outputFracBits <= 54 ? int256(5 ** uint256(outputFracBits)) : int256(0);
        int256 limit = factor == 0 ? int256(0) : int256(type(int128).max) / factor;
        TensorLib.Number[] memory values = new TensorLib.Number[](output.length);
        for (uint256 i; i < output.length; ++i) {
            int256 y = output[i];
            if (y > limit || y < -limit) revert OpenGradient__OutputNotRepresentable(i, y, outputFracBits);
            values[i] = TensorLib.Number(int128(y * factor), int128(uint128(outputFracBits)));
        }
        uint32[] memory shape = new uint32[](1);
        shape[0] = uint32(output.length);
        tensor = TensorLib.MultiDimensionalNumberTensor(OUTPUT_TENSOR, values, shape);
    }
}
