/**
 * Command-line flag parsing shared by the tasks, with errors that name the flag.
 * @module
 */

import { parseArgs } from "node:util";
import { parseDecimal } from "../data/decimal.ts";

/** Thrown for bad command-line input; tasks print its message without a stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Parses `args` with string/boolean options; unknown flags, and more than `maxPositionals`
 * plain arguments (a forgotten `--data` before a path, say), are errors. A negative number
 * after a string flag (`--epochs -1`) is taken as its value, so the flag's own range check
 * explains what is wrong.
 */
export function parseFlags(
  args: string[],
  strings: string[],
  booleans: string[],
  maxPositionals = 0,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const s of strings) options[s] = { type: "string" };
  for (const b of booleans) options[b] = { type: "boolean" };
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (strings.includes(args[i].slice(2)) && next !== undefined && /^-[\d.]/.test(next)) {
      joined.push(`${args[i]}=${next}`);
      i++;
    } else joined.push(args[i]);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: joined, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  // `--out=` would otherwise mean the current folder, `--data=` the default.
  for (const s of strings) {
    if (values[s] === "") throw new UsageError(`--${s} needs a value (got an empty one)`);
  }
  if (positionals.length > maxPositionals) {
    const extra = positionals[maxPositionals];
    throw new UsageError(
      `unexpected argument "${extra}" (values follow their flag, e.g. --data DIR)`,
    );
  }
  return { values: values as Record<string, string | boolean | undefined>, positionals };
}

/** A numeric flag in [min, max] (integer when `integer`), or `fallback` when absent. */
export function numberFlag(
  values: Record<string, string | boolean | undefined>,
  name: string,
  fallback: number,
  opt: { min?: number; max?: number; integer?: boolean } = {},
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  // Decimal only: Number() would also take "0x10" or "0b1".
  const v = typeof raw === "string" ? parseDecimal(raw) : NaN;
  const min = opt.min ?? -Infinity;
  const max = opt.max ?? Infinity;
  if (
    typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(v) || v < min || v > max ||
    (opt.integer && !Number.isInteger(v))
  ) {
    const kind = opt.integer ? "an integer" : "a number";
    throw new UsageError(`--${name} must be ${kind} in [${min}, ${max}], got "${raw}"`);
  }
  return v;
}

/** Runs a task's main, printing usage and data errors as one clear message (exit code 1/2). */
export async function runMain(main: () => Promise<void>): Promise<void> {
  // `deno task` runs in the folder of deno.json; relative paths mean the caller's folder.
  const callerDir = Deno.env.get("INIT_CWD");
  if (callerDir) {
    try {
      Deno.chdir(callerDir);
    } catch { /* a stale INIT_CWD: stay where deno task put us */ }
  }
  try {
    await main();
  } catch (e) {
    const err = e as Error;
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}`);
      Deno.exit(2);
    }
    console.error(Deno.env.get("FACEKIT_DEBUG") ? err : `error: ${err.message ?? err}`);
    Deno.exit(1);
  }
}
