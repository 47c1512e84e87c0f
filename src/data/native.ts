/**
 * The data kernels of `native/data.c`, bound on host memory: they read and
 * write typed arrays (shared or not) directly, so the data worker can gather
 * and augment batches from the training set without copying it. They are not
 * part of the Backend interface: a batch is prepared on the host whatever
 * device trains on it.
 * @module
 */
import {
  type CheckedKernel,
  cpuSymbols,
  HOST_KERNELS,
  type HostKernelName,
  HostKernels,
  sharedSymbols,
} from "../backend/abi.ts";
import { checkedAll, type ErrorSource } from "../backend/backend.ts";
import { cpuLibraryPath, ensureLibrary } from "../backend/library.ts";

/** The host kernels of the float32 CPU library, bound as its header declares them. */
class HostLibrary extends HostKernels {
  protected readonly host: Readonly<Record<HostKernelName, CheckedKernel>>;
  constructor(lib: ErrorSource) {
    super();
    this.host = checkedAll(lib, HOST_KERNELS);
  }
}

/** Host-side data kernels (float32), with the buffer checks C cannot make. */
export class DataKernels {
  constructor(readonly raw: HostKernels) {}

  /** out[r * len + j] = in[r * inStride + j] * scale + shift, for `rows` rows. */
  bytesToReal(
    out: Float32Array,
    input: Uint8Array,
    rows: number,
    len: number,
    inStride: number,
    scale: number,
    shift: number,
  ): void {
    if (out.length < rows * len || input.length < (rows - 1) * inStride + len) {
      throw new Error(`Cannot convert ${rows} rows of ${len} bytes: buffers too short`);
    }
    this.raw.bytesToReal(out, input, rows, len, inStride, scale, shift);
  }

  /** Column-major (h, w, c, n) bytes (a MAT file's layout) to NCHW floats, scaled. */
  colMajorToNchw(
    out: Float32Array,
    input: Uint8Array,
    n: number,
    c: number,
    h: number,
    w: number,
    scale: number,
    shift: number,
  ): void {
    const size = n * c * h * w;
    if (out.length < size || input.length < size) {
      throw new Error(`Cannot convert ${n} images of ${c}x${h}x${w}: buffers too short`);
    }
    this.raw.bytesColmajorToNchw(out, input, n, c, h, w, scale, shift);
  }

  /**
   * dst[b] = src image index[b], shifted by (shiftX[b], shiftY[b]) with zero
   * fill and mirrored where flip[b] != 0; the three arrays may be null.
   */
  gatherAugment(
    dst: Float32Array,
    src: Float32Array,
    index: Int32Array,
    shape: readonly [number, number, number],
    shiftX: Int32Array | null,
    shiftY: Int32Array | null,
    flip: Int32Array | null,
  ): void {
    const [c, h, w] = shape;
    const d = c * h * w;
    const n = index.length;
    if (dst.length < n * d || src.length % d !== 0) {
      throw new Error(`Cannot gather ${n} images of ${c}x${h}x${w}: buffers do not fit`);
    }
    for (const a of [shiftX, shiftY, flip]) {
      if (a && a.length < n) throw new Error(`Cannot augment ${n} images: short parameters`);
    }
    this.raw.gatherAugment(dst, src, src.length / d, index, n, c, h, w, shiftX, shiftY, flip);
  }
}

let loaded: Promise<DataKernels> | undefined;

/** The data kernels, loaded once per thread (building the library first if stale). */
export function dataKernels(): Promise<DataKernels> {
  loaded ??= (async () => {
    await ensureLibrary("cpu-f32");
    if (Deno.env.get("OMP_WAIT_POLICY") === undefined) Deno.env.set("OMP_WAIT_POLICY", "PASSIVE");
    const { adv_last_error } = sharedSymbols("f32");
    const lib = Deno.dlopen(cpuLibraryPath("f32"), { adv_last_error, ...cpuSymbols("f32") });
    return new DataKernels(new HostLibrary(lib));
  })();
  return loaded;
}
