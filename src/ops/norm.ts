/**
 * Batch normalisation over (n, c) or (n, c, h, w) tensors, in training mode
 * (batch statistics, optionally updating the running ones) or inference mode
 * (running statistics).
 * @module
 */
import type { Storage } from "../backend/backend.ts";
import { type GradContext, record } from "../autograd/tape.ts";
import { Tensor } from "../autograd/tensor.ts";
import { expect, sameBackend } from "./check.ts";

/** Running statistics and settings of one batch-norm layer. */
export interface BatchNormState {
  runningMean: Tensor;
  runningVar: Tensor;
  momentum: number;
  eps: number;
}

/**
 * y = gamma (x - mean) / sqrt(var + eps) + beta per channel. With `training`,
 * mean and var are the batch's, and the running statistics move toward them
 * unless `updateStats` is false (VAT's perturbed passes must not move them).
 */
export function batchNorm(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  state: BatchNormState,
  training: boolean,
  updateStats = true,
): Tensor {
  const op = "batchNorm";
  expect(
    x.shape.length === 2 || x.shape.length === 4,
    op,
    "input must be (n, c) or (n, c, h, w)",
    x,
  );
  const [n, c] = x.shape;
  const s = x.size / (n * c);
  for (
    const [name, t] of [["gamma", gamma], ["beta", beta], ["running mean", state.runningMean], [
      "running var",
      state.runningVar,
    ]] as const
  ) {
    expect(t.shape.length === 1 && t.shape[0] === c, op, `${name} must be (${c})`, x, t);
  }
  sameBackend(op, x, gamma, beta, state.runningMean, state.runningVar);
  const be = x.backend;
  const y = Tensor.empty(be, x.shape);
  if (training) {
    expect(n * s > 1, op, "training mode needs more than one value per channel", x);
    const mean = Tensor.empty(be, [c]);
    const invStd = Tensor.empty(be, [c]);
    be.batchnormForwardTrain(
      x.storage,
      gamma.storage,
      beta.storage,
      y.storage,
      mean.storage,
      invStd.storage,
      state.runningMean.storage,
      state.runningVar.storage,
      n,
      c,
      s,
      state.momentum,
      state.eps,
      updateStats,
    );
    record(
      op,
      y,
      [x, gamma, beta],
      (g, ctx) =>
        backwardParts(
          ctx,
          x,
          gamma,
          beta,
          (dx, dgamma, dbeta, accDx, accParams) =>
            be.batchnormBackwardTrain(
              x.storage,
              gamma.storage,
              mean.storage,
              invStd.storage,
              g,
              dx,
              dgamma,
              dbeta,
              n,
              c,
              s,
              accDx,
              accParams,
            ),
        ),
    );
  } else {
    const rm = state.runningMean.storage;
    const rv = state.runningVar.storage;
    be.batchnormForwardInfer(
      x.storage,
      gamma.storage,
      beta.storage,
      rm,
      rv,
      y.storage,
      n,
      c,
      s,
      state.eps,
    );
    record(
      op,
      y,
      [x, gamma, beta],
      (g, ctx) =>
        backwardParts(
          ctx,
          x,
          gamma,
          beta,
          (dx, dgamma, dbeta, accDx, accParams) =>
            be.batchnormBackwardInfer(
              x.storage,
              gamma.storage,
              rm,
              rv,
              g,
              dx,
              dgamma,
              dbeta,
              n,
              c,
              s,
              state.eps,
              accDx,
              accParams,
            ),
        ),
    );
  }
  return y;
}

type BackwardCall = (
  dx: Storage | null,
  dgamma: Storage | null,
  dbeta: Storage | null,
  accDx: boolean,
  accParams: boolean,
) => void;

/**
 * Runs a batch-norm backward kernel for the gradients wanted. The kernel has
 * one accumulate flag for gamma and beta; when they differ, beta gets a call
 * of its own.
 */
function backwardParts(
  ctx: GradContext,
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  call: BackwardCall,
): void {
  const dx = ctx.slot(x);
  const dgamma = ctx.slot(gamma);
  const dbeta = ctx.slot(beta);
  const split = dgamma && dbeta && dgamma.acc !== dbeta.acc;
  call(
    dx?.g ?? null,
    dgamma?.g ?? null,
    split ? null : dbeta?.g ?? null,
    dx?.acc ?? false,
    (dgamma ?? dbeta)?.acc ?? false,
  );
  if (split) call(null, null, dbeta.g, false, dbeta.acc);
}
