/**
 * Seeded randomness. The generator is counter-based (Philox4x32-10 in the
 * kernels): a {@linkcode Rng} is a key and a counter, each draw takes the next
 * block of counters, so a run is reproducible from its seed, whatever the
 * thread count.
 * @module
 */
import { record } from "../autograd/tape.ts";
import { Tensor } from "../autograd/tensor.ts";
import type { Backend } from "../backend/backend.ts";
import { expect } from "./check.ts";

/** Streams a seed can fork into (keys are seed + stream * 2^32, exact below 2^53). */
const MAX_STREAMS = 2 ** 21;

/** A Philox key and counter; fork() gives independent child streams. */
export class Rng {
  #offset = 0;
  #children = 0;

  /** @param seed an integer in [0, 2^32) */
  constructor(readonly seed: number, readonly stream = 0) {
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      throw new Error(`Cannot seed a generator with ${seed}: use an integer in [0, 2^32)`);
    }
  }

  /** The 64-bit Philox key. */
  get key(): number {
    return this.seed + this.stream * 2 ** 32;
  }

  /** The counter block where the next draw starts. */
  get offset(): number {
    return this.#offset;
  }

  set offset(v: number) {
    this.#offset = v;
  }

  /** Reserves counters for `n` numbers; returns the first block. */
  take(n: number): number {
    const at = this.#offset;
    this.#offset += Math.ceil(n / 4);
    return at;
  }

  /** The counters, for checkpoints (the key is rebuilt from the seed). */
  exportState(): { offset: number; children: number } {
    return { offset: this.#offset, children: this.#children };
  }

  importState(s: { offset: number; children: number }): void {
    this.#offset = s.offset;
    this.#children = s.children;
  }

  /** An independent generator (a new key) derived from this one. */
  fork(): Rng {
    this.#children++;
    const stream = (this.stream * 31 + this.#children) % MAX_STREAMS;
    return new Rng(this.seed, stream);
  }
}

/** Standard normal numbers times std plus mean. */
export function randn(
  backend: Backend,
  shape: readonly number[],
  rng: Rng,
  std = 1,
  mean = 0,
): Tensor {
  const t = Tensor.empty(backend, shape);
  backend.randNormal(t.storage, t.size, mean, std, rng.key, rng.take(t.size));
  return t;
}

/** Uniform numbers in [lo, hi). */
export function randUniform(
  backend: Backend,
  shape: readonly number[],
  rng: Rng,
  lo = 0,
  hi = 1,
): Tensor {
  const t = Tensor.empty(backend, shape);
  backend.randUniform(t.storage, t.size, lo, hi, rng.key, rng.take(t.size));
  return t;
}

/** x plus Gaussian noise of standard deviation std; the gradient passes to x. */
export function gaussianNoise(x: Tensor, std: number, rng: Rng): Tensor {
  const be = x.backend;
  const y = randn(be, x.shape, rng, std);
  be.axpby(y.storage, 1, x.storage, 1, x.size);
  record("gaussianNoise", y, [x], (g, ctx) => {
    const dx = ctx.slot(x);
    if (dx) be.axpby(dx.g, 1, g, dx.acc ? 1 : 0, x.size);
  });
  return y;
}

/** Inverted dropout: zeroes each element with probability p and scales the rest by 1 / (1 - p). */
export function dropout(x: Tensor, p: number, rng: Rng): Tensor {
  expect(p >= 0 && p < 1, "dropout", `probability must be in [0, 1), got ${p}`);
  const be = x.backend;
  const y = Tensor.empty(be, x.shape);
  const mask = Tensor.empty(be, x.shape);
  be.dropoutForward(x.storage, y.storage, mask.storage, x.size, p, rng.key, rng.take(x.size));
  record("dropout", y, [x], (g, ctx) => {
    const dx = ctx.slot(x);
    if (dx) be.mul(dx.g, g, mask.storage, x.size, dx.acc);
  });
  return y;
}
