/**
 * Virtual adversarial training's consistency term (Miyato et al., 2018):
 * KL(C(x) || C(x + r_vadv)), with r_vadv found by power iteration.
 * @module
 */
import { detach, grad, noGrad } from "../autograd/tape.ts";
import type { Tensor } from "../autograd/tensor.ts";
import * as ops from "../ops/mod.ts";
import type { Rng } from "../ops/random.ts";
import { withFrozenBatchNormStats } from "../nn/layers.ts";
import type { Module } from "../nn/module.ts";

/** Settings of the VAT term. */
export interface VatOptions {
  /** Radius of the adversarial perturbation. */
  eps: number;
  /** Step of the finite difference in the power iteration. */
  xi: number;
  /** Power iterations. */
  iterations: number;
}

/**
 * The VAT loss for `x` given the clean logits (a constant target). The
 * perturbed passes leave batch-norm running statistics alone, as VAT's code.
 */
export function vatLoss(
  model: Module,
  x: Tensor,
  cleanLogits: Tensor,
  rng: Rng,
  opts: VatOptions,
): Tensor {
  const target = detach(cleanLogits);
  return withFrozenBatchNormStats(() => {
    let d = ops.randn(x.backend, x.shape, rng);
    for (let i = 0; i < opts.iterations; i++) {
      const probe = noGrad(() => ops.scale(ops.l2Normalize(d), opts.xi));
      probe.requiresGrad = true;
      const dist = ops.klDivergence(target, model.forward(ops.add(x, probe)));
      d = grad(dist, [probe])[0];
    }
    const rAdv = noGrad(() => ops.scale(ops.l2Normalize(d), opts.eps));
    return ops.klDivergence(target, model.forward(ops.add(x, rAdv)));
  });
}
