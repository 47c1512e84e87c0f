/**
 * An image data set as the training loop's source: batches streamed by a
 * worker (see stream.ts), uploaded to the backend each iteration, and the
 * test set evaluated in chunks.
 * @module
 */
import { scope, Tensor } from "../autograd/tensor.ts";
import type { Backend } from "../backend/backend.ts";
import type { Module } from "../nn/module.ts";
import * as ops from "../ops/mod.ts";
import type { Rng } from "../ops/random.ts";
import type { Dataset } from "./datasets.ts";
import {
  argmaxRows,
  type Batch,
  type DataSource,
  DIAGNOSTIC_BATCH,
  type Predictions,
  type TestProgress,
} from "./source.ts";
import { DataRng, Streams } from "./rng.ts";
import type { BatchStream, HostBatch } from "./stream.ts";

/** Test rows evaluated per forward pass. */
const EVAL_CHUNK = 1000;
/** Training rows per batch of the batch-norm re-estimation (as VAT's test.py's batches). */
export const STATS_BATCH = 100;

/** Options of an {@linkcode ImageSource}. */
export interface ImageSourceOptions {
  /** Batches of {@linkcode STATS_BATCH} training rows that re-estimate batch norm (0: none). */
  statsBatches?: number;
  /** The seed of those rows' choice (the data seed). */
  statsSeed?: number;
}

/** Streams a data set's training batches and evaluates on its test set. */
export class ImageSource implements DataSource {
  readonly rngs: Record<string, Rng> = {};
  #host: HostBatch | null = null;

  /** Present when the run re-estimates batch-norm statistics before each evaluation. */
  readonly statsBatches?: () => Iterable<Tensor>;

  constructor(
    readonly backend: Backend,
    readonly dataset: Dataset,
    readonly stream: BatchStream,
    options: ImageSourceOptions = {},
  ) {
    const count = options.statsBatches ?? 0;
    if (count > 0) {
      const { images, shape } = dataset.train;
      const [n, c, h, w] = shape;
      const row = c * h * w;
      const size = Math.min(STATS_BATCH, n);
      // The same rows every evaluation: a fixed random choice, so a resumed run sees the same.
      const order = new DataRng(options.statsSeed ?? 0, Streams.statistics).permutation(n);
      this.statsBatches = function* () {
        const x = new Float32Array(size * row);
        for (let b = 0; b < count; b++) {
          for (let j = 0; j < size; j++) {
            const i = order[(b * size + j) % n]; // past the end of a small set: around again
            x.set(images.subarray(i * row, (i + 1) * row), j * row);
          }
          yield Tensor.from(backend, x, [size, c, h, w]);
        }
      };
    }
  }

  /** Waits for the worker's next batch. */
  async ready(): Promise<void> {
    this.#host = await this.stream.next();
  }

  /** Moves the stream past `n` batches: a resumed run continues it where it stopped. */
  skip(n: number): Promise<void> {
    return this.stream.skip(n);
  }

  next(): Batch {
    const b = this.#host;
    if (!b) throw new Error("Cannot take a batch before ready() resolved");
    this.#host = null;
    const be = this.backend;
    return {
      xl: Tensor.from(be, b.labelled.images, b.labelled.shape),
      yl: Tensor.from(be, b.labelled.labels, [b.labelled.labels.length]),
      xul: b.unlabelled && Tensor.from(be, b.unlabelled.images, b.unlabelled.shape),
    };
  }

  /** Calls `fn` on each chunk of the test set (its first row, its size, its images as a tensor) in a scope. */
  #testChunks(fn: (at: number, m: number, x: Tensor) => void, progress?: TestProgress): void {
    const { images, shape } = this.dataset.test;
    const [n, c, h, w] = shape;
    const row = c * h * w;
    for (let at = 0; at < n; at += EVAL_CHUNK) {
      const m = Math.min(EVAL_CHUNK, n - at);
      scope(() => {
        const x = Tensor.from(this.backend, images.subarray(at * row, (at + m) * row), [
          m,
          c,
          h,
          w,
        ]);
        fn(at, m, x);
      });
      progress?.(at + m, n);
    }
  }

  testError(model: Module, progress?: TestProgress): number {
    const { labels } = this.dataset.test;
    let errors = 0;
    this.#testChunks((at, m, x) => {
      const y = Tensor.from(this.backend, labels.subarray(at, at + m), [m]);
      errors += ops.countErrors(model.forward(x), y).item();
    }, progress);
    return (errors / labels.length) * 100;
  }

  diagnosticBatch(): Tensor {
    const { images, shape } = this.dataset.test;
    const [n, c, h, w] = shape;
    const m = Math.min(DIAGNOSTIC_BATCH, n);
    return Tensor.from(this.backend, images.subarray(0, m * c * h * w), [m, c, h, w]);
  }

  testPredictions(model: Module, progress?: TestProgress): Predictions {
    const { labels } = this.dataset.test;
    const predicted = new Int32Array(labels.length);
    this.#testChunks((at, m, x) => {
      const logits = model.forward(x);
      predicted.set(argmaxRows(logits.toArray(), m, logits.shape[1]), at);
    }, progress);
    return { predicted, labels: Int32Array.from(labels), classes: this.dataset.classes };
  }

  close(): void {
    this.stream.close();
  }
}
