/**
 * The float32 library's convolutions (oneDNN, native/conv_dnnl.c) against the
 * float64 library's (im2col, native/conv.c, which the gradient checks pin):
 * forward, backward data and backward weights, each writing and accumulating,
 * agree within float32 rounding on random geometries, and repeat bit for bit.
 */
import assert from "node:assert/strict";
import { scope, Tensor } from "../src/autograd/tensor.ts";
import type { Backend } from "../src/backend/backend.ts";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { mulberry32, randomArray } from "./gradcheck.ts";

const be32 = await createCpuBackend("f32");
const be64 = await createCpuBackend("f64");

/** n, c, h, w, k, kh, kw, sh, sw, ph, pw. */
type Geometry = [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
];

type Rand = () => number;
const values = (count: number, rand: Rand) => Array.from(randomArray(count, rand));

/** The three passes of one geometry on one backend; `acc` adds to a given start. */
function passes(be: Backend, g: Geometry, data: Record<string, number[]>, acc: boolean) {
  const [n, c, h, w, k, kh, kw, sh, sw, ph, pw] = g;
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1, ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const geo = [n, c, h, w, k, kh, kw, sh, sw, ph, pw, oh, ow] as const;
  const t = (v: number[], shape: number[]) => Tensor.from(be, v, shape);
  const x = t(data.x, [n, c, h, w]),
    wt = t(data.w, [k, c, kh, kw]),
    dy = t(data.dy, [n, k, oh, ow]);
  const y = t(data.y, [n, k, oh, ow]),
    dx = t(data.dx, [n, c, h, w]),
    dw = t(data.dw, [k, c, kh, kw]);
  if (!acc) be.conv2dForward(x.storage, wt.storage, y.storage, ...geo);
  be.conv2dBackwardData(dy.storage, wt.storage, dx.storage, ...geo, acc);
  be.conv2dBackwardFilter(x.storage, dy.storage, dw.storage, ...geo, acc);
  return { y: y.toArray(), dx: dx.toArray(), dw: dw.toArray() };
}

function sizes(g: Geometry) {
  const [n, c, h, w, k, kh, kw, sh, sw, ph, pw] = g;
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1, ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  return { x: n * c * h * w, w: k * c * kh * kw, y: n * k * oh * ow };
}

function randomGeometry(rng: Rand): Geometry {
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const kh = int(1, 5), kw = int(1, 5), sh = int(1, 3), sw = int(1, 3);
  const ph = int(0, kh - 1), pw = int(0, kw - 1);
  return [int(1, 5), int(1, 9), int(kh, 13), int(kw, 13), int(1, 9), kh, kw, sh, sw, ph, pw];
}

const GEOMETRIES: Geometry[] = [
  [4, 128, 16, 16, 128, 3, 3, 1, 1, 1, 1], // Conv-Large's 3x3 layers
  [2, 3, 32, 32, 128, 3, 3, 1, 1, 1, 1], // its first layer
  [3, 16, 28, 28, 32, 4, 4, 2, 2, 1, 1], // the conv generator's stride-2 4x4
  [2, 8, 15, 15, 4, 4, 4, 2, 2, 1, 1], // a transposed conv's input one larger than the floor needs
  [2, 6, 9, 9, 5, 1, 1, 1, 1, 0, 0], // 1x1
];

Deno.test("conv backends: oneDNN's float32 passes match im2col's float64 within rounding", () => {
  scope(() => {
    const rng = mulberry32(2024);
    const all = [...GEOMETRIES, ...Array.from({ length: 40 }, () => randomGeometry(rng))];
    for (const g of all) {
      const s = sizes(g);
      const data = {
        x: values(s.x, rng),
        w: values(s.w, rng),
        dy: values(s.y, rng),
        y: values(s.y, rng),
        dx: values(s.x, rng),
        dw: values(s.w, rng),
      };
      for (const acc of [false, true]) {
        const a = passes(be32, g, data, acc), b = passes(be64, g, data, acc);
        for (const key of ["y", "dx", "dw"] as const) {
          if (acc && key === "y") continue;
          const ref = b[key], got = a[key];
          let scale = 1;
          for (const v of ref) scale = Math.max(scale, Math.abs(v));
          let worst = 0;
          for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]));
          // Sums of up to c kh kw (or n oh ow) products of values below 1: float32's relative 1e-7, grown.
          assert(worst / scale < 2e-5, `${key} of [${g}] acc ${acc}: ${worst} (scale ${scale})`);
        }
      }
    }
  });
});

Deno.test("conv backends: the float32 passes repeat bit for bit", () => {
  scope(() => {
    const rng = mulberry32(7);
    for (const g of GEOMETRIES) {
      const s = sizes(g);
      const data = {
        x: values(s.x, rng),
        w: values(s.w, rng),
        dy: values(s.y, rng),
        y: values(s.y, rng),
        dx: values(s.x, rng),
        dw: values(s.w, rng),
      };
      const first = passes(be32, g, data, false), second = passes(be32, g, data, false);
      for (const key of ["y", "dx", "dw"] as const) {
        assert.deepEqual(first[key], second[key], `${key} of [${g}]`);
      }
    }
  });
});
