// The IMM training task end to end on a tiny synthetic data set (and, with --data, the CLI's
// error handling): the run folder holds every promised file, readable and consistent.
import assert from "node:assert/strict";
import { join } from "node:path";
import { IMM_TASKS, meanPositionMse, trainImm } from "../tasks/train_imm.ts";
import { fakeImm } from "./fake_imm.ts";
import { loadSafetensors } from "../nn/safetensors.ts";
import { readMetricsCsv } from "../tasks/run_files.ts";
import { KeypointCnn } from "../nn/models/keypoint_cnn.ts";
import { loadModel } from "../nn/serialize.ts";

Deno.test("train:nose on synthetic data writes a complete run folder", async () => {
  const data = await fakeImm(["01-1m", "01-2m", "02-1m", "02-2m", "34-1m", "34-2f"]);
  const out = await Deno.makeTempDir({ prefix: "facekit_run_" });
  try {
    const res = await trainImm({
      task: IMM_TASKS.nose,
      dataDir: data,
      epochs: 2,
      lr: 1e-3,
      batch: 3,
      seed: 7,
      augment: true,
      lrSchedule: "cosine",
      out,
      quiet: true,
    });
    for (
      const f of [
        "model.safetensors",
        "config.json",
        "metrics.csv",
        "loss.svg",
        "predictions.svg",
        "filters.svg",
        "summary.json",
      ]
    ) {
      assert.ok((await Deno.stat(join(out, f))).size > 0, `${f} missing or empty`);
    }
    const metrics = readMetricsCsv(join(out, "metrics.csv"));
    assert.deepEqual(metrics.columns, [
      "epoch",
      "train_loss",
      "val_loss",
      "val_px_error",
      "images_per_s",
      "seconds",
    ]);
    assert.equal(metrics.rows.length, 2);
    for (const r of metrics.rows) {
      for (const c of metrics.columns) assert.ok(Number.isFinite(r[c] as number), `${c}=${r[c]}`);
    }
    assert.equal(metrics.rows[1].val_loss, res.valLoss);
    const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
    assert.equal(summary.trainImages, 4);
    assert.equal(summary.valImages, 2);
    const st = await loadSafetensors(join(out, "model.safetensors"));
    assert.deepEqual(st.tensors["conv1.weight"].shape, [12, 1, 3, 3]);
    assert.deepEqual(st.tensors["fc2.weight"].shape, [2, 64]);
    assert.equal(JSON.parse(st.metadata.config).task, "nose");
    // The saved weights load back into a fresh model.
    const m = new KeypointCnn(IMM_TASKS.nose.model, 99);
    await loadModel(join(out, "model.safetensors"), m);
    assert.deepEqual(await m.fc2.bias!.read(), st.tensors["fc2.bias"].data);
    m.dispose();
    const svg = await Deno.readTextFile(join(out, "predictions.svg"));
    assert.match(svg, /best 1/);
    assert.match(svg, /worst 1/);
  } finally {
    await Deno.remove(data, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train_imm CLI: bad flags and missing data give clear errors", async () => {
  const run = async (...args: string[]) => {
    const p = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../tasks/train_imm.ts", import.meta.url).pathname, ...args],
      stdout: "piped",
      stderr: "piped",
      env: { FACEKIT_DATA: "" },
    }).output();
    return { code: p.code, err: new TextDecoder().decode(p.stderr) };
  };
  let r = await run("nose", "--epochs", "zero");
  assert.equal(r.code, 2);
  assert.match(r.err, /--epochs must be an integer/);
  r = await run("ears");
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown task "ears"/);
  const empty = await Deno.makeTempDir();
  try {
    // An empty --data folder triggers the download, which cannot reach the mirror in tests
    // (or on machines without internet); the message must say where to get the data.
    r = await run("nose", "--data", join(empty, "imm"));
    assert.equal(r.code, 1);
    assert.match(r.err, /datasets\.openimaj\.org/);
    assert.match(r.err, /--data/);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("meanPositionMse: the val MSE of predicting the mean training nose tip", () => {
  const at = (x: number, y: number) => {
    const p = new Float32Array(116);
    p[104] = x; // point 52, the nose tip
    p[105] = y;
    return { points: p };
  };
  // Mean (0.5, 0.25); val errors (0.1, 0.05) and (-0.1, 0.15): (0.01 + 0.0025 + 0.01 + 0.0225) / 4.
  const mse = meanPositionMse(IMM_TASKS.nose, [at(0.4, 0.2), at(0.6, 0.3)], [
    at(0.6, 0.3),
    at(0.4, 0.4),
  ]);
  assert.ok(Math.abs(mse - 0.01125) < 1e-7, `${mse}`);
});
