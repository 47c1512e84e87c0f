/**
 * Convolutions and pooling over NCHW tensors. A transposed convolution is the
 * convolution's three kernels with the roles of input and output swapped: its
 * forward is the convolution's backward-data, and so on.
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import { record } from "../autograd/tape.ts";
import { Tensor } from "../autograd/tensor.ts";
import { convOutSize, expect, expectRank, sameBackend } from "./check.ts";
import { biasAdd } from "./linalg.ts";

/** Stride, padding (and output padding, transposed only) per axis, or one number for both. */
export interface ConvOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
}

/** Options of a transposed convolution. */
export interface ConvTransposeOptions extends ConvOptions {
  outputPadding?: number | [number, number];
}

/** Parameters after the first three (the storages). */
type AfterStorages<F> = F extends (a: never, b: never, c: never, ...rest: infer R) => void ? R
  : never;
/** A convolution's geometry in the order its kernels take it: n, c, h, w, k, kh, kw, sh, sw, ph, pw, oh, ow. */
type ConvGeometry = AfterStorages<Backend["conv2dForward"]>;
/** A pooling window's geometry: as a convolution's without k. */
type PoolGeometry = AfterStorages<Backend["maxpoolBackward"]> extends [...infer G, boolean] ? G
  : never;

const pair = (v: number | [number, number] | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === "number" ? [v, v] : v;

function checkWindow(
  op: string,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  ph: number,
  pw: number,
): void {
  expect(
    sh >= 1 && sw >= 1 && Number.isInteger(sh) && Number.isInteger(sw),
    op,
    `stride must be >= 1`,
  );
  expect(
    ph >= 0 && pw >= 0 && Number.isInteger(ph) && Number.isInteger(pw),
    op,
    `padding must be >= 0`,
  );
  expect(kh >= 1 && kw >= 1, op, "kernel must be >= 1");
}

/** 2-d convolution: x (n, c, h, w), weight (k, c, kh, kw), optional bias (k). */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor | null, opts: ConvOptions = {}): Tensor {
  const op = "conv2d";
  expectRank(op, x, 4, "input");
  expectRank(op, w, 4, "weight");
  sameBackend(op, x, w);
  const [n, c, h, wd] = x.shape;
  const [k, wc, kh, kw] = w.shape;
  expect(wc === c, op, `input has ${c} channels but the weight expects ${wc}`, x, w);
  const [sh, sw] = pair(opts.stride, 1);
  const [ph, pw] = pair(opts.padding, 0);
  checkWindow(op, kh, kw, sh, sw, ph, pw);
  const oh = convOutSize(h, kh, sh, ph);
  const ow = convOutSize(wd, kw, sw, pw);
  expect(oh >= 1 && ow >= 1, op, "the kernel is larger than the padded input", x, w);
  const g: ConvGeometry = [n, c, h, wd, k, kh, kw, sh, sw, ph, pw, oh, ow];
  const be = x.backend;
  const y = Tensor.empty(be, [n, k, oh, ow]);
  be.conv2dForward(x.storage, w.storage, y.storage, ...g);
  record(op, y, [x, w], (gy, ctx) => {
    const dx = ctx.slot(x);
    if (dx) be.conv2dBackwardData(gy, w.storage, dx.g, ...g, dx.acc);
    const dw = ctx.slot(w);
    if (dw) be.conv2dBackwardFilter(x.storage, gy, dw.g, ...g, dw.acc);
  });
  return b ? biasAdd(y, b) : y;
}

/**
 * Transposed 2-d convolution: x (n, cin, h, w), weight (cin, cout, kh, kw) as
 * PyTorch lays it out, output (n, cout, (h-1) s - 2p + kh + op, ...).
 */
export function convTranspose2d(
  x: Tensor,
  w: Tensor,
  b?: Tensor | null,
  opts: ConvTransposeOptions = {},
): Tensor {
  const op = "convTranspose2d";
  expectRank(op, x, 4, "input");
  expectRank(op, w, 4, "weight");
  sameBackend(op, x, w);
  const [n, cin, h, wd] = x.shape;
  const [wc, cout, kh, kw] = w.shape;
  expect(wc === cin, op, `input has ${cin} channels but the weight expects ${wc}`, x, w);
  const [sh, sw] = pair(opts.stride, 1);
  const [ph, pw] = pair(opts.padding, 0);
  const [oph, opw] = pair(opts.outputPadding, 0);
  checkWindow(op, kh, kw, sh, sw, ph, pw);
  expect(
    oph >= 0 && opw >= 0 && oph < sh && opw < sw,
    op,
    "output padding must be >= 0 and < stride",
  );
  const oh = (h - 1) * sh - 2 * ph + kh + oph;
  const ow = (wd - 1) * sw - 2 * pw + kw + opw;
  expect(oh >= 1 && ow >= 1, op, "the output would be empty", x, w);
  // The convolution whose backward-data this is: it maps (cout, oh, ow) to (cin, h, wd).
  const g: ConvGeometry = [n, cout, oh, ow, cin, kh, kw, sh, sw, ph, pw, h, wd];
  const be = x.backend;
  const y = Tensor.empty(be, [n, cout, oh, ow]);
  be.conv2dBackwardData(x.storage, w.storage, y.storage, ...g, false);
  record(op, y, [x, w], (gy, ctx) => {
    const dx = ctx.slot(x);
    if (dx) {
      if (dx.acc) {
        const t = Tensor.empty(be, x.shape);
        be.conv2dForward(gy, w.storage, t.storage, ...g);
        be.axpby(dx.g, 1, t.storage, 1, x.size);
        t.dispose();
      } else be.conv2dForward(gy, w.storage, dx.g, ...g);
    }
    const dw = ctx.slot(w);
    if (dw) be.conv2dBackwardFilter(gy, x.storage, dw.g, ...g, dw.acc);
  });
  return b ? biasAdd(y, b) : y;
}

/** Options of max pooling; stride defaults to the kernel size. */
export interface PoolOptions {
  kernel: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
}

/** 2-d max pooling over (n, c, h, w); padding counts as -infinity. */
export function maxPool2d(x: Tensor, opts: PoolOptions): Tensor {
  const op = "maxPool2d";
  expectRank(op, x, 4, "input");
  const [n, c, h, wd] = x.shape;
  const [kh, kw] = pair(opts.kernel, 1);
  const [sh, sw] = pair(opts.stride ?? opts.kernel, 1);
  const [ph, pw] = pair(opts.padding, 0);
  checkWindow(op, kh, kw, sh, sw, ph, pw);
  expect(2 * ph <= kh && 2 * pw <= kw, op, "padding must be at most half the kernel");
  const oh = convOutSize(h, kh, sh, ph);
  const ow = convOutSize(wd, kw, sw, pw);
  expect(oh >= 1 && ow >= 1, op, "the window is larger than the padded input", x);
  const g: PoolGeometry = [n, c, h, wd, kh, kw, sh, sw, ph, pw, oh, ow];
  const be = x.backend;
  const y = Tensor.empty(be, [n, c, oh, ow]);
  be.maxpoolForward(x.storage, y.storage, ...g);
  record(op, y, [x], (gy, ctx) => {
    const dx = ctx.slot(x);
    if (dx) be.maxpoolBackward(x.storage, gy, dx.g, ...g, dx.acc);
  });
  return y;
}

/** Mean over the spatial axes: (n, c, h, w) to (n, c). */
export function globalAvgPool2d(x: Tensor): Tensor {
  const op = "globalAvgPool2d";
  expectRank(op, x, 4, "input");
  const [n, c, h, wd] = x.shape;
  const be = x.backend;
  const y = Tensor.empty(be, [n, c]);
  be.globalAvgpoolForward(x.storage, y.storage, n * c, h * wd);
  record(op, y, [x], (gy, ctx) => {
    const dx = ctx.slot(x);
    if (dx) be.globalAvgpoolBackward(gy, dx.g, n * c, h * wd, dx.acc);
  });
  return y;
}
