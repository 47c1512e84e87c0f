/**
 * A data set held as tensors on the backend (two circles, or any small set
 * of points): every labelled sample in each step, a uniform sample of the
 * unlabelled ones, and the whole test set evaluated at once.
 * @module
 */
import { scope, Tensor } from "../autograd/tensor.ts";
import type { Module } from "../nn/module.ts";
import * as ops from "../ops/mod.ts";
import { randUniform, type Rng } from "../ops/random.ts";
import {
  argmaxRows,
  type Batch,
  type DataSource,
  DIAGNOSTIC_BATCH,
  type Predictions,
} from "./source.ts";

/** Samples (n, d) and labels (n). */
export interface Points {
  x: Tensor;
  y: Tensor;
}

/** Labelled, unlabelled and test points. */
export interface PointsSplit {
  labelled: Points;
  unlabelled: Points;
  test: Points;
}

/** The training loop's source over points in memory. */
export class PointsSource implements DataSource {
  readonly rngs: Record<string, Rng>;
  readonly #ulBatch: number;
  readonly #rng: Rng;
  /** A host copy of the unlabelled points, to gather minibatches from. */
  readonly #hostUnlabelled: ArrayLike<number>;

  /**
   * @param ulBatchSize unlabelled points per step (all of them when larger;
   *   0 when the method uses none)
   * @param rng the stream of the unlabelled minibatches
   */
  constructor(readonly split: PointsSplit, ulBatchSize: number, rng: Rng) {
    this.#ulBatch = Math.min(ulBatchSize, split.unlabelled.y.size);
    this.#rng = rng;
    this.rngs = { unlabelled: rng };
    this.#hostUnlabelled = this.#ulBatch > 0 ? split.unlabelled.x.toArray() : [];
  }

  next(): Batch {
    const { labelled, unlabelled } = this.split;
    const n = unlabelled.y.size;
    if (this.#ulBatch === 0) return { xl: labelled.x, yl: labelled.y, xul: null };
    if (this.#ulBatch === n) return { xl: labelled.x, yl: labelled.y, xul: unlabelled.x };
    // A uniform sample without replacement: the smallest of n uniform keys.
    const be = unlabelled.x.backend;
    const keys = randUniform(be, [n], this.#rng).toArray();
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => keys[a] - keys[b]);
    const all = this.#hostUnlabelled;
    const d = unlabelled.x.size / n;
    const xs = new Float64Array(this.#ulBatch * d);
    for (let i = 0; i < this.#ulBatch; i++) {
      for (let j = 0; j < d; j++) xs[d * i + j] = all[d * order[i] + j];
    }
    const shape = [this.#ulBatch, ...unlabelled.x.shape.slice(1)];
    return { xl: labelled.x, yl: labelled.y, xul: Tensor.from(be, xs, shape) };
  }

  testError(model: Module): number {
    const { x, y } = this.split.test;
    return scope(() => (ops.countErrors(model.forward(x), y).item() / y.size) * 100);
  }

  diagnosticBatch(): Tensor {
    const { x } = this.split.test;
    const m = Math.min(DIAGNOSTIC_BATCH, x.shape[0]);
    const d = x.size / x.shape[0];
    return Tensor.from(x.backend, x.toArray().subarray(0, m * d), [m, ...x.shape.slice(1)]);
  }

  testPredictions(model: Module): Predictions {
    const { x, y } = this.split.test;
    return scope(() => {
      const logits = model.forward(x);
      const [n, k] = logits.shape;
      return {
        predicted: argmaxRows(logits.toArray(), n, k),
        labels: Int32Array.from(y.toArray()),
        classes: k,
      };
    });
  }
}
