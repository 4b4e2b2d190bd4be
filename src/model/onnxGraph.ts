// onnx-proto is CommonJS with no export Node can detect statically: take its exports object.
import onnxProto from "onnx-proto";
import onnx = onnxProto.onnx;

import { ModelFormatError } from "../errors.js";
import {
  type Constant,
  dataTypeName,
  decodeConstantNode,
  decodeTensor,
  num,
  type OnnxNode,
} from "./onnxDecode.js";
import {
  type ChainTensor,
  LayerBuilder,
  type NodeContext,
  SUPPORTED_OPS,
  UnsupportedOperatorError,
} from "./onnxOperators.js";
import type { Layer } from "./schema.js";

/**
 * The graph walk of the ONNX import (src/model/onnx.ts). Sibyl runs a chain of layers, so
 * the graph must be one path of nodes from its one input to its one output, each node
 * taking the previous one's output. The only other edges allowed are identity skip
 * connections: an Add may join the path's current tensor with an earlier tensor of the
 * path, unchanged (a residual block); such a tensor feeds the next node and that Add.
 * Weights are constants: initializers, Constant nodes, or Identity nodes of either.
 */

export interface ImportedGraph {
  inputLength: number;
  /** [channels, height, width] for an image input */
  inputShape?: number[];
  layers: Layer[];
}

/** Converts a graph into Sibyl's layers; throws a ModelFormatError saying what does not fit. */
export function convertGraph(graph: onnx.IGraphProto, source: string): ImportedGraph {
  return new GraphWalk(graph, source).run();
}

const DEFAULT_HINT =
  "Sibyl imports one input (a vector or an image), a chain of supported operators with identity skip connections, and one output (docs/model-format.md)";

class GraphWalk implements NodeContext {
  private readonly constants = new Map<string, Constant>();
  /** the nodes that compute on the data (everything but Constant and constant Identity) */
  private readonly dataNodes: OnnxNode[] = [];
  /** which node computes each non-constant tensor */
  private readonly producers = new Map<string, OnnxNode>();
  /** the data nodes that read each tensor */
  private readonly readers = new Map<string, OnnxNode[]>();
  /** the tensors of the path so far, by name */
  private readonly chain = new Map<string, ChainTensor>();
  /** the data nodes converted so far */
  private readonly visited = new Set<OnnxNode>();

  constructor(
    private readonly graph: onnx.IGraphProto,
    private readonly source: string,
  ) {}

  run(): ImportedGraph {
    this.collect();
    const input = this.graphInput();
    const outputs = this.graph.output ?? [];
    if (outputs.length !== 1)
      this.fail(
        `the graph has ${outputs.length} outputs (${outputs.map((o) => o.name).join(", ")}); Sibyl models have one output`,
      );
    const builder = new LayerBuilder(this, input.image ?? [input.length]);
    const last = this.walk(builder, { name: input.name, layer: -1, shape: input.shape });
    this.checkEnd(last.name, input.name, outputs[0].name ?? "");
    return {
      inputLength: input.length,
      ...(builder.inputShape.length === 3 ? { inputShape: [...builder.inputShape] } : {}),
      layers: builder.layers,
    };
  }

  /** Sorts the nodes into constants and data nodes, and indexes who computes and reads each tensor. */
  private collect(): void {
    const nodes = this.graph.node ?? [];
    for (const t of this.graph.initializer ?? [])
      this.constants.set(t.name ?? "", decodeTensor(t, `initializer "${t.name}"`, this.source));
    this.checkOperators(nodes);
    for (const node of nodes) {
      if (node.opType === "Constant") {
        this.constants.set(this.singleOutput(node), decodeConstantNode(node, this.label(node), this.source));
      } else if (node.opType === "Identity" && this.constants.has(node.input?.[0] ?? "")) {
        this.constants.set(this.singleOutput(node), this.constants.get(node.input![0])!);
      } else {
        this.dataNodes.push(node);
        for (const out of node.output ?? []) if (out) this.producers.set(out, node);
        for (const name of new Set(node.input ?? [])) this.readers.set(name, [...this.readersOf(name), node]);
      }
    }
  }

  /**
   * Follows the path from the input: at each tensor, the one node that reads it next (an Add
   * still waiting for its other operand is a skip connection's end and comes later). Returns
   * the last tensor of the path.
   */
  private walk(builder: LayerBuilder, start: ChainTensor): ChainTensor {
    let current = start;
    this.chain.set(current.name, current);
    for (;;) {
      const at = current.name;
      const next = this.pending(at).filter((n) => !this.awaitsLaterTensor(n, at));
      if (next.length === 0) return current;
      if (next.length > 1)
        this.fail(
          `the graph is not a chain: tensor "${at}" feeds ${next.length} nodes (${next.map((n) => this.label(n)).join(", ")}); ` +
            "Sibyl follows one path, and a tensor may feed a second node only as an identity skip connection " +
            "(an Add that joins it, unchanged, to a later tensor of the path): branches that both compute before they join are not supported",
        );
      const node = next[0];
      this.visited.add(node);
      const inputs = node.input ?? [];
      const other = node.opType === "Add" ? (inputs[0] === at ? inputs[1] : inputs[0]) : undefined;
      const skip = other !== undefined ? this.chain.get(other) : undefined;
      const converted = builder.convert(node, current, skip);
      current = { name: this.singleOutput(node), ...converted };
      this.chain.set(current.name, current);
    }
  }

  /** Refuses an unsupported operator anywhere in the graph before anything else is looked at. */
  private checkOperators(nodes: OnnxNode[]): void {
    nodes.forEach((node, i) => {
      const op = node.opType ?? "";
      const domain = node.domain ?? "";
      if (domain !== "" && domain !== "ai.onnx")
        throw new UnsupportedOperatorError(
          this.source,
          `${domain}.${op}`,
          node.name || `#${i}`,
          `operator ${op} of domain ${domain} is not supported (only the default ONNX domain is)`,
        );
      if (!SUPPORTED_OPS.has(op)) throw new UnsupportedOperatorError(this.source, op, node.name || `#${i}`);
    });
  }

  /**
   * The one graph input that is not an initializer: a float vector [n], [1, n] or [batch, n],
   * or an image [batch, c, h, w] (batch 1 or symbolic).
   */
  private graphInput(): { name: string; length: number; shape: number[]; image?: number[] } {
    const inputs = (this.graph.input ?? []).filter((i) => !this.constants.has(i.name ?? ""));
    if (inputs.length !== 1)
      this.fail(
        `the graph has ${inputs.length} inputs${inputs.length ? ` (${inputs.map((i) => i.name).join(", ")})` : ""}; Sibyl models take one input`,
      );
    const input = inputs[0];
    const name = input.name ?? "";
    const tensorType = input.type?.tensorType;
    if (!tensorType) return this.fail(`input "${name}" is not a tensor`);
    if (tensorType.elemType !== onnx.TensorProto.DataType.FLOAT)
      this.fail(`input "${name}" has element type ${dataTypeName(tensorType.elemType)}; expected float`);
    const dims = tensorType.shape?.dim ?? [];
    const known = (d: onnx.TensorShapeProto.IDimension): number | undefined =>
      d.dimValue !== undefined && d.dimValue !== null && num(d.dimValue) > 0 ? num(d.dimValue) : undefined;
    const sizes = dims.map(known);
    // a leading batch dimension may be symbolic; Sibyl runs a batch of one
    const batchOfOne = (sizes[0] ?? 1) === 1;
    const rest = sizes.slice(1);
    if (dims.length === 1 && sizes[0] !== undefined) return { name, length: sizes[0], shape: [sizes[0]] };
    if (batchOfOne && rest.every((d) => d !== undefined)) {
      const sized = rest as number[];
      if (dims.length === 2) return { name, length: sized[0], shape: [1, sized[0]] };
      if (dims.length === 4) {
        const [c, h, w] = sized;
        return { name, length: c * h * w, shape: [1, c, h, w], image: [c, h, w] };
      }
    }
    const shown = `[${dims.map((d, k) => sizes[k] ?? (d.dimParam || "?")).join(", ")}]`;
    return this.fail(
      `input "${name}" has shape ${shown}; expected a vector ([n], [1, n] or [batch, n]) or an image ([batch, channels, height, width]) with known sizes`,
    );
  }

  /** After the walk: the path must have reached the graph output and taken in every node. */
  private checkEnd(last: string, inputName: string, outputName: string): void {
    const left = this.dataNodes.filter((n) => !this.visited.has(n));
    for (const add of left.filter((n) => n.opType === "Add")) {
      const [a, b] = add.input ?? [];
      const onPath = [a, b].find((t) => this.chain.has(t));
      const off = [a, b].find((t) => !this.chain.has(t) && !this.constants.has(t));
      if (onPath === undefined || off === undefined) continue;
      const producer = this.producers.get(off);
      this.fail(
        `the graph is not a chain: ${this.label(add)} joins "${onPath}" of the path from input "${inputName}" with "${off}", ` +
          (producer
            ? `which ${this.label(producer)} computes off that path; only identity skip connections (an Add of an earlier tensor of the path, unchanged) are supported`
            : "which no node, initializer or input defines"),
      );
    }
    if (last !== outputName)
      this.fail(
        `the graph is not a chain: following the nodes from input "${inputName}" ends at tensor "${last}", not at the graph output "${outputName}"`,
      );
    if (left.length > 0)
      this.fail(
        `the graph is not a chain: ${left.map((n) => this.label(n)).join(", ")} ${left.length === 1 ? "is" : "are"} not on the path from input "${inputName}" to output "${outputName}"`,
      );
  }

  /** The data nodes that read `tensor` and are not converted yet. */
  private pending(tensor: string): OnnxNode[] {
    return this.readersOf(tensor).filter((n) => !this.visited.has(n));
  }

  private readersOf(tensor: string): OnnxNode[] {
    return this.readers.get(tensor) ?? [];
  }

  /** An Add that joins `tensor` with one the path has not computed yet: a skip connection's end, for later. */
  private awaitsLaterTensor(node: OnnxNode, tensor: string): boolean {
    if (node.opType !== "Add") return false;
    return (node.input ?? []).some((t) => t !== tensor && !this.chain.has(t) && !this.constants.has(t));
  }

  // ─── NodeContext ─────────────────────────────────────────────────────────────────────

  otherReaders(layer: number, node: OnnxNode): OnnxNode[] {
    const tensors = [...this.chain.values()].filter((t) => t.layer === layer).map((t) => t.name);
    return [...new Set(tensors.flatMap((t) => this.pending(t)))].filter((n) => n !== node);
  }

  constantInput(node: OnnxNode, index: number, role: string): Constant {
    const name = (node.input ?? [])[index];
    if (name === undefined || name === "") return this.fail(`${this.label(node)}: input ${role} is missing`);
    const c = this.constants.get(name);
    if (c) return c;
    if (
      this.chain.has(name) ||
      this.producers.has(name) ||
      (this.graph.input ?? []).some((i) => i.name === name)
    )
      this.fail(
        `the graph is not a chain: ${this.label(node)} combines two computed tensors ("${(node.input ?? []).find((t) => t !== name)}" and "${name}"); its ${role} must be a constant`,
      );
    return this.fail(
      `${this.label(node)}: input ${role} "${name}" is neither a graph initializer nor the output of a Constant node`,
    );
  }

  label(node: OnnxNode): string {
    const i = (this.graph.node ?? []).indexOf(node);
    return `node "${node.name || `#${i}`}" (${node.opType})`;
  }

  unsupported(node: OnnxNode, detail: string): never {
    const i = (this.graph.node ?? []).indexOf(node);
    throw new UnsupportedOperatorError(this.source, node.opType ?? "", node.name || `#${i}`, detail);
  }

  fail(what: string, hint = DEFAULT_HINT): never {
    throw new ModelFormatError(`${this.source}: ${what}`, hint);
  }

  private singleOutput(node: OnnxNode): string {
    const outs = (node.output ?? []).filter(Boolean);
    if (outs.length !== 1) this.fail(`${this.label(node)}: expected one output, got ${outs.length}`);
    return outs[0];
  }
}
