/**
 * Convolution kernels as a standalone SVG: one small square per (output, input) channel pair,
 * each weight a cell coloured on a diverging scale centred on 0.
 *
 * @module
 */
// @ts-types="npm:@types/d3@7.4.3"
// deno-lint-ignore no-import-prefix
import * as d3 from "npm:d3@7.9.0";

/** One conv layer's weights, row-major `[out, in, kh, kw]` (the PyTorch layout). */
export interface FilterLayer {
  /** Heading of the layer's block. */
  name: string;
  /** Weights, length out·in·kh·kw. */
  weight: Float32Array;
  /** `[out, in, kh, kw]`. */
  shape: [number, number, number, number];
}

// The document is never wider than this; output-channel groups wrap to new rows instead.
const MAX_WIDTH = 960;
const PAD = 16;
const GAP = 4; // between kernels of one output channel
const GROUP_GAP = 12; // between output channels
const HEAD_H = 46; // title line + colour bar
const BAR_W = 160;
const BAR_H = 10;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function px(v: number): number {
  return Math.round(v * 100) / 100;
}

/**
 * Colour of weight `w` when the layer's largest |weight| is `m`: positive red, negative blue,
 * 0 white (RdBu runs red → blue, hence `0.5 - …`).
 */
function color(w: number, m: number): string {
  if (!Number.isFinite(w)) return "#888"; // NaN/Inf: neutral gray, never a "NaN" colour string
  return d3.interpolateRdBu(m > 0 ? 0.5 - Math.max(-1, Math.min(1, w / m)) / 2 : 0.5);
}

/**
 * Renders each layer's kernels as a grid (one group of `in` kernels per output channel, groups
 * wrapping to fit ~960 px), with a title and a colour bar per layer. Colours are normalised per
 * layer to ±max|w|, so the bar's end labels give that layer's scale; the actual min and max are
 * in the title.
 */
export function filtersSvg(layers: FilterLayer[]): string {
  const fmt = d3.format(".3~g");
  const blocks: string[] = [];
  let y = PAD;
  let width = 320;

  layers.forEach((layer, li) => {
    const [cout, cin, kh, kw] = layer.shape;
    const n = cout * cin * kh * kw;
    if (!layer.shape.every((d) => Number.isInteger(d) && d > 0) || layer.weight.length !== n) {
      throw new RangeError(
        `filtersSvg: layer "${layer.name}" shape [${layer.shape}] needs ${n} weights, ` +
          `got ${layer.weight.length}`,
      );
    }
    let m = 0, lo = Infinity, hi = -Infinity;
    for (const w of layer.weight) {
      if (!Number.isFinite(w)) continue;
      m = Math.max(m, Math.abs(w));
      lo = Math.min(lo, w);
      hi = Math.max(hi, w);
    }

    // Cell size: big enough to see 3×3 kernels, smaller when a layer has many of them.
    const kernels = cout * cin;
    const target = kernels > 256 ? 18 : kernels > 64 ? 27 : 40;
    const cell = Math.max(2, Math.floor(target / Math.max(kh, kw)));
    const kW = kw * cell, kH = kh * cell;
    const groupW = cin * kW + (cin - 1) * GAP;
    const perRow = Math.max(
      1,
      Math.floor((MAX_WIDTH - 2 * PAD + GROUP_GAP) / (groupW + GROUP_GAP)),
    );
    const groupsAcross = Math.min(perRow, cout);
    const rows = Math.ceil(cout / groupsAcross);
    const gridW = groupsAcross * (groupW + GROUP_GAP) - GROUP_GAP;
    width = Math.max(width, gridW + 2 * PAD, BAR_W + 2 * PAD + 120);

    const b: string[] = [];
    b.push(`<g class="layer" transform="translate(${PAD},${y})">`);
    const range = lo <= hi ? `min ${fmt(lo)}, max ${fmt(hi)}` : "no finite weights";
    b.push(
      `<text x="0" y="14" fill="#555"><tspan font-weight="bold" fill="#000">` +
        `${esc(layer.name)}</tspan> — ${cout}×${cin}×${kh}×${kw}, ${range}</text>`,
    );
    // Colour bar: a gradient sampled from the same function the cells use, labelled ±max|w|.
    const gid = `filters-bar-${li}`;
    const stops = d3.range(11).map((i) => {
      const v = -m + (2 * m * i) / 10;
      return `<stop offset="${i * 10}%" stop-color="${color(v, m)}"/>`;
    });
    b.push(`<defs><linearGradient id="${gid}">${stops.join("")}</linearGradient></defs>`);
    b.push(
      `<g class="colorbar" transform="translate(0,24)">`,
      `<rect width="${BAR_W}" height="${BAR_H}" fill="url(#${gid})" stroke="#999" ` +
        `stroke-width="0.5"/>`,
      `<text x="0" y="${BAR_H + 11}" font-size="10">${fmt(-m)}</text>`,
      `<text x="${BAR_W / 2}" y="${BAR_H + 11}" font-size="10" text-anchor="middle">0</text>`,
      `<text x="${BAR_W}" y="${BAR_H + 11}" font-size="10" text-anchor="end">${fmt(m)}</text>`,
      `</g>`,
    );

    for (let o = 0; o < cout; o++) {
      const gx = (o % groupsAcross) * (groupW + GROUP_GAP);
      const gy = HEAD_H + 8 + Math.floor(o / groupsAcross) * (kH + GROUP_GAP);
      for (let i = 0; i < cin; i++) {
        const ox = gx + i * (kW + GAP);
        b.push(`<g class="kernel" transform="translate(${px(ox)},${px(gy)})">`);
        const base = (o * cin + i) * kh * kw;
        for (let r = 0; r < kh; r++) {
          for (let c = 0; c < kw; c++) {
            b.push(
              `<rect x="${c * cell}" y="${r * cell}" width="${cell}" height="${cell}" ` +
                `fill="${color(layer.weight[base + r * kw + c], m)}"/>`,
            );
          }
        }
        // The outline separates kernels whose border weights are ~0 (white on white).
        b.push(
          `<rect width="${kW}" height="${kH}" fill="none" stroke="#bbb" stroke-width="0.5"/>`,
          `</g>`,
        );
      }
    }
    b.push(`</g>`);
    blocks.push(b.join("\n"));
    y += HEAD_H + 8 + rows * (kH + GROUP_GAP) - GROUP_GAP + 2 * PAD;
  });

  const height = Math.max(y, 40);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12" ` +
    `shape-rendering="crispEdges">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...blocks,
    `</svg>`,
  ].join("\n") + "\n";
}
