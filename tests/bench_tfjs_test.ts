// The TF.js comparison benchmark: result shape on a tiny NoseNet run, and the time limit
// killing a ResNet-18 step that cannot finish. Both pass on machines where TF.js's WebGPU
// backend cannot start, as long as the note says why.
import assert from "node:assert/strict";
import { benchTfjs, type TfjsBenchResult } from "../tasks/bench_tfjs.ts";

/** A throughput is a positive number, or null with a note that explains it. */
function checkFigure(r: TfjsBenchResult, v: number | null, phase: string) {
  if (v !== null) {
    assert.ok(Number.isFinite(v) && v > 0, `${phase}: ${v}`);
    return;
  }
  assert.match(r.note, /did not finish|failed|exited|not run|did not initialise/, r.note);
}

Deno.test("benchTfjs: NoseNet batch 1 gives a positive figure or says why not", async () => {
  // 25 s per phase keeps the test under a minute even on a cold Mesa shader cache, where
  // llvmpipe spends over a minute compiling TF.js's conv shaders (then both figures are null).
  const r = await benchTfjs("nosenet", { batch: 1, windows: 1, steps: 2, timeLimitS: 25 });
  assert.equal(typeof r.note, "string");
  assert.equal(typeof r.backend, "string");
  assert.match(r.note, /^tfjs 4\.\d+\.\d+ /);
  if (r.backend !== "webgpu") {
    assert.equal(r.trainImagesPerS, null);
    assert.equal(r.inferImagesPerS, null);
    assert.match(r.note, /webgpu|failed|exited|did not finish/i, r.note);
    return;
  }
  checkFigure(r, r.trainImagesPerS, "train");
  checkFigure(r, r.inferImagesPerS, "infer");
  assert.doesNotMatch(r.note, /WARNING/, r.note); // tensor count stayed flat
});

Deno.test("benchTfjs: the time limit stops a step that cannot finish", async () => {
  const t0 = performance.now();
  // 3 × 50 steps of ResNet-18 at 224² and batch 32 so that even a fast GPU cannot finish in 5 s.
  const r = await benchTfjs("resnet18", { batch: 32, windows: 3, steps: 50, timeLimitS: 5 });
  const s = (performance.now() - t0) / 1000;
  assert.equal(r.trainImagesPerS, null, r.note);
  assert.equal(r.inferImagesPerS, null, r.note);
  // Two phases of at most 5 s each, plus process start-up and tear-down.
  assert.ok(s < 15, `took ${s.toFixed(1)} s`);
  if (r.backend === "webgpu") {
    // On llvmpipe: "training did not finish one step within 5 s".
    assert.match(r.note, /training did not finish .*within 5 s/, r.note);
    assert.match(r.note, /inference did not finish .*within 5 s/, r.note);
  } else {
    assert.match(r.note, /webgpu|failed|exited|did not finish/i, r.note);
  }
});

Deno.test("benchTfjs: rejects bad options", async () => {
  const ok = { batch: 1, windows: 1, steps: 1, timeLimitS: 5 };
  // deno-lint-ignore no-explicit-any
  await assert.rejects(benchTfjs("alexnet" as any, ok), /unknown net/);
  await assert.rejects(benchTfjs("nosenet", { ...ok, batch: 0 }), /batch/);
  await assert.rejects(benchTfjs("nosenet", { ...ok, timeLimitS: 0 }), /timeLimitS/);
});
