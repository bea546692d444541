/**
 * Reader for dlib `imglab` XML landmark files (e.g. `labels_ibug_300W_train.xml`):
 *
 * ```xml
 * <dataset><images>
 *   <image file='rel/path.jpg'>
 *     <box top='84' left='80' width='160' height='152'>
 *       <part name='00' x='80' y='108'/> … <part name='67' x='…' y='…'/>
 *     </box>
 *   </image>
 * </images></dataset>
 * ```
 *
 * Coordinates are 0-based pixel INDICES as dlib writes them (pixel i has its centre at i); a box
 * covers pixel columns `left … left + width − 1`. Boxes may lie partly outside the image and parts
 * outside their box: nothing is clamped. (Whether a box overlaps its image at all needs the image
 * size; the iBUG loader checks that after decoding, see `boxImageProblem` in `face_crop.ts`.) A box has either no parts (detection / test lists) or all
 * of them.
 *
 * The XML reader is a small hand-written tokenizer (no DOM): it understands `<?…?>`, comments,
 * `<!DOCTYPE …>`, CDATA, attributes in single or double quotes, self-closing tags and the five
 * predefined entities plus numeric character references. Unknown elements and attributes are
 * ignored; mismatched or unclosed tags are errors (they usually mean a truncated file).
 *
 * @module
 */

/** A face box with optional landmarks (0-based pixel coordinates). */
export interface DlibBox {
  /** Top row. */
  top: number;
  /** Left column. */
  left: number;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `numParts` points interleaved x, y, ordered by part name 0…numParts−1; null without parts. */
  parts: Float32Array | null;
  /** dlib's `ignore='1'` flag (present only when set). */
  ignore?: boolean;
}

/** One `<image>` element. */
export interface DlibImage {
  /** The `file` attribute, as written (relative to the XML's folder, usually). */
  file: string;
  /** Its boxes in file order. */
  boxes: DlibBox[];
}

/** One face (box) of a data set; see {@link flattenFaces}. */
export interface DlibFace {
  /** Image file, as in the XML. */
  file: string;
  /** The box (with its parts, if any). */
  box: DlibBox;
  /** Same as `box.parts`. */
  parts: Float32Array | null;
  /** Index of the `<image>` element. */
  imageIndex: number;
  /** Index of the box within its image. */
  boxIndex: number;
}

/** A box-level annotation problem found by {@link parseDlibXmlDetailed}. */
export interface DlibIssue {
  /** Image file (or `image #i` when the attribute is missing). */
  file: string;
  /** Index of the `<image>` element. */
  imageIndex: number;
  /** Box index within the image, or -1 for a problem with the image element itself. */
  boxIndex: number;
  /** Full message, naming the source, the element and the line. */
  message: string;
}

/** One box of the file, good or bad, in file order; see {@link parseDlibXmlDetailed}. */
export interface DlibEntry {
  /** Image file (or `image #i` when the attribute is missing). */
  file: string;
  /** Index of the `<image>` element. */
  imageIndex: number;
  /** Box index within the image (-1 for a problem with the image element itself). */
  boxIndex: number;
  /** The box, or null when it has a problem. */
  box: DlibBox | null;
  /** The problem (full message), or null. */
  issue: string | null;
  /** Line of the `<box>` (or, for an image-level problem, `<image>`) start tag. */
  line: number;
}

/** Result of {@link parseDlibXmlDetailed}. */
export interface DlibParse {
  /** Images; a box with a problem is left out (its image stays, even with no boxes left). */
  images: DlibImage[];
  /** Per-box (or per-image) annotation problems, in file order. */
  issues: DlibIssue[];
  /** Every box (good ones and problems) in file order: positions match Kaggle face Ids. */
  entries: DlibEntry[];
}

/**
 * Parses dlib imglab XML. Throws an Error naming `source`, the element (image index and file,
 * box index, part name) and the line on any problem: malformed XML, a missing or non-numeric
 * attribute, a non-finite or non-positive box size, a part name out of range 0…numParts−1 or duplicated, or a box
 * with some but not all parts.
 */
export function parseDlibXml(text: string, source: string, numParts = 68): DlibImage[] {
  const { images, issues } = parseDlibXmlDetailed(text, source, numParts);
  if (issues.length > 0) throw new Error(issues[0].message);
  return images;
}

/**
 * Like {@link parseDlibXml}, but box-level annotation problems are collected in `issues` (the
 * offending boxes are dropped) instead of thrown, so a loader can skip bad faces. XML syntax errors
 * still throw: then nothing in the file can be trusted.
 */
export function parseDlibXmlDetailed(text: string, source: string, numParts = 68): DlibParse {
  const images: DlibImage[] = [];
  const issues: DlibIssue[] = [];
  const entries: DlibEntry[] = [];
  const stack: string[] = [];
  // Current image / box being built.
  let img: DlibImage | null = null;
  let imgOk = true;
  let imgIndex = -1;
  let box: DlibBox | null = null;
  let boxIndex = -1;
  let boxLine = 0;
  let boxError: string | null = null;
  let parts: Float32Array | null = null;
  let seen: Uint8Array | null = null;
  let nSeen = 0;

  const imgName = () => `image #${imgIndex}` + (img && imgOk ? ` (file '${img.file}')` : "");
  const where = (line: number) => `${source}:${line}: ${imgName()}`;

  const closeBox = () => {
    if (!img || !box) return;
    if (boxError === null && nSeen > 0 && nSeen < numParts) {
      const missing: number[] = [];
      for (let k = 0; k < numParts && missing.length < 5; k++) if (!seen![k]) missing.push(k);
      boxError = `${where(boxLine)} box #${boxIndex}: has ${nSeen} of ${numParts} parts ` +
        `(missing ${missing.map(partName).join(", ")}${numParts - nSeen > 5 ? ", …" : ""})`;
    }
    if (boxError !== null) {
      issues.push({ file: img.file, imageIndex: imgIndex, boxIndex, message: boxError });
      entries.push({
        file: img.file,
        imageIndex: imgIndex,
        boxIndex,
        box: null,
        issue: boxError,
        line: boxLine,
      });
    } else {
      box.parts = nSeen === numParts ? parts : null;
      img.boxes.push(box);
      entries.push({
        file: img.file,
        imageIndex: imgIndex,
        boxIndex,
        box,
        issue: null,
        line: boxLine,
      });
    }
    box = null;
  };

  for (const tok of tokenize(text, source)) {
    if (tok.kind === "open") {
      const parent = stack.length > 0 ? stack[stack.length - 1] : "";
      if (!tok.selfClosing) stack.push(tok.name);
      if (tok.name === "image" && parent === "images") {
        imgIndex++;
        boxIndex = -1;
        const file = tok.attrs.get("file");
        imgOk = file !== undefined && file !== "";
        img = { file: file ?? `image #${imgIndex}`, boxes: [] };
        if (!imgOk) {
          const message =
            `${source}:${tok.line}: image #${imgIndex}: missing or empty 'file' attribute`;
          issues.push({ file: img.file, imageIndex: imgIndex, boxIndex: -1, message });
          entries.push({
            file: img.file,
            imageIndex: imgIndex,
            boxIndex: -1,
            box: null,
            issue: message,
            line: tok.line,
          });
          img = null;
        } else {
          images.push(img);
          if (tok.selfClosing) img = null;
        }
      } else if (tok.name === "box" && parent === "image" && img) {
        boxIndex++;
        boxLine = tok.line;
        boxError = null;
        parts = new Float32Array(2 * numParts);
        seen = new Uint8Array(numParts);
        nSeen = 0;
        const vals: number[] = [];
        for (const a of ["top", "left", "width", "height"]) {
          const v = tok.attrs.get(a);
          if (boxError !== null) break;
          if (v === undefined) {
            boxError = `${where(tok.line)} box #${boxIndex}: missing attribute '${a}'`;
          } else if (!isNumber(v)) {
            boxError = `${where(tok.line)} box #${boxIndex}: attribute ${a}='${v}' is not a number`;
          } else if (!Number.isFinite(Number(v))) {
            boxError = `${where(tok.line)} box #${boxIndex}: attribute ${a}='${v}' is not finite`;
          } else vals.push(Number(v));
        }
        if (boxError === null && !(vals[2] > 0 && vals[3] > 0)) {
          boxError = `${where(tok.line)} box #${boxIndex}: non-positive size ${vals[2]}×${vals[3]}`;
        }
        box = boxError === null
          ? { top: vals[0], left: vals[1], width: vals[2], height: vals[3], parts: null }
          : { top: 0, left: 0, width: 0, height: 0, parts: null };
        const ign = tok.attrs.get("ignore");
        if (ign !== undefined && ign !== "0" && ign !== "false") box.ignore = true;
        if (tok.selfClosing) closeBox();
      } else if (tok.name === "part" && parent === "box" && img && box) {
        if (boxError !== null) continue;
        const name = tok.attrs.get("name");
        const at = `${where(tok.line)} box #${boxIndex} part`;
        if (name === undefined) {
          boxError = `${at}: missing attribute 'name'`;
          continue;
        }
        const k = /^\s*\d+\s*$/.test(name) ? Number(name) : NaN;
        if (!(k >= 0 && k < numParts)) {
          boxError = `${at} '${name}': name out of range ${partName(0)}..${partName(numParts - 1)}`;
          continue;
        }
        if (seen![k]) {
          boxError = `${at} '${name}': duplicated part name`;
          continue;
        }
        for (const [a, off] of [["x", 0], ["y", 1]] as const) {
          const v = tok.attrs.get(a);
          if (v === undefined) boxError = `${at} '${name}': missing attribute '${a}'`;
          else if (!isNumber(v)) {
            boxError = `${at} '${name}': attribute ${a}='${v}' is not a number`;
          } else if (!Number.isFinite(Math.fround(Number(v)))) {
            // Parts are stored as f32: 1e39 would become Infinity there.
            boxError = `${at} '${name}': attribute ${a}='${v}' is not finite`;
          } else parts![2 * k + off] = Number(v);
          if (boxError !== null) break;
        }
        seen![k] = 1;
        nSeen++;
      }
    } else {
      const top = stack.pop();
      if (top !== tok.name) {
        throw new Error(
          `${source}:${tok.line}: closing tag </${tok.name}> does not match ` +
            (top === undefined ? "any open element" : `<${top}>`),
        );
      }
      if (tok.name === "box" && stack[stack.length - 1] === "image") closeBox();
      else if (tok.name === "image" && stack[stack.length - 1] === "images") img = null;
    }
  }
  if (stack.length > 0) {
    throw new Error(`${source}: unexpected end of file inside <${stack[stack.length - 1]}>`);
  }
  if (imgIndex < 0 && !/<dataset[\s>/]/.test(text)) {
    throw new Error(`${source}: not a dlib imglab XML file (no <dataset> element)`);
  }
  return { images, issues, entries };
}

/** One entry per box, in file order (Kaggle-style Ids count boxes in this order). */
export function flattenFaces(images: readonly DlibImage[]): DlibFace[] {
  const out: DlibFace[] = [];
  images.forEach((img, imageIndex) => {
    img.boxes.forEach((box, boxIndex) => {
      out.push({ file: img.file, box, parts: box.parts, imageIndex, boxIndex });
    });
  });
  return out;
}

function partName(k: number): string {
  return String(k).padStart(2, "0");
}

function isNumber(s: string): boolean {
  return /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(s);
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

interface OpenTag {
  kind: "open";
  name: string;
  attrs: Map<string, string>;
  selfClosing: boolean;
  line: number;
}

interface CloseTag {
  kind: "close";
  name: string;
  line: number;
}

const NAME_RE = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const SPACE_RE = /\s*/y;

/** Yields start and end tags; text, comments, processing instructions and CDATA are skipped. */
function* tokenize(text: string, source: string): Generator<OpenTag | CloseTag> {
  let pos = 0;
  let line = 1;
  let lineAt = 0; // text scanned up to here has been counted into `line`
  const lineOf = (p: number) => {
    for (let i = lineAt; i < p; i++) if (text.charCodeAt(i) === 10) line++;
    lineAt = Math.max(lineAt, p);
    return line;
  };
  const fail = (p: number, msg: string): never => {
    throw new Error(`${source}:${lineOf(p)}: malformed XML: ${msg}`);
  };
  const skipTo = (p: number, end: string, what: string) => {
    const e = text.indexOf(end, p);
    if (e < 0) fail(p, `unterminated ${what}`);
    return e + end.length;
  };

  while (true) {
    const lt = text.indexOf("<", pos);
    if (lt < 0) return;
    if (text.startsWith("<!--", lt)) {
      pos = skipTo(lt + 4, "-->", "comment");
    } else if (text.startsWith("<?", lt)) {
      pos = skipTo(lt + 2, "?>", "processing instruction");
    } else if (text.startsWith("<![CDATA[", lt)) {
      pos = skipTo(lt + 9, "]]>", "CDATA section");
    } else if (text.startsWith("<!", lt)) {
      // DOCTYPE, possibly with an internal subset in brackets.
      const br = text.indexOf("[", lt), gt = text.indexOf(">", lt);
      pos = br >= 0 && gt >= 0 && br < gt
        ? skipTo(skipTo(br, "]", "DOCTYPE"), ">", "DOCTYPE")
        : skipTo(
          lt + 2,
          ">",
          "declaration",
        );
    } else if (text[lt + 1] === "/") {
      NAME_RE.lastIndex = lt + 2;
      const m = NAME_RE.exec(text);
      if (!m) fail(lt, "bad closing tag");
      SPACE_RE.lastIndex = NAME_RE.lastIndex;
      SPACE_RE.exec(text);
      if (text[SPACE_RE.lastIndex] !== ">") fail(lt, `bad closing tag </${m![0]}`);
      const l = lineOf(lt);
      pos = SPACE_RE.lastIndex + 1;
      yield { kind: "close", name: m![0], line: l };
    } else {
      NAME_RE.lastIndex = lt + 1;
      const m = NAME_RE.exec(text);
      if (!m) fail(lt, "'<' not followed by a tag name");
      const name = m![0];
      const l = lineOf(lt);
      const attrs = new Map<string, string>();
      let p = NAME_RE.lastIndex;
      let selfClosing = false;
      while (true) {
        SPACE_RE.lastIndex = p;
        SPACE_RE.exec(text);
        p = SPACE_RE.lastIndex;
        if (p >= text.length) fail(lt, `unterminated tag <${name}`);
        if (text[p] === ">") {
          p++;
          break;
        }
        if (text.startsWith("/>", p)) {
          p += 2;
          selfClosing = true;
          break;
        }
        NAME_RE.lastIndex = p;
        const an = NAME_RE.exec(text);
        if (!an) fail(p, `bad attribute syntax in <${name}>`);
        p = NAME_RE.lastIndex;
        SPACE_RE.lastIndex = p;
        SPACE_RE.exec(text);
        p = SPACE_RE.lastIndex;
        if (p >= text.length) fail(lt, `unterminated tag <${name}`);
        if (text[p] !== "=") fail(p, `attribute '${an![0]}' of <${name}> has no value`);
        SPACE_RE.lastIndex = p + 1;
        SPACE_RE.exec(text);
        p = SPACE_RE.lastIndex;
        if (p >= text.length) fail(lt, `unterminated tag <${name}`);
        const q = text[p];
        if (q !== '"' && q !== "'") fail(p, `attribute '${an![0]}' of <${name}> is not quoted`);
        const e = text.indexOf(q, p + 1);
        if (e < 0) fail(p, `unterminated attribute '${an![0]}' of <${name}>`);
        const raw = text.slice(p + 1, e);
        if (raw.includes("<")) fail(p, `'<' inside attribute '${an![0]}' of <${name}>`);
        attrs.set(an![0], decodeEntities(raw, () => fail(p, `bad entity in '${an![0]}'`)));
        p = e + 1;
      }
      pos = p;
      yield { kind: "open", name, attrs, selfClosing, line: l };
    }
  }
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeEntities(s: string, bad: () => never): string {
  if (!s.includes("&")) return s;
  return s.replace(/&([^;&\s]*);?/g, (all, body: string) => {
    if (!all.endsWith(";")) bad();
    if (body in ENTITIES) return ENTITIES[body];
    const m = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(body);
    if (!m) bad();
    const code = m![1][0] === "x" ? parseInt(m![1].slice(1), 16) : parseInt(m![1], 10);
    if (!(code > 0 && code <= 0x10ffff)) bad();
    return String.fromCodePoint(code);
  });
}
