/**
 * Reading and writing the safetensors format (F32 only), so weights saved here load in
 * PyTorch/`safetensors` and the other way round.
 *
 * Layout: 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON (padded with spaces to a
 * multiple of 8 so the data that follows stays aligned), then the raw little-endian tensor bytes.
 * Each header entry is `{ dtype, shape, data_offsets: [begin, end] }` with offsets relative to the
 * start of the data section.
 *
 * @module
 */

/** One tensor as stored: row-major `data` whose length is the product of `shape`. */
export interface StoredTensor {
  /** Dimensions, outermost first; `[]` is a scalar. */
  shape: number[];
  /** Row-major values. */
  data: Float32Array;
}

/** Result of {@link decodeSafetensors}. */
export interface DecodedSafetensors {
  /** Tensors by name. */
  tensors: Record<string, StoredTensor>;
  /** The `__metadata__` string map (empty when the file has none). */
  metadata: Record<string, string>;
}

/** Thrown for malformed safetensors input; the message names the source and the tensor. */
export class SafetensorsError extends Error {
  /**
   * Creates the error.
   * @param message What is wrong, already prefixed with the source.
   */
  constructor(message: string) {
    super(message);
    this.name = "SafetensorsError";
  }
}

// The reference implementation refuses headers above 100 MB; a larger length means corruption.
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = "__metadata__";
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function shapeSize(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isDim(d: unknown): d is number {
  return typeof d === "number" && Number.isSafeInteger(d) && d >= 0;
}

/**
 * Serialises tensors (in insertion order, contiguous) and optional string metadata into the
 * safetensors byte layout.
 */
export function encodeSafetensors(
  tensors: Record<string, StoredTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  // The header is built as text by hand: JSON.stringify of an object would move integer-like
  // tensor names ("0", "1") to the front, breaking the promised "order written".
  const parts: string[] = [];
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new TypeError(`safetensors metadata "${k}" must be a string, got ${typeof v}`);
      }
    }
    parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === METADATA_KEY || name === "") {
      throw new TypeError(`safetensors: invalid tensor name "${name}"`);
    }
    if (!t.shape.every(isDim)) {
      throw new TypeError(`safetensors: tensor "${name}" has invalid shape [${t.shape}]`);
    }
    if (shapeSize(t.shape) !== t.data.length) {
      throw new TypeError(
        `safetensors: tensor "${name}" shape [${t.shape}] needs ${
          shapeSize(t.shape)
        } values, data has ${t.data.length}`,
      );
    }
    const end = offset + t.data.length * 4;
    const entry = { dtype: "F32", shape: t.shape, data_offsets: [offset, end] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(entry)}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen); // space padding, allowed by the spec

  let pos = 8 + headerLen;
  for (const [, t] of entries) {
    if (LITTLE_ENDIAN_HOST) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    } else {
      for (let i = 0; i < t.data.length; i++) view.setFloat32(pos + i * 4, t.data[i], true);
    }
    pos += t.data.byteLength;
  }
  return out;
}

/**
 * Parses and validates safetensors bytes. `source` (a path, URL, …) prefixes every error message
 * so a broken checkpoint can be found.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = "safetensors buffer",
): DecodedSafetensors {
  function fail(msg: string): never {
    throw new SafetensorsError(`${source}: ${msg}`);
  }
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, need 8 for the header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 === 0n) fail("header length is 0");
  if (n64 > BigInt(bytes.length - 8)) {
    fail(`header length ${n64} exceeds the ${bytes.length - 8} bytes after it (truncated file?)`);
  }
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n64} is over ${MAX_HEADER_BYTES}`);
  const n = Number(n64);

  let header: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("header is not a JSON object");
  }

  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number; shape: number[] }[] = [];

  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        fail("__metadata__ is not an object");
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__ "${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof raw !== "object" || raw === null) fail(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
    if (dtype !== "F32") fail(`${where}: unsupported dtype ${JSON.stringify(dtype)} (only F32)`);
    if (!Array.isArray(shape) || !shape.every(isDim)) {
      fail(`${where}: invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isDim)) {
      fail(`${where}: invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as number[];
    if (begin > end || end > dataLen) {
      fail(`${where}: data_offsets [${begin}, ${end}] outside the ${dataLen}-byte data section`);
    }
    const want = shapeSize(shape as number[]) * 4;
    if (end - begin !== want) {
      fail(`${where}: data_offsets span ${end - begin} bytes, shape [${shape}] needs ${want}`);
    }
    spans.push({ name, begin, end, shape: shape as number[] });
  }

  // The format stores tensors back to back; overlaps or holes mean a corrupt or hostile file.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev = "";
  for (const s of spans) {
    if (s.begin < cursor) {
      fail(`tensor "${s.name}": bytes [${s.begin}, ${s.end}) overlap tensor "${prev}"`);
    }
    if (s.begin > cursor) fail(`tensor "${s.name}": gap before it at data offset ${cursor}`);
    cursor = s.end;
    prev = s.name;
  }
  if (cursor !== dataLen) {
    fail(`data section has ${dataLen} bytes but tensors cover ${cursor} (truncated or extra)`);
  }

  const tensors: Record<string, StoredTensor> = {};
  for (const s of spans) {
    const count = (s.end - s.begin) / 4;
    let data: Float32Array;
    if (LITTLE_ENDIAN_HOST) {
      // slice() copies into a fresh, 4-byte aligned buffer whatever the input's alignment.
      data = new Float32Array(bytes.slice(dataStart + s.begin, dataStart + s.end).buffer);
    } else {
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(dataStart + s.begin + i * 4, true);
    }
    tensors[s.name] = { shape: [...s.shape], data };
  }
  return { tensors, metadata };
}

/**
 * Writes a safetensors file atomically: bytes go to `path + ".tmp-<pid>"`, which is then renamed
 * over `path`, so a crash mid-save never leaves a half-written checkpoint.
 */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, StoredTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = encodeSafetensors(tensors, metadata);
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Reads and validates a safetensors file; errors name `path`. */
export async function loadSafetensors(path: string): Promise<DecodedSafetensors> {
  return decodeSafetensors(await Deno.readFile(path), path);
}
