/**
 * Per-adapter kernel choice. An op that has several kernel variants for a shape class (a GEMM
 * tile, say) asks {@link Autotuner.choose}: it answers at once from the cache, or with the op's
 * default while remembering the class as untuned. {@link Autotuner.tune} later times every
 * candidate of the untuned classes (outside the training step, so steps keep one submit and
 * no waits) and stores the winners on disk per adapter, so the next process starts tuned.
 * A GPU and llvmpipe want different shapes: barriers and shared memory are cheap on one and
 * expensive on the other.
 * @module
 */

import { rt } from "./runtime.ts";

/** One kernel variant: `run` records its dispatches for a representative problem. */
export interface Candidate {
  /** Stable name stored in the cache. */
  name: string;
  /** Records the variant's work (no waiting); called several times while timing. */
  run: () => void;
  /** Frees what `run` needs, after timing. */
  dispose?: () => void;
}

/** Bump when kernels change so old measurements are not trusted. */
const CACHE_VERSION = 1;

interface CacheFile {
  version: number;
  adapters: Record<string, Record<string, string>>;
}

/** Where tuning results live: $FACEKIT_TUNE_CACHE, else ~/.cache/facekit/tune.json. */
export function defaultTuneCachePath(): string | null {
  const env = (name: string) => {
    try {
      return Deno.env.get(name) ?? null;
    } catch {
      return null; // no env permission, or not in Deno (browser)
    }
  };
  if (typeof Deno === "undefined") return null;
  const explicit = env("FACEKIT_TUNE_CACHE");
  if (explicit !== null) return explicit === "" ? null : explicit;
  const base = env("XDG_CACHE_HOME") ?? (env("HOME") ? `${env("HOME")}/.cache` : null);
  return base ? `${base}/facekit/tune.json` : null;
}

/** See module doc. */
export class Autotuner {
  /** Cache file, or null to keep choices in memory only. */
  readonly path: string | null;
  readonly #adapter: string;
  #choices: Record<string, string> = {};
  #pending = new Map<string, () => Candidate[]>();
  #loaded = false;

  /** Uses `path` (default {@link defaultTuneCachePath}) for the adapter named `adapter`. */
  constructor(adapter: string, path: string | null = defaultTuneCachePath()) {
    this.#adapter = adapter;
    this.path = path;
  }

  /**
   * The variant to use for shape class `key`: the tuned winner, else `fallback` (and `key` is
   * queued for {@link tune} with the candidates `make` builds).
   */
  choose(key: string, fallback: string, make: () => Candidate[]): string {
    this.#load();
    const hit = this.#choices[key];
    if (hit !== undefined) return hit;
    if (!this.#pending.has(key)) this.#pending.set(key, make);
    return fallback;
  }

  /** Shape classes seen but not tuned yet. */
  get pending(): string[] {
    return [...this.#pending.keys()];
  }

  /** Tuned choices, by shape class. */
  get choices(): Readonly<Record<string, string>> {
    this.#load();
    return { ...this.#choices };
  }

  /**
   * Times the candidates of every pending class (median of `repeats` runs after a warm-up run,
   * each ended by a queue wait), keeps the fastest, and saves the cache. Returns the classes
   * tuned. Call it between steps: it submits and waits.
   */
  async tune(repeats = 3): Promise<string[]> {
    const done: string[] = [];
    for (const [key, make] of this.#pending) {
      const candidates = make();
      let best = "";
      let bestMs = Infinity;
      for (const c of candidates) {
        const times: number[] = [];
        for (let r = 0; r <= repeats; r++) {
          await rt().sync();
          const t0 = performance.now();
          c.run();
          await rt().sync();
          if (r > 0) times.push(performance.now() - t0); // run 0 compiles the pipeline
        }
        times.sort((a, b) => a - b);
        const ms = times[Math.floor(times.length / 2)];
        if (ms < bestMs) [best, bestMs] = [c.name, ms];
      }
      for (const c of candidates) c.dispose?.();
      if (best) this.#choices[key] = best;
      done.push(key);
    }
    this.#pending.clear();
    if (done.length > 0) await this.#save();
    return done;
  }

  #load(): void {
    if (this.#loaded) return;
    this.#loaded = true;
    if (!this.path) return;
    let text: string;
    try {
      text = Deno.readTextFileSync(this.path);
    } catch {
      return; // no cache yet (or not readable): start untuned
    }
    try {
      const file = JSON.parse(text) as CacheFile;
      if (file.version === CACHE_VERSION) this.#choices = { ...file.adapters?.[this.#adapter] };
    } catch {
      console.warn(`facekit: ignoring unreadable tuning cache ${this.path}`);
    }
  }

  async #save(): Promise<void> {
    if (!this.path) return;
    let file: CacheFile = { version: CACHE_VERSION, adapters: {} };
    try {
      const old = JSON.parse(await Deno.readTextFile(this.path)) as CacheFile;
      if (old.version === CACHE_VERSION && old.adapters) file = old;
    } catch { /* absent or unreadable: rewrite */ }
    file.adapters[this.#adapter] = this.#choices;
    try {
      const dir = this.path.replace(/[\\/][^\\/]*$/, "");
      if (dir && dir !== this.path) await Deno.mkdir(dir, { recursive: true });
      // Temporary file then rename: a killed process never leaves half a cache.
      const tmp = `${this.path}.${Deno.pid}.tmp`;
      await Deno.writeTextFile(tmp, JSON.stringify(file, null, 2) + "\n");
      await Deno.rename(tmp, this.path);
    } catch (e) {
      console.warn(`facekit: could not save tuning cache ${this.path}: ${(e as Error).message}`);
    }
  }
}

let tuner: Autotuner | null = null;

/** The process-wide tuner for the runtime's adapter. */
export function autotuner(): Autotuner {
  tuner ??= new Autotuner(rt().adapterName);
  return tuner;
}

/**
 * Tunes whatever kernels the steps so far asked about and did not find in the cache (a no-op
 * when there are none). Tasks call it after their first step; the variants compute identical
 * results, so this changes speed only.
 */
export async function tunePending(): Promise<void> {
  if (autotuner().pending.length > 0) await autotuner().tune();
}
