import { ZeroHash, formatEther, formatUnits } from "ethers";

import { connectSibyl } from "../chain/connect.js";
import { type RegisteredModel, registerModel } from "../chain/models.js";
import { buildModels, setUpBatches } from "../chain/stack.js";
import { consoleLogger } from "../log.js";
import { modelCid, modelIdFromCid } from "../pipe/cid.js";
import { ChainError } from "../errors.js";
import type { ModelRegistry } from "../../typechain-types/index.js";
import { sibylAction } from "./action.js";
import { batchSizesOption, etherOption, gweiOption, intOption, modelFileOption } from "./args.js";

export interface RegisterArgs {
  model?: string;
  fee?: string;
  callbackGasPrice?: string;
  stake?: string;
  window?: string;
  unbonded: boolean;
  bindName?: string;
  batch?: string;
}

/** Binds `name` to the model unless it already is; a name bound to another model is refused. */
async function bindName(registry: ModelRegistry, name: string, modelId: string): Promise<void> {
  const bound = await registry.modelIdOfName(name);
  if (bound === modelId) {
    console.log(`  name              "${name}" (already bound to this model)`);
    return;
  }
  if (bound !== ZeroHash)
    throw new ChainError(
      `the name "${name}" is bound to another model, ${bound}, for good`,
      "names are first come and permanent: use the model's CID, or another name",
    );
  if (modelIdFromCid(name) !== undefined)
    throw new ChainError(
      `"${name}" is a Sibyl content id: it already resolves to its own model and cannot be bound`,
      "bind a name of your own, or use the CID as it is",
    );
  await (await registry.bindName(name, modelId)).wait();
  console.log(`  name              "${name}" now resolves to this model`);
}

/** `sibyl:register`: builds the model if needed and registers it; returns the registration. */
export default sibylAction(async (args: RegisterArgs, env): Promise<RegisteredModel> => {
  const model = modelFileOption(args.model);
  const batchSizes = batchSizesOption(args.batch);
  const terms = {
    fee: etherOption(args.fee, "--fee"),
    callbackGasPrice: gweiOption(args.callbackGasPrice, "--callback-gas-price"),
    stake: etherOption(args.stake, "--stake"),
    settlementWindow:
      args.window === undefined ? undefined : BigInt(intOption(args.window, "--window") as number),
    unbonded: args.unbonded,
  };
  const [artifacts] = await buildModels(env, [model], consoleLogger);
  const { registry } = await connectSibyl(env);
  const reg = await registerModel(env, registry, artifacts, terms);
  const t = reg.terms;
  console.log(`${reg.created ? "registered" : "already registered"} ${artifacts.name}`);
  console.log(`  modelId           ${reg.modelId}`);
  console.log(`  modelCID          ${modelCid(reg.modelId)}  (OpenGradient-style contracts pass this)`);
  console.log(`  owner             ${reg.owner}`);
  console.log(`  verifier          ${reg.verifier}`);
  console.log(`  verifier code     ${reg.verifierCodeHash}`);
  console.log(
    `  terms             fee ${formatEther(t.fee)} ETH, callback gas price ${formatUnits(t.callbackGasPrice, "gwei")} gwei, ` +
      `stake ${formatEther(t.stake)} ETH, window ${t.settlementWindow} s${t.unbonded ? ", unbonded" : ""}`,
  );
  console.log(`  registration gas  ${reg.gasUsed === undefined ? "none (already registered)" : reg.gasUsed}`);
  if (args.bindName !== undefined) await bindName(registry, args.bindName, reg.modelId);
  for (const b of await setUpBatches(registry, reg.modelId, artifacts.name, batchSizes, consoleLogger))
    console.log(
      `  batch ${b.k}          verifier registered (${b.layout.slotSignals} public signal(s) per request)`,
    );
  return reg;
});
