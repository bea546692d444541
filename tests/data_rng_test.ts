import assert from "node:assert/strict";
import { Rng } from "../data/rng.ts";

Deno.test("rng: same seed same sequence, different seeds differ", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const sa = Array.from({ length: 10 }, () => a.next());
  assert.deepEqual(sa, Array.from({ length: 10 }, () => b.next()));
  assert.notDeepEqual(sa, Array.from({ length: 10 }, () => c.next()));
});

Deno.test("rng: ranges and rough moments", () => {
  const r = new Rng(1);
  let sum = 0, sumSq = 0;
  const n = 20000;
  const counts = new Array(5).fill(0);
  for (let i = 0; i < n; i++) {
    const u = r.next();
    assert(u >= 0 && u < 1);
    const v = r.uniform(-2, 3);
    assert(v >= -2 && v < 3);
    counts[r.int(5)]++;
    const z = r.normal();
    sum += z;
    sumSq += z * z;
  }
  assert(Math.abs(sum / n) < 0.05, `normal mean ${sum / n}`);
  assert(Math.abs(sumSq / n - 1) < 0.05, `normal var ${sumSq / n}`);
  for (const k of counts) assert(Math.abs(k / n - 0.2) < 0.02, `int counts ${counts}`);
  assert.throws(() => r.int(0));
});

Deno.test("rng: shuffle is a permutation and reproducible", () => {
  const a = Array.from({ length: 50 }, (_, i) => i);
  const s1 = new Rng(7).shuffle([...a]);
  const s2 = new Rng(7).shuffle([...a]);
  assert.deepEqual(s1, s2);
  assert.notDeepEqual(s1, a);
  assert.deepEqual([...s1].sort((x, y) => x - y), a);
  const t = new Rng(7).shuffle(Float32Array.from(a));
  assert.deepEqual(Array.from(t), s1);
});

Deno.test("rng: getState/setState resumes exactly", () => {
  const r = new Rng(123);
  for (let i = 0; i < 17; i++) r.normal();
  const st = r.getState();
  const expected = Array.from({ length: 8 }, () => r.next());
  const q = new Rng(0);
  q.setState(st);
  assert.deepEqual(Array.from({ length: 8 }, () => q.next()), expected);
  assert.deepEqual(JSON.parse(JSON.stringify(st)), st);
  assert.throws(() => q.setState([0, 0, 0, 0]));
  assert.throws(() => q.setState([1, 2, 3]));
});
