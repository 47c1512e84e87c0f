/**
 * Adam with per-step learning-rate and beta1 schedules, the update itself one
 * fused native call per parameter.
 * @module
 */
import type { Storage } from "../backend/backend.ts";
import { persistent, Tensor } from "../autograd/tensor.ts";

/** A value as a function of the step (0-based). */
export type Schedule = (step: number) => number;

/** The same value at every step. */
export const constant = (v: number): Schedule => () => v;

/**
 * `initial` until `decayStart`, then linearly down to 0 at `total` (VAT's
 * learning-rate schedule).
 */
export function linearDecay(initial: number, total: number, decayStart: number): Schedule {
  return (step) =>
    step < decayStart
      ? initial
      : initial * (Math.max(0, total - step) / Math.max(1, total - decayStart));
}

/** `before` until step `at`, `after` from then on (VAT's beta1: 0.9, then 0.5). */
export function switchAt(before: number, after: number, at: number): Schedule {
  return (step) => (step < at ? before : after);
}

/** Options of {@linkcode Adam}. */
export interface AdamOptions {
  lr?: number | Schedule;
  beta1?: number | Schedule;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** Adam's state: counters and per-parameter moments. */
export interface AdamState {
  step: number;
  beta1Power: number;
  beta2Power: number;
  moments: ({ m: Tensor; v: Tensor } | null)[];
}

const asSchedule = (v: number | Schedule): Schedule => (typeof v === "number" ? constant(v) : v);

/**
 * Adam (Kingma and Ba) as torch.optim.Adam. With a changing beta1 the first
 * bias correction is 1 - prod(beta1 over the steps), as TensorFlow's Adam in
 * VAT's code computes it; with a constant beta1 that is 1 - beta1^t.
 */
export class Adam {
  readonly lr: Schedule;
  readonly beta1: Schedule;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Steps taken. */
  step = 0;
  #beta1Power = 1;
  #beta2Power = 1;
  readonly #state = new Map<Tensor, { m: Tensor; v: Tensor }>();

  constructor(readonly params: Tensor[], opts: AdamOptions = {}) {
    this.lr = asSchedule(opts.lr ?? 1e-3);
    this.beta1 = asSchedule(opts.beta1 ?? 0.9);
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
  }

  /** Forgets this step's gradients (without touching memory). */
  zeroGrad(): void {
    for (const p of this.params) p.gradReady = false;
  }

  /** One update of every parameter that received a gradient this step. */
  update(): void {
    const lr = this.lr(this.step);
    const beta1 = this.beta1(this.step);
    this.step++;
    this.#beta1Power *= beta1;
    this.#beta2Power *= this.beta2;
    const bc1 = 1 - this.#beta1Power;
    const bc2 = 1 - this.#beta2Power;
    // One native call for every parameter (they share a backend, as every op's inputs do):
    // tensor t's p, g, m and v are entries 4t to 4t + 3 of the address table.
    const table: Storage[] = [];
    const sizes: number[] = [];
    for (const p of this.params) {
      if (!p.gradReady || !p.grad) continue;
      const s = this.#moments(p);
      table.push(p.storage, p.grad.storage, s.m.storage, s.v.storage);
      sizes.push(p.size);
    }
    if (!sizes.length) return;
    const be = table[0].backend;
    be.adamStep(
      sizes.length,
      be.addresses(table),
      Int32Array.from(sizes),
      lr,
      beta1,
      this.beta2,
      this.eps,
      bc1,
      bc2,
      this.weightDecay,
    );
  }

  /** A parameter's moment estimates, made (zero, persistent) on first use. */
  #moments(p: Tensor): { m: Tensor; v: Tensor } {
    let s = this.#state.get(p);
    if (!s) {
      s = persistent(() => ({
        m: Tensor.zeros(p.backend, p.shape),
        v: Tensor.zeros(p.backend, p.shape),
      }));
      this.#state.set(p, s);
    }
    return s;
  }

  /** The moments of each parameter (null where it never got a gradient) and the counters, for checkpoints. */
  exportState(): AdamState {
    return {
      step: this.step,
      beta1Power: this.#beta1Power,
      beta2Power: this.#beta2Power,
      moments: this.params.map((p) => this.#state.get(p) ?? null),
    };
  }

  /** Restores what exportState() gave (moments are copied). */
  importState(s: AdamState): void {
    if (s.moments.length !== this.params.length) {
      throw new Error(
        `Cannot restore Adam: ${s.moments.length} parameters saved, ${this.params.length} here`,
      );
    }
    this.step = s.step;
    this.#beta1Power = s.beta1Power;
    this.#beta2Power = s.beta2Power;
    this.params.forEach((p, i) => {
      const saved = s.moments[i];
      if (!saved) return;
      const mine = this.#moments(p);
      p.backend.copy(mine.m.storage, saved.m.storage);
      p.backend.copy(mine.v.storage, saved.v.storage);
    });
  }

  /**
   * Forgets the moment estimates and their bias corrections, as a fresh
   * optimizer would, but keeps the step count, so the schedule goes on.
   */
  restart(): void {
    this.dispose();
    this.#beta1Power = 1;
    this.#beta2Power = 1;
  }

  /** Frees the moment estimates. */
  dispose(): void {
    for (const s of this.#state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.#state.clear();
  }
}
