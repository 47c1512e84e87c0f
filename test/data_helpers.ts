/**
 * Small files in the real formats, for the data tests (which never download):
 * IDX, CIFAR-10 binary batches, MAT level 5 (with and without compressed
 * elements), ustar archives, gzip; and a throwaway folder.
 */
import { CIFAR_RECORD } from "../src/data/cifar.ts";
import { collect } from "../src/data/io.ts";
import { concatBytes as concat } from "../src/util/bytes.ts";

/** A fresh temporary folder, removed by the returned function. */
export function tempDir(): [string, () => void] {
  const d = Deno.makeTempDirSync({ prefix: "advssl-data-" });
  return [d, () => Deno.removeSync(d, { recursive: true })];
}

/** Compresses with gzip or zlib ("deflate"). */
export function compress(bytes: Uint8Array, format: "gzip" | "deflate"): Promise<Uint8Array> {
  return collect(
    new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new CompressionStream(format),
    ),
  );
}

/** An IDX file of unsigned bytes. */
export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Pixel value of image i at (channel, row, column): distinct enough to trace. */
export function pixel(i: number, ch: number, y: number, x: number): number {
  return (i * 7 + ch * 50 + y * 3 + x * 5) % 256;
}

/** n MNIST-like images of h x w with labels i % 10. */
export function mnistFiles(n: number, h = 28, w = 28): { images: Uint8Array; labels: Uint8Array } {
  const px = new Uint8Array(n * h * w);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) px[(i * h + y) * w + x] = pixel(i, 0, y, x);
    }
  }
  const lb = Uint8Array.from({ length: n }, (_, i) => i % 10);
  return { images: encodeIdx([n, h, w], px), labels: encodeIdx([n], lb) };
}

/** A CIFAR-10 batch of n records; record i has label (i + offset) % 10. */
export function cifarBatch(n: number, offset = 0): Uint8Array {
  const out = new Uint8Array(n * CIFAR_RECORD);
  for (let i = 0; i < n; i++) {
    const r = out.subarray(i * CIFAR_RECORD, (i + 1) * CIFAR_RECORD);
    r[0] = (i + offset) % 10;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) r[1 + c * 1024 + y * 32 + x] = pixel(i + offset, c, y, x);
      }
    }
  }
  return out;
}

/** A ustar archive of regular files. */
export function encodeTar(files: { name: string; data: Uint8Array }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const f of files) {
    const h = new Uint8Array(512);
    h.set(enc.encode(f.name).subarray(0, 100), 0);
    const put = (at: number, len: number, v: number) =>
      h.set(enc.encode(v.toString(8).padStart(len - 1, "0")), at);
    put(100, 8, 0o644);
    put(108, 8, 0);
    put(116, 8, 0);
    put(124, 12, f.data.length);
    put(136, 12, 0);
    h[156] = 48;
    h.set(enc.encode("ustar\u000000"), 257);
    h.fill(32, 148, 156);
    const sum = h.reduce((a, b) => a + b, 0);
    h.set(enc.encode(sum.toString(8).padStart(6, "0") + "\u0000 "), 148);
    blocks.push(h);
    const body = new Uint8Array(Math.ceil(f.data.length / 512) * 512);
    body.set(f.data);
    blocks.push(body);
  }
  blocks.push(new Uint8Array(1024));
  return concat(blocks);
}

// The tests' short name for the source's own helper.
export { concat };

// ---- MAT level 5 ----

const MI = { INT8: 1, UINT8: 2, INT32: 5, UINT32: 6, DOUBLE: 9, MATRIX: 14, COMPRESSED: 15 };
/** MATLAB classes used below. */
export const MX = { cell: 1, char: 4, double: 6, uint8: 9 };

function element(type: number, data: Uint8Array, small = true): Uint8Array {
  if (small && data.length <= 4 && data.length > 0) {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setUint32(0, type | (data.length << 16), true);
    out.set(data, 4);
    return out;
  }
  const padded = Math.ceil(data.length / 8) * 8;
  const out = new Uint8Array(8 + padded);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, true);
  v.setUint32(4, data.length, true);
  out.set(data, 8);
  return out;
}

/** A MAT variable: column-major data of a class, stored as `storage` ("uint8" or "double"). */
export interface MatVar {
  name: string;
  cls: number;
  dims: number[];
  values: ArrayLike<number>;
  storage: "uint8" | "double";
}

function matrix(v: MatVar): Uint8Array {
  const flags = new Uint8Array(8);
  new DataView(flags.buffer).setUint32(0, v.cls, true);
  const dims = new Uint8Array(4 * v.dims.length);
  v.dims.forEach((d, i) => new DataView(dims.buffer).setInt32(4 * i, d, true));
  const data = v.storage === "uint8"
    ? Uint8Array.from(v.values)
    : new Uint8Array(Float64Array.from(v.values).buffer);
  const body = concat([
    element(MI.UINT32, flags, false),
    element(MI.INT32, dims, false),
    element(MI.INT8, new TextEncoder().encode(v.name)),
    element(v.storage === "uint8" ? MI.UINT8 : MI.DOUBLE, data, false),
  ]);
  return element(MI.MATRIX, body, false);
}

/** A level-5 MAT file; `compressed` wraps each variable in a zlib-compressed element. */
export async function encodeMat(vars: MatVar[], compressed: boolean): Promise<Uint8Array> {
  const header = new Uint8Array(128).fill(32);
  header.set(new TextEncoder().encode("MATLAB 5.0 MAT-file, Platform: advssl test"));
  header.fill(0, 116, 124);
  const hv = new DataView(header.buffer);
  hv.setUint16(124, 0x0100, true);
  header[126] = "I".charCodeAt(0);
  header[127] = "M".charCodeAt(0);
  const parts: Uint8Array[] = [header];
  for (const v of vars) {
    const m = matrix(v);
    if (!compressed) {
      parts.push(m);
      continue;
    }
    const z = await compress(m, "deflate");
    const tag = new Uint8Array(8);
    new DataView(tag.buffer).setUint32(0, MI.COMPRESSED, true);
    new DataView(tag.buffer).setUint32(4, z.length, true);
    parts.push(tag, z);
  }
  return concat(parts);
}

/** SVHN-like X (32x32x3xN, column-major) and y (Nx1, labels 1..10) variables. */
export function svhnVars(n: number, yStorage: "uint8" | "double" = "double"): MatVar[] {
  const x = new Uint8Array(32 * 32 * 3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let xx = 0; xx < 32; xx++) x[y + 32 * (xx + 32 * (c + 3 * i))] = pixel(i, c, y, xx);
      }
    }
  }
  const labels = Array.from({ length: n }, (_, i) => (i % 10) + 1); // 10 means digit 0
  return [
    { name: "X", cls: MX.uint8, dims: [32, 32, 3, n], values: x, storage: "uint8" },
    { name: "y", cls: MX.double, dims: [n, 1], values: labels, storage: yStorage },
  ];
}

/**
 * SVHN (.mat) and CIFAR-10 (.bin) files under `dir`/svhn and `dir`/cifar10:
 * by default small (SVHN 60 training and 20 test images, CIFAR-10 5 x 12 and
 * 20 records); `full` gives the real sets' sizes (73,257 / 26,032 and
 * 5 x 10,000 / 10,000), for timing runs of the real shapes.
 */
export async function writeSyntheticImageSets(dir: string, full = false): Promise<void> {
  const [svhnTrain, svhnTest, cifarBatchSize, cifarTest] = full
    ? [73257, 26032, 10000, 10000]
    : [60, 20, 12, 20];
  Deno.mkdirSync(`${dir}/svhn`, { recursive: true });
  Deno.writeFileSync(`${dir}/svhn/train_32x32.mat`, await encodeMat(svhnVars(svhnTrain), false));
  Deno.writeFileSync(`${dir}/svhn/test_32x32.mat`, await encodeMat(svhnVars(svhnTest), false));
  Deno.mkdirSync(`${dir}/cifar10`, { recursive: true });
  for (let i = 1; i <= 5; i++) {
    Deno.writeFileSync(
      `${dir}/cifar10/data_batch_${i}.bin`,
      cifarBatch(cifarBatchSize, cifarBatchSize * (i - 1)),
    );
  }
  Deno.writeFileSync(`${dir}/cifar10/test_batch.bin`, cifarBatch(cifarTest));
}

if (import.meta.main) {
  // deno run -A test/data_helpers.ts DIR: the full-size synthetic sets (scripts/gpu-check.sh).
  await writeSyntheticImageSets(Deno.args[0] ?? "synthetic", true);
}
