/**
 * Supervised learning on the labelled batch alone: L_nll.
 * @module
 */
import { backward } from "../autograd/tape.ts";
import * as ops from "../ops/mod.ts";
import type { Rng } from "../ops/random.ts";
import { averageModules, type WeightAverage } from "../nn/average.ts";
import type { Module } from "../nn/module.ts";
import type { Adam } from "../nn/optim.ts";
import type { Batch, Method, StepMetrics } from "./method.ts";

/** The supervised baseline. */
export class Supervised implements Method {
  readonly name = "supervised";
  readonly modules: Record<string, Module>;
  readonly optimizers: Record<string, Adam>;
  readonly rngs: Record<string, Rng> = {};

  /** `average`, where given, is a moving average of the classifier, evaluated in its place. */
  constructor(
    readonly classifier: Module,
    readonly optimizer: Adam,
    readonly average: WeightAverage | null = null,
  ) {
    this.modules = { classifier, ...averageModules(average) };
    this.optimizers = { classifier: optimizer };
  }

  step(batch: Batch): StepMetrics {
    this.optimizer.zeroGrad();
    const nll = ops.crossEntropy(this.classifier.forward(batch.xl), batch.yl);
    backward(nll);
    this.optimizer.update();
    this.average?.update(this.optimizer.step);
    return { nll };
  }
}
