// Files written by saveModel are read by an independent safetensors parser: a Python 3 script
// using only the standard library (struct, json, array). It checks the 8-byte header length, the
// JSON header, dtypes, shapes, contiguous data offsets, the values and `__metadata__`; for the
// ResNet-18 it derives torchvision's resnet18 state_dict names and shapes on its own (what
// `load_state_dict(strict=False)` in PyTorch needs). Skipped when python3 is not installed.
import assert from "node:assert/strict";
import { join } from "node:path";
import { initRuntime } from "../nn/runtime.ts";
import { BatchNorm2d, Conv2d, Flatten, Linear, Sequential } from "../nn/layers.ts";
import { ResNet18 } from "../nn/models/resnet18.ts";
import { saveModel } from "../nn/serialize.ts";
import type { Module } from "../nn/module.ts";

function findPython(): string | null {
  try {
    const r = new Deno.Command("python3", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return r.success ? "python3" : null;
  } catch {
    return null;
  }
}

const PYTHON = findPython();
if (!PYTHON) {
  console.warn(
    "safetensors_interop_test: python3 not found, skipping the independent parser check",
  );
}

/** The independent reader: `python3 check.py FILE EXPECT.json`; prints "ok N" or fails. */
const CHECK_PY = String.raw`
import array, json, struct, sys

path, expect_path = sys.argv[1], sys.argv[2]
with open(expect_path) as f:
    expect = json.load(f)
with open(path, "rb") as f:
    raw = f.read()

(n,) = struct.unpack("<Q", raw[:8])
assert 0 < n <= len(raw) - 8, "header length %d out of range" % n
assert (8 + n) % 8 == 0, "data section not 8-byte aligned: header length %d" % n
header_text = raw[8:8 + n].decode("utf-8")
assert header_text.rstrip(" ") == header_text.rstrip(), "header padding is not spaces"
header = json.loads(header_text)  # trailing spaces are allowed JSON whitespace
data = raw[8 + n:]

meta = header.pop("__metadata__", None)
assert isinstance(meta, dict), "no __metadata__"
assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()), meta
for k, v in expect["metadata"].items():
    assert meta.get(k) == v, "metadata %s: %r != %r" % (k, meta.get(k), v)
if "config" in expect:
    assert json.loads(meta["config"]) == expect["config"], "config: %s" % meta["config"]


def tv_resnet18(in_ch, classes):
    sd = {}
    def bn(p, c):
        for k in ("weight", "bias", "running_mean", "running_var"):
            sd["%s.%s" % (p, k)] = [c]
    sd["conv1.weight"] = [64, in_ch, 7, 7]
    bn("bn1", 64)
    cin = 64
    for i, w in enumerate([64, 128, 256, 512]):
        for j in range(2):
            p = "layer%d.%d" % (i + 1, j)
            c = cin if j == 0 else w
            sd[p + ".conv1.weight"] = [w, c, 3, 3]
            bn(p + ".bn1", w)
            sd[p + ".conv2.weight"] = [w, w, 3, 3]
            bn(p + ".bn2", w)
            if j == 0 and i > 0:
                sd[p + ".downsample.0.weight"] = [w, c, 1, 1]
                bn(p + ".downsample.1", w)
        cin = w
    sd["fc.weight"] = [classes, 512]
    sd["fc.bias"] = [classes]
    return sd


if "torchvision_resnet18" in expect:
    want = tv_resnet18(*expect["torchvision_resnet18"])
    got = {k: v["shape"] for k, v in header.items()}
    assert got == want, "names/shapes differ from torchvision: missing %s, extra %s, shapes %s" % (
        sorted(set(want) - set(got)), sorted(set(got) - set(want)),
        [(k, got[k], want[k]) for k in want if k in got and got[k] != want[k]])

spans = []
for name, t in header.items():
    assert t["dtype"] == "F32", "%s: dtype %s" % (name, t["dtype"])
    shape = t["shape"]
    assert all(isinstance(d, int) and d >= 0 for d in shape), name
    b, e = t["data_offsets"]
    count = 1
    for d in shape:
        count *= d
    assert e - b == 4 * count, "%s: %d bytes for shape %s" % (name, e - b, shape)
    spans.append((b, e, name))
spans.sort()
pos = 0
for b, e, name in spans:
    assert b == pos, "%s starts at %d, expected %d (gap or overlap)" % (name, b, pos)
    pos = e
assert pos == len(data), "tensors cover %d of %d data bytes" % (pos, len(data))

for name, exp in expect["tensors"].items():
    t = header[name]
    assert t["shape"] == exp["shape"], "%s: shape %s != %s" % (name, t["shape"], exp["shape"])
    b, e = t["data_offsets"]
    vals = array.array("f")
    assert vals.itemsize == 4
    vals.frombytes(data[b:e])
    if sys.byteorder == "big":
        vals.byteswap()
    for i, v in exp["values"]:
        # float(): JSON writes 1e20 as an integer literal, which Python keeps as an exact int.
        assert vals[i] == float(v), "%s[%d] = %r, expected %r" % (name, i, vals[i], v)
print("ok %d" % len(header))
`;

/** Runs the Python reader on `file`; `expect.tensors` lists `[index, value]` pairs to compare. */
async function pythonCheck(dir: string, file: string, expect: Record<string, unknown>) {
  const script = join(dir, "check.py");
  const expectPath = join(dir, "expect.json");
  await Deno.writeTextFile(script, CHECK_PY);
  await Deno.writeTextFile(expectPath, JSON.stringify(expect));
  const p = await new Deno.Command(PYTHON!, {
    args: [script, file, expectPath],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(p.stdout).trim();
  assert.equal(p.code, 0, `python reader failed:\n${new TextDecoder().decode(p.stderr)}`);
  return out;
}

/** `[index, value]` pairs of `t` at the given indices (plus the first and the last). */
async function samples(m: Module, picks: number[] | "all") {
  const out: Record<string, { shape: number[]; values: [number, number][] }> = {};
  for (const [name, t] of m.stateTensors()) {
    const data = await t.read();
    const idx = picks === "all"
      ? data.map((_, i) => i)
      : [0, ...picks.map((p) => Math.floor(p * data.length) % data.length), data.length - 1];
    out[name] = { shape: [...t.shape], values: [...new Set(idx)].map((i) => [i, data[i]]) };
  }
  return out;
}

Deno.test({
  name: "safetensors interop: a small CNN's file reads back in an independent Python parser",
  ignore: !PYTHON,
  async fn() {
    await initRuntime();
    const dir = await Deno.makeTempDir({ prefix: "facekit_st_interop_" });
    // Sequential children are named "0", "1", …: integer-like keys a naive JSON writer reorders.
    const model = new Sequential(
      new Conv2d(1, 3, 3),
      new BatchNorm2d(3),
      new Flatten(),
      new Linear(12, 5),
    );
    try {
      const bn = model.layers[1] as BatchNorm2d;
      bn.runningMean.write(new Float32Array([0.1, -2.5, 1e-7]));
      bn.runningVar.write(new Float32Array([3, 0.25, 1e20]));
      const config = { layers: ["Conv2d(1,3,3)", "BatchNorm2d(3)", "Flatten", "Linear(12,5)"] };
      const file = join(dir, "small.safetensors");
      await saveModel(file, model, { format: "facekit", config: JSON.stringify(config) });
      const out = await pythonCheck(dir, file, {
        metadata: { format: "facekit" },
        config,
        tensors: await samples(model, "all"),
      });
      assert.equal(out, "ok 8"); // 0.weight/bias, 1.weight/bias/running_mean/running_var, 3.*
    } finally {
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "safetensors interop: ResNet-18 names and shapes equal torchvision's resnet18",
  ignore: !PYTHON,
  async fn() {
    await initRuntime();
    const dir = await Deno.makeTempDir({ prefix: "facekit_st_interop_" });
    const cfg = { inChannels: 1, inputSize: 32, outputs: 136 };
    const model = new ResNet18(cfg, 5);
    try {
      const config = { task: "ibug", model: "ResNet18", architecture: cfg };
      const file = join(dir, "model.safetensors");
      await saveModel(file, model, {
        format: "facekit",
        config: JSON.stringify(config),
        epoch: "3",
      });
      const out = await pythonCheck(dir, file, {
        metadata: { format: "facekit", epoch: "3" },
        config,
        torchvision_resnet18: [1, 136],
        tensors: await samples(model, [0.31, 0.77]),
      });
      // 20 convolutions + fc (2) + 20 BatchNorms × 4, no num_batches_tracked.
      assert.equal(out, "ok 102");
    } finally {
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
