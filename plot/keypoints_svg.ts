/**
 * A grid of gray images with true (red) and predicted (blue) keypoints, as a standalone SVG.
 *
 * Images are embedded as base64 PNG data URLs so the SVG is a single file that any browser or
 * `rsvg-convert` can show without side files.
 *
 * @module
 */
import { imagescript } from "../data/imagescript.ts";
import { Buffer } from "node:buffer";
import type { GrayImage } from "../data/image.ts";

export type { GrayImage };

/**
 * One panel of {@link keypointsSvg}. Points are `[x0, y0, x1, y1, …]` in continuous image pixel
 * coordinates: pixel (i, j) covers [i, i+1) × [j, j+1), so (0, 0) is the image's top-left corner.
 */
export interface KeypointPanel {
  /** The picture under the points (values outside 0..1 are clamped, NaN is black). */
  image: GrayImage;
  /** Ground-truth points, drawn as red circles. */
  truth?: Float32Array;
  /** Predicted points, drawn as blue circles joined to the truth point of the same index. */
  pred?: Float32Array;
  /** Caption above the panel, e.g. "best 1 — 1.8 px". */
  title?: string;
}

/** Options of {@link keypointsSvg}. */
export interface KeypointsSvgOptions {
  /** Panels per row; default min(4, number of panels). */
  columns?: number;
  /**
   * Screen pixels per image pixel, the same for all panels. Default: each image is scaled on its
   * own so its longer side is 256 px (small training crops enlarged, 640×480 photos shrunk).
   */
  scale?: number;
}

const TRUTH = "#e41a1c";
const PRED = "#1f5fd6";
const TITLE_H = 22;
const GAP = 12;
const LEGEND_H = 28;
const CHAR_PX = 6.6;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function px(v: number): number {
  return Math.round(v * 100) / 100;
}

/** Encodes a gray 0..1 image as a PNG data URL. */
async function pngDataUrl(img: GrayImage): Promise<string> {
  const { width, height, data } = img;
  if (!(width > 0 && height > 0) || data.length !== width * height) {
    throw new RangeError(
      `keypointsSvg: image ${width}×${height} needs ${width * height} values, ` +
        `got ${data.length}`,
    );
  }
  const { Image } = await imagescript();
  const out = new Image(width, height);
  const rgba = out.bitmap;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    const g = v > 0 ? (v < 1 ? Math.round(v * 255) : 255) : 0; // NaN fails v > 0 → black
    rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = g;
    rgba[i * 4 + 3] = 255;
  }
  const png = await out.encode();
  return `data:image/png;base64,${Buffer.from(png).toString("base64")}`;
}

function points(a: Float32Array | undefined, what: string): [number, number][] {
  if (!a) return [];
  if (a.length % 2) throw new RangeError(`keypointsSvg: ${what} has an odd length ${a.length}`);
  const p: [number, number][] = [];
  for (let i = 0; i < a.length; i += 2) p.push([a[i], a[i + 1]]);
  return p;
}

const finite = (p: [number, number] | undefined): p is [number, number] =>
  p !== undefined && Number.isFinite(p[0]) && Number.isFinite(p[1]);

/**
 * Renders keypoint panels to an SVG document string: per panel the image, thin gray lines from
 * each true point to its prediction, red true points, blue predictions and a caption; a legend
 * runs along the top. Points with non-finite coordinates are skipped.
 */
export async function keypointsSvg(
  panels: KeypointPanel[],
  opts: KeypointsSvgOptions = {},
): Promise<string> {
  const columns = Math.max(1, Math.floor(opts.columns ?? Math.min(4, panels.length || 1)));
  const scales = panels.map((p) => opts.scale ?? 256 / Math.max(1, p.image.width, p.image.height));
  // Every cell gets the size of the largest panel so the grid lines up.
  const cellW = Math.max(...panels.map((p, k) => p.image.width * scales[k]), 120);
  const cellH = Math.max(...panels.map((p, k) => p.image.height * scales[k]), 1) + TITLE_H;
  const rows = Math.ceil(panels.length / columns);
  const width = Math.ceil(GAP + Math.min(columns, Math.max(1, panels.length)) * (cellW + GAP));
  const height = Math.ceil(LEGEND_H + GAP + rows * (cellH + GAP));
  // Marker size follows the panel size, within limits that stay readable.
  const r = Math.min(4, Math.max(1.5, cellW / 100));

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<g class="legend" transform="translate(${GAP},${LEGEND_H / 2 + 4})">`,
    `<circle cx="6" cy="0" r="4" fill="${TRUTH}" stroke="#fff" stroke-width="1"/>`,
    `<text x="16" y="0" dy="0.32em">truth</text>`,
    `<circle cx="66" cy="0" r="4" fill="${PRED}" stroke="#fff" stroke-width="1"/>`,
    `<text x="76" y="0" dy="0.32em">prediction</text>`,
    `<line x1="152" x2="172" y1="0" y2="0" stroke="#666" stroke-width="1.5"/>`,
    `<text x="178" y="0" dy="0.32em">error</text>`,
    `</g>`,
  ];

  const urls = await Promise.all(panels.map((p) => pngDataUrl(p.image)));
  panels.forEach((p, k) => {
    const ox = GAP + (k % columns) * (cellW + GAP);
    const oy = LEGEND_H + GAP + Math.floor(k / columns) * (cellH + GAP);
    const scale = scales[k];
    const w = p.image.width * scale, h = p.image.height * scale;
    const truth = points(p.truth, "truth");
    const pred = points(p.pred, "pred");
    out.push(`<g class="panel" transform="translate(${px(ox)},${px(oy)})">`);
    if (p.title) {
      const maxChars = Math.max(4, Math.floor(cellW / CHAR_PX));
      const t = p.title.length > maxChars ? `${p.title.slice(0, maxChars - 1)}…` : p.title;
      out.push(`<text x="${px(cellW / 2)}" y="15" text-anchor="middle">${esc(t)}</text>`);
    }
    // Far-off predictions stay visible just past the image edge but never spill into the
    // neighbouring panel.
    const pad = r + 2;
    out.push(
      `<clipPath id="kp-clip-${k}"><rect x="${px(-pad)}" y="${px(-pad)}" ` +
        `width="${px(w + 2 * pad)}" height="${px(h + 2 * pad)}"/></clipPath>`,
    );
    out.push(`<g transform="translate(0,${TITLE_H})" clip-path="url(#kp-clip-${k})">`);
    // pixelated: upscaled crops should show their real pixels, not a blur that hides detail.
    out.push(
      `<image x="0" y="0" width="${px(w)}" height="${px(h)}" preserveAspectRatio="none" ` +
        `style="image-rendering:pixelated" href="${urls[k]}"/>`,
    );
    const s = (v: number) => px(v * scale);
    out.push(`<g class="errors" stroke="#666" stroke-width="1.2" stroke-opacity="0.9">`);
    for (let i = 0; i < Math.min(truth.length, pred.length); i++) {
      const a = truth[i], b = pred[i];
      if (finite(a) && finite(b)) {
        out.push(`<line x1="${s(a[0])}" y1="${s(a[1])}" x2="${s(b[0])}" y2="${s(b[1])}"/>`);
      }
    }
    out.push(`</g>`);
    // A thin white outline keeps markers visible on dark and bright skin alike.
    for (const [cls, pts, color] of [["truth", truth, TRUTH], ["pred", pred, PRED]] as const) {
      out.push(`<g class="${cls}" fill="${color}" stroke="#fff" stroke-width="0.8">`);
      for (const q of pts) {
        if (finite(q)) out.push(`<circle cx="${s(q[0])}" cy="${s(q[1])}" r="${px(r)}"/>`);
      }
      out.push(`</g>`);
    }
    out.push(`</g></g>`);
  });
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
