// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IOpenGradientAdapter
/// @notice The errors a contract written for OpenGradient's precompile can get from Sibyl's
/// precompile at 0x…F4 (they come from its OpenGradient adapter), besides the precompile's own.
interface IOpenGradientAdapter {
    /// @notice Sibyl serves no LLM: `runLLMCompletion`, `runLLMChat` and the earlier
    /// `runLLMInference` always revert with this.
    error OpenGradient__LLMNotServed(bytes4 selector);
    /// @notice `modelCID` is neither a Sibyl content id (`sibyl:register` prints it) nor a name
    /// bound with `ModelRegistry.bindName`, or its model is not registered or was deactivated.
    error OpenGradient__UnknownModelCID(string modelCID);
    /// @notice A number tensor's `shape` does not multiply out to its number of values.
    error OpenGradient__ShapeMismatch(string tensor, uint256 shapeSize, uint256 values);
    /// @notice The number tensors hold `actual` values in all; the model takes `expected`.
    error OpenGradient__WrongInputLength(uint256 expected, uint256 actual);
    /// @notice Sibyl's models take numbers only; this string tensor cannot be served.
    error OpenGradient__StringInputNotServed(string tensor);
    /// @notice `value · 10^-decimals` cannot be converted: its decimals are beyond ±76 or the
    /// conversion overflows 256 bits.
    error OpenGradient__NotRepresentable(string tensor, uint256 index, int128 value, int128 decimals);
    /// @notice `value · 10^-decimals` converts to a fixed-point value outside the model's signed
    /// `inputBits` range.
    error OpenGradient__InputOutOfRange(string tensor, uint256 index, int256 fixedPoint, uint8 inputBits);
    /// @notice An output `y · 2^-f` is the decimal `y · 5^f` with `f` decimals; that value does not
    /// fit `int128` (a model with a finer output scale than OpenGradient's numbers can carry).
    error OpenGradient__OutputNotRepresentable(uint256 index, int256 fixedPoint, uint8 outputFracBits);
    /// @notice The calldata is none of OpenGradient's functions.
    error OpenGradient__UnknownFunction(bytes4 selector);
    /// @notice The adapter was called directly; calls reach it through the precompile only.
    error OpenGradient__NotThroughPrecompile();
}
