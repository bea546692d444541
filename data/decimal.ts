/**
 * Plain decimal numbers, as annotation files, CSV values and command-line flags take them:
 * `Number()` alone would also accept "0x10", "0b1", "" or " ".
 * @module
 */

/** Sign, digits with an optional point, optional exponent. */
export const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** The value of a decimal number (surrounding spaces allowed), else NaN. */
export function parseDecimal(text: string): number {
  const t = text.trim();
  return DECIMAL.test(t) ? Number(t) : NaN;
}
