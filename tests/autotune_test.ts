// The tuner picks the measurably faster variant, persists it per adapter, reloads it without
// timing again, and survives a missing or corrupt cache file.
import assert from "node:assert/strict";
import { join } from "node:path";
import { initRuntime, rt } from "../nn/runtime.ts";
import { Tensor } from "../nn/tensor.ts";
import { fillInPlace } from "../nn/ops/elementwise.ts";
import { Autotuner, type Candidate } from "../nn/autotune.ts";
import { fileTuneStore } from "../nn/tune_file.ts";

/** "fast" fills a small tensor once; "slow" fills a 4 MiB one 100 times. */
function candidates(): Candidate[] {
  const small = Tensor.empty([256]);
  const big = Tensor.empty([1 << 20]);
  return [
    { name: "slow", run: () => Array.from({ length: 100 }, () => fillInPlace(big, 1)) },
    {
      name: "fast",
      run: () => fillInPlace(small, 1),
      dispose: () => [small, big].map((t) => t.dispose()),
    },
  ];
}

Deno.test("autotuner times candidates, keeps the fastest and caches it on disk", async () => {
  await initRuntime();
  const dir = await Deno.makeTempDir();
  const path = join(dir, "sub", "tune.json");
  const tuner = new Autotuner("test adapter", fileTuneStore(path));
  assert.equal(tuner.choose("fill:256", "slow", candidates), "slow", "untuned: the fallback");
  assert.deepEqual(tuner.pending, ["fill:256"]);
  assert.deepEqual(await tuner.tune(), ["fill:256"]);
  assert.equal(tuner.choose("fill:256", "slow", candidates), "fast");
  assert.deepEqual(tuner.pending, []);
  const file = JSON.parse(await Deno.readTextFile(path));
  assert.equal(file.adapters["test adapter"]["fill:256"], "fast");

  // A new process (tuner) reads the choice back and queues nothing.
  let made = 0;
  const again = new Autotuner("test adapter", fileTuneStore(path));
  assert.equal(again.choose("fill:256", "slow", () => (made++, [])), "fast");
  assert.equal(made, 0);
  assert.deepEqual(again.pending, []);
  // Another adapter's choices are separate.
  const other = new Autotuner("other adapter", fileTuneStore(path));
  assert.equal(other.choose("fill:256", "slow", () => []), "slow");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("autotuner ignores a corrupt cache and works in memory without a path", async () => {
  await initRuntime();
  const dir = await Deno.makeTempDir();
  const path = join(dir, "tune.json");
  await Deno.writeTextFile(path, "{ not json");
  const warn = console.warn;
  const warnings: string[] = [];
  console.warn = (m: string) => warnings.push(m);
  try {
    const tuner = new Autotuner("test adapter", fileTuneStore(path));
    assert.equal(tuner.choose("fill:256", "slow", candidates), "slow");
    assert.match(warnings.join("\n"), /ignoring unreadable tuning cache/);
    await tuner.tune(1);
    assert.equal(tuner.choose("fill:256", "slow", candidates), "fast");
    // The corrupt file was replaced by a valid one.
    assert.equal(JSON.parse(await Deno.readTextFile(path)).version, 1);
  } finally {
    console.warn = warn;
  }
  const memory = new Autotuner("test adapter", null);
  memory.choose("fill:256", "slow", candidates);
  await memory.tune(1);
  assert.equal(memory.choose("fill:256", "slow", candidates), "fast");
  assert.equal(rt().stats().submits > 0, true);
  await Deno.remove(dir, { recursive: true });
});
