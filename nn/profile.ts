/**
 * Per-kernel time of a step: the step runs once with its dispatches captured, then each
 * captured dispatch is replayed alone (several copies in one submit, minus the cost of a
 * submit) and the times are summed by kernel. The sum approximates the step's GPU time; a
 * dispatch inside one submit also pays a hand-off that replays in isolation do not show.
 * @module
 */

import { rt } from "./runtime.ts";

/** Time spent in one kernel over a profiled step. */
export interface KernelTime {
  /** Kernel name (generated kernels carry their shape class in the name). */
  kernel: string;
  /** Dispatches of it in the step. */
  dispatches: number;
  /** Milliseconds summed over those dispatches. */
  ms: number;
}

/**
 * Runs `step` once capturing its dispatches, then times each one (`rounds` × `repeats`
 * replays).
 * Returns kernels sorted by time, largest first.
 */
export async function profileStep(
  step: () => void,
  repeats = 2,
  rounds = 2,
): Promise<KernelTime[]> {
  await rt().sync();
  rt().capture(true);
  try {
    step();
  } finally {
    rt().flush();
  }
  const captured = rt().capture(false);
  await rt().sync();
  // Each dispatch is replayed once and 1 + repeats times, a submit each, `rounds` times: the
  // difference of the fastest of each over repeats is its time without the fixed cost of a
  // submit and wait (the minimum resists a shared machine's noise).
  const byKernel = new Map<string, KernelTime>();
  for (const d of captured) {
    let one = Infinity;
    let many = Infinity;
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      await rt().replay(d, 1);
      const t1 = performance.now();
      await rt().replay(d, 1 + repeats);
      const t2 = performance.now();
      one = Math.min(one, t1 - t0);
      many = Math.min(many, t2 - t1);
    }
    const ms = Math.max(0, (many - one) / repeats);
    const k = byKernel.get(d.kernel) ?? { kernel: d.kernel, dispatches: 0, ms: 0 };
    k.dispatches++;
    k.ms += ms;
    byKernel.set(d.kernel, k);
  }
  return [...byKernel.values()].sort((a, b) => b.ms - a.ms);
}
