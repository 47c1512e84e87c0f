/**
 * What the data worker runs: epoch-shuffled cursors over the labelled and
 * unlabelled sets (in memory, or on disk in chunks), and the batch assembly
 * (gather, translation, flip) by one native call per part of a batch. It is
 * plain, synchronous and deterministic: the same configuration and seed give
 * the same batches, in a worker or not.
 * @module
 */
import { type DiskRecords, RecordReader } from "./disk.ts";
import type { DataKernels } from "./native.ts";
import { DataRng, Streams } from "./rng.ts";

/** Samples held in memory: rows `index` of `images`. */
export interface MemorySource {
  kind: "memory";
  /** (rows, c, h, w) floats; a SharedArrayBuffer avoids copying it into the worker. */
  images: Float32Array;
  /** Labels of every row of `images` (needed for the labelled source). */
  labels?: Float32Array;
  /** Which rows form the set (e.g. the labelled subset, or all but validation). */
  index: Int32Array;
}

/** Samples read from disk in chunks, with bounded memory. */
export interface DiskSource {
  kind: "disk";
  records: DiskRecords;
  /** Records to skip (e.g. the validation hold-out). */
  exclude?: Int32Array;
  /** Records per read (default 1024). */
  chunkRecords?: number;
  /** Chunks shuffled together (default 8): memory is chunkRecords * windowChunks samples. */
  windowChunks?: number;
}

/** Everything a producer needs. */
export interface ProducerConfig {
  /** Image shape (c, h, w). */
  shape: [number, number, number];
  labelled: MemorySource;
  unlabelled: MemorySource | DiskSource;
  labelledBatch: number;
  /** Unlabelled samples per batch; 0 for batches of labelled samples only. */
  unlabelledBatch: number;
  /** Seed of the batch order and augmentation (the training seed). */
  seed: number;
  /** Largest translation in pixels (pad and random crop); 0 for none. */
  translate: number;
  /** Random horizontal flips. */
  flip: boolean;
}

/** One part of a batch: images, their indices into the training set, and the epoch. */
export interface BatchPart {
  images: Float32Array<ArrayBuffer>;
  /** Set numbers (rows of the training set) of the samples, in batch order. */
  index: Int32Array<ArrayBuffer>;
  /** The epoch the batch's last sample belongs to (0-based). */
  epoch: number;
  shape: [number, number, number, number];
}

/** One training step's data, in host memory (null unlabelled part: none asked for). */
export interface HostBatch {
  step: number;
  labelled: BatchPart & { labels: Float32Array<ArrayBuffer> };
  unlabelled: BatchPart | null;
}

interface Segment {
  src: Float32Array;
  local: Int32Array;
  global: Int32Array;
}

interface Cursor {
  epoch: number;
  take(n: number): Segment[];
  close(): void;
}

class MemoryCursor implements Cursor {
  epoch = -1;
  #order: Int32Array = new Int32Array(0);
  #at = 0;
  constructor(readonly source: MemorySource, readonly rng: DataRng) {
    if (source.index.length === 0) throw new Error("Cannot stream an empty set");
  }

  take(n: number): Segment[] {
    const out: Segment[] = [];
    while (n > 0) {
      if (this.#at >= this.#order.length) {
        this.#order = this.rng.shuffle(this.source.index.slice());
        this.#at = 0;
        this.epoch++;
      }
      const k = Math.min(n, this.#order.length - this.#at);
      const rows = this.#order.slice(this.#at, this.#at + k);
      out.push({ src: this.source.images, local: rows, global: rows });
      this.#at += k;
      n -= k;
    }
    return out;
  }

  close(): void {}
}

class DiskCursor implements Cursor {
  epoch = -1;
  readonly #reader: RecordReader;
  readonly #chunk: number;
  readonly #window: number;
  readonly #skip: Uint8Array;
  readonly #d: number;
  #chunks: [number, number, number][] = []; // segment, start, count
  #chunkOrder: Int32Array = new Int32Array(0);
  #nextChunk = 0;
  #pool: Float32Array;
  #poolGlobal: Int32Array = new Int32Array(0);
  #poolOrder: Int32Array = new Int32Array(0);
  #at = 0;

  constructor(readonly source: DiskSource, kernels: DataKernels, readonly rng: DataRng) {
    const r = source.records;
    this.#reader = new RecordReader(r, kernels);
    this.#chunk = source.chunkRecords ?? 1024;
    this.#window = source.windowChunks ?? 8;
    this.#d = r.shape[0] * r.shape[1] * r.shape[2];
    this.#skip = new Uint8Array(r.count);
    for (const i of source.exclude ?? []) this.#skip[i] = 1;
    if (source.exclude && source.exclude.length >= r.count) {
      throw new Error("Cannot stream an empty set");
    }
    r.segments.forEach((seg, s) => {
      for (let a = 0; a < seg.count; a += this.#chunk) {
        this.#chunks.push([s, a, Math.min(this.#chunk, seg.count - a)]);
      }
    });
    this.#pool = new Float32Array(this.#chunk * this.#window * this.#d);
  }

  /** Loads the next window of chunks into the pool, starting an epoch when needed. */
  #fill(): void {
    if (this.#nextChunk >= this.#chunkOrder.length) {
      this.#chunkOrder = this.rng.permutation(this.#chunks.length);
      this.#nextChunk = 0;
      this.epoch++;
    }
    const r = this.source.records;
    const bases: number[] = [];
    let base = 0;
    for (const seg of r.segments) {
      bases.push(base);
      base += seg.count;
    }
    // A fresh pool: the previous one may still be referenced by segments handed out.
    this.#pool = new Float32Array(this.#pool.length);
    const global: number[] = [];
    let rows = 0;
    const end = Math.min(this.#nextChunk + this.#window, this.#chunkOrder.length);
    for (; this.#nextChunk < end; this.#nextChunk++) {
      const [s, start, count] = this.#chunks[this.#chunkOrder[this.#nextChunk]];
      const seg = r.segments[s];
      this.#reader.images(seg, start, count, this.#pool.subarray(rows * this.#d));
      for (let i = 0; i < count; i++) global.push(bases[s] + start + i);
      rows += count;
    }
    this.#poolGlobal = Int32Array.from(global);
    const order = this.rng.permutation(rows);
    this.#poolOrder = order.filter((k) => !this.#skip[this.#poolGlobal[k]]);
    this.#at = 0;
  }

  take(n: number): Segment[] {
    const out: Segment[] = [];
    while (n > 0) {
      while (this.#at >= this.#poolOrder.length) this.#fill();
      const k = Math.min(n, this.#poolOrder.length - this.#at);
      const local = this.#poolOrder.slice(this.#at, this.#at + k);
      out.push({ src: this.#pool, local, global: local.map((i) => this.#poolGlobal[i]) });
      this.#at += k;
      n -= k;
    }
    return out;
  }

  close(): void {
    this.#reader.close();
  }
}

/** Makes batches one after the other. */
export class BatchProducer {
  readonly #labelled: Cursor;
  readonly #unlabelled: Cursor | null;
  readonly #augment: DataRng;
  #step = 0;

  constructor(readonly config: ProducerConfig, readonly kernels: DataKernels) {
    const { seed } = config;
    for (
      const [k, v, low] of [["labelledBatch", config.labelledBatch, 1], [
        "unlabelledBatch",
        config.unlabelledBatch,
        0,
      ]] as const
    ) {
      if (!Number.isInteger(v) || v < low) {
        throw new Error(`Cannot make batches: ${k} must be >= ${low}, got ${v}`);
      }
    }
    if (!config.labelled.labels) {
      throw new Error("Cannot make batches: the labelled source has no labels");
    }
    this.#labelled = new MemoryCursor(config.labelled, new DataRng(seed, Streams.labelled));
    const u = config.unlabelled;
    this.#unlabelled = config.unlabelledBatch === 0
      ? null
      : u.kind === "memory"
      ? new MemoryCursor(u, new DataRng(seed, Streams.unlabelled))
      : new DiskCursor(u, kernels, new DataRng(seed, Streams.unlabelled));
    this.#augment = new DataRng(seed, Streams.augment);
  }

  /** The augmentation of n images: shifts and flips, drawn in the stream's order. */
  #draws(n: number): { sx: Int32Array | null; sy: Int32Array | null; fl: Int32Array | null } {
    const { translate: t, flip } = this.config;
    const sx = t > 0 ? new Int32Array(n) : null;
    const sy = t > 0 ? new Int32Array(n) : null;
    const fl = flip ? new Int32Array(n) : null;
    for (let i = 0; i < n; i++) {
      if (sx && sy) {
        sx[i] = this.#augment.between(-t, t);
        sy[i] = this.#augment.between(-t, t);
      }
      if (fl) fl[i] = this.#augment.below(2);
    }
    return { sx, sy, fl };
  }

  #part(cursor: Cursor, n: number): BatchPart {
    const [c, h, w] = this.config.shape;
    const d = c * h * w;
    const { sx, sy, fl } = this.#draws(n);
    const images = new Float32Array(n * d);
    const index = new Int32Array(n);
    let at = 0;
    for (const seg of cursor.take(n)) {
      const k = seg.local.length;
      this.kernels.gatherAugment(
        images.subarray(at * d, (at + k) * d),
        seg.src,
        seg.local,
        [c, h, w],
        sx?.subarray(at, at + k) ?? null,
        sy?.subarray(at, at + k) ?? null,
        fl?.subarray(at, at + k) ?? null,
      );
      index.set(seg.global, at);
      at += k;
    }
    return { images, index, epoch: cursor.epoch, shape: [n, c, h, w] };
  }

  /**
   * Moves past `n` batches as next() would, drawing the same random numbers
   * and taking the same samples, without gathering a single image: a resumed
   * run's stream continues at its checkpoint's step at once.
   */
  skip(n: number): void {
    for (let i = 0; i < n; i++) {
      this.#draws(this.config.labelledBatch);
      this.#labelled.take(this.config.labelledBatch);
      if (this.#unlabelled) {
        this.#draws(this.config.unlabelledBatch);
        this.#unlabelled.take(this.config.unlabelledBatch);
      }
      this.#step++;
    }
  }

  /** The next batch. */
  next(): HostBatch {
    const labelled = this.#part(this.#labelled, this.config.labelledBatch);
    const all = this.config.labelled.labels!;
    const labels = new Float32Array(labelled.index.length);
    labelled.index.forEach((g, i) => labels[i] = all[g]);
    const unlabelled = this.#unlabelled &&
      this.#part(this.#unlabelled, this.config.unlabelledBatch);
    return { step: this.#step++, labelled: { ...labelled, labels }, unlabelled };
  }

  close(): void {
    this.#labelled.close();
    this.#unlabelled?.close();
  }
}
