/**
 * Per-adapter kernel choice. An op that has several kernel variants for a shape class (a GEMM
 * tile, say) asks {@link Autotuner.choose}: it answers at once from the cache, or with the op's
 * default while remembering the class as untuned. {@link Autotuner.tune} later times every
 * candidate of the untuned classes (outside the training step, so steps keep one submit and
 * no waits) and stores the winners per adapter (on disk in Deno: nn/tune_file.ts), so the next
 * process starts tuned.
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

/**
 * Where tuning results persist (a file in Deno, see nn/tune_file.ts); without one, choices
 * live in memory for the process. Kept abstract so this module runs in a browser too.
 */
export interface TuneStore {
  /** Where the store lives (for messages). */
  readonly where: string;
  /** The stored text, or null when there is none yet (or it cannot be read). */
  load(): string | null;
  /** Replaces the stored text (atomically where it can). */
  save(text: string): Promise<void>;
}

/** See module doc. */
export class Autotuner {
  /** Where choices persist, or null to keep them in memory only. */
  readonly store: TuneStore | null;
  readonly #adapter: string;
  #choices: Record<string, string> = {};
  #pending = new Map<string, () => Candidate[]>();
  #loaded = false;

  /** Tunes for the adapter named `adapter`, persisting choices in `store` when given. */
  constructor(adapter: string, store: TuneStore | null = null) {
    this.#adapter = adapter;
    this.store = store;
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
    const text = this.store?.load() ?? null;
    if (text === null) return; // no cache yet: start untuned
    const file = this.#parse(text);
    if (file) this.#choices = { ...file.adapters[this.#adapter] };
  }

  #parse(text: string): CacheFile | null {
    try {
      const file = JSON.parse(text) as CacheFile;
      return file.version === CACHE_VERSION && file.adapters ? file : null;
    } catch {
      console.warn(`facekit: ignoring unreadable tuning cache ${this.store?.where}`);
      return null;
    }
  }

  async #save(): Promise<void> {
    if (!this.store) return;
    // Other adapters' choices in the same store are kept.
    const old = this.store.load();
    const file = (old !== null ? this.#parse(old) : null) ??
      { version: CACHE_VERSION, adapters: {} };
    file.adapters[this.#adapter] = this.#choices;
    try {
      await this.store.save(JSON.stringify(file, null, 2) + "\n");
    } catch (e) {
      console.warn(
        `facekit: could not save tuning cache ${this.store.where}: ${(e as Error).message}`,
      );
    }
  }
}

let tuner: Autotuner | null = null;
let processStore: TuneStore | null = null;

/** The process-wide tuner for the runtime's adapter. */
export function autotuner(): Autotuner {
  tuner ??= new Autotuner(rt().adapterName, processStore);
  return tuner;
}

/**
 * Makes the process-wide tuner persist its choices in `store` (null: memory only, the
 * default). Tasks call it at start (see nn/tune_file.ts); choices made so far are dropped.
 */
export function setTuneStore(store: TuneStore | null): void {
  processStore = store;
  tuner = null;
}

/**
 * Tunes whatever kernels the steps so far asked about and did not find in the cache (a no-op
 * when there are none). Tasks call it after their first step; the variants compute identical
 * results, so this changes speed only.
 */
export async function tunePending(): Promise<void> {
  if (autotuner().pending.length > 0) await autotuner().tune();
}
