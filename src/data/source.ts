/**
 * What the training loop consumes: batches on the backend and a test error.
 * @module
 */
import type { Tensor } from "../autograd/tensor.ts";
import type { Module } from "../nn/module.ts";
import type { Rng } from "../ops/random.ts";

/**
 * One iteration's data on the backend: a labelled batch and an unlabelled
 * batch (null when the method trains on labels alone).
 */
export interface Batch {
  xl: Tensor;
  yl: Tensor;
  xul: Tensor | null;
}

/** The unlabelled batch of a method that needs one (a bug when the source made none). */
export function unlabelledOf(batch: Batch): Tensor {
  if (!batch.xul) throw new Error("Cannot take the unlabelled batch: the source made none");
  return batch.xul;
}

/** Test samples of the diagnostics batch (the first of the test set). */
export const DIAGNOSTIC_BATCH = 256;

/** Predicted classes and labels of a test set. */
export interface Predictions {
  predicted: Int32Array;
  labels: Int32Array;
  classes: number;
}

/** The predicted class of each row of (n, k) logits (the first of equal maxima). */
export function argmaxRows(logits: ArrayLike<number>, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

/** Training and test data as the loop sees it. */
/** Hears an evaluation's progress: test samples done, of the total. */
export type TestProgress = (done: number, total: number) => void;

export interface DataSource {
  /** Waits until the next batch is ready (sources fed by a background worker). */
  ready?(): Promise<void>;
  /** Skips `n` batches, so a resumed run sees the batches an uninterrupted one would. */
  skip?(n: number): Promise<void>;
  /** Releases workers and files. */
  close?(): void;
  /** The next batches, as tensors in the current scope. */
  next(): Batch;
  /**
   * Training batches for re-estimating batch-norm statistics before each
   * evaluation (the same ones every time, unaugmented), as tensors in the
   * current scope; absent when the run does not re-estimate them.
   */
  statsBatches?(): Iterable<Tensor>;
  /**
   * Test error of a model in percent (called in evaluation mode, without
   * gradients); `progress` hears the samples done so far, of the total.
   */
  testError(model: Module, progress?: TestProgress): number;
  /** Each test sample's predicted class and label, in test-set order (for confusion matrices). */
  testPredictions(model: Module, progress?: TestProgress): Predictions;

  /** A fixed batch of test samples for the method's diagnostics (the same at every evaluation). */
  diagnosticBatch(): Tensor;
  /** Random streams of the data order, checkpointed with the method's. */
  readonly rngs: Record<string, Rng>;
}
