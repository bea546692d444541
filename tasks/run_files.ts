/**
 * Files of a training run folder: the folder itself, atomic writes, and `metrics.csv`.
 *
 * Everything is synchronous on purpose: these calls happen once per epoch, and a training loop
 * that forgets an `await` must not end up with a half-written file.
 *
 * @module
 */
// Full specifiers as the project asks; d3 ships no types, so @types/d3 (same major) supplies them.
// @ts-types="npm:@types/d3@7.4.3"
// deno-lint-ignore no-import-prefix
import { csvFormat, csvParse } from "npm:d3@7.9.0";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { UsageError } from "./cli.ts";

/**
 * Writes `data` to `path` via a temp file (`path + ".tmp-<pid>"`) and a rename, so readers (and a
 * crash) see either the old or the new file, never a partial one.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    if (typeof data === "string") Deno.writeTextFileSync(tmp, data);
    else Deno.writeFileSync(tmp, data);
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* temp never created */ }
    throw e;
  }
}

/** Options of {@link createRunDir}, mostly for tests. */
export interface RunDirOptions {
  /** Parent of generated run folders; default `"runs"` (relative to the working directory). */
  root?: string;
  /** Clock used for the folder name; default now. */
  now?: Date;
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-` +
    `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function isNonEmptyDir(path: string): boolean {
  try {
    for (const _ of Deno.readDirSync(path)) return true;
    return false;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Creates and returns the folder for a run. With `out`, that folder is created if needed and used
 * as is (the caller asked for it, other files included), unless it already holds a run
 * ({@link RUN_MARKERS}): training over it would overwrite that run's weights. Otherwise it is
 * `runs/<task>-<YYYYMMDD-HHMMSS>` in local time; if that already holds files (two runs started in
 * the same second) a `-2`, `-3`, … suffix is added rather than mixing runs.
 */
export function createRunDir(task: string, out?: string, opts: RunDirOptions = {}): string {
  if (out !== undefined) {
    if (existsSync(out) && !Deno.statSync(out).isDirectory) {
      throw new UsageError(`--out ${out}: is a file, not a folder`);
    }
    const marker = RUN_MARKERS.find((f) => existsSync(join(out, f)));
    if (marker) {
      throw new UsageError(
        `--out ${out} already holds a run (${marker}); choose a new folder or remove that one ` +
          "(train:ibug continues a run with --resume)",
      );
    }
    Deno.mkdirSync(out, { recursive: true });
    return out;
  }
  // A task name becomes part of a path; keep it to one harmless segment.
  const safe = task.replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/^\.+/, "_") || "run";
  const base = join(opts.root ?? "runs", `${safe}-${stamp(opts.now ?? new Date())}`);
  for (let i = 1;; i++) {
    const dir = i === 1 ? base : `${base}-${i}`;
    if (!isNonEmptyDir(dir)) {
      Deno.mkdirSync(dir, { recursive: true });
      return dir;
    }
  }
}

/** Files that mark a folder as holding a run (see {@link createRunDir}). */
export const RUN_MARKERS = ["config.json", "model.safetensors", "checkpoint.safetensors"];

/** One metrics row: column name → value; a missing column is written as an empty cell. */
export type MetricsRow<C extends string = string> = Partial<Record<C, number | string>>;

/**
 * Keeps the per-epoch metrics rows of a run in memory and rewrites the whole CSV atomically on
 * every {@link MetricsCsv.append}, so the file on disk is always complete and readable mid-run.
 */
export class MetricsCsv<C extends string = string> {
  readonly #rows: MetricsRow<C>[] = [];

  /**
   * Starts an empty table; nothing is written until the first row.
   * @param path CSV file to (re)write, e.g. `join(runDir, "metrics.csv")`.
   * @param columns Column order; rows may not use other keys.
   */
  constructor(readonly path: string, readonly columns: readonly C[]) {
    if (columns.length === 0) throw new TypeError("MetricsCsv needs at least one column");
    if (new Set(columns).size !== columns.length) {
      throw new TypeError(`MetricsCsv columns repeat: ${columns.join(",")}`);
    }
  }

  /** The rows appended so far. */
  get rows(): readonly MetricsRow<C>[] {
    return this.#rows;
  }

  /** Adds a row and rewrites the file. Unknown keys throw (a typo would silently lose a metric). */
  append(row: MetricsRow<C>): void {
    for (const k of Object.keys(row)) {
      if (!(this.columns as readonly string[]).includes(k)) {
        throw new TypeError(`MetricsCsv: unknown column "${k}" (have ${this.columns.join(",")})`);
      }
    }
    this.#rows.push({ ...row });
    this.write();
  }

  /** Rewrites the file from the rows in memory. */
  write(): void {
    // csvFormat writes numbers with String(), which round-trips every double exactly.
    writeFileAtomic(
      this.path,
      csvFormat(this.#rows as Record<string, unknown>[], [...this.columns]) + "\n",
    );
  }
}

/** Parsed `metrics.csv`: column order and rows. */
export interface MetricsTable {
  /** Column names in file order. */
  columns: string[];
  /** Rows; cells that parse as numbers (incl. NaN, ±Infinity) are numbers, others strings. */
  rows: Record<string, number | string>[];
}

const NUMBER_RE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?Infinity$|^NaN$/;

/** Reads a CSV written by {@link MetricsCsv} back, converting numeric cells to numbers. */
export function readMetricsCsv(path: string): MetricsTable {
  const parsed = csvParse(Deno.readTextFileSync(path));
  const rows = parsed.map((r) => {
    const row: Record<string, number | string> = {};
    for (const c of parsed.columns) {
      const v = r[c] ?? "";
      row[c] = NUMBER_RE.test(v) ? Number(v) : v;
    }
    return row;
  });
  return { columns: [...parsed.columns], rows };
}
