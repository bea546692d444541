/**
 * 2-D convolution (NCHW input, weight [Co, Ci, KH, KW], optional bias, any stride/padding)
 * with its three gradients, plus a float64 CPU reference for tests.
 *
 * Two implementations:
 * - tiled (the normal path), shaped by llvmpipe, where a storage load costs tens of FMAs (a loop
 *   over the SIMD lanes), integer division is scalar, and each dispatch costs a thread hand-off:
 *   kernels generated per kernel size and stride (shaders/conv2d_tile_*.wgsl) give each thread
 *   a register tile and read aligned vec4s with no bounds checks. A prep dispatch
 *   (conv2d_pack.wgsl) makes the zero-padded, row-aligned copies and packs the weight into
 *   vec4s of 4 channels; it is skipped where the input can be read in place. Small weights are
 *   read through a uniform buffer. The backward pads (and ReLU-masks) dy, then computes the
 *   input gradient (a forward over padded, for stride > 1 dilated, dy with the flipped weight)
 *   and the weight and bias gradients, a dispatch each (one kernel doing both ran 1.6× slower:
 *   it needs the registers of both), plus a reduce when the weight gradient is split over rows.
 * - direct (fallback when a padded operand would exceed the adapter's binding size, and for the
 *   input gradient when the padding exceeds k - 1): one thread per output pixel × 4 channels.
 * @module
 */

import forwardSrc from "../../shaders/conv2d_forward.wgsl" with { type: "text" };
import gradInputSrc from "../../shaders/conv2d_grad_input.wgsl" with { type: "text" };
import gradWeightSrc from "../../shaders/conv2d_grad_weight.wgsl" with { type: "text" };
import packSrc from "../../shaders/conv2d_pack.wgsl" with { type: "text" };
import reduceSrc from "../../shaders/conv2d_reduce.wgsl" with { type: "text" };
import tileForwardSrc from "../../shaders/conv2d_tile_forward.wgsl" with { type: "text" };
import tileGradWeightSrc from "../../shaders/conv2d_tile_grad_weight.wgsl" with {
  type: "text",
};
import windowSrc from "../../shaders/conv2d_tile_common.wgsl" with { type: "text" };
import udivSrc from "../../shaders/udiv.wgsl" with { type: "text" };
import { fillTemplate, kernel, params } from "../kernel.ts";
import { type BufferBinding, type Kernel, rt } from "../runtime.ts";
import { Tensor } from "../tensor.ts";
import { gradientFor, record } from "../autograd.ts";
import { maxPool2d } from "./maxpool2d.ts";
import { reduceSum } from "./reduce.ts";
import { reluBackward as reluMask } from "./relu.ts";

const FORWARD = kernel("conv2d_forward", forwardSrc);
const GRAD_INPUT = kernel("conv2d_grad_input", gradInputSrc);
const GRAD_WEIGHT = kernel("conv2d_grad_weight", gradWeightSrc);
/** Helpers (udiv, window) every tiled convolution kernel and the prep share. */
const tileCommonSrc = udivSrc + windowSrc;
const PACK = kernel("conv2d_pack", tileCommonSrc + packSrc);
const REDUCE = kernel("conv2d_reduce", reduceSrc);

/** Convolution hyper-parameters. */
export interface Conv2dOptions {
  /** Step between windows (default 1). */
  stride?: number;
  /** Zero padding on every side (default 0). */
  padding?: number;
  /** Fuse a ReLU into the forward kernel (the gradient then masks by the output). */
  relu?: boolean;
  /**
   * Follow with a 2×2 stride-2 max-pool (floor: a last odd row or column is dropped), fused
   * into the forward kernel's epilogue where the tiled kernels apply; the output is then the
   * pooled [N, Co, ⌊H'/2⌋, ⌊W'/2⌋]. Same values and gradients as `maxPool2d(conv2d(…), 2)`.
   */
  pool?: boolean;
}

/** Output size of a convolution or pooling along one axis. */
export function convOutSize(size: number, k: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}

interface Geometry {
  n: number;
  ci: number;
  h: number;
  w: number;
  co: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  stride: number;
  pad: number;
}

function geometry(xs: readonly number[], ws: readonly number[], o: Conv2dOptions): Geometry {
  if (xs.length !== 4) throw new Error(`facekit: conv2d input must be NCHW, got [${xs}]`);
  if (ws.length !== 4) throw new Error(`facekit: conv2d weight must be [Co,Ci,KH,KW], got [${ws}]`);
  const [n, ci, h, w] = xs;
  const [co, wci, kh, kw] = ws;
  if (wci !== ci) {
    throw new Error(`facekit: conv2d weight expects ${wci} channels, input has ${ci}`);
  }
  const stride = o.stride ?? 1;
  const pad = o.padding ?? 0;
  const oh = convOutSize(h, kh, stride, pad);
  const ow = convOutSize(w, kw, stride, pad);
  if (oh < 1 || ow < 1) {
    throw new Error(`facekit: conv2d ${kh}×${kw} kernel does not fit input [${xs}]`);
  }
  return { n, ci, h, w, co, oh, ow, kh, kw, stride, pad };
}

function words(g: Geometry, last: number): number[] {
  return [g.n, g.ci, g.h, g.w, g.co, g.oh, g.ow, g.kh, g.kw, g.stride, g.pad, last];
}

// ------------------------------------------------------------------ generated tile kernels

/** Threads per workgroup of the tiled kernels. */
const TILE_WG = 16;
/**
 * Output rows per forward tile (× 4 columns × tco channels): 8 where the tiles still fill the
 * cores (each input row then feeds twice the output rows: measured 1.2–1.6× faster on every
 * ResNet-18 layer here), else 4.
 */
const TILE_ROWS = [8, 4];
/** Forward threads below which the taller tile leaves llvmpipe's or a GPU's cores idle. */
const TALL_TILE_MIN_THREADS = 256;

/** Words of FwParams in the template (its last word is the thread count). FwParams and
 * GwParams are multiples of 4 words: they are nested in one uniform struct. */
const FW_WORDS = 12;

const tileKernels = new Map<string, Kernel>();

function cached(name: string, make: () => string): Kernel {
  let k = tileKernels.get(name);
  if (!k) tileKernels.set(name, k = kernel(name, make(), TILE_WG));
  return k;
}

const LANE = "xyzw";
const range = (n: number) => [...Array(n).keys()];

/** vec4 columns of one input row that a 4-wide output tile touches. */
function tileVecs(kw: number, s: number): number {
  return Math.floor((3 * s + kw - 1) / 4) + 1;
}

/** Configuration of one generated forward tile function. */
interface FwConfig {
  kh: number;
  kw: number;
  s: number;
  /** Input read as floats (rows not whole vec4s) instead of vec4s. */
  scalarX: boolean;
  /** Where the weight is read (see WeightMode). */
  weights: WeightMode;
  /** Emit the bias epilogue (the input gradient has none). */
  bias: boolean;
  /** Output channels per thread (4 or 8). */
  tco: number;
  /** Output rows per thread (TILE_ROWS). */
  py: number;
  /** Epilogue: 2×2 max-pool, storing pooled values in fy and window positions in fidx. */
  pool?: boolean;
}

/** `fn tile_forward` for a configuration (conv2d_tile_forward.wgsl with its holes filled). */
function forwardFn(f: FwConfig): string {
  const { kh, kw, s, tco, py } = f;
  const kk = kh * kw;
  const nh = tco / 4;
  const decl = range(nh).flatMap((h) =>
    range(py).flatMap((y) => range(4).map((x) => `  var a${h}_${y}_${x} = vec4f(0.0);`))
  );
  const body: string[] = [];
  let winit: string[];
  if (f.weights === "packed" || f.weights === "uniform") {
    // Packed 4-channel blocks are ci·kk vec4s apart; a block past co re-reads block 0.
    winit = [`  var wi = cb * ${nh}u * p.fw.ci * ${kk}u;`];
    for (let h = 1; h < nh; h++) {
      winit.push(
        `  let wo${h} = select(${h}u * p.fw.ci * ${kk}u, 0u, co0 + ${4 * h}u >= p.fw.co);`,
      );
    }
    for (let h = 0; h < nh; h++) {
      const at = h === 0 ? "wi" : `wi + wo${h}`;
      for (let k = 0; k < kk; k++) body.push(`    let w${h}_${k} = fwt[${at} + ${k}u];`);
    }
  } else {
    // Raw weight: the channels of a tap are ci·kh·kw apart (clamped past co; not stored).
    winit = ["  var wi = 0u;"];
    for (let j = 0; j < tco; j++) {
      winit.push(`  let wb${j} = min(co0 + ${j}u, p.fw.co - 1u) * p.fw.ci * ${kk}u;`);
    }
    const tap = f.weights === "raw"
      ? (i: string) => `fwt[${i}]`
      : (i: string) => `fwt[(${i}) >> 2u][(${i}) & 3u]`;
    for (let h = 0; h < nh; h++) {
      for (let k = 0; k < kk; k++) {
        const taps = range(4).map((j) => tap(`wb${4 * h + j} + wi + ${k}u`)).join(", ");
        body.push(`    let w${h}_${k} = vec4f(${taps});`);
      }
    }
  }
  // Input rows in order; each is loaded once and feeds every (output row, ky) that uses it.
  for (let r = 0; r < (py - 1) * s + kh; r++) {
    const uses = range(py).map((y) => [y, r - y * s]).filter(([, ky]) => ky >= 0 && ky < kh);
    if (uses.length === 0) continue;
    const vecs = new Set<number>();
    for (let x = 0; x < 4; x++) for (let kx = 0; kx < kw; kx++) vecs.add((x * s + kx) >> 2);
    let el = (e: number) => `r${r}_${e >> 2}.${LANE[e & 3]}`;
    if (f.scalarX) {
      const elems = new Set<number>();
      for (let x = 0; x < 4; x++) for (let kx = 0; kx < kw; kx++) elems.add(x * s + kx);
      for (const e of elems) body.push(`    let r${r}_${e} = fx[xi + ${r}u * rw + ${e}u];`);
      el = (e: number) => `r${r}_${e}`;
    } else {
      for (const v of vecs) body.push(`    let r${r}_${v} = fx[xi + ${r}u * rw + ${v}u];`);
    }
    for (const [y, ky] of uses) {
      for (let kx = 0; kx < kw; kx++) {
        for (let x = 0; x < 4; x++) {
          const e = `vec4f(${el(x * s + kx)})`;
          for (let h = 0; h < nh; h++) {
            const a = `a${h}_${y}_${x}`;
            body.push(`    ${a} = fma(${e}, w${h}_${ky * kw + kx}, ${a});`);
          }
        }
      }
    }
  }
  const store: string[] = [];
  for (let h = 0; h < nh; h++) {
    store.push(`  var b${h} = vec4f(0.0);`);
    if (f.bias) {
      const bs = range(4).map((c) => `fbias[min(co0 + ${4 * h + c}u, co - 1u)]`);
      store.push(
        "  if ((p.fw.flags & 1u) != 0u) {",
        `    b${h} = vec4f(${bs.slice(0, 2).join(", ")},`,
        `               ${bs.slice(2).join(", ")});`,
        "  }",
      );
    }
  }
  if (f.pool) {
    store.push(...poolStore(nh, py));
  } else {
    store.push(...plainStore(nh, py));
  }
  return fillTemplate(tileForwardSrc, {
    PY: py,
    S: s,
    TCO: tco,
    XSTEP: f.scalarX ? 4 * s : s,
    KK: kk,
    WINIT: winit.join("\n"),
    DECL: decl.join("\n"),
    BODY: body.join("\n"),
    STORE: store.join("\n"),
  });
}

/** Forward epilogue: bias, ReLU and stores masked to the real output. */
function plainStore(nh: number, py: number): string[] {
  const store: string[] = [];
  for (let y = 0; y < py; y++) {
    store.push(`  if (oy0 + ${y}u < p.fw.oh) {`);
    for (let x = 0; x < 4; x++) {
      store.push(
        `    if (ox0 + ${x}u < p.fw.ow) {`,
        `      let o = ob + ${y}u * p.fw.ow + ${x}u;`,
      );
      for (let h = 0; h < nh; h++) {
        store.push(
          `      var v${h} = a${h}_${y}_${x} + b${h};`,
          `      if (relu) { v${h} = max(v${h}, vec4f(0.0)); }`,
        );
        for (let c = 0; c < 4; c++) {
          const j = 4 * h + c;
          const st = `fy[o + ${j}u * oplane] = v${h}.${LANE[c]};`;
          store.push(j === 0 ? `      ${st}` : `      if (co0 + ${j}u < co) { ${st} }`);
        }
      }
      store.push(`    }`);
    }
    store.push(`  }`);
  }
  return store;
}

/**
 * Pooled forward epilogue: per 2×2 window of the tile, the max of the (biased, ReLU-ed) sums
 * and its position (0..3, row-major; the first of equal values wins, as maxPool2d), stored for
 * full windows only (floor).
 */
function poolStore(nh: number, py: number): string[] {
  const store = [
    "  let ph = p.fw.oh / 2u;",
    "  let pw = p.fw.ow / 2u;",
    "  let pplane = ph * pw;",
    "  let pb = (n * co + co0) * pplane + (oy0 / 2u) * pw + ox0 / 2u;",
  ];
  for (let yy = 0; yy < py / 2; yy++) {
    store.push(`  if (oy0 / 2u + ${yy}u < ph) {`);
    for (let xx = 0; xx < 2; xx++) {
      store.push(`    if (ox0 / 2u + ${xx}u < pw) {`, `      let o = pb + ${yy}u * pw + ${xx}u;`);
      for (let h = 0; h < nh; h++) {
        const at = (q: number) => `a${h}_${2 * yy + (q >> 1)}_${2 * xx + (q & 1)}`;
        store.push(
          `      var m${h} = ${at(0)} + b${h};`,
          `      if (relu) { m${h} = max(m${h}, vec4f(0.0)); }`,
          `      var k${h} = vec4u(0u);`,
        );
        for (let q = 1; q < 4; q++) {
          store.push(
            `      var v${h}_${q} = ${at(q)} + b${h};`,
            `      if (relu) { v${h}_${q} = max(v${h}_${q}, vec4f(0.0)); }`,
            `      let g${h}_${q} = v${h}_${q} > m${h};`,
            `      m${h} = select(m${h}, v${h}_${q}, g${h}_${q});`,
            `      k${h} = select(k${h}, vec4u(${q}u), g${h}_${q});`,
          );
        }
        for (let c = 0; c < 4; c++) {
          const j = 4 * h + c;
          const st = `fy[o + ${j}u * pplane] = m${h}.${LANE[c]}; fidx[o + ${j}u * pplane] = k${h}.${
            LANE[c]
          };`;
          store.push(j === 0 ? `      ${st}` : `      if (co0 + ${j}u < co) { ${st} }`);
        }
      }
      store.push(`    }`);
    }
    store.push(`  }`);
  }
  return store;
}

/** Configuration of one generated weight-gradient function. */
interface GwConfig {
  kh: number;
  kw: number;
  s: number;
  /** Input read as floats (rows not whole vec4s) instead of vec4s. */
  scalarX: boolean;
  /** dy read unpadded (realigned vec4s), masked in the kernel (no prep of dy). */
  rawDy: boolean;
  /** Output channels (a multiple of 4) × input channels per thread. */
  tco: number;
  tci: number;
}

/** `fn tile_grad_weight` for a configuration (conv2d_tile_grad_weight.wgsl filled). */
function gradWeightFn(f: GwConfig): string {
  const { kh, kw, s, tco, tci } = f;
  const kk = kh * kw;
  const decl: string[] = [];
  const setup: string[] = [];
  const body: string[] = [];
  const store: string[] = [];
  if (f.rawDy) {
    body.push(
      "      let cols = vec4u(j * 4u) + vec4u(0u, 1u, 2u, 3u) < vec4u(p.gw.ow);",
      "      let relu = (p.gw.flags & 1u) != 0u;",
    );
  }
  for (let q = 0; q < tco; q++) {
    decl.push(`  var bs${q} = vec4f(0.0);`);
    for (let c = 0; c < tci; c++) {
      for (let k = 0; k < kk; k++) decl.push(`  var a${q}_${c}_${k} = 0.0;`);
    }
    setup.push(`    let d${q} = drow + min(co0 + ${q}u, co - 1u) * dplane;`);
    if (f.rawDy) {
      // dy rows start anywhere: each chunk is a window over two aligned vec4s, the previous one
      // kept from the last chunk. Columns past ow belong to the next row and are masked; loads
      // past the buffer are clamped by WebGPU.
      setup.push(
        `    let da${q} = d${q} & 3u;`,
        `    var dv${q} = d${q} >> 2u;`,
        `    var dlo${q} = gdy[dv${q}];`,
        `    var mlo${q} = gy[dv${q}];`,
      );
      body.push(
        `      dv${q}++;`,
        `      let dhi${q} = gdy[dv${q}];`,
        `      var g${q} = window(dlo${q}, dhi${q}, da${q});`,
        `      dlo${q} = dhi${q};`,
        `      if (relu) {`,
        `        let mhi${q} = gy[dv${q}];`,
        `        g${q} = select(vec4f(0.0), g${q}, window(mlo${q}, mhi${q}, da${q}) > vec4f(0.0));`,
        `        mlo${q} = mhi${q};`,
        `      }`,
        `      g${q} = select(vec4f(0.0), g${q}, cols);`,
      );
    } else {
      body.push(`      let g${q} = gdy[d${q} + j];`);
    }
    body.push(`      bs${q} += g${q};`);
  }
  const xstep = f.scalarX ? 4 * s : s;
  for (let c = 0; c < tci; c++) {
    // Input channels past ci read a valid plane (clamped); their sums are never stored.
    setup.push(`    let xi${c} = xrow + min(c0 + ${c}u, ci - 1u) * xplane;`);
    for (let ky = 0; ky < kh; ky++) {
      let el: (e: number) => string;
      const at = (e: number) => `gx[xi${c} + j * ${xstep}u + ${ky}u * rw + ${e}u]`;
      if (f.scalarX) {
        const elems = new Set<number>();
        for (let x = 0; x < 4; x++) for (let kx = 0; kx < kw; kx++) elems.add(x * s + kx);
        for (const e of elems) body.push(`      let x${c}_${ky}_${e} = ${at(e)};`);
        el = (e) => `x${c}_${ky}_${e}`;
      } else {
        for (let v = 0; v < tileVecs(kw, s); v++) {
          body.push(`      let x${c}_${ky}_${v} = ${at(v)};`);
        }
        el = (e) => `x${c}_${ky}_${e >> 2}.${LANE[e & 3]}`;
      }
      for (let kx = 0; kx < kw; kx++) {
        const e4 = range(4).map((x) => el(x * s + kx)).join(", ");
        body.push(`      let e${c}_${ky}_${kx} = vec4f(${e4});`);
        for (let q = 0; q < tco; q++) {
          const a = `a${q}_${c}_${ky * kw + kx}`;
          body.push(`      ${a} = fma(g${q}.x, e${c}_${ky}_${kx}.x, ${a});`);
          for (const l of "yzw") {
            body.push(`      ${a} = fma(g${q}.${l}, e${c}_${ky}_${kx}.${l}, ${a});`);
          }
        }
      }
    }
  }
  for (let q = 0; q < tco; q++) {
    store.push(`  if (co0 + ${q}u < co) {`);
    for (let c = 0; c < tci; c++) {
      store.push(
        `    if (c0 + ${c}u < ci) {`,
        `      let o = wbase + ((co0 + ${q}u) * ci + c0 + ${c}u) * kk;`,
      );
      for (let k = 0; k < kk; k++) store.push(`      gpw[o + ${k}u] = a${q}_${c}_${k};`);
      store.push(`    }`);
    }
    store.push(
      `    if (c0 == 0u) { gpb[chunk * co + co0 + ${q}u] = dot(bs${q}, vec4f(1.0)); }`,
      `  }`,
    );
  }
  return fillTemplate(tileGradWeightSrc, {
    S: s,
    KK: kk,
    TCO: tco,
    TCI: tci,
    DECL: decl.join("\n"),
    ROWSETUP: setup.join("\n"),
    BODY: body.join("\n"),
    STORE: store.join("\n"),
  });
}

/**
 * WGSL bindings: [name, element type, access]; binding numbers from 1 in this order. Access
 * "uniform" declares a uniform array of UNIFORM_VEC4S vec4s (the weight scratch).
 */
type Bindings = [string, string, "read" | "read_write" | "uniform"][];

function shader(params: string, bindings: Bindings, fns: string[], main: string): string {
  const decls = bindings.map(([name, type, access], i) =>
    access === "uniform"
      ? `@group(0) @binding(${i + 1}) var<uniform> ${name}: array<vec4f, ${UNIFORM_VEC4S}>;`
      : `@group(0) @binding(${i + 1}) var<storage, ${access}> ${name}: array<${type}>;`
  );
  return [
    `struct Params { ${params} }`,
    "@group(0) @binding(0) var<uniform> p: Params;",
    ...decls,
    "",
    `@compute @workgroup_size(${TILE_WG})`,
    "fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {",
    `  let i = gid.x + gid.y * nwg.x * ${TILE_WG}u;`,
    main,
    "}",
    "",
    tileCommonSrc,
    ...fns,
  ].join("\n");
}

/**
 * Where a kernel reads the weight: the raw [co, ci, kh, kw] floats or packed vec4s
 * (conv2d_pack.wgsl), from a storage buffer or copied into the uniform weight scratch
 * (uniform loads with varying indices are real gathers on llvmpipe, much cheaper than storage
 * loads, which run a loop over the lanes).
 */
type WeightMode = "raw" | "packed" | "uniform-raw" | "uniform";

function weightBinding(mode: WeightMode): Bindings[number] {
  if (mode.startsWith("uniform")) return ["fwt", "vec4f", "uniform"];
  return ["fwt", mode === "raw" ? "f32" : "vec4f", "read"];
}

/**
 * Forward tile kernel: bindings fx, fwt, [fbias], fy, [fidx]; uniform FwParams. Also the input
 * gradient (no bias).
 */
function forwardKernel(f: FwConfig): Kernel {
  const name = `conv2d_tile_${f.bias ? "forward" : "grad_input"}_${f.kh}x${f.kw}_s${f.s}` +
    `_${f.weights}${f.scalarX ? "_xs" : ""}_${f.tco}x${f.py}${f.pool ? "_pool" : ""}`;
  return cached(name, () =>
    shader(
      "fw: FwParams",
      [
        ["fx", f.scalarX ? "f32" : "vec4f", "read"],
        weightBinding(f.weights),
        ...(f.bias ? [["fbias", "f32", "read"] as Bindings[number]] : []),
        ["fy", "f32", "read_write"],
        ...(f.pool ? [["fidx", "u32", "read_write"] as Bindings[number]] : []),
      ],
      [forwardFn(f)],
      "  tile_forward(i);",
    ));
}

/** Weight/bias-gradient tile kernel: bindings gx, gdy, [gy], gpw, gpb; uniform GwParams. */
function gradWeightKernel(gw: GwConfig): Kernel {
  const name = `conv2d_tile_grad_weight_${gw.kh}x${gw.kw}_s${gw.s}_${gw.tco}x${gw.tci}` +
    `${gw.scalarX ? "_xs" : ""}${gw.rawDy ? "_dyraw" : ""}`;
  return cached(name, () =>
    shader(
      "gw: GwParams",
      [
        ["gx", gw.scalarX ? "f32" : "vec4f", "read"],
        ["gdy", "vec4f", "read"],
        ...(gw.rawDy ? [["gy", "vec4f", "read"] as Bindings[number]] : []),
        ["gpw", "f32", "read_write"],
        ["gpb", "f32", "read_write"],
      ],
      [gradWeightFn(gw)],
      "  tile_grad_weight(i);",
    ));
}

/** vec4s in the uniform weight scratch (64 KiB: WebGPU's default uniform binding limit). */
const UNIFORM_VEC4S = 4096;
const scratch = new WeakMap<GPUDevice, GPUBuffer>();

/**
 * Binds a weight (`packed` by conv2d_pack.wgsl, or raw) for a tile kernel: copied into a
 * uniform scratch buffer when it fits, else the storage buffer itself. One scratch per device
 * serves every call: commands run in order, so each dispatch reads the copy recorded before it.
 */
function weightOperand(
  w: Tensor,
  packed: boolean,
): { mode: WeightMode; binding: GPUBuffer | BufferBinding } {
  const bytes = w.size * 4;
  const device = rt().device;
  if (
    bytes > UNIFORM_VEC4S * 16 || device.limits.maxUniformBufferBindingSize < UNIFORM_VEC4S * 16
  ) {
    return { mode: packed ? "packed" : "raw", binding: w.binding };
  }
  let buffer = scratch.get(device);
  if (!buffer) {
    // UNIFORM | COPY_DST; lives as long as the device (64 KiB), outside the tensor pool.
    buffer = device.createBuffer({ size: UNIFORM_VEC4S * 16, usage: 0x40 | 0x08 });
    scratch.set(device, buffer);
  }
  rt().copy(w.buffer, w.offset, buffer, 0, bytes);
  return { mode: packed ? "uniform" : "uniform-raw", binding: buffer };
}

// ------------------------------------------------------------------ tiled path

/** A zero-padded, row-aligned copy of an NCHW tensor (see conv2d_pack.wgsl). */
interface Padded {
  /** Rows and vec4 columns per plane. */
  hp: number;
  wp4: number;
  /** Where element (0, 0) of a plane lands. */
  pt: number;
  pl: number;
}

const ceil = (a: number, b: number) => Math.ceil(a / b);

/**
 * A binding of `t` as whole vec4s: its bytes rounded up to 16 (pooled buffers are sized in
 * larger steps, so the rounding stays inside the buffer; the extra floats are never used).
 */
function vec4View(t: Tensor): BufferBinding {
  const size = ceil(t.size, 4) * 16;
  if (size > t.capacity) throw new Error("facekit: conv2d needs 16-byte-sized buffers");
  return { buffer: t.buffer, offset: t.offset, size };
}

/**
 * One prep dispatch: pads `src` ([planes, h, w], masked by `mask > 0` when given, dilated by
 * `dil`) into a new tensor with layout `pad` (and, when `second` is given, into a second tensor
 * with that layout), and packs `weight` (when `pack` is given) into vec4s of 4 channels. With
 * `unpool` (window positions of a fused 2×2 max-pool), src and mask are the pooled
 * [planes, h/2, w/2] gradient and output, unpooled on the way.
 */
function prep(
  src: Tensor,
  planes: number,
  h: number,
  w: number,
  pad: Padded,
  mask: Tensor | null,
  weight: Tensor,
  g: Geometry,
  pack: "forward" | "flipped" | null,
  dil = 1,
  second: { pad: Padded; dil: number } | null = null,
  unpool: Tensor | null = null,
): { padded: Tensor; packed: Tensor | null; padded2: Tensor | null } {
  const padded = Tensor.empty([planes, pad.hp, pad.wp4 * 4]);
  // Without a second layout, job 3 has no threads and binding 6 gets a scratch tensor (two
  // writable bindings of one buffer would alias).
  const padded2 = Tensor.empty(second ? [planes, second.pad.hp, second.pad.wp4 * 4] : [4]);
  const kk = g.kh * g.kw;
  // forward: channels = co, reduced over ci; flipped (input gradient): channels = ci, over co.
  const [nch, red, sCh, sRed] = pack === "flipped"
    ? [g.ci, g.co, kk, g.ci * kk]
    : [g.co, g.ci, g.ci * kk, kk];
  const packThreads = pack ? ceil(nch, 4) * red * kk : 0;
  const packed = Tensor.empty([Math.max(1, packThreads), 4]);
  const layout = (l: Padded, d: number) => [l.hp, l.wp4, l.pt, l.pl, d, planes * l.hp, 0, 0];
  const first = layout(pad, dil);
  const other = second ? layout(second.pad, second.dil) : [1, 1, 0, 0, 1, 0, 0, 0];
  rt().dispatch(
    PACK,
    [
      vec4View(src),
      vec4View(mask ?? src),
      weight.binding,
      padded.binding,
      packed.binding,
      padded2.binding,
      (unpool ?? src).binding,
    ],
    first[5] + packThreads + other[5],
    params([
      planes,
      h,
      w,
      (mask ? 1 : 0) | (pack === "flipped" ? 2 : 0) | (unpool ? 4 : 0),
      nch,
      red,
      kk,
      sCh,
      sRed,
      packThreads,
      0,
      0,
      ...first,
      ...other,
    ]),
  );
  if (!second) padded2.dispose();
  if (!pack) packed.dispose();
  return { padded, packed: pack ? packed : null, padded2: second ? padded2 : null };
}

/** How the tile kernels see an input: planes of hp rows × rw vec4s (or floats, `scalar`). */
interface Rows {
  hp: number;
  rw: number;
  scalar: boolean;
}

type FwDims = { n: number; ci: number; co: number; oh: number; ow: number };

/**
 * Output channels per forward tile thread: 8 (twice the FMAs per input load; measured 1.2× on
 * ResNet-18 steps here) unless that leaves 4 or more channels of the last tile idle.
 */
function fwTco(co: number): number {
  return ceil(co, 8) * 8 - co < 4 ? 8 : 4;
}

/** Register tile of a forward pass: output channels and rows per thread. */
interface FwTile {
  tco: number;
  py: number;
}

function fwTile(d: FwDims): FwTile {
  const tco = fwTco(d.co);
  const threads = (py: number) => d.n * ceil(d.co, tco) * ceil(d.oh, py) * ceil(d.ow, 4);
  const py = TILE_ROWS.find((py) => threads(py) >= TALL_TILE_MIN_THREADS) ?? TILE_ROWS.at(-1)!;
  return { tco, py };
}

const outputDims = (g: Geometry): FwDims => ({ n: g.n, ci: g.ci, co: g.co, oh: g.oh, ow: g.ow });
/** The input gradient as a forward pass (a transposed convolution over dy). */
const gradInputDims = (g: Geometry): FwDims => ({ n: g.n, ci: g.co, co: g.ci, oh: g.h, ow: g.w });

/** FwParams words of a forward tile pass producing out[n, co, oh, ow]. */
function fwWords(d: FwDims, xr: Rows, flags: number, t: FwTile): number[] {
  const nbx = ceil(d.ow, 4);
  const nby = ceil(d.oh, t.py);
  const ncb = ceil(d.co, t.tco);
  const threads = d.n * ncb * nby * nbx;
  return [d.n, d.ci, d.co, d.oh, d.ow, xr.hp, xr.rw, nbx, nby, ncb, flags, threads];
}

/** Padded-input layout for the forward tiles: covers every read of the overhanging tiles. */
function forwardPadding(g: Geometry, py: number): Padded {
  const nbx = ceil(g.ow, 4);
  const nby = ceil(g.oh, py);
  return {
    pt: g.pad,
    pl: g.pad,
    hp: Math.max(g.pad + g.h, (nby * py - 1) * g.stride + g.kh),
    wp4: Math.max(ceil(g.pad + g.w, 4), (nbx - 1) * g.stride + tileVecs(g.kw, g.stride)),
  };
}

/**
 * Storage loads (in units of about one scalar load per 8 lanes) that reading an unpadded input
 * as floats costs over an aligned vec4 copy, in the forward and the weight gradient, below
 * which skipping the prep dispatch (about that much time on llvmpipe) wins.
 */
const SCALAR_INPUT_LOADS = 16384;

/**
 * How the forward reads x without a prep dispatch, or null for a padded copy. Unpadded rows
 * of whole vec4s are read in place; small unpadded inputs in place as floats. Overhanging tiles
 * then read past a row or plane (or past the buffer, which WebGPU clamps): only results that
 * are never stored depend on those reads.
 */
function inPlaceRows(g: Geometry, t: FwTile): Rows | null {
  if (g.pad !== 0) return null;
  if (g.w % 4 === 0) return { hp: g.h, rw: g.w / 4, scalar: false };
  const ncb = ceil(g.co, 4);
  const fwThreads = g.n * ceil(g.co, t.tco) * ceil(g.oh, t.py) * ceil(g.ow, 4);
  const extra = 2 * fwThreads * g.ci + ncb * g.ci * g.n * g.oh * ceil(g.ow, 4);
  return extra <= SCALAR_INPUT_LOADS ? { hp: g.h, rw: g.w, scalar: true } : null;
}

/**
 * Whether the input gradient can run as forward tiles over padded (for stride > 1 also
 * dilated) dy: a transposed convolution, whose padding k-1-pad must not be negative.
 */
function fastGradInput(g: Geometry): boolean {
  return g.pad <= g.kh - 1 && g.pad <= g.kw - 1;
}

/**
 * Layouts of padded dy. `gw`: rows of whole vec4s, zero past ow, for the weight gradient, which
 * reads dy as vec4s of 4 output columns. `gi` (fast input gradient only): dy dilated by the
 * stride and padded by k-1-pad (the transposed convolution's padding). They are one buffer
 * when the gi layout keeps dy's columns vec4-aligned (stride 1, left pad a multiple of 4);
 * else two copies, cheaper than tiles shifted off the vec4 grid (a 3×3 tile shifted by 3
 * columns loads 3 vec4s a row instead of 2: measured 1.5× slower).
 */
function gradPadding(g: Geometry, fast: boolean): { gw: Padded; gi: Padded | null } {
  const plain = { pt: 0, pl: 0, hp: g.oh, wp4: ceil(g.ow, 4) };
  if (!fast) return { gw: plain, gi: null };
  const s = g.stride;
  const pt = g.kh - 1 - g.pad;
  const pl = g.kw - 1 - g.pad;
  const nbx = ceil(g.w, 4);
  const { py } = fwTile(gradInputDims(g));
  const nby = ceil(g.h, py);
  const gi = {
    pt,
    pl,
    hp: Math.max(pt + (g.oh - 1) * s + 1, (nby * py - 1) + g.kh),
    wp4: Math.max(ceil(pl + (g.ow - 1) * s + 1, 4), (nbx - 1) + tileVecs(g.kw, 1)),
  };
  return { gw: s === 1 && pl % 4 === 0 ? gi : plain, gi };
}

/**
 * Split-K chunks for the weight gradient: none while the 4-channel × 1-input-channel threads
 * alone fill a few workgroups for the cores (a split costs a reduce dispatch), else enough to
 * reach TILE_TARGET_THREADS. (Not splitting the IMM networks' small layers either, which saves
 * their 3–5 reduce dispatches, measured no faster here.)
 */
const TILE_TARGET_THREADS = 2048;
const TILE_UNSPLIT_THREADS = 48;

/**
 * Input channels up to which the weight gradient of a layer whose input needs no gradient
 * (a network's first) reads dy in place and masks it itself: each dy value is then loaded only
 * that many times, cheaper than a prep dispatch.
 */
const RAW_DY_MAX_CI = 4;

/**
 * Output channels per weight-gradient thread: the largest of GW_TCO that leaves under half a
 * tile idle. Each dy load feeds tci·taps FMAs and each x load tco·4, so bigger tiles win on
 * llvmpipe where loads are the cost (ResNet-18 step: 4×1 → 16×2 measured 1.7× faster).
 */
const GW_TCO = [16, 12, 8, 4];
const GW_TCI = 2;

/** Register tile, thread count and split-K chunks of the weight gradient. */
function gwPlan(g: Geometry) {
  const tco = GW_TCO.find((t) => ceil(g.co, t) * t - g.co < t / 2) ?? 4;
  const tci = Math.min(GW_TCI, g.ci);
  const ncb = ceil(g.co, tco);
  const perChunk = ncb * ceil(g.ci, tci);
  const rows = g.n * g.oh;
  const want = perChunk >= TILE_UNSPLIT_THREADS ? 1 : ceil(TILE_TARGET_THREADS, perChunk);
  const rowsPerChunk = ceil(rows, Math.max(1, Math.min(rows, want)));
  const chunks = ceil(rows, rowsPerChunk);
  return { tco, tci, ncb, perChunk, rowsPerChunk, chunks };
}

function tiledBackward(
  dy: Tensor,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  y: Tensor,
  xt: Tensor,
  xr: Rows,
  g: Geometry,
  relu: boolean,
  unpool: Tensor | null,
): (Tensor | null)[] {
  // dy is pooled when `unpool` is given: only a prep can unpool it.
  const rawDy = !x.requiresGrad && g.ci <= RAW_DY_MAX_CI && !unpool;
  let fast = x.requiresGrad && fastGradInput(g);
  const gi = gradPadding(g, fast).gi;
  if (gi && !fits(g.n * g.co * gi.hp * gi.wp4 * 16)) fast = false;
  const { gw: dpad, gi: ipad } = gradPadding(g, fast);
  const mask = relu ? y : null;
  const planes = g.n * g.co;
  let dyp = dy;
  let dyd = dy;
  let wq: Tensor | null = null;
  if (!rawDy) {
    // Where the layouts differ, the same dispatch writes a second copy of dy for the input
    // gradient (strided: dilated, 4× the MACs for stride 2, still far faster than the direct
    // kernel).
    const second = ipad && ipad !== dpad ? { pad: ipad, dil: g.stride } : null;
    const p = prep(
      dy,
      planes,
      g.oh,
      g.ow,
      dpad,
      mask,
      weight,
      g,
      fast ? "flipped" : null,
      1,
      second,
      unpool,
    );
    dyp = p.padded;
    wq = p.packed;
    dyd = p.padded2 ?? dyp;
  }
  const dx = x.requiresGrad ? Tensor.empty([g.n, g.ci, g.h, g.w]) : null;
  if (dx && !fast) {
    rt().dispatch(
      GRAD_INPUT,
      [dyp.binding, weight.binding, dx.binding],
      g.n * ceil(g.ci, 4) * g.h * g.w,
      params([...words(g, 0), dpad.hp, dpad.wp4 * 4, dpad.pt, dpad.pl]),
    );
  }
  // The weight and bias gradients are always computed (one code path; autograd drops what is
  // not needed, which for a conv means frozen weights).
  const wsize = g.co * g.ci * g.kh * g.kw;
  const { tco, tci, ncb, perChunk, rowsPerChunk, chunks } = gwPlan(g);
  const dw = gradientFor(weight, [g.co, g.ci, g.kh, g.kw]);
  const db = bias ? gradientFor(bias, [g.co]) : null;
  const pw = chunks === 1 ? dw : Tensor.empty([chunks, wsize]);
  const pb = chunks === 1 && db ? db : Tensor.empty([chunks, g.co]);
  const dyWords = rawDy ? [g.oh, g.ow, 0, 0] : [dpad.hp, dpad.wp4, dpad.pt, dpad.pl / 4];
  const gw = [g.n, g.ci, g.co, g.oh, xr.hp, xr.rw, ...dyWords, ceil(g.ow, 4), rowsPerChunk];
  gw.push(ncb, chunks * perChunk, g.ow, rawDy && relu ? 1 : 0);
  const gwBindings = [
    xt.binding,
    rawDy ? vec4View(dy) : dyp.binding,
    ...(rawDy ? [vec4View(mask ?? dy)] : []),
    pw.binding,
    pb.binding,
  ];
  const gwConfig = { kh: g.kh, kw: g.kw, s: g.stride, scalarX: xr.scalar, rawDy, tco, tci };
  if (fast) {
    const d = gradInputDims(g);
    const t = fwTile(d);
    const fw = fwWords(d, rowsOf(ipad!), 0, t);
    const w = weightOperand(wq!, true);
    const f = { kh: g.kh, kw: g.kw, s: 1, scalarX: false, weights: w.mode, bias: false };
    rt().dispatch(
      forwardKernel({ ...f, ...t }),
      [dyd.binding, w.binding, dx!.binding],
      fw[FW_WORDS - 1],
      params(fw),
    );
  }
  rt().dispatch(gradWeightKernel(gwConfig), gwBindings, chunks * perChunk, params(gw));
  if (chunks > 1) {
    const sink = db ?? Tensor.empty([1]);
    const count = wsize + (db ? g.co : 0);
    rt().dispatch(
      REDUCE,
      [pw.binding, pb.binding, dw.binding, sink.binding],
      count,
      params([chunks, wsize, g.co, count]),
    );
    if (sink !== db) sink.dispose();
    pw.dispose();
  }
  if (pb !== db) pb.dispose();
  wq?.dispose();
  if (dyd !== dyp) dyd.dispose();
  if (dyp !== dy) dyp.dispose();
  return [dx, dw, db];
}

const rowsOf = (pad: Padded): Rows => ({ hp: pad.hp, rw: pad.wp4, scalar: false });

/** Whether `bytes` fit in one storage binding. */
const fits = (bytes: number) => bytes <= rt().maxBindingBytes;

/**
 * Whether the tiled path's operands fit in one storage binding each (the padded dy of the fast
 * input gradient is checked in the backward, which else uses the direct kernel).
 */
function tiledFits(g: Geometry): boolean {
  const xpad = forwardPadding(g, fwTile(outputDims(g)).py);
  const { gw: dpad } = gradPadding(g, false);
  const kk = g.kh * g.kw;
  return [
    g.n * g.ci * xpad.hp * xpad.wp4 * 16,
    g.n * g.co * dpad.hp * dpad.wp4 * 16,
    ceil(g.co, 4) * g.ci * kk * 16,
    ceil(g.ci, 4) * g.co * kk * 16,
    ceil(TILE_TARGET_THREADS, g.ci) * g.co * g.ci * kk * 4,
  ].every(fits);
}

// ------------------------------------------------------------------ public op

/** `y = conv2d(x, weight) + bias` (then ReLU when `relu` is set). */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  o: Conv2dOptions = {},
): Tensor {
  const g = geometry(x.shape, weight.shape, o);
  if (bias && bias.size !== g.co) throw new Error(`facekit: conv2d bias must have ${g.co} values`);
  if (o.pool && (g.oh < 2 || g.ow < 2)) {
    throw new Error(`facekit: conv2d output ${g.oh}×${g.ow} is too small for a 2×2 max-pool`);
  }
  if (!tiledFits(g)) {
    const y = directConv2d(x, weight, bias, g, !!o.relu);
    return o.pool ? maxPool2d(y, { kernel: 2 }) : y;
  }
  const pool = !!o.pool;
  const y = Tensor.empty(pool ? [g.n, g.co, g.oh >> 1, g.ow >> 1] : [g.n, g.co, g.oh, g.ow]);
  // Window positions of the fused max-pool (u32 in f32-sized slots).
  const idx = pool ? Tensor.empty(y.shape) : null;
  const flags = (bias ? 1 : 0) | (o.relu ? 2 : 0);
  const tile = fwTile(outputDims(g));
  let xr = inPlaceRows(g, tile);
  let xt = x;
  let wp: Tensor | null = null;
  if (!xr) {
    const xpad = forwardPadding(g, tile.py);
    ({ padded: xt, packed: wp } = prep(x, g.n * g.ci, g.h, g.w, xpad, null, weight, g, "forward"));
    xr = rowsOf(xpad);
  }
  // Without a prep the weight is read unpacked (4 loads a tap instead of 1).
  const fw = fwWords(g, xr, flags, tile);
  const w = weightOperand(wp ?? weight, wp !== null);
  rt().dispatch(
    forwardKernel({
      kh: g.kh,
      kw: g.kw,
      s: g.stride,
      scalarX: xr.scalar,
      weights: w.mode,
      bias: true,
      ...tile,
      pool,
    }),
    [xt.binding, w.binding, (bias ?? weight).binding, y.binding, ...(idx ? [idx.binding] : [])],
    fw[FW_WORDS - 1],
    params(fw),
  );
  wp?.dispose();
  // The weight gradient reads the input as the forward did; a padded copy lives until the
  // backward pass has run.
  const saved = [...(xt !== x ? [xt] : []), ...(idx ? [idx] : [])];
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const rows = xr;
  return record(
    y,
    "conv2d",
    inputs,
    (dy) => tiledBackward(dy, x, weight, bias, y, xt, rows, g, !!o.relu, idx),
    saved,
  );
}

// ------------------------------------------------------------------ direct path

function directConv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  g: Geometry,
  relu: boolean,
): Tensor {
  const y = Tensor.empty([g.n, g.co, g.oh, g.ow]);
  const flags = (bias ? 1 : 0) | (relu ? 2 : 0);
  rt().dispatch(
    FORWARD,
    [x.binding, weight.binding, (bias ?? weight).binding, y.binding],
    g.n * ceil(g.co, 4) * g.oh * g.ow,
    params(words(g, flags)),
  );
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(y, "conv2d", inputs, (dy) => {
    // A fused ReLU's gradient is the output mask; y is alive until this node has run.
    const gy = relu ? reluMask(y, dy) : dy;
    const grads = [
      x.requiresGrad ? directGradInput(gy, weight, g) : null,
      weight.requiresGrad ? directGradWeight(x, gy, gradientFor(weight, weight.shape), g) : null,
      bias?.requiresGrad ? reduceSum(gy, g.n, g.co, g.oh * g.ow, gradientFor(bias, [g.co])) : null,
    ];
    if (gy !== dy) gy.dispose();
    return grads;
  });
}

function directGradInput(dy: Tensor, weight: Tensor, g: Geometry): Tensor {
  const dx = Tensor.empty([g.n, g.ci, g.h, g.w]);
  rt().dispatch(
    GRAD_INPUT,
    [dy.binding, weight.binding, dx.binding],
    g.n * ceil(g.ci, 4) * g.h * g.w,
    params([...words(g, 0), g.oh, g.ow, 0, 0]),
  );
  return dx;
}

/** Threads wanted for a split-K reduction to keep both a CPU's and a GPU's cores busy. */
const TARGET_THREADS = 8192;

/** Writes the weight gradient into `dw` [co, ci, kh, kw] and returns it. */
function directGradWeight(x: Tensor, dy: Tensor, dw: Tensor, g: Geometry): Tensor {
  const wsize = g.co * g.ci * g.kh * g.kw;
  const rows = g.n * g.oh;
  const chunks = Math.max(1, Math.min(rows, Math.ceil(TARGET_THREADS / wsize)));
  const rowsPerChunk = Math.ceil(rows / chunks);
  const used = Math.ceil(rows / rowsPerChunk);
  const partial = used === 1 ? dw : Tensor.empty([used, wsize]);
  rt().dispatch(
    GRAD_WEIGHT,
    [x.binding, dy.binding, partial.binding],
    wsize * used,
    params([...words(g, rowsPerChunk), used]),
  );
  if (partial === dw) return dw;
  reduceSum(partial, used, wsize, 1, dw);
  partial.dispose();
  return dw;
}

/** Float64 CPU reference of {@link conv2d} (for tests). */
export function conv2dReference(
  x: Float64Array,
  xShape: readonly number[],
  weight: Float64Array,
  wShape: readonly number[],
  bias: Float64Array | null,
  o: Conv2dOptions = {},
): { data: Float64Array; shape: number[] } {
  const g = geometry(xShape, wShape, o);
  const y = new Float64Array(g.n * g.co * g.oh * g.ow);
  for (let n = 0; n < g.n; n++) {
    for (let co = 0; co < g.co; co++) {
      for (let oy = 0; oy < g.oh; oy++) {
        for (let ox = 0; ox < g.ow; ox++) {
          let acc = bias ? bias[co] : 0;
          for (let c = 0; c < g.ci; c++) {
            for (let ky = 0; ky < g.kh; ky++) {
              const iy = oy * g.stride + ky - g.pad;
              if (iy < 0 || iy >= g.h) continue;
              for (let kx = 0; kx < g.kw; kx++) {
                const ix = ox * g.stride + kx - g.pad;
                if (ix < 0 || ix >= g.w) continue;
                acc += x[((n * g.ci + c) * g.h + iy) * g.w + ix] *
                  weight[((co * g.ci + c) * g.kh + ky) * g.kw + kx];
              }
            }
          }
          y[((n * g.co + co) * g.oh + oy) * g.ow + ox] = o.relu ? Math.max(acc, 0) : acc;
        }
      }
    }
  }
  return { data: y, shape: [g.n, g.co, g.oh, g.ow] };
}
