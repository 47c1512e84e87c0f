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

/** Training and test data as the loop sees it. */
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
  /** Test error of a model in percent (called in evaluation mode, without gradients). */
  testError(model: Module): number;
  /** Random streams of the data order, checkpointed with the method's. */
  readonly rngs: Record<string, Rng>;
}
