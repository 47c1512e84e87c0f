/**
 * Gradient checking against central finite differences, in float64: the f64
 * build of the native kernels runs the same code as the f32 one.
 */
import assert from "node:assert/strict";
import type { Backend } from "../src/backend/backend.ts";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { grad, noGrad } from "../src/autograd/tape.ts";
import { scope, Tensor } from "../src/autograd/tensor.ts";

export const f64 = (): Promise<Backend> => createCpuBackend("f64");

/** A small deterministic generator for test data (not the tool's Philox). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Host numbers uniform in [lo, hi). */
export function randomArray(n: number, rand: () => number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

export interface GradCheckOptions {
  /** Elements checked per input at most (chosen at random); all when smaller. */
  samples?: number;
  step?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

/**
 * Checks d sum(f(inputs) * R) / d input for every input against central
 * differences, R a fixed random weighting so that every output matters.
 * `inputs` are host arrays with shapes; `f` builds the output from tensors.
 */
export function gradCheck(
  be: Backend,
  name: string,
  inputs: { data: ArrayLike<number>; shape: number[]; grad?: boolean }[],
  f: (xs: Tensor[]) => Tensor,
  opts: GradCheckOptions = {},
): void {
  const { samples = 40, step = 1e-6, atol = 1e-7, rtol = 1e-5, seed = 1 } = opts;
  const rand = mulberry32(seed);
  scope(() => {
    const xs = inputs.map((i) => {
      const t = Tensor.from(be, i.data, i.shape);
      t.requiresGrad = i.grad !== false;
      return t;
    });
    const out0 = noGrad(() => f(xs));
    const weights = Tensor.from(be, randomArray(out0.size, rand), out0.shape);
    const objective = (): number =>
      noGrad(() =>
        scope(() => (f(xs).toArray() as Float64Array).reduce((s, v, i) => s + v * wArr[i], 0))
      );
    const wArr = weights.toArray();
    const y = f(xs);
    // Backward seeded with R is the gradient of sum(y * R).
    const targets = xs.filter((x) => x.requiresGrad);
    const grads = grad(y, targets, weights);
    targets.forEach((x, ti) => {
      const analytic = grads[ti].toArray();
      const host = x.toArray();
      const idx = host.length <= samples
        ? [...host.keys()]
        : Array.from({ length: samples }, () => Math.floor(rand() * host.length));
      for (const i of idx) {
        const v = host[i];
        be.write(x.storage, [v + step], i);
        const up = objective();
        be.write(x.storage, [v - step], i);
        const down = objective();
        be.write(x.storage, [v], i);
        const numeric = (up - down) / (2 * step);
        const err = Math.abs(analytic[i] - numeric);
        assert(
          err <= atol + rtol * Math.abs(numeric),
          `${name}: d/d input${xs.indexOf(x)}[${i}] analytic ${
            analytic[i]
          } vs numeric ${numeric} (error ${err})`,
        );
      }
    });
  });
}
