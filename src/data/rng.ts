/**
 * A small seeded generator for data order and augmentation: xoshiro128**
 * seeded through SplitMix32 from a seed and a stream number, so that the
 * split (from --data-seed) and the batch order (from the training seed) are
 * independent and each reproducible on its own. The tool's Philox generator
 * lives in the native kernels; this one runs where the data is prepared (the
 * main thread and the data worker) and needs no backend.
 * @module
 */

/** Streams of one seed, so that independent uses never share numbers. */
export const Streams = {
  split: 1,
  labelled: 2,
  unlabelled: 3,
  augment: 4,
  /** The training rows that re-estimate batch-norm statistics. */
  statistics: 5,
} as const;

function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [state, (z ^ (z >>> 16)) >>> 0];
}

/** xoshiro128** keyed by (seed, stream); every method is deterministic. */
export class DataRng {
  #s = new Uint32Array(4);

  /** @param seed an integer in [0, 2^32); @param stream a small integer naming the use */
  constructor(readonly seed: number, readonly stream = 0) {
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      throw new Error(`Cannot seed a data generator with ${seed}: use an integer in [0, 2^32)`);
    }
    let st = (seed ^ Math.imul(stream + 1, 0x632be5ab)) | 0;
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(st);
      st = next;
      this.#s[i] = out;
    }
    if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
  }

  /** The next 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.#s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }

  /** A uniform integer in [0, n), without modulo bias; n <= 2^32. */
  below(n: number): number {
    if (!(n >= 1 && n <= 2 ** 32)) throw new Error(`Cannot draw below ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** A uniform integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  /** Shuffles in place (Fisher-Yates). */
  shuffle<T extends Int32Array>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array<ArrayBuffer> {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) a[i] = i;
    return this.shuffle(a);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
