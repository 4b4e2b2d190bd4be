/**
 * The circomlib-ml baseline of the bench (issue 13): the MNIST MLP built from the templates of
 * the npm package circomlib-ml the way its README and its own MNIST test circuits use them, and
 * the witness tampering that asks each construction whether a changed hint still satisfies its
 * constraints.
 *
 * The construction: `Dense(196, 32)` → 32 × `ReLU()` → `Dense(32, 10)` → `ArgMax(10)`. Its
 * Dense layers never rescale (README, "Weights and biases scaling"): scales multiply from layer
 * to layer and each bias is scaled to match. The integers are ours: inputs at 2^fracBits, layer-1
 * weights at 2^wf1 and biases at 2^(fracBits + wf1), layer-2 weights at 2^wf2 and biases at
 * 2^(fracBits + wf1 + wf2) (our layer-2 bias times 2^wf1). Weights and biases are private inputs
 * of `main`, as in circomlib-ml's tests, and nothing binds them: a prover may prove any class with
 * weights of its choosing. That is a second weakness, reported beside the tamper test, not by it.
 * The 196 inputs are public (a proof has to say which input it is about) and the class is the
 * public output.
 *
 * Tampering: circomlib-ml's `ReLU` asks `IsPositive`, which decomposes its input with
 * `Num2Bits(254)` and reads the sign with circomlib's `Sign()`, without an alias check. A
 * positive x below 2^254 − p has a second 254-bit decomposition, that of x + p, which `Sign()`
 * calls negative: the ReLU then outputs 0, and every constraint still holds. Sibyl's rescale
 * pins its quotient with a range-checked remainder (circuits/lib/fixedpoint.circom): moving the
 * quotient by k moves the remainder out of its bits' range.
 */
import { createHash } from "node:crypto";
import { existsSync, promises as fs } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

import { compileCircuit } from "../circuit/compiler.js";
import { BN254_P, fromField, toField } from "../circuit/field.js";
import { circuitFingerprint } from "../circuit/fingerprint.js";
import { circuitInputFor } from "../circuit/inputs.js";
import { pack } from "../circuit/packing.js";
import { type R1cs, readR1cs } from "../circuit/r1cs.js";
import { type CircuitInput as WitnessInput, calculateWitness, readSymbols } from "../circuit/witness.js";
import { SibylError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { BUILD_DIR } from "../paths.js";
import { type QDense, type QuantizedModel, runQuantized } from "../runtime/fixed.js";

const require = createRequire(import.meta.url);

/** The construction a row of the comparison measures. */
export type Construction = "sibyl" | "circomlib-ml";

/** The MLP in circomlib-ml's terms: integer weights at our quantized scales, no rescale. */
export interface BaselineNetwork {
  /** the circuit's name in the bench (`<model>_circomlib_ml`) */
  name: string;
  inputs: number;
  hidden: number;
  classes: number;
  /** w1[i][j]: input i → hidden neuron j, at 2^wf1 (circomlib-ml's `weights[nInputs][nOutputs]`) */
  w1: bigint[][];
  /** at 2^(fracBits + wf1) */
  b1: bigint[];
  /** w2[j][c]: hidden neuron j → class c, at 2^wf2 */
  w2: bigint[][];
  /** at 2^(fracBits + wf1 + wf2): nothing is rescaled between the layers */
  b2: bigint[];
}

/**
 * The baseline network of a quantized dense → ReLU → dense → argmax model, with the model's own
 * integers (layer 2's bias multiplied by 2^wf1, the scale layer 1 never divides away).
 */
export function baselineNetwork(model: QuantizedModel): BaselineNetwork {
  const types = model.layers.map((l) => l.type).join(",");
  if (types !== "dense,relu,dense,argmax")
    throw new SibylError(
      `the circomlib-ml baseline is built for dense → relu → dense → argmax networks; model ${model.name} is ${types}`,
      "compare the MNIST MLP (models/mnist/model.json)",
    );
  const [l1, , l2] = model.layers as [QDense, unknown, QDense];
  const transpose = (w: bigint[][]) => w[0].map((_, i) => w.map((row) => row[i]));
  return {
    name: `${model.name}_circomlib_ml`,
    inputs: l1.weights[0].length,
    hidden: l1.weights.length,
    classes: l2.weights.length,
    w1: transpose(l1.weights),
    b1: [...l1.bias],
    w2: transpose(l2.weights),
    b2: l2.bias.map((b) => b << BigInt(l1.weightFracBits)),
  };
}

/** Dense outputs of the network, each followed by a ReLU or the argmax: the neurons of the comparison. */
export function neuronCount(net: Pick<BaselineNetwork, "hidden" | "classes">): number {
  return net.hidden + net.classes;
}

/** What the baseline computes, exactly, in BigInt: an evaluation independent of the circuit. */
export interface BaselineForward {
  /** layer 1 before the ReLU, at 2^(fracBits + wf1) */
  hidden: bigint[];
  /** after the ReLU */
  relu: bigint[];
  /** layer 2, at 2^(fracBits + wf1 + wf2) */
  logits: bigint[];
  /** the first index of the largest logit (circomlib-ml's ArgMax keeps the earlier index on ties) */
  class: number;
}

/** Runs the baseline network on `x`; `zeroed` forces that hidden neuron's ReLU output to 0 (the tamper's effect). */
export function baselineForward(net: BaselineNetwork, x: readonly bigint[], zeroed?: number): BaselineForward {
  const hidden = net.b1.map((b, j) => x.reduce((acc, v, i) => acc + v * net.w1[i][j], b));
  const relu = hidden.map((h, j) => (j === zeroed || h < 0n ? 0n : h));
  const logits = net.b2.map((b, c) => relu.reduce((acc, v, j) => acc + v * net.w2[j][c], b));
  return { hidden, relu, logits, class: argmaxIndex(logits) };
}

function argmaxIndex(values: readonly bigint[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The circuit's source: circomlib-ml's templates wired as its MNIST test circuits wire them. */
export function baselineSource(net: Pick<BaselineNetwork, "inputs" | "hidden" | "classes">): string {
  return `// Generated by src/bench/baselineCircuit.ts for the bench's circomlib-ml baseline; do not edit.
// circomlib-ml ${packageVersion("circomlib-ml")}: Dense → ReLU → Dense → ArgMax, no rescale. The
// weights and biases are private inputs that nothing binds; the inputs are public.
pragma circom 2.1.0;

include "circomlib-ml/circuits/Dense.circom";
include "circomlib-ml/circuits/ReLU.circom";
include "circomlib-ml/circuits/ArgMax.circom";

template CircomlibMlMlp(nIn, nHidden, nOut) {
    signal input in[nIn];
    signal input w1[nIn][nHidden];
    signal input b1[nHidden];
    signal input w2[nHidden][nOut];
    signal input b2[nOut];
    signal output out;

    component dense1 = Dense(nIn, nHidden);
    dense1.in <== in;
    dense1.weights <== w1;
    dense1.bias <== b1;

    component relu[nHidden];
    component dense2 = Dense(nHidden, nOut);
    for (var j = 0; j < nHidden; j++) {
        relu[j] = ReLU();
        relu[j].in <== dense1.out[j];
        dense2.in[j] <== relu[j].out;
    }
    dense2.weights <== w2;
    dense2.bias <== b2;

    component argmax = ArgMax(nOut);
    argmax.in <== dense2.out;
    out <== argmax.out;
}

component main {public [in]} = CircomlibMlMlp(${net.inputs}, ${net.hidden}, ${net.classes});
`;
}

/** The baseline circuit's input for `x`, as snarkjs and the witness calculator take it. */
export function baselineInput(
  net: BaselineNetwork,
  x: readonly bigint[],
): Record<string, string[] | string[][]> {
  const s = (v: bigint) => toField(v).toString();
  return {
    in: x.map(s),
    w1: net.w1.map((row) => row.map(s)),
    b1: net.b1.map(s),
    w2: net.w2.map((row) => row.map(s)),
    b2: net.b2.map(s),
  };
}

/** A compiled circuit of the bench's own (the baseline, or a helper). */
export interface CompiledCircuit {
  dir: string;
  r1csPath: string;
  wasmPath: string;
  symPath: string;
  constraints: number;
  compileMs: number;
}

/** Where the baseline's build products go: build/baseline/ (never into git). */
export function baselineBuildDir(): string {
  return join(BUILD_DIR, "baseline");
}

/** Compiles the baseline circuit (circom --O2, as model circuits are), cached by its source. */
export function compileBaseline(net: BaselineNetwork, log: Logger = silentLogger): Promise<CompiledCircuit> {
  return compileCached(net.name, baselineSource(net), 2, log);
}

function circomlibMlIncludeDir(): string {
  return dirname(dirname(require.resolve("circomlib-ml/package.json")));
}

function packageVersion(name: string): string {
  return (require(`${name}/package.json`) as { version: string }).version;
}

/**
 * Compiles `source` into build/baseline/<label>-<hash>/ unless that build exists. The key covers
 * the source, what it includes from circuits/lib and circomlib (`circuitFingerprint`), the
 * circomlib-ml version and the optimization level. The build happens in a staging folder moved
 * into place, so an interrupted build leaves nothing half-written behind.
 */
async function compileCached(
  label: string,
  source: string,
  optimization: 0 | 2,
  log: Logger,
): Promise<CompiledCircuit> {
  const key = createHash("sha256")
    .update(source)
    .update(circuitFingerprint(source))
    .update(`circomlib-ml ${packageVersion("circomlib-ml")} O${optimization}`)
    .digest("hex")
    .slice(0, 16);
  const dir = join(baselineBuildDir(), `${label}-${key}`);
  const files = {
    r1csPath: join(dir, "main.r1cs"),
    wasmPath: join(dir, "main_js", "main.wasm"),
    symPath: join(dir, "main.sym"),
  };
  const record = join(dir, "compiled.json");
  if (existsSync(record) && Object.values(files).every((p) => existsSync(p))) {
    const { constraints, compileMs } = JSON.parse(await fs.readFile(record, "utf8")) as CompiledCircuit;
    return { dir, ...files, constraints, compileMs };
  }
  log.info(`  compiling ${label} (circom --O${optimization})…`);
  const staging = `${dir}.tmp-${process.pid}`;
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging, { recursive: true });
  await fs.writeFile(join(staging, "main.circom"), source);
  const { constraints, compileMs } = await compileCircuit({
    circuitPath: join(staging, "main.circom"),
    outDir: staging,
    optimization,
    includePaths: [circomlibMlIncludeDir()],
  });
  await fs.writeFile(join(staging, "compiled.json"), JSON.stringify({ label, constraints, compileMs }));
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rename(staging, dir);
  return { dir, ...files, constraints, compileMs };
}

/**
 * Small circuits that recompute the signals downstream of a tampered hint with the templates'
 * own witness code: compiled alone with --O0 (every signal keeps a wire), then spliced into the
 * tampered witness by name.
 */
const HELPERS = {
  sign: { label: "helper-sign", include: "circomlib-ml/circuits/circomlib/sign.circom", main: "Sign()" },
  dense: (nIn: number, nOut: number) => ({
    label: "helper-dense",
    include: "circomlib-ml/circuits/Dense.circom",
    main: `Dense(${nIn}, ${nOut})`,
  }),
  mlArgmax: (n: number) => ({
    label: "helper-argmax-ml",
    include: "circomlib-ml/circuits/ArgMax.circom",
    main: `ArgMax(${n})`,
  }),
  sibylArgmax: (n: number, bits: number) => ({
    label: "helper-argmax",
    include: "argmax.circom",
    main: `ArgMax(${n}, ${bits})`,
  }),
};

function compileHelper(h: { label: string; include: string; main: string }): Promise<CompiledCircuit> {
  const source =
    `// Generated by src/bench/baselineCircuit.ts to recompute ${h.main}'s signals; do not edit.\n` +
    `pragma circom 2.1.0;\n\ninclude "${h.include}";\n\ncomponent main = ${h.main};\n`;
  return compileCached(h.label, source, 0, silentLogger);
}

/** The symbol table of a compiled circuit, read once per file. */
const symbolTables = new Map<string, Promise<Map<string, number>>>();
function symbolsOf(circuit: Pick<CompiledCircuit, "symPath">): Promise<Map<string, number>> {
  let table = symbolTables.get(circuit.symPath);
  if (!table) {
    table = readSymbols(circuit.symPath);
    symbolTables.set(circuit.symPath, table);
  }
  return table;
}

/**
 * A witness addressed by signal name (`main.relu[3].out`). Signals the --O2 simplifier
 * substituted away have no wire: they are linear combinations of the others, so writing the
 * wired signals consistently makes them consistent too, and `set` skips them.
 */
export class NamedWitness {
  constructor(
    readonly symbols: Map<string, number>,
    readonly values: bigint[],
  ) {}

  /** The honest witness of `circuit` for `input`, computed by its witness calculator. */
  static async of(
    circuit: Pick<CompiledCircuit, "wasmPath" | "symPath">,
    input: WitnessInput,
  ): Promise<NamedWitness> {
    return new NamedWitness(await symbolsOf(circuit), await calculateWitness(circuit.wasmPath, input));
  }

  copy(): NamedWitness {
    return new NamedWitness(this.symbols, [...this.values]);
  }

  wireOf(name: string): number | undefined {
    const wire = this.symbols.get(name);
    return wire === undefined || wire < 0 ? undefined : wire;
  }

  /** Whether the circuit has a signal of that name at all (with a wire or substituted away). */
  hasSignal(name: string): boolean {
    return this.symbols.has(name);
  }

  /** The signed value of a wired signal. */
  get(name: string): bigint {
    const wire = this.wireOf(name);
    if (wire === undefined) throw new SibylError(`the witness has no wire for ${name}`);
    return fromField(this.values[wire]);
  }

  /** Writes a signal's value (reduced into the field); false when the signal has no wire. */
  set(name: string, value: bigint): boolean {
    const wire = this.wireOf(name);
    if (wire === undefined) return false;
    this.values[wire] = toField(value);
    return true;
  }

  /**
   * Copies every signal of `helper` (a template compiled alone as `main`) into the component at
   * `prefix`: the helper's `main.x.y` becomes `<prefix>.x.y`. Returns how many wires it wrote.
   */
  adopt(helper: NamedWitness, prefix: string): number {
    let written = 0;
    for (const [name, wire] of helper.symbols) {
      if (wire < 0 || !name.startsWith("main.")) continue;
      if (this.set(`${prefix}${name.slice("main".length)}`, helper.values[wire])) written++;
    }
    return written;
  }

  /** The names of the wired signals on `wires`, in wire order. */
  namesOf(wires: Iterable<number>): string[] {
    const byWire = new Map<number, string>();
    for (const [name, wire] of this.symbols) if (wire >= 0) byWire.set(wire, name);
    return [...new Set(wires)]
      .sort((a, b) => a - b)
      .map((w) => byWire.get(w) ?? (w === 0 ? "1" : `wire ${w}`));
  }
}

/** The indices of the r1cs constraints that `witness` violates (A·w × B·w ≠ C·w mod p). */
export function unsatisfiedConstraints(r1cs: R1cs, witness: readonly bigint[]): number[] {
  const dot = (lc: Map<number, bigint>) => {
    let acc = 0n;
    for (const [wire, coeff] of lc) acc += coeff * witness[wire];
    return acc % BN254_P;
  };
  const violated: number[] = [];
  r1cs.constraints.forEach(({ a, b, c }, i) => {
    if ((dot(a) * dot(b)) % BN254_P !== dot(c)) violated.push(i);
  });
  return violated;
}

/** `main.x.bits[1]`, `main.x.bits[2]`, … → `main.x.bits[1..2]`: signal names grouped by their last index. */
export function groupNames(names: readonly string[]): string[] {
  const groups = new Map<string, number[]>();
  for (const name of names) {
    const m = /^(.*)\[(\d+)\]$/.exec(name);
    const [base, index] = m ? [m[1], Number(m[2])] : [name, -1];
    groups.set(base, [...(groups.get(base) ?? []), index]);
  }
  return [...groups].map(([base, indices]) => {
    if (indices.includes(-1)) return base;
    indices.sort((a, b) => a - b);
    const runs: string[] = [];
    for (let i = 0; i < indices.length; ) {
      let j = i;
      while (j + 1 < indices.length && indices[j + 1] === indices[j] + 1) j++;
      runs.push(i === j ? `${indices[i]}` : `${indices[i]}..${indices[j]}`);
      i = j + 1;
    }
    return `${base}[${runs.join(",")}]`;
  });
}

/** One tampered witness and what the constraint system says of it. */
export interface TamperOutcome {
  construction: Construction;
  /** which held-out sample the witness is for (index into the samples searched) */
  sample: number;
  /** the hinted value changed, in words */
  change: string;
  classBefore: number;
  /** the class the tampered witness outputs (its public output) */
  classAfter: number;
  /** true when the tampered witness satisfies every constraint of the r1cs */
  accepted: boolean;
  violatedConstraints: number;
  /** the signals of the violated constraints, grouped (`groupNames`) */
  violatedSignals: string[];
  honest: bigint[];
  tampered: bigint[];
}

/**
 * The first (sample, hidden neuron) whose ReLU, zeroed, changes the baseline's class: samples in
 * order, neurons in order, among positive pre-activations below 2^254 − p (those with an aliased
 * decomposition). Deterministic; undefined when no such pair exists.
 */
export function findBaselineTamper(
  net: BaselineNetwork,
  samples: readonly (readonly bigint[])[],
): { sample: number; neuron: number } | undefined {
  const aliasable = (1n << 254n) - BN254_P;
  for (let s = 0; s < samples.length; s++) {
    const honest = baselineForward(net, samples[s]);
    for (let j = 0; j < net.hidden; j++) {
      const h = honest.hidden[j];
      if (h <= 0n || h >= aliasable) continue;
      if (baselineForward(net, samples[s], j).class !== honest.class) return { sample: s, neuron: j };
    }
  }
  return undefined;
}

/**
 * The baseline's tamper: the `Num2Bits(254)` hint inside hidden neuron `neuron`'s ReLU takes the
 * bits of x + p instead of x (the same field element), so `Sign()` reads "negative" and the ReLU
 * outputs 0; `Sign`'s internals, the ReLU's output, the second Dense layer and the ArgMax are
 * recomputed from there by the templates' own witness code, and the class becomes whatever the
 * zeroed neuron makes it. With `aliased: false` the same surgery writes the canonical bits back:
 * it must reproduce the honest witness exactly (the check that the surgery itself is sound).
 */
export async function tamperBaseline(
  circuit: CompiledCircuit,
  net: BaselineNetwork,
  x: readonly bigint[],
  where: { sample: number; neuron: number },
  opts: { aliased?: boolean; r1cs?: R1cs } = {},
): Promise<TamperOutcome> {
  const aliased = opts.aliased ?? true;
  const j = where.neuron;
  const honest = await NamedWitness.of(circuit, baselineInput(net, x));
  const before = baselineForward(net, x);
  const h = before.hidden[j];
  const after = aliased ? baselineForward(net, x, j) : before;
  const t = honest.copy();
  const relu = `main.relu[${j}]`;

  // the hint: 254 bits of x + p (or of x), which recompose to x mod p either way
  const decomposed = aliased ? toField(h) + BN254_P : toField(h);
  const bits = Array.from({ length: 254 }, (_, i) => (decomposed >> BigInt(i)) & 1n);
  bits.forEach((b, i) => t.set(`${relu}.isPositive.num2Bits.out[${i}]`, b));
  const sign = await NamedWitness.of(await compileHelper(HELPERS.sign), { in: bits });
  t.adopt(sign, `${relu}.isPositive.sign`);
  const positive = 1n - sign.get("main.sign");
  t.set(`${relu}.isPositive.out`, positive);
  t.set(`${relu}.out`, h * positive);

  // downstream: the second layer on the new ReLU outputs, the argmax on its logits
  const reluOut = before.relu.map((v, k) => (k === j ? h * positive : v));
  const dense = await NamedWitness.of(await compileHelper(HELPERS.dense(net.hidden, net.classes)), {
    in: reluOut,
    weights: net.w2,
    bias: net.b2,
  });
  t.adopt(dense, "main.dense2");
  const argmax = await NamedWitness.of(await compileHelper(HELPERS.mlArgmax(net.classes)), {
    in: after.logits,
  });
  t.adopt(argmax, "main.argmax");
  t.set("main.out", BigInt(after.class));

  const r1cs = opts.r1cs ?? (await readR1cs(circuit.r1csPath));
  const violated = unsatisfiedConstraints(r1cs, t.values);
  return {
    construction: "circomlib-ml",
    sample: where.sample,
    change: aliased
      ? `${relu}.isPositive.num2Bits.out: the 254 bits of x + p instead of x (x = ${h})`
      : `${relu}.isPositive.num2Bits.out: the canonical bits of x (control)`,
    classBefore: Number(honest.get("main.out")),
    classAfter: Number(t.get("main.out")),
    accepted: violated.length === 0,
    violatedConstraints: violated.length,
    violatedSignals: violatedSignals(r1cs, t, violated),
    honest: honest.values,
    tampered: t.values,
  };
}

function violatedSignals(r1cs: R1cs, w: NamedWitness, violated: readonly number[]): string[] {
  const wires = violated.flatMap((i) => {
    const { a, b, c } = r1cs.constraints[i];
    return [...a.keys(), ...b.keys(), ...c.keys()].filter((wire) => wire !== 0);
  });
  return groupNames(w.namesOf(wires));
}

/** What Sibyl's tamper needs of a built model: its circuit files and quantized integers. */
export interface SibylCircuit {
  quantized: QuantizedModel;
  r1csPath: string;
  wasmPath: string;
}

/**
 * Sibyl's tamper, on a built model's circuit (names as src/circuit/generate.ts writes them:
 * `l<i>` the values of layer i, `l<i>Scale[o]` its rescales, `l<i>ArgMax`): the last dense layer's
 * rescale of the runner-up class gets quotient q + k and remainder r − k·2^wf, k the smallest that
 * makes it the largest, so the linear relation `in = q·2^wf + r` still holds; the quotient's range
 * bits, the argmax and the public output follow. The remainder's bits can no longer be bits:
 * `Bits(wf)` rejects it. `k = 0` makes the same surgery with no change (the control).
 */
export async function tamperSibyl(
  circuit: SibylCircuit,
  x: readonly bigint[],
  sample: number,
  opts: { k?: bigint; r1cs?: R1cs } = {},
): Promise<TamperOutcome> {
  const q = circuit.quantized;
  const run = runQuantized(q, x);
  let last = q.layers.length - 1;
  while (last >= 0 && q.layers[last].type !== "dense") last--;
  const layer = q.layers[last] as QDense;
  if (q.layers[last + 1]?.type !== "argmax")
    throw new SibylError(`Sibyl's tamper needs a dense layer followed by argmax; ${q.name} has none`);
  const values = run.activations[last];
  const before = Number(run.output[0]);
  const runnerUp = argmaxIndex(values.map((v, i) => (i === before ? -(1n << 256n) : v)));
  const k = opts.k ?? values[before] - values[runnerUp] + 1n;
  const tamperedValues = values.map((v, i) => (i === runnerUp ? v + k : v));
  const after = argmaxIndex(tamperedValues);

  const symbols = await symbolsOf({ symPath: circuit.r1csPath.replace(/\.r1cs$/, ".sym") });
  const honest = new NamedWitness(
    symbols,
    await calculateWitness(circuit.wasmPath, circuitInputFor(q, 1n, x, run.output)),
  );
  const t = honest.copy();
  const scale = `main.l${last}Scale[${runnerUp}]`;
  for (const name of [`main.l${last}[${runnerUp}]`, `${scale}.remBits.bits[0]`, `main.l${last + 1}ArgMax.out`])
    if (!t.hasSignal(name))
      throw new SibylError(
        `the ${q.name} circuit has no signal ${name}`,
        "src/circuit/generate.ts names its signals differently now: update tamperSibyl",
      );

  // the quotient and its signed range check
  const quotient = tamperedValues[runnerUp];
  t.set(`main.l${last}[${runnerUp}]`, quotient);
  t.set(`${scale}.out`, quotient);
  const shifted = quotient + (1n << BigInt(q.valueBits - 1));
  for (let i = 0; i < q.valueBits; i++)
    t.set(`${scale}.outRange.shifted.bits[${i}]`, (shifted >> BigInt(i)) & 1n);
  t.set(`${scale}.nonNeg`, quotient >= 0n ? 1n : 0n);
  t.set(`${scale}.outRange.nonNeg`, quotient >= 0n ? 1n : 0n);
  // the remainder r − k·2^wf: a bit the simplifier substituted away follows from the linear
  // relation by itself; with every bit wired, bit 0 carries the change
  const f = layer.weightFracBits;
  const remBits = Array.from({ length: f }, (_, i) => `${scale}.remBits.bits[${i}]`);
  if (remBits.every((name) => t.wireOf(name) !== undefined))
    t.set(remBits[0], t.get(remBits[0]) - (k << BigInt(f)));

  // downstream: the argmax over the new values, the output and its public packed form
  const argmax = await NamedWitness.of(
    await compileHelper(HELPERS.sibylArgmax(values.length, q.valueBits)),
    { in: tamperedValues },
  );
  t.adopt(argmax, `main.l${last + 1}ArgMax`);
  t.set(`main.l${last + 1}[0]`, BigInt(after));
  pack([BigInt(after)], q.valueBits).forEach((word, i) => t.set(`main.outPacked[${i}]`, word));

  const r1cs = opts.r1cs ?? (await readR1cs(circuit.r1csPath));
  const violated = unsatisfiedConstraints(r1cs, t.values);
  return {
    construction: "sibyl",
    sample,
    change:
      `main.l${last}Scale[${runnerUp}] (class ${runnerUp}, the runner-up): quotient ${values[runnerUp]} + ${k}, ` +
      `remainder − ${k}·2^${f}`,
    classBefore: before,
    classAfter: after,
    accepted: violated.length === 0,
    violatedConstraints: violated.length,
    violatedSignals: violatedSignals(r1cs, t, violated),
    honest: honest.values,
    tampered: t.values,
  };
}
