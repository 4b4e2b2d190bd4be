import type { HookContext, NetworkHooks } from "hardhat/types/hooks";
import type { ChainType, NetworkConnection } from "hardhat/types/network";
import type { JsonRpcRequest, JsonRpcResponse } from "hardhat/types/providers";

import { pipeOf } from "./attach.js";
import { RpcError } from "./rpcServer.js";

/**
 * Sibyl's network hook (the plugin registers it; it is loaded on the first connection): on a connection with a pre-execution layer attached (the testing
 * fixture attaches one when it starts its node), transactions, gas estimates and calls go
 * through the layer, so a contract's synchronous inference "just works" in a Hardhat test or
 * script. The layer reaches the chain through `next`, never through itself; every other
 * request, and every request on a connection without a layer, goes straight on.
 */
export default async (): Promise<Partial<NetworkHooks>> => ({
  async onRequest<ChainTypeT extends ChainType | string>(
    context: HookContext,
    connection: NetworkConnection<ChainTypeT>,
    request: JsonRpcRequest,
    next: (
      nextContext: HookContext,
      nextConnection: NetworkConnection<ChainTypeT>,
      nextRequest: JsonRpcRequest,
    ) => Promise<JsonRpcResponse>,
  ): Promise<JsonRpcResponse> {
    const layer = pipeOf(connection.id);
    if (!layer || !layer.handles(request.method) || !Array.isArray(request.params))
      return next(context, connection, request);
    const rpc = async (method: string, params: unknown[]): Promise<unknown> => {
      const response = await next(context, connection, { jsonrpc: "2.0", id: request.id, method, params });
      if ("error" in response)
        throw new RpcError(response.error.code, response.error.message, response.error.data);
      return response.result;
    };
    try {
      const result = await layer.handle(request.method, request.params, rpc);
      return { jsonrpc: "2.0", id: request.id, result };
    } catch (e) {
      // the layer's own refusals become JSON-RPC errors; the chain's errors (a revert, with its
      // data) reach the caller exactly as Hardhat raised them
      if (e instanceof RpcError) return { jsonrpc: "2.0", id: request.id, error: e.toJSON() };
      throw e;
    }
  },
});
