/**
 * The plots every training run leaves: loss.svg, predictions.svg (2 best and 2 worst
 * validation images) and filters.svg (the first two conv layers).
 * @module
 */

import { join } from "node:path";
import type { Module } from "../nn/module.ts";
import type { GrayImage } from "../data/image.ts";
import { lossCurveSvg } from "../plot/loss_svg.ts";
import { keypointsSvg } from "../plot/keypoints_svg.ts";
import { filtersSvg } from "../plot/filters_svg.ts";
import { writeFileAtomic } from "./run_files.ts";

/** What {@link writeRunPlots} draws. */
export interface RunPlotInput {
  runDir: string;
  model: Module;
  trainLosses: number[];
  valLosses: number[];
  /** Validation images as the model saw them, with their true points (relative, all points). */
  samples: { name: string; image: GrayImage; points: Float32Array }[];
  /** Predictions [N × 2K] relative to the image size, for the `points` indices. */
  pred: Float32Array;
  /** Per-sample error (pixels, or NME %), used to pick the best and worst images. */
  errors: { perSamplePx: number[] };
  /** Unit shown after each panel's error (default "px"). */
  errorUnit?: string;
  /** Which of each sample's points the model predicts. */
  points: number[];
}

/** Writes loss.svg, predictions.svg and filters.svg into the run folder. */
export async function writeRunPlots(r: RunPlotInput): Promise<void> {
  writeFileAtomic(
    join(r.runDir, "loss.svg"),
    lossCurveSvg(
      [{ name: "train", values: r.trainLosses }, { name: "validation", values: r.valLosses }],
      { title: "Loss per epoch", yLabel: "MSE (relative coordinates)" },
    ),
  );

  const k = r.points.length;
  const ranked = r.errors.perSamplePx.map((e, i) => ({ e, i })).sort((a, b) => a.e - b.e);
  const picks = [
    ...ranked.slice(0, 2).map((p, j) => ({ ...p, label: `best ${j + 1}` })),
    ...ranked.slice(-2).reverse().map((p, j) => ({ ...p, label: `worst ${j + 1}` })),
  ];
  const panels = picks.map(({ i, e, label }) => {
    const s = r.samples[i];
    const { width: w, height: h } = s.image;
    const truth = new Float32Array(2 * k);
    const pred = new Float32Array(2 * k);
    r.points.forEach((p, j) => {
      truth[2 * j] = s.points[2 * p] * w;
      truth[2 * j + 1] = s.points[2 * p + 1] * h;
      pred[2 * j] = r.pred[i * 2 * k + 2 * j] * w;
      pred[2 * j + 1] = r.pred[i * 2 * k + 2 * j + 1] * h;
    });
    return {
      image: s.image,
      truth,
      pred,
      title: `${label}: ${s.name} — ${e.toFixed(1)} ${r.errorUnit ?? "px"}`,
    };
  });
  writeFileAtomic(join(r.runDir, "predictions.svg"), await keypointsSvg(panels));

  // The first two conv layers, at most 16 output × 8 input channels each so the SVG stays small.
  const convs = r.model.namedParameters().filter(([, t]) => t.shape.length === 4).slice(0, 2);
  const layers = await Promise.all(convs.map(async ([name, t]) => {
    const [co, ci, kh, kw] = t.shape;
    const keepO = Math.min(co, 16);
    const keepI = Math.min(ci, 8);
    const all = await t.read();
    const weight = new Float32Array(keepO * keepI * kh * kw);
    for (let o = 0; o < keepO; o++) {
      for (let i = 0; i < keepI; i++) {
        const src = ((o * ci + i) * kh) * kw;
        weight.set(all.subarray(src, src + kh * kw), ((o * keepI + i) * kh) * kw);
      }
    }
    const shown = keepO < co || keepI < ci
      ? ` (first ${keepO} of ${co} out, ${keepI} of ${ci} in)`
      : "";
    return {
      name: name + shown,
      weight,
      shape: [keepO, keepI, kh, kw] as [number, number, number, number],
    };
  }));
  writeFileAtomic(join(r.runDir, "filters.svg"), filtersSvg(layers));
}
