/**
 * Softmax and the losses over rows of (n, k) logits: cross-entropy, the fused
 * KL divergence between two softmaxes, and squared error. Losses are
 * one-element tensors.
 * @module
 */
import { record } from "../autograd/tape.ts";
import { Tensor } from "../autograd/tensor.ts";
import { expect, expectRank, sameBackend } from "./check.ts";
import { affine, mul, sum } from "./elementwise.ts";

function softmaxOp(x: Tensor, log: boolean): Tensor {
  const op = log ? "logSoftmax" : "softmax";
  expectRank(op, x, 2, "input");
  const [n, k] = x.shape;
  const be = x.backend;
  const y = Tensor.empty(be, x.shape);
  be.softmaxForward(x.storage, y.storage, n, k, log);
  record(op, y, [x], (g, ctx) => {
    const dx = ctx.slot(x);
    if (dx) be.softmaxBackward(y.storage, g, dx.g, n, k, log, dx.acc);
  });
  return y;
}

/** Softmax of each row of (n, k). */
export const softmax = (x: Tensor): Tensor => softmaxOp(x, false);
/** Log-softmax of each row of (n, k). */
export const logSoftmax = (x: Tensor): Tensor => softmaxOp(x, true);

/**
 * Mean over rows of the entropy of softmax(logits), -sum p log p: VAT's
 * entropy minimisation term ("VAT + EntMin"). Composed of softmax,
 * log-softmax, a product and a sum, so its gradient is theirs.
 */
export function entropy(logits: Tensor): Tensor {
  expectRank("entropy", logits, 2, "logits");
  const p = softmax(logits);
  const terms = mul(p, logSoftmax(logits));
  return affine(sum(terms), -1 / logits.shape[0], 0);
}

/** Checks (n) labels against (n, k) logits. */
function checkLabels(op: string, logits: Tensor, labels: Tensor): void {
  expectRank(op, logits, 2, "logits");
  expect(
    labels.shape.length === 1 && labels.shape[0] === logits.shape[0],
    op,
    "labels must be (batch)",
    logits,
    labels,
  );
  sameBackend(op, logits, labels);
}

/** Mean over rows of -log softmax(logits)[label]; labels (n) hold class indices. */
export function crossEntropy(logits: Tensor, labels: Tensor): Tensor {
  const op = "crossEntropy";
  checkLabels(op, logits, labels);
  expect(!labels.requiresGrad, op, "labels cannot require a gradient");
  const [n, k] = logits.shape;
  const be = logits.backend;
  const loss = Tensor.empty(be, [1]);
  const logp = Tensor.empty(be, [n, k]);
  be.crossEntropyForward(logits.storage, labels.storage, loss.storage, logp.storage, n, k);
  record(op, loss, [logits], (g, ctx) => {
    const dx = ctx.slot(logits);
    if (dx) be.crossEntropyBackward(logp.storage, labels.storage, g, dx.g, n, k, dx.acc);
  });
  return loss;
}

/**
 * Mean over rows of KL(softmax(a) || softmax(b)) for logits a and b (n, k),
 * computed in one pass per row; the gradient flows to b (and to a if it wants one).
 */
export function klDivergence(a: Tensor, b: Tensor): Tensor {
  const op = "klDivergence";
  expectRank(op, a, 2, "a");
  expect(
    b.shape.length === 2 && a.shape[0] === b.shape[0] && a.shape[1] === b.shape[1],
    op,
    "a and b must match",
    a,
    b,
  );
  sameBackend(op, a, b);
  const [n, k] = a.shape;
  const be = a.backend;
  const loss = Tensor.empty(be, [1]);
  const logA = Tensor.empty(be, [n, k]);
  const logB = Tensor.empty(be, [n, k]);
  be.klForward(a.storage, b.storage, loss.storage, logA.storage, logB.storage, n, k);
  record(op, loss, [a, b], (g, ctx) => {
    const da = ctx.slot(a);
    const db = ctx.slot(b);
    if (da || db) {
      be.klBackward(
        logA.storage,
        logB.storage,
        g,
        da?.g ?? null,
        db?.g ?? null,
        n,
        k,
        da?.acc ?? false,
        db?.acc ?? false,
      );
    }
  });
  return loss;
}

/** How squared errors are reduced: over all elements, or summed per sample and averaged over the batch. */
export type SquaredErrorReduction = "mean" | "batchmean" | "sum";

/**
 * Squared error between a and b of the same shape: "mean" is the MSE,
 * "batchmean" the mean over the first axis of each sample's squared L2
 * distance (the paper's L_reconst), "sum" the plain sum.
 */
export function squaredError(
  a: Tensor,
  b: Tensor,
  reduction: SquaredErrorReduction = "mean",
): Tensor {
  const op = "squaredError";
  expect(
    a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]),
    op,
    "shapes must match",
    a,
    b,
  );
  sameBackend(op, a, b);
  const scale = reduction === "mean" ? 1 / a.size : reduction === "batchmean" ? 1 / a.shape[0] : 1;
  const be = a.backend;
  const loss = Tensor.empty(be, [1]);
  be.sqErrorForward(a.storage, b.storage, loss.storage, a.size, scale);
  record(op, loss, [a, b], (g, ctx) => {
    const da = ctx.slot(a);
    const db = ctx.slot(b);
    if (da || db) {
      be.sqErrorBackward(
        a.storage,
        b.storage,
        g,
        da?.g ?? null,
        db?.g ?? null,
        a.size,
        scale,
        da?.acc ?? false,
        db?.acc ?? false,
      );
    }
  });
  return loss;
}

/** Mean squared error over all elements. */
export const mse = (a: Tensor, b: Tensor): Tensor => squaredError(a, b, "mean");

/** Number of rows whose argmax differs from the label (no gradient), as a one-element tensor. */
export function countErrors(logits: Tensor, labels: Tensor): Tensor {
  checkLabels("countErrors", logits, labels);
  const [n, k] = logits.shape;
  const out = Tensor.empty(logits.backend, [1]);
  logits.backend.countErrors(out.storage, logits.storage, labels.storage, n, k);
  return out;
}
