// Flag parsing shared by the tasks: errors name the flag or the stray argument.
import assert from "node:assert/strict";
import { numberFlag, parseFlags, UsageError } from "../tasks/cli.ts";

Deno.test("parseFlags: a stray argument is an error, not silently ignored", () => {
  assert.throws(
    () => parseFlags(["/data/imm", "--epochs", "2"], ["epochs"], []),
    (e) => e instanceof UsageError && /unexpected argument "\/data\/imm"/.test(e.message),
  );
  // Tasks that take positionals get them, up to their limit.
  const { positionals } = parseFlags(["nose", "--epochs", "2"], ["epochs"], [], 1);
  assert.deepEqual(positionals, ["nose"]);
  assert.throws(() => parseFlags(["nose", "extra"], [], [], 1), /unexpected argument "extra"/);
});

Deno.test("parseFlags: a negative number after a flag is its value, so the range check speaks", () => {
  const { values } = parseFlags(["--epochs", "-1", "--lr", "-.5"], ["epochs", "lr"], []);
  assert.equal(values.epochs, "-1");
  assert.equal(values.lr, "-.5");
  assert.throws(
    () => numberFlag(values, "epochs", 25, { min: 1, integer: true }),
    /--epochs must be an integer in \[1, /,
  );
  // A boolean flag is never given a value this way.
  assert.throws(() => parseFlags(["--quiet", "-1"], [], ["quiet"]), UsageError);
  assert.throws(() => parseFlags(["--nope"], [], []), UsageError);
});

Deno.test("parseFlags/numberFlag: empty values and non-decimal numbers are errors", () => {
  // `--out=` used to mean the current folder and `--data=` the default data folder.
  assert.throws(() => parseFlags(["--out="], ["out"], []), /--out needs a value/);
  assert.throws(() => parseFlags(["--data", ""], ["data"], []), /--data needs a value/);
  const { values } = parseFlags(["--batch", "0x20", "--lr", "1e-3"], ["batch", "lr"], []);
  assert.throws(
    () => numberFlag(values, "batch", 1, { min: 1 }),
    /--batch must be a number.*"0x20"/,
  );
  assert.equal(numberFlag(values, "lr", 1), 1e-3);
});
