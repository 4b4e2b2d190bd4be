import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { loadArtifacts } from "../build/artifacts";
import { connectSibyl } from "../chain/connect";
import { modelConfig } from "../chain/models";
import { InputShapeError } from "../errors";
import { dequantize, quantizeInput } from "../model/quantize";
import { RequestState } from "../node/node";
import { checkInput } from "../runtime/fixed";
import { requestInference, waitForState } from "./client";

/** `sibyl:infer`: one request from the CLI's first account, then wait for answer and settlement. */
export async function inferFromCli(
  hre: HardhatRuntimeEnvironment,
  args: { model: string; input: string; raw: boolean; timeoutMs: number },
): Promise<void> {
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
  const modelId = await registry.modelIdOf(modelConfig(artifacts, hre.ethers.ZeroAddress));
  const model = await registry.getModel(modelId);
  const t0 = Date.now();
  const { requestId, receipt } = await requestInference(precompile, modelId, input, {
    modelFee: model.config.fee,
  });
  console.log(
    `requested ${requestId}\n  input [${input.join(", ")}] (fixed point, 2^-${q.fracBits})  gas ${receipt.gasUsed}`,
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
