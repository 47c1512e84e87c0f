/**
 * Elementwise ops and reductions: broadcasting arithmetic, scalar affine maps,
 * activations, per-sample L2 normalisation, channel concatenation, reshape,
 * sum and mean.
 * @module
 */
import type { ActivationKind, BinaryOpKind, Storage } from "../backend/backend.ts";
import { passGradient, record } from "../autograd/tape.ts";
import { Tensor } from "../autograd/tensor.ts";
import { expect, sameBackend } from "./check.ts";

// ---- broadcasting arithmetic ----

/** The broadcast shape of two shapes (NumPy rules), or null if they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out.push(Math.max(da, db));
  }
  return out;
}

/** Strides (in elements) to read `shape` as if it had the broadcast `out` shape; 0 where broadcast. */
function broadcastStrides(shape: readonly number[], out: readonly number[]): Int32Array {
  const strides = new Int32Array(out.length);
  let stride = 1;
  for (let i = out.length - 1; i >= 0; i--) {
    const d = shape[shape.length - out.length + i] ?? 1;
    strides[i] = d === 1 ? 0 : stride;
    stride *= d;
  }
  return strides;
}

function binary(op: BinaryOpKind, a: Tensor, b: Tensor): Tensor {
  sameBackend(op, a, b);
  const shape = broadcastShape(a.shape, b.shape);
  expect(shape !== null, op, "shapes do not broadcast", a, b);
  const be = a.backend;
  const y = Tensor.empty(be, shape!);
  const outShape = Int32Array.from(shape!);
  const sa = broadcastStrides(a.shape, shape!);
  const sb = broadcastStrides(b.shape, shape!);
  // Every broadcast of this op and its backward has the output's shape.
  const broadcast = (
    kind: BinaryOpKind,
    out: Storage,
    x: Storage,
    sx: Int32Array,
    z: Storage,
    sz: Int32Array,
  ) => be.broadcastBinary(kind, out, outShape, outShape.length, x, sx, z, sz);
  broadcast(op, y.storage, a.storage, sa, b.storage, sb);
  record(op, y, [a, b], (g, ctx) => {
    // Each input's gradient is the output gradient (times a factor) summed down to its shape.
    const reduce = (t: Tensor, strides: Int32Array, src: Storage) => {
      const slot = ctx.slot(t);
      if (!slot) return;
      if (t.size === y.size) passGradient(slot, src, y.size);
      else be.sumTo(slot.g, strides, src, outShape, outShape.length, slot.acc);
    };
    const scratch = () => Tensor.empty(be, shape!);
    if (op === "add" || op === "sub") {
      reduce(a, sa, g);
      if (ctx.needs(b)) {
        if (op === "add") reduce(b, sb, g);
        else {
          const neg = scratch();
          be.affine(neg.storage, g, -1, 0, y.size);
          reduce(b, sb, neg.storage);
        }
      }
    } else if (op === "mul") {
      if (ctx.needs(a)) {
        const t = scratch(); // g * b
        broadcast("mul", t.storage, g, contiguous(shape!), b.storage, sb);
        reduce(a, sa, t.storage);
      }
      if (ctx.needs(b)) {
        const t = scratch(); // g * a
        broadcast("mul", t.storage, g, contiguous(shape!), a.storage, sa);
        reduce(b, sb, t.storage);
      }
    } else {
      // y = a / b: da = g / b, db = -g y / b
      const gb = scratch();
      broadcast("div", gb.storage, g, contiguous(shape!), b.storage, sb);
      reduce(a, sa, gb.storage);
      if (ctx.needs(b)) {
        const t = scratch();
        broadcast("mul", t.storage, gb.storage, contiguous(shape!), y.storage, contiguous(shape!));
        be.affine(t.storage, t.storage, -1, 0, y.size);
        reduce(b, sb, t.storage);
      }
    }
  });
  return y;
}

function contiguous(shape: readonly number[]): Int32Array {
  return broadcastStrides(shape, shape);
}

/** a + b with broadcasting. */
export const add = (a: Tensor, b: Tensor): Tensor => binary("add", a, b);
/** a - b with broadcasting. */
export const sub = (a: Tensor, b: Tensor): Tensor => binary("sub", a, b);
/** a * b elementwise with broadcasting. */
export const mul = (a: Tensor, b: Tensor): Tensor => binary("mul", a, b);
/** a / b elementwise with broadcasting. */
export const div = (a: Tensor, b: Tensor): Tensor => binary("div", a, b);

/** y = a x + c elementwise, for scalars a and c. */
export function affine(x: Tensor, a: number, c = 0): Tensor {
  const be = x.backend;
  const y = Tensor.empty(be, x.shape);
  be.affine(y.storage, x.storage, a, c, x.size);
  record("affine", y, [x], (g, ctx) => {
    const dx = ctx.slot(x);
    if (dx) be.axpby(dx.g, a, g, dx.acc ? 1 : 0, x.size);
  });
  return y;
}

/** x times a scalar. */
export const scale = (x: Tensor, a: number): Tensor => affine(x, a, 0);

// ---- activations ----

function activation(kind: ActivationKind, x: Tensor, slope = 0): Tensor {
  const be = x.backend;
  const y = Tensor.empty(be, x.shape);
  be.actForward(kind, slope, x.storage, y.storage, x.size);
  record(kind, y, [x], (g, ctx) => {
    const dx = ctx.slot(x);
    if (dx) be.actBackward(kind, slope, x.storage, y.storage, g, dx.g, x.size, dx.acc);
  });
  return y;
}

export const relu = (x: Tensor): Tensor => activation("relu", x);
/** Leaky ReLU: x for x > 0, slope * x otherwise (0.1 by default, as VAT's code). */
export const leakyRelu = (x: Tensor, slope = 0.1): Tensor => activation("leakyRelu", x, slope);
export const sigmoid = (x: Tensor): Tensor => activation("sigmoid", x);
export const tanh = (x: Tensor): Tensor => activation("tanh", x);

// ---- per-sample normalisation, concatenation, reshape ----

/** Each sample (first axis) divided by sqrt(eps + its squared L2 norm). */
export function l2Normalize(x: Tensor, eps = 1e-6): Tensor {
  const n = x.shape[0];
  const d = x.size / n;
  const be = x.backend;
  const y = Tensor.empty(be, x.shape);
  be.l2normForward(x.storage, y.storage, n, d, eps);
  record("l2Normalize", y, [x], (g, ctx) => {
    const dx = ctx.slot(x);
    if (dx) be.l2normBackward(x.storage, g, dx.g, n, d, eps, dx.acc);
  });
  return y;
}

/** Concatenates along axis 1 (channels of NCHW, features of (n, f)); other axes must match. */
export function concat(xs: Tensor[]): Tensor {
  const op = "concat";
  expect(xs.length > 0, op, "needs at least one tensor");
  sameBackend(op, ...xs);
  const [n] = xs[0].shape;
  const rest = xs[0].shape.slice(2);
  for (const x of xs) {
    expect(
      x.shape.length === xs[0].shape.length && x.shape[0] === n &&
        x.shape.slice(2).every((d, i) => d === rest[i]),
      op,
      "all dimensions but the second must match",
      ...xs,
    );
  }
  const be = xs[0].backend;
  const rowLens = xs.map((x) => x.size / n);
  const total = rowLens.reduce((s, l) => s + l, 0);
  const y = Tensor.empty(be, [n, xs.reduce((s, x) => s + x.shape[1], 0), ...rest]);
  let at = 0;
  for (let i = 0; i < xs.length; i++) {
    const dst = be.view(y.storage, at, y.size - at);
    be.copyRows(dst, total, xs[i].storage, rowLens[i], n, rowLens[i], false);
    at += rowLens[i];
  }
  record(op, y, xs, (g, ctx) => {
    let at = 0;
    for (let i = 0; i < xs.length; i++) {
      const dx = ctx.slot(xs[i]);
      if (dx) {
        be.copyRows(dx.g, rowLens[i], be.view(g, at, y.size - at), total, n, rowLens[i], dx.acc);
      }
      at += rowLens[i];
    }
  });
  return y;
}

/** Stacks along axis 0 (samples): every other dimension must match. */
export function concatRows(xs: Tensor[]): Tensor {
  const op = "concatRows";
  expect(xs.length > 0, op, "needs at least one tensor");
  sameBackend(op, ...xs);
  const rest = xs[0].shape.slice(1);
  for (const x of xs) {
    expect(
      x.shape.length === xs[0].shape.length && x.shape.slice(1).every((d, i) => d === rest[i]),
      op,
      "all dimensions but the first must match",
      ...xs,
    );
  }
  const be = xs[0].backend;
  const y = Tensor.empty(be, [xs.reduce((s, x) => s + x.shape[0], 0), ...rest]);
  const offsets = xs.map((_, i) => xs.slice(0, i).reduce((s, x) => s + x.size, 0));
  xs.forEach((x, i) => be.copy(be.view(y.storage, offsets[i], x.size), x.storage));
  record(op, y, xs, (g, ctx) => {
    xs.forEach((x, i) => {
      const dx = ctx.slot(x);
      if (dx) passGradient(dx, be.view(g, offsets[i], x.size), x.size);
    });
  });
  return y;
}

/** Rows start .. start + count - 1 of axis 0 (a copy). */
export function sliceRows(x: Tensor, start: number, count: number): Tensor {
  const [n, ...rest] = x.shape;
  expect(
    Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 &&
      start + count <= n,
    "sliceRows",
    `rows ${start}..${start + count - 1} are outside 0..${n - 1}`,
    x,
  );
  const be = x.backend;
  const row = x.size / n;
  const y = Tensor.empty(be, [count, ...rest]);
  be.copy(y.storage, be.view(x.storage, start * row, y.size));
  record("sliceRows", y, [x], (g, ctx) => {
    const dx = ctx.slot(x);
    if (!dx) return;
    // Rows outside the slice get no gradient: zero them unless accumulating.
    if (!dx.acc) be.fill(dx.g, 0);
    be.axpby(be.view(dx.g, start * row, y.size), 1, g, 1, y.size);
  });
  return y;
}

/** The same numbers with another shape (a copy, so the result owns its memory). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const resolved = [...shape];
  const free = resolved.indexOf(-1);
  if (free >= 0) {
    const known = resolved.reduce((p, d, i) => (i === free ? p : p * d), 1);
    resolved[free] = x.size / known;
  }
  expect(
    resolved.reduce((p, d) => p * d, 1) === x.size,
    "reshape",
    `cannot reshape to [${shape}]`,
    x,
  );
  const be = x.backend;
  const y = Tensor.empty(be, resolved);
  be.copy(y.storage, x.storage);
  record("reshape", y, [x], (g, ctx) => {
    const dx = ctx.slot(x);
    if (dx) passGradient(dx, g, x.size);
  });
  return y;
}

/** (n, ...) to (n, rest). */
export const flatten = (x: Tensor): Tensor => reshape(x, [x.shape[0], -1]);

// ---- reductions ----

function reduceAll(op: string, x: Tensor, factor: number): Tensor {
  const be = x.backend;
  const y = Tensor.empty(be, [1]);
  be.sum(y.storage, x.storage, x.size, factor);
  record(op, y, [x], (g, ctx) => {
    const dx = ctx.slot(x);
    if (dx) be.fillFromScalar(dx.g, g, factor, x.size, dx.acc);
  });
  return y;
}

/** Sum of all elements, a one-element tensor. */
export const sum = (x: Tensor): Tensor => reduceAll("sum", x, 1);
/** Mean of all elements, a one-element tensor. */
export const mean = (x: Tensor): Tensor => reduceAll("mean", x, 1 / x.size);
