/**
 * A moving average of a classifier's weights (--ema), for evaluation: the
 * same readout for every method, so a method and its baseline are read alike.
 * @module
 */
import type { Tensor } from "../autograd/tensor.ts";
import type { Module } from "./module.ts";

/** A module's parameters, then its buffers, in a fixed order. */
export function stateOf(m: Module): Tensor[] {
  return [...m.namedParameters(), ...m.namedBuffers()].map(([, t]) => t);
}

/** Copies parameters and buffers from one module to another of the same architecture. */
export function copyState(from: Module, to: Module): void {
  const dst = stateOf(to);
  stateOf(from).forEach((t, i) => t.backend.copy(dst[i].storage, t.storage));
}

/** A method's checkpoint entry for its average: the network under one name, or nothing. */
export function averageModules(average: WeightAverage | null): Record<string, Module> {
  return average ? { averaged: average.module } : {};
}

/**
 * avg = decay * avg + (1 - decay) * source for the parameters of `module`,
 * a second network of the source's architecture; buffers (batch-norm running
 * statistics) are copied, as they do not belong to the averaged weights: on
 * image sets, --bn-stats-batches re-estimates them before each evaluation.
 */
export class WeightAverage {
  constructor(readonly source: Module, readonly module: Module, readonly decay: number) {
    if (!(decay > 0 && decay < 1)) {
      throw new RangeError(`Cannot average weights with decay ${decay}: it must be in (0, 1)`);
    }
    copyState(source, module);
  }

  /**
   * Takes in the source's weights after its `step`-th update (1-based). Mean
   * Teacher's warm-up: the plain mean of the updates so far until that reaches
   * the decay, so that early evaluations are of trained weights and not mostly
   * of the initial ones.
   */
  update(step: number): void {
    const decay = Math.min(this.decay, 1 - 1 / step);
    const cur = this.source.namedParameters();
    this.module.namedParameters().forEach(([, t], i) =>
      t.backend.axpby(t.storage, 1 - decay, cur[i][1].storage, decay, t.size)
    );
    const bufs = this.source.namedBuffers();
    this.module.namedBuffers().forEach(([, t], i) => t.backend.copy(t.storage, bufs[i][1].storage));
  }
}
