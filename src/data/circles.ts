/**
 * Two concentric circles (the paper's synthetic set): class 0 on the outer
 * circle of radius r, class 1 on the inner one of radius r/2, Gaussian noise
 * of standard deviation sigma on each coordinate. Generated on the backend
 * from a Philox stream, so a data seed gives the same points everywhere.
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import { Tensor } from "../autograd/tensor.ts";
import { randn, randUniform, Rng } from "../ops/random.ts";

/** Points (n, 2) and labels (n). */
export interface Points {
  x: Tensor;
  y: Tensor;
}

/** n points, alternating classes (so any prefix is balanced). */
export function circles(backend: Backend, n: number, noise: number, rng: Rng, radius = 1): Points {
  const angle = randUniform(backend, [n], rng, 0, 2 * Math.PI).toArray();
  const jitter = randn(backend, [n, 2], rng, noise).toArray();
  const xs = new Float64Array(2 * n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const cls = i % 2;
    const r = cls === 0 ? radius : radius / 2;
    xs[2 * i] = r * Math.cos(angle[i]) + jitter[2 * i];
    xs[2 * i + 1] = r * Math.sin(angle[i]) + jitter[2 * i + 1];
    ys[i] = cls;
  }
  return { x: Tensor.from(backend, xs, [n, 2]), y: Tensor.from(backend, ys, [n]) };
}

/** The paper's split: 4 labelled points per class, 1500 unlabelled, 1000 test. */
export function circlesSplit(backend: Backend, noise: number, dataSeed: number) {
  const rng = new Rng(dataSeed);
  return {
    labelled: circles(backend, 8, noise, rng.fork()),
    unlabelled: circles(backend, 1500, noise, rng.fork()),
    test: circles(backend, 1000, noise, rng.fork()),
  };
}
