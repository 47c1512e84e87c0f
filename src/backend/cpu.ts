/**
 * The CPU backend: binds `build/libadvssl_cpu_<precision>.so` (the C kernels
 * in `native/`) with Deno.dlopen. Storages are host memory, read and written
 * in place.
 * @module
 */
import { CPU_ONLY_KERNELS, cpuSymbols, SHARED_KERNELS, sharedSymbols } from "./abi.ts";
import { Backend, type NativeLibrary, type Numbers, type Storage } from "./backend.ts";
import { cpuLibraryPath, ensureLibrary, type Precision } from "./library.ts";

/** `cpuinfo` if given, else /proc/cpuinfo's text, or null where it cannot be read. */
function cpuinfoText(cpuinfo?: string): string | null {
  if (cpuinfo !== undefined) return cpuinfo;
  try {
    return Deno.readTextFileSync("/proc/cpuinfo");
  } catch {
    return null;
  }
}

/** The processor's vendor as /proc/cpuinfo names it (GenuineIntel, AuthenticAMD), or null. */
export function cpuVendor(cpuinfo?: string): string | null {
  return cpuinfoText(cpuinfo)?.match(/^vendor_id\s*:\s*(\S+)/m)?.[1] ?? null;
}

/** The processor's model name as /proc/cpuinfo gives it, or null. */
export function cpuModel(cpuinfo?: string): string | null {
  return cpuinfoText(cpuinfo)?.match(/^model name\s*:\s*(.+)$/m)?.[1].trim() ?? null;
}

/**
 * The OpenBLAS kernel family this CPU's instruction set supports (SkylakeX for
 * AVX-512, Haswell for AVX2 with FMA), or null to leave OpenBLAS's own choice.
 */
export function openBlasCoreType(cpuinfo?: string): string | null {
  const info = cpuinfoText(cpuinfo);
  if (info === null) return null;
  const flags = new Set(info.match(/^flags\s*:(.*)$/m)?.[1].trim().split(/\s+/) ?? []);
  if (["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"].every((f) => flags.has(f))) {
    return "SkylakeX";
  }
  if (flags.has("avx2") && flags.has("fma")) return "Haswell";
  return null;
}

/** Loads (building first if needed) the native library of one precision. */
async function openLibrary(precision: Precision) {
  await ensureLibrary(`cpu-${precision}`);
  // libgomp reads its wait policy when it loads: make idle OpenMP threads sleep
  // instead of spinning against OpenBLAS's threads on small machines.
  if (Deno.env.get("OMP_WAIT_POLICY") === undefined) Deno.env.set("OMP_WAIT_POLICY", "PASSIVE");
  // OpenBLAS's idle workers spin for 2^28 cycles after a GEMM by default, on the cores
  // where oneDNN's and our OpenMP threads run next: 2^4 makes them sleep at once
  // (the mnist-advgen step at 2 threads: 92 ms -> 77 ms, docs/benchmarks.md).
  if (Deno.env.get("OPENBLAS_THREAD_TIMEOUT") === undefined) {
    Deno.env.set("OPENBLAS_THREAD_TIMEOUT", "4");
  }
  // OpenBLAS picks its kernels when it loads; Debian's 0.3.21 does not know recent
  // Intel models and falls back to its slowest (Prescott) kernels, 4x slower here.
  const core = openBlasCoreType();
  if (core && Deno.env.get("OPENBLAS_CORETYPE") === undefined) {
    Deno.env.set("OPENBLAS_CORETYPE", core);
  }
  return Deno.dlopen(cpuLibraryPath(precision), {
    ...sharedSymbols(precision),
    ...cpuSymbols(precision),
  }) as unknown as NativeLibrary;
}

/** The CPU backend of one precision; create it with {@linkcode createCpuBackend}. */
export class CpuBackend extends Backend {
  readonly name = "cpu";

  constructor(precision: Precision, lib: NativeLibrary) {
    super(precision, lib, cpuLibraryPath(precision), [...SHARED_KERNELS, ...CPU_ONLY_KERNELS]);
  }

  #array(s: Storage): Numbers {
    const buf = Deno.UnsafePointerView.getArrayBuffer(s.ptr, s.size * this.bytes);
    return this.precision === "f32" ? new Float32Array(buf) : new Float64Array(buf);
  }

  write(s: Storage, data: ArrayLike<number>, offset = 0): void {
    if (offset < 0 || offset + data.length > s.size) {
      throw new Error(
        `Cannot write ${data.length} elements at ${offset} into a storage of ${s.size}`,
      );
    }
    this.#array(s).set(data, offset);
  }

  read(s: Storage): Numbers {
    return this.#array(s).slice();
  }

  machine(): string {
    return `${cpuModel() ?? "unknown CPU"}, ${this.threads()} threads`;
  }

  /** Kernels run synchronously on the CPU: nothing to wait for. */
  synchronize(): void {}

  /** The kernel after the size check it cannot make (the CUDA backend comes here too). */
  override symEig(a: Storage, w: Storage, n: number): void {
    if (a.size !== n * n || w.size !== n) {
      throw new Error(
        `Cannot decompose a ${n} x ${n} matrix from storages of ${a.size} and ${w.size} elements`,
      );
    }
    super.symEig(a, w, n);
  }
}

const backends = new Map<Precision, Promise<CpuBackend>>();

/**
 * The CPU backend of a precision, loaded once per process. "f32" is what the
 * tool runs on; "f64" exists for gradient checks.
 */
export function createCpuBackend(precision: Precision = "f32"): Promise<CpuBackend> {
  let b = backends.get(precision);
  if (!b) {
    b = openLibrary(precision).then((lib) => new CpuBackend(precision, lib));
    backends.set(precision, b);
  }
  return b;
}
