import { ProofError } from "../errors.js";
import type { QDense, QuantizedModel } from "../runtime/fixed.js";
import { privateWeightLayout, type WeightSecrets } from "./commitment.js";
import { toField } from "./field.js";
import { batchBinding, compactSignal, pack, requestBinding, signalLayout } from "./packing.js";

/** A circuit's input signals by name, as snarkjs takes them (field elements as decimal strings). */
export type CircuitInput = Record<string, string | string[] | string[][]>;

/**
 * The full input of a model circuit for one request: the public signals the precompile
 * will recompute (docs/protocol.md) and the private input vector. A model with private
 * weights also takes its weights `w<layer>[out][in]`, biases `b<layer>[out]` and the salt,
 * and the registered weight commitment as a public signal (`secrets`, from the build:
 * `weightSecretsOf(artifacts)`).
 */
export function circuitInputFor(
  model: Pick<
    QuantizedModel,
    "name" | "valueBits" | "inputBits" | "inputLength" | "outputLength" | "weights" | "layers"
  >,
  requestId: string | bigint,
  input: readonly bigint[],
  output: readonly bigint[],
  secrets?: WeightSecrets,
): CircuitInput {
  const commitment = commitmentFor(model, secrets?.commitment);
  const layout = signalLayout(model);
  const circuitInput: CircuitInput = {
    requestBinding: (layout.compact ? batchBinding(requestId) : requestBinding(requestId)).toString(),
    inPacked: pack(input, model.inputBits).map(String),
    ...(commitment === undefined ? {} : { weightCommitment: commitment.toString() }),
    outPacked: pack(output, model.valueBits).map(String),
    x: input.map((v) => toField(v).toString()),
  };
  if (layout.compact) circuitInput.pub = publicSignalsFor(model, requestId, input, output)[0].toString();
  if (!secrets) return circuitInput; // public weights (commitmentFor checked that they are)
  for (const { layer } of privateWeightLayout(model).slots) {
    const dense = model.layers[layer] as QDense;
    circuitInput[`w${layer}`] = dense.weights.map((row) => row.map((v) => toField(v).toString()));
    circuitInput[`b${layer}`] = dense.bias.map((v) => toField(v).toString());
  }
  circuitInput.salt = toField(secrets.salt).toString();
  return circuitInput;
}

/**
 * The public signals in circuit order, as the precompile's `publicSignalsOf` returns them:
 * `[requestBinding, inPacked..., (weightCommitment,) outPacked...]`, or the one compact signal
 * of a model whose request fits a field element (`signalLayout`).
 */
export function publicSignalsFor(
  model: Pick<
    QuantizedModel,
    "name" | "valueBits" | "inputBits" | "inputLength" | "outputLength" | "weights"
  >,
  requestId: string | bigint,
  input: readonly bigint[],
  output: readonly bigint[],
  weightCommitment?: bigint,
): bigint[] {
  const layout = signalLayout(model);
  const outWords = pack(output, model.valueBits);
  if (layout.compact)
    return [
      compactSignal(batchBinding(requestId), pack(input, model.inputBits)[0], outWords[0], layout.outBits),
    ];
  return [requestBinding(requestId), ...inputWordsFor(model, input, weightCommitment), ...outWords];
}

/**
 * The words a request's input is committed to, in the words layout's order: the input packed at
 * `inputBits`, then a private-weights model's weight commitment.
 */
export function inputWordsFor(
  model: Pick<QuantizedModel, "name" | "inputBits" | "weights">,
  input: readonly bigint[],
  weightCommitment?: bigint,
): bigint[] {
  const commitment = commitmentFor(model, weightCommitment);
  return [...pack(input, model.inputBits), ...(commitment === undefined ? [] : [commitment])];
}

/** The commitment a private-weights model needs, and none for public weights. */
function commitmentFor(
  model: Pick<QuantizedModel, "name" | "weights">,
  commitment: bigint | undefined,
): bigint | undefined {
  if (model.weights === "private" && commitment === undefined)
    throw new ProofError(
      `model ${model.name} has private weights: its proofs need the salt and the weight commitment`,
      "pass weightSecretsOf(loadArtifacts(name)) (the build keeps them in build/models/<name>/)",
    );
  if (model.weights !== "private" && commitment !== undefined)
    throw new ProofError(`model ${model.name} has public weights: it has no weight commitment`);
  return commitment;
}
