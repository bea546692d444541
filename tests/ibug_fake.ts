// Small synthetic iBUG-style data sets (dlib XML + images) for tests that must pass without
// ../shared/data.
import { dirname, join } from "node:path";
// deno-lint-ignore no-import-prefix
import { Image } from "npm:imagescript@1.3.1";

/** Location of the real data, relative to this file (may not exist). */
export const IBUG_DIR = new URL("../../shared/data/ibug_300w_subset", import.meta.url).pathname;
/** Whether the real 300-W subset is available. */
export const hasIbug = await Deno.stat(IBUG_DIR).then(() => true, () => false);

/** A face box for the fake XML. */
export interface FakeBox {
  top: number;
  left: number;
  width: number;
  height: number;
  /** 68 points (x, y), or omitted for a box-only list. */
  parts?: number[];
}

/** 68 points spread over `box` on a 9×8 grid (0-based integer pixels). */
export function gridParts(box: Omit<FakeBox, "parts">): number[] {
  const p: number[] = [];
  for (let k = 0; k < 68; k++) {
    p.push(
      Math.round(box.left + (0.1 + 0.1 * (k % 9)) * box.width),
      Math.round(box.top + (0.1 + 0.1 * Math.floor(k / 9)) * box.height),
    );
  }
  return p;
}

/** dlib imglab XML text for `images` (file → boxes). */
export function fakeXml(images: [string, FakeBox[]][]): string {
  const out = [
    "<?xml version='1.0' encoding='ISO-8859-1'?>",
    "<?xml-stylesheet type='text/xsl' href='image_metadata_stylesheet.xsl'?>",
    "<dataset>",
    "<name>fake</name>",
    "<!-- a comment with <tags> inside -->",
    "<images>",
  ];
  for (const [file, boxes] of images) {
    out.push(`  <image file='${file}'>`);
    for (const b of boxes) {
      const attrs = `top='${b.top}' left='${b.left}' width='${b.width}' height='${b.height}'`;
      if (!b.parts) {
        out.push(`    <box ${attrs}/>`);
        continue;
      }
      out.push(`    <box ${attrs}>`);
      for (let k = 0; k < 68; k++) {
        const name = String(k).padStart(2, "0");
        out.push(`      <part name='${name}' x='${b.parts[2 * k]}' y='${b.parts[2 * k + 1]}'/>`);
      }
      out.push("    </box>");
    }
    out.push("  </image>");
  }
  out.push("</images>", "</dataset>", "");
  return out.join("\n");
}

/** A gray test pattern: a horizontal ramp plus a level offset, so images differ. */
export async function writeImage(path: string, w: number, h: number, level: number) {
  const img = new Image(w, h);
  for (let y = 1; y <= h; y++) {
    for (let x = 1; x <= w; x++) {
      const v = Math.min(255, Math.round(level + (x * 100) / w));
      img.setPixelAt(x, y, ((v << 24) | (v << 16) | (v << 8) | 0xff) >>> 0);
    }
  }
  await Deno.mkdir(dirname(path), { recursive: true });
  const bytes = path.endsWith(".png") ? await img.encode() : await img.encodeJPEG(95);
  await Deno.writeFile(path, bytes);
}

/**
 * A temp folder with three images (one with two faces, one in a subfolder, one box partly outside
 * its image) and `train.xml` (with parts) + `test.xml` (boxes only). Returns the folder.
 */
export async function fakeIbug(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "facekit_ibug_" });
  await writeImage(join(dir, "a.png"), 80, 60, 20);
  await writeImage(join(dir, "b.jpg"), 64, 64, 80);
  await writeImage(join(dir, "sub", "c.png"), 120, 90, 40);
  const boxes: [string, FakeBox[]][] = [
    ["a.png", [{ top: 10, left: 15, width: 40, height: 36 }]],
    ["b.jpg", [{ top: -8, left: 30, width: 40, height: 40 }]], // partly outside
    ["sub/c.png", [{ top: 5, left: 5, width: 50, height: 50 }, {
      top: 30,
      left: 60,
      width: 44,
      height: 48,
    }]],
  ];
  const train = boxes.map(([f, bs]) =>
    [f, bs.map((b) => ({ ...b, parts: gridParts(b) }))] as [string, FakeBox[]]
  );
  await Deno.writeTextFile(join(dir, "train.xml"), fakeXml(train));
  await Deno.writeTextFile(join(dir, "test.xml"), fakeXml(boxes));
  return dir;
}
