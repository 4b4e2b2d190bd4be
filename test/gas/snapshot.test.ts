import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import hre from "hardhat";

import {
  ABSOLUTE_FLOOR,
  GAS_SNAPSHOT_COMMAND,
  GAS_SNAPSHOT_PATH,
  GAS_TABLE_BEGIN,
  GAS_TABLE_END,
  type GasSnapshot,
  compareSnapshot,
  formatSnapshot,
  gasTableMarkdown,
  readSnapshot,
  withGasTable,
  writeSnapshot,
} from "../../src/bench/gasSnapshot.js";
import { measureGasSnapshot } from "../../src/bench/measureGas.js";
import { SibylError } from "../../src/errors.js";

/**
 * The committed gas snapshot holds: every operation measured again on a fresh chain costs what
 * gas-snapshot.json says, within the tolerance. And the comparison, the file and README's table
 * behave as the check relies on.
 */

const snapshot = (entries: Record<string, number>): GasSnapshot => ({ entries });

describe("gas snapshot", function () {
  describe("gas-snapshot.json", function () {
    it("holds what every operation costs now (a fresh chain, every model)", async function () {
      const measured = await measureGasSnapshot(hre);
      const differences = compareSnapshot(readSnapshot(GAS_SNAPSHOT_PATH), measured);
      if (differences.length > 0)
        expect.fail(
          `gas-snapshot.json is out of date:\n${differences.map((d) => `  ${d.message}`).join("\n")}`,
        );
    });

    it("is written the way the command writes it (sorted keys, 2-space JSON, a final newline)", function () {
      const text = readFileSync(GAS_SNAPSHOT_PATH, "utf8");
      expect(text).to.equal(formatSnapshot(readSnapshot(GAS_SNAPSHOT_PATH)));
    });
  });

  describe("compareSnapshot", function () {
    const committed = snapshot({ "iris.settle": 100_000, "iris.answer": 5_000 });

    it("finds nothing when every figure is the same", function () {
      expect(compareSnapshot(committed, snapshot({ ...committed.entries }))).to.deep.equal([]);
    });

    it("lets a figure move within 1% either way", function () {
      for (const settle of [100_999, 101_000, 99_000])
        expect(
          compareSnapshot(committed, snapshot({ ...committed.entries, "iris.settle": settle })),
        ).to.deep.equal([]);
    });

    it("reports a figure that moved beyond 1%, up or down, with the command that updates the snapshot", function () {
      for (const settle of [101_001, 98_999]) {
        const [d, ...rest] = compareSnapshot(
          committed,
          snapshot({ ...committed.entries, "iris.settle": settle }),
        );
        expect(rest).to.deep.equal([]);
        expect(d).to.deep.include({
          key: "iris.settle",
          kind: "moved",
          committed: 100_000,
          measured: settle,
        });
        expect(d.message)
          .to.include("iris.settle")
          .and.include("100,000")
          .and.include(settle.toLocaleString("en-US"));
        expect(d.message).to.include(GAS_SNAPSHOT_COMMAND);
      }
    });

    it(`lets a small figure move by ${ABSOLUTE_FLOOR} gas however large that is relative to it`, function () {
      // 1% of 5,000 is 50: the floor decides
      const moved = (answer: number) =>
        compareSnapshot(committed, snapshot({ ...committed.entries, "iris.answer": answer }));
      expect(moved(5_000 + ABSOLUTE_FLOOR)).to.deep.equal([]);
      expect(moved(5_000 - ABSOLUTE_FLOOR)).to.deep.equal([]);
      expect(moved(5_001 + ABSOLUTE_FLOOR).map((d) => d.key)).to.deep.equal(["iris.answer"]);
      expect(moved(4_999 - ABSOLUTE_FLOOR).map((d) => d.key)).to.deep.equal(["iris.answer"]);
    });

    it("takes another tolerance and floor when told", function () {
      const measured = snapshot({ ...committed.entries, "iris.settle": 100_500 });
      expect(compareSnapshot(committed, measured, { tolerance: 0.001 }).map((d) => d.key)).to.deep.equal([
        "iris.settle",
      ]);
      expect(compareSnapshot(committed, measured, { tolerance: 0, floor: 500 })).to.deep.equal([]);
    });

    it("reports a committed figure no longer measured, and a measured figure not committed", function () {
      const measured = snapshot({ "iris.settle": 100_000, "iris.settleBatch.k4": 60_000 });
      const differences = compareSnapshot(committed, measured);
      expect(differences.map(({ key, kind }) => ({ key, kind }))).to.deep.equal([
        { key: "iris.answer", kind: "missing" },
        { key: "iris.settleBatch.k4", kind: "new" },
      ]);
      for (const d of differences) expect(d.message).to.include(d.key).and.include(GAS_SNAPSHOT_COMMAND);
    });

    it("ignores the $comment", function () {
      expect(
        compareSnapshot({ ...committed, $comment: "old" }, { ...committed, $comment: "new" }),
      ).to.deep.equal([]);
    });
  });

  describe("the file", function () {
    const dir = mkdtempSync(join(tmpdir(), "sibyl-gas-"));

    it("is written with the comment first and sorted keys, and reads back", function () {
      const path = join(dir, "written.json");
      const written: GasSnapshot = {
        $comment: "made by a test",
        entries: { "mnist.settle": 3, "iris.settle": 1 },
      };
      writeSnapshot(path, written);
      expect(readFileSync(path, "utf8")).to.equal(
        '{\n  "$comment": "made by a test",\n  "entries": {\n    "iris.settle": 1,\n    "mnist.settle": 3\n  }\n}\n',
      );
      expect(readSnapshot(path)).to.deep.equal(written);
    });

    for (const [what, text] of [
      ["is not JSON", "{ entries"],
      ["has no entries", '{ "iris.settle": 1 }'],
      ["holds a figure that is not a whole number of gas", '{ "entries": { "iris.settle": 1.5 } }'],
      ["holds a negative figure", '{ "entries": { "iris.settle": -1 } }'],
    ] as const)
      it(`is refused when it ${what}, with the command that regenerates it`, function () {
        const path = join(dir, "bad.json");
        writeFileSync(path, text);
        expect(() => readSnapshot(path))
          .to.throw(SibylError)
          .with.property("message")
          .that.includes(GAS_SNAPSHOT_COMMAND);
      });

    it("is refused when missing, with the command that creates it", function () {
      expect(() => readSnapshot(join(dir, "absent.json")))
        .to.throw(SibylError, "no gas snapshot")
        .with.property("message")
        .that.includes(GAS_SNAPSHOT_COMMAND);
    });
  });

  describe("README's table", function () {
    const figures = snapshot({
      "mnist.settle": 331_263,
      "iris.settle": 267_841,
      "iris.request": 205_706,
      "iris.settleBatch.k4": 60_000,
    });

    it("has a row per operation in the operations' order, unknown ones last, a right-aligned column per model", function () {
      const rows = gasTableMarkdown(figures).split("\n");
      expect(rows[0]).to.match(/^\| operation +\| +`iris` \| `mnist` \|$/);
      expect(rows[1]).to.match(/^\| -+ \| -+: \| -+: \|$/);
      expect(rows.slice(2).map((r) => /^\| `([^`]+)`/.exec(r)?.[1])).to.deep.equal([
        "request",
        "settle",
        "settleBatch.k4",
      ]);
      expect(rows[2]).to.match(/\| 205,706 \| +— \|$/);
      expect(rows[3]).to.match(/\| 267,841 \| 331,263 \|$/);
      expect(new Set(rows.map((r) => r.length)).size).to.equal(1);
    });

    it("replaces only what lies between the markers, and again to the same text", function () {
      const markdown = `# Title\n\nprose\n\n${GAS_TABLE_BEGIN}\nold table\n${GAS_TABLE_END}\n\nmore prose\n`;
      const once = withGasTable(markdown, figures);
      expect(once).to.equal(
        `# Title\n\nprose\n\n${GAS_TABLE_BEGIN}\n\n${gasTableMarkdown(figures)}\n\n${GAS_TABLE_END}\n\nmore prose\n`,
      );
      expect(withGasTable(once, figures)).to.equal(once);
    });

    for (const [what, markdown] of [
      ["has no markers", "# Title\n"],
      ["has them in the wrong order", `${GAS_TABLE_END}\n${GAS_TABLE_BEGIN}\n`],
      ["has two tables", `${GAS_TABLE_BEGIN}\n${GAS_TABLE_END}\n${GAS_TABLE_BEGIN}\n${GAS_TABLE_END}\n`],
    ])
      it(`is refused for Markdown that ${what}`, function () {
        expect(() => withGasTable(markdown, figures)).to.throw(SibylError, "gas-snapshot:begin");
      });
  });
});
