/**
 * Where an iteration's time goes on the CPU backend: a backend wrapped so
 * that every kernel call is timed and counted under the phase that is
 * running (the C step, the G step, an evaluation), beside each phase's
 * whole time. What a phase spends outside kernels is our TypeScript
 * (autodiff, shapes, scopes). CPU kernels return when they are done, so the
 * wrapper's times are the kernels' own; CUDA's return at launch.
 * @module
 */
import type { Backend } from "../src/backend/backend.ts";

/** A backend whose kernel calls are timed per phase, and the table of those times. */
export class KernelProfile {
  readonly backend: Backend;
  #phase = "";
  readonly #kernels = new Map<string, { ms: number; calls: number }>();
  readonly #phases = new Map<string, number>();

  constructor(raw: Backend) {
    this.backend = new Proxy(raw, {
      get: (target, key) => {
        const value = Reflect.get(target, key, target);
        if (typeof value !== "function" || typeof key !== "string") return value;
        return (...args: unknown[]) => {
          // A method that takes a function (withComputePrecision) times nothing itself.
          if (args.some((a) => typeof a === "function")) return value.apply(target, args);
          const t0 = performance.now();
          try {
            return value.apply(target, args);
          } finally {
            const k = `${this.#phase}\u0000${key}`;
            const e = this.#kernels.get(k) ?? { ms: 0, calls: 0 };
            e.ms += performance.now() - t0;
            e.calls++;
            this.#kernels.set(k, e);
          }
        };
      },
    });
  }

  /** Runs fn as (part of) the named phase, timing it whole. */
  phase<T>(name: string, fn: () => T): T {
    const saved = this.#phase;
    this.#phase = name;
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.#phases.set(name, (this.#phases.get(name) ?? 0) + performance.now() - t0);
      this.#phase = saved;
    }
  }

  /** Forgets what was timed (after a warm-up). */
  reset(): void {
    this.#kernels.clear();
    this.#phases.clear();
  }

  /**
   * Rows per phase: its time, then its kernels by time (the top `top`, the
   * rest summed), then what it spent outside kernels; every time divided by
   * `per` (the times each phase ran); `phases` picks and orders them.
   */
  table(phases: string[], per: number, top = 8): string[][] {
    const rows: string[][] = [["phase / kernel", "ms per run", "calls", "share of phase"]];
    const f = (ms: number) => (ms / per).toFixed(2);
    for (const phase of phases) {
      const total = this.#phases.get(phase) ?? 0;
      const kernels = [...this.#kernels]
        .filter(([k]) => k.startsWith(`${phase}\u0000`))
        .map(([k, v]) => ({ name: k.slice(phase.length + 1), ...v }))
        .sort((a, b) => b.ms - a.ms);
      const inKernels = kernels.reduce((s, k) => s + k.ms, 0);
      const pct = (ms: number) => `${((100 * ms) / total).toFixed(0)} %`;
      rows.push([phase, f(total), "", "100 %"]);
      for (const k of kernels.slice(0, top)) {
        rows.push([`  ${k.name}`, f(k.ms), (k.calls / per).toFixed(0), pct(k.ms)]);
      }
      const rest = kernels.slice(top);
      if (rest.length) {
        const ms = rest.reduce((s, k) => s + k.ms, 0);
        const calls = rest.reduce((s, k) => s + k.calls, 0);
        rows.push([`  ${rest.length} other kernels`, f(ms), (calls / per).toFixed(0), pct(ms)]);
      }
      rows.push([
        "  outside kernels (TypeScript)",
        f(total - inKernels),
        "",
        pct(total - inKernels),
      ]);
    }
    return rows;
  }
}
