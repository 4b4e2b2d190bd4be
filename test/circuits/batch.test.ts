import { expect } from "chai";
import { createHash } from "node:crypto";

import {
  type BatchEntry,
  batchBinding,
  batchCircuitInput,
  batchLayout,
  batchPublicSignals,
  generateBatchCircuit,
} from "../../src/circuit/batch.js";
import { CircuitCompileError } from "../../src/circuit/compiler.js";
import { BN254_P, toField } from "../../src/circuit/field.js";
import { pack, packedLength, unpack } from "../../src/circuit/packing.js";
import type { CircuitInput } from "../../src/circuit/witness.js";
import { weightCommitment } from "../../src/circuit/commitment.js";
import { ProofError } from "../../src/errors.js";
import { quantizeModel } from "../../src/model/quantize.js";
import { parseModel } from "../../src/model/schema.js";
import { type QuantizedModel, runQuantized } from "../../src/runtime/fixed.js";
import { bitOverrides, CircuitTester, type SignalOverrides } from "../helpers/circuit-tester.js";
import { tinyClassifier } from "../helpers/tiny-models.js";

// The batch gadgets (circuits/lib/batch.circom) decide which public signals of a batch proof
// stand for a request and which are padding; the generated batch circuit
// (src/circuit/batch.ts) puts k copies of a model's circuit behind them. The only hints are
// IsZero's `inv` and the bits of the three range checks in BatchSlotCompact: the --O0 builds
// overwrite them (and the signals derived from them) in honest witnesses and the r1cs must
// reject every lie. As in bits.test.ts, the --O2 template builds make `pub` public, so it
// keeps a wire of its own.

const P = BN254_P;

/** Deterministic pseudo-random 256-bit values (sha256 of a label), so a failure reproduces. */
function hash256(label: string): bigint {
  return BigInt(`0x${createHash("sha256").update(label).digest("hex")}`);
}

/** A 32-byte request id as the precompile makes them (pseudo-random, from `label`). */
function requestIdOf(label: string): string {
  return `0x${hash256(label).toString(16).padStart(64, "0")}`;
}

/** a^-1 mod p. */
function inverse(a: bigint): bigint {
  let result = 1n;
  let base = toField(a);
  for (let e = P - 2n; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * base) % P;
    base = (base * base) % P;
  }
  return result;
}

describe("circuits/lib/batch.circom", () => {
  describe("IsZero", () => {
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      [o2, o0] = await Promise.all([
        CircuitTester.fromTemplate({
          file: "batch.circom",
          template: "IsZero",
          params: [],
          publicInputs: ["in"],
        }),
        CircuitTester.fromTemplate({ file: "batch.circom", template: "IsZero", params: [], optimization: 0 }),
      ]);
    });

    it("is 1 for 0 and 0 for 1, p - 1, 2^128 and pseudo-random field elements", async () => {
      await o2.expectPass({ in: 0n }, { out: 1 });
      const nonZero = [1n, P - 1n, 1n << 128n, 5n, ...[0, 1, 2, 3].map((i) => hash256(`iszero-${i}`) % P)];
      for (const v of nonZero) {
        expect(v).to.not.equal(0n);
        await o2.expectPass({ in: v }, { out: 0 });
      }
      await o0.expectPass({ in: 0n }, { out: 1 });
      await o0.expectPass({ in: P - 1n }, { out: 0 });
    });

    it("computes the hint inv = 1/in (and 0 for in = 0)", async () => {
      const w = await o0.expectPass({ in: 5n });
      expect(w[o0.wireOf("inv")]).to.equal(inverse(5n));
      expect((5n * w[o0.wireOf("inv")]) % P).to.equal(1n);
      const w0 = await o0.expectPass({ in: 0n });
      expect(w0[o0.wireOf("inv")]).to.equal(0n);
    });

    it("--O0: in = 5 cannot claim out = 1, whatever inv", async () => {
      for (const inv of [0n, 1n, inverse(5n), 7n, P - 1n, hash256("iszero-inv") % P]) {
        await o0.expectTamperFails({ in: 5n }, { out: 1n, inv });
      }
      // out = 2, or any other non-boolean value, either.
      await o0.expectTamperFails({ in: 5n }, { out: 2n, inv: inverse(-5n) });
    });

    it("--O0: in = 0 cannot claim out = 0 (or 2), whatever inv", async () => {
      for (const inv of [0n, 1n, 7n, P - 1n, hash256("iszero-inv0") % P]) {
        await o0.expectTamperFails({ in: 0n }, { out: 0n, inv });
        await o0.expectTamperFails({ in: 0n }, { out: 2n, inv });
      }
    });

    it("--O0: pins inv when in != 0; leaves it free when in = 0 but out stays 1", async () => {
      for (const inv of [0n, 1n, inverse(5n) + 1n]) await o0.expectTamperFails({ in: 5n }, "inv", inv);
      // For in = 0 the constraints hold for every inv (out = 1 - 0·inv): harmless, since out
      // is what the slot gadgets use, and it cannot change.
      const w = await o0.expectPass({ in: 0n });
      const tampered = [...w];
      tampered[o0.wireOf("inv")] = 7n;
      expect(await o0.check(tampered)).to.equal(true);
    });
  });

  describe("BatchSlotWords(3)", () => {
    const N = 3;
    const words = [11n, 1n << 200n, P - 3n];
    const binding = batchBinding(requestIdOf("slot-words"));
    const request = { binding, words, pub: [binding, ...words] };
    const padding = { binding: 0n, words, pub: [0n, 0n, 0n, 0n] };
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      const spec = { file: "batch.circom", template: "BatchSlotWords", params: [N] };
      [o2, o0] = await Promise.all([
        CircuitTester.fromTemplate({ ...spec, publicInputs: ["pub"] }),
        CircuitTester.fromTemplate({ ...spec, optimization: 0 }),
      ]);
    });

    it("a request slot (binding != 0) exposes [binding, words...]", async () => {
      expect(binding).to.not.equal(0n);
      await o2.expectPass(request);
      await o2.expectPass({ binding: 1n, words, pub: [1n, ...words] });
      await o2.expectPass({ binding: P - 1n, words, pub: [P - 1n, ...words] });
      const w = await o0.expectPass(request, { active: 1, "zero.out": 0 });
      expect(w[o0.wireOf("pub[0]")]).to.equal(binding);
    });

    it("rejects a request slot whose pub differs from [binding, words...] anywhere, or is all zero", async () => {
      for (let j = 0; j <= N; j++) {
        for (const lie of [request.pub[j] + 1n, request.pub[j] - 1n, 0n]) {
          const pub = [...request.pub];
          pub[j] = lie;
          await o2.expectFail({ ...request, pub });
        }
      }
      await o2.expectFail({ ...request, pub: [0n, 0n, 0n, 0n] });
      // a request cannot hide its words behind its binding either
      await o2.expectFail({ ...request, pub: [binding, 0n, 0n, 0n] });
    });

    it("a padding slot (binding = 0) exposes only zeros, whatever its words", async () => {
      await o2.expectPass(padding);
      await o0.expectPass(padding, { active: 0, "zero.out": 1 });
    });

    it("rejects a padding slot with any non-zero pub signal, including its own words", async () => {
      for (let j = 0; j <= N; j++) {
        const pub = [0n, 0n, 0n, 0n];
        pub[j] = 1n;
        await o2.expectFail({ ...padding, pub });
      }
      await o2.expectFail({ ...padding, pub: [0n, ...words] });
      await o2.expectFail({ ...padding, pub: [1n, ...words] });
    });

    it("--O2: rejects any tampered pub wire of an honest witness", async () => {
      for (let j = 0; j <= N; j++) {
        await o2.expectTamperFails(request, `pub[${j}]`, request.pub[j] + 1n);
        await o2.expectTamperFails(padding, `pub[${j}]`, 1n);
      }
    });

    it("--O0: a request slot cannot look like padding by lying about active, zero.out or zero.inv", async () => {
      const zeroWords = { "pub[1]": 0n, "pub[2]": 0n, "pub[3]": 0n };
      for (const inv of [0n, 1n, inverse(binding), hash256("words-inv") % P]) {
        await o0.expectTamperFails(request, { ...zeroWords, active: 0n, "zero.out": 1n, "zero.inv": inv });
      }
      await o0.expectTamperFails(request, { ...zeroWords, "pub[0]": 0n, active: 0n, "zero.out": 1n });
      // active alone (IsZero left honest): the wire from zero.out pins it
      await o0.expectTamperFails(request, { ...zeroWords, active: 0n });
      await o0.expectTamperFails(request, "active", 0n);
      await o0.expectTamperFails(request, "zero.out", 1n);
      await o0.expectTamperFails(request, "zero.inv", 0n);
    });

    it("--O0: a padding slot cannot expose its words by lying about active, zero.out or zero.inv", async () => {
      const exposed = { "pub[1]": words[0], "pub[2]": words[1], "pub[3]": words[2] };
      for (const inv of [0n, 1n, 7n, hash256("words-inv0") % P]) {
        await o0.expectTamperFails(padding, { ...exposed, active: 1n, "zero.out": 0n, "zero.inv": inv });
      }
      await o0.expectTamperFails(padding, { ...exposed, "pub[0]": 1n, active: 1n, "zero.out": 0n });
      await o0.expectTamperFails(padding, { ...exposed, active: 1n });
      await o0.expectTamperFails(padding, "active", 1n);
      await o0.expectTamperFails(padding, "zero.out", 0n);
    });
  });

  for (const [U, V] of [
    [96, 24], // Iris: 4 inputs and 1 output of 24 bits
    [8, 8],
  ] as const) {
    describe(`BatchSlotCompact(${U}, ${V})`, () => {
      const bU = BigInt(U);
      const bV = BigInt(V);
      const maxIn = (1n << bU) - 1n;
      const maxOut = (1n << bV) - 1n;
      const maxBinding = (1n << 128n) - 1n;
      /** The compact slot value, as the precompile computes it; 0 for padding. */
      const compose = (outWord: bigint, binding: bigint, inWord: bigint): bigint =>
        binding === 0n ? 0n : toField(outWord + (binding << bV) + (inWord << (bV + 128n)));
      const slot = (outWord: bigint, binding: bigint, inWord: bigint) => ({
        binding,
        inWord,
        outWord,
        pub: compose(outWord, binding, inWord),
      });
      const honest = slot(
        hash256(`out-${V}`) & maxOut,
        batchBinding(requestIdOf(`c-${U}`)),
        hash256(`in-${U}`) & maxIn,
      );
      const pad = { binding: 0n, inWord: honest.inWord, outWord: honest.outWord, pub: 0n };

      let o2: CircuitTester;
      let o0: CircuitTester;
      before(async () => {
        const spec = { file: "batch.circom", template: "BatchSlotCompact", params: [U, V] };
        [o2, o0] = await Promise.all([
          CircuitTester.fromTemplate({ ...spec, publicInputs: ["pub"] }),
          CircuitTester.fromTemplate({ ...spec, optimization: 0 }),
        ]);
      });

      it("exposes pub = outWord + 2^V·binding + 2^(V+128)·inWord, up to every part's maximum", async () => {
        const top = maxOut + (maxBinding << bV) + (maxIn << (bV + 128n));
        expect(top).to.equal((1n << BigInt(U + V + 128)) - 1n);
        expect(top < P, "the largest slot value is below p").to.equal(true);
        for (const s of [
          honest,
          slot(0n, 1n, 0n),
          slot(maxOut, maxBinding, maxIn),
          slot(0n, maxBinding, maxIn),
          slot(maxOut, 1n, 0n),
        ]) {
          await o2.expectPass(s);
        }
        const w = await o0.expectPass(honest, { active: 1, "zero.out": 0 });
        expect(w[o0.wireOf("pub")]).to.equal(
          honest.outWord + honest.binding * 2n ** bV + honest.inWord * 2n ** (bV + 128n),
        );
      });

      it("rejects a request's pub off by ±1, ±2^V or ±2^(V+128), or zero", async () => {
        for (const d of [1n, -1n, 1n << bV, -(1n << bV), 1n << (bV + 128n), -(1n << (bV + 128n))]) {
          await o2.expectFail({ ...honest, pub: toField(honest.pub + d) });
        }
        await o2.expectFail({ ...honest, pub: 0n });
      });

      it("a padding slot (binding = 0) must have pub = 0, whatever its words", async () => {
        await o2.expectPass(pad);
        await o0.expectPass(pad, { active: 0, "zero.out": 1 });
        await o2.expectFail({ ...pad, pub: 1n });
        await o2.expectFail({ ...pad, pub: honest.outWord + (honest.inWord << (bV + 128n)) });
        await o2.expectFail({ ...pad, pub: honest.pub });
      });

      it("rejects out-of-range parts: outWord >= 2^V, inWord >= 2^U, binding >= 2^128, negatives", async () => {
        const { outWord: o, binding: b, inWord: i } = honest;
        for (const s of [
          slot(maxOut + 1n, b, i),
          slot(o, b, maxIn + 1n),
          slot(o, maxBinding + 1n, i),
          slot(P - 1n, b, i),
          slot(o, P - 1n, i),
          slot(o, b, P - 1n),
          slot(1n << 200n, b, i),
        ]) {
          await o2.expectFail(s);
        }
      });

      it("rejects another decomposition of the same field value (a carry moved between parts)", async () => {
        const { outWord: o, binding: b, inWord: i, pub } = honest;
        expect(b > 1n && i > 0n, "the sample leaves room to borrow").to.equal(true);
        const others = [
          { outWord: o + (1n << bV), binding: b - 1n, inWord: i }, // outWord out of range
          { outWord: o, binding: b + (1n << 128n), inWord: i - 1n }, // binding out of range
          { outWord: toField(o - (1n << bV)), binding: b + 1n, inWord: i }, // outWord "negative"
          { outWord: o + (1n << (bV + 128n)), binding: b, inWord: i - 1n }, // outWord out of range
        ];
        for (const s of others) {
          expect(toField(s.outWord + (s.binding << bV) + (s.inWord << (bV + 128n)))).to.equal(pub);
          await o2.expectFail({ ...s, pub });
        }
        // The same lie in an honest witness at --O0, every signal but the bit recomposition
        // made consistent with it: the out-of-range outWord has no V-bit decomposition.
        const lie = others[0];
        await o0.expectTamperFails(honest, {
          outWord: lie.outWord,
          binding: lie.binding,
          "outBits.in": lie.outWord,
          "bindingBits.in": lie.binding,
          ...bitOverrides("bindingBits.bits", lie.binding, 128),
          "zero.in": lie.binding,
          "zero.inv": inverse(lie.binding),
        });
        // ... nor one with a non-boolean "bit" carrying the extra 2^V.
        await o0.expectTamperFails(honest, {
          outWord: lie.outWord,
          binding: lie.binding,
          "outBits.in": lie.outWord,
          [`outBits.bits[${V - 1}]`]: ((o >> (bV - 1n)) & 1n) + 2n,
          "bindingBits.in": lie.binding,
          ...bitOverrides("bindingBits.bits", lie.binding, 128),
          "zero.in": lie.binding,
          "zero.inv": inverse(lie.binding),
        });
      });

      it("--O0: ties each range check to its part: another decomposition with honest bits fails", async () => {
        const { outWord: o, binding: b, inWord: i, pub } = honest;
        const bindingTo = (v: bigint): SignalOverrides => ({
          binding: v,
          "bindingBits.in": v,
          ...(v < 1n << 128n ? bitOverrides("bindingBits.bits", v, 128) : {}),
          "zero.in": v,
          "zero.inv": inverse(v),
        });
        const inTo = (v: bigint): SignalOverrides => ({
          inWord: v,
          "inBits.in": v,
          ...bitOverrides("inBits.bits", v, U),
        });
        // Each lie keeps pub, moves a carry into one part that leaves its range, and makes the
        // two other parts (value, range check and IsZero) consistent: only the link between
        // the out-of-range part and its own Bits is left to catch it.
        const t = toField(-(1n << bV) * inverse(1n << (bV + 128n))); // 2^(V+128)·t ≡ −2^V
        const lies: [string, SignalOverrides, [bigint, bigint, bigint]][] = [
          ["outWord", { outWord: o + (1n << bV), ...bindingTo(b - 1n) }, [o + (1n << bV), b - 1n, i]],
          [
            "binding",
            {
              binding: b + (1n << 128n),
              "zero.in": b + (1n << 128n),
              "zero.inv": inverse(b + (1n << 128n)),
              ...inTo(i - 1n),
            },
            [o, b + (1n << 128n), i - 1n],
          ],
          ["inWord", { inWord: toField(i + t), ...bindingTo(b + 1n) }, [o, b + 1n, toField(i + t)]],
        ];
        for (const [part, overrides, [o2_, b2, i2]] of lies) {
          expect(toField(o2_ + (b2 << bV) + (i2 << (bV + 128n))), part).to.equal(pub);
          await o0.expectTamperFails(honest, overrides);
        }
      });

      it("--O0: rejects every single flipped bit of the three range checks", async () => {
        const w = await o0.witness(honest);
        const bits = o0.wiredSignals().filter((name) => /\.(binding|in|out)Bits\.bits\[\d+\]$/.test(name));
        expect(bits).to.have.length(128 + U + V);
        for (const name of bits) {
          await o0.expectTamperFails(honest, name, 1n - o0.read(w, name));
        }
      });

      it("--O0: rejects the bits of another value in any of the three range checks", async () => {
        await o0.expectTamperFails(honest, bitOverrides("outBits.bits", honest.outWord ^ 1n, V));
        await o0.expectTamperFails(honest, bitOverrides("inBits.bits", honest.inWord ^ 2n, U));
        await o0.expectTamperFails(honest, bitOverrides("bindingBits.bits", honest.binding ^ 4n, 128));
      });

      it("--O0: a request cannot pass as padding, nor padding expose its words, by lying about active or zero", async () => {
        for (const inv of [0n, 1n, inverse(honest.binding), hash256("compact-inv") % P]) {
          await o0.expectTamperFails(honest, { pub: 0n, active: 0n, "zero.out": 1n, "zero.inv": inv });
          await o0.expectTamperFails(pad, {
            pub: honest.outWord + (honest.inWord << (bV + 128n)),
            active: 1n,
            "zero.out": 0n,
            "zero.inv": inv,
          });
        }
        // active alone (IsZero left honest)
        await o0.expectTamperFails(honest, { pub: 0n, active: 0n });
        await o0.expectTamperFails(pad, { pub: honest.outWord + (honest.inWord << (bV + 128n)), active: 1n });
        await o0.expectTamperFails(honest, "active", 0n);
        await o0.expectTamperFails(pad, "active", 1n);
      });

      it("--O2: rejects a tampered pub wire", async () => {
        await o2.expectTamperFails(honest, "pub", honest.pub + 1n);
        await o2.expectTamperFails(honest, "pub", 0n);
        await o2.expectTamperFails(pad, "pub", 1n);
      });
    });
  }

  it("refuses BatchSlotCompact when U + V + 128 > 253 (the slot value could wrap around p)", async () => {
    for (const params of [
      [100, 30],
      [98, 28],
    ]) {
      const err = await CircuitTester.fromTemplate({
        file: "batch.circom",
        template: "BatchSlotCompact",
        params,
      }).catch((e: unknown) => e);
      expect(err, `BatchSlotCompact(${params.join(", ")})`).to.be.instanceOf(CircuitCompileError);
      expect((err as CircuitCompileError).stderr).to.contain("False assert");
    }
    // 97 + 28 + 128 = 253 is the limit, and its largest value is still below p.
    const edge = await CircuitTester.fromTemplate({
      file: "batch.circom",
      template: "BatchSlotCompact",
      params: [97, 28],
      publicInputs: ["pub"],
    });
    const max = (n: number) => (1n << BigInt(n)) - 1n;
    await edge.expectPass({ binding: max(128), inWord: max(97), outWord: max(28), pub: max(253) });
  });
});

// ---------------------------------------------------------------------------------------
// The generated batch circuit, end to end.

type Built = CircuitTester;

/** Compiles a generated circuit, cached under build/test-circuits by content hash. */
function buildGenerated(name: string, source: string, optimization: 0 | 2): Promise<Built> {
  return CircuitTester.fromSource(name, `${name} --O${optimization}`, source, optimization);
}

function wireOf(b: Built, name: string): number {
  return b.wireOf(name);
}

/** The witness for `input`, checked against the r1cs. */
async function provePasses(b: Built, input: CircuitInput): Promise<bigint[]> {
  const w = await b.witness(input);
  expect(await b.check(w), `${b.label}: honest witness violates the r1cs`).to.equal(true);
  return w;
}

async function witnessRejects(b: Built, input: CircuitInput): Promise<boolean> {
  try {
    await b.witness(input);
    return false;
  } catch {
    return true;
  }
}

/** Whether the r1cs accepts `witness` with the named signals overwritten. */
async function acceptsTampered(
  b: Built,
  witness: bigint[],
  overrides: Map<string, bigint>,
): Promise<boolean> {
  const tampered = [...witness];
  for (const [name, v] of overrides) tampered[wireOf(b, name)] = toField(v);
  return b.check(tampered);
}

/** The public signals of a witness (`main.pub`, wires 1…n). */
function pubOf(b: Built, witness: bigint[], n: number): bigint[] {
  return Array.from({ length: n }, (_, j) => witness[wireOf(b, `pub[${j}]`)]);
}

function withPub(input: CircuitInput, pub: bigint[]): CircuitInput {
  return { ...input, pub: pub.map(String) };
}

/** A copy of a batch input with slots `a` and `b` exchanged in every per-slot signal. */
function swapSlots(input: CircuitInput, S: number, a: number, b: number): CircuitInput {
  const out = structuredClone(input) as Record<string, string[] | string[][]>;
  for (const name of ["binding", "inPacked", "outPacked", "x"]) {
    const arr = out[name];
    [arr[a], arr[b]] = [arr[b], arr[a]];
  }
  const pub = out.pub as string[];
  for (let j = 0; j < S; j++) [pub[a * S + j], pub[b * S + j]] = [pub[b * S + j], pub[a * S + j]];
  return out as CircuitInput;
}

interface BatchCase {
  title: string;
  model: object;
  /** fixed-point inputs of the requests (at least 3) */
  xs: bigint[][];
  layout: { compact: boolean; slotSignals: number; inBits: number; outBits: number };
  /** a wrong output for `output` (one value off) */
  wrongOutputs: (output: readonly bigint[]) => bigint[][];
}

function batchSuite(c: BatchCase): void {
  describe(c.title, () => {
    const K = 3;
    let model: QuantizedModel;
    let S: number;
    let o2: Built;
    let o0: Built;
    let entries: BatchEntry[];

    /** A slot's public signals, recomputed from the layout docs (not with batch.ts's helpers). */
    function expectedSlot(e: BatchEntry): bigint[] {
      const binding = (BigInt(e.requestId) >> 128n) | 1n;
      const inWords = pack(e.input, model.inputBits);
      const outWords = pack(e.output, model.valueBits);
      if (!c.layout.compact) return [binding, ...inWords, ...outWords];
      const V = BigInt(c.layout.outBits);
      return [outWords[0] + binding * 2n ** V + inWords[0] * 2n ** (V + 128n)];
    }

    /** The output a slot's public signals carry, decoded as the precompile decodes it. */
    function decodeOutput(slot: bigint[]): bigint[] {
      const Q = packedLength(model.outputLength, model.valueBits);
      const words = c.layout.compact
        ? [slot[0] & ((1n << BigInt(c.layout.outBits)) - 1n)]
        : slot.slice(S - Q);
      return unpack(words, model.outputLength, model.valueBits);
    }

    /**
     * --O0 overrides that make slot i of an honest witness claim `lie` (another input and/or
     * output) instead of its entry. The public signals and every signal of the slot gadget
     * follow the lie; from depth "batch" on, so do the batch circuit's inPacked/outPacked
     * inputs, and at depth "model" the model copy's inPacked/outPacked too. Whatever is left
     * (the wiring between the levels, or the model copy's own Pack) must break.
     */
    function claimSlot(i: number, lie: BatchEntry, depth: "slot" | "batch" | "model"): Map<string, bigint> {
      const signals = expectedSlot(lie);
      const inWords = pack(lie.input, model.inputBits);
      const outWords = pack(lie.output, model.valueBits);
      const m = new Map<string, bigint>();
      signals.forEach((v, j) => m.set(`pub[${i * S + j}]`, v));
      if (c.layout.compact) {
        m.set(`slot[${i}].pub`, signals[0]);
        const parts = [
          ["outWord", "outBits", outWords[0], c.layout.outBits],
          ["inWord", "inBits", inWords[0], c.layout.inBits],
        ] as const;
        for (const [word, bits, v, n] of parts) {
          m.set(`slot[${i}].${word}`, v);
          m.set(`slot[${i}].${bits}.in`, v);
          for (const [name, bit] of Object.entries(bitOverrides(`slot[${i}].${bits}.bits`, v, n)))
            m.set(name, BigInt(bit));
        }
      } else {
        signals.forEach((v, j) => m.set(`slot[${i}].pub[${j}]`, v));
        [...inWords, ...outWords].forEach((v, q) => m.set(`slot[${i}].words[${q}]`, v));
      }
      const packed = [
        ["inPacked", inWords],
        ["outPacked", outWords],
      ] as const;
      for (const [name, words] of packed) {
        words.forEach((v, q) => {
          if (depth !== "slot") m.set(`${name}[${i}][${q}]`, v);
          if (depth === "model") m.set(`model[${i}].${name}[${q}]`, v);
        });
      }
      return m;
    }

    /** --O0 overrides that make padding slot i expose `signals` while keeping binding = 0. */
    function exposePadding(i: number, signals: bigint[], inv: bigint): Map<string, bigint> {
      const m = new Map<string, bigint>();
      signals.forEach((v, j) => {
        m.set(`pub[${i * S + j}]`, v);
        m.set(c.layout.compact ? `slot[${i}].pub` : `slot[${i}].pub[${j}]`, v);
      });
      m.set(`slot[${i}].active`, 1n);
      m.set(`slot[${i}].zero.out`, 0n);
      m.set(`slot[${i}].zero.inv`, inv);
      return m;
    }

    before(async () => {
      model = quantizeModel(parseModel(c.model));
      const gen = generateBatchCircuit(model, "0x00", K);
      S = gen.layout.slotSignals;
      [o2, o0] = await Promise.all([
        buildGenerated(gen.templateName.toLowerCase(), gen.source, 2),
        buildGenerated(gen.templateName.toLowerCase(), gen.source, 0),
      ]);
      entries = c.xs.map((x, i) => ({
        requestId: requestIdOf(`${model.name}-${i}`),
        input: x,
        output: runQuantized(model, x).output,
      }));
    });

    it("has the expected slot layout and k·S public inputs, all of them main.pub", async () => {
      expect(batchLayout(model)).to.deep.equal(c.layout);
      expect(generateBatchCircuit(model, "0x00", K).publicSignals).to.equal(K * S);
      expect(o2.r1cs.nPubIn + o2.r1cs.nPubOut).to.equal(K * S);
      for (let j = 0; j < K * S; j++) expect(wireOf(o2, `pub[${j}]`)).to.equal(1 + j);
      expect(o2.hasWire(`pub[${K * S}]`)).to.equal(false);
    });

    it("proves a full batch; its public signals are the slots batchPublicSignals lists", async () => {
      const full = entries.slice(0, K);
      // the requests differ in their outputs, so a slot mix-up would show
      expect(new Set(full.map((e) => e.output.join())).size).to.be.greaterThan(1);
      const w = await provePasses(o2, batchCircuitInput(model, K, full));
      const pub = pubOf(o2, w, K * S);
      expect(pub).to.deep.equal(batchPublicSignals(model, K, full));
      expect(pub).to.deep.equal(full.flatMap(expectedSlot));
      for (let i = 0; i < K; i++) {
        const slot = pub.slice(i * S, (i + 1) * S);
        expect(decodeOutput(slot), `slot ${i} output`).to.deep.equal(full[i].output);
        expect(slot.every((v) => v < P)).to.equal(true);
      }
      await provePasses(o0, batchCircuitInput(model, K, full));
    });

    it("proves partial batches of 1 and 2 requests with all-zero padding slots", async () => {
      for (const n of [1, 2]) {
        const some = entries.slice(0, n);
        const input = batchCircuitInput(model, K, some);
        const pub = pubOf(o2, await provePasses(o2, input), K * S);
        expect(pub).to.deep.equal(batchPublicSignals(model, K, some));
        expect(pub.slice(0, n * S)).to.deep.equal(some.flatMap(expectedSlot));
        expect(pub.slice(n * S), `padding after ${n}`).to.deep.equal(new Array<bigint>((K - n) * S).fill(0n));
        const w0 = await provePasses(o0, input);
        for (let i = 0; i < K; i++) {
          expect(w0[wireOf(o0, `slot[${i}].active`)], `slot ${i} active`).to.equal(i < n ? 1n : 0n);
          expect(w0[wireOf(o0, `binding[${i}]`)] === 0n, `slot ${i} binding zero`).to.equal(i >= n);
        }
      }
    });

    it("rejects a wrong output in any one entry (witness generation, and the r1cs at --O0)", async () => {
      const full = entries.slice(0, K);
      const honest = await provePasses(o0, batchCircuitInput(model, K, full));
      for (let i = 0; i < K; i++) {
        // the overrides reproduce the honest witness for the true entry ...
        for (const [name, v] of claimSlot(i, full[i], "model"))
          expect(honest[wireOf(o0, name)], name).to.equal(toField(v));
        for (const wrong of c.wrongOutputs(full[i].output)) {
          const lied = full.map((e, j) => (j === i ? { ...e, output: wrong } : e));
          expect(
            await witnessRejects(o2, batchCircuitInput(model, K, lied)),
            `slot ${i}: ${wrong.join()}`,
          ).to.equal(true);
          // ... and the lie, carried as far as the model copy's inputs, is still caught.
          for (const depth of ["slot", "batch", "model"] as const) {
            const overrides = claimSlot(i, { ...full[i], output: wrong }, depth);
            expect(await acceptsTampered(o0, honest, overrides), `slot ${i}, ${depth}`).to.equal(false);
          }
        }
      }
    });

    it("rejects a slot that claims another input for its output (witness generation, and the r1cs at --O0)", async () => {
      const full = entries.slice(0, K);
      const input = batchCircuitInput(model, K, full);
      const honest = await provePasses(o0, input);
      for (let i = 0; i < K; i++) {
        const other = { ...full[i], input: full[i].input.map((v, j) => (j === 0 ? v + 1n : v)) };
        const pub = batchPublicSignals(model, K, full);
        expectedSlot(other).forEach((v, j) => (pub[i * S + j] = v));
        expect(pub).to.not.deep.equal(batchPublicSignals(model, K, full));
        expect(await witnessRejects(o2, withPub(input, pub)), `slot ${i}`).to.equal(true);
        for (const depth of ["slot", "batch", "model"] as const) {
          expect(
            await acceptsTampered(o0, honest, claimSlot(i, other, depth)),
            `slot ${i}, ${depth}`,
          ).to.equal(false);
        }
      }
    });

    it("rejects any one public signal changed by ±1, in a request slot or in padding", async () => {
      const some = entries.slice(0, 2);
      const input = batchCircuitInput(model, K, some);
      const honest = batchPublicSignals(model, K, some);
      const w = await provePasses(o2, input);
      for (let j = 0; j < K * S; j++) {
        for (const d of [1n, -1n]) {
          const pub = [...honest];
          pub[j] = toField(pub[j] + d);
          expect(await witnessRejects(o2, withPub(input, pub)), `pub[${j}] ${d}`).to.equal(true);
          expect(await acceptsTampered(o2, w, new Map([[`pub[${j}]`, pub[j]]])), `pub[${j}] ${d}`).to.equal(
            false,
          );
        }
      }
    });

    it("rejects a padding slot that carries a request's signals or exposes its own words", async () => {
      const some = entries.slice(0, 2);
      const input = batchCircuitInput(model, K, some);
      const honest = batchPublicSignals(model, K, some);
      for (const from of [0, 1]) {
        const pub = [...honest];
        for (let j = 0; j < S; j++) pub[2 * S + j] = honest[from * S + j];
        expect(await witnessRejects(o2, withPub(input, pub)), `slot ${from} copied into padding`).to.equal(
          true,
        );
      }
      // The padding copy's own words (the model on a zero input), exposed with binding 0.
      const padEntry = { requestId: "0x0", input: entries[0].input.map(() => 0n), output: [] as bigint[] };
      padEntry.output = runQuantized(model, padEntry.input).output;
      const ownWords = expectedSlot(padEntry);
      ownWords[0] = c.layout.compact ? ownWords[0] - (1n << BigInt(c.layout.outBits)) : 0n; // binding 1 → 0
      expect(ownWords.some((v) => v !== 0n)).to.equal(true);
      const pub = [...honest.slice(0, 2 * S), ...ownWords];
      expect(await witnessRejects(o2, withPub(input, pub))).to.equal(true);
      const w0 = await provePasses(o0, input);
      for (const inv of [0n, 1n, hash256("pad-inv") % P]) {
        expect(await acceptsTampered(o0, w0, exposePadding(2, ownWords, inv)), `inv ${inv}`).to.equal(false);
      }
      // ... nor by lying about active alone, IsZero left honest
      const activeOnly = exposePadding(2, ownWords, 0n);
      activeOnly.delete(`slot[2].zero.out`);
      activeOnly.delete(`slot[2].zero.inv`);
      expect(await acceptsTampered(o0, w0, activeOnly)).to.equal(false);
      // the overrides alone (exposing zeros, active and zero honest) leave the witness valid
      const noop = exposePadding(2, new Array<bigint>(S).fill(0n), 0n);
      noop.set(`slot[2].active`, 0n);
      noop.set(`slot[2].zero.out`, 1n);
      expect(await acceptsTampered(o0, w0, noop)).to.equal(true);
    });

    it("slots are independent: a request moved alone into padding fails, whole slots reorder freely", async () => {
      const [a, b] = entries;
      const input = batchCircuitInput(model, K, [a, b]);
      const honest = batchPublicSignals(model, K, [a, b]);
      // only the public signals move: slot 1 becomes padding and slot 2 claims b
      const moved = [...honest.slice(0, S), ...honest.slice(2 * S), ...honest.slice(S, 2 * S)];
      expect(await witnessRejects(o2, withPub(input, moved))).to.equal(true);
      // the whole slot moves with them: a valid proof of [a, padding, b]
      const w = await provePasses(o2, swapSlots(input, S, 1, 2));
      expect(pubOf(o2, w, K * S)).to.deep.equal(moved);
      // [b, a, padding] and [a, a, padding] are valid too: the circuit does not order its
      // slots. The precompile does: it builds the signals from strictly ascending ids followed
      // by padding, so a proof of any other arrangement (or of a duplicate) never verifies.
      const w2 = await provePasses(o2, swapSlots(input, S, 0, 1));
      expect(pubOf(o2, w2, K * S)).to.deep.equal(batchPublicSignals(model, K, [b, a]));
      const dup = await provePasses(o2, batchCircuitInput(model, K, [a, a]));
      expect(pubOf(o2, dup, K * S)).to.deep.equal([
        ...expectedSlot(a),
        ...expectedSlot(a),
        ...new Array(S).fill(0n),
      ]);
    });

    it("binds a request id below 2^128 as 1, so its slot can never be padding", async () => {
      const low: BatchEntry = {
        requestId: `0x${"00".repeat(16)}${requestIdOf("low").slice(2, 34)}`,
        input: entries[0].input,
        output: entries[0].output,
      };
      expect(BigInt(low.requestId) < 1n << 128n && BigInt(low.requestId) > 0n).to.equal(true);
      expect(batchBinding(low.requestId)).to.equal(1n);
      const input = batchCircuitInput(model, K, [low]);
      const pub = pubOf(o2, await provePasses(o2, input), K * S);
      expect(pub.slice(0, S)).to.deep.equal(expectedSlot(low));
      if (c.layout.compact) expect((pub[0] >> BigInt(c.layout.outBits)) & ((1n << 128n) - 1n)).to.equal(1n);
      else expect(pub[0]).to.equal(1n);
      expect(await witnessRejects(o2, withPub(input, new Array<bigint>(K * S).fill(0n)))).to.equal(true);
      const w0 = await provePasses(o0, input);
      expect(w0[wireOf(o0, "slot[0].active")]).to.equal(1n);
    });

    it("batchCircuitInput and batchPublicSignals take 1 to k entries", () => {
      expect(() => batchCircuitInput(model, K, [])).to.throw(ProofError);
      expect(() => batchCircuitInput(model, K, entries.slice(0, 1).concat(entries.slice(0, 3)))).to.throw(
        ProofError,
      );
      expect(() => batchPublicSignals(model, K, [])).to.throw(ProofError);
    });
  });
}

describe("src/circuit/batch.ts: generated batch circuits (k = 3)", () => {
  it("batchBinding is odd, non-zero and below 2^128 for every request id", () => {
    const ids = [
      0n,
      1n,
      (1n << 128n) - 1n,
      1n << 128n,
      (1n << 128n) + 1n,
      1n << 129n,
      (1n << 256n) - 1n,
      ...[0, 1, 2, 3, 4, 5].map((i) => hash256(`binding-${i}`)),
    ];
    for (const id of ids) {
      const b = batchBinding(`0x${id.toString(16).padStart(64, "0")}`);
      expect(b, `id ${id}`).to.equal((id >> 128n) | 1n);
      expect(b & 1n).to.equal(1n);
      expect(b > 0n && b < 1n << 128n).to.equal(true);
      expect(batchBinding(id)).to.equal(b);
    }
    expect(batchBinding(0n)).to.equal(1n);
    expect(batchBinding((1n << 256n) - 1n)).to.equal((1n << 128n) - 1n);
  });

  batchSuite({
    title: "compact slots: the tiny 3 → 4 → relu → 2 → argmax classifier",
    model: tinyClassifier("batch_compact_t"),
    xs: [
      [256n, -128n, 64n],
      [-300n, 400n, 100n],
      [500n, 20n, -500n],
    ],
    layout: { compact: true, slotSignals: 1, inBits: 72, outBits: 24 },
    wrongOutputs: (output) => [[1n - output[0]], [2n]],
  });

  batchSuite({
    title: "word slots: a 3 → 12 dense layer, 24-bit values (two output words)",
    model: {
      format: "sibyl-model/1",
      name: "batch_words_t",
      inputLength: 3,
      quantization: { fracBits: 8, valueBits: 24 },
      layers: [
        {
          type: "dense",
          weights: Array.from({ length: 12 }, (_, o) =>
            [0, 1, 2].map((i) => (((o * 5 + i * 3) % 9) - 4) / 4),
          ),
          bias: Array.from({ length: 12 }, (_, o) => ((o % 5) - 2) / 10),
        },
      ],
    },
    xs: [
      [256n, -128n, 64n],
      [-300n, 400n, 100n],
      [500n, 20n, -500n],
    ],
    layout: { compact: false, slotSignals: 4, inBits: 72, outBits: 288 },
    wrongOutputs: (output) => [
      output.map((v, j) => (j === 0 ? v + 1n : v)),
      output.map((v, j) => (j === 11 ? v - 1n : v)),
    ],
  });
});

describe("generated batch circuit: private weights, committed once for every copy", function () {
  this.timeout(300_000);
  const K = 2;
  const model: QuantizedModel = quantizeModel(
    parseModel({
      format: "sibyl-model/1",
      name: "batch_private",
      inputLength: 3,
      quantization: { fracBits: 4, valueBits: 16, weights: "private" },
      layers: [
        {
          type: "dense",
          weights: [
            [1, 0, -1],
            [0.5, 0.5, 0],
          ],
          bias: [0, 0.5],
        },
        { type: "relu" },
        { type: "dense", weights: [[1, -1]], bias: [0.25] },
      ],
    }),
  );
  const salt = 123_456_789n;
  const secrets = { salt, commitment: weightCommitment(model, salt) };
  const gen = generateBatchCircuit(model, "0x00", K);
  let o2: Built;
  let o0: Built;
  const entries: BatchEntry[] = [
    [3n, -2n, 5n],
    [-7n, 1n, 0n],
  ].map((x, i) => ({
    requestId: requestIdOf(`private ${i}`),
    input: x,
    output: runQuantized(model, x).output,
  }));

  before(async () => {
    [o2, o0] = await Promise.all([
      buildGenerated("batch_private", gen.source, 2),
      buildGenerated("batch_private", gen.source, 0),
    ]);
  });

  it("checks the commitment once, not in each copy, and exposes it in every slot", function () {
    expect(gen.source.match(/component commit = WeightCommitment/g)).to.have.length(1);
    expect(gen.source).to.not.match(/model\[i\]\.salt|model\[i\]\.weightCommitment/);
    expect(gen.layout.compact).to.equal(false);
  });

  it("proves a batch under the registered commitment; its slots carry the commitment word", async () => {
    const input = batchCircuitInput(model, K, entries, secrets);
    const w = await provePasses(o2, input);
    const pub = pubOf(o2, w, K * gen.layout.slotSignals);
    expect(pub).to.deep.equal(batchPublicSignals(model, K, entries, secrets.commitment));
    const P = packedLength(model.inputLength, model.inputBits);
    for (let i = 0; i < K; i++) expect(pub[i * gen.layout.slotSignals + 1 + P]).to.equal(secrets.commitment);
  });

  it("refuses another salt, another commitment, and a tampered weight in one copy's inputs", async () => {
    const honest = batchCircuitInput(model, K, entries, secrets);
    expect(await witnessRejects(o2, { ...honest, salt: String(salt + 1n) })).to.equal(true);
    const otherCommitment = weightCommitment(model, salt + 1n);
    expect(
      await witnessRejects(o2, batchCircuitInput(model, K, entries, { salt, commitment: otherCommitment })),
    ).to.equal(true);
    // the copies read the batch's own weight signals: changing one weight wire breaks the commitment
    const w = await provePasses(o0, honest);
    expect(await acceptsTampered(o0, w, new Map([["w0[0][0]", 2n]]))).to.equal(false);
    expect(await acceptsTampered(o0, w, new Map([["model[1].w0[0][0]", 2n]]))).to.equal(false);
  });
});
