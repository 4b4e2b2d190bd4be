import { expect } from "chai";
import { inflateSync } from "node:zlib";

import { type ChartSeries, lineChart } from "../../src/bench/chart.js";
import { Canvas, type Rgb, crc32, encodePng } from "../../src/bench/png.js";

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** CRC-32 bit by bit, with no table: an independent reference for the encoder's. */
function referenceCrc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

interface DecodedPng {
  width: number;
  height: number;
  bitDepth: number;
  colourType: number;
  interlace: number;
  chunkTypes: string[];
  /** the inflated IDAT stream: per row a filter byte then the pixels */
  scanlines: Buffer;
}

/** Parses a PNG, checking the signature and every chunk's CRC on the way. */
function decodePng(png: Buffer): DecodedPng {
  expect([...png.subarray(0, 8)]).to.deep.equal(SIGNATURE);
  const chunks: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString("latin1", at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    const crc = png.readUInt32BE(at + 8 + length);
    expect(crc, `CRC of ${type}`).to.equal(referenceCrc32(png.subarray(at + 4, at + 8 + length)));
    chunks.push({ type, data });
    at += 12 + length;
  }
  const header = chunks[0].data;
  return {
    width: header.readUInt32BE(0),
    height: header.readUInt32BE(4),
    bitDepth: header[8],
    colourType: header[9],
    interlace: header[12],
    chunkTypes: chunks.map((c) => c.type),
    scanlines: inflateSync(Buffer.concat(chunks.filter((c) => c.type === "IDAT").map((c) => c.data))),
  };
}

/** The RGBA of pixel (x, y) of a filter-0 image. */
function pixelAt(png: DecodedPng, x: number, y: number): number[] {
  const at = y * (1 + 4 * png.width) + 1 + 4 * x;
  return [...png.scanlines.subarray(at, at + 4)];
}

/** Every distinct opaque RGB colour in a filter-0 image, as "r,g,b". */
function coloursOf(png: DecodedPng): Set<string> {
  const colours = new Set<string>();
  for (let y = 0; y < png.height; y++)
    for (let x = 0; x < png.width; x++) colours.add(pixelAt(png, x, y).slice(0, 3).join(","));
  return colours;
}

describe("bench/png", () => {
  it("computes the standard CRC-32 check value", () => {
    expect(crc32(Buffer.from("123456789", "ascii"))).to.equal(0xcbf43926);
    expect(crc32(new Uint8Array(0))).to.equal(0);
  });

  it("writes the signature, an IHDR for 8-bit RGBA, IDAT and IEND", () => {
    const png = decodePng(encodePng(3, 2, new Uint8Array(3 * 2 * 4)));
    expect(png.chunkTypes).to.deep.equal(["IHDR", "IDAT", "IEND"]);
    expect(png).to.include({ width: 3, height: 2, bitDepth: 8, colourType: 6, interlace: 0 });
  });

  it("stores a CRC-32 in every chunk that a bitwise implementation agrees with", () => {
    const rgba = Uint8Array.from({ length: 17 * 9 * 4 }, (_, i) => (i * 37 + 11) & 0xff);
    // decodePng checks each chunk's CRC against referenceCrc32
    expect(decodePng(encodePng(17, 9, rgba)).chunkTypes).to.have.length(3);
  });

  it("deflates height rows of a filter byte 0 and the pixels exactly as given", () => {
    const width = 5;
    const height = 4;
    const rgba = Uint8Array.from({ length: width * height * 4 }, (_, i) => (i * 7) & 0xff);
    const png = decodePng(encodePng(width, height, rgba));
    expect(png.scanlines.length).to.equal(height * (1 + 4 * width));
    for (let y = 0; y < height; y++) {
      const row = y * (1 + 4 * width);
      expect(png.scanlines[row], `filter byte of row ${y}`).to.equal(0);
      expect([...png.scanlines.subarray(row + 1, row + 1 + 4 * width)]).to.deep.equal([
        ...rgba.subarray(y * 4 * width, (y + 1) * 4 * width),
      ]);
    }
  });

  it("rejects a buffer whose length does not match the size", () => {
    expect(() => encodePng(2, 2, new Uint8Array(15))).to.throw(RangeError, "expected 16 bytes for 2×2 RGBA");
    expect(() => encodePng(0, 2, new Uint8Array(0))).to.throw(RangeError, "width must be a positive integer");
  });

  describe("Canvas", () => {
    it("sets the pixel it is asked to and leaves the background elsewhere", () => {
      const canvas = new Canvas(7, 5, [250, 250, 250]);
      canvas.setPixel(4, 2, [10, 200, 30]);
      canvas.setPixel(-1, 99, [1, 2, 3]); // off the canvas: clipped, not an error
      const png = decodePng(canvas.toPng());
      expect(png).to.include({ width: 7, height: 5 });
      expect(png.scanlines.length).to.equal(5 * (1 + 4 * 7));
      expect(pixelAt(png, 4, 2)).to.deep.equal([10, 200, 30, 255]);
      expect(pixelAt(png, 0, 0)).to.deep.equal([250, 250, 250, 255]);
      expect(coloursOf(png)).to.have.keys(["250,250,250", "10,200,30"]);
    });

    it("draws lines, rectangles and dots where they belong", () => {
      const red: Rgb = [255, 0, 0];
      const canvas = new Canvas(20, 20);
      canvas.line(0, 0, 19, 19, red);
      canvas.fillRect(2, 12, 3, 3, red);
      canvas.circle(15, 4, 2, red);
      const png = decodePng(canvas.toPng());
      for (const [x, y] of [
        [0, 0],
        [10, 10],
        [19, 19], // the diagonal, both ends included
        [2, 12],
        [4, 14], // the filled square's corners
        [15, 4],
        [13, 4],
        [15, 6], // the dot's centre and edge
      ])
        expect(pixelAt(png, x, y), `(${x}, ${y})`).to.deep.equal([255, 0, 0, 255]);
      expect(pixelAt(png, 5, 12)).to.deep.equal([255, 255, 255, 255]);
    });

    it("draws text in the 5×7 font, each font pixel a scale × scale block", () => {
      const canvas = new Canvas(40, 20);
      // "1" is rows 04 0C 04 04 04 04 0E: ten pixels
      canvas.text(2, 2, "1", [0, 0, 0], 2);
      const png = decodePng(canvas.toPng());
      let black = 0;
      for (let y = 0; y < png.height; y++)
        for (let x = 0; x < png.width; x++) if (pixelAt(png, x, y)[0] === 0) black++;
      expect(black).to.equal(10 * 2 * 2);
      expect(pixelAt(png, 2 + 2 * 2, 2)).to.deep.equal([0, 0, 0, 255]); // top of the stem
    });

    it("refuses a character the font lacks and draws none of the text", () => {
      const canvas = new Canvas(60, 10);
      expect(() => canvas.text(0, 0, "25k €", [0, 0, 0])).to.throw(RangeError, 'no glyph for "€"');
      expect(coloursOf(decodePng(canvas.toPng()))).to.have.keys(["255,255,255"]);
    });
  });
});

describe("bench/chart", () => {
  const ks = [1, 4, 8, 16, 32, 64];
  const blue: Rgb = [31, 119, 180];
  const orange: Rgb = [230, 120, 20];
  const target: Rgb = [200, 30, 45];
  const twoSeries: ChartSeries[] = [
    { name: "3 signals", color: blue, points: ks.map((k) => ({ x: k, y: 210_000 / k + 20_700 })) },
    { name: "1 signal", color: orange, points: ks.map((k) => ({ x: k, y: 210_000 / k + 6_900 })) },
  ];
  const chart = (overrides: Partial<Parameters<typeof lineChart>[0]> = {}) =>
    lineChart({
      title: "Gas per inference against batch size k",
      xLabel: "batch size k",
      yLabel: "gas per inference",
      series: twoSeries,
      ...overrides,
    });

  it("renders two series as a valid PNG of the requested size, in their colours", () => {
    const png = decodePng(
      chart({
        width: 640,
        height: 400,
        logX: true,
        xTicks: ks,
        horizontalLines: [{ y: 35_000, label: "target 35k", color: target }],
      }),
    );
    expect(png).to.include({ width: 640, height: 400, colourType: 6 });
    expect(png.scanlines.length).to.equal(400 * (1 + 4 * 640));
    const colours = coloursOf(png);
    for (const c of [blue, orange, target, [255, 255, 255]]) expect(colours).to.include(c.join(","));
  });

  it("is 800 × 480 unless told otherwise", () => {
    expect(decodePng(chart())).to.include({ width: 800, height: 480 });
  });

  it("throws when there is no series to draw", () => {
    expect(() => chart({ series: [] })).to.throw(RangeError, "no series to draw");
  });

  it("throws on a series without points", () => {
    expect(() => chart({ series: [{ name: "empty", points: [] }] })).to.throw(
      RangeError,
      'series "empty" has no points',
    );
  });

  it("throws on a non-finite point, naming the series and the point", () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const series = [
        {
          name: "gas",
          points: [
            { x: 1, y: 1000 },
            { x: 2, y: bad },
          ],
        },
      ];
      expect(() => chart({ series })).to.throw(
        RangeError,
        `series "gas" point 1 is not finite (x = 2, y = ${bad})`,
      );
    }
    const series = [{ name: "gas", points: [{ x: NaN, y: 1000 }] }];
    expect(() => chart({ series })).to.throw(RangeError, 'series "gas" point 0 is not finite');
  });

  it("throws on x ≤ 0 on a log scale", () => {
    const series = [{ name: "gas", points: [{ x: 0, y: 1000 }] }];
    expect(() => chart({ series, logX: true })).to.throw(RangeError, "logX needs x > 0");
  });

  it("throws on a size too small to hold a plot", () => {
    expect(() => chart({ width: 100 })).to.throw(RangeError, "width must be an integer ≥ 320");
  });
});
