/**
 * The paper's method: a classifier C and a generator G(x, z) trained against
 * each other.
 *
 *   C minimises  L_nll + alpha * KL(C(x) || C(G(x, z)))          (G fixed)
 *   G maximises  alpha * KL(C(x) || C(G(x, z))) - lambda * L_rec  (C fixed)
 *
 * C(x) is a constant target in both, as in VAT. With differentiated
 * responsibilities (on by default) the encoder learns from L_rec alone and
 * the decoder from G's whole objective. Passes through C on generated
 * examples leave batch-norm running statistics alone; with --joint-batch C
 * sees x and G(x, z) in one batch. With --consistency random (a control) C
 * is made consistent on random directions of G's step norms instead.
 *
 * The leads we measured on MNIST (docs/mnist.md), each off in the paper's
 * form: lambda held by dual ascent at a target E||x - G(x, z)||^2, a
 * non-saturating adversarial loss, an EMA teacher as G's target, and VAT's
 * term added to C's loss beside G's.
 * @module
 */
import { backward, detach, noGrad } from "../autograd/tape.ts";
import { generatorDiagnostics } from "./diagnostics.ts";
import { persistent, Tensor } from "../autograd/tensor.ts";
import * as ops from "../ops/mod.ts";
import type { SquaredErrorReduction } from "../ops/loss.ts";
import type { Rng } from "../ops/random.ts";
import {
  recordBatchNormStats,
  replayBatchNormStats,
  withFrozenBatchNormStats,
  withRunningBatchNormStats,
} from "../nn/layers.ts";
import { Module } from "../nn/module.ts";
import type { Adam } from "../nn/optim.ts";
import { averageModules, stateOf, type WeightAverage } from "../nn/average.ts";
import { type Generator, rowNorms } from "../models/generator.ts";
import { vatLoss } from "./vat.ts";
import { type Batch, type Method, type StepMetrics, unlabelledOf } from "./method.ts";

/** Settings of the paper's method. */
export interface AdvGenOptions {
  alpha: number;
  lambda: number;
  /** Weight of the entropy of C(x) on the unlabelled batch in C's loss (VAT's EntMin; 0: off). */
  entminWeight: number;
  /** Generator steps per classifier step. */
  gSteps: number;
  /** Encoder from L_rec alone, decoder from G's whole objective. */
  differentiated: boolean;
  /** Iterations at the start in which G only learns to reconstruct (an auto-encoder warm-up). */
  gWarmup: number;
  /** How L_rec reduces ||x - G(x, z)||^2: "batchmean" is the paper's E_x. */
  reconReduction: SquaredErrorReduction;
  /**
   * How G weighs each sample's KL: "mean" is the paper's E_x KL; "relative"
   * divides each sample's KL by (its own + the batch mean), held constant, so
   * the gradient is close to that of E_x log KL and every sample's direction
   * counts alike, as in VAT's per-sample normalisation.
   */
  gKlWeight: "mean" | "relative";
  /**
   * C sees x and G(x, z) in one batch, so batch norm normalises both by the
   * same statistics; otherwise each pass is normalised by its own batch's.
   */
  jointBatch: boolean;
  /**
   * How C's batch norm normalises its passes on G's examples (without
   * --joint-batch): by their own batch's statistics, by those of C's pass on
   * the clean x of the same step, or by the running statistics.
   */
  gPassStats: "own" | "clean" | "running";
  /**
   * What C is made consistent on: G's examples, or (a control) x plus a
   * random direction with the per-sample L2 norm of G's step.
   */
  consistency: "generator" | "random";
  /**
   * G's adversarial loss: "kl" maximises the KL (the paper); "agreement"
   * minimises -log(1 - sum_k C(x)_k C(G(x, z))_k), the probability that the
   * two predictions disagree, whose gradient does not vanish where C is
   * confident and consistent (the non-saturating form of a GAN's loss).
   */
  gAdvLoss: "kl" | "agreement";
  /**
   * 0: lambda fixed. Otherwise lambda (starting at `lambda`) follows dual
   * ascent, lambda <- max(0, lambda + lambdaLr (L_rec - gRecTarget^2)), so
   * that E||x - G(x, z)||^2 is held near gRecTarget^2: a constraint in place
   * of a fixed weight.
   */
  gRecTarget: number;
  /** Step of lambda's dual ascent. */
  lambdaLr: number;
  /** G's target on x: C's own prediction (the paper), or its moving average's ("ema" needs one). */
  gTarget: "classifier" | "ema";
  /** Weight of VAT's term KL(C(x) || C(x + r_vadv)) in C's loss beside G's (0: off). */
  vatWeight: number;
  /** VAT's radius for that term. */
  vatEps: number;
  /**
   * The order of the two updates in an iteration. "generator-first" lets both
   * take C's clean logits on the unlabelled batch from one pass (C does not
   * change between them), where C's step takes them as a constant target.
   */
  stepOrder: "classifier-first" | "generator-first";
  /**
   * Which samples C's consistency term counts: all (the paper), or only those
   * whose G example keeps C's predicted class (a lead: G's class-changing
   * examples read as wrong labels).
   */
  consistencyMask: "none" | "agreeing";
  /**
   * 0: G trains throughout. Otherwise, every gReset iterations G goes back to
   * its initial weights and its Adam forgets its moments (a lead: a fresh G
   * attacks C where C is weak, a long-trained one drifts to edits that change
   * the class).
   */
  gReset: number;
}

/** VAT's published finite-difference step and power iterations, for advgen's VAT term. */
const VAT_PROBE = { xi: 1e-6, iterations: 1 };

/** The paper's method as it states it: every stabiliser and control off. */
export const LITERAL_ADVGEN: AdvGenOptions = {
  alpha: 1,
  lambda: 1,
  entminWeight: 0,
  gSteps: 1,
  differentiated: true,
  gWarmup: 0,
  reconReduction: "batchmean",
  gKlWeight: "mean",
  jointBatch: false,
  gPassStats: "own",
  consistency: "generator",
  gAdvLoss: "kl",
  gRecTarget: 0,
  lambdaLr: 0.01,
  gTarget: "classifier",
  vatWeight: 0,
  vatEps: 2,
  stepOrder: "classifier-first",
  consistencyMask: "none",
  gReset: 0,
};

/**
 * x plus a random direction, uniform on the sphere, scaled per sample to the
 * L2 norm of y - x (the control of a perturbation that is not adversarial).
 */
export function randomOfSameNorm(x: Tensor, y: Tensor, rng: Rng): Tensor {
  return noGrad(() => {
    const step = ops.flatten(ops.sub(y, x));
    const norms = rowNorms(step);
    const direction = ops.l2Normalize(ops.randn(x.backend, step.shape, rng), 1e-30);
    return ops.add(x, ops.reshape(ops.mul(direction, norms), x.shape));
  });
}

/** The (n, k) terms softmax(a) (log softmax(a) - log softmax(b)), whose row sums are each row's KL. */
function klTerms(a: Tensor, b: Tensor): Tensor {
  return ops.mul(ops.softmax(a), ops.sub(ops.logSoftmax(a), ops.logSoftmax(b)));
}

/**
 * Mean over rows of w_i KL(softmax(a_i) || softmax(b_i)) with w_i = 1 / (KL_i
 * + mean KL) held constant (a is a constant target); returns it and the plain
 * mean KL. The weights are computed where the tensors live (row sums as a
 * product with a column of ones), so nothing waits for a GPU.
 */
export function relativeKl(a: Tensor, b: Tensor): { loss: Tensor; mean: Tensor } {
  const [n, k] = a.shape;
  const terms = klTerms(a, b);
  const { mean, weights } = noGrad(() => {
    const rows = ops.matmul(terms, Tensor.full(a.backend, [k, 1], 1));
    const mean = ops.mean(rows);
    const denominator = ops.affine(ops.add(ops.relu(rows), mean), 1, 1e-30);
    return { mean, weights: ops.div(Tensor.full(a.backend, [n, 1], 1), denominator) };
  });
  return { loss: ops.scale(ops.sum(ops.mul(terms, weights)), 1 / n), mean };
}

/**
 * A loss whose gradient is that of mean_i -log(1 - a_i), with a_i = sum_k
 * softmax(a_i)_k softmax(b_i)_k the agreement of two predictions (a is a
 * constant target): mean_i w_i a_i with w_i = 1 / (1 - a_i) held constant,
 * so no log is needed. Returns it and the mean agreement.
 */
export function agreementLoss(a: Tensor, b: Tensor): { loss: Tensor; mean: Tensor } {
  const [n, k] = a.shape;
  const ones = Tensor.full(a.backend, [k, 1], 1);
  const agreement = ops.matmul(ops.mul(ops.softmax(a), ops.softmax(b)), ones);
  const weights = noGrad(() =>
    ops.div(
      Tensor.full(a.backend, [n, 1], 1),
      ops.affine(ops.relu(ops.affine(agreement, -1, 1)), 1, 1e-6),
    )
  );
  return {
    loss: ops.scale(ops.sum(ops.mul(agreement, weights)), 1 / n),
    mean: noGrad(() => ops.mean(agreement)),
  };
}

/** Logits this much sharper make a softmax one-hot at the argmax (to float32 precision). */
const ARGMAX_SHARPNESS = 1e4;

/**
 * Mean over rows of m_i KL(softmax(a_i) || softmax(b_i)), m_i = 1 where a_i
 * and b_i have the same argmax and 0 where they differ (held constant; a is a
 * constant target). m_i is the agreement of the two softmaxes of the logits
 * made sharper by {@linkcode ARGMAX_SHARPNESS}, so no argmax leaves the
 * backend. Returns it and the fraction of rows kept.
 */
export function agreeingKl(a: Tensor, b: Tensor): { loss: Tensor; kept: Tensor } {
  const [n, k] = a.shape;
  const ones = Tensor.full(a.backend, [k, 1], 1);
  const terms = klTerms(a, b);
  const mask = noGrad(() => {
    const sharp = (t: Tensor) => ops.softmax(ops.scale(t, ARGMAX_SHARPNESS));
    return ops.matmul(ops.mul(sharp(a), sharp(b)), ones);
  });
  return {
    loss: ops.scale(ops.sum(ops.mul(terms, mask)), 1 / n),
    kept: noGrad(() => ops.mean(mask)),
  };
}

/** A module that holds lambda, so that checkpoints save it with the weights. */
class DualVariable extends Module {
  readonly value: Tensor;
  constructor(backend: Tensor["backend"], initial: number) {
    super();
    this.value = this.addBuffer("lambda", () => Tensor.full(backend, [], initial));
  }
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** The streams and the second classifier that some options need. */
export interface AdvGenParts {
  /** A moving average of C's weights, evaluated in C's place (required by gTarget "ema"). */
  average?: WeightAverage;
  /** The random control's directions (required when options.consistency is "random"). */
  controlRng?: Rng;
  /** VAT's power-iteration starts (required when options.vatWeight > 0). */
  vatRng?: Rng;
}

/** Classifier-versus-generator training. */
export class AdvGen implements Method {
  readonly name = "advgen";
  readonly modules: Record<string, Module>;
  readonly optimizers: Record<string, Adam>;
  readonly rngs: Record<string, Rng>;

  readonly average: WeightAverage | null;
  readonly controlRng: Rng | null;
  readonly vatRng: Rng | null;
  /** lambda under dual ascent (options.gRecTarget > 0), else null: lambda is fixed. */
  readonly dual: DualVariable | null;
  /** G's initial parameters and buffers (options.gReset > 0), else null. */
  readonly #initialG: Tensor[] | null;

  constructor(
    readonly classifier: Module,
    readonly generator: Generator,
    readonly optC: Adam,
    readonly optG: Adam,
    readonly options: AdvGenOptions,
    parts: AdvGenParts = {},
  ) {
    const { average = null, controlRng = null, vatRng = null } = parts;
    if (average && average.source !== classifier) {
      throw new Error("Cannot evaluate a moving average of another network than C");
    }
    if (options.gTarget === "ema" && !average) {
      throw new Error("Cannot take G's target from a moving average that is not kept");
    }
    if (options.consistency === "random" && !controlRng) {
      throw new Error("Cannot draw the random control's directions without a stream");
    }
    if (options.jointBatch && options.gPassStats !== "own") {
      throw new Error("Cannot normalise G's pass apart when x and G(x, z) share one batch");
    }
    if (options.vatWeight > 0 && !vatRng) {
      throw new Error("Cannot add VAT's term without a stream for its power iteration");
    }
    this.average = average;
    this.controlRng = controlRng;
    this.vatRng = vatRng;
    this.dual = options.gRecTarget > 0
      ? new DualVariable(classifier.parameters()[0].backend, options.lambda)
      : null;
    this.modules = {
      classifier,
      generator,
      ...averageModules(average),
      ...(this.dual ? { dual: this.dual } : {}),
    };
    this.optimizers = { classifier: optC, generator: optG };
    this.rngs = {
      generator: generator.rng,
      ...(controlRng ? { control: controlRng } : {}),
      ...(vatRng ? { vat: vatRng } : {}),
    };
    // Taken before any checkpoint is loaded: a resumed run rebuilds the same initial G from its seed.
    this.#initialG = options.gReset > 0
      ? persistent(() =>
        stateOf(generator).map((t) => Tensor.from(t.backend, t.toArray(), t.shape))
      )
      : null;
  }

  /** G back to its initial weights, its Adam to fresh moments (--g-reset). */
  #resetGenerator(): void {
    const initial = this.#initialG!;
    stateOf(this.generator).forEach((t, i) => t.backend.copy(t.storage, initial[i].storage));
    this.optG.restart();
  }

  /** lambda as a constant tensor (dual ascent) or a number (fixed). */
  #lambda(): Tensor | number {
    return this.dual ? this.dual.value : this.options.lambda;
  }

  /** One step of lambda's dual ascent from this iteration's L_rec. */
  #ascend(rec: Tensor): void {
    const dual = this.dual;
    if (!dual) return;
    const { lambdaLr, gRecTarget } = this.options;
    noGrad(() => {
      const next = ops.relu(
        ops.add(dual.value, ops.affine(rec, lambdaLr, -lambdaLr * gRecTarget * gRecTarget)),
      );
      dual.value.backend.copy(dual.value.storage, next.storage);
    });
  }

  /** C's prediction on x as a constant target. */
  #target(x: Tensor): Tensor {
    return noGrad(() => withFrozenBatchNormStats(() => this.classifier.forward(x)));
  }

  /**
   * C's logits on x and on a perturbed x2, leaving the running statistics
   * alone: in one batch with --joint-batch, else in two.
   */
  #logitsOfPair(x: Tensor, x2: Tensor): [Tensor, Tensor] {
    const c = this.classifier;
    return withFrozenBatchNormStats(() => {
      if (!this.options.jointBatch) return [c.forward(x), c.forward(x2)];
      const n = x.shape[0];
      const both = c.forward(ops.concatRows([x, x2]));
      return [ops.sliceRows(both, 0, n), ops.sliceRows(both, n, x2.shape[0])];
    });
  }

  /**
   * The clean logits from `cleanPass` and C's logits on x2, the pass on x2
   * normalised as gPassStats says; neither moves the running statistics.
   */
  #cleanAndPerturbed(cleanPass: () => Tensor, x2: Tensor): [Tensor, Tensor] {
    const perturbed = () => withFrozenBatchNormStats(() => this.classifier.forward(x2));
    switch (this.options.gPassStats) {
      case "own":
        return [cleanPass(), perturbed()];
      case "running":
        return [cleanPass(), withRunningBatchNormStats(perturbed)];
      case "clean": {
        const { result, stats } = recordBatchNormStats(cleanPass);
        return [result, replayBatchNormStats(stats, perturbed)];
      }
    }
  }

  /**
   * G's update on x (C fixed); before --g-warmup ends, the reconstruction
   * alone. `clean`, when given, is C's current logits on x (from
   * {@linkcode sharedClean}), so the step needs no pass of its own for them.
   */
  generatorStep(x: Tensor, iteration: number, clean: Tensor | null = null): StepMetrics {
    const { alpha, differentiated, gWarmup, reconReduction } = this.options;
    const g = this.generator;
    this.optG.zeroGrad();
    const { output: xg, reconstruction } = g.run(x);
    const rec = ops.squaredError(x, reconstruction, reconReduction);
    const latent = g.shift !== null;
    // A constant L_rec has a zero gradient: it is not backpropagated (Generator.reconstructionConstant).
    const constantRec = g.reconstructionConstant;
    if (iteration < gWarmup) {
      if (!constantRec) {
        backward(rec, { into: latent ? g.autoencoderParameters() : g.parameters() });
      }
      this.optG.update();
      return { rec };
    }
    const [ownClean, logits] = this.options.jointBatch
      ? this.#logitsOfPair(x, xg)
      : this.#cleanAndPerturbed(() => clean ?? this.#target(x), xg);
    const target = detach(this.options.gTarget === "ema" ? this.#teacher(x) : ownClean);
    const metrics: StepMetrics = { rec };
    // G minimises `attack` (-alpha L_adv, or alpha times the agreement loss) + lambda L_rec.
    let attack: Tensor;
    if (this.options.gAdvLoss === "agreement") {
      const { loss, mean } = agreementLoss(target, logits);
      attack = ops.scale(loss, alpha);
      metrics.g_agree = mean;
    } else {
      const [adv, advValue] = this.options.gKlWeight === "relative"
        ? ((r) => [r.loss, r.mean] as const)(relativeKl(target, logits))
        : ((kl) => [kl, kl] as const)(ops.klDivergence(target, logits));
      attack = ops.scale(adv, -alpha);
      metrics.g_adv = advValue;
    }
    const lambda = this.#lambda();
    const weightedRec = typeof lambda === "number" ? ops.scale(rec, lambda) : ops.mul(rec, lambda);
    if (latent) {
      // The auto-encoder learns L_rec alone; the shift of the code, the attack alone.
      backward(attack, { into: g.shiftParameters() });
      backward(weightedRec, { into: g.autoencoderParameters() });
    } else if (constantRec) {
      // The encoder's share (L_rec alone) is zero: with differentiated responsibilities it keeps its weights.
      backward(attack, { into: differentiated ? g.decoderParameters() : g.parameters() });
    } else if (differentiated) {
      backward(ops.add(attack, weightedRec), { into: g.decoderParameters() });
      backward(weightedRec, { into: g.encoderParameters() });
    } else {
      backward(ops.add(attack, weightedRec), { into: g.parameters() });
    }
    this.optG.update();
    this.#ascend(rec);
    if (this.dual) metrics.lambda = this.dual.value;
    return metrics;
  }

  /** The EMA teacher's prediction on x as a constant target. */
  #teacher(x: Tensor): Tensor {
    return noGrad(() => withFrozenBatchNormStats(() => this.average!.module.forward(x)));
  }

  /**
   * C's update on a batch (G fixed): L_nll on the labelled part, alpha L_adv
   * on the unlabelled. `sharedClean`, when given, is C's current logits on the
   * unlabelled part (from {@linkcode sharedClean}).
   */
  classifierStep(batch: Batch, sharedClean: Tensor | null = null): StepMetrics {
    const c = this.classifier;
    const xul = unlabelledOf(batch);
    this.optC.zeroGrad();
    const nll = ops.crossEntropy(c.forward(batch.xl), batch.yl);
    const generated = noGrad(() => this.generator.forward(xul));
    const xg = this.options.consistency === "random"
      ? randomOfSameNorm(xul, generated, this.controlRng!)
      : generated;
    const { alpha, entminWeight } = this.options;
    // With EntMin the clean logits carry a gradient (its entropy term); the KL's target never does.
    const cleanPass = () =>
      sharedClean ??
        (entminWeight > 0 ? withFrozenBatchNormStats(() => c.forward(xul)) : this.#target(xul));
    const [clean, perturbed] = this.options.jointBatch
      ? this.#logitsOfPair(xul, xg)
      : this.#cleanAndPerturbed(cleanPass, xg);
    const metrics: StepMetrics = { nll };
    if (this.options.consistencyMask === "agreeing") {
      const { loss, kept } = agreeingKl(detach(clean), perturbed);
      metrics.adv = loss;
      metrics.kept = kept;
    } else {
      metrics.adv = ops.klDivergence(detach(clean), perturbed);
    }
    let loss = ops.add(nll, ops.scale(metrics.adv, alpha));
    if (this.options.vatWeight > 0) {
      metrics.vat = vatLoss(c, xul, detach(clean), this.vatRng!, {
        eps: this.options.vatEps,
        ...VAT_PROBE,
      });
      loss = ops.add(loss, ops.scale(metrics.vat, this.options.vatWeight));
    }
    if (entminWeight > 0) {
      metrics.entropy = ops.entropy(clean);
      loss = ops.add(loss, ops.scale(metrics.entropy, entminWeight));
    }
    backward(loss, { into: c.parameters() });
    this.optC.update();
    this.average?.update(this.optC.step);
    return metrics;
  }

  /**
   * C's clean logits on the unlabelled batch as a constant, to be shared by
   * G's steps and C's step in the generator-first order; null where that
   * order is not taken, or where C's step needs a pass of its own on x (in
   * one batch with G's examples, with EntMin's gradient, or to record the
   * batch-norm statistics that G's pass replays).
   */
  sharedClean(xul: Tensor): Tensor | null {
    const o = this.options;
    const shareable = o.stepOrder === "generator-first" && !o.jointBatch &&
      o.entminWeight === 0 && o.gPassStats !== "clean";
    return shareable ? this.#target(xul) : null;
  }

  step(batch: Batch, iteration: number): StepMetrics {
    const xul = unlabelledOf(batch);
    const { gReset } = this.options;
    if (gReset > 0 && iteration > 0 && iteration % gReset === 0) this.#resetGenerator();
    const classifierWaits = iteration < this.options.gWarmup;
    const metrics: StepMetrics = {};
    const generatorSteps = (clean: Tensor | null) => {
      for (let s = 0; s < this.options.gSteps; s++) {
        Object.assign(metrics, this.generatorStep(xul, iteration, clean));
      }
    };
    if (this.options.stepOrder === "generator-first") {
      const clean = classifierWaits ? null : this.sharedClean(xul);
      generatorSteps(clean);
      if (!classifierWaits) Object.assign(metrics, this.classifierStep(batch, clean));
    } else {
      if (!classifierWaits) Object.assign(metrics, this.classifierStep(batch));
      generatorSteps(null);
    }
    return metrics;
  }

  adversarial(x: Tensor): Tensor {
    return noGrad(() => this.generator.forward(x));
  }

  diagnose(x: Tensor): Record<string, number> {
    return generatorDiagnostics(this.classifier, this.generator, x, this.generator.options.zDim);
  }
}
