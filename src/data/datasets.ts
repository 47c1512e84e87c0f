/**
 * Loading a data set: files from the cache (downloaded when missing),
 * verified, parsed and preprocessed into host arrays that
 * `Tensor.from(backend, images, shape)` uploads: images as float32 NCHW, on a
 * SharedArrayBuffer so the data worker reads them without a copy, and labels
 * as float32 class indices.
 *
 * Preprocessing (as VAT's published code): MNIST and Fashion-MNIST scaled to
 * [0, 1]; SVHN to [0, 1] or, with `svhnScaling: "centered"`, (x - 127.5) / 255
 * (VAT's choice); CIFAR-10 (x - 127.5) / 255 then ZCA whitening computed on
 * the training set (see preprocess.ts), cached beside the data.
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import { UserError } from "../util/errors.ts";
import { ensureFiles, type EnsureOptions, expectedSha256 } from "./cache.ts";
import { CIFAR_RECORD, parseCifar } from "./cifar.ts";
import { parseIdx } from "./idx.ts";
import { readMaybeGzip, sha256 } from "./io.ts";
import { readMat } from "./mat.ts";
import { dataKernels } from "./native.ts";
import { applyZca, cachedZca, dataKey, unwhiten } from "./preprocess.ts";
import { cacheDir, type DatasetName, source, type SourceFile } from "./catalog.ts";

/** Images (n, c, h, w) and their labels. */
export interface ImageSet {
  /** float32 NCHW, row i at i * c * h * w. */
  images: Float32Array;
  /** Class indices 0..classes-1 as float32 (what the cross-entropy kernel takes). */
  labels: Float32Array;
  shape: [number, number, number, number];
}

/** A loaded data set. */
export interface Dataset {
  name: DatasetName;
  classes: number;
  train: ImageSet;
  test: ImageSet;
  /** SVHN's extra set, when asked for. */
  extra?: ImageSet;
  /** One line saying how the images were preprocessed. */
  preprocessing: string;
  /** Preprocessed images (n rows) back to pixels in [0, 1], in place (figures). */
  toPixels(images: Float32Array, n: number): void;
}

/** Adds `shift` to every value (the inverse of a centring). */
const shiftBy = (shift: number) => (images: Float32Array) => {
  if (shift !== 0) { for (let i = 0; i < images.length; i++) images[i] += shift; }
};

/** How SVHN is scaled: "unit" to [0, 1], "centered" to (x - 127.5) / 255. */
export type SvhnScaling = "unit" | "centered";

/** Options of {@linkcode loadDataset}; the keys match the command line's flags. */
export interface LoadOptions extends EnsureOptions {
  /** Check each file's SHA-256 while reading it (default true). */
  verify?: boolean;
  /** SVHN's scaling (default "unit"). */
  svhnScaling?: SvhnScaling;
  /** Load SVHN's extra set too (1.3 GB file, 6.5 GB as float32). */
  svhnExtra?: boolean;
  /** Whiten CIFAR-10 (default true). */
  zca?: boolean;
  /** ZCA regularisation, added after inverting the eigenvalues' square roots (default 0.1). */
  zcaRegularisation?: number;
  /** The backend that computes ZCA (default: the float32 CPU backend). */
  backend?: Backend;
}

/** Default ZCA regularisation (see preprocess.ts for the choice). */
export const DEFAULT_ZCA_REGULARISATION = 0.1;

/** A float32 array on a SharedArrayBuffer. */
export function sharedFloats(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(n * 4));
}

/** Reads a file (gunzipping it), checks the SHA-256 of its content, returns it and the hash. */
async function readVerified(
  path: string,
  file: SourceFile,
  verify: boolean,
): Promise<{ bytes: Uint8Array; hash: string }> {
  const bytes = await readMaybeGzip(path);
  const hash = sha256(bytes);
  const expected = verify ? expectedSha256(file, path) : undefined;
  if (expected && hash !== expected) {
    throw new UserError(
      `Cannot load ${path}: checksum mismatch: the SHA-256 of its content is ${hash}, expected ${expected} (a corrupt or different file; remove it and download it again from ${
        file.urls[0]
      })`,
    );
  }
  return { bytes, hash };
}

function checkLabels(labels: ArrayLike<number>, lo: number, hi: number, file: string): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (!(v >= lo && v <= hi) || !Number.isInteger(v)) {
      throw new UserError(`Cannot read ${file}: label ${i} is ${v}, outside ${lo}..${hi}`);
    }
  }
}

async function loadIdxPair(
  paths: Map<string, string>,
  files: SourceFile[],
  prefix: string,
  verify: boolean,
): Promise<{ set: ImageSet; hashes: string[] }> {
  const imgFile = files.find((f) => f.name === `${prefix}-images-idx3-ubyte`)!;
  const lblFile = files.find((f) => f.name === `${prefix}-labels-idx1-ubyte`)!;
  const imgPath = paths.get(imgFile.name)!, lblPath = paths.get(lblFile.name)!;
  const img = await readVerified(imgPath, imgFile, verify);
  const lbl = await readVerified(lblPath, lblFile, verify);
  const images = parseIdx(img.bytes, imgPath);
  const labels = parseIdx(lbl.bytes, lblPath);
  if (images.dims.length !== 3) {
    throw new UserError(
      `Cannot read ${imgPath}: expected 3 dimensions (n, rows, columns), found ${images.dims.length}`,
    );
  }
  if (labels.dims.length !== 1) {
    throw new UserError(
      `Cannot read ${lblPath}: expected 1 dimension, found ${labels.dims.length}`,
    );
  }
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) {
    throw new UserError(
      `Cannot read ${lblPath}: it has ${labels.dims[0]} labels for the ${n} images of ${imgPath}`,
    );
  }
  checkLabels(labels.data, 0, 9, lblPath);
  const out = sharedFloats(n * h * w);
  (await dataKernels()).bytesToReal(out, images.data, n, h * w, h * w, 1 / 255, 0);
  return {
    set: { images: out, labels: Float32Array.from(labels.data), shape: [n, 1, h, w] },
    hashes: [img.hash, lbl.hash],
  };
}

async function loadCifar(
  paths: Map<string, string>,
  files: SourceFile[],
  names: string[],
  verify: boolean,
): Promise<{ set: ImageSet; hashes: string[] }> {
  const parts = [];
  for (const name of names) {
    const f = files.find((x) => x.name === name)!;
    const p = paths.get(name)!;
    const r = await readVerified(p, f, verify);
    parts.push({ rec: parseCifar(r.bytes, p), hash: r.hash });
  }
  const n = parts.reduce((s, p) => s + p.rec.count, 0);
  const d = CIFAR_RECORD - 1;
  const images = sharedFloats(n * d);
  const labels = new Float32Array(n);
  const k = await dataKernels();
  let at = 0;
  for (const { rec } of parts) {
    k.bytesToReal(
      images.subarray(at * d),
      rec.bytes.subarray(1),
      rec.count,
      d,
      CIFAR_RECORD,
      1 / 255,
      -127.5 / 255,
    );
    for (let i = 0; i < rec.count; i++) labels[at + i] = rec.bytes[i * CIFAR_RECORD];
    at += rec.count;
  }
  return { set: { images, labels, shape: [n, 3, 32, 32] }, hashes: parts.map((p) => p.hash) };
}

async function loadSvhnFile(
  path: string,
  file: SourceFile,
  verify: boolean,
  scaling: SvhnScaling,
): Promise<ImageSet> {
  const { bytes } = await readVerified(path, file, verify);
  const { arrays, unsupported } = await readMat(bytes, path);
  const need = (name: string) => {
    const a = arrays.get(name);
    if (!a) {
      const why = unsupported.get(name);
      throw new UserError(
        `Cannot read ${path}: ${
          why ? `variable '${name}' is ${why}, which is not supported` : `no variable '${name}'`
        }`,
      );
    }
    return a;
  };
  const x = need("X"), y = need("y");
  if (
    x.dims.length !== 4 || x.dims[0] !== 32 || x.dims[1] !== 32 || x.dims[2] !== 3 ||
    !(x.data instanceof Uint8Array)
  ) {
    throw new UserError(
      `Cannot read ${path}: expected X to be uint8 of size 32x32x3xN, found ${x.className} of size ${
        x.dims.join("x")
      }${x.data instanceof Uint8Array ? "" : " (unsupported type)"}`,
    );
  }
  const n = x.dims[3];
  const ny = y.dims.reduce((a, b) => a * b, 1);
  if (y.dims.length !== 2 || Math.min(...y.dims) !== 1 || ny !== n) {
    throw new UserError(
      `Cannot read ${path}: expected y of size ${n}x1 (one label per image), found ${
        y.dims.join("x")
      }`,
    );
  }
  if (y.data instanceof BigInt64Array || y.data instanceof BigUint64Array) {
    throw new UserError(`Cannot read ${path}: y of class ${y.className} is not supported`);
  }
  checkLabels(y.data, 1, 10, path);
  const labels = Float32Array.from(y.data);
  for (let i = 0; i < n; i++) if (labels[i] === 10) labels[i] = 0;
  const images = sharedFloats(n * 3 * 32 * 32);
  const shift = scaling === "centered" ? -127.5 / 255 : 0;
  (await dataKernels()).colMajorToNchw(images, x.data, n, 3, 32, 32, 1 / 255, shift);
  return { images, labels, shape: [n, 3, 32, 32] };
}

/**
 * Loads a data set: finds (or downloads) its files, checks them, parses and
 * preprocesses them. Any problem a user can fix (a missing, truncated,
 * corrupt or foreign file, a bad option) is a UserError naming the file or
 * option; nothing in the cache is changed by a failure.
 */
export async function loadDataset(name: DatasetName, options: LoadOptions = {}): Promise<Dataset> {
  const src = options.source ?? source(name);
  const verify = options.verify ?? true;
  const svhnScaling = options.svhnScaling ?? "unit";
  if (svhnScaling !== "unit" && svhnScaling !== "centered") {
    throw new UserError(
      `Cannot load SVHN: --svhn-scaling must be unit or centered, got '${svhnScaling}'`,
    );
  }
  const paths = await ensureFiles(name, {
    ...options,
    optional: name === "svhn" && options.svhnExtra,
  });
  const files = src.files;
  if (name === "mnist" || name === "fashion-mnist") {
    const train = await loadIdxPair(paths, files, "train", verify);
    const test = await loadIdxPair(paths, files, "t10k", verify);
    return {
      name,
      classes: 10,
      train: train.set,
      test: test.set,
      preprocessing: "scaled to [0, 1]",
      toPixels: shiftBy(0),
    };
  }
  if (name === "svhn") {
    const f = (n: string) => files.find((x) => x.name === n)!;
    const load = (n: string) => loadSvhnFile(paths.get(n)!, f(n), verify, svhnScaling);
    const train = await load("train_32x32.mat");
    const test = await load("test_32x32.mat");
    const extra = options.svhnExtra ? await load("extra_32x32.mat") : undefined;
    return {
      name,
      classes: 10,
      train,
      test,
      extra,
      preprocessing: svhnScaling === "unit" ? "scaled to [0, 1]" : "(x - 127.5) / 255",
      toPixels: shiftBy(svhnScaling === "unit" ? 0 : 0.5),
    };
  }
  // cifar10
  const train = await loadCifar(
    paths,
    files,
    [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
    verify,
  );
  const test = await loadCifar(paths, files, ["test_batch.bin"], verify);
  let preprocessing = "(x - 127.5) / 255";
  let toPixels: Dataset["toPixels"] = shiftBy(0.5);
  if (options.zca ?? true) {
    const reg = options.zcaRegularisation ?? DEFAULT_ZCA_REGULARISATION;
    const backend = options.backend ??
      await (await import("../backend/cpu.ts")).createCpuBackend("f32");
    const [n, c, h, w] = train.set.shape;
    const d = c * h * w;
    const dir = cacheDir(name, options.dataDir);
    await Deno.mkdir(dir, { recursive: true }).catch(() => {});
    const zca = await cachedZca(
      backend,
      train.set.images,
      n,
      d,
      reg,
      `${dir}/zca-reg${reg}.f32`,
      dataKey(["cifar10 (x-127.5)/255", ...train.hashes]),
      options.log ?? ((l) => console.error(l)),
    );
    applyZca(backend, zca, train.set.images, n);
    applyZca(backend, zca, test.set.images, test.set.shape[0]);
    preprocessing += `, ZCA whitening (regularisation ${reg} added to 1/sqrt(eigenvalue))`;
    toPixels = (images, n) => {
      unwhiten(backend, zca, images, n);
      shiftBy(0.5)(images);
    };
  }
  return { name, classes: 10, train: train.set, test: test.set, preprocessing, toPixels };
}
