import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as snarkjs from "snarkjs";

import { type CompiledCircuit, compileBaseline } from "../../src/bench/baseline/compile.js";
import {
  type BaselineNetwork,
  baselineForward,
  baselineInput,
  baselineNetwork,
} from "../../src/bench/baseline/network.js";
import { findBaselineTamper, tamperBaseline, tamperSibyl } from "../../src/bench/baseline/tamper.js";
import { NamedWitness, wtnsFile } from "../../src/bench/baseline/witness.js";
import { readR1cs, readR1csHeader, type R1cs } from "../../src/circuit/r1cs.js";
import { checkWitness } from "../../src/circuit/witness.js";
import { quantizeInput } from "../../src/model/quantize.js";
import { loadModelFile } from "../../src/model/schema.js";
import { PROJECT_ROOT } from "../../src/paths.js";
import type { ModelArtifacts } from "../../src/pipeline/artifacts.js";
import { heldOut } from "../../src/pipeline/accuracy.js";
import type { QDense } from "../../src/runtime/fixed.js";
import { releaseProverThreads } from "../../src/zk/prover.js";
import { builtModel } from "../helpers/models.js";

const MNIST_PATH = join(PROJECT_ROOT, "models", "mnist", "model.json");

/** snarkjs's own witness check (`snarkjs wtns check`), on a witness written as a .wtns file. */
async function snarkjsAccepts(r1csPath: string, witness: readonly bigint[]): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), "sibyl-wtns-"));
  try {
    const path = join(dir, "tampered.wtns");
    writeFileSync(path, wtnsFile(witness));
    const { check } = (
      snarkjs as unknown as { wtns: { check(r1cs: string, wtns: string, logger: object): Promise<boolean> } }
    ).wtns;
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    return await check(r1csPath, path, quiet);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("bench: the circomlib-ml baseline and the tamper test", function () {
  let ours: ModelArtifacts;
  let net: BaselineNetwork;
  let circuit: CompiledCircuit;
  let r1cs: R1cs;
  let samples: bigint[][];

  before(async function () {
    ours = await builtModel(MNIST_PATH);
    net = baselineNetwork(ours.quantized);
    circuit = await compileBaseline(net);
    r1cs = await readR1cs(circuit.r1csPath);
    samples = heldOut(loadModelFile(MNIST_PATH), "mnist", "test").inputs.map((s) =>
      quantizeInput(ours.quantized, s),
    );
  });

  after(releaseProverThreads);

  it("feeds circomlib-ml our integers, layer 2's bias raised to the scale of two products", function () {
    const [l1, , l2] = ours.quantized.layers as [QDense, unknown, QDense];
    expect([net.inputs, net.hidden, net.classes]).to.deep.equal([196, 32, 10]);
    expect(net.w1[17][5]).to.equal(l1.weights[5][17]);
    expect(net.w2[31][9]).to.equal(l2.weights[9][31]);
    expect(net.b1).to.deep.equal(l1.bias);
    expect(net.b2).to.deep.equal(l2.bias.map((b) => b * 2n ** BigInt(l1.weightFracBits)));
  });

  it("computes the class an independent BigInt evaluation of the same integers computes", async function () {
    const header = await readR1csHeader(circuit.r1csPath);
    expect([header.nPubOut, header.nPubIn]).to.deep.equal([1, 196]); // the class; the inputs
    const classes = new Set<number>();
    // the held-out digits come sorted by class: take 25 spread over all of them
    for (const x of samples.filter((_, i) => i % 80 === 0)) {
      const w = await NamedWitness.of(circuit, baselineInput(net, x));
      expect(await checkWitness(r1cs, w.values)).to.equal(true);
      const expected = baselineForward(net, x);
      expect(Number(w.get("main.out"))).to.equal(expected.class);
      classes.add(expected.class);
    }
    expect(classes.size).to.be.greaterThan(5);
  });

  it("accepts a ReLU whose Num2Bits hint holds the bits of x + p: the neuron reads 0 and the class changes", async function () {
    const where = findBaselineTamper(net, samples);
    expect(where).to.not.equal(undefined);
    const x = samples[where!.sample];
    const tamper = await tamperBaseline(circuit, net, x, where!, { r1cs });

    expect(tamper.classBefore).to.equal(baselineForward(net, x).class);
    expect(tamper.classAfter).to.not.equal(tamper.classBefore);
    expect(tamper.classAfter).to.equal(baselineForward(net, x, where!.neuron).class);
    // the hint changed, and with it the neuron's sign: IsPositive reads 0 for a positive x
    const { symbols } = await NamedWitness.of(circuit, baselineInput(net, x));
    const [honest, tampered] = [tamper.honest, tamper.tampered].map((v) => new NamedWitness(symbols, v));
    const relu = `main.relu[${where!.neuron}].isPositive`;
    const changedBits = [...Array(254).keys()].filter(
      (i) =>
        honest.wireOf(`${relu}.num2Bits.out[${i}]`) !== undefined &&
        honest.get(`${relu}.num2Bits.out[${i}]`) !== tampered.get(`${relu}.num2Bits.out[${i}]`),
    );
    expect(changedBits.length).to.be.greaterThan(0);
    expect([honest.get(`${relu}.out`), tampered.get(`${relu}.out`)]).to.deep.equal([1n, 0n]);
    // the finding: every constraint holds, by our check, the repository's and snarkjs's own
    expect(tamper.accepted).to.equal(true);
    expect(await checkWitness(r1cs, tamper.tampered)).to.equal(true);
    expect(await snarkjsAccepts(circuit.r1csPath, tamper.tampered)).to.equal(true);
    // and the public output (wire 1) is the other class
    expect(tamper.tampered[1]).to.equal(BigInt(tamper.classAfter));
  });

  it("gives back the honest baseline witness when the same surgery writes the canonical bits", async function () {
    const where = findBaselineTamper(net, samples)!;
    const control = await tamperBaseline(circuit, net, samples[where.sample], where, {
      aliased: false,
      r1cs,
    });
    expect(control.tampered).to.deep.equal(control.honest);
    expect(control.accepted).to.equal(true);
  });

  it("rejects Sibyl's rescale with quotient + k and remainder − k·2^wf, at the remainder's range check", async function () {
    const tamper = await tamperSibyl(ours, samples[0], 0);
    expect(tamper.classAfter).to.not.equal(tamper.classBefore);
    expect(tamper.tampered[0]).to.equal(1n);
    expect(tamper.accepted).to.equal(false);
    expect(await checkWitness(ours.r1csPath, tamper.tampered)).to.equal(false);
    expect(await snarkjsAccepts(ours.r1csPath, tamper.tampered)).to.equal(false);
    // only the remainder's booleanity fails: the quotient's range bits, the argmax and the
    // public output were all rewritten consistently
    expect(tamper.violatedConstraints).to.equal(1);
    expect(tamper.rejectedBy).to.match(
      /^the remainder's range check: Bits\(8\) in main\.l2Scale\[\d+\]\.remBits$/,
    );
    expect(tamper.violatedSignals.some((s) => /^main\.l2Scale\[\d+\]\.remBits\.bits\[/.test(s))).to.equal(
      true,
    );
    expect(tamper.violatedSignals.every((s) => !/ArgMax|outRange|outPacked/.test(s))).to.equal(true);
  });

  it("gives back Sibyl's honest witness when the same surgery moves the quotient by 0", async function () {
    const control = await tamperSibyl(ours, samples[0], 0, { k: 0n });
    expect(control.tampered).to.deep.equal(control.honest);
    expect(control.accepted).to.equal(true);
  });

  it("writes witnesses as snarkjs reads them", async function () {
    const w = await NamedWitness.of(circuit, baselineInput(net, samples[0]));
    expect(await snarkjsAccepts(circuit.r1csPath, w.values)).to.equal(true);
    const broken = [...w.values];
    broken[1] = (broken[1] + 1n) % 10n; // another class as the public output
    expect(await snarkjsAccepts(circuit.r1csPath, broken)).to.equal(false);
  });
});
