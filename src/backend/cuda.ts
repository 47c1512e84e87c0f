/**
 * The CUDA backend: binds `build/libadvssl_cuda.so` (the CUDA, cuDNN and
 * cuBLAS kernels in `kernels/`) with Deno.dlopen. It exports the same kernels
 * as the CPU library over device pointers, so all of them come from
 * NativeBackend; this file adds the device, host<->device copies, and TF32.
 *
 * Everything runs on one CUDA stream, in order. `write` stages host data in
 * pinned memory and returns while the copy is in flight; `read` and
 * `synchronize` wait for the queue and report any error a kernel raised.
 * @module
 */
import { cudaSymbols, SHARED_KERNELS, sharedSymbols } from "./abi.ts";
import { Backend, lastError, type NativeLibrary, type Numbers, type Storage } from "./backend.ts";
import { type CpuBackend, createCpuBackend } from "./cpu.ts";
import { ensureLibrary, libraryPath } from "./library.ts";
import { SetupError } from "../util/errors.ts";
import { exists } from "../util/fs.ts";

/** The CUDA library: the shared symbols and its own runtime. */
type CudaLibrary = Deno.DynamicLibrary<
  ReturnType<typeof sharedSymbols<"f32">> & ReturnType<typeof cudaSymbols>
>;

/** The CUDA backend is missing here: no toolkit, no library, no driver or no GPU. */
export class CudaUnavailableError extends Error {
  override name = "CudaUnavailableError";
}

/**
 * The library named by ADVSSL_CUDA_LIBRARY, loaded instead of
 * build/libadvssl_cuda.so and without building it: for running the GPU tests
 * against an emulated library. Undefined when unset or not readable (no env
 * permission: never prompts).
 */
export function cudaLibraryOverride(): string | undefined {
  const variable = "ADVSSL_CUDA_LIBRARY";
  if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") return undefined;
  return Deno.env.get(variable) || undefined;
}

/**
 * Whether this machine shows an NVIDIA GPU to the kernel driver (cheap; loads
 * nothing), or ADVSSL_CUDA_LIBRARY names a library to use as one.
 */
export function hasNvidiaGpu(): boolean {
  return cudaLibraryOverride() !== undefined || exists("/dev/nvidia0") ||
    exists("/proc/driver/nvidia/gpus");
}

/** The CUDA backend (float32); create it with {@linkcode createCudaBackend}. */
export class CudaBackend extends Backend {
  readonly name = "cuda";
  readonly #cpu: CpuBackend;
  readonly #cuda: CudaLibrary["symbols"];

  constructor(lib: CudaLibrary, cpu: CpuBackend) {
    super(
      "f32",
      lib as unknown as NativeLibrary,
      cudaLibraryOverride() ?? libraryPath("cuda"),
      SHARED_KERNELS,
    );
    this.#cpu = cpu;
    this.#cuda = lib.symbols;
  }

  #status(fn: string, status: number): void {
    if (status !== 0) {
      throw new Error(`Cannot run CUDA ${fn.replace(/^adv_/, "")}: ${lastError(this.lib)}`);
    }
  }

  write(s: Storage, data: ArrayLike<number>, offset = 0): void {
    if (offset < 0 || offset + data.length > s.size) {
      throw new Error(
        `Cannot write ${data.length} elements at ${offset} into a storage of ${s.size}`,
      );
    }
    if (!data.length) return;
    const host = data instanceof Float32Array ? data : Float32Array.from(data);
    this.#status(
      "adv_cuda_upload",
      this.#cuda.adv_cuda_upload(
        this.pointerAt(s, offset),
        host,
        BigInt(host.byteLength),
      ) as number,
    );
  }

  read(s: Storage): Numbers {
    const out = new Float32Array(s.size);
    this.#status(
      "adv_cuda_download",
      this.#cuda.adv_cuda_download(out, s.ptr, BigInt(out.byteLength)) as number,
    );
    return out;
  }

  synchronize(): void {
    this.#status("adv_cuda_synchronize", this.#cuda.adv_cuda_synchronize() as number);
  }

  /** The eigendecomposition (ZCA only, once per data set) runs on the CPU with LAPACK. */
  override symEig(a: Storage, w: Storage, n: number): void {
    const ha = this.#cpu.alloc(a.size), hw = this.#cpu.alloc(w.size);
    try {
      this.#cpu.write(ha, this.read(a));
      this.#cpu.symEig(ha, hw, n);
      this.write(a, this.#cpu.read(ha));
      this.write(w, this.#cpu.read(hw));
    } finally {
      this.#cpu.free(ha);
      this.#cpu.free(hw);
    }
  }

  /**
   * Allows or forbids TF32 tensor-core math in GEMMs and convolutions (on by
   * default: faster, relative error about 1e-3 instead of 1e-7).
   */
  setTf32(on: boolean): void {
    this.#status("adv_cuda_set_tf32", this.#cuda.adv_cuda_set_tf32(on ? 1 : 0) as number);
  }

  machine(): string {
    return this.deviceInfo().name;
  }

  /** The GPU's name and its free and total memory in bytes. */
  deviceInfo(): { name: string; freeBytes: number; totalBytes: number } {
    const name = new Uint8Array(256);
    const mem = new BigInt64Array(2);
    this.#status(
      "adv_cuda_device_info",
      this.#cuda.adv_cuda_device_info(name, name.length, mem) as number,
    );
    const end = name.indexOf(0);
    return {
      name: new TextDecoder().decode(name.subarray(0, end < 0 ? name.length : end)),
      freeBytes: Number(mem[0]),
      totalBytes: Number(mem[1]),
    };
  }

  /** How many times the library has called cudaMalloc for tensors. */
  mallocCount(): number {
    return Number(this.#cuda.adv_cuda_malloc_count() as bigint);
  }
}

let opened: Promise<CudaBackend> | null = null;

/**
 * The CUDA backend on GPU 0, opened once per process; builds the CUDA library
 * first if it is missing or stale. Throws CudaUnavailableError, saying why,
 * where it cannot run.
 */
export function createCudaBackend(): Promise<CudaBackend> {
  opened ??= openCuda();
  return opened;
}

async function openCuda(): Promise<CudaBackend> {
  const path = cudaLibraryOverride() ?? libraryPath("cuda");
  if (path === libraryPath("cuda")) {
    let built;
    try {
      built = await ensureLibrary("cuda");
    } catch (e) {
      if (!(e instanceof SetupError)) throw e;
      throw new CudaUnavailableError(`cannot build the CUDA library: ${e.message.split("\n")[0]}`);
    }
    if (built.skipped) throw new CudaUnavailableError(`no CUDA library: ${built.skipped}`);
  }
  let lib: CudaLibrary;
  try {
    lib = Deno.dlopen(path, { ...sharedSymbols("f32"), ...cudaSymbols() });
  } catch (e) {
    throw new CudaUnavailableError(
      `cannot load ${path} (${(e as Error).message.split("\n")[0]}); ` +
        "cuDNN's and cuBLAS's lib folders may need to be on LD_LIBRARY_PATH",
    );
  }
  const native = lib as unknown as NativeLibrary;
  if (lib.symbols.adv_cuda_device_count() === 0) {
    const why = lastError(native);
    lib.close();
    throw new CudaUnavailableError(`no GPU found${why ? ` (${why})` : ""}`);
  }
  if (lib.symbols.adv_cuda_init(0) !== 0) {
    const why = lastError(native);
    lib.close();
    throw new CudaUnavailableError(`cannot start the GPU: ${why}`);
  }
  return new CudaBackend(lib, await createCpuBackend("f32"));
}
