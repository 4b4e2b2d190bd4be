import { expect } from "chai";

import { CircuitTester } from "../helpers/circuit-tester.js";

const N = 5;
const B = 8;

/** Reference: index of the first maximum. */
function argmax(v: bigint[]): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

describe("circuits/lib/argmax.circom", () => {
  describe("ArgMax(5, 8)", () => {
    let o2: CircuitTester;
    let o0: CircuitTester;
    before(async () => {
      [o2, o0] = await Promise.all([
        // `in` is public so that --O2 cannot substitute it away (see bits.test.ts).
        CircuitTester.fromTemplate({
          file: "argmax.circom",
          template: "ArgMax",
          params: [N, B],
          publicInputs: ["in"],
        }),
        CircuitTester.fromTemplate({
          file: "argmax.circom",
          template: "ArgMax",
          params: [N, B],
          optimization: 0,
        }),
      ]);
    });

    const cases: [string, bigint[], number][] = [
      ["a single maximum in the middle", [1n, 5n, 3n, 2n, 0n], 1],
      ["ties: the lowest index wins", [1n, 5n, 3n, 5n, 2n], 1],
      ["all equal: index 0", [7n, 7n, 7n, 7n, 7n], 0],
      ["all equal at the minimum", [-128n, -128n, -128n, -128n, -128n], 0],
      ["negative values", [-5n, -3n, -128n, -3n, -4n], 1],
      ["maximum first", [127n, 126n, -128n, 127n, 0n], 0],
      ["maximum last", [-1n, -2n, -3n, -4n, 0n], 4],
      ["extreme step -128 → 127", [-128n, 127n, -128n, -128n, -128n], 1],
      ["extreme step 127 → -128", [127n, -128n, -128n, -128n, -128n], 0],
      ["increasing", [-2n, -1n, 0n, 1n, 2n], 4],
    ];
    for (const [name, input, expected] of cases) {
      it(`finds the first maximum: ${name}`, async () => {
        expect(argmax(input)).to.equal(expected);
        await o2.expectPass({ in: input }, { out: expected });
      });
    }

    it("agrees with the reference on pseudo-random inputs", async () => {
      let seed = 12345;
      const next = (): bigint => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return BigInt(seed % 9) - 4n; // small range: many ties
      };
      for (let k = 0; k < 40; k++) {
        const input = Array.from({ length: N }, next);
        await o2.expectPass({ in: input }, { out: argmax(input) });
      }
    });

    it("rejects a different index", async () => {
      await o0.expectTamperFails({ in: [1n, 5n, 3n, 5n, 2n] }, "out", 3n);
      await o2.expectTamperFails({ in: [1n, 5n, 3n, 5n, 2n] }, "out", 3n);
      await o2.expectTamperFails({ in: [1n, 5n, 3n, 5n, 2n] }, "out", 0n);
    });

    it("rejects a comparison lie in the last step, with best and index made consistent", async () => {
      // Honest: in[4] = 9 > best 4, so gt[4] = 1 and out = 4. The lie says 9 ≤ 4.
      await o0.expectTamperFails(
        { in: [1n, 2n, 3n, 4n, 9n] },
        { "cmp[4].bits[8]": 0n, "gt[4]": 0n, "best[4]": 4n, "idx[4]": 3n, out: 3n },
      );
      // Honest: in[4] = 5 is not above best 5 (a tie). The lie claims it is, moving the index.
      await o0.expectTamperFails(
        { in: [1n, 5n, 3n, 4n, 5n] },
        { "cmp[4].bits[8]": 1n, "gt[4]": 1n, "best[4]": 5n, "idx[4]": 4n, out: 4n },
      );
    });

    it("rejects every flipped comparator bit", async () => {
      const input = { in: [-3n, 8n, 8n, -100n, 9n] };
      const w = await o0.witness(input);
      for (let i = 1; i < N; i++) {
        for (let j = 0; j <= B; j++) {
          const name = `cmp[${i}].bits[${j}]`;
          await o0.expectTamperFails(input, name, 1n - o0.read(w, name));
        }
      }
    });
  });

  describe("ArgMax(1, 8)", () => {
    it("returns index 0 for a single value", async () => {
      const t = await CircuitTester.fromTemplate({
        file: "argmax.circom",
        template: "ArgMax",
        params: [1, B],
      });
      await t.expectPass({ in: [-42n] }, { out: 0 });
    });
  });
});
