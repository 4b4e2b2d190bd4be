import type { QuantizedModel } from "../runtime/fixed";
import type { CircuitInput } from "../zk/prover";
import { toField } from "./field";
import { pack, requestBinding } from "./packing";

/**
 * The full input of a model circuit for one request: the public signals the precompile
 * will recompute (docs/protocol.md) and the private input vector.
 */
export function circuitInputFor(
  model: Pick<QuantizedModel, "valueBits" | "inputBits">,
  requestId: string | bigint,
  input: readonly bigint[],
  output: readonly bigint[],
): CircuitInput {
  return {
    requestBinding: requestBinding(requestId).toString(),
    inPacked: pack(input, model.inputBits).map(String),
    outPacked: pack(output, model.valueBits).map(String),
    x: input.map((v) => toField(v).toString()),
  };
}

/** The public signals in circuit order, as the precompile's `publicSignalsOf` returns them. */
export function publicSignalsFor(
  model: Pick<QuantizedModel, "valueBits" | "inputBits">,
  requestId: string | bigint,
  input: readonly bigint[],
  output: readonly bigint[],
): bigint[] {
  return [requestBinding(requestId), ...pack(input, model.inputBits), ...pack(output, model.valueBits)];
}
