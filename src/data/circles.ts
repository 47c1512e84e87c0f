/**
 * Two concentric circles (the paper's synthetic set): class 0 on the outer
 * circle of radius 1, class 1 on the inner one of radius 1/2, Gaussian noise
 * of standard deviation sigma on each coordinate, everything optionally
 * scaled (the data scale matters to the adversarial methods). Generated on the backend
 * from a Philox stream, so a data seed gives the same points everywhere.
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import { scope, Tensor } from "../autograd/tensor.ts";
import * as ops from "../ops/mod.ts";
import type { Module } from "../nn/module.ts";
import type { Batch, DataSource } from "./source.ts";
import { randn, randUniform, Rng } from "../ops/random.ts";

/** Points (n, 2) and labels (n). */
export interface Points {
  x: Tensor;
  y: Tensor;
}

/** n points, alternating classes (so any prefix is balanced), all coordinates times `scale`. */
export function circles(backend: Backend, n: number, noise: number, rng: Rng, scale = 1): Points {
  const angle = randUniform(backend, [n], rng, 0, 2 * Math.PI).toArray();
  const jitter = randn(backend, [n, 2], rng, noise).toArray();
  const xs = new Float64Array(2 * n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const cls = i % 2;
    const r = cls === 0 ? 1 : 0.5;
    xs[2 * i] = scale * (r * Math.cos(angle[i]) + jitter[2 * i]);
    xs[2 * i + 1] = scale * (r * Math.sin(angle[i]) + jitter[2 * i + 1]);
    ys[i] = cls;
  }
  return { x: Tensor.from(backend, xs, [n, 2]), y: Tensor.from(backend, ys, [n]) };
}

/** The paper's split: 4 labelled points per class (by default), 1500 unlabelled, 1000 test. */
export function circlesSplit(
  backend: Backend,
  noise: number,
  dataSeed: number,
  scale = 1,
  labels = 8,
) {
  const rng = new Rng(dataSeed);
  return {
    labelled: circles(backend, labels, noise, rng.fork(), scale),
    unlabelled: circles(backend, 1500, noise, rng.fork(), scale),
    test: circles(backend, 1000, noise, rng.fork(), scale),
  };
}

/** The two-circles source of the training loop: all labelled points, a (sub)set of unlabelled ones. */
export class CirclesSource implements DataSource {
  readonly rngs: Record<string, Rng>;
  readonly #split: ReturnType<typeof circlesSplit>;
  readonly #ulBatch: number;
  readonly #rng: Rng;
  /** A host copy of the unlabelled points, to gather minibatches from. */
  readonly #hostUnlabelled: ArrayLike<number>;

  constructor(
    split: ReturnType<typeof circlesSplit>,
    ulBatchSize: number,
    rng: Rng,
  ) {
    this.#split = split;
    this.#ulBatch = Math.min(ulBatchSize, split.unlabelled.y.size);
    this.#rng = rng;
    this.rngs = { unlabelled: rng };
    this.#hostUnlabelled = split.unlabelled.x.toArray();
  }

  get split(): ReturnType<typeof circlesSplit> {
    return this.#split;
  }

  next(): Batch {
    const { labelled, unlabelled } = this.#split;
    const n = unlabelled.y.size;
    if (this.#ulBatch === n) return { xl: labelled.x, yl: labelled.y, xul: unlabelled.x };
    // A uniform sample without replacement: the smallest of n uniform keys.
    const be = unlabelled.x.backend;
    const keys = randUniform(be, [n], this.#rng).toArray();
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => keys[a] - keys[b]);
    const all = this.#hostUnlabelled;
    const xs = new Float64Array(this.#ulBatch * 2);
    for (let i = 0; i < this.#ulBatch; i++) {
      xs[2 * i] = all[2 * order[i]];
      xs[2 * i + 1] = all[2 * order[i] + 1];
    }
    return { xl: labelled.x, yl: labelled.y, xul: Tensor.from(be, xs, [this.#ulBatch, 2]) };
  }

  testError(model: Module): number {
    const { x, y } = this.#split.test;
    return scope(() => (ops.countErrors(model.forward(x), y).item() / y.size) * 100);
  }
}
