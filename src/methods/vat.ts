/**
 * Virtual adversarial training's consistency term (Miyato et al., 2018):
 * KL(C(x) || C(x + r_vadv)), with r_vadv found by power iteration.
 * @module
 */
import { backward, detach, grad, noGrad } from "../autograd/tape.ts";
import type { Tensor } from "../autograd/tensor.ts";
import * as ops from "../ops/mod.ts";
import type { Rng } from "../ops/random.ts";
import { withFrozenBatchNormStats } from "../nn/layers.ts";
import { averageModules, type WeightAverage } from "../nn/average.ts";
import type { Module } from "../nn/module.ts";
import type { Adam } from "../nn/optim.ts";
import { type Batch, type Method, type StepMetrics, unlabelledOf } from "./method.ts";

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
 * Each sample scaled to unit L2 norm. VAT's code divides by the largest
 * magnitude before its sqrt(1e-6 + sum d^2), so the 1e-6 never matters; the
 * gradients of the power iteration are tiny (of the order of xi), and the
 * same 1e-6 here would shrink them to nothing, so the guard is far smaller.
 */
function unitVectors(d: Tensor): Tensor {
  return ops.l2Normalize(d, 1e-30);
}

/**
 * VAT's adversarial direction for `x` scaled to eps (r_vadv), by power
 * iteration from a random start: the direction in which the model's output
 * moves most away from the clean logits (a constant target). The probing
 * passes leave batch-norm running statistics alone, as VAT's code, and run in
 * float32 whatever --precision says: in bfloat16, x + xi d would round back
 * to x at xi = 1e-6. For the same reason the target is then recomputed in
 * float32: against bfloat16 clean logits, the probe's gradient would follow
 * the rounding error between the two precisions (far larger than the xi
 * step), not the model's most sensitive direction.
 */
export function vatPerturbation(
  model: Module,
  x: Tensor,
  cleanLogits: Tensor,
  rng: Rng,
  opts: VatOptions,
): Tensor {
  const roundedTarget = x.backend.computePrecision !== "fp32";
  return x.backend.withComputePrecision("fp32", () =>
    withFrozenBatchNormStats(() => {
      const target = roundedTarget ? noGrad(() => model.forward(x)) : detach(cleanLogits);
      let d = ops.randn(x.backend, x.shape, rng);
      for (let i = 0; i < opts.iterations; i++) {
        const probe = noGrad(() => ops.scale(unitVectors(d), opts.xi));
        probe.requiresGrad = true;
        const dist = ops.klDivergence(target, model.forward(ops.add(x, probe)));
        d = grad(dist, [probe])[0];
      }
      return noGrad(() => ops.scale(unitVectors(d), opts.eps));
    }));
}

/** The VAT loss for `x` given the clean logits: KL(C(x) || C(x + r_vadv)). */
export function vatLoss(
  model: Module,
  x: Tensor,
  cleanLogits: Tensor,
  rng: Rng,
  opts: VatOptions,
): Tensor {
  const rAdv = vatPerturbation(model, x, cleanLogits, rng, opts);
  return withFrozenBatchNormStats(() =>
    ops.klDivergence(detach(cleanLogits), model.forward(ops.add(x, rAdv)))
  );
}

/** VAT: L_nll + beta * the VAT term on the unlabelled batch. */
export class Vat implements Method {
  readonly name = "vat";
  readonly modules: Record<string, Module>;
  readonly optimizers: Record<string, Adam>;
  readonly rngs: Record<string, Rng>;

  constructor(
    readonly classifier: Module,
    readonly optimizer: Adam,
    readonly rng: Rng,
    readonly options: VatOptions & { beta: number; entminWeight: number },
    /** A moving average of the classifier, evaluated in its place (ours: VAT evaluates C). */
    readonly average: WeightAverage | null = null,
  ) {
    this.modules = { classifier, ...averageModules(average) };
    this.optimizers = { classifier: optimizer };
    this.rngs = { perturbation: rng };
  }

  step(batch: Batch): StepMetrics {
    const c = this.classifier;
    this.optimizer.zeroGrad();
    const nll = ops.crossEntropy(c.forward(batch.xl), batch.yl);
    // As VAT's code: only the labelled pass moves the batch-norm running statistics.
    const xul = unlabelledOf(batch);
    const { beta, entminWeight } = this.options;
    // With EntMin the clean logits carry a gradient (its entropy term); VAT's target never does.
    const clean = entminWeight > 0
      ? withFrozenBatchNormStats(() => c.forward(xul))
      : noGrad(() => withFrozenBatchNormStats(() => c.forward(xul)));
    const vat = vatLoss(c, xul, detach(clean), this.rng, this.options);
    let loss = ops.add(nll, ops.scale(vat, beta));
    const metrics: StepMetrics = { nll, vat };
    if (entminWeight > 0) {
      metrics.entropy = ops.entropy(clean);
      loss = ops.add(loss, ops.scale(metrics.entropy, entminWeight));
    }
    backward(loss);
    this.optimizer.update();
    this.average?.update(this.optimizer.step);
    return metrics;
  }
}
