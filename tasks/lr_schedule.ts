/**
 * Learning-rate schedules, as multipliers of the base rate per epoch.
 * @module
 */

/**
 * Cosine decay: epoch `e` (0-based) of `epochs` trains at 0.5·(1 + cos(π·e/epochs)) × the base
 * rate, from 1 down to about (π/epochs)²/4 in the last epoch. Batch-1 training at a constant
 * rate makes the last epoch's weights a lottery; the decay makes the last epoch the best one.
 */
export function cosineLrScale(e: number, epochs: number): number {
  return 0.5 * (1 + Math.cos((Math.PI * e) / epochs));
}
