/**
 * Forward values of every op against naive reference implementations in plain
 * TypeScript, in float64 (relative tolerance ~1e-10) and, for a few ops, in
 * float32 (~1e-5). The gradient checks only prove that backward matches
 * forward; these prove that forward computes the right thing. Also: shape
 * errors name the op and the shapes.
 */
import assert from "node:assert/strict";
import type { Backend } from "../src/backend/backend.ts";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { scope, Tensor } from "../src/autograd/tensor.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { f64, mulberry32, randomArray } from "./gradcheck.ts";

const be = await f64();
const be32 = await createCpuBackend("f32");
const rand = mulberry32(20240611);

// ---- helpers ----

const prod = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Random host numbers for a shape. */
const rnd = (shape: readonly number[], lo = -1, hi = 1): Float64Array =>
  randomArray(prod(shape), rand, lo, hi);

/** A tensor on `backend` (float64 by default). */
const T = (data: ArrayLike<number>, shape: readonly number[], backend: Backend = be): Tensor =>
  Tensor.from(backend, data, shape);

/** Host numbers rounded to float32, so that references see what an f32 tensor holds. */
const fround = (data: ArrayLike<number>): Float64Array => Float64Array.from(data, Math.fround);

/** Asserts elementwise |got - want| <= atol + rtol |want|, and equal lengths. */
function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  name: string,
  rtol = 1e-10,
  atol = 1e-12,
): void {
  assert.equal(got.length, want.length, `${name}: length ${got.length}, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert(
      err <= atol + rtol * Math.abs(want[i]),
      `${name}: element ${i} is ${got[i]}, expected ${want[i]} (error ${err})`,
    );
  }
}

/** Checks a tensor's shape and values. */
function check(
  y: Tensor,
  shape: readonly number[],
  want: ArrayLike<number>,
  name: string,
  rtol = 1e-10,
  atol = 1e-12,
): void {
  assert.deepEqual([...y.shape], [...shape], `${name}: shape [${y.shape}], expected [${shape}]`);
  assertClose(y.toArray(), want, name, rtol, atol);
}

/** The item of a one-element tensor against a number. */
function checkScalar(y: Tensor, want: number, name: string, rtol = 1e-10, atol = 1e-12): void {
  check(y, [1], [want], name, rtol, atol);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Asserts that fn throws "Cannot run OP: ..." naming every shape in order. */
function throwsShapes(fn: () => unknown, op: string, ...shapes: number[][]): void {
  const named = shapes.map((s) => escape(`[${s.join(", ")}]`)).join(".*");
  assert.throws(fn, { message: new RegExp(`^Cannot run ${escape(op)}: .*${named}`) });
}

/** Strides of a dense row-major shape. */
function strides(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

// ---- references ----

function refMatmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number) {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
      y[i * n + j] = s;
    }
  }
  return y;
}

function refLinear(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number> | null,
  n: number,
  inF: number,
  out: number,
) {
  const y = new Float64Array(n * out);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let j = 0; j < inF; j++) s += x[i * inF + j] * w[o * inF + j];
      y[i * out + o] = s;
    }
  }
  return y;
}

function refBiasAdd(x: ArrayLike<number>, b: ArrayLike<number>, shape: number[]) {
  const [n, c] = shape;
  const s = prod(shape) / (n * c);
  const y = new Float64Array(prod(shape));
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      for (let j = 0; j < s; j++) {
        const at = (i * c + ch) * s + j;
        y[at] = x[at] + b[ch];
      }
    }
  }
  return y;
}

/** NumPy broadcasting by explicit index arithmetic. */
function refBroadcast(
  a: ArrayLike<number>,
  as: number[],
  b: ArrayLike<number>,
  bs: number[],
  out: number[],
  f: (x: number, y: number) => number,
) {
  const nd = out.length;
  const pa = [...new Array(nd - as.length).fill(1), ...as];
  const pb = [...new Array(nd - bs.length).fill(1), ...bs];
  const sa = strides(pa);
  const sb = strides(pb);
  const so = strides(out);
  const y = new Float64Array(prod(out));
  for (let i = 0; i < y.length; i++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < nd; d++) {
      const idx = Math.floor(i / so[d]) % out[d];
      ia += (pa[d] === 1 ? 0 : idx) * sa[d];
      ib += (pb[d] === 1 ? 0 : idx) * sb[d];
    }
    y[i] = f(a[ia], b[ib]);
  }
  return y;
}

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === "number" ? [v, v] : v);

/** Direct convolution: y[n,k,i,j] = b[k] + sum x[n,c,i*s-p+u, j*s-p+v] w[k,c,u,v]. */
function refConv2d(
  x: ArrayLike<number>,
  xs: number[],
  w: ArrayLike<number>,
  ws: number[],
  b: ArrayLike<number> | null,
  stride: Pair,
  padding: Pair,
) {
  const [n, c, h, wd] = xs;
  const [k, , kh, kw] = ws;
  const [sh, sw] = pair(stride);
  const [ph, pw] = pair(padding);
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((wd + 2 * pw - kw) / sw) + 1;
  const y = new Float64Array(n * k * oh * ow);
  for (let s = 0; s < n; s++) {
    for (let o = 0; o < k; o++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let acc = b ? b[o] : 0;
          for (let ch = 0; ch < c; ch++) {
            for (let u = 0; u < kh; u++) {
              for (let v = 0; v < kw; v++) {
                const r = i * sh - ph + u;
                const q = j * sw - pw + v;
                if (r < 0 || r >= h || q < 0 || q >= wd) continue;
                acc += x[((s * c + ch) * h + r) * wd + q] * w[((o * c + ch) * kh + u) * kw + v];
              }
            }
          }
          y[((s * k + o) * oh + i) * ow + j] = acc;
        }
      }
    }
  }
  return { y, shape: [n, k, oh, ow] };
}

/** Scatter definition: out[n,co,i*s-p+u, j*s-p+v] += x[n,ci,i,j] w[ci,co,u,v]. */
function refConvTranspose2d(
  x: ArrayLike<number>,
  xs: number[],
  w: ArrayLike<number>,
  ws: number[],
  b: ArrayLike<number> | null,
  stride: Pair,
  padding: Pair,
  outputPadding: Pair,
) {
  const [n, cin, h, wd] = xs;
  const [, cout, kh, kw] = ws;
  const [sh, sw] = pair(stride);
  const [ph, pw] = pair(padding);
  const [oph, opw] = pair(outputPadding);
  const oh = (h - 1) * sh - 2 * ph + kh + oph;
  const ow = (wd - 1) * sw - 2 * pw + kw + opw;
  const y = new Float64Array(n * cout * oh * ow);
  for (let s = 0; s < n; s++) {
    for (let co = 0; co < cout; co++) {
      for (let i = 0; i < oh * ow; i++) y[(s * cout + co) * oh * ow + i] = b ? b[co] : 0;
    }
    for (let ci = 0; ci < cin; ci++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < wd; j++) {
          const xv = x[((s * cin + ci) * h + i) * wd + j];
          for (let co = 0; co < cout; co++) {
            for (let u = 0; u < kh; u++) {
              for (let v = 0; v < kw; v++) {
                const r = i * sh - ph + u;
                const q = j * sw - pw + v;
                if (r < 0 || r >= oh || q < 0 || q >= ow) continue;
                y[((s * cout + co) * oh + r) * ow + q] += xv *
                  w[((ci * cout + co) * kh + u) * kw + v];
              }
            }
          }
        }
      }
    }
  }
  return { y, shape: [n, cout, oh, ow] };
}

function refMaxPool(x: ArrayLike<number>, xs: number[], kernel: Pair, stride: Pair, padding: Pair) {
  const [n, c, h, wd] = xs;
  const [kh, kw] = pair(kernel);
  const [sh, sw] = pair(stride);
  const [ph, pw] = pair(padding);
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((wd + 2 * pw - kw) / sw) + 1;
  const y = new Float64Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let m = -Infinity;
        for (let u = 0; u < kh; u++) {
          for (let v = 0; v < kw; v++) {
            const r = i * sh - ph + u;
            const q = j * sw - pw + v;
            if (r >= 0 && r < h && q >= 0 && q < wd) m = Math.max(m, x[(p * h + r) * wd + q]);
          }
        }
        y[(p * oh + i) * ow + j] = m;
      }
    }
  }
  return { y, shape: [n, c, oh, ow] };
}

/** Per-channel statistics of (n, c, s) data: mean and biased variance. */
function channelStats(x: ArrayLike<number>, n: number, c: number, s: number) {
  const mean = new Float64Array(c);
  const varB = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < s; j++) sum += x[(i * c + ch) * s + j];
    mean[ch] = sum / (n * s);
    let sq = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < s; j++) sq += (x[(i * c + ch) * s + j] - mean[ch]) ** 2;
    }
    varB[ch] = sq / (n * s);
  }
  return { mean, varB };
}

function refNormalize(
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  eps: number,
  n: number,
  c: number,
  s: number,
) {
  const y = new Float64Array(n * c * s);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      for (let j = 0; j < s; j++) {
        const at = (i * c + ch) * s + j;
        y[at] = gamma[ch] * (x[at] - mean[ch]) / Math.sqrt(variance[ch] + eps) + beta[ch];
      }
    }
  }
  return y;
}

/** log softmax of each row, computed as x - max - log sum exp(x - max). */
function refLogSoftmax(x: ArrayLike<number>, n: number, k: number) {
  const y = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, x[i * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(x[i * k + j] - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < k; j++) y[i * k + j] = x[i * k + j] - lse;
  }
  return y;
}

// ---- linear algebra ----

Deno.test("matmul matches the naive triple loop", () => {
  scope(() => {
    for (const [m, k, n] of [[3, 5, 4], [1, 7, 1], [6, 1, 3], [17, 33, 9]]) {
      const a = rnd([m, k]);
      const b = rnd([k, n]);
      check(
        ops.matmul(T(a, [m, k]), T(b, [k, n])),
        [m, n],
        refMatmul(a, b, m, k, n),
        `${m}x${k}x${n}`,
      );
    }
    // A hand-worked case.
    check(
      ops.matmul(T([1, 2, 3, 4, 5, 6], [2, 3]), T([7, 8, 9, 10, 11, 12], [3, 2])),
      [2, 2],
      [58, 64, 139, 154],
      "matmul by hand",
    );
  });
});

Deno.test("linear is x W^T + b with W laid out (out, in)", () => {
  scope(() => {
    for (const [n, inF, out] of [[4, 7, 5], [1, 3, 2], [5, 1, 1], [9, 20, 11]]) {
      const x = rnd([n, inF]);
      const w = rnd([out, inF]);
      const b = rnd([out]);
      check(
        ops.linear(T(x, [n, inF]), T(w, [out, inF]), T(b, [out])),
        [n, out],
        refLinear(x, w, b, n, inF, out),
        `linear ${n}x${inF}->${out}`,
      );
      check(
        ops.linear(T(x, [n, inF]), T(w, [out, inF])),
        [n, out],
        refLinear(x, w, null, n, inF, out),
        `linear no bias ${n}x${inF}->${out}`,
      );
    }
    // Inputs of more than two dimensions are flattened after the first.
    const x = rnd([2, 3, 2, 2]);
    const w = rnd([4, 12]);
    const b = rnd([4]);
    check(
      ops.linear(T(x, [2, 3, 2, 2]), T(w, [4, 12]), T(b, [4])),
      [2, 4],
      refLinear(x, w, b, 2, 12, 4),
      "linear 4-d input",
    );
    // By hand: W = [[1, 0], [0, 2], [1, 1]], x = [3, 4], b = [0.5, 0, -1].
    check(
      ops.linear(T([3, 4], [1, 2]), T([1, 0, 0, 2, 1, 1], [3, 2]), T([0.5, 0, -1], [3])),
      [1, 3],
      [3.5, 8, 6],
      "linear by hand",
    );
  });
});

Deno.test("biasAdd adds a per-channel bias", () => {
  scope(() => {
    for (const shape of [[2, 3, 4, 5], [1, 3], [3, 2, 1, 1], [2, 4, 3]]) {
      const x = rnd(shape);
      const b = rnd([shape[1]]);
      check(
        ops.biasAdd(T(x, shape), T(b, [shape[1]])),
        shape,
        refBiasAdd(x, b, shape),
        `biasAdd [${shape}]`,
      );
    }
  });
});

// ---- elementwise ----

Deno.test("broadcasting add, sub, mul, div", () => {
  const fns = {
    add: (x: number, y: number) => x + y,
    sub: (x: number, y: number) => x - y,
    mul: (x: number, y: number) => x * y,
    div: (x: number, y: number) => x / y,
  };
  const cases: [number[], number[], number[]][] = [
    [[3, 5], [3, 5], [3, 5]],
    [[2, 3, 4], [3, 1], [2, 3, 4]],
    [[1, 3], [4, 1], [4, 3]],
    [[3], [2, 3], [2, 3]],
    [[2, 1, 4], [3, 1], [2, 3, 4]],
    [[1], [2, 3], [2, 3]],
    [[2, 3, 1, 5], [3, 4, 1], [2, 3, 4, 5]],
    [[4, 1], [1], [4, 1]],
  ];
  scope(() => {
    for (const op of ["add", "sub", "mul", "div"] as const) {
      for (const [as, bs, out] of cases) {
        const a = rnd(as);
        const b = rnd(bs, 0.5, 2);
        check(
          ops[op](T(a, as), T(b, bs)),
          out,
          refBroadcast(a, as, b, bs, out, fns[op]),
          `${op} [${as}] x [${bs}]`,
        );
      }
    }
    check(ops.sub(T([1, 2, 3], [3]), T([10], [1])), [3], [-9, -8, -7], "sub by hand");
    check(ops.div(T([1], [1]), T([2, 4, 8], [3, 1])), [3, 1], [0.5, 0.25, 0.125], "div by hand");
  });
});

Deno.test("affine and scale", () => {
  scope(() => {
    const x = rnd([3, 4], -3, 3);
    check(ops.affine(T(x, [3, 4]), -1.7, 0.3), [3, 4], x.map((v) => -1.7 * v + 0.3), "affine");
    check(ops.affine(T(x, [3, 4]), 2), [3, 4], x.map((v) => 2 * v), "affine default shift");
    check(ops.scale(T(x, [3, 4]), 2.5), [3, 4], x.map((v) => 2.5 * v), "scale");
  });
});

Deno.test("relu, leakyRelu (slope 0.1 by default), sigmoid, tanh", () => {
  scope(() => {
    const x = Float64Array.from([...rnd([40], -4, 4), 0, -0, 1e-300, -1e-300, 40, -40, 700, -700]);
    const shape = [4, 12];
    const tx = T(x, shape);
    check(ops.relu(tx), shape, x.map((v) => (v > 0 ? v : 0)), "relu");
    check(ops.leakyRelu(tx), shape, x.map((v) => (v > 0 ? v : 0.1 * v)), "leakyRelu default");
    check(ops.leakyRelu(tx, 0.2), shape, x.map((v) => (v > 0 ? v : 0.2 * v)), "leakyRelu 0.2");
    check(ops.sigmoid(tx), shape, x.map((v) => 1 / (1 + Math.exp(-v))), "sigmoid", 1e-10, 1e-300);
    check(ops.tanh(tx), shape, x.map(Math.tanh), "tanh");
    // Values everyone knows.
    check(ops.sigmoid(T([0], [1])), [1], [0.5], "sigmoid(0)");
    check(ops.relu(T([-2, 3], [2])), [2], [0, 3], "relu by hand");
  });
});

Deno.test("l2Normalize divides each sample by sqrt(eps + sum x^2)", () => {
  const ref = (x: ArrayLike<number>, n: number, eps: number) => {
    const d = x.length / n;
    const y = new Float64Array(x.length);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += x[i * d + j] ** 2;
      const r = Math.sqrt(eps + s);
      for (let j = 0; j < d; j++) y[i * d + j] = x[i * d + j] / r;
    }
    return y;
  };
  scope(() => {
    for (const shape of [[3, 5], [1, 2, 3, 3], [4, 1], [2, 3, 2]]) {
      const x = rnd(shape);
      check(ops.l2Normalize(T(x, shape)), shape, ref(x, shape[0], 1e-6), `l2Normalize [${shape}]`);
      check(
        ops.l2Normalize(T(x, shape), 0.5),
        shape,
        ref(x, shape[0], 0.5),
        `l2Normalize [${shape}] eps 0.5`,
      );
    }
    // eps matters for tiny rows, and a zero row stays zero.
    const x = [1e-4, 0, 0, 0, 0, 0, 3, 4];
    check(
      ops.l2Normalize(T(x, [4, 2])),
      [4, 2],
      [
        1e-4 / Math.sqrt(1e-6 + 1e-8),
        0,
        0,
        0,
        0,
        0,
        3 / Math.sqrt(25 + 1e-6),
        4 / Math.sqrt(25 + 1e-6),
      ],
      "l2Normalize tiny and zero rows",
    );
  });
});

Deno.test("concat along axis 1", () => {
  const ref = (parts: { x: ArrayLike<number>; shape: number[] }[]) => {
    const n = parts[0].shape[0];
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      for (const p of parts) {
        const row = prod(p.shape) / n;
        for (let j = 0; j < row; j++) out.push(p.x[i * row + j]);
      }
    }
    return out;
  };
  scope(() => {
    const groups: [number[][], number[]][] = [
      [[[2, 3], [2, 2]], [2, 5]],
      [[[2, 1, 3, 2], [2, 3, 3, 2], [2, 2, 3, 2]], [2, 6, 3, 2]],
      [[[1, 4]], [1, 4]],
      [[[3, 2, 2], [3, 1, 2]], [3, 3, 2]],
    ];
    for (const [shapes, out] of groups) {
      const parts = shapes.map((shape) => ({ x: rnd(shape), shape }));
      check(
        ops.concat(parts.map((p) => T(p.x, p.shape))),
        out,
        ref(parts),
        `concat ${shapes.map((s) => `[${s}]`).join(" ")}`,
      );
    }
    check(
      ops.concat([T([1, 2, 3, 4], [2, 2]), T([5, 6], [2, 1])]),
      [2, 3],
      [1, 2, 5, 3, 4, 6],
      "concat by hand",
    );
  });
});

Deno.test("reshape keeps the numbers in order and infers -1", () => {
  scope(() => {
    const x = rnd([2, 3, 4]);
    check(ops.reshape(T(x, [2, 3, 4]), [6, 4]), [6, 4], x, "reshape to [6, 4]");
    check(ops.reshape(T(x, [2, 3, 4]), [-1, 2]), [12, 2], x, "reshape to [-1, 2]");
    check(ops.reshape(T(x, [2, 3, 4]), [2, -1, 3]), [2, 4, 3], x, "reshape to [2, -1, 3]");
    check(ops.reshape(T(x, [2, 3, 4]), [24]), [24], x, "reshape to [24]");
    check(ops.flatten(T(x, [2, 3, 4])), [2, 12], x, "flatten");
    // The result is a copy: it survives its source.
    const src = T(x, [2, 3, 4]);
    const y = ops.reshape(src, [4, 6]);
    src.dispose();
    check(y, [4, 6], x, "reshape outlives its source");
  });
});

Deno.test("sum and mean over all elements", () => {
  scope(() => {
    for (const shape of [[3, 4], [7], [2, 3, 4, 5], [1]]) {
      const x = rnd(shape);
      const s = x.reduce((a, b) => a + b, 0);
      checkScalar(ops.sum(T(x, shape)), s, `sum [${shape}]`, 1e-10, 1e-13);
      checkScalar(ops.mean(T(x, shape)), s / x.length, `mean [${shape}]`, 1e-10, 1e-13);
    }
    checkScalar(ops.sum(T([1, 2, 3, 4], [2, 2])), 10, "sum by hand");
    checkScalar(ops.mean(T([1, 2, 3, 4], [2, 2])), 2.5, "mean by hand");
  });
});

// ---- convolution and pooling ----

Deno.test("conv2d matches a direct convolution", () => {
  const cases: [number[], number[], Pair, Pair][] = [
    [[1, 1, 5, 5], [2, 1, 3, 3], 1, 0],
    [[3, 2, 7, 6], [4, 2, 3, 3], 2, 1],
    [[3, 3, 6, 5], [2, 3, 1, 1], 1, 0],
    [[1, 3, 4, 4], [2, 3, 1, 1], 2, 1],
    [[1, 2, 9, 7], [3, 2, 5, 5], 1, 1],
    [[3, 2, 8, 7], [2, 2, 5, 5], 2, 0],
    [[1, 2, 6, 7], [2, 2, 3, 2], [2, 1], [0, 1]],
    [[3, 1, 5, 8], [3, 1, 2, 4], [1, 2], [1, 0]],
    [[3, 4, 3, 10], [5, 4, 3, 3], 1, 1],
    [[1, 1, 5, 5], [1, 1, 5, 5], 1, 0],
    [[2, 2, 4, 3], [3, 2, 5, 5], 2, 1],
  ];
  scope(() => {
    for (const [xs, ws, stride, padding] of cases) {
      const x = rnd(xs);
      const w = rnd(ws);
      const b = rnd([ws[0]]);
      const name = `conv2d x[${xs}] w[${ws}] s${stride} p${padding}`;
      const withBias = refConv2d(x, xs, w, ws, b, stride, padding);
      check(
        ops.conv2d(T(x, xs), T(w, ws), T(b, [ws[0]]), { stride, padding }),
        withBias.shape,
        withBias.y,
        name,
      );
      const noBias = refConv2d(x, xs, w, ws, null, stride, padding);
      check(
        ops.conv2d(T(x, xs), T(w, ws), null, { stride, padding }),
        noBias.shape,
        noBias.y,
        `${name} no bias`,
      );
    }
    // Defaults are stride 1, padding 0.
    const x = rnd([2, 2, 5, 6]);
    const w = rnd([3, 2, 3, 3]);
    const ref = refConv2d(x, [2, 2, 5, 6], w, [3, 2, 3, 3], null, 1, 0);
    check(ops.conv2d(T(x, [2, 2, 5, 6]), T(w, [3, 2, 3, 3])), ref.shape, ref.y, "conv2d defaults");
    // By hand: a 3x3 box filter over 1..9 with padding 1.
    const box = ops.conv2d(
      T([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]),
      T(new Array(9).fill(1), [1, 1, 3, 3]),
      null,
      { padding: 1 },
    );
    check(box, [1, 1, 3, 3], [12, 21, 16, 27, 45, 33, 24, 39, 28], "conv2d box filter by hand");
  });
});

Deno.test("convTranspose2d matches the scatter definition", () => {
  const cases: [number[], number[], Pair, Pair, Pair][] = [
    [[1, 2, 3, 3], [2, 3, 3, 3], 1, 0, 0],
    [[3, 3, 4, 3], [3, 2, 3, 3], 2, 1, 1],
    [[3, 2, 3, 4], [2, 2, 4, 4], 2, 1, 0],
    [[1, 3, 5, 5], [3, 1, 1, 1], 1, 0, 0],
    [[3, 1, 3, 3], [1, 2, 5, 5], 2, 2, 1],
    [[1, 2, 4, 5], [2, 3, 5, 5], 1, 1, 0],
    [[3, 2, 3, 5], [2, 2, 3, 2], [2, 1], [1, 0], [1, 0]],
    [[1, 1, 2, 2], [1, 1, 1, 1], 2, 0, 1],
    [[1, 2, 3, 2], [2, 2, 4, 3], [3, 2], [1, 1], [2, 1]],
  ];
  scope(() => {
    for (const [xs, ws, stride, padding, outputPadding] of cases) {
      const x = rnd(xs);
      const w = rnd(ws);
      const b = rnd([ws[1]]);
      const name = `convTranspose2d x[${xs}] w[${ws}] s${stride} p${padding} op${outputPadding}`;
      const ref = refConvTranspose2d(x, xs, w, ws, b, stride, padding, outputPadding);
      check(
        ops.convTranspose2d(T(x, xs), T(w, ws), T(b, [ws[1]]), { stride, padding, outputPadding }),
        ref.shape,
        ref.y,
        name,
      );
      const noBias = refConvTranspose2d(x, xs, w, ws, null, stride, padding, outputPadding);
      check(
        ops.convTranspose2d(T(x, xs), T(w, ws), null, { stride, padding, outputPadding }),
        noBias.shape,
        noBias.y,
        `${name} no bias`,
      );
    }
    // By hand: stride 2, 2x2 kernel of ones spreads each input to a 2x2 block.
    check(
      ops.convTranspose2d(T([1, 2, 3, 4], [1, 1, 2, 2]), T([1, 1, 1, 1], [1, 1, 2, 2]), null, {
        stride: 2,
      }),
      [1, 1, 4, 4],
      [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4],
      "convTranspose2d by hand",
    );
  });
});

Deno.test("maxPool2d, padding counting as -infinity", () => {
  const cases: [number[], Pair, Pair | undefined, Pair | undefined, number, number][] = [
    [[2, 3, 5, 5], 2, undefined, undefined, -1, 1],
    [[1, 2, 7, 6], 3, 2, 1, -1, 1],
    [[2, 1, 4, 4], 2, 1, undefined, -1, 1],
    [[3, 2, 6, 5], [3, 2], [2, 1], [1, 0], -1, 1],
    // All negative: a zero padding would win every border window.
    [[2, 2, 5, 6], 3, 2, 1, -3, -0.5],
    [[1, 1, 4, 5], 2, 2, 1, -3, -0.5],
  ];
  scope(() => {
    for (const [xs, kernel, stride, padding, lo, hi] of cases) {
      const x = rnd(xs, lo, hi);
      const ref = refMaxPool(x, xs, kernel, stride ?? kernel, padding ?? 0);
      check(
        ops.maxPool2d(T(x, xs), { kernel, stride, padding }),
        ref.shape,
        ref.y,
        `maxPool2d [${xs}] k${kernel} s${stride} p${padding}`,
        0,
        0,
      );
    }
    check(
      ops.maxPool2d(T([-1, -2, -3, -4], [1, 1, 2, 2]), { kernel: 2, stride: 1, padding: 1 }),
      [1, 1, 3, 3],
      [-1, -1, -2, -1, -1, -2, -3, -3, -4],
      "maxPool2d padding by hand",
    );
  });
});

Deno.test("globalAvgPool2d averages each channel", () => {
  scope(() => {
    for (const xs of [[3, 2, 5, 4], [1, 1, 1, 1], [2, 3, 1, 7]]) {
      const x = rnd(xs);
      const [n, c, h, w] = xs;
      const want = Array.from({ length: n * c }, (_, p) => {
        let s = 0;
        for (let i = 0; i < h * w; i++) s += x[p * h * w + i];
        return s / (h * w);
      });
      check(ops.globalAvgPool2d(T(x, xs)), [n, c], want, `globalAvgPool2d [${xs}]`);
    }
  });
});

// ---- batch norm ----

Deno.test("batchNorm training: batch statistics and the running-stat update", () => {
  scope(() => {
    for (const shape of [[5, 4], [2, 3, 4, 3], [1, 2, 3, 3], [2, 1], [4, 2, 1, 5]]) {
      const [n, c] = shape;
      const s = prod(shape) / (n * c);
      const x = rnd(shape, -2, 3);
      const gamma = rnd([c], 0.5, 1.5);
      const beta = rnd([c]);
      const rm = rnd([c], -0.5, 0.5);
      const rv = rnd([c], 0.5, 1.5);
      const eps = 1e-5;
      const { mean, varB } = channelStats(x, n, c, s);
      const want = refNormalize(x, gamma, beta, mean, varB, eps, n, c, s);
      for (const update of [true, false]) {
        const state = { runningMean: T(rm, [c]), runningVar: T(rv, [c]), momentum: 0.1, eps };
        const name = `batchNorm train [${shape}] update ${update}`;
        check(
          ops.batchNorm(T(x, shape), T(gamma, [c]), T(beta, [c]), state, true, update),
          shape,
          want,
          name,
        );
        const m = n * s;
        const wantRm = update ? rm.map((v, i) => 0.9 * v + 0.1 * mean[i]) : rm;
        const wantRv = update ? rv.map((v, i) => 0.9 * v + 0.1 * varB[i] * m / (m - 1)) : rv;
        check(state.runningMean, [c], wantRm, `${name}: running mean`);
        check(state.runningVar, [c], wantRv, `${name}: running var`);
      }
      // Another momentum, and updateStats defaulting to true.
      const state = { runningMean: T(rm, [c]), runningVar: T(rv, [c]), momentum: 0.3, eps: 1e-3 };
      check(
        ops.batchNorm(T(x, shape), T(gamma, [c]), T(beta, [c]), state, true),
        shape,
        refNormalize(x, gamma, beta, mean, varB, 1e-3, n, c, s),
        `batchNorm train [${shape}] eps 1e-3`,
      );
      const m = n * s;
      check(state.runningMean, [c], rm.map((v, i) => 0.7 * v + 0.3 * mean[i]), "momentum 0.3 mean");
      check(
        state.runningVar,
        [c],
        rv.map((v, i) => 0.7 * v + 0.3 * varB[i] * m / (m - 1)),
        "momentum 0.3 var",
      );
    }
    // By hand: one channel holding 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3).
    const state = { runningMean: T([0], [1]), runningVar: T([1], [1]), momentum: 0.1, eps: 0 };
    const r = 1 / Math.sqrt(1.25);
    check(
      ops.batchNorm(T([1, 2, 3, 4], [4, 1]), T([1], [1]), T([0], [1]), state, true),
      [4, 1],
      [-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r],
      "batchNorm by hand",
    );
    check(state.runningMean, [1], [0.25], "running mean by hand");
    check(state.runningVar, [1], [0.9 + 0.1 * 5 / 3], "running var by hand");
  });
});

Deno.test("batchNorm inference uses the running statistics and leaves them alone", () => {
  scope(() => {
    for (const shape of [[5, 4], [2, 3, 4, 3], [1, 2, 3, 3], [1, 1]]) {
      const [n, c] = shape;
      const s = prod(shape) / (n * c);
      const x = rnd(shape, -2, 3);
      const gamma = rnd([c], 0.5, 1.5);
      const beta = rnd([c]);
      const rm = rnd([c], -0.5, 0.5);
      const rv = rnd([c], 0.5, 1.5);
      const state = { runningMean: T(rm, [c]), runningVar: T(rv, [c]), momentum: 0.1, eps: 1e-5 };
      check(
        ops.batchNorm(T(x, shape), T(gamma, [c]), T(beta, [c]), state, false),
        shape,
        refNormalize(x, gamma, beta, rm, rv, 1e-5, n, c, s),
        `batchNorm infer [${shape}]`,
      );
      check(state.runningMean, [c], rm, `batchNorm infer [${shape}]: running mean`);
      check(state.runningVar, [c], rv, `batchNorm infer [${shape}]: running var`);
    }
  });
});

// ---- softmax and losses ----

const LOGIT_ROWS = [[1000, 1001, 999, 1000.5], [-800, -801, -799.5, -800], [0, 0, 0, 0]];

Deno.test("softmax and logSoftmax over rows, stable for large logits", () => {
  scope(() => {
    for (const [n, k] of [[4, 5], [1, 3], [7, 1], [3, 10]]) {
      const x = rnd([n, k], -5, 5);
      const logp = refLogSoftmax(x, n, k);
      check(ops.logSoftmax(T(x, [n, k])), [n, k], logp, `logSoftmax ${n}x${k}`, 1e-10, 1e-12);
      check(ops.softmax(T(x, [n, k])), [n, k], logp.map(Math.exp), `softmax ${n}x${k}`);
    }
    const x = LOGIT_ROWS.flat();
    const logp = refLogSoftmax(x, 3, 4);
    check(ops.logSoftmax(T(x, [3, 4])), [3, 4], logp, "logSoftmax large logits");
    check(ops.softmax(T(x, [3, 4])), [3, 4], logp.map(Math.exp), "softmax large logits");
    check(ops.softmax(T([0, Math.log(3)], [1, 2])), [1, 2], [0.25, 0.75], "softmax by hand");
  });
});

Deno.test("crossEntropy is the mean over rows of -log softmax[label]", () => {
  const ref = (x: ArrayLike<number>, labels: number[], n: number, k: number) => {
    const logp = refLogSoftmax(x, n, k);
    return -labels.reduce((s, l, i) => s + logp[i * k + l], 0) / n;
  };
  scope(() => {
    for (const [n, k] of [[5, 4], [1, 3], [8, 10], [3, 1]]) {
      const x = rnd([n, k], -4, 4);
      const labels = Array.from({ length: n }, () => Math.floor(rand() * k));
      checkScalar(
        ops.crossEntropy(T(x, [n, k]), T(labels, [n])),
        ref(x, labels, n, k),
        `crossEntropy ${n}x${k}`,
      );
    }
    const x = LOGIT_ROWS.flat();
    checkScalar(
      ops.crossEntropy(T(x, [3, 4]), T([0, 2, 3], [3])),
      ref(x, [0, 2, 3], 3, 4),
      "crossEntropy large logits",
    );
    checkScalar(
      ops.crossEntropy(T([0, 0, 0, 0, 0, 0], [2, 3]), T([1, 2], [2])),
      Math.log(3),
      "crossEntropy by hand",
    );
  });
});

Deno.test("klDivergence is the mean over rows of sum p_a (log p_a - log p_b)", () => {
  const ref = (a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number) => {
    const la = refLogSoftmax(a, n, k);
    const lb = refLogSoftmax(b, n, k);
    let s = 0;
    for (let i = 0; i < n * k; i++) s += Math.exp(la[i]) * (la[i] - lb[i]);
    return s / n;
  };
  scope(() => {
    for (const [n, k] of [[4, 6], [1, 3], [6, 10], [2, 1]]) {
      const a = rnd([n, k], -3, 3);
      const b = rnd([n, k], -3, 3);
      checkScalar(
        ops.klDivergence(T(a, [n, k]), T(b, [n, k])),
        ref(a, b, n, k),
        `klDivergence ${n}x${k}`,
        1e-9,
        1e-13,
      );
      checkScalar(
        ops.klDivergence(T(a, [n, k]), T(a, [n, k])),
        0,
        `KL(a || a) ${n}x${k}`,
        0,
        1e-13,
      );
    }
    const a = LOGIT_ROWS.flat();
    const b = [1001, 1000, 999, 1000, -800, -800, -800, -801, 1, 2, 3, 4];
    checkScalar(
      ops.klDivergence(T(a, [3, 4]), T(b, [3, 4])),
      ref(a, b, 3, 4),
      "klDivergence large logits",
      1e-9,
      1e-13,
    );
    // By hand: p_a = (1/4, 3/4), p_b = (1/2, 1/2).
    checkScalar(
      ops.klDivergence(T([0, Math.log(3)], [1, 2]), T([5, 5], [1, 2])),
      0.25 * Math.log(0.5) + 0.75 * Math.log(1.5),
      "klDivergence by hand",
    );
  });
});

Deno.test("squaredError with reductions mean, batchmean and sum", () => {
  scope(() => {
    for (const shape of [[3, 2, 2], [5, 7], [1, 4], [6]]) {
      const a = rnd(shape);
      const b = rnd(shape);
      const s = a.reduce((acc, v, i) => acc + (v - b[i]) ** 2, 0);
      const ta = T(a, shape);
      const tb = T(b, shape);
      checkScalar(ops.squaredError(ta, tb, "sum"), s, `squaredError sum [${shape}]`);
      checkScalar(ops.squaredError(ta, tb, "mean"), s / a.length, `squaredError mean [${shape}]`);
      checkScalar(
        ops.squaredError(ta, tb, "batchmean"),
        s / shape[0],
        `squaredError batchmean [${shape}]`,
      );
      checkScalar(ops.squaredError(ta, tb), s / a.length, `squaredError default [${shape}]`);
      checkScalar(ops.mse(ta, tb), s / a.length, `mse [${shape}]`);
    }
    const a = T([1, 2, 3, 4], [2, 2]);
    const b = T([0, 0, 0, 0], [2, 2]);
    checkScalar(ops.squaredError(a, b, "sum"), 30, "sum by hand");
    checkScalar(ops.squaredError(a, b, "mean"), 7.5, "mean by hand");
    checkScalar(ops.squaredError(a, b, "batchmean"), 15, "batchmean by hand");
  });
});

Deno.test("countErrors counts rows whose first argmax differs from the label", () => {
  scope(() => {
    const logits = [
      [0.1, 0.9, 0.3], // argmax 1
      [2, -1, 0], // argmax 0
      [0, 5, 5], // tie: first maximum is 1
      [-3, -2, -1], // argmax 2
      [7, 7, 7], // tie: 0
    ].flat();
    const t = T(logits, [5, 3]);
    checkScalar(ops.countErrors(t, T([1, 0, 1, 2, 0], [5])), 0, "countErrors all right");
    checkScalar(ops.countErrors(t, T([0, 0, 2, 2, 1], [5])), 3, "countErrors three wrong");
    checkScalar(ops.countErrors(t, T([2, 1, 0, 0, 2], [5])), 5, "countErrors all wrong");
    // Random rows against a reference argmax.
    const [n, k] = [50, 7];
    const x = rnd([n, k]);
    const labels = Array.from({ length: n }, () => Math.floor(rand() * k));
    let want = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (x[i * k + j] > x[i * k + best]) best = j;
      if (best !== labels[i]) want++;
    }
    checkScalar(ops.countErrors(T(x, [n, k]), T(labels, [n])), want, "countErrors random");
  });
});

// ---- randomness ----

Deno.test("dropout zeroes about p of the elements and scales the rest by 1/(1-p)", () => {
  scope(() => {
    const size = 200_000;
    const x = rnd([size], 0.5, 1.5);
    const tx = T(x, [400, 500]);
    for (const p of [0.1, 0.3, 0.5, 0.8]) {
      const y = ops.dropout(tx, p, new Rng(7)).toArray();
      let zeros = 0;
      for (let i = 0; i < size; i++) {
        if (y[i] === 0) zeros++;
        else {
          const want = x[i] / (1 - p);
          assert(
            Math.abs(y[i] - want) <= 1e-12 * want,
            `dropout p ${p}: kept element ${i} is ${y[i]}, expected ${want}`,
          );
        }
      }
      // Binomial standard deviation is at most sqrt(0.25 / size) ~ 0.0011.
      const frac = zeros / size;
      assert(Math.abs(frac - p) < 0.006, `dropout p ${p}: fraction of zeros ${frac}`);
    }
    // The same seed gives the same mask; another seed or the next draw another one.
    const a = ops.dropout(tx, 0.5, new Rng(11)).toArray();
    const b = ops.dropout(tx, 0.5, new Rng(11)).toArray();
    assert.deepEqual(a, b, "dropout with the same seed differs");
    const c = ops.dropout(tx, 0.5, new Rng(12)).toArray();
    assert(a.some((v, i) => v !== c[i]), "dropout with another seed gave the same mask");
    const rng = new Rng(11);
    const first = ops.dropout(tx, 0.5, rng).toArray();
    const second = ops.dropout(tx, 0.5, rng).toArray();
    assert.deepEqual(first, a, "dropout's first draw from a fresh Rng differs");
    assert(second.some((v, i) => v !== first[i]), "consecutive dropout draws share a mask");
    // p = 0 is the identity.
    check(ops.dropout(tx, 0, new Rng(3)), [400, 500], x, "dropout p 0");
    // A small tensor: every element is dropped or doubled.
    const small = ops.dropout(T([1, 2, 3], [3]), 0.5, new Rng(5)).toArray();
    small.forEach((v, i) => assert(v === 0 || v === 2 * (i + 1), `small dropout element ${v}`));
  });
});

Deno.test("gaussianNoise adds N(0, std^2) noise", () => {
  scope(() => {
    const size = 200_000;
    const x = rnd([size], -2, 2);
    const tx = T(x, [size]);
    for (const std of [0.5, 2]) {
      const y = ops.gaussianNoise(tx, std, new Rng(21)).toArray();
      const d = Float64Array.from(y, (v, i) => v - x[i]);
      const mean = d.reduce((s, v) => s + v, 0) / size;
      const sd = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / (size - 1));
      const within1 = d.filter((v) => Math.abs(v) <= std).length / size;
      const within2 = d.filter((v) => Math.abs(v) <= 2 * std).length / size;
      // Standard errors: mean ~ 0.0022 std, sd ~ 0.0016 std, fractions ~ 0.001 and 0.0005.
      assert(Math.abs(mean) < 0.012 * std, `gaussianNoise std ${std}: noise mean ${mean}`);
      assert(Math.abs(sd / std - 1) < 0.01, `gaussianNoise std ${std}: noise sd ${sd}`);
      assert(Math.abs(within1 - 0.682689) < 0.005, `gaussianNoise: ${within1} within 1 sd`);
      assert(Math.abs(within2 - 0.954500) < 0.003, `gaussianNoise: ${within2} within 2 sd`);
    }
    const a = ops.gaussianNoise(tx, 1, new Rng(5)).toArray();
    const b = ops.gaussianNoise(tx, 1, new Rng(5)).toArray();
    assert.deepEqual(a, b, "gaussianNoise with the same seed differs");
    const rng = new Rng(5);
    ops.gaussianNoise(tx, 1, rng);
    const next = ops.gaussianNoise(tx, 1, rng).toArray();
    assert(next.some((v, i) => v !== a[i]), "consecutive gaussianNoise draws are equal");
  });
});

// ---- float32 backend ----

Deno.test("float32 backend: matmul, linear, conv2d, convTranspose2d", () => {
  scope(() => {
    const [m, k, n] = [9, 31, 13];
    const a = fround(rnd([m, k]));
    const b = fround(rnd([k, n]));
    check(
      ops.matmul(T(a, [m, k], be32), T(b, [k, n], be32)),
      [m, n],
      refMatmul(a, b, m, k, n),
      "f32 matmul",
      1e-5,
      1e-5,
    );
    const w = fround(rnd([n, k]));
    const bias = fround(rnd([n]));
    check(
      ops.linear(T(a, [m, k], be32), T(w, [n, k], be32), T(bias, [n], be32)),
      [m, n],
      refLinear(a, w, bias, m, k, n),
      "f32 linear",
      1e-5,
      1e-5,
    );
    const xs = [3, 3, 9, 8];
    const ws = [4, 3, 3, 3];
    const x = fround(rnd(xs));
    const cw = fround(rnd(ws));
    const cb = fround(rnd([4]));
    const conv = refConv2d(x, xs, cw, ws, cb, 2, 1);
    check(
      ops.conv2d(T(x, xs, be32), T(cw, ws, be32), T(cb, [4], be32), { stride: 2, padding: 1 }),
      conv.shape,
      conv.y,
      "f32 conv2d",
      1e-5,
      1e-5,
    );
    const tws = [3, 2, 4, 4];
    const tw = fround(rnd(tws));
    const tr = refConvTranspose2d(x, xs, tw, tws, null, 2, 1, 1);
    check(
      ops.convTranspose2d(T(x, xs, be32), T(tw, tws, be32), null, {
        stride: 2,
        padding: 1,
        outputPadding: 1,
      }),
      tr.shape,
      tr.y,
      "f32 convTranspose2d",
      1e-5,
      1e-5,
    );
  });
});

Deno.test("float32 backend: softmax, losses, batch norm", () => {
  scope(() => {
    const [n, k] = [6, 10];
    const x = fround(rnd([n, k], -4, 4));
    const logp = refLogSoftmax(x, n, k);
    check(ops.logSoftmax(T(x, [n, k], be32)), [n, k], logp, "f32 logSoftmax", 1e-5, 1e-5);
    check(ops.softmax(T(x, [n, k], be32)), [n, k], logp.map(Math.exp), "f32 softmax", 1e-5, 1e-6);
    const big = fround(LOGIT_ROWS.flat());
    check(
      ops.softmax(T(big, [3, 4], be32)),
      [3, 4],
      refLogSoftmax(big, 3, 4).map(Math.exp),
      "f32 softmax large logits",
      1e-5,
      1e-6,
    );
    const labels = [3, 0, 9, 5, 5, 1];
    const ce = -labels.reduce((s, l, i) => s + logp[i * k + l], 0) / n;
    checkScalar(
      ops.crossEntropy(T(x, [n, k], be32), T(labels, [n], be32)),
      ce,
      "f32 crossEntropy",
      1e-5,
      1e-6,
    );
    const y = fround(rnd([n, k], -4, 4));
    const logq = refLogSoftmax(y, n, k);
    let kl = 0;
    for (let i = 0; i < n * k; i++) kl += Math.exp(logp[i]) * (logp[i] - logq[i]);
    checkScalar(
      ops.klDivergence(T(x, [n, k], be32), T(y, [n, k], be32)),
      kl / n,
      "f32 klDivergence",
      1e-5,
      1e-5,
    );
    const shape = [4, 3, 5, 5];
    const bx = fround(rnd(shape, -2, 3));
    const g = fround(rnd([3], 0.5, 1.5));
    const bb = fround(rnd([3]));
    const { mean, varB } = channelStats(bx, 4, 3, 25);
    const state = {
      runningMean: Tensor.zeros(be32, [3]),
      runningVar: Tensor.full(be32, [3], 1),
      momentum: 0.1,
      eps: 1e-5,
    };
    check(
      ops.batchNorm(T(bx, shape, be32), T(g, [3], be32), T(bb, [3], be32), state, true),
      shape,
      refNormalize(bx, g, bb, mean, varB, 1e-5, 4, 3, 25),
      "f32 batchNorm",
      1e-5,
      1e-5,
    );
    check(state.runningMean, [3], mean.map((v) => 0.1 * v), "f32 running mean", 1e-5, 1e-6);
    check(
      state.runningVar,
      [3],
      varB.map((v) => 0.9 + 0.1 * v * 100 / 99),
      "f32 running var",
      1e-5,
      1e-6,
    );
  });
});

// ---- errors ----

Deno.test("shape errors name the op and the shapes", () => {
  scope(() => {
    const z = (shape: number[], backend: Backend = be) => Tensor.zeros(backend, shape);
    throwsShapes(() => ops.matmul(z([2, 3]), z([4, 5])), "matmul", [2, 3], [4, 5]);
    throwsShapes(() => ops.matmul(z([2, 3, 1]), z([3, 5])), "matmul", [2, 3, 1]);
    throwsShapes(() => ops.linear(z([2, 4]), z([5, 3])), "linear", [2, 4], [5, 3]);
    throwsShapes(() => ops.linear(z([2, 3]), z([5, 3]), z([4])), "linear", [4], [5, 3]);
    throwsShapes(() => ops.biasAdd(z([2, 3, 4, 4]), z([4])), "biasAdd", [2, 3, 4, 4], [4]);
    for (const op of ["add", "sub", "mul", "div"] as const) {
      throwsShapes(() => ops[op](z([2, 3]), z([4])), op, [2, 3], [4]);
      throwsShapes(() => ops[op](z([2, 3, 4]), z([3, 2, 1])), op, [2, 3, 4], [3, 2, 1]);
    }
    throwsShapes(() => ops.concat([z([2, 3]), z([3, 3])]), "concat", [2, 3], [3, 3]);
    throwsShapes(
      () => ops.concat([z([2, 3, 4, 4]), z([2, 1, 4, 5])]),
      "concat",
      [2, 3, 4, 4],
      [2, 1, 4, 5],
    );
    throwsShapes(() => ops.reshape(z([2, 3]), [4, 2]), "reshape", [2, 3]);
    throwsShapes(
      () => ops.conv2d(z([1, 3, 5, 5]), z([4, 2, 3, 3])),
      "conv2d",
      [1, 3, 5, 5],
      [4, 2, 3, 3],
    );
    throwsShapes(
      () => ops.conv2d(z([1, 2, 3, 3]), z([4, 2, 5, 5])),
      "conv2d",
      [1, 2, 3, 3],
      [4, 2, 5, 5],
    );
    throwsShapes(() => ops.conv2d(z([2, 3, 5]), z([4, 3, 3, 3])), "conv2d", [2, 3, 5]);
    // A wrong conv bias is caught by the bias step (conv2d delegates to biasAdd).
    assert.throws(
      () => ops.conv2d(z([1, 2, 5, 5]), z([4, 2, 3, 3]), z([3])),
      { message: /^Cannot run (conv2d|biasAdd): .*\[3\]/ },
    );
    throwsShapes(
      () => ops.convTranspose2d(z([1, 3, 4, 4]), z([2, 3, 3, 3])),
      "convTranspose2d",
      [1, 3, 4, 4],
      [2, 3, 3, 3],
    );
    throwsShapes(() => ops.maxPool2d(z([2, 3, 4]), { kernel: 2 }), "maxPool2d", [2, 3, 4]);
    throwsShapes(() => ops.maxPool2d(z([1, 1, 2, 2]), { kernel: 3 }), "maxPool2d", [1, 1, 2, 2]);
    throwsShapes(() => ops.globalAvgPool2d(z([2, 3])), "globalAvgPool2d", [2, 3]);
    const state = { runningMean: z([3]), runningVar: z([3]), momentum: 0.1, eps: 1e-5 };
    throwsShapes(
      () => ops.batchNorm(z([2, 4, 3, 3]), z([4]), z([4]), state, true),
      "batchNorm",
      [2, 4, 3, 3],
      [3],
    );
    throwsShapes(
      () => ops.batchNorm(z([2, 3, 3, 3]), z([2]), z([3]), state, false),
      "batchNorm",
      [2, 3, 3, 3],
      [2],
    );
    throwsShapes(() => ops.batchNorm(z([2, 3, 3]), z([3]), z([3]), state, true), "batchNorm", [
      2,
      3,
      3,
    ]);
    throwsShapes(() => ops.batchNorm(z([1, 3]), z([3]), z([3]), state, true), "batchNorm", [1, 3]);
    throwsShapes(() => ops.softmax(z([2, 3, 4])), "softmax", [2, 3, 4]);
    throwsShapes(() => ops.logSoftmax(z([5])), "logSoftmax", [5]);
    throwsShapes(() => ops.crossEntropy(z([4, 3]), z([3])), "crossEntropy", [4, 3], [3]);
    throwsShapes(() => ops.crossEntropy(z([4, 3]), z([4, 1])), "crossEntropy", [4, 3], [4, 1]);
    throwsShapes(() => ops.klDivergence(z([4, 3]), z([4, 2])), "klDivergence", [4, 3], [4, 2]);
    throwsShapes(() => ops.klDivergence(z([4, 3]), z([3, 3])), "klDivergence", [4, 3], [3, 3]);
    throwsShapes(() => ops.squaredError(z([2, 3]), z([3, 2])), "squaredError", [2, 3], [3, 2]);
    throwsShapes(() => ops.squaredError(z([6]), z([6, 1])), "squaredError", [6], [6, 1]);
    throwsShapes(() => ops.countErrors(z([4, 3]), z([5])), "countErrors", [4, 3], [5]);
    // Tensors of two backends do not mix.
    throwsShapes(() => ops.add(z([2]), z([2], be32)), "add", [2], [2]);
    assert.throws(() => ops.add(z([2]), z([2], be32)), /different backends/);
    throwsShapes(() => ops.matmul(z([2, 2]), z([2, 2], be32)), "matmul", [2, 2], [2, 2]);
  });
});

Deno.test("window and probability errors name the op", () => {
  scope(() => {
    const z = (shape: number[]) => Tensor.zeros(be, shape);
    const x = z([1, 1, 6, 6]);
    const w = z([1, 1, 3, 3]);
    assert.throws(() => ops.conv2d(x, w, null, { stride: 0 }), {
      message: /^Cannot run conv2d: stride/,
    });
    assert.throws(() => ops.conv2d(x, w, null, { padding: -1 }), {
      message: /^Cannot run conv2d: padding/,
    });
    assert.throws(
      () => ops.convTranspose2d(x, w, null, { stride: 2, outputPadding: 2 }),
      { message: /^Cannot run convTranspose2d: output padding/ },
    );
    assert.throws(
      () => ops.maxPool2d(x, { kernel: 2, padding: 2 }),
      { message: /^Cannot run maxPool2d: padding/ },
    );
    assert.throws(() => ops.dropout(x, 1, new Rng(1)), {
      message: /^Cannot run dropout: probability/,
    });
    assert.throws(() => ops.dropout(x, -0.1, new Rng(1)), {
      message: /^Cannot run dropout: probability/,
    });
  });
});

Deno.test("crossEntropy rejects labels out of range in the native kernel", () => {
  scope(() => {
    const logits = Tensor.zeros(be, [3, 4]);
    for (const bad of [4, -1, 100]) {
      assert.throws(
        () => ops.crossEntropy(logits, Tensor.from(be, [0, bad, 1], [3])),
        { message: /^Cannot run native kernel cross_entropy_forward/ },
        `label ${bad} accepted`,
      );
    }
    assert.throws(
      () => ops.crossEntropy(Tensor.zeros(be32, [2, 3]), Tensor.from(be32, [3, 0], [2])),
      { message: /^Cannot run native kernel cross_entropy_forward/ },
      "f32 label 3 of 3 classes accepted",
    );
  });
});
