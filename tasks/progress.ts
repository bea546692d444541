/**
 * Training progress: a live bar on terminals (rewritten in place), and one line per epoch.
 * @module
 */

const enc = new TextEncoder();

/** Formats seconds as `1m05s` / `12s`. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s - 60 * m)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** Live progress for one epoch; silent when stdout is not a terminal (CI, pipes, logs). */
export class ProgressBar {
  readonly #live = Deno.stdout.isTerminal();
  readonly #start = performance.now();
  #lastDraw = 0;

  /** `startDone` is where a resumed epoch begins, so the rate counts only this run's items. */
  constructor(readonly label: string, public total: number, readonly startDone = 0) {}

  /** Redraws at most ~10 times per second, with the rate since the bar was made. */
  update(done: number): void {
    if (!this.#live) return;
    const now = performance.now();
    if (now - this.#lastDraw < 100 && done < this.total) return;
    this.#lastDraw = now;
    const imagesPerSecond = (done - this.startDone) / Math.max((now - this.#start) / 1000, 1e-3);
    const width = 30;
    const filled = Math.round((done / this.total) * width);
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const line = `${this.label} ${bar} ${done}/${this.total}  ${imagesPerSecond.toFixed(1)} img/s`;
    Deno.stdout.writeSync(enc.encode(`\r${line}\x1b[K`));
  }

  /** Clears the bar so the epoch line can be printed in its place. */
  clear(): void {
    if (this.#live) Deno.stdout.writeSync(enc.encode("\r\x1b[K"));
  }
}
