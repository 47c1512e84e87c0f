/**
 * What a training method is to the shared loop: its models, optimisers and
 * random streams (so the loop can checkpoint them), and one step.
 * @module
 */
import type { Tensor } from "../autograd/tensor.ts";
import type { Batch } from "../data/source.ts";
export type { Batch };
export { unlabelledOf } from "../data/source.ts";
import type { WeightAverage } from "../nn/average.ts";
import type { Module } from "../nn/module.ts";
import type { Adam } from "../nn/optim.ts";
import type { Rng } from "../ops/random.ts";

/**
 * Metrics of one step by name (losses), as scalar tensors: the loop adds them
 * up where they live and reads them only when it logs, so a step never waits
 * for a GPU to finish.
 */
export type StepMetrics = Record<string, Tensor>;

/** A training method: the loop calls step() once per iteration, inside a scope. */
export interface Method {
  readonly name: string;
  /** Modules saved in checkpoints, by name. */
  readonly modules: Record<string, Module>;
  readonly optimizers: Record<string, Adam>;
  readonly rngs: Record<string, Rng>;
  /** One training iteration. */
  step(batch: Batch, iteration: number): StepMetrics;
  /** The classifier as trained. */
  readonly classifier: Module;
  /**
   * A moving average of the classifier's weights, where the method keeps one:
   * it is evaluated in the classifier's place (see {@linkcode evaluatedOf}).
   */
  readonly average?: WeightAverage | null;
  /** Adversarial examples for a batch, for figures (methods that make them). */
  adversarial?(x: Tensor): Tensor;
  /**
   * Measurements of the method's inner workings on a fixed batch, logged with
   * each evaluation; they must leave every training stream and statistic alone.
   */
  diagnose?(x: Tensor): Record<string, number>;
}

/** The classifier to evaluate: the method's average of its weights where it keeps one. */
export function evaluatedOf(method: Method): Module {
  return method.average?.module ?? method.classifier;
}

/**
 * The classifier as trained where {@linkcode evaluatedOf} gives an average of
 * it, else null: the loop reports its test error too, as c_test_error.
 */
export function rawClassifierOf(method: Method): Module | null {
  return method.average ? method.classifier : null;
}
