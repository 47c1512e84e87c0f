/**
 * Preprocessing: ZCA whitening as in VAT's published code, computed on the
 * backend (the covariance by GEMM in chunks, the eigendecomposition by
 * LAPACK) and cached beside the data.
 *
 * VAT's code builds the whitening matrix as U diag(1 / sqrt(S) + reg) U^T,
 * adding the regularisation *after* inverting the square roots of the
 * eigenvalues S of the covariance (not the usual 1 / sqrt(S + eps)). We keep
 * that form. The value is configurable (`zcaRegularisation`); the default 0.1
 * is the project's choice (issue 4). Note that VAT's published scripts call
 * ZCA() with its default, reg = 1e-6: pass 1e-6 to reproduce them exactly.
 * Eigenvalues are floored at 1e-12 times the largest, so a rank-deficient
 * covariance cannot produce infinities.
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import { UserError } from "../util/errors.ts";
import { writeAtomic } from "../util/fs.ts";
import { sha256 } from "./io.ts";

/** A whitening transform: x -> (x - mean) components (components is symmetric). */
export interface Zca {
  dim: number;
  regularisation: number;
  mean: Float32Array;
  components: Float32Array;
}

/** Rows per chunk when streaming data through the backend. */
const CHUNK = 2048;

function ensureFinite(reg: number): void {
  if (!Number.isFinite(reg) || reg < 0) {
    throw new UserError(
      `Cannot compute ZCA whitening: regularisation must be a number >= 0, got ${reg}`,
    );
  }
}

/** Computes the ZCA transform of n rows of dimension d on `backend`. */
export function computeZca(
  backend: Backend,
  images: Float32Array,
  n: number,
  d: number,
  regularisation: number,
): Zca {
  ensureFinite(regularisation);
  if (images.length < n * d) throw new Error(`Cannot compute ZCA: ${images.length} < ${n} x ${d}`);
  const chunk = Math.min(CHUNK, n);
  const x = backend.alloc(chunk * d);
  const ones = backend.alloc(chunk);
  const mean = backend.alloc(d);
  const negMean = backend.alloc(d);
  const cov = backend.alloc(d * d);
  const w = backend.alloc(d);
  const scaled = backend.alloc(d * d);
  const f = backend.alloc(d);
  const comp = backend.alloc(d * d);
  try {
    backend.fill(ones, 1);
    backend.fill(mean, 0);
    for (let r = 0; r < n; r += chunk) {
      const rows = Math.min(chunk, n - r);
      backend.write(x, images.subarray(r * d, (r + rows) * d));
      // mean += X^T 1 / n
      backend.gemm(true, false, d, 1, rows, 1 / n, x, d, ones, 1, 1, mean, 1);
    }
    backend.affine(negMean, mean, -1, 0, d);
    backend.fill(cov, 0);
    for (let r = 0; r < n; r += chunk) {
      const rows = Math.min(chunk, n - r);
      backend.write(x, images.subarray(r * d, (r + rows) * d));
      backend.biasAdd(x, x, negMean, rows, d, 1);
      // cov += Xc^T Xc / n (on centred rows: no cancellation)
      backend.gemm(true, false, d, d, rows, 1 / n, x, d, x, d, 1, cov, d);
    }
    backend.symEig(cov, w, d);
    const s = backend.read(w);
    const floor = Math.max(s[d - 1], 0) * 1e-12 || 1e-30;
    const fac = new Float64Array(d);
    for (let i = 0; i < d; i++) fac[i] = 1 / Math.sqrt(Math.max(s[i], floor)) + regularisation;
    backend.write(f, fac);
    // scaled[i, :] = fac[i] * u_i ; components = U^T diag(fac) U with rows u_i
    backend.broadcastBinary(
      "mul",
      scaled,
      new Int32Array([d, d]),
      2,
      cov,
      new Int32Array([d, 1]),
      f,
      new Int32Array([1, 0]),
    );
    backend.gemm(true, false, d, d, d, 1, cov, d, scaled, d, 0, comp, d);
    return {
      dim: d,
      regularisation,
      mean: Float32Array.from(backend.read(mean)),
      components: Float32Array.from(backend.read(comp)),
    };
  } finally {
    for (const s of [x, ones, mean, negMean, cov, w, scaled, f, comp]) backend.free(s);
  }
}

/** Whitens n rows in place: x <- (x - mean) components. */
export function applyZca(backend: Backend, zca: Zca, images: Float32Array, n: number): void {
  const d = zca.dim;
  const chunk = Math.min(CHUNK, n);
  const x = backend.alloc(chunk * d);
  const y = backend.alloc(chunk * d);
  const negMean = backend.alloc(d);
  const comp = backend.alloc(d * d);
  try {
    backend.write(negMean, zca.mean);
    backend.affine(negMean, negMean, -1, 0, d);
    backend.write(comp, zca.components);
    for (let r = 0; r < n; r += chunk) {
      const rows = Math.min(chunk, n - r);
      const view = images.subarray(r * d, (r + rows) * d);
      backend.write(x, view);
      backend.biasAdd(x, x, negMean, rows, d, 1);
      backend.gemm(false, false, rows, d, d, 1, x, d, comp, d, 0, y, d);
      view.set(backend.read(y).subarray(0, rows * d));
    }
  } finally {
    for (const s of [x, y, negMean, comp]) backend.free(s);
  }
}

/**
 * Undoes the whitening of n rows in place: x <- x components^-1 + mean. The
 * components are symmetric positive definite, so the inverse comes from
 * their own eigendecomposition (one d x d symEig: for figures, not training).
 */
export function unwhiten(backend: Backend, zca: Zca, images: Float32Array, n: number): void {
  const d = zca.dim;
  const vecs = backend.alloc(d * d);
  const vals = backend.alloc(d);
  const inv = backend.alloc(d);
  const scaled = backend.alloc(d * d);
  const inverse = backend.alloc(d * d);
  const x = backend.alloc(n * d);
  const y = backend.alloc(n * d);
  const mean = backend.alloc(d);
  try {
    backend.write(vecs, zca.components);
    backend.symEig(vecs, vals, d); // rows of vecs: eigenvectors
    const lambda = backend.read(vals);
    backend.write(inv, Float64Array.from(lambda, (l) => 1 / l));
    backend.broadcastBinary(
      "mul",
      scaled,
      new Int32Array([d, d]),
      2,
      vecs,
      new Int32Array([d, 1]),
      inv,
      new Int32Array([1, 0]),
    );
    backend.gemm(true, false, d, d, d, 1, vecs, d, scaled, d, 0, inverse, d);
    backend.write(x, images.subarray(0, n * d));
    backend.gemm(false, false, n, d, d, 1, x, d, inverse, d, 0, y, d);
    backend.write(mean, zca.mean);
    backend.biasAdd(y, y, mean, n, d, 1);
    images.set(backend.read(y).subarray(0, n * d));
  } finally {
    for (const t of [vecs, vals, inv, scaled, inverse, x, y, mean]) backend.free(t);
  }
}

const MAGIC = "ADVZCA01";

/** Serialises a ZCA transform with a key naming the data it was computed on. */
export function encodeZca(zca: Zca, key: string): Uint8Array {
  const head = new TextEncoder().encode(
    `${MAGIC}${JSON.stringify({ dim: zca.dim, regularisation: zca.regularisation, key })}\n`,
  );
  const pad = (4 - (head.length % 4)) % 4;
  const out = new Uint8Array(head.length + pad + 4 * (zca.dim + zca.dim * zca.dim));
  out.set(head);
  out.fill(32, head.length, head.length + pad);
  const body = new Float32Array(out.buffer, head.length + pad);
  body.set(zca.mean);
  body.set(zca.components, zca.dim);
  return out;
}

/** Reads a cached transform; undefined when absent, stale (other key or regularisation) or damaged. */
export function decodeZca(bytes: Uint8Array, key: string, regularisation: number): Zca | undefined {
  const nl = bytes.indexOf(10);
  if (nl < 0) return undefined;
  const head = new TextDecoder().decode(bytes.subarray(0, nl));
  if (!head.startsWith(MAGIC)) return undefined;
  let meta: { dim: number; regularisation: number; key: string };
  try {
    meta = JSON.parse(head.slice(MAGIC.length));
  } catch {
    return undefined;
  }
  if (meta.key !== key || meta.regularisation !== regularisation) return undefined;
  const start = Math.ceil((nl + 1) / 4) * 4;
  const d = meta.dim;
  if (bytes.length !== start + 4 * (d + d * d)) return undefined;
  const body = new Float32Array(bytes.slice(start).buffer);
  return { dim: d, regularisation, mean: body.slice(0, d), components: body.slice(d) };
}

/**
 * The ZCA transform of a training set, from `cachePath` when it holds one for
 * the same data (`key`) and regularisation, else computed and written there
 * (atomically; a folder that cannot be written only costs the cache).
 */
export async function cachedZca(
  backend: Backend,
  images: Float32Array,
  n: number,
  d: number,
  regularisation: number,
  cachePath: string,
  key: string,
  log: (line: string) => void = () => {},
): Promise<Zca> {
  ensureFinite(regularisation);
  try {
    const z = decodeZca(await Deno.readFile(cachePath), key, regularisation);
    if (z && z.dim === d) return z;
  } catch { /* not cached */ }
  log(
    `ZCA: computing the whitening of ${n} x ${d} training data (regularisation ${regularisation})`,
  );
  const zca = computeZca(backend, images, n, d, regularisation);
  try {
    await writeAtomic(cachePath, encodeZca(zca, key));
  } catch (e) {
    log(`ZCA: cannot cache it in ${cachePath}: ${(e as Error).message}`);
  }
  return zca;
}

/** A cache key from the hashes of the files a training set was read from. */
export function dataKey(parts: string[]): string {
  return sha256(new TextEncoder().encode(parts.join("\n")));
}
