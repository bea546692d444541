/**
 * `deno task eval --pred predictions.csv --labels FILE.xml [--train-labels FILE.xml]`: scores
 * a Kaggle-style prediction CSV against landmarks in a dlib XML: NME (mean point error over the
 * outer-eye-corner distance, %) and mean absolute coordinate error (px), next to the baseline
 * of the mean training shape placed in each box.
 * @module
 */

import { flattenFaces, parseDlibXml } from "../data/dlib_xml.ts";
import { parsePredictionFaces } from "../data/kaggle_csv.ts";
import { meanAbsCoordError, meanNme, meanShapeBaseline } from "../data/nme.ts";
import { existsSync, statSync } from "node:fs";
import { parseFlags, runMain, UsageError } from "./cli.ts";

/** Scores of one prediction set and of the mean-shape baseline. */
export interface EvalResult {
  /** Faces scored (those the CSV has). */
  faces: number;
  /** Faces of the labels the CSV leaves out (skipped by `predict:ibug --skip-bad`). */
  missing: number;
  nme: number;
  mae: number;
  baselineNme: number;
  baselineMae: number;
}

async function facesWithParts(path: string) {
  const faces = flattenFaces(parseDlibXml(await Deno.readTextFile(path), path));
  const bad = faces.findIndex((f) => !f.parts);
  if (bad >= 0) throw new Error(`${path}: face ${bad} (${faces[bad].file}) has no landmarks`);
  // NME divides by the outer-eye-corner distance (points 36 and 45): it must not be 0.
  const flat = faces.findIndex((f) => {
    const p = f.parts!;
    return !(Math.hypot(p[72] - p[90], p[73] - p[91]) > 0);
  });
  if (flat >= 0) {
    throw new Error(
      `${path}: face ${flat} (${faces[flat].file}) has points 36 and 45 (the outer eye ` +
        "corners NME divides by) at the same place",
    );
  }
  return faces;
}

/** Scores `predPath` against `labelsPath`; the baseline's mean shape comes from `trainPath`. */
export async function evaluateCsv(
  predPath: string,
  labelsPath: string,
  trainPath = labelsPath,
): Promise<EvalResult> {
  const all = await facesWithParts(labelsPath);
  const { indices, faces: preds } = parsePredictionFaces(
    await Deno.readTextFile(predPath),
    predPath,
  );
  const last = indices.at(-1) ?? -1;
  if (last >= all.length) {
    throw new Error(`${predPath}: has face ${last}, but ${labelsPath} has ${all.length} faces`);
  }
  if (preds.length === 0) throw new Error(`${predPath}: no predictions`);
  // Baseline and model are scored on the same faces.
  const truth = indices.map((i) => all[i]);
  const parts = truth.map((f) => f.parts!);
  const base = meanShapeBaseline(await facesWithParts(trainPath), truth);
  return {
    faces: truth.length,
    missing: all.length - truth.length,
    nme: meanNme(preds, parts),
    mae: meanAbsCoordError(preds, parts),
    baselineNme: meanNme(base, parts),
    baselineMae: meanAbsCoordError(base, parts),
  };
}

/** Parses flags and prints the scores. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseFlags(args, ["pred", "labels", "train-labels"], ["help"]);
  const usage =
    "usage: deno task eval --pred predictions.csv --labels FILE.xml [--train-labels FILE.xml]";
  if (values.help) return console.log(usage);
  if (!values.pred || !values.labels) throw new UsageError(usage);
  for (const flag of ["pred", "labels", "train-labels"]) {
    const f = values[flag];
    if (typeof f === "string" && !existsSync(f)) {
      throw new UsageError(`--${flag} ${f}: file not found`);
    }
    if (typeof f === "string" && !statSync(f).isFile()) {
      throw new UsageError(`--${flag} ${f}: is not a file`);
    }
  }
  const r = await evaluateCsv(
    values.pred as string,
    values.labels as string,
    values["train-labels"] as string | undefined,
  );
  console.log(`faces: ${r.faces}`);
  if (r.missing > 0) {
    console.error(
      `warning: ${r.missing} of the ${r.faces + r.missing} faces of ${values.labels} have no ` +
        `prediction in ${values.pred} (skipped at prediction); scores cover the other ${r.faces}`,
    );
  }
  console.log(
    `NME: ${r.nme.toFixed(3)} %   mean absolute coordinate error: ${r.mae.toFixed(3)} px`,
  );
  console.log(
    `baseline (mean shape in the box): NME ${r.baselineNme.toFixed(3)} %, MAE ${
      r.baselineMae.toFixed(3)
    } px`,
  );
  // The CSV names no images, only positions: rows for other faces (or another order) still
  // parse. A score far worse than placing the mean shape in the box usually means that.
  if (r.nme > 2 * r.baselineNme) {
    console.error(
      `warning: NME is over twice the mean-shape baseline; check that ${values.pred} was ` +
        `predicted for the faces of ${values.labels}, in its order`,
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args));
