/**
 * Per-epoch loss curves as a standalone SVG document.
 *
 * d3-axis needs a DOM, which Deno lacks, so axes, ticks and gridlines are drawn here from the
 * scales' `ticks()`; d3 still does the maths (scales, tick choice, number formats, path data).
 *
 * @module
 */
// @ts-types="npm:@types/d3@7.4.3"
// deno-lint-ignore no-import-prefix
import * as d3 from "npm:d3@7.9.0";

/** One curve: `values[i]` is the value after epoch `i + 1`. */
export interface LossSeries {
  /** Legend label. */
  name: string;
  /** One value per epoch; NaN/Infinity (and ≤ 0 on a log axis) are left out of the drawing. */
  values: number[];
}

/** Options of {@link lossCurveSvg}. */
export interface LossCurveOptions {
  /** Heading above the plot; none by default. */
  title?: string;
  /** Default `"epoch"`. */
  xLabel?: string;
  /** Default `"loss"`. */
  yLabel?: string;
  /** Logarithmic y axis; default true (losses span decades). */
  logY?: boolean;
  /** Document width in px; default 720. */
  width?: number;
  /** Document height in px; default 420. */
  height?: number;
}

const FONT_PX = 12;
// Rough average glyph width of a 12px sans-serif font; only used to size the legend column.
const CHAR_PX = 7;
const MAX_NAME = 30;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** Rounds to 2 decimals: enough for screen pixels and keeps the document small. */
function px(v: number): number {
  return Math.round(v * 100) / 100;
}

function shorten(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * Renders loss curves (x = epoch 1..n) to an SVG document string with title, axis labels,
 * gridlines and a legend. Values that cannot be drawn are skipped (lines break there) and counted
 * in a footnote; an isolated point (e.g. a single epoch) gets a dot so it stays visible.
 */
export function lossCurveSvg(series: LossSeries[], opts: LossCurveOptions = {}): string {
  const logY = opts.logY ?? true;
  const width = opts.width ?? 720;
  const height = opts.height ?? 420;
  const valid = (v: number) => Number.isFinite(v) && (!logY || v > 0);

  const names = series.map((s) =>
    shorten(s.name, MAX_NAME) + (s.values.some(valid) ? "" : " (no data)")
  );
  const legendW = series.length ? 36 + Math.max(...names.map((n) => n.length)) * CHAR_PX : 0;
  const m = { top: opts.title ? 44 : 18, right: legendW + 16, bottom: 52, left: 76 };
  const pw = Math.max(60, width - m.left - m.right);
  const ph = Math.max(60, height - m.top - m.bottom);

  const n = Math.max(0, ...series.map((s) => s.values.length));
  let lo = Infinity, hi = -Infinity, hidden = 0;
  for (const s of series) {
    for (const v of s.values) {
      if (!valid(v)) hidden++;
      else [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    }
  }
  const hasData = lo <= hi;
  // Degenerate ranges (no data, one value, flat curve) still need a non-empty domain.
  if (!hasData) [lo, hi] = logY ? [0.1, 10] : [0, 1];
  else if (lo === hi) {
    [lo, hi] = logY
      ? [lo / 2, hi * 2]
      : [lo - (Math.abs(lo) || 1) * 0.1, hi + (Math.abs(hi) || 1) * 0.1];
  }

  const x = d3.scaleLinear().domain(n <= 1 ? [0, 2] : [1, n]).range([0, pw]);
  const tickCount = Math.max(2, Math.round(ph / 40));
  // nice() rounds a log domain out to whole decades; for data within one decade that squashes
  // the curve flat, so pad a little instead (d3 then picks linear-style ticks inside the decade).
  const pad = Math.pow(hi / lo, 0.05);
  const y = !logY
    ? d3.scaleLinear().domain([lo, hi]).nice().range([ph, 0])
    : hi / lo >= 10
    ? d3.scaleLog().domain([lo, hi]).nice().range([ph, 0])
    : d3.scaleLog().domain([lo / pad, hi * pad]).range([ph, 0]);
  const yTicks = y.ticks(tickCount);
  const yFmt = y.tickFormat(tickCount, "~g");
  // Epochs are whole numbers: drop fractional ticks and ticks outside 1..n.
  const xTicks = x.ticks(Math.min(10, Math.max(2, n))).filter((t) =>
    Number.isInteger(t) && t >= 1 && t <= Math.max(1, n)
  );

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="${FONT_PX}">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
  );
  if (opts.title) {
    out.push(
      `<text x="${px(width / 2)}" y="26" text-anchor="middle" font-size="15" ` +
        `font-weight="bold">${esc(opts.title)}</text>`,
    );
  }
  out.push(`<g transform="translate(${m.left},${m.top})">`);

  // Gridlines first so curves sit on top. Unlabelled log ticks (2..9 × 10^k) get fainter lines.
  out.push(`<g class="grid" stroke-width="1">`);
  for (const t of yTicks) {
    const label = yFmt(t);
    out.push(
      `<line x1="0" x2="${px(pw)}" y1="${px(y(t))}" y2="${px(y(t))}" ` +
        `stroke="${label ? "#d9d9d9" : "#f0f0f0"}"/>`,
    );
  }
  for (const t of xTicks) {
    out.push(`<line x1="${px(x(t))}" x2="${px(x(t))}" y1="0" y2="${px(ph)}" stroke="#ececec"/>`);
  }
  out.push(`</g>`);

  // Axes: lines, outward tick marks and labels.
  out.push(`<g class="axis" stroke="#333" fill="#333">`);
  out.push(`<line x1="0" x2="0" y1="0" y2="${px(ph)}"/>`);
  out.push(`<line x1="0" x2="${px(pw)}" y1="${px(ph)}" y2="${px(ph)}"/>`);
  for (const t of yTicks) {
    const label = yFmt(t);
    const ty = px(y(t));
    out.push(`<line x1="${label ? -6 : -3}" x2="0" y1="${ty}" y2="${ty}"/>`);
    if (label) {
      out.push(
        `<text x="-9" y="${ty}" dy="0.32em" text-anchor="end" stroke="none">${esc(label)}</text>`,
      );
    }
  }
  const xFmt = d3.format("d");
  for (const t of xTicks) {
    const tx = px(x(t));
    out.push(`<line x1="${tx}" x2="${tx}" y1="${px(ph)}" y2="${px(ph + 6)}"/>`);
    out.push(
      `<text x="${tx}" y="${px(ph + 9)}" dy="0.71em" text-anchor="middle" stroke="none">${
        xFmt(t)
      }</text>`,
    );
  }
  out.push(`</g>`);
  out.push(
    `<text x="${px(pw / 2)}" y="${px(ph + 40)}" text-anchor="middle">${
      esc(opts.xLabel ?? "epoch")
    }</text>`,
    `<text transform="translate(${-m.left + 18},${px(ph / 2)}) rotate(-90)" ` +
      `text-anchor="middle">${esc(opts.yLabel ?? "loss")}${logY ? " (log scale)" : ""}</text>`,
  );
  if (!hasData) {
    out.push(
      `<text x="${px(pw / 2)}" y="${px(ph / 2)}" text-anchor="middle" fill="#888">no data</text>`,
    );
  }

  // Curves: `defined` breaks the line at skipped values instead of emitting NaN coordinates.
  const colors = d3.schemeTableau10;
  const line = d3.line<number>()
    .defined((v) => valid(v))
    .x((_, i) => x(i + 1))
    .y((v) => y(v))
    .digits(2);
  series.forEach((s, si) => {
    const color = colors[si % colors.length];
    out.push(`<g class="series" stroke="${color}" fill="${color}">`);
    const d = line(s.values);
    if (d) out.push(`<path d="${d}" fill="none" stroke-width="2" stroke-linejoin="round"/>`);
    s.values.forEach((v, i) => {
      const isolated = valid(v) && !valid(s.values[i - 1] ?? NaN) &&
        !valid(s.values[i + 1] ?? NaN);
      if (isolated) {
        out.push(`<circle cx="${px(x(i + 1))}" cy="${px(y(v))}" r="3.5" stroke="none"/>`);
      }
    });
    out.push(`</g>`);
  });
  out.push(`</g>`);

  // Legend in its own column right of the plot, so it can never cover a curve.
  if (series.length) {
    const lx = m.left + pw + 20;
    out.push(`<g class="legend" transform="translate(${px(lx)},${m.top + 6})">`);
    names.forEach((name, si) => {
      const color = colors[si % colors.length];
      const ly = si * 20;
      out.push(
        `<line x1="0" x2="22" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
        `<text x="30" y="${ly}" dy="0.32em">${esc(name)}</text>`,
      );
    });
    out.push(`</g>`);
  }
  if (hidden > 0) {
    // Worded without "NaN" so a grep for NaN in the document only finds real bugs.
    const what = logY ? "not finite or ≤ 0" : "not finite";
    out.push(
      `<text x="${width - 8}" y="${height - 8}" text-anchor="end" font-size="10" fill="#777">` +
        `${hidden} value${hidden === 1 ? "" : "s"} not drawn (${what})</text>`,
    );
  }
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
