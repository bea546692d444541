import assert from "node:assert/strict";
import { join } from "node:path";
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  SafetensorsError,
  saveSafetensors,
  type StoredTensor,
} from "../nn/safetensors.ts";

const sample = (): Record<string, StoredTensor> => ({
  "conv1.weight": { shape: [2, 1, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => i - 9) },
  "conv1.bias": { shape: [2], data: new Float32Array([0.5, -1.25]) },
  // Integer-like and non-ASCII names must keep their written order and survive UTF-8.
  "10": { shape: [1, 2], data: new Float32Array([NaN, Infinity]) },
  "échelle": { shape: [], data: new Float32Array([3.14]) },
  "empty": { shape: [0, 4], data: new Float32Array(0) },
});

/** Builds a file from a header object and a data section by hand, bypassing the encoder. */
function rawFile(header: unknown, dataBytes: number, headerLen?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen ?? n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  return out;
}

function expectError(bytes: Uint8Array, ...parts: string[]) {
  let err: unknown;
  try {
    decodeSafetensors(bytes, "ckpt/model.safetensors");
  } catch (e) {
    err = e;
  }
  assert(err instanceof SafetensorsError, `not a SafetensorsError: ${err}`);
  for (const p of ["ckpt/model.safetensors", ...parts]) {
    assert(err.message.includes(p), `"${err.message}" lacks "${p}"`);
  }
}

Deno.test("safetensors: round-trip keeps shapes, values (incl. NaN/Inf) and metadata", () => {
  const t = sample();
  const meta = { format: "pt", epoch: "12", note: "ünïcode" };
  const back = decodeSafetensors(encodeSafetensors(t, meta));
  assert.deepEqual(back.metadata, meta);
  assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(t).sort());
  for (const [name, { shape, data }] of Object.entries(t)) {
    assert.deepEqual(back.tensors[name].shape, shape, name);
    assert.deepEqual(Array.from(back.tensors[name].data), Array.from(data), name);
  }
  assert.deepEqual(decodeSafetensors(encodeSafetensors({})).tensors, {});
});

Deno.test("safetensors: header bytes follow the format exactly", () => {
  const t = sample();
  const bytes = encodeSafetensors(t, { format: "pt" });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  assert.deepEqual(n % 8, 0, "header padded to 8 bytes");
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert(text.startsWith("{"));
  assert(/^ *$/.test(text.slice(text.trimEnd().length)), "padding is spaces");
  const header = JSON.parse(text);
  assert.deepEqual(header.__metadata__, { format: "pt" });

  // Offsets are contiguous in the order written, which the raw JSON text must also show.
  const names = Object.keys(t);
  const positions = names.map((k) => text.indexOf(JSON.stringify(k) + ":"));
  assert.deepEqual([...positions].sort((a, b) => a - b), positions, "written order kept");
  let cursor = 0;
  for (const name of names) {
    const e = header[name];
    assert.deepEqual(e.dtype, "F32");
    assert.deepEqual(e.shape, t[name].shape);
    assert.deepEqual(e.data_offsets, [cursor, cursor + t[name].data.length * 4], name);
    cursor = e.data_offsets[1];
  }
  assert.deepEqual(bytes.length, 8 + n + cursor);

  // Data is little-endian f32: check one value independently of the host byte order.
  const bias = header["conv1.bias"].data_offsets[0];
  assert.deepEqual(view.getFloat32(8 + n + bias + 4, true), -1.25);
});

Deno.test("safetensors: decodes a file built by hand (as other writers produce)", () => {
  const bytes = rawFile({ "w": { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] } }, 16);
  const v = new DataView(bytes.buffer);
  const start = bytes.length - 16;
  [1, -2, 0.5, 1e-8].forEach((x, i) => v.setFloat32(start + 4 * i, x, true));
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, {});
  assert.deepEqual(tensors.w.shape, [2, 2]);
  assert.deepEqual(Array.from(tensors.w.data), Array.from(new Float32Array([1, -2, 0.5, 1e-8])));
  // An unaligned view into a bigger buffer must decode too.
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  assert.deepEqual(decodeSafetensors(shifted.subarray(1)).tensors.w.data[3], tensors.w.data[3]);
});

Deno.test("safetensors: corrupt inputs throw errors naming source and tensor", () => {
  const good = encodeSafetensors({ w: { shape: [2, 3], data: new Float32Array(6) } });
  expectError(good.subarray(0, 5), "truncated");
  expectError(good.subarray(0, good.length - 4), "w"); // data cut short
  const tooBig = good.slice();
  new DataView(tooBig.buffer).setBigUint64(0, 1n << 40n, true);
  expectError(tooBig, "header length");
  expectError(rawFile({ w: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, 4, 0), "is 0");

  const badJson = good.slice();
  badJson[8] = "x".charCodeAt(0);
  expectError(badJson, "JSON");
  expectError(rawFile([1, 2], 0), "not a JSON object");

  expectError(rawFile({ w: { dtype: "F16", shape: [2], data_offsets: [0, 4] } }, 4), "w", "F16");
  expectError(rawFile({ w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, 4), "w");
  expectError(rawFile({ w: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, 8), "w");
  expectError(rawFile({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8), "w", "[3]");
  expectError(rawFile({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4), "w");
  expectError(rawFile({ w: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, 4), "w");
  expectError(
    rawFile({
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
    }, 12),
    "overlap",
  );
  expectError(rawFile({ w: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, 8), "w", "gap");
  expectError(rawFile({ w: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, 8), "8 bytes");
  expectError(rawFile({ __metadata__: { a: 1 } }, 0), "__metadata__");
});

Deno.test("safetensors: encoder rejects data that does not match its shape", () => {
  assert.throws(() => encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }));
  assert.throws(() =>
    encodeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } })
  );
});

Deno.test("safetensors: atomic save leaves no temp file and replaces the old one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "facekit-st-" });
  try {
    const path = join(dir, "model.safetensors");
    await saveSafetensors(path, { w: { shape: [1], data: new Float32Array([1]) } });
    await saveSafetensors(path, sample(), { epoch: "2" });
    const files = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(files, ["model.safetensors"]);
    const back = await loadSafetensors(path);
    assert.deepEqual(back.metadata, { epoch: "2" });
    assert.deepEqual(back.tensors["conv1.bias"].data[1], -1.25);

    // A failed save (missing folder) throws and leaves nothing behind.
    const missing = join(dir, "nope", "m.safetensors");
    let threw = false;
    await saveSafetensors(missing, sample()).catch(() => threw = true);
    assert(threw);
    assert.deepEqual([...Deno.readDirSync(dir)].length, 1);

    // Errors from a file name its path.
    await Deno.writeFile(join(dir, "bad.safetensors"), new Uint8Array(3));
    let msg = "";
    await loadSafetensors(join(dir, "bad.safetensors")).catch((e) => msg = String(e));
    assert(msg.includes(join(dir, "bad.safetensors")), msg);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
