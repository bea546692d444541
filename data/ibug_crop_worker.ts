/**
 * Web Worker for the iBUG loader: reads one image file, decodes it, checks each face box against
 * the image size and crops the valid ones to bytes (see `cropCheckedFaces`). imagescript decodes
 * synchronously, so only workers give real parallelism. Protocol: receives {@link CropRequest},
 * replies {@link CropReply} (crops transferred).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { decodeImage } from "./image.ts";
import { type CropBox, cropCheckedFaces } from "./face_crop.ts";

/** A job: crop `boxes` out of the image at `path`. */
export interface CropRequest {
  /** Caller's job id, echoed back. */
  id: number;
  /** Image file to read. */
  path: string;
  /** Boxes to crop, in order. */
  boxes: CropBox[];
  /** Crop side in pixels. */
  size: number;
  /** Crop side relative to the box's longer side. */
  scaleFactor: number;
}

/** A finished job: the crops and the source image size, or `error`. */
export interface CropReply {
  /** Job id from the request. */
  id: number;
  /** Source image width. */
  width?: number;
  /** Source image height. */
  height?: number;
  /** `boxes.length` crops of size² bytes each, packed (a rejected box's crop is all zero). */
  crops?: Uint8Array;
  /**
   * Per box: null, or why it cannot be cropped from this image (entirely outside it, or a
   * non-positive size; see `boxImageProblem`). Only the image size tells, so it is checked here.
   */
  problems?: (string | null)[];
  /** Error message (naming the file) when reading or decoding failed. */
  error?: string;
}

self.onmessage = async (ev: MessageEvent<CropRequest>) => {
  const { id, path, boxes, size, scaleFactor } = ev.data;
  try {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      throw new Error(`${path}: cannot read image (${e instanceof Error ? e.message : e})`);
    }
    const img = await decodeImage(bytes, path);
    const { crops, problems } = cropCheckedFaces(img, boxes, size, scaleFactor);
    const reply: CropReply = { id, width: img.width, height: img.height, crops, problems };
    self.postMessage(reply, [crops.buffer as ArrayBuffer]);
  } catch (e) {
    const reply: CropReply = { id, error: e instanceof Error ? e.message : String(e) };
    self.postMessage(reply);
  }
};
