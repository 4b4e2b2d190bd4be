import type { SibylEnv } from "../env.js";
import { builtModelOf } from "../pipeline/finalizeCeremony.js";
import { sibylAction } from "./action.js";
import { intOption, modelFileOption, required } from "./args.js";
import { connectSibyl } from "../chain/connect.js";
import { InputShapeError } from "../errors.js";
import { dequantize, quantizeInput } from "../model/quantize.js";
import { Mode, RequestState } from "../protocol/state.js";
import { checkedModelId } from "../chain/registration.js";
import { formatEth } from "../node/policy.js";
import { type QuantizedModel, checkInput } from "../runtime/fixed.js";
import { requestInference, waitForState } from "../client/client.js";

export interface InferArgs {
  /** path to the model file (built with sibyl:build) */
  model: string;
  /** the registration to use; by default the id `sibyl:register` recorded */
  id?: string;
  /** comma-separated real values, or fixed-point integers with `raw` */
  input: string;
  raw: boolean;
  timeoutMs: number;
  /** ask in TEE mode: answered by an attested enclave, final at once */
  tee?: boolean;
}

export interface InferResult {
  requestId: string;
  modelId: string;
  input: bigint[];
  output: bigint[];
  /** Settled or Slashed */
  state: RequestState;
}

/** A decimal number: optional sign, digits with an optional fraction, optional exponent. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The request's input vector from the CLI's text: real values (quantized) or, with `raw`, fixed point. */
export function parseInput(text: string, quantized: QuantizedModel, raw: boolean): bigint[] {
  const parts = text.split(",").map((s) => s.trim());
  const empty = parts.findIndex((s) => s === "");
  if (empty >= 0)
    throw new InputShapeError(
      `input[${empty}] is empty in "${text}"`,
      "give every value, separated by single commas (an empty field is not 0)",
    );
  let input: bigint[];
  if (raw) {
    input = parts.map((s, i) => {
      if (!/^-?\d+$/.test(s))
        throw new InputShapeError(`input[${i}] = "${s}" is not an integer`, "drop --raw to pass real values");
      return BigInt(s);
    });
  } else {
    // decimal notation only: Number() would also take "0x10", "0b1" and "Infinity"
    const bad = parts.findIndex((s) => !DECIMAL.test(s) || !Number.isFinite(Number(s)));
    if (bad >= 0)
      throw new InputShapeError(
        `input[${bad}] = "${parts[bad]}" is not a number`,
        'give decimal numbers, e.g. "5.1,3.5,1.4,0.2"',
      );
    input = quantizeInput(quantized, parts.map(Number));
  }
  checkInput(quantized, input);
  return input;
}

/**
 * `sibyl:infer`: one request from the CLI's first account, with the fee the registry asks
 * (`feeFor`), in ZK mode or (`tee`) TEE mode, then wait for answer and settlement (one
 * transaction in TEE mode). Only a registration that matches the
 * local build is used (`checkedModelId`).
 */
export async function inferFromCli(env: SibylEnv, args: InferArgs): Promise<InferResult> {
  const artifacts = builtModelOf(args.model);
  const q = artifacts.quantized;
  const input = parseInput(args.input, q, args.raw);

  const { precompile, registry } = await connectSibyl(env);
  const modelId = await checkedModelId(env, registry, artifacts, args.id);
  const fee = await registry.feeFor(modelId, 0); // no hooks: an EOA has no code to call
  const t0 = Date.now();
  const mode = args.tee ? Mode.TEE : Mode.ZK;
  const { requestId, receipt } = await requestInference(precompile, modelId, input, { fee, mode });
  console.log(
    `requested ${requestId} (model ${modelId}, ${Mode[mode]} mode, fee ${formatEth(fee)})\n` +
      `  input [${input.join(", ")}] (fixed point, 2^-${q.fracBits})  gas ${receipt.gasUsed}`,
  );

  const answered = await waitForState(precompile, requestId, [RequestState.Answered, RequestState.Settled], {
    timeoutMs: args.timeoutMs,
  });
  const output = [...(await precompile.outputOf(requestId))];
  const label =
    artifacts.classes && output.length === 1
      ? ` = ${artifacts.classes[Number(output[0])]}`
      : ` ≈ [${output.map((v) => dequantize(v, q.fracBits)).join(", ")}]`;
  console.log(
    `answered after ${Date.now() - t0} ms: [${output.join(", ")}]${label}${answered === RequestState.Settled ? " (already settled)" : ""}`,
  );

  const final = await waitForState(precompile, requestId, [RequestState.Settled, RequestState.Slashed], {
    timeoutMs: args.timeoutMs,
  });
  console.log(`${RequestState[final].toLowerCase()} after ${Date.now() - t0} ms`);
  return { requestId, modelId, input, output, state: final };
}

/** `sibyl:infer` */
export default sibylAction(
  async (
    args: { model?: string; id?: string; input?: string; raw: boolean; tee: boolean; timeout: number },
    env,
  ): Promise<InferResult> =>
    inferFromCli(env, {
      model: modelFileOption(args.model),
      id: args.id,
      input: required(args.input, "--input", '"6.3,3.3,6.0,2.5"'),
      raw: args.raw,
      tee: args.tee,
      timeoutMs: (intOption(String(args.timeout), "--timeout") ?? 120) * 1000,
    }),
);
