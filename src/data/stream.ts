/**
 * The batch stream of a training run: a worker prepares the next batches
 * (epoch shuffles, gather, augmentation) while the current step runs; the
 * main side keeps `prefetch` requests in flight, so a step that takes longer
 * than a batch never waits on data. Batches arrive in order and depend only
 * on the configuration and seed, never on timing.
 *
 *     const stream = openStream(dataset.train, split, { labelledBatch: 100, unlabelledBatch: 250, seed });
 *     for (let it = 0; it < iterations; it++) {
 *       const b = await stream.next();
 *       const xl = Tensor.from(backend, b.labelled.images, b.labelled.shape); ...
 *     }
 *     stream.close();
 * @module
 */
import { UserError } from "../util/errors.ts";
import type { ImageSet } from "./datasets.ts";
import type { DiskRecords } from "./disk.ts";
import { dataKernels } from "./native.ts";
import { BatchProducer, type DiskSource, type HostBatch, type ProducerConfig } from "./producer.ts";
import type { Split } from "./split.ts";
import type { DatasetName } from "./catalog.ts";

export type { BatchPart, HostBatch } from "./producer.ts";

/** Options of {@linkcode openStream}; the keys match the command line's flags. */
export interface StreamOptions {
  labelledBatch: number;
  /** Unlabelled samples per batch; 0 for none. */
  unlabelledBatch: number;
  /** The training seed: batch order and augmentation. */
  seed: number;
  /** Augmentation: translation by up to `translate` pixels (VAT: 2) and horizontal flips. Default none. */
  augment?: { translate?: number; flip?: boolean };
  /** Batches prepared ahead (default 2: double buffering). */
  prefetch?: number;
  /** Run the producer on the calling thread instead of a worker (tests, debugging). */
  worker?: boolean;
}

/** Time the consumer spent waiting for data, to check the worker keeps up. */
export interface StreamStats {
  batches: number;
  waits: number;
  waitMs: number;
}

/** A stream of training batches; call close() when done. */
export interface BatchStream {
  next(): Promise<HostBatch>;
  /** Moves past `n` batches without making them (a resumed run's position). */
  skip(n: number): Promise<void>;
  readonly stats: StreamStats;
  close(): void;
}

/**
 * VAT's augmentation per data set: none for MNIST and Fashion-MNIST,
 * translation by up to 2 pixels for SVHN, and also horizontal flips for
 * CIFAR-10.
 */
export function augmentFor(name: DatasetName): { translate: number; flip: boolean } {
  if (name === "cifar10") return { translate: 2, flip: true };
  if (name === "svhn") return { translate: 2, flip: false };
  return { translate: 0, flip: false };
}

function shared(a: Float32Array): Float32Array {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}

interface Slot {
  resolve: (b: HostBatch) => void;
  reject: (e: Error) => void;
  done: boolean;
  promise: Promise<HostBatch>;
}

class WorkerStream implements BatchStream {
  readonly stats: StreamStats = { batches: 0, waits: 0, waitMs: 0 };
  readonly #worker: Worker;
  /** Requests in the order the consumer takes them. */
  readonly #queue: Slot[] = [];
  /** Requests the worker has not answered yet (the worker answers in order). */
  readonly #inflight: Slot[] = [];
  #error: Error | undefined;
  #closed = false;

  constructor(config: ProducerConfig, readonly prefetch: number) {
    this.#worker = new Worker(new URL("./stream_worker.ts", import.meta.url), { type: "module" });
    this.#worker.onmessage = (e: MessageEvent) => {
      const msg = e.data as { type: "batch"; batch: HostBatch } | {
        type: "error";
        message: string;
        user: boolean;
      };
      const slot = this.#inflight.shift();
      if (!slot) return;
      slot.done = true;
      if (msg.type === "batch") {
        slot.resolve(msg.batch);
      } else {
        this.#error = msg.user
          ? new UserError(msg.message)
          : new Error(`Cannot prepare a batch: ${msg.message}`);
        slot.reject(this.#error);
        for (const p of this.#inflight.splice(0)) p.reject(this.#error);
      }
    };
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#error = new Error(`Cannot prepare batches: the data worker failed: ${e.message}`);
      for (const p of this.#inflight.splice(0)) p.reject(this.#error);
    };
    this.#worker.postMessage({ type: "init", config });
    for (let i = 0; i < prefetch; i++) this.#request();
  }

  #request(): void {
    let resolve!: (b: HostBatch) => void, reject!: (e: Error) => void;
    const promise = new Promise<HostBatch>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {}); // surfaced by next()
    const slot: Slot = { resolve, reject, done: false, promise };
    this.#queue.push(slot);
    this.#inflight.push(slot);
    this.#worker.postMessage({ type: "next" });
  }

  async next(): Promise<HostBatch> {
    if (this.#closed) throw new Error("Cannot take a batch: the stream is closed");
    if (this.#error) throw this.#error;
    const slot = this.#queue.shift()!;
    this.#request();
    this.stats.batches++;
    if (slot.done) return slot.promise;
    this.stats.waits++;
    const t0 = performance.now();
    try {
      return await slot.promise;
    } finally {
      this.stats.waitMs += performance.now() - t0;
    }
  }

  async skip(n: number): Promise<void> {
    // The batches already asked for come first (the worker answers in order); the rest the
    // worker skips, and the queue is refilled after the skip.
    const queued = Math.min(n, this.#queue.length);
    const dropped = this.#queue.splice(0, queued);
    const rest = n - queued;
    if (rest > 0) this.#worker.postMessage({ type: "skip", count: rest });
    for (let i = 0; i < queued; i++) this.#request();
    for (const slot of dropped) await slot.promise;
    if (this.#error) throw this.#error;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker.terminate();
  }
}

class LocalStream implements BatchStream {
  readonly stats: StreamStats = { batches: 0, waits: 0, waitMs: 0 };
  #producer: Promise<BatchProducer>;
  constructor(config: ProducerConfig) {
    this.#producer = dataKernels().then((k) => new BatchProducer(config, k));
  }
  async next(): Promise<HostBatch> {
    this.stats.batches++;
    return (await this.#producer).next();
  }
  async skip(n: number): Promise<void> {
    (await this.#producer).skip(n);
  }
  close(): void {
    this.#producer.then((p) => p.close(), () => {});
  }
}

function checkOptions(o: StreamOptions): void {
  for (
    const [flag, v, low] of [["labelledBatch", o.labelledBatch, 1], [
      "unlabelledBatch",
      o.unlabelledBatch,
      0,
    ]] as const
  ) {
    if (!Number.isInteger(v) || v < low) {
      throw new UserError(`Cannot stream batches: ${flag} must be an integer >= ${low}, got ${v}`);
    }
  }
  const t = o.augment?.translate ?? 0;
  if (!Number.isInteger(t) || t < 0) {
    throw new UserError(`Cannot stream batches: translate must be an integer >= 0, got ${t}`);
  }
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed >= 2 ** 32) {
    throw new UserError(
      `Cannot stream batches: seed must be an integer in [0, 2^32), got ${o.seed}`,
    );
  }
}

function start(config: ProducerConfig, options: StreamOptions): BatchStream {
  if (options.worker === false) return new LocalStream(config);
  return new WorkerStream(config, Math.max(1, options.prefetch ?? 2));
}

/**
 * Streams batches from a training set in memory: labelled samples from
 * `split.labelled`, unlabelled ones from `split.unlabelled`, each set
 * reshuffled at every epoch.
 */
export function openStream(
  train: ImageSet,
  split: Pick<Split, "labelled" | "unlabelled">,
  options: StreamOptions,
): BatchStream {
  checkOptions(options);
  const [, c, h, w] = train.shape;
  const images = shared(train.images);
  const t = options.augment?.translate ?? 0;
  if (t >= h || t >= w) {
    throw new UserError(
      `Cannot stream batches: translate ${t} is not smaller than the ${h}x${w} images`,
    );
  }
  return start({
    shape: [c, h, w],
    labelled: { kind: "memory", images, labels: train.labels, index: split.labelled },
    unlabelled: { kind: "memory", images, index: split.unlabelled },
    labelledBatch: options.labelledBatch,
    unlabelledBatch: options.unlabelledBatch,
    seed: options.seed,
    translate: t,
    flip: options.augment?.flip ?? false,
  }, options);
}

/**
 * Streams batches whose unlabelled part is read from disk in chunks (bounded
 * memory: `chunkRecords * windowChunks` samples), for training sets that do
 * not fit in memory; the labelled subset (small) is given in memory.
 */
export function openDiskStream(
  records: DiskRecords,
  labelled: ImageSet,
  options: StreamOptions & { exclude?: Int32Array; chunkRecords?: number; windowChunks?: number },
): BatchStream {
  checkOptions(options);
  const unlabelled: DiskSource = {
    kind: "disk",
    records,
    exclude: options.exclude,
    chunkRecords: options.chunkRecords,
    windowChunks: options.windowChunks,
  };
  const n = labelled.shape[0];
  return start({
    shape: records.shape,
    labelled: {
      kind: "memory",
      images: shared(labelled.images),
      labels: labelled.labels,
      index: Int32Array.from({ length: n }, (_, i) => i),
    },
    unlabelled,
    labelledBatch: options.labelledBatch,
    unlabelledBatch: options.unlabelledBatch,
    seed: options.seed,
    translate: options.augment?.translate ?? 0,
    flip: options.augment?.flip ?? false,
  }, options);
}
