/**
 * The one training loop every method shares: a step per iteration inside a
 * scope, metrics averaged per logging interval, periodic evaluation and
 * checkpoints through hooks (the command line decides where they go).
 * @module
 */
import { noGrad } from "../autograd/tape.ts";
import { persistent, scope, Tensor } from "../autograd/tensor.ts";
import type { DataSource, TestProgress } from "../data/source.ts";
import { reestimateBatchNorm } from "../nn/layers.ts";
import { DivergedError, StoppedError } from "../util/errors.ts";
import type { Module } from "../nn/module.ts";
import { evaluatedOf, type Method, rawClassifierOf, type StepMetrics } from "./method.ts";

/** When to log, evaluate and checkpoint. */
export interface LoopSchedule {
  iterations: number;
  logInterval: number;
  evalInterval: number;
  checkpointInterval: number;
  /** Stop after this iteration without the final evaluation and checkpoint, as an interruption would. */
  stopAfter?: number;
  /**
   * The signal that asked the run to stop, or null: checked after every
   * step; the loop then writes a checkpoint and throws a StoppedError.
   */
  stopRequested?: () => Deno.Signal | null;
}

/**
 * The metric sums of a logging interval in progress: saved with a
 * checkpoint, so that a resumed run's next metrics line averages the same
 * steps an uninterrupted run's does.
 */
export interface IntervalSums {
  count: number;
  sums: Record<string, number>;
}

/** What the loop reports. */
export interface LoopHooks {
  /** Mean metrics over the last interval, and iterations per second. */
  log?(iteration: number, metrics: Record<string, number>, rate: number): void;
  /** The test error, and the method's diagnostics where it has some. */
  eval?(
    iteration: number,
    testError: number,
    diagnostics: Record<string, number>,
  ): void | Promise<void>;
  checkpoint?(iteration: number, interval: IntervalSums): Promise<void>;
  /** A listener for one evaluation's progress (made anew for each; see slowWork). */
  evalProgress?(): TestProgress;
}

/**
 * Runs `fn` on the method's evaluated classifier (or on `model`) in
 * evaluation mode, without gradients; first, where the source offers them,
 * its batch-norm statistics are re-estimated on training batches. The mode is
 * restored after.
 */
export function withEvaluated<T>(
  method: Method,
  data: DataSource,
  fn: (model: Module) => T,
  model: Module = evaluatedOf(method),
): T {
  const was = model.training;
  if (data.statsBatches) {
    const batches = data.statsBatches;
    noGrad(() => scope(() => reestimateBatchNorm(model, batches.call(data))));
  }
  model.eval();
  try {
    return noGrad(() => fn(model));
  } finally {
    model.train(was);
  }
}

/** Test error (percent) of the method's evaluated classifier. */
export function evaluate(method: Method, data: DataSource, progress?: TestProgress): number {
  return withEvaluated(method, data, (model) => data.testError(model, progress));
}

/**
 * Runs iterations `start` to `schedule.iterations` (0-based: iteration i is
 * the (i+1)-th); returns the final test error (NaN after an early stop).
 * `resumed` is the interval a checkpoint saved. The metric sums are checked
 * at every metrics line and checkpoint: a NaN or an infinity stops training
 * with a DivergedError naming the iterations since the last finite check.
 */
export async function trainLoop(
  method: Method,
  data: DataSource,
  schedule: LoopSchedule,
  start = 0,
  hooks: LoopHooks = {},
  resumed: IntervalSums = { count: 0, sums: {} },
): Promise<number> {
  // Per-metric sums over the interval, kept where the step computed them.
  const sums = new Map<string, Tensor>();
  const add = (metrics: StepMetrics) => {
    for (const [k, v] of Object.entries(metrics)) {
      let sum = sums.get(k);
      if (!sum) {
        const saved = resumed.sums[k] ?? 0;
        sum = persistent(() => Tensor.full(v.backend, [1], saved));
        sums.set(k, sum);
      }
      v.backend.axpby(sum.storage, 1, v.storage, 1, 1);
    }
  };
  let count = resumed.count;
  let finiteUpTo = start;
  const checkedSums = (done: number): Record<string, number> => {
    const values = Object.fromEntries([...sums].map(([k, sum]) => [k, sum.item()]));
    const bad = Object.keys(values).filter((k) => !Number.isFinite(values[k]));
    if (bad.length) {
      throw new DivergedError(
        `Cannot continue training: ${bad.join(", ")} became NaN or infinite between iterations ${
          finiteUpTo + 1
        } and ${done}`,
      );
    }
    finiteUpTo = done;
    return values;
  };
  // Steps timed since t0 (a resumed interval's earlier steps were timed by another process).
  let timed = 0;
  let t0 = performance.now();
  let lastError = NaN;
  const end = Math.min(schedule.iterations, schedule.stopAfter ?? Infinity);
  // A signal listener runs only when the event loop turns, which a step that never waits on
  // I/O does not give it: yield a macrotask at least every 50 ms.
  let yielded = performance.now();
  for (let it = start; it < end; it++) {
    if (schedule.stopRequested && performance.now() - yielded > 50) {
      await new Promise((r) => setTimeout(r, 0));
      yielded = performance.now();
    }
    await data.ready?.();
    scope(() => add(method.step(data.next(), it)));
    count++;
    timed++;
    const done = it + 1;
    if (done % schedule.logInterval === 0 || done === schedule.iterations) {
      const now = performance.now();
      const values = checkedSums(done);
      const mean = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v / count]));
      hooks.log?.(done, mean, (timed * 1000) / Math.max(1e-9, now - t0));
      for (const sum of sums.values()) sum.dispose();
      sums.clear();
      resumed = { count: 0, sums: {} };
      count = 0;
      timed = 0;
      t0 = now;
    }
    if (done % schedule.evalInterval === 0 || done === schedule.iterations) {
      lastError = evaluate(method, data, hooks.evalProgress?.());
      const diagnostics = method.diagnose
        ? scope(() => method.diagnose!(data.diagnosticBatch()))
        : {};
      const raw = rawClassifierOf(method);
      if (raw) {
        diagnostics.c_test_error = withEvaluated(
          method,
          data,
          (m) => data.testError(m, hooks.evalProgress?.()),
          raw,
        );
      }
      await hooks.eval?.(done, lastError, diagnostics);
    }
    const checkpointed = done % schedule.checkpointInterval === 0 || done === schedule.iterations;
    if (checkpointed) await hooks.checkpoint?.(done, { count, sums: checkedSums(done) });
    const signal = schedule.stopRequested?.() ?? null;
    if (signal !== null && done < schedule.iterations) {
      if (!checkpointed) await hooks.checkpoint?.(done, { count, sums: checkedSums(done) });
      for (const sum of sums.values()) sum.dispose();
      throw new StoppedError(`stopped by ${signal} at iteration ${done}`, signal, done);
    }
  }
  for (const sum of sums.values()) sum.dispose();
  if (end < schedule.iterations) return NaN;
  return Number.isNaN(lastError) ? evaluate(method, data, hooks.evalProgress?.()) : lastError;
}
