/**
 * Web Worker that decodes and resizes images off the main thread. imagescript decodes
 * synchronously (WASM), so `Promise.all` alone gives no parallelism; a few workers do.
 *
 * Protocol: receives {@link DecodeRequest}, replies {@link DecodeReply} (pixel buffer transferred).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { decodeImage, resizeImage } from "./image.ts";

/** A job: decode `bytes` (named `name` for errors) and resize to width×height. */
export interface DecodeRequest {
  /** Caller's job id, echoed back. */
  id: number;
  /** File name for error messages. */
  name: string;
  /** Encoded JPEG/PNG bytes. */
  bytes: Uint8Array;
  /** Output width. */
  width: number;
  /** Output height. */
  height: number;
}

/** A finished job: either `data` (width×height gray pixels) or `error`. */
export interface DecodeReply {
  /** Job id from the request. */
  id: number;
  /** Resized gray pixels, row-major, 0..1. */
  data?: Float32Array;
  /** Error message when decoding failed. */
  error?: string;
}

self.onmessage = async (ev: MessageEvent<DecodeRequest>) => {
  const { id, name, bytes, width, height } = ev.data;
  try {
    const img = resizeImage(await decodeImage(bytes, name), width, height);
    const reply: DecodeReply = { id, data: img.data };
    self.postMessage(reply, [img.data.buffer as ArrayBuffer]);
  } catch (e) {
    const reply: DecodeReply = { id, error: e instanceof Error ? e.message : String(e) };
    self.postMessage(reply);
  }
};
