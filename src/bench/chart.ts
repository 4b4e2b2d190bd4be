/**
 * Line charts as PNG for the benchmark (e.g. gas per inference against batch size k), drawn
 * on the dependency-free canvas of ./png.ts: title, y label and legend above the plot, axes
 * with round tick values, one line with dot markers per series, dashed reference lines.
 */
import { Canvas, GLYPH_DESCENT, GLYPH_HEIGHT, type Rgb, textWidth } from "./png.js";

export interface ChartPoint {
  x: number;
  y: number;
}

export interface ChartSeries {
  name: string;
  points: readonly ChartPoint[];
  /** defaults to the series' place in a fixed palette (blue, orange, green, …) */
  color?: Rgb;
}

/** A dashed horizontal line across the plot, e.g. a gas target, labelled where no series passes. */
export interface ReferenceLine {
  y: number;
  label: string;
  color?: Rgb;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  /** x values to mark on the axis; by default round values (powers of two with `logX`) */
  xTicks?: readonly number[];
  /** pixels, default 800 */
  width?: number;
  /** pixels, default 480 */
  height?: number;
  /** place x on a log2 scale, so k = 1, 2, 4, … 64 are evenly spaced; every x must be > 0 */
  logX?: boolean;
  horizontalLines?: readonly ReferenceLine[];
}

const PALETTE: readonly Rgb[] = [
  [31, 119, 180],
  [230, 120, 20],
  [44, 160, 44],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [23, 190, 207],
];
const REFERENCE_COLOR: Rgb = [200, 30, 45];
const INK: Rgb = [40, 40, 40];
const AXIS: Rgb = [90, 90, 90];
const GRID: Rgb = [228, 228, 228];
const WHITE: Rgb = [255, 255, 255];

/** Font scale of every label but the title, which takes the largest of 3, 2, 1 that fits. */
const LABEL_SCALE = 2;
const LINE_HEIGHT = GLYPH_HEIGHT * LABEL_SCALE;
/** Height of a label with its descenders. */
const TEXT_HEIGHT = (GLYPH_HEIGHT + GLYPH_DESCENT) * LABEL_SCALE;
const MARGIN = 16;
const TICK = 5;
/** Kept clear inside the plot at both x ends, so the first and last markers sit off the axes. */
const X_INSET = 18;
const MIN_WIDTH = 320;
const MIN_HEIGHT = 240;

/**
 * Renders `opts` as an 8-bit RGBA PNG. The y axis always includes 0, so costs read in
 * proportion. Throws a RangeError naming the offending input when there is no series, a
 * series without points, a non-finite coordinate, x ≤ 0 with `logX`, or a size below 320 × 240.
 */
export function lineChart(opts: LineChartOptions): Buffer {
  validate(opts);
  const width = opts.width ?? 800;
  const height = opts.height ?? 480;
  const logX = opts.logX ?? false;
  const refs = opts.horizontalLines ?? [];
  const series = opts.series.map((s, i) => ({
    name: s.name,
    color: s.color ?? PALETTE[i % PALETTE.length],
    points: [...s.points].sort((a, b) => a.x - b.x),
  }));
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));

  const yTicks = niceTicks(
    Math.min(0, ...ys, ...refs.map((r) => r.y)),
    Math.max(0, ...ys, ...refs.map((r) => r.y)),
  );
  const yUnit = tickUnit(yTicks);
  const yLabels = yTicks.map((t) => formatTick(t, yUnit));
  const xTicks = opts.xTicks
    ? [...opts.xTicks]
    : logX
      ? powerOfTwoTicks(xs)
      : niceTicks(Math.min(...xs), Math.max(...xs));
  const xUnit = tickUnit(xTicks);

  const canvas = new Canvas(width, height, WHITE);

  const headerBottom = drawHeader(canvas, opts.title, opts.yLabel, series);
  const plot: Box = {
    left: MARGIN + Math.max(...yLabels.map((l) => textWidth(l, LABEL_SCALE))) + TICK + 6,
    right: width - MARGIN - 8,
    top: headerBottom + 10,
    bottom: height - MARGIN - TEXT_HEIGHT - 10 - LINE_HEIGHT - TICK - 6,
  };
  if (plot.bottom - plot.top < 40 || plot.right - plot.left < 80)
    throw new RangeError(`lineChart: ${width}×${height} leaves no room for the plot; make the chart larger`);

  const yLo = yTicks[0];
  const yHi = yTicks[yTicks.length - 1];
  const py = (y: number) => plot.bottom - ((y - yLo) / (yHi - yLo)) * (plot.bottom - plot.top);
  const scaleX = (x: number) => (logX ? Math.log2(x) : x);
  const xDomain = [...xs, ...xTicks].map(scaleX);
  const xLo = Math.min(...xDomain);
  const xHi = Math.max(...xDomain);
  const inner = plot.right - plot.left - 2 * X_INSET;
  const px = (x: number) =>
    plot.left + X_INSET + (xHi === xLo ? inner / 2 : ((scaleX(x) - xLo) / (xHi - xLo)) * inner);

  // Grid and y axis ticks.
  yTicks.forEach((t, i) => {
    const y = Math.round(py(t));
    if (t !== yLo) canvas.line(plot.left + 1, y, plot.right, y, GRID);
    canvas.line(plot.left - TICK, y, plot.left, y, AXIS);
    const label = yLabels[i];
    canvas.text(
      plot.left - TICK - 6 - textWidth(label, LABEL_SCALE),
      y - LINE_HEIGHT / 2,
      label,
      INK,
      LABEL_SCALE,
    );
  });

  const paths = series.map((s) => s.points.map((p) => ({ x: px(p.x), y: py(p.y) })));
  for (const ref of refs) drawReferenceLine(canvas, plot, ref, Math.round(py(ref.y)), paths);

  canvas.line(plot.left, plot.top, plot.left, plot.bottom, AXIS, 2);
  canvas.line(plot.left, plot.bottom, plot.right, plot.bottom, AXIS, 2);

  // x axis ticks, skipping a label that would run into the previous one.
  let lastLabelRight = -Infinity;
  for (const t of xTicks) {
    const x = Math.round(px(t));
    canvas.line(x, plot.bottom, x, plot.bottom + TICK, AXIS);
    const label = formatTick(t, xUnit);
    const left = x - textWidth(label, LABEL_SCALE) / 2;
    if (left < lastLabelRight + 8) continue;
    canvas.text(left, plot.bottom + TICK + 6, label, INK, LABEL_SCALE);
    lastLabelRight = left + textWidth(label, LABEL_SCALE);
  }
  canvas.text(
    plot.left + (plot.right - plot.left - textWidth(opts.xLabel, LABEL_SCALE)) / 2,
    height - MARGIN - TEXT_HEIGHT,
    opts.xLabel,
    INK,
    LABEL_SCALE,
  );

  for (const s of series) {
    for (let i = 1; i < s.points.length; i++) {
      const a = s.points[i - 1];
      const b = s.points[i];
      canvas.line(px(a.x), py(a.y), px(b.x), py(b.y), s.color, 2);
    }
    for (const p of s.points) canvas.circle(px(p.x), py(p.y), 4, s.color);
  }

  return canvas.toPng();
}

interface Box {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/**
 * The title (at the largest scale that fits), then the y label on the left and the legend on
 * the right, wrapping onto further rows when it does not fit beside the label. Returns the
 * y just below the last row.
 */
function drawHeader(
  canvas: Canvas,
  title: string,
  yLabel: string,
  series: readonly { name: string; color: Rgb }[],
): number {
  const width = canvas.width;
  const titleScale = [3, 2, 1].find((s) => textWidth(title, s) <= width - 2 * MARGIN) ?? 1;
  canvas.text((width - textWidth(title, titleScale)) / 2, MARGIN, title, INK, titleScale);
  const top = MARGIN + GLYPH_HEIGHT * titleScale + 14;
  canvas.text(MARGIN, top, yLabel, INK, LABEL_SCALE);
  const rows = layOutLegend(
    series.map((s) => s.name),
    width - 2 * MARGIN,
    width - 2 * MARGIN - textWidth(yLabel, LABEL_SCALE) - 24,
  );
  rows.forEach((row, r) => {
    let x = width - MARGIN - row.width;
    for (const i of row.entries) {
      drawLegendEntry(canvas, x, top + r * (TEXT_HEIGHT + 6), series[i].name, series[i].color);
      x += legendEntryWidth(series[i].name) + LEGEND_GAP;
    }
  });
  return top + rows.length * (TEXT_HEIGHT + 6);
}

/**
 * A dashed line across the plot at pixel row `y`, labelled where no series passes: at the
 * right end, the left end or in between, above the line if there is room and below if not;
 * over a series only when there is nowhere else (the series are drawn later, on top).
 */
function drawReferenceLine(
  canvas: Canvas,
  plot: Box,
  ref: ReferenceLine,
  y: number,
  paths: readonly (readonly ChartPoint[])[],
): void {
  const color = ref.color ?? REFERENCE_COLOR;
  dashedLine(canvas, plot.left + 1, plot.right, y, color);
  const w = textWidth(ref.label, LABEL_SCALE);
  const right = plot.right - w - 4;
  const lefts = [right, plot.left + 8];
  for (let x = right - 16; x > plot.left + 8; x -= 16) lefts.push(x);
  // Above the line may reach a little over the plot's top, into the gap below the legend.
  const candidates = [y - TEXT_HEIGHT - 4, y + 6]
    .filter((top) => top >= plot.top - 8 && top + TEXT_HEIGHT <= plot.bottom - 4)
    .flatMap((top) => lefts.map((left) => ({ left, top })));
  const spot =
    candidates.find((c) => !paths.some((p) => crosses(p, c.left, c.top, w, TEXT_HEIGHT))) ?? candidates[0];
  if (!spot) return;
  canvas.fillRect(spot.left - 3, spot.top - 2, w + 6, TEXT_HEIGHT + 4, WHITE);
  canvas.text(spot.left, spot.top, ref.label, color, LABEL_SCALE);
}

function validate(opts: LineChartOptions): void {
  if (opts.series.length === 0)
    throw new RangeError("lineChart: no series to draw; pass at least one { name, points }");
  for (const [name, v] of [
    ["width", opts.width],
    ["height", opts.height],
  ] as const) {
    const min = name === "width" ? MIN_WIDTH : MIN_HEIGHT;
    if (v !== undefined && (!Number.isInteger(v) || v < min))
      throw new RangeError(`lineChart: ${name} must be an integer ≥ ${min} pixels, got ${v}`);
  }
  for (const s of opts.series) {
    if (s.points.length === 0) throw new RangeError(`lineChart: series "${s.name}" has no points`);
    s.points.forEach(({ x, y }, i) => {
      if (!Number.isFinite(x) || !Number.isFinite(y))
        throw new RangeError(`lineChart: series "${s.name}" point ${i} is not finite (x = ${x}, y = ${y})`);
      if (opts.logX && x <= 0)
        throw new RangeError(`lineChart: logX needs x > 0, but series "${s.name}" point ${i} has x = ${x}`);
    });
    if (s.color) checkColor(s.color, `series "${s.name}"`);
  }
  for (const t of opts.xTicks ?? []) {
    if (!Number.isFinite(t) || (opts.logX && t <= 0))
      throw new RangeError(`lineChart: x tick ${t} is not ${opts.logX ? "a finite x > 0 (logX)" : "finite"}`);
  }
  for (const ref of opts.horizontalLines ?? []) {
    if (!Number.isFinite(ref.y))
      throw new RangeError(`lineChart: horizontal line "${ref.label}" has a non-finite y (${ref.y})`);
    if (ref.color) checkColor(ref.color, `horizontal line "${ref.label}"`);
  }
}

function checkColor(color: Rgb, what: string): void {
  if (color.length !== 3 || !color.every((c) => Number.isInteger(c) && c >= 0 && c <= 255))
    throw new RangeError(`lineChart: ${what} colour must be [r, g, b] with integers 0–255, got [${color}]`);
}

/** Multipliers of a power of ten that make round tick steps; no gap wider than ×1.5. */
const NICE_STEPS = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8];
/** Lower is rounder: steps of 1, 2 or 5 read best, then 2.5, then the rest. */
const roundness = (m: number) => ([1, 2, 5].includes(m) ? 0 : m === 2.5 ? 1 : 2);

/**
 * Round tick values covering [lo, hi] in four or five intervals (5–6 ticks), with the roundest
 * step that does it, the finer one on a tie. Each step is at most 1.5 times the one before, so
 * when the range starts at 0 the first step with at most five intervals has at least four.
 */
function niceTicks(lo: number, hi: number): number[] {
  if (lo === hi)
    return lo === 0 ? niceTicks(0, 1) : niceTicks(lo - Math.abs(lo) / 10, hi + Math.abs(hi) / 10);
  const fits: { first: number; intervals: number; step: number; roundness: number }[] = [];
  search: for (let e = Math.floor(Math.log10((hi - lo) / 5)) - 1; ; e++) {
    for (const m of NICE_STEPS) {
      const step = m * 10 ** e;
      const first = Math.floor(lo / step + 1e-9);
      const intervals = Math.ceil(hi / step - 1e-9) - first;
      if (intervals > 5) continue;
      // Fewer than four only when no step gives four or five (a range far from 0).
      if (intervals >= 4 || fits.length === 0) fits.push({ first, intervals, step, roundness: roundness(m) });
      if (intervals < 4) break search;
    }
  }
  const best = fits.reduce((a, b) => (b.roundness < a.roundness ? b : a));
  return Array.from({ length: best.intervals + 1 }, (_, i) =>
    Number(((best.first + i) * best.step).toPrecision(12)),
  );
}

/** Every power of two from just below the smallest x to just above the largest, thinned to at most 8. */
function powerOfTwoTicks(xs: readonly number[]): number[] {
  const lo = Math.floor(Math.log2(Math.min(...xs)));
  const hi = Math.ceil(Math.log2(Math.max(...xs)));
  const every = Math.ceil((hi - lo + 1) / 8);
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e += every) ticks.push(2 ** e);
  return ticks;
}

interface TickUnit {
  divisor: number;
  suffix: string;
}

/**
 * Thousands as "k" (millions as "M") once the values reach them, but only when every tick
 * then needs at most one decimal (25k, 2.5k), so 250, 500, 750, 1000 stay whole numbers.
 */
function tickUnit(ticks: readonly number[]): TickUnit {
  const maxAbs = Math.max(...ticks.map(Math.abs));
  for (const [divisor, suffix] of [
    [1e6, "M"],
    [1e3, "k"],
  ] as const) {
    if (maxAbs >= divisor && ticks.every((t) => Number.isInteger(t / (divisor / 10))))
      return { divisor, suffix };
  }
  return { divisor: 1, suffix: "" };
}

function formatTick(value: number, unit: TickUnit): string {
  if (value === 0) return "0";
  // toPrecision(12) drops binary noise (0.30000000000000004), Number() the trailing zeros.
  return `${Number((value / unit.divisor).toPrecision(12))}${unit.suffix}`;
}

const SWATCH = 24;
const LEGEND_GAP = 20;

function legendEntryWidth(name: string): number {
  return SWATCH + 6 + textWidth(name, LABEL_SCALE);
}

/**
 * Packs legend entries into right-aligned rows no wider than `rowWidth` (an entry wider
 * than that gets a row of its own); the first row, which shares its line with the y label,
 * gets `firstRowWidth`, and stays empty when not even one entry fits there.
 */
function layOutLegend(
  names: readonly string[],
  rowWidth: number,
  firstRowWidth: number,
): { entries: number[]; width: number }[] {
  const rows: { entries: number[]; width: number }[] = [{ entries: [], width: 0 }];
  names.forEach((name, i) => {
    const row = rows[rows.length - 1];
    const w = legendEntryWidth(name);
    const room = rows.length === 1 ? firstRowWidth : rowWidth;
    const widened = row.entries.length === 0 ? w : row.width + LEGEND_GAP + w;
    if (widened <= room) {
      row.entries.push(i);
      row.width = widened;
    } else rows.push({ entries: [i], width: w });
  });
  return rows;
}

function drawLegendEntry(canvas: Canvas, x: number, top: number, name: string, color: Rgb): void {
  const mid = top + LINE_HEIGHT / 2;
  canvas.line(x, mid, x + SWATCH - 1, mid, color, 2);
  canvas.circle(x + SWATCH / 2, mid, 4, color);
  canvas.text(x + SWATCH + 6, top, name, INK, LABEL_SCALE);
}

/** Whether the polyline `path` (with its markers) comes within reach of the box at (left, top). */
function crosses(path: readonly ChartPoint[], left: number, top: number, w: number, h: number): boolean {
  const reach = 6;
  const inBox = (p: ChartPoint) =>
    p.x >= left - reach && p.x <= left + w + reach && p.y >= top - reach && p.y <= top + h + reach;
  return path.some((b, i) => {
    if (i === 0) return inBox(b);
    const a = path[i - 1];
    const steps = Math.ceil(Math.hypot(b.x - a.x, b.y - a.y));
    for (let s = 0; s <= steps; s++) {
      const t = steps === 0 ? 0 : s / steps;
      if (inBox({ x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t })) return true;
    }
    return false;
  });
}

function dashedLine(canvas: Canvas, x0: number, x1: number, y: number, color: Rgb): void {
  for (let x = x0; x <= x1; x += 14) canvas.line(x, y, Math.min(x + 7, x1), y, color, 2);
}
