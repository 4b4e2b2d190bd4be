import type { PipeLayer } from "./layer.js";

/**
 * Which Hardhat network connections have a pre-execution layer in front of them. The plugin's
 * network hook (`hook.ts`, registered by the plugin) looks a connection up here on every JSON-RPC
 * request; the testing fixture attaches a layer when it starts its node. A connection without
 * a layer is served exactly as Hardhat serves it.
 */

const layers = new Map<number, PipeLayer>();

/** Puts `layer` in front of the connection; returns a function that takes it away again. */
export function attachPipe(connection: { id: number }, layer: PipeLayer): () => void {
  layers.set(connection.id, layer);
  return () => {
    if (layers.get(connection.id) === layer) layers.delete(connection.id);
  };
}

/** The layer in front of a connection, if any. */
export function pipeOf(connectionId: number): PipeLayer | undefined {
  return layers.get(connectionId);
}
