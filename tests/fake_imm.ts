// Synthetic IMM-like data sets for tests that must pass without ../shared/data.
import { join } from "node:path";
// deno-lint-ignore no-import-prefix
import { Image } from "npm:imagescript@1.3.1";

/** `.asf` text with 58 points on a small grid, shifted by `seed` so files differ. */
export function fakeAsf(name: string, seed: number): string {
  const lines = ["# fake AAM shape file", "58"];
  for (let i = 0; i < 58; i++) {
    lines.push(
      `0\t4\t${(0.2 + (i % 8) * 0.08 + seed * 0.001).toFixed(5)}\t` +
        `${(0.2 + Math.floor(i / 8) * 0.08).toFixed(5)}\t${i}\t0\t0`,
    );
  }
  lines.push("", `${name}.jpg`);
  return lines.join("\n");
}

/** Writes fake IMM pairs (64×48 JPEGs, gray level depends on the index) into a new temp dir. */
export async function fakeImm(names: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "facekit_imm_" });
  const jpegs = new Map<number, Uint8Array>();
  for (const [k, name] of names.entries()) {
    const level = 40 + (k % 4) * 50;
    if (!jpegs.has(level)) {
      const c = (level << 24) | (level << 16) | (level << 8) | 0xff;
      jpegs.set(level, await new Image(64, 48).fill(c >>> 0).encodeJPEG(95));
    }
    await Deno.writeFile(join(dir, `${name}.jpg`), jpegs.get(level)!);
    await Deno.writeTextFile(join(dir, `${name}.asf`), fakeAsf(name, k));
  }
  return dir;
}
