import { expect } from "chai";
import { existsSync, promises as fs } from "fs";
import os from "os";
import path from "path";
import * as snarkjs from "snarkjs";

import { CircuitCompileError, compileCircuit } from "../../src/circuit/compiler.js";
import { BN254_P, fromField, toField } from "../../src/circuit/field.js";
import { readR1cs } from "../../src/circuit/r1cs.js";
import { calculateWitness, checkWitness, readSymbols, WitnessError } from "../../src/circuit/witness.js";

describe("src/circuit: compiler, witness and field helpers", () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "sibyl-compiler-test-"));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
    // r1cs.info below builds the bn128 curve, which keeps worker threads alive.
    await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
  });

  describe("compileCircuit", () => {
    it("compiles a circuit that includes circuits/lib without extra include paths", async () => {
      const circuitPath = path.join(dir, "square.circom");
      await fs.writeFile(
        circuitPath,
        [
          "pragma circom 2.1.0;",
          'include "bits.circom";',
          "template Square() {",
          "    signal input x;",
          "    signal output y;",
          "    component r = SignedRange(8);",
          "    r.in <== x;",
          "    y <== x * x;",
          "}",
          "component main = Square();",
          "",
        ].join("\n"),
      );
      const lines: string[] = [];
      const result = await compileCircuit({
        circuitPath,
        outDir: path.join(dir, "out"),
        onLog: (l) => lines.push(l),
      });

      for (const p of [result.r1csPath, result.wasmPath, result.symPath])
        expect(existsSync(p), p).to.equal(true);
      expect(result.r1csPath).to.equal(path.join(dir, "out", "square.r1cs"));
      expect(result.compileMs).to.be.a("number");
      expect(lines.some((l) => /non-linear constraints/.test(l))).to.equal(true);

      // 8 range bits (the sum is folded away by --O2) and the square.
      expect(result.constraints).to.equal(9);
      const info = await snarkjs.r1cs.info(result.r1csPath);
      expect(info.nConstraints).to.equal(result.constraints);
      const r1cs = await readR1cs(result.r1csPath);
      expect(r1cs.nWires).to.equal(info.nVars);
      expect(r1cs.prime).to.equal(BN254_P);

      const symbols = await readSymbols(result.symPath);
      expect(symbols.get("main.y")).to.equal(1);
      expect(symbols.get("main.x")).to.equal(2);
      const w = await calculateWitness(result.wasmPath, { x: -7n });
      expect(w[0]).to.equal(1n);
      expect(w[1]).to.equal(49n);
      expect(fromField(w[2])).to.equal(-7n);
      expect(await checkWitness(result.r1csPath, w)).to.equal(true);
      expect(await checkWitness(result.r1csPath, w.slice(0, -1))).to.equal(false);
      expect(await checkWitness(result.r1csPath, [2n, ...w.slice(1)])).to.equal(false);
      expect(await checkWitness(result.r1csPath, [w[0], 50n, ...w.slice(2)])).to.equal(false);
      expect(await checkWitness(result.r1csPath, [w[0], w[1] + BN254_P, ...w.slice(2)])).to.equal(false);
      const err = await calculateWitness(result.wasmPath, { x: 200n }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(WitnessError);
    });

    it("throws CircuitCompileError naming the file for a syntax error", async () => {
      const circuitPath = path.join(dir, "broken.circom");
      await fs.writeFile(
        circuitPath,
        "pragma circom 2.1.0;\ntemplate A() { signal input a; signal output b; b <== a * ; }\ncomponent main = A();\n",
      );
      const err = await compileCircuit({ circuitPath, outDir: path.join(dir, "broken") }).catch(
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(CircuitCompileError);
      const e = err as CircuitCompileError;
      expect(e.file).to.equal(circuitPath);
      expect(e.message).to.contain(circuitPath);
      expect(e.stderr).to.match(/error/i);
      expect(e.stderr).to.contain("broken.circom");
      expect(e.exitCode).to.not.equal(0);
    });

    it("throws CircuitCompileError for a missing include and for a missing file", async () => {
      const circuitPath = path.join(dir, "noinclude.circom");
      await fs.writeFile(circuitPath, 'pragma circom 2.1.0;\ninclude "nowhere.circom";\n');
      const err = await compileCircuit({ circuitPath, outDir: path.join(dir, "noinclude") }).catch(
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(CircuitCompileError);
      expect((err as CircuitCompileError).stderr).to.contain("nowhere.circom");

      const missing = path.join(dir, "missing.circom");
      const err2 = await compileCircuit({ circuitPath: missing, outDir: dir }).catch((e: unknown) => e);
      expect(err2).to.be.instanceOf(CircuitCompileError);
      expect((err2 as Error).message).to.contain(missing);
    });
  });

  describe("field helpers", () => {
    it("maps negative integers to p - |v| and back", () => {
      expect(toField(-1n)).to.equal(BN254_P - 1n);
      expect(toField(BN254_P)).to.equal(0n);
      expect(toField(BN254_P + 5n)).to.equal(5n);
      expect(fromField(BN254_P - 1n)).to.equal(-1n);
      expect(fromField(12n)).to.equal(12n);
      const half = BN254_P / 2n;
      expect(fromField(half)).to.equal(half);
      expect(fromField(half + 1n)).to.equal(half + 1n - BN254_P);
      for (const v of [0n, 1n, -1n, 1n << 200n, -(1n << 200n), -half, half])
        expect(fromField(toField(v))).to.equal(v);
    });
  });
});
