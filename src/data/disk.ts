/**
 * Training data read from disk in chunks, for sets that do not fit in memory:
 * fixed-size records (uncompressed IDX images with their labels file, or
 * CIFAR-10 .bin batches) read a chunk at a time with positioned reads, so
 * memory stays bounded by the chunk window whatever the size of the set.
 * @module
 */
import { UserError } from "../util/errors.ts";
import { CIFAR_RECORD } from "./cifar.ts";
import { ensureFiles, type EnsureOptions } from "./cache.ts";
import type { ImageSet } from "./datasets.ts";
import { isGzip } from "./io.ts";
import type { DataKernels } from "./native.ts";
import type { DatasetName } from "./catalog.ts";

/** Where records lie in a file: record i at offset + i * stride. */
export interface RecordPlace {
  path: string;
  offset: number;
  stride: number;
}

/** A run of records: images (c*h*w bytes each) and labels (one byte each). */
export interface DiskSegment {
  images: RecordPlace;
  labels: RecordPlace;
  count: number;
}

/** A training set on disk, and how its bytes become floats (x * scale + shift). */
export interface DiskRecords {
  segments: DiskSegment[];
  shape: [number, number, number];
  count: number;
  scale: number;
  shift: number;
}

function head(path: string, n: number): Uint8Array {
  const f = Deno.openSync(path);
  try {
    const buf = new Uint8Array(n);
    const got = f.readSync(buf) ?? 0;
    return buf.subarray(0, got);
  } finally {
    f.close();
  }
}

function raw(path: string): void {
  if (isGzip(head(path, 2))) {
    throw new UserError(
      `Cannot stream ${path} from disk: it is gzip-compressed; decompress it first (gunzip -k ${path})`,
    );
  }
}

function idxHeader(path: string, ndims: number): number[] {
  const h = head(path, 4 + 4 * ndims);
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  if (h.length < 4 + 4 * ndims || h[0] !== 0 || h[1] !== 0 || h[2] !== 8 || h[3] !== ndims) {
    throw new UserError(`Cannot stream ${path}: not an IDX file of ${ndims} dimensions of bytes`);
  }
  const dims = [];
  for (let i = 0; i < ndims; i++) dims.push(v.getUint32(4 + 4 * i));
  const size = Deno.statSync(path).size;
  const want = 4 + 4 * ndims + dims.reduce((a, b) => a * b, 1);
  if (size !== want) {
    throw new UserError(
      `Cannot stream ${path}: dimensions ${
        dims.join("x")
      } need ${want} bytes, the file has ${size}`,
    );
  }
  return dims;
}

/**
 * The training set of a data set as records on disk (MNIST, Fashion-MNIST
 * with uncompressed files; CIFAR-10), scaled as loadDataset scales it (CIFAR
 * without ZCA whitening, which needs the whole set in memory).
 */
export async function diskRecords(
  name: DatasetName,
  options: EnsureOptions = {},
): Promise<DiskRecords> {
  const paths = await ensureFiles(name, options);
  if (name === "mnist" || name === "fashion-mnist") {
    const ip = paths.get("train-images-idx3-ubyte")!, lp = paths.get("train-labels-idx1-ubyte")!;
    raw(ip);
    raw(lp);
    const [n, h, w] = idxHeader(ip, 3);
    const [nl] = idxHeader(lp, 1);
    if (nl !== n) throw new UserError(`Cannot stream ${lp}: ${nl} labels for ${n} images`);
    return {
      segments: [{
        images: { path: ip, offset: 16, stride: h * w },
        labels: { path: lp, offset: 8, stride: 1 },
        count: n,
      }],
      shape: [1, h, w],
      count: n,
      scale: 1 / 255,
      shift: 0,
    };
  }
  if (name === "cifar10") {
    const segments: DiskSegment[] = [];
    for (let i = 1; i <= 5; i++) {
      const p = paths.get(`data_batch_${i}.bin`)!;
      raw(p);
      const size = Deno.statSync(p).size;
      if (size === 0 || size % CIFAR_RECORD !== 0) {
        throw new UserError(
          `Cannot stream ${p}: its size ${size} is not a whole number of ${CIFAR_RECORD}-byte records`,
        );
      }
      segments.push({
        images: { path: p, offset: 1, stride: CIFAR_RECORD },
        labels: { path: p, offset: 0, stride: CIFAR_RECORD },
        count: size / CIFAR_RECORD,
      });
    }
    return {
      segments,
      shape: [3, 32, 32],
      count: segments.reduce((s, g) => s + g.count, 0),
      scale: 1 / 255,
      shift: -127.5 / 255,
    };
  }
  throw new UserError(
    `Cannot stream ${name} from disk: only IDX and CIFAR-10 binary files can be streamed`,
  );
}

/** Reads records [start, start + count) of one segment from open files. */
export class RecordReader {
  #files = new Map<string, Deno.FsFile>();
  #buf = new Uint8Array(0);

  constructor(readonly records: DiskRecords, readonly kernels: DataKernels) {}

  #file(path: string): Deno.FsFile {
    let f = this.#files.get(path);
    if (!f) {
      f = Deno.openSync(path);
      this.#files.set(path, f);
    }
    return f;
  }

  #read(place: RecordPlace, start: number, count: number, len: number): Uint8Array {
    const bytes = (count - 1) * place.stride + len;
    if (this.#buf.length < bytes) this.#buf = new Uint8Array(bytes);
    const buf = this.#buf.subarray(0, bytes);
    const f = this.#file(place.path);
    f.seekSync(place.offset + start * place.stride, Deno.SeekMode.Start);
    let got = 0;
    while (got < bytes) {
      const n = f.readSync(buf.subarray(got));
      if (n === null) {
        throw new UserError(`Cannot read ${place.path}: truncated at record ${start}`);
      }
      got += n;
    }
    return buf;
  }

  /** Images of records [start, start + count) of segment `seg` into `out` (as floats). */
  images(seg: DiskSegment, start: number, count: number, out: Float32Array): void {
    const [c, h, w] = this.records.shape;
    const d = c * h * w;
    const buf = this.#read(seg.images, start, count, d);
    this.kernels.bytesToReal(
      out,
      buf,
      count,
      d,
      seg.images.stride,
      this.records.scale,
      this.records.shift,
    );
  }

  /** Labels of records [start, start + count) of segment `seg` into `out`. */
  labels(seg: DiskSegment, start: number, count: number, out: Float32Array): void {
    const buf = this.#read(seg.labels, start, count, 1);
    for (let i = 0; i < count; i++) out[i] = buf[i * seg.labels.stride];
  }

  close(): void {
    for (const f of this.#files.values()) f.close();
    this.#files.clear();
  }
}

/** All labels of a set on disk (one byte per record: small). */
export function readDiskLabels(records: DiskRecords, kernels: DataKernels): Float32Array {
  const r = new RecordReader(records, kernels);
  const out = new Float32Array(records.count);
  let at = 0;
  try {
    for (const seg of records.segments) {
      r.labels(seg, 0, seg.count, out.subarray(at));
      at += seg.count;
    }
  } finally {
    r.close();
  }
  for (let i = 0; i < out.length; i++) {
    if (out[i] > 9) {
      throw new UserError(
        `Cannot read ${records.segments[0].labels.path}: label ${i} is ${out[i]}, outside 0..9`,
      );
    }
  }
  return out;
}

/** The records `index` (global numbers) read into memory: the labelled subset. */
export function readDiskRows(
  records: DiskRecords,
  kernels: DataKernels,
  index: Int32Array,
): ImageSet {
  const [c, h, w] = records.shape;
  const d = c * h * w;
  const images = new Float32Array(new SharedArrayBuffer(index.length * d * 4));
  const labels = new Float32Array(index.length);
  const r = new RecordReader(records, kernels);
  try {
    index.forEach((g, k) => {
      const [seg, local] = locateRecord(records, g);
      r.images(seg, local, 1, images.subarray(k * d, (k + 1) * d));
      r.labels(seg, local, 1, labels.subarray(k, k + 1));
    });
  } finally {
    r.close();
  }
  return { images, labels, shape: [index.length, c, h, w] };
}

/** The segment holding global record `g`, and its number there. */
export function locateRecord(records: DiskRecords, g: number): [DiskSegment, number] {
  let base = 0;
  for (const seg of records.segments) {
    if (g < base + seg.count) return [seg, g - base];
    base += seg.count;
  }
  throw new Error(`Cannot find record ${g} of ${records.count}`);
}
