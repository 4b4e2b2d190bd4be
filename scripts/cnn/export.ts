/**
 * The export half of scripts/train-cnn.ts: the trained tfjs model as an ONNX graph (NHWC →
 * NCHW, kernels transposed, Flatten reordered), and its check with onnxruntime-node against
 * the logits tfjs computes.
 */
import { readFileSync } from "node:fs";

import type * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import * as ort from "onnxruntime-node";

import { MNIST_SIDE } from "../../src/data/index.js";
import {
  encodeOnnxModel,
  type OnnxGraph,
  type OnnxNode,
  type OnnxTensor,
} from "../../src/model/onnxWrite.js";
import { type Block, CLASSES, outSide } from "./architectures.js";
import { argmax, BN_EPSILON } from "./model.js";

export const OPSET = 13;
/** largest |ONNX logit − tfjs logit| accepted on the held-out digits */
const LOGIT_TOLERANCE = 1e-4;

/**
 * The trained network as an ONNX graph. tfjs computes in NHWC with conv kernels
 * [kh, kw, in, out] and dense kernels [in, out]; ONNX in NCHW with Conv weights
 * [out, in, kh, kw]. Gemm is written with transB = 1 (B is [out, in]), and the first Gemm
 * after Flatten has its inputs reordered from tfjs's (h, w, c) flattening to ONNX's (c, h, w).
 */
export function exportGraph(model: tfl.Sequential, blocks: readonly Block[]): OnnxGraph {
  const nodes: OnnxNode[] = [];
  const initializers: Record<string, OnnxTensor> = {};
  const weights = (name: string) => model.getLayer(name).getWeights();
  const values = (t: tf.Tensor) => Array.from(t.dataSync());
  let data = "x";
  let [c, h, w] = [1, MNIST_SIDE, MNIST_SIDE];
  // set by Flatten, for the Gemm right after it
  let flattened: { c: number; h: number; w: number } | undefined;
  let flat = false;
  const push = (node: OnnxNode) => {
    nodes.push(node);
    data = node.outputs[0];
  };

  const gemm = (name: string, units: number) => {
    const [kernel, bias] = weights(name);
    const k = values(kernel);
    const nIn = kernel.shape[0];
    // B[o][i], i in ONNX's order, is tfjs's kernel[from(i)][o]
    const f = flattened;
    const from = f
      ? (i: number) => (i % (f.h * f.w)) * f.c + Math.floor(i / (f.h * f.w)) // c·H·W + h·W + w → (h·W + w)·C + c
      : (i: number) => i;
    const matrix = new Array<number>(units * nIn);
    for (let o = 0; o < units; o++)
      for (let i = 0; i < nIn; i++) matrix[o * nIn + i] = k[from(i) * units + o];
    flattened = undefined;
    initializers[`${name}.weight`] = { dims: [units, nIn], values: matrix };
    initializers[`${name}.bias`] = { dims: [units], values: values(bias) };
    push({
      op: "Gemm",
      name,
      inputs: [data, `${name}.weight`, `${name}.bias`],
      outputs: [name],
      attrs: { transB: { i: 1 } },
    });
  };
  const flatten = () => {
    flattened = { c, h, w };
    flat = true;
    push({ op: "Flatten", name: "flatten", inputs: [data], outputs: ["flatten"], attrs: { axis: { i: 1 } } });
  };

  blocks.forEach((b, i) => {
    const k = i + 1;
    if (b.kind === "conv") {
      const [kernel, bias] = weights(`conv${k}`);
      const [kh, kw, cin, cout] = kernel.shape;
      const kv = values(kernel);
      const wv = new Array<number>(kv.length);
      for (let o = 0; o < cout; o++)
        for (let ci = 0; ci < cin; ci++)
          for (let y = 0; y < kh; y++)
            for (let x = 0; x < kw; x++)
              wv[((o * cin + ci) * kh + y) * kw + x] = kv[((y * kw + x) * cin + ci) * cout + o];
      initializers[`conv${k}.weight`] = { dims: [cout, cin, kh, kw], values: wv };
      initializers[`conv${k}.bias`] = { dims: [cout], values: values(bias) };
      push({
        op: "Conv",
        name: `conv${k}`,
        inputs: [data, `conv${k}.weight`, `conv${k}.bias`],
        outputs: [`conv${k}`],
        attrs: {
          kernel_shape: { ints: [kh, kw] },
          strides: { ints: [b.stride, b.stride] },
          pads: { ints: [0, 0, 0, 0] },
          dilations: { ints: [1, 1] },
          group: { i: 1 },
        },
      });
      const [gamma, beta, mean, variance] = weights(`bn${k}`);
      const bnInputs = { scale: gamma, B: beta, mean, var: variance };
      for (const [role, t] of Object.entries(bnInputs))
        initializers[`bn${k}.${role}`] = { dims: [cout], values: values(t) };
      push({
        op: "BatchNormalization",
        name: `bn${k}`,
        inputs: [data, ...Object.keys(bnInputs).map((role) => `bn${k}.${role}`)],
        outputs: [`bn${k}`],
        attrs: { epsilon: { f: BN_EPSILON } },
      });
      push({ op: "Relu", name: `relu${k}`, inputs: [data], outputs: [`relu${k}`] });
      [c, h, w] = [cout, outSide(h, kh, b.stride), outSide(w, kw, b.stride)];
    } else if (b.kind === "maxpool") {
      push({
        op: "MaxPool",
        name: `pool${k}`,
        inputs: [data],
        outputs: [`pool${k}`],
        attrs: {
          kernel_shape: { ints: [b.size, b.size] },
          strides: { ints: [b.size, b.size] },
          pads: { ints: [0, 0, 0, 0] },
        },
      });
      [h, w] = [outSide(h, b.size, b.size), outSide(w, b.size, b.size)];
    } else {
      if (!flat) flatten();
      gemm(`fc${k}`, b.units);
      push({ op: "Relu", name: `relu${k}`, inputs: [data], outputs: [`relu${k}`] });
      [c, h, w] = [b.units, 1, 1];
    }
  });
  if (!flat) flatten();
  gemm("logits", CLASSES);
  push({
    op: "ArgMax",
    name: "class",
    inputs: [data],
    outputs: ["class"],
    attrs: { axis: { i: 1 }, keepdims: { i: 1 } },
  });
  return {
    name: "mnist_cnn",
    inputs: [{ name: "x", dims: ["N", 1, MNIST_SIDE, MNIST_SIDE] }],
    outputs: [{ name: "class", type: "int64", dims: ["N", 1] }],
    nodes,
    initializers,
  };
}

/**
 * Runs the written model file and a logits variant of the same graph (without the ArgMax)
 * with onnxruntime-node on every input; throws unless each class equals tfjs's and each
 * logit is within LOGIT_TOLERANCE.
 */
export async function checkWithOnnxRuntime(
  onnxPath: string,
  graph: OnnxGraph,
  inputs: readonly number[][],
  tfjsLogits: Float32Array,
): Promise<{ classesAgree: number; maxLogitDifference: number; logits: Float32Array }> {
  const x = new ort.Tensor("float32", Float32Array.from(inputs.flat()), [
    inputs.length,
    1,
    MNIST_SIDE,
    MNIST_SIDE,
  ]);
  const classifier = await ort.InferenceSession.create(readFileSync(onnxPath));
  const classes = (await classifier.run({ x })).class.data as BigInt64Array;
  const logitsGraph: OnnxGraph = {
    ...graph,
    nodes: graph.nodes.filter((n) => n.op !== "ArgMax"),
    outputs: [{ name: "logits", dims: ["N", CLASSES] }],
  };
  const scorer = await ort.InferenceSession.create(encodeOnnxModel(logitsGraph, { opset: OPSET }));
  const logits = (await scorer.run({ x })).logits.data as Float32Array;
  await Promise.all([classifier.release(), scorer.release()]);

  let classesAgree = 0;
  let maxLogitDifference = 0;
  const disagreements: string[] = [];
  inputs.forEach((_, i) => {
    const ours = argmax(tfjsLogits, i);
    if (Number(classes[i]) === ours) classesAgree++;
    else disagreements.push(`digit ${i}: ONNX says ${classes[i]}, tfjs ${ours}`);
  });
  logits.forEach((v, k) => (maxLogitDifference = Math.max(maxLogitDifference, Math.abs(v - tfjsLogits[k]))));
  console.log(
    `onnxruntime-node ${ort.env.versions.node}: ${classesAgree}/${inputs.length} classes agree with tfjs, ` +
      `max |logit difference| ${maxLogitDifference.toExponential(2)}`,
  );
  if (disagreements.length || !(maxLogitDifference <= LOGIT_TOLERANCE))
    throw new Error(
      `the ONNX export does not compute what tfjs computes: ${disagreements.slice(0, 5).join("; ") || "no class differs"}; ` +
        `max |logit difference| ${maxLogitDifference} (tolerance ${LOGIT_TOLERANCE}). ` +
        `Check the layout conversions in exportGraph.`,
    );
  return { classesAgree, maxLogitDifference, logits };
}
