/**
 * Two concentric circles (the paper's synthetic set): class 0 on the outer
 * circle of radius 1, class 1 on the inner one of radius 1/2, Gaussian noise
 * of standard deviation sigma on each coordinate, everything optionally
 * scaled (the data scale matters to the adversarial methods). Generated on the backend
 * from a Philox stream, so a data seed gives the same points everywhere.
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import { Tensor } from "../autograd/tensor.ts";
import { randn, randUniform, Rng } from "../ops/random.ts";
import type { Points, PointsSplit } from "./points.ts";

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
): PointsSplit {
  const rng = new Rng(dataSeed);
  return {
    labelled: circles(backend, labels, noise, rng.fork(), scale),
    unlabelled: circles(backend, 1500, noise, rng.fork(), scale),
    test: circles(backend, 1000, noise, rng.fork(), scale),
  };
}
