import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { loadArtifacts } from "../build/artifacts";
import { connectSibyl } from "../chain/connect";
import { InputShapeError } from "../errors";
import { dequantize, quantizeInput } from "../model/quantize";
import { RequestState } from "../protocol/state";
import { checkedModelId } from "../chain/registration";
import { formatEth } from "../node/policy";
import { checkInput } from "../runtime/fixed";
import { requestInference, waitForState } from "./client";

export interface InferArgs {
  /** model name (built under build/models) */
  model: string;
  /** the registration to use; by default the id `sibyl:register` recorded */
  id?: string;
  /** comma-separated real values, or fixed-point integers with `raw` */
  input: string;
  raw: boolean;
  timeoutMs: number;
}

/**
 * `sibyl:infer`: one request from the CLI's first account, with the fee the registry asks
 * (`feeFor`), then wait for answer and settlement. Only a registration that matches the
 * local build is used (`checkedModelId`).
 */
export async function inferFromCli(hre: HardhatRuntimeEnvironment, args: InferArgs): Promise<void> {
  const artifacts = loadArtifacts(args.model);
  const q = artifacts.quantized;
  const parts = args.input.split(",").map((s) => s.trim());
  let input: bigint[];
  if (args.raw) {
    input = parts.map((s, i) => {
      if (!/^-?\d+$/.test(s))
        throw new InputShapeError(`input[${i}] = "${s}" is not an integer`, "drop --raw to pass real values");
      return BigInt(s);
    });
  } else {
    const reals = parts.map(Number);
    const bad = reals.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new InputShapeError(`input[${bad}] = "${parts[bad]}" is not a number`);
    input = quantizeInput(q, reals);
  }
  checkInput(q, input);

  const { precompile, registry } = await connectSibyl(hre);
  const modelId = await checkedModelId(hre, registry, artifacts, args.id);
  const fee = await registry.feeFor(modelId, 0); // no hooks: an EOA has no code to call
  const t0 = Date.now();
  const { requestId, receipt } = await requestInference(precompile, modelId, input, { fee });
  console.log(
    `requested ${requestId} (model ${modelId}, fee ${formatEth(fee)})\n` +
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
}
