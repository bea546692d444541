// train:ibug end to end on a tiny synthetic 300-W-like set: run-folder files, resume after a
// mid-epoch stop reproduces the uninterrupted run exactly, then predict:ibug + eval.
import assert from "node:assert/strict";
import { join } from "node:path";
import { main as trainMain, trainIbug } from "../tasks/train_ibug.ts";
import { saveSafetensors } from "../nn/safetensors.ts";
import { main as predictMain, predictIbug } from "../tasks/predict_ibug.ts";
import { evaluateCsv } from "../tasks/eval_ibug.ts";
import { readMetricsCsv } from "../tasks/run_files.ts";
import { formatPredictionsCsv, parsePredictionFaces } from "../data/kaggle_csv.ts";
import { type FakeBox, fakeXml, gridParts, writeImage } from "./ibug_fake.ts";
import { nme } from "../data/nme.ts";

async function tinySet(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "facekit_ibug_train_" });
  const images: [string, FakeBox[]][] = [];
  for (let i = 0; i < 10; i++) {
    const name = `img${i}.png`;
    await writeImage(join(dir, name), 70, 60, 10 + 20 * i);
    const box = { top: 8 + i, left: 10 + (i % 3) * 4, width: 36, height: 38 };
    // The points move within the box from face to face, as real landmarks do.
    const parts = gridParts(box).map((v, k) => v + (k % 2 === 0 ? (i % 5) - 2 : (i % 3) - 1));
    images.push([name, [{ ...box, parts }]]);
  }
  await Deno.writeTextFile(join(dir, "train.xml"), fakeXml(images));
  return dir;
}

for (const [loss, standardizeTargets] of [["l1", true], ["mse", false]] as const) {
  Deno.test(`train:ibug (${loss}, ${standardizeTargets ? "standardised" : "raw"} targets): files, exact resume after a mid-epoch stop, predict and eval`, async () => {
    const data = await tinySet();
    const base = {
      loss,
      standardizeTargets,
      labels: join(data, "train.xml"),
      epochs: 2,
      lr: 1e-3,
      batch: 3,
      seed: 3,
      size: 32,
      valSplit: 0.2,
      augment: true,
      skipBad: false,
      workers: 0,
      cacheDir: join(data, "cache"),
      quiet: true,
    };
    const a = join(data, "run-a");
    const b = join(data, "run-b");
    try {
      await trainIbug({ ...base, out: a });
      for (
        const f of [
          "model.safetensors",
          "checkpoint.safetensors",
          "config.json",
          "metrics.csv",
          "loss.svg",
          "predictions.svg",
          "filters.svg",
          "summary.json",
        ]
      ) {
        assert.ok((await Deno.stat(join(a, f))).size > 0, `${f} missing`);
      }
      const ma = readMetricsCsv(join(a, "metrics.csv"));
      assert.deepEqual(ma.columns, [
        "epoch",
        "train_loss",
        "val_loss",
        "val_nme",
        "val_mae_px",
        "lr",
        "images_per_s",
        "seconds",
        "peak_rss_mb",
      ]);
      assert.equal(ma.rows.length, 2);
      // 8 training faces / batch 3 = 3 steps per epoch: stop after step 4 (inside epoch 2).
      await trainIbug({ ...base, out: b, stopAfterSteps: 4 });
      assert.equal(readMetricsCsv(join(b, "metrics.csv")).rows.length, 1);
      await trainIbug({ ...base, resume: b });
      const mb = readMetricsCsv(join(b, "metrics.csv"));
      for (const col of ["train_loss", "val_loss", "val_nme", "val_mae_px", "lr"]) {
        assert.deepEqual(mb.rows.map((r) => r[col]), ma.rows.map((r) => r[col]), col);
      }

      const { faces, preds } = await predictIbug(a, join(data, "train.xml"), {
        batch: 4,
        workers: 0,
      });
      assert.equal(faces.length, 10);
      // The saved model (standardisation folded into fc) scores the validation faces (the last
      // 2) as the training loop did.
      const valNme = (nme(preds[8], faces[8].box.parts!) + nme(preds[9], faces[9].box.parts!)) / 2;
      assert.ok(
        Math.abs(valNme - (ma.rows[1].val_nme as number)) < 1e-4 * valNme,
        `predict:ibug NME ${valNme} vs training's ${ma.rows[1].val_nme}`,
      );
      const csv = join(data, "pred.csv");
      await Deno.writeTextFile(csv, formatPredictionsCsv(preds));
      assert.equal((await Deno.readTextFile(csv)).trim().split("\n").length, 1 + 10 * 136);
      const r = await evaluateCsv(csv, join(data, "train.xml"));
      assert.equal(r.faces, 10);
      assert.ok(Number.isFinite(r.nme) && r.nme > 0);
      assert.ok(Number.isFinite(r.baselineNme));
      assert.equal(r.missing, 0);

      // A corrupt image between two good ones: an error naming it, or with --skip-bad a CSV whose
      // other faces keep their XML Ids (a gap of 136) and an eval that scores the two it has.
      await Deno.writeTextFile(join(data, "bad.png"), "not a png");
      const box = { top: 8, left: 10, width: 36, height: 38 };
      const withBad = join(data, "with_bad.xml");
      await Deno.writeTextFile(
        withBad,
        fakeXml(
          ["img0.png", "bad.png", "img1.png"].map((f) => [f, [{ ...box, parts: gridParts(box) }]]),
        ),
      );
      const out = join(data, "skip.csv");
      const args = ["--model", a, "--labels", withBad, "--out", out, "--workers", "0"];
      await assert.rejects(predictMain(args), /bad\.png/);
      await predictMain([...args, "--skip-bad"]);
      const sparse = parsePredictionFaces(await Deno.readTextFile(out), out);
      assert.deepEqual(sparse.indices, [0, 2]);
      const rs = await evaluateCsv(out, withBad);
      assert.equal(rs.faces, 2);
      assert.equal(rs.missing, 1);
      assert.ok(Number.isFinite(rs.nme) && rs.nme > 0);
    } finally {
      await Deno.remove(data, { recursive: true });
    }
  });
}

Deno.test("train:ibug --resume: flags checked against the run's options (runs from before --loss/--targets: mse, raw)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "facekit_ibug_resume_" });
  const run = async (options: Record<string, unknown>) => {
    const d = await Deno.makeTempDir({ dir });
    // Only the header matters here: every refusal happens before data or weights are read.
    const position = { epoch: 1, steps: 3, extra: { options, rows: [], step: 0, loss: 0 } };
    await saveSafetensors(join(d, "checkpoint.safetensors"), {}, {
      format: "facekit-checkpoint",
      position: JSON.stringify(position),
    });
    return d;
  };
  const legacy = {
    labels: join(dir, "missing.xml"),
    epochs: 2,
    lr: 1e-3,
    batch: 3,
    seed: 0,
    size: 32,
    valSplit: 0.1,
    augment: true,
    skipBad: false,
  };
  try {
    const old = await run(legacy);
    // Accepted (the old run's own settings): it gets as far as loading the missing labels.
    for (const flags of [["--loss", "mse"], ["--targets", "raw"], []]) {
      await assert.rejects(trainMain(["--resume", old, ...flags]), /missing\.xml/, `${flags}`);
    }
    await assert.rejects(trainMain(["--resume", old, "--loss", "l1"]), /used --loss mse, not l1/);
    await assert.rejects(
      trainMain(["--resume", old, "--targets", "standardized"]),
      /used --targets raw/,
    );
    await assert.rejects(trainMain(["--resume", old, "--skip-bad"]), /without --skip-bad/);
    const fresh = await run({ ...legacy, loss: "l1", standardizeTargets: true });
    await assert.rejects(
      trainMain(["--resume", fresh, "--loss", "mse"]),
      /used --loss l1, not mse/,
    );
    await assert.rejects(
      trainMain(["--resume", fresh, "--targets", "raw"]),
      /--targets standardized/,
    );
    await assert.rejects(trainMain(["--resume", fresh, "--loss", "l1"]), /missing\.xml/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
