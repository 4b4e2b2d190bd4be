/**
 * Every error Sibyl raises on purpose is a SibylError: it says what went wrong and,
 * in `hint`, what to do next, and chains the error it came from as `cause`. Tasks print
 * message and hint without a stack trace.
 */
export class SibylError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(hint ? `${message}\n  → ${hint}` : message, options);
    this.name = new.target.name;
  }
}

/** A model file is malformed or describes something Sibyl cannot build. */
export class ModelFormatError extends SibylError {}

/** A value does not fit the model's fixed-point range (input, weight or activation). */
export class FixedPointRangeError extends SibylError {}

/** An input vector has the wrong shape for the model. */
export class InputShapeError extends SibylError {}

/** A build step (compile, setup, export) failed or its outputs are missing. */
export class BuildError extends SibylError {}

/** A proof could not be generated or does not verify. */
export class ProofError extends SibylError {}

/** Something on-chain is missing or in the wrong state. */
export class ChainError extends SibylError {}
