/**
 * Matrix products: matmul and the fused linear layer op (x W^T + b), both
 * backed by the backend's GEMM.
 * @module
 */
import { passGradient, record } from "../autograd/tape.ts";
import { Tensor } from "../autograd/tensor.ts";
import { expect, expectRank, sameBackend } from "./check.ts";

/** a (m, k) times b (k, n). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const op = "matmul";
  expectRank(op, a, 2, "a");
  expectRank(op, b, 2, "b");
  sameBackend(op, a, b);
  const [m, k] = a.shape;
  const n = b.shape[1];
  expect(b.shape[0] === k, op, `inner dimensions differ (${k} vs ${b.shape[0]})`, a, b);
  const be = a.backend;
  const y = Tensor.empty(be, [m, n]);
  be.gemm(false, false, m, n, k, 1, a.storage, k, b.storage, n, 0, y.storage, n);
  record(op, y, [a, b], (g, ctx) => {
    const da = ctx.slot(a); // dA = G B^T
    if (da) be.gemm(false, true, m, k, n, 1, g, n, b.storage, n, da.acc ? 1 : 0, da.g, k);
    const db = ctx.slot(b); // dB = A^T G
    if (db) be.gemm(true, false, k, n, m, 1, a.storage, k, g, n, db.acc ? 1 : 0, db.g, n);
  });
  return y;
}

/**
 * y = x W^T + b with x (n, in), W (out, in) as PyTorch lays it out, b (out).
 * Inputs of more than two dimensions are flattened after the first.
 */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  const op = "linear";
  expectRank(op, w, 2, "weight");
  const [out, inF] = w.shape;
  const n = x.shape[0];
  expect(x.shape.length >= 2 && x.size === n * inF, op, `input must be (batch, ${inF})`, x, w);
  if (b) expect(b.shape.length === 1 && b.shape[0] === out, op, `bias must be (${out})`, b, w);
  sameBackend(op, x, w, ...(b ? [b] : []));
  const be = x.backend;
  const y = Tensor.empty(be, [n, out]);
  be.gemm(false, true, n, out, inF, 1, x.storage, inF, w.storage, inF, 0, y.storage, out);
  if (b) be.biasAdd(y.storage, y.storage, b.storage, n, out, 1);
  record(op, y, [x, w, b], (g, ctx) => {
    const dx = ctx.slot(x); // dX = G W
    if (dx) {
      be.gemm(false, false, n, inF, out, 1, g, out, w.storage, inF, dx.acc ? 1 : 0, dx.g, inF);
    }
    const dw = ctx.slot(w); // dW = G^T X
    if (dw) be.gemm(true, false, out, inF, n, 1, g, out, x.storage, inF, dw.acc ? 1 : 0, dw.g, inF);
    const db = b ? ctx.slot(b) : null;
    if (db) be.biasGrad(db.g, g, n, out, 1, db.acc);
  });
  return y;
}

/** Adds a per-channel bias b (c) to x (n, c, ...), the bias step of conv layers. */
export function biasAdd(x: Tensor, b: Tensor): Tensor {
  const op = "biasAdd";
  expect(x.shape.length >= 2, op, "input must be (batch, channels, ...)", x);
  const [n, c] = x.shape;
  expect(b.shape.length === 1 && b.shape[0] === c, op, `bias must be (${c})`, x, b);
  sameBackend(op, x, b);
  const s = x.size / (n * c);
  const be = x.backend;
  const y = Tensor.empty(be, x.shape);
  be.biasAdd(y.storage, x.storage, b.storage, n, c, s);
  record(op, y, [x, b], (g, ctx) => {
    const dx = ctx.slot(x);
    if (dx) passGradient(dx, g, x.size);
    const db = ctx.slot(b);
    if (db) be.biasGrad(db.g, g, n, c, s, db.acc);
  });
  return y;
}
