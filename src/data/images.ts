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
import type { Batch, DataSource } from "./source.ts";
import type { BatchStream, HostBatch } from "./stream.ts";

/** Test rows evaluated per forward pass. */
const EVAL_CHUNK = 1000;

/** Streams a data set's training batches and evaluates on its test set. */
export class ImageSource implements DataSource {
  readonly rngs: Record<string, Rng> = {};
  #host: HostBatch | null = null;

  constructor(readonly backend: Backend, readonly dataset: Dataset, readonly stream: BatchStream) {}

  /** Waits for the worker's next batch. */
  async ready(): Promise<void> {
    this.#host = await this.stream.next();
  }

  /** Discards `n` batches: a resumed run continues the stream where it stopped. */
  async skip(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await this.stream.next();
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

  testError(model: Module): number {
    const { images, labels, shape } = this.dataset.test;
    const [n, c, h, w] = shape;
    const row = c * h * w;
    let errors = 0;
    for (let at = 0; at < n; at += EVAL_CHUNK) {
      const m = Math.min(EVAL_CHUNK, n - at);
      errors += scope(() => {
        const x = Tensor.from(this.backend, images.subarray(at * row, (at + m) * row), [
          m,
          c,
          h,
          w,
        ]);
        const y = Tensor.from(this.backend, labels.subarray(at, at + m), [m]);
        return ops.countErrors(model.forward(x), y).item();
      });
    }
    return (errors / n) * 100;
  }

  close(): void {
    this.stream.close();
  }
}
