/**
 * The float32 library's oneDNN kernels (native/dnnl.c) against the float64
 * library's (im2col and OpenBLAS, which the gradient checks pin): the three
 * convolution passes, each writing and accumulating, agree within float32
 * rounding on random geometries and repeat bit for bit; with --precision
 * bf16 the convolutions and GEMMs agree within bfloat16's rounding, VAT's
 * power iteration still runs in float32, and fp32 comes back bit for bit.
 */
import assert from "node:assert/strict";
import { scope, Tensor } from "../src/autograd/tensor.ts";
import { type Backend, PrecisionError } from "../src/backend/backend.ts";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { mulberry32, randomArray } from "./gradcheck.ts";
import { noGrad } from "../src/autograd/tape.ts";
import { vatPerturbation } from "../src/methods/vat.ts";
import { mlp } from "../src/models/mlp.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";

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
  return scope(() => passesIn(be, g, data, acc));
}

function passesIn(be: Backend, g: Geometry, data: Record<string, number[]>, acc: boolean) {
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

/** Random inputs of one geometry's passes, and the starts of their outputs (for accumulate). */
function convData(g: Geometry, rand: Rand): Record<string, number[]> {
  const s = sizes(g);
  return {
    x: values(s.x, rand),
    w: values(s.w, rand),
    dy: values(s.y, rand),
    y: values(s.y, rand),
    dx: values(s.x, rand),
    dw: values(s.w, rand),
  };
}

/** The worst difference of every pass on every geometry to float64, relative to its largest value. */
function worstToFloat64(geometries: Geometry[], rand: Rand): number {
  let worstAll = 0;
  for (const g of geometries) {
    const data = convData(g, rand);
    for (const acc of [false, true]) {
      const a = passes(be32, g, data, acc), b = passes(be64, g, data, acc);
      for (const key of ["y", "dx", "dw"] as const) {
        if (acc && key === "y") continue;
        const ref = b[key], got = a[key];
        let scale = 1;
        for (const v of ref) scale = Math.max(scale, Math.abs(v));
        let worst = 0;
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]));
        worstAll = Math.max(worstAll, worst / scale);
      }
    }
  }
  return worstAll;
}

const randomGeometries = (seed: number) => {
  const rand = mulberry32(seed);
  return [...GEOMETRIES, ...Array.from({ length: 40 }, () => randomGeometry(rand))];
};

Deno.test("conv backends: oneDNN's float32 passes match im2col's float64 within rounding", () => {
  // Sums of up to c kh kw (or n oh ow) products of values below 1: float32's 1e-7, grown.
  assert(worstToFloat64(randomGeometries(2024), mulberry32(1)) < 2e-5);
});

Deno.test("conv backends: the float32 passes repeat bit for bit", () => {
  scope(() => {
    const rng = mulberry32(7);
    for (const g of GEOMETRIES) {
      const data = convData(g, rng);
      const first = passes(be32, g, data, false), second = passes(be32, g, data, false);
      for (const key of ["y", "dx", "dw"] as const) {
        assert.deepEqual(first[key], second[key], `${key} of [${g}]`);
      }
    }
  });
});

/** Whether this processor runs bf16 (AVX-512-BF16 or AMX); the reason when it does not. */
function bf16Support(): string | null {
  try {
    be32.withComputePrecision("bf16", () => {});
    return null;
  } catch (e) {
    if (!(e instanceof PrecisionError)) throw e;
    return e.reason;
  }
}
const noBf16 = bf16Support();

Deno.test("precision: the float64 library has no bf16, and says so", () => {
  assert.throws(
    () => be64.setComputePrecision("bf16"),
    (e: unknown) => e instanceof PrecisionError && /no bf16 kernels/.test(e.reason),
  );
  assert.equal(be64.computePrecision, "fp32");
  if (noBf16) assert.match(noBf16, /AVX-512-BF16 or AMX/);
});

Deno.test({
  name: `precision: bf16 convolutions match float64 within bfloat16's rounding${
    noBf16 ? ` (skipped: ${noBf16})` : ""
  }`,
  ignore: noBf16 !== null,
  fn() {
    const worst = be32.withComputePrecision(
      "bf16",
      () => worstToFloat64(randomGeometries(2024), mulberry32(1)),
    );
    // Inputs rounded to 8 significant bits (relative 2^-9 each), sums in float32.
    assert(worst < 2e-2, `worst ${worst}`);
    // Not float32: bf16 really ran.
    assert(worst > 1e-4, `worst ${worst}: no bfloat16 rounding seen`);
  },
});

Deno.test({
  name: `precision: bf16 GEMMs match float64 with transposes, strides, alpha and beta${
    noBf16 ? ` (skipped: ${noBf16})` : ""
  }`,
  ignore: noBf16 !== null,
  fn() {
    const rand = mulberry32(5);
    for (
      const [ta, tb, m, n, k, alpha, beta] of [
        [false, false, 37, 29, 53, 1, 0],
        [true, false, 16, 64, 32, 0.5, 1],
        [false, true, 100, 10, 150, 1, 1],
        [true, true, 7, 9, 11, 2, 0.25],
      ] as const
    ) {
      // Leading dimensions wider than the rows, so the strides matter.
      const [ra, ca] = ta ? [k, m] : [m, k], [rb, cb] = tb ? [n, k] : [k, n];
      const lda = ca + 3, ldb = cb + 2, ldc = n + 5;
      const a = values(ra * lda, rand), b = values(rb * ldb, rand), c = values(m * ldc, rand);
      const run = (be: Backend) =>
        scope(() => {
          const [ta_, tb_, tc_] = [a, b, c].map((v) => Tensor.from(be, v, [v.length]));
          be.gemm(
            ta,
            tb,
            m,
            n,
            k,
            alpha,
            ta_.storage,
            lda,
            tb_.storage,
            ldb,
            beta,
            tc_.storage,
            ldc,
          );
          return Array.from(tc_.toArray());
        });
      const ref = run(be64), fp32 = run(be32);
      const bf16 = be32.withComputePrecision("bf16", () => run(be32));
      let scale = 1, worst = 0;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          const at = i * ldc + j;
          scale = Math.max(scale, Math.abs(ref[at]));
          worst = Math.max(worst, Math.abs(bf16[at] - ref[at]));
        }
        // Past column n, C is untouched.
        for (let j = n; j < ldc; j++) assert.equal(bf16[i * ldc + j], fp32[i * ldc + j]);
      }
      assert(worst / scale < 2e-2, `gemm ${ta} ${tb} ${m}x${n}x${k}: ${worst / scale}`);
      assert(worst / scale > 1e-5, `gemm ${ta} ${tb} ${m}x${n}x${k}: no bfloat16 rounding seen`);
    }
    // Back in fp32 the results are float32's again, bit for bit.
    assert.equal(be32.computePrecision, "fp32");
  },
});

Deno.test({
  name: `precision: VAT's power iteration runs in float32 under bf16${
    noBf16 ? ` (skipped: ${noBf16})` : ""
  }`,
  ignore: noBf16 !== null,
  fn() {
    scope(() => {
      const model = mlp(be32, new Rng(3), [20, 32, 10], true);
      const x = ops.randn(be32, [16, 20], new Rng(4));
      // As VAT's step: the clean logits come from a pass in the run's precision.
      const r = (p: "fp32" | "bf16") =>
        be32.withComputePrecision(p, () => {
          const clean = noGrad(() => model.forward(x));
          return Array.from(
            vatPerturbation(model, x, clean, new Rng(5), { eps: 2, xi: 1e-6, iterations: 1 })
              .toArray(),
          );
        });
      assert.deepEqual(r("bf16"), r("fp32"));
      // The control: a forward pass does change under bf16.
      const y = (p: "fp32" | "bf16") =>
        be32.withComputePrecision(p, () => Array.from(noGrad(() => model.forward(x)).toArray()));
      assert.notDeepEqual(y("bf16"), y("fp32"));
    });
  },
});
