import { connectSibyl } from "../chain/connect.js";
import { type RequestStatus, explainRequest } from "../client/status.js";
import { ChainError, SibylError } from "../errors.js";
import { RequestState } from "../protocol/state.js";
import { sibylAction } from "./action.js";
import { required } from "./args.js";

/** `sibyl:status`: explains one request; an unknown id is an error (non-zero exit). */
export default sibylAction(async (args: { id?: string }, env): Promise<RequestStatus> => {
  const id = required(args.id, "--id", "<the request id sibyl:infer printed>");
  if (!/^0x[0-9a-fA-F]{64}$/.test(id))
    throw new SibylError(
      `--id must be a request id (0x followed by 64 hex digits), got ${id}`,
      "take it from the InferenceRequested event, or from sibyl:infer's output",
    );
  const { precompile } = await connectSibyl(env);
  const status = await explainRequest(precompile, id);
  if (status.state === RequestState.None)
    throw new ChainError(
      `request ${id} is unknown to the precompile at ${String(precompile.target)} on network "${env.networkName}"`,
      "check the id, and pass the --network the request was sent on",
    );
  console.log(status.lines.join("\n"));
  return status;
});
