/**
 * The tamper test of the bench: one hinted witness value changed in each construction so that
 * the class changes, the downstream signals recomputed, and the constraint system asked whether
 * the changed witness still satisfies it.
 *
 * circomlib-ml's `ReLU` asks `IsPositive`, which decomposes its input with `Num2Bits(254)` and
 * reads the sign with circomlib's `Sign()`, without an alias check. A positive x below 2^254 − p
 * has a second 254-bit decomposition, that of x + p, which `Sign()` calls negative: the ReLU then
 * outputs 0, and every constraint still holds. Sibyl's rescale pins its quotient with a
 * range-checked remainder (circuits/lib/fixedpoint.circom): moving the quotient by k moves the
 * remainder out of its bits' range.
 */
import { BN254_P, toField } from "../../circuit/field.js";
import { circuitInputFor } from "../../circuit/inputs.js";
import { pack } from "../../circuit/packing.js";
import { type R1cs, readR1cs } from "../../circuit/r1cs.js";
import { calculateWitness } from "../../circuit/witness.js";
import { SibylError } from "../../errors.js";
import { type QDense, type QuantizedModel, runQuantized } from "../../runtime/fixed.js";
import { type CompiledCircuit, HELPERS, compileHelper, symbolsOf } from "./compile.js";
import { type BaselineNetwork, argmaxIndex, baselineForward, baselineInput } from "./network.js";
import { NamedWitness, groupNames, unsatisfiedConstraints } from "./witness.js";

/** The construction a row of the comparison measures. */
export type Construction = "sibyl" | "circomlib-ml";

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
  /** the check that rejects the witness, when every violated constraint is that check's */
  rejectedBy?: string;
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
  for (const name of [
    `main.l${last}[${runnerUp}]`,
    `${scale}.remBits.bits[0]`,
    `main.l${last + 1}ArgMax.out`,
  ])
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
  const argmax = await NamedWitness.of(await compileHelper(HELPERS.sibylArgmax(values.length, q.valueBits)), {
    in: tamperedValues,
  });
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
    rejectedBy: violated.every((c) => involves(r1cs, t, c, `${scale}.remBits.`))
      ? `the remainder's range check: Bits(${f}) in ${scale}.remBits`
      : undefined,
    honest: honest.values,
    tampered: t.values,
  };
}

/** Whether constraint `index` has a wire of a signal whose name starts with `prefix`. */
function involves(r1cs: R1cs, w: NamedWitness, index: number, prefix: string): boolean {
  const { a, b, c } = r1cs.constraints[index];
  return w.namesOf([...a.keys(), ...b.keys(), ...c.keys()]).some((name) => name.startsWith(prefix));
}
