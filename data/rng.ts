/**
 * Seeded pseudo-random numbers for reproducible data pipelines.
 *
 * xoshiro128** (Blackman & Vigna): 128 bits of state, fast with 32-bit integer ops in JS, and
 * good statistical quality. The seed is expanded with splitmix32 so that nearby seeds (0, 1, 2…)
 * still give unrelated streams and the state is never all zero.
 *
 * @module
 */

/** A seeded PRNG (xoshiro128**). Same seed ⇒ same sequence on every platform. */
export class Rng {
  #s = new Uint32Array(4);

  /** Creates a generator from a 32-bit integer seed (other numbers are truncated to 32 bits). */
  constructor(seed = 0) {
    // splitmix32 expands one 32-bit seed into four well-mixed, non-zero-in-total state words.
    let x = seed | 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      this.#s[i] = z ^ (z >>> 15);
    }
    if ((this.#s[0] | this.#s[1] | this.#s[2] | this.#s[3]) === 0) this.#s[0] = 1;
  }

  /** Next raw 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n) without modulo bias; n must be an integer in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    // Rejection sampling: drop the top partial bucket so every result is equally likely.
    const limit = 4294967296 - (4294967296 % n);
    let x: number;
    do x = this.nextUint32(); while (x >= limit);
    return x % n;
  }

  /**
   * Standard normal sample (mean 0, sd 1) by Box–Muller. The second value of each pair is
   * discarded so the generator state stays just the four xoshiro words (exact resume).
   */
  normal(): number {
    const u1 = 1 - this.next(); // (0, 1]: log is finite
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Shuffles `array` in place (Fisher–Yates) and returns it. */
  shuffle<A extends { length: number; [i: number]: unknown }>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** The full generator state (four uint32 words); pass it to {@link Rng.setState} to resume. */
  getState(): number[] {
    return Array.from(this.#s);
  }

  /** Restores a state captured by {@link Rng.getState}. */
  setState(s: readonly number[]): void {
    if (
      s.length !== 4 || s.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff) ||
      s.every((v) => v === 0)
    ) {
      throw new Error(`Rng.setState: expected 4 uint32 words, not all zero; got [${s}]`);
    }
    this.#s.set(s);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
