/**
 * The data kernels of `native/data.c`, bound on host memory: they read and
 * write typed arrays (shared or not) directly, so the data worker can gather
 * and augment batches from the training set without copying it. They are not
 * part of the Backend interface: a batch is prepared on the host whatever
 * device trains on it.
 * @module
 */
import { buildCpuLibrary, cpuLibraryPath, isCpuLibraryFresh } from "../../build.ts";

const SYMBOLS = {
  adv_last_error: { parameters: [], result: "pointer" },
  adv_bytes_to_real: {
    parameters: ["buffer", "buffer", "i32", "i32", "i32", "f32", "f32"],
    result: "i32",
  },
  adv_bytes_colmajor_to_nchw: {
    parameters: ["buffer", "buffer", "i32", "i32", "i32", "i32", "f32", "f32"],
    result: "i32",
  },
  adv_gather_augment: {
    parameters: [
      "buffer",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "i32",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
} as const;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>;

/** Host-side data kernels (float32). */
export class DataKernels {
  constructor(readonly lib: Lib) {}

  #check(name: string, status: number): void {
    if (status !== 0) {
      const p = this.lib.symbols.adv_last_error();
      const msg = p ? Deno.UnsafePointerView.getCString(p) : "unknown error";
      throw new Error(`Cannot run native kernel ${name}: ${msg}`);
    }
  }

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
    this.#check(
      "bytes_to_real",
      this.lib.symbols.adv_bytes_to_real(out, input, rows, len, inStride, scale, shift),
    );
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
    this.#check(
      "bytes_colmajor_to_nchw",
      this.lib.symbols.adv_bytes_colmajor_to_nchw(out, input, n, c, h, w, scale, shift),
    );
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
    this.#check(
      "gather_augment",
      this.lib.symbols.adv_gather_augment(
        dst,
        src,
        src.length / d,
        index,
        n,
        c,
        h,
        w,
        shiftX,
        shiftY,
        flip,
      ),
    );
  }
}

let loaded: Promise<DataKernels> | undefined;

/** The data kernels, loaded once per thread (building the library first if stale). */
export function dataKernels(): Promise<DataKernels> {
  loaded ??= (async () => {
    if (!await isCpuLibraryFresh("f32")) await buildCpuLibrary("f32");
    if (Deno.env.get("OMP_WAIT_POLICY") === undefined) Deno.env.set("OMP_WAIT_POLICY", "PASSIVE");
    return new DataKernels(Deno.dlopen(cpuLibraryPath("f32"), SYMBOLS));
  })();
  return loaded;
}
