/**
 * The autotuner's on-disk store for Deno (nn/autotune.ts stays free of Deno APIs so the
 * library also runs in a browser): one JSON file of choices per adapter, written atomically.
 * @module
 */

import { dirname } from "node:path";
import { setTuneStore, type TuneStore } from "./autotune.ts";

function env(name: string): string | null {
  try {
    return Deno.env.get(name) ?? null;
  } catch {
    return null; // no env permission
  }
}

/** Where tuning results live: $FACEKIT_TUNE_CACHE ("" = memory only), else ~/.cache/facekit/tune.json. */
export function defaultTuneCachePath(): string | null {
  const explicit = env("FACEKIT_TUNE_CACHE");
  if (explicit !== null) return explicit === "" ? null : explicit;
  const base = env("XDG_CACHE_HOME") ?? (env("HOME") ? `${env("HOME")}/.cache` : null);
  return base ? `${base}/facekit/tune.json` : null;
}

/** A store in the file at `path`. */
export function fileTuneStore(path: string): TuneStore {
  return {
    where: path,
    load() {
      try {
        return Deno.readTextFileSync(path);
      } catch {
        return null; // absent or unreadable: start untuned
      }
    },
    async save(text: string) {
      await Deno.mkdir(dirname(path), { recursive: true });
      // Temporary file then rename: a killed process never leaves half a cache.
      const tmp = `${path}.${Deno.pid}.tmp`;
      await Deno.writeTextFile(tmp, text);
      await Deno.rename(tmp, path);
    },
  };
}

/**
 * Makes the process-wide tuner persist in {@link defaultTuneCachePath} (when there is one), so
 * a later process starts tuned. Returns the path used, or null for memory only.
 */
export function useTuneCacheFile(path: string | null = defaultTuneCachePath()): string | null {
  setTuneStore(path ? fileTuneStore(path) : null);
  return path;
}
